package lariat

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/lariat-ws/lariat/internal/deflate"
	"github.com/lariat-ws/lariat/internal/hixie"
)

// Conn is one WebSocket connection, run by lariat on its own goroutine.
//
// Conn's methods are for use inside the Handler's callbacks, on that
// goroutine; calling them from elsewhere is a data race. The exceptions,
// safe for concurrent use from any goroutine, are Post, Version,
// Subprotocol, RemoteAddr and LocalAddr: other goroutines reach a
// connection by posting a message that its Info callback then handles.
//
// Frames sent inside a callback are buffered and written together, in one
// write where possible, when the callback returns; a payload larger than
// the write buffer is written at once, after what was buffered before it.
// Either way the caller may reuse the payload's memory as soon as the
// method returns.
type Conn struct {
	nc       net.Conn
	h        Handler
	version  Version
	protocol string
	opts     Options // with defaults filled in
	srv      *Upgrader

	// Reading: connection goroutine only. The unread bytes are rbuf[r:w].
	rbp      *[]byte
	rbuf     []byte // nil while hibernating
	r, w     int
	tiny     [1]byte // what a hibernating connection reads into
	mbp      *[]byte // reassembly buffer of the message in progress
	cur      message
	lastRead time.Time
	rdl      time.Time // the read deadline set on nc; zero for none
	rdlStale bool      // the deadline on nc may differ from rdl: set it anew
	idle     time.Duration
	pingAt   time.Time // when the next automatic ping is due
	pongDue  time.Time // when an unanswered ping times out; zero if none

	// The decoder of a hixie-75 or hixie-76 connection; nil for RFC 6455.
	legacy *hixie.Decoder

	// Compression, when negotiated: connection goroutine only.
	ext       deflate.Kind
	comp      *deflate.Compressor
	decomp    *deflate.Decompressor
	zbp       *[]byte // compressed payload of the message in progress
	noDeflate bool

	// Writing: connection goroutine only.
	wbp  *[]byte
	werr error
	wdl  time.Time
	iov  net.Buffers
	iova [3][]byte

	// Commands: connection goroutine only.
	active     bool
	hibernate  bool
	closeSent  bool
	closeRcvd  bool
	skip       int64 // payload bytes of a failed frame still to be read
	sentCode   StatusCode
	sentReason string

	// Mailbox, shared with Post.
	mu        sync.Mutex
	inbox     []any
	spare     []any
	dead      bool
	hasMail   atomic.Bool
	goingAway atomic.Bool  // Shutdown asked for a 1001 close
	state     atomic.Int32 // connBusy, connReading or connParked
	wake      chan struct{}
}

// message is the data message being reassembled.
type message struct {
	op         Opcode // OpText or OpBinary; 0 when no message is in progress
	compressed bool   // permessage-deflate: RSV1 was set on the first frame
	n          int64  // payload bytes received so far, as on the wire
	utf8       utf8State
}

const (
	connBusy int32 = iota
	connReading
	connParked
)

// aLongTimeAgo is a deadline in the past: setting it as the read deadline
// makes a blocked Read return at once, which is how Post wakes the
// connection without a second goroutine.
var aLongTimeAgo = time.Unix(1, 0)

// ending carries a Reason out through the read path.
type ending struct{ r *Reason }

func (e ending) Error() string { return e.r.Error() }

func newConn(u *Upgrader, nc net.Conn, h Handler, opts Options, v Version, protocol string, buffered []byte) *Conn {
	c := &Conn{
		nc:       nc,
		h:        h,
		version:  v,
		protocol: protocol,
		opts:     opts,
		srv:      u,
		active:   true,
		idle:     opts.IdleTimeout,
		wake:     make(chan struct{}, 1),
	}
	c.setReadBuf(getBuf(max(opts.ReadBufferSize, len(buffered))))
	c.w = copy(c.rbuf, buffered)
	c.lastRead = time.Now()
	if opts.PingInterval > 0 {
		c.pingAt = c.lastRead.Add(opts.PingInterval)
	}
	return c
}

func (c *Conn) setReadBuf(p *[]byte) {
	c.rbp = p
	c.rbuf = (*p)[:cap(*p)]
}

// Version reports the protocol generation the connection speaks.
func (c *Conn) Version() Version { return c.version }

// Subprotocol reports the subprotocol chosen during the handshake, or "".
func (c *Conn) Subprotocol() string { return c.protocol }

// RemoteAddr returns the peer's network address, or nil when the
// connection never completed its upgrade.
func (c *Conn) RemoteAddr() net.Addr {
	if c.nc == nil {
		return nil
	}
	return c.nc.RemoteAddr()
}

// LocalAddr returns the local network address, or nil when the connection
// never completed its upgrade.
func (c *Conn) LocalAddr() net.Addr {
	if c.nc == nil {
		return nil
	}
	return c.nc.LocalAddr()
}

// start writes the handshake response and runs the connection. It
// returns after Terminate.
func (c *Conn) start(response []byte) {
	if len(response) > 0 {
		c.armWrite()
		if _, err := c.nc.Write(response); err != nil {
			c.nc.Close()
			c.releaseBuffers()
			c.mu.Lock()
			c.dead = true
			c.mu.Unlock()
			c.terminate(Reason{Kind: ReasonHandshake, Code: StatusAbnormalClosure, Err: err})
			return
		}
	}
	c.serve()
}

// serve runs the connection until it ends. It returns after Terminate.
func (c *Conn) serve() {
	if c.srv != nil {
		c.srv.track(c)
		defer c.srv.untrack(c)
	}
	r := c.run()
	c.closeTCP(r)
	c.mu.Lock()
	c.dead = true
	c.inbox = nil
	c.mu.Unlock()
	c.releaseBuffers()
	c.terminate(*r)
}

func (c *Conn) run() *Reason {
	if r := c.invoke(callInit, Frame{}, nil); r != nil {
		return r
	}
	if c.legacy != nil {
		for {
			if r := c.stepLegacy(); r != nil {
				return r
			}
		}
	}
	for {
		if r := c.step(); r != nil {
			return r
		}
	}
}

// step reads one frame and acts on it.
func (c *Conn) step() *Reason {
	h, err := c.readHeader()
	if err != nil {
		return c.readFailed(err)
	}
	// RFC 6455 §5.2: "RSV1, RSV2, RSV3: 1 bit each. MUST be 0 unless an
	// extension is negotiated that defines meanings for non-zero values."
	// Compression claims RSV1 on data frames only: for permessage-deflate
	// on the first frame of a message (RFC 7692 §6.1), for
	// x-webkit-deflate-frame on any data frame.
	if h.rsv != 0 {
		ok := h.rsv == bitRSV1 && !h.op.IsControl() &&
			(c.ext == deflate.PerFrame || c.ext == deflate.PerMessage && h.op != OpContinuation)
		if !ok {
			return c.end(ReasonBadFrame, StatusProtocolError, "reserved bits set", nil)
		}
	}
	if h.op.IsControl() {
		return c.control(h)
	}
	return c.data(h)
}

// readFailed turns an error from the read path into the Reason the
// connection ends with.
func (c *Conn) readFailed(err error) *Reason {
	var e ending
	var fe frameError
	switch {
	case errors.As(err, &e):
		return e.r
	case errors.As(err, &fe):
		return c.end(ReasonBadFrame, StatusProtocolError, string(fe), nil)
	case errors.Is(err, errBadUTF8):
		return c.end(ReasonBadEncoding, StatusInvalidPayload, "invalid UTF-8", nil)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed), isReset(err):
		return &Reason{Kind: ReasonClosed, Code: StatusAbnormalClosure, Err: err}
	}
	return &Reason{Kind: ReasonSocketError, Code: StatusAbnormalClosure, Err: err}
}

var errBadUTF8 = errors.New("lariat: invalid UTF-8")

func (c *Conn) control(h header) *Reason {
	p, err := c.readPayloadInPlace(h, false)
	if err != nil {
		return c.readFailed(err)
	}
	switch h.op {
	case OpPing:
		// RFC 6455 §5.5.2: "Upon receipt of a Ping frame, an endpoint
		// MUST send a Pong frame in response ... with identical
		// Application data". It is queued first, so it leaves with
		// whatever Handle sends.
		c.writeFrame(true, OpPong, 0, p)
		return c.invoke(callHandle, Frame{Op: OpPing, Payload: p}, nil)
	case OpPong:
		c.pongDue = time.Time{}
		return c.invoke(callHandle, Frame{Op: OpPong, Payload: p}, nil)
	}
	c.closeRcvd = true
	code, text, err := parseClose(p)
	switch {
	case errors.Is(err, errCloseReason):
		return c.end(ReasonBadEncoding, StatusInvalidPayload, "invalid UTF-8 in close reason", nil)
	case err != nil:
		return c.end(ReasonBadFrame, StatusProtocolError, "invalid close frame", err)
	case code == StatusNoStatusRcvd:
		// Echo an empty close: there is no code to echo.
		c.queueClose(StatusNoStatusRcvd, "")
		return &Reason{Kind: ReasonRemoteNoCode, Code: code}
	}
	// RFC 6455 §5.5.1: "the endpoint typically echos the status code it
	// received".
	c.queueClose(code, "")
	return &Reason{Kind: ReasonRemote, Code: code, Text: text, Err: &CloseError{Code: code, Reason: text}}
}

func (c *Conn) data(h header) *Reason {
	if h.op == OpContinuation {
		if c.cur.op == 0 {
			return c.end(ReasonBadFrame, StatusProtocolError, "continuation frame without a message", nil)
		}
	} else {
		// RFC 6455 §5.4: the fragments of one message "MUST NOT be
		// interleaved" with those of another.
		if c.cur.op != 0 {
			return c.end(ReasonBadFrame, StatusProtocolError, "data frame inside a fragmented message", nil)
		}
		c.cur = message{op: h.op, compressed: h.rsv != 0 && c.ext == deflate.PerMessage}
	}
	// The limit is checked from the header, before a byte of the payload
	// is read or a buffer for it allocated. Compressed bytes get the
	// slack DEFLATE may add to data it cannot shrink (stored blocks cost
	// 5 bytes per 64 KiB); their inflated size is held to the limit
	// itself.
	limit := c.opts.MaxMessageSize
	if c.cur.compressed || h.rsv != 0 {
		limit += limit/256 + 64
	}
	if h.length > limit-c.cur.n {
		c.skip = h.length
		return c.end(ReasonTooBig, StatusMessageTooBig, "message too big", nil)
	}
	validate := c.cur.op == OpText && !c.opts.SkipUTF8Validation
	var p []byte
	var err error
	switch {
	case c.cur.compressed:
		// permessage-deflate: the frames' payloads are joined and
		// inflated when the message is complete (RFC 7692 §7.2.2).
		err = c.readPayloadInto(&c.zbp, h, false)
	case h.rsv != 0:
		// x-webkit-deflate-frame: each frame inflates on its own.
		if err = c.readPayloadInto(&c.zbp, h, false); err == nil {
			err = c.inflateInto(validate)
		}
	case h.fin && c.cur.n == 0 && int(h.length) <= len(c.rbuf)/2:
		// A whole message in one small frame: it is handed to Handle
		// where it lies in the read buffer.
		p, err = c.readPayloadInPlace(h, validate)
	default:
		err = c.readPayloadInto(&c.mbp, h, validate)
	}
	if err != nil {
		return c.readFailed(err)
	}
	c.cur.n += h.length
	if !h.fin {
		return nil
	}
	if c.cur.compressed {
		if err := c.inflateInto(validate); err != nil {
			return c.readFailed(err)
		}
	}
	if p == nil && c.mbp != nil {
		p = *c.mbp
	}
	// RFC 6455 §8.1: a text message must be valid UTF-8 as a whole, so it
	// cannot end inside a character.
	if validate && !c.cur.utf8.complete() {
		return c.end(ReasonBadEncoding, StatusInvalidPayload, "invalid UTF-8", nil)
	}
	op := c.cur.op
	c.cur = message{}
	r := c.invoke(callHandle, Frame{Op: op, Payload: p}, nil)
	if c.mbp != nil {
		putBuf(c.mbp)
		c.mbp = nil
	}
	if c.zbp != nil {
		putBuf(c.zbp)
		c.zbp = nil
	}
	return r
}

// readHeader returns the next frame header, reading as needed.
func (c *Conn) readHeader() (header, error) {
	for {
		if c.rbuf != nil {
			h, n, err := parseHeader(c.rbuf[c.r:c.w])
			if err != nil {
				return h, err
			}
			if n > 0 {
				c.r += n
				return h, nil
			}
		}
		if err := c.fill(); err != nil {
			return header{}, err
		}
	}
}

// fill reads more bytes into the read buffer, keeping the unread ones.
func (c *Conn) fill() error {
	if c.r == c.w && c.hibernate && c.cur.op == 0 && c.rbuf != nil {
		putBuf(c.rbp)
		c.rbp, c.rbuf, c.r, c.w = nil, nil, 0, 0
		if c.comp != nil {
			c.comp.Release()
			c.decomp.Release()
		}
	}
	if c.rbuf == nil {
		// Hibernating: wait for the first byte without holding a buffer.
		if _, err := c.readSome(c.tiny[:]); err != nil {
			return err
		}
		c.hibernate = false
		c.setReadBuf(getBuf(c.opts.ReadBufferSize))
		c.rbuf[0] = c.tiny[0]
		c.r, c.w = 0, 1
		return nil
	}
	if c.r == c.w {
		c.r, c.w = 0, 0
	} else if c.w == len(c.rbuf) {
		c.w = copy(c.rbuf, c.rbuf[c.r:c.w])
		c.r = 0
	}
	n, err := c.readSome(c.rbuf[c.w:])
	c.w += n
	return err
}

// readPayloadInPlace reads a payload that fits in the read buffer and
// returns it where it lies, unmasked and, if asked, validated as it
// arrives.
func (c *Conn) readPayloadInPlace(h header, validate bool) ([]byte, error) {
	n := int(h.length)
	if c.r+n > len(c.rbuf) {
		c.w = copy(c.rbuf, c.rbuf[c.r:c.w])
		c.r = 0
	}
	done := 0
	for {
		if avail := min(c.w-c.r, n); avail > done {
			chunk := c.rbuf[c.r+done : c.r+avail]
			mask(h.key, done, chunk)
			if validate && !c.cur.utf8.feed(chunk) {
				c.skip = int64(n) // the payload starts at c.r
				return nil, errBadUTF8
			}
			done = avail
		}
		if done == n {
			break
		}
		if err := c.fill(); err != nil {
			return nil, err
		}
	}
	p := c.rbuf[c.r : c.r+n : c.r+n]
	c.r += n
	return p, nil
}

// readPayloadInto appends a payload to the pooled buffer *bp. Large
// payloads are read straight from the socket into it, skipping the read
// buffer.
func (c *Conn) readPayloadInto(bp **[]byte, h header, validate bool) error {
	n := int(h.length)
	c.grow(bp, n)
	m := **bp
	start := len(m)
	m = m[:start+n]
	**bp = m
	done := 0
	for done < n {
		if c.r == c.w && n-done >= len(c.rbuf)/2 {
			k, err := c.readSome(m[start+done:])
			if k > 0 {
				if !c.unmaskChunk(h.key, m[start+done:start+done+k], done, validate) {
					c.skip = int64(n - done - k)
					return errBadUTF8
				}
				done += k
			}
			if err != nil {
				return err
			}
			continue
		}
		if c.r == c.w {
			if err := c.fill(); err != nil {
				return err
			}
		}
		k := copy(m[start+done:], c.rbuf[c.r:c.w])
		c.r += k
		if !c.unmaskChunk(h.key, m[start+done:start+done+k], done, validate) {
			c.skip = int64(n - done - k)
			return errBadUTF8
		}
		done += k
	}
	return nil
}

func (c *Conn) unmaskChunk(key uint32, chunk []byte, pos int, validate bool) bool {
	mask(key, pos, chunk)
	return !validate || c.cur.utf8.feed(chunk)
}

// grow makes room for n more bytes in the pooled buffer *bp.
func (c *Conn) grow(bp **[]byte, n int) {
	if *bp == nil {
		*bp = getBuf(n)
		return
	}
	m := **bp
	if cap(m)-len(m) >= n {
		return
	}
	// Double, so that a message in many fragments costs O(log n) copies,
	// but never reserve past the limit.
	size := min(max(2*cap(m), len(m)+n), int(c.opts.MaxMessageSize))
	nb := getBuf(max(size, len(m)+n))
	*nb = append(*nb, m...)
	putBuf(*bp)
	*bp = nb
}

// inflateInto inflates the compressed bytes gathered in zbp onto the end
// of the message buffer, stopping at the message size limit, and
// validates the new text.
func (c *Conn) inflateInto(validate bool) error {
	z := *c.zbp
	if c.mbp == nil {
		// A guess that fits most messages; Inflate grows it if not. The
		// byte beyond lets Inflate see the end of the data without
		// growing a buffer that the message fills exactly.
		c.mbp = getBuf(min(max(8*len(z), 4096), int(c.opts.MaxMessageSize)) + 1)
	}
	m := *c.mbp
	start := len(m)
	out, err := c.decomp.Inflate(m, z, int(c.opts.MaxMessageSize)-start)
	*c.zbp = z[:0]
	switch {
	case errors.Is(err, deflate.ErrTooBig):
		return ending{c.end(ReasonTooBig, StatusMessageTooBig, "message too big", nil)}
	case err != nil:
		return ending{c.end(ReasonBadEncoding, StatusInvalidPayload, "invalid compressed data", err)}
	}
	if cap(out) != cap(m) {
		// Inflate outgrew the pooled buffer: keep its larger one.
		putBuf(c.mbp)
		c.mbp = new([]byte)
	}
	*c.mbp = out
	if validate && !c.cur.utf8.feed(out[start:]) {
		return errBadUTF8
	}
	return nil
}

// readSome reads from the socket into p and, while it waits, delivers the
// mailbox to Info, honours SetActive(false) and the idle timeout. It
// returns n > 0 or an error.
func (c *Conn) readSome(p []byte) (int, error) {
	for {
		if c.goingAway.Load() {
			return 0, ending{c.end(ReasonShutdown, StatusGoingAway, "going away", nil)}
		}
		if c.hasMail.Load() {
			if r := c.deliverMail(); r != nil {
				return 0, ending{r}
			}
			continue
		}
		if !c.active {
			c.state.Store(connParked)
			if !c.hasMail.Load() && !c.goingAway.Load() {
				<-c.wake
			}
			c.state.Store(connBusy)
			continue
		}
		if err := c.armRead(); err != nil {
			return 0, err
		}
		// Post wakes a blocked Read by moving the read deadline into the
		// past; the state it checks must be set before the mailbox is
		// looked at one last time, or a post in between would be missed.
		c.state.Store(connReading)
		if c.hasMail.Load() {
			c.state.Store(connBusy)
			continue
		}
		n, err := c.nc.Read(p)
		c.state.Store(connBusy)
		if n > 0 {
			c.lastRead = time.Now()
			return n, nil
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, err
		}
		// A timeout is Post's wake-up, the idle timeout, or the time to
		// ping or to give up waiting for a pong.
		c.rdlStale = true // Post may have moved it
		if r := c.timers(); r != nil {
			return 0, ending{r}
		}
	}
}

// timers acts on whichever of the idle timeout and the automatic ping
// timers has expired.
func (c *Conn) timers() *Reason {
	now := time.Now()
	switch {
	case c.idle > 0 && now.Sub(c.lastRead) >= c.idle:
		return c.end(ReasonTimeout, StatusNormalClosure, "idle timeout", nil)
	case !c.pongDue.IsZero() && !now.Before(c.pongDue):
		return c.end(ReasonTimeout, StatusNormalClosure, "no pong", nil)
	case c.pongDue.IsZero() && !c.pingAt.IsZero() && !now.Before(c.pingAt):
		c.pongDue = now.Add(c.opts.PongTimeout)
		c.pingAt = now.Add(c.opts.PingInterval)
		c.writeFrame(true, OpPing, 0, nil)
		if err := c.flush(); err != nil {
			return c.writeFailed(err)
		}
	}
	return nil
}

// readDeadline is the earliest time a blocked read must give up: the end
// of the idle timeout, the next automatic ping, or the pong's deadline.
func (c *Conn) readDeadline() (t time.Time, slack time.Duration) {
	consider := func(at time.Time, d time.Duration) {
		if t.IsZero() || at.Before(t) {
			t = at
		}
		if slack == 0 || d/8 < slack {
			slack = d / 8
		}
	}
	if c.idle > 0 {
		consider(c.lastRead.Add(c.idle), c.idle)
	}
	if !c.pongDue.IsZero() {
		consider(c.pongDue, c.opts.PongTimeout)
	} else if !c.pingAt.IsZero() {
		consider(c.pingAt, c.opts.PingInterval)
	}
	return t, slack
}

// armRead sets the read deadline to readDeadline's. Moving a deadline
// costs a trip into the runtime's poller, so a later target moves it only
// once it has fallen behind by more than an eighth of the timeout: a Read
// that returns early because of that finds no timer expired and is simply
// retried.
func (c *Conn) armRead() error {
	target, slack := c.readDeadline()
	if !c.rdlStale {
		if target.IsZero() && c.rdl.IsZero() {
			return nil
		}
		if !target.IsZero() && !c.rdl.IsZero() && !target.Before(c.rdl) && target.Sub(c.rdl) < slack {
			return nil
		}
	}
	c.rdl, c.rdlStale = target, false
	return c.nc.SetReadDeadline(target)
}

// deliverMail hands every posted message, in order, to Info.
func (c *Conn) deliverMail() *Reason {
	c.mu.Lock()
	batch := c.inbox
	c.inbox = c.spare[:0]
	c.hasMail.Store(false)
	c.mu.Unlock()
	for i, msg := range batch {
		batch[i] = nil
		if r := c.invoke(callInfo, Frame{}, msg); r != nil {
			clear(batch[i:])
			return r
		}
	}
	c.mu.Lock()
	c.spare = batch[:0]
	c.mu.Unlock()
	return nil
}

// Post delivers msg to the Handler's Info callback, on the connection's
// goroutine, after the messages posted before it. It is safe for
// concurrent use and never blocks on the connection: it returns
// ErrMailboxFull when Options.MailboxSize messages are already waiting,
// and ErrClosed once the connection has terminated.
func (c *Conn) Post(msg any) error {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return ErrClosed
	}
	if len(c.inbox) >= c.opts.MailboxSize {
		c.mu.Unlock()
		return ErrMailboxFull
	}
	c.inbox = append(c.inbox, msg)
	c.hasMail.Store(true)
	c.mu.Unlock()
	c.kick()
	return nil
}

// ErrMailboxFull is returned by Post when the connection's mailbox holds
// Options.MailboxSize messages: the connection is not keeping up, and
// growing its queue without bound would only move the problem to memory.
var ErrMailboxFull = errors.New("lariat: mailbox full")

// kick wakes the connection goroutine if it is blocked reading or parked.
func (c *Conn) kick() {
	switch c.state.Load() {
	case connReading:
		c.nc.SetReadDeadline(aLongTimeAgo)
	case connParked:
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

type callKind uint8

const (
	callInit callKind = iota
	callHandle
	callInfo
)

// invoke runs one callback, turns its result or panic into a Reason, and
// writes what it sent.
func (c *Conn) invoke(k callKind, f Frame, msg any) (r *Reason) {
	defer func() {
		if v := recover(); v != nil {
			stack := debug.Stack()
			c.srv.logError("handler panic", "panic", v, "remote", c.RemoteAddr(), "stack", string(stack))
			r = c.end(ReasonCrash, StatusInternalError, "internal error", &PanicError{Value: v, Stack: stack})
		}
	}()
	var err error
	switch k {
	case callInit:
		err = c.h.Init(c)
	case callHandle:
		err = c.h.Handle(c, f)
	default:
		err = c.h.Info(c, msg)
	}
	switch {
	case c.werr != nil:
		// The socket failed under the callback; whatever it returned
		// (often that very error) is not the cause.
		return c.writeFailed(c.werr)
	case err == nil:
	case errors.Is(err, Stop):
		return c.end(ReasonStop, StatusNormalClosure, "", nil)
	default:
		return c.end(ReasonHandlerError, StatusInternalError, "internal error", err)
	}
	if c.closeSent {
		// The callback called Close.
		c.flush()
		return &Reason{Kind: ReasonStop, Code: c.sentCode, Text: c.sentReason}
	}
	if err := c.flush(); err != nil {
		return c.writeFailed(err)
	}
	return nil
}

// end sends a close frame with code and text, unless one was sent
// already, and returns the Reason the connection ends with.
func (c *Conn) end(k ReasonKind, code StatusCode, text string, err error) *Reason {
	if c.closeSent {
		code, text = c.sentCode, c.sentReason
	} else {
		c.queueClose(code, text)
	}
	c.flush()
	return &Reason{Kind: k, Code: code, Text: text, Err: err}
}

func (c *Conn) writeFailed(err error) *Reason {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &Reason{Kind: ReasonTimeout, Code: StatusAbnormalClosure, Text: "write timeout", Err: err}
	}
	if isReset(err) || errors.Is(err, net.ErrClosed) {
		return &Reason{Kind: ReasonClosed, Code: StatusAbnormalClosure, Err: err}
	}
	return &Reason{Kind: ReasonSocketError, Code: StatusAbnormalClosure, Err: err}
}

func (c *Conn) terminate(r Reason) {
	defer func() {
		if v := recover(); v != nil {
			c.srv.logError("panic in Terminate", "panic", v, "remote", c.RemoteAddr())
		}
	}()
	c.h.Terminate(c, r)
}

// closeTCP ends the TCP connection after the close handshake. RFC 6455
// §7.1.1: "the underlying TCP connection, in most normal cases, SHOULD be
// closed first by the server". So the server half-closes first, and, when
// it started the handshake, waits a bounded time for the peer's close
// frame. Unread bytes are drained before the final Close, because closing
// a socket with unread data makes the kernel send a reset that can
// destroy the close frame still in flight.
func (c *Conn) closeTCP(r *Reason) {
	c.flush()
	if r.Kind == ReasonSocketError || (r.Kind == ReasonClosed && !c.closeSent) || c.werr != nil {
		c.nc.Close()
		return
	}
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	if c.closeSent && !c.closeRcvd && c.rbuf != nil && c.version != VersionHixie75 {
		c.nc.SetReadDeadline(time.Now().Add(c.opts.CloseTimeout))
		if c.legacy != nil {
			c.awaitLegacyClose()
		} else {
			c.awaitClose()
		}
	}
	c.nc.SetReadDeadline(time.Now())
	var sink [512]byte
	for range 64 {
		if _, err := c.nc.Read(sink[:]); err != nil {
			break
		}
	}
	c.nc.Close()
}

// awaitClose reads and discards frames until the peer's close frame, the
// end of the stream, an error or the deadline.
func (c *Conn) awaitClose() {
	c.active, c.hibernate = true, false
	// The rest of a frame the connection failed on comes first: read as
	// headers it would look like garbage, and the peer's answer to the
	// close would be missed.
	if !c.skipRaw(c.skip) {
		return
	}
	for {
		h, n, err := parseHeader(c.rbuf[c.r:c.w])
		if err != nil {
			return
		}
		if n == 0 {
			if c.fillRaw() != nil {
				return
			}
			continue
		}
		c.r += n
		if h.op == OpClose || !c.skipRaw(h.length) {
			return
		}
	}
}

// skipRaw discards n bytes of input, reporting whether it could.
func (c *Conn) skipRaw(n int64) bool {
	for n > 0 {
		if c.r == c.w && c.fillRaw() != nil {
			return false
		}
		k := min(int64(c.w-c.r), n)
		c.r += int(k)
		n -= k
	}
	return true
}

// fillRaw reads into the read buffer without the mailbox or timers: the
// connection is closing.
func (c *Conn) fillRaw() error {
	if c.r == c.w {
		c.r, c.w = 0, 0
	} else if c.w == len(c.rbuf) {
		c.w = copy(c.rbuf, c.rbuf[c.r:c.w])
		c.r = 0
	}
	n, err := c.nc.Read(c.rbuf[c.w:])
	c.w += n
	if n > 0 {
		return nil
	}
	return err
}

func (c *Conn) releaseBuffers() {
	putBuf(c.rbp)
	putBuf(c.wbp)
	putBuf(c.mbp)
	putBuf(c.zbp)
	c.rbp, c.rbuf, c.wbp, c.mbp, c.zbp = nil, nil, nil, nil, nil
}

// Send sends a text, binary, ping or pong frame. Text payloads are sent
// as they are: lariat does not validate outgoing UTF-8.
func (c *Conn) Send(f Frame) error {
	switch f.Op {
	case OpText, OpBinary:
		return c.writeData(f.Op, f.Payload)
	case OpPing, OpPong:
		if c.legacy != nil {
			return ErrNotSupported
		}
		if len(f.Payload) > maxControlPayload {
			return ErrControlTooLong
		}
		return c.writeFrame(true, f.Op, 0, f.Payload)
	}
	return ErrBadOpcode
}

// Errors returned by Conn's send methods for frames that cannot be sent.
var (
	ErrControlTooLong = errors.New("lariat: control frame payload over 125 bytes")
	ErrBadOpcode      = errors.New("lariat: Send takes text, binary, ping or pong frames; use Close to close")
	ErrBadCloseCode   = errors.New("lariat: close code may not be sent")
)

// SendText sends s as a text message.
func (c *Conn) SendText(s string) error {
	// The bytes of s are only read, never kept or changed.
	return c.writeData(OpText, unsafe.Slice(unsafe.StringData(s), len(s)))
}

// SendBinary sends p as a binary message.
func (c *Conn) SendBinary(p []byte) error { return c.writeData(OpBinary, p) }

// writeData sends a data message, compressed when that was negotiated,
// is on, and makes it smaller. With both extensions a message sent in one
// frame carries RSV1 on that frame.
func (c *Conn) writeData(op Opcode, p []byte) error {
	if c.legacy != nil && !c.closeSent && c.werr == nil {
		return c.writeLegacy(op, p)
	}
	size := c.opts.FragmentSize
	if size <= 0 {
		size = len(p)
	}
	if c.comp == nil || c.noDeflate || c.closeSent {
		return c.writeFragments(op, 0, p, size)
	}
	if c.ext == deflate.PerFrame && len(p) > size {
		// x-webkit-deflate-frame compresses each frame on its own.
		for first := true; first || len(p) > 0; first = false {
			n := min(size, len(p))
			if err := c.writeCompressed(op, p[:n], n == len(p)); err != nil {
				return err
			}
			op, p = OpContinuation, p[n:]
		}
		return nil
	}
	return c.writeCompressed(op, p, true)
}

// writeCompressed compresses p and sends it as one message, or as one
// frame of a message for x-webkit-deflate-frame, with RSV1 on its first
// frame; p goes out as it is when compressing would not shrink it.
func (c *Conn) writeCompressed(op Opcode, p []byte, fin bool) error {
	zb := getBuf(len(p) + 64)
	defer putBuf(zb)
	out, compressed, err := c.comp.Compress(*zb, p)
	if err != nil {
		return err
	}
	size := c.opts.FragmentSize
	if !compressed {
		out = p
	}
	if size <= 0 || c.ext == deflate.PerFrame {
		size = len(out)
	}
	var rsv byte
	if compressed {
		rsv = bitRSV1
	}
	if !fin {
		return c.writeFrame(false, op, rsv, out)
	}
	return c.writeFragments(op, rsv, out, size)
}

// writeFragments sends p as one message in frames of at most size bytes,
// rsv on the first.
func (c *Conn) writeFragments(op Opcode, rsv byte, p []byte, size int) error {
	for len(p) > size {
		if err := c.writeFrame(false, op, rsv, p[:size]); err != nil {
			return err
		}
		op, rsv, p = OpContinuation, 0, p[size:]
	}
	return c.writeFrame(true, op, rsv, p)
}

// Ping sends a ping frame. The peer's pong reaches Handle.
func (c *Conn) Ping(p []byte) error { return c.Send(Frame{Op: OpPing, Payload: p}) }

// Close starts the close handshake with code and reason: the close frame
// leaves after the frames already sent, the callback's return ends the
// connection, and Terminate gets a ReasonStop. Only codes that may be
// sent on the wire are accepted (1000–1003, 1007–1014, 3000–4999); the
// reason is cut to 123 bytes.
func (c *Conn) Close(code StatusCode, reason string) error {
	if !code.sendable() {
		return ErrBadCloseCode
	}
	if c.closeSent {
		return ErrClosed
	}
	c.queueClose(code, reason)
	return nil
}

// SetActive pauses (false) or resumes (true) reading from the peer, for
// flow control: while paused no frame is read, the TCP window fills and
// the peer is slowed down, but Info still runs for posted messages. The
// idle timeout does not run while reading is paused. (Cowboy: {active, B}.)
func (c *Conn) SetActive(on bool) { c.active = on }

// SetIdleTimeout changes how long the connection may stay without
// receiving anything before it is closed with 1000; zero or less disables
// it. (Cowboy: set_options idle_timeout.)
func (c *Conn) SetIdleTimeout(d time.Duration) {
	c.idle = d
	c.rdlStale = true
}

// SetMaxMessageSize changes the largest message the connection accepts,
// reassembled and, with compression, inflated; a larger one closes the
// connection with 1009. n <= 0 restores the default (1 MiB). (Cowboy's
// max_frame_size, which also applies to whole messages.)
func (c *Conn) SetMaxMessageSize(n int64) {
	if n <= 0 {
		n = defaultMaxMessageSize
	}
	c.opts.MaxMessageSize = n
	if c.legacy != nil {
		c.legacy.MaxMessage = n
	}
}

// Hibernate returns the connection's read and write buffers to a shared
// pool until the next byte arrives from the peer, so an idle connection
// costs little more than its goroutine. It takes effect when the callback
// returns and lasts until the connection next reads data: call it again
// to hibernate again. (Cowboy: hibernate.)
func (c *Conn) Hibernate() { c.hibernate = true }

// writeFrame queues or writes one whole frame.
func (c *Conn) writeFrame(fin bool, op Opcode, rsv byte, p []byte) error {
	if c.closeSent {
		return ErrClosed
	}
	if c.werr != nil {
		return c.werr
	}
	if c.wbp == nil {
		c.wbp = getBuf(c.opts.WriteBufferSize)
	}
	wb := *c.wbp
	if len(wb)+maxServerHeaderSize+len(p) <= cap(wb) {
		wb = appendHeader(wb, fin, rsv, op, len(p))
		*c.wbp = append(wb, p...)
		return nil
	}
	// Too big for the buffer: write what is buffered, the header and the
	// payload together, with writev where the connection supports it.
	*c.wbp = appendHeader(wb, fin, rsv, op, len(p))
	return c.writeThrough(p, nil)
}

// writeThrough writes the buffered bytes, then p and trailer, with one
// writev where the connection supports it.
func (c *Conn) writeThrough(p, trailer []byte) error {
	c.armWrite()
	c.iova = [3][]byte{*c.wbp, p, trailer}
	c.iov = c.iova[:]
	_, err := c.iov.WriteTo(c.nc)
	c.iova = [3][]byte{}
	*c.wbp = (*c.wbp)[:0]
	if err != nil {
		c.werr = err
	}
	return err
}

// queueClose queues the close frame; nothing can be sent after it.
func (c *Conn) queueClose(code StatusCode, reason string) {
	if c.closeSent {
		return
	}
	if c.legacy != nil {
		// Hixie-76 has a closing frame without a code; hixie-75 has
		// none: closing the TCP connection is its close.
		if c.version == VersionHixie76 && c.werr == nil {
			if c.wbp == nil {
				c.wbp = getBuf(c.opts.WriteBufferSize)
			}
			*c.wbp = append(*c.wbp, hixie.CloseFrame...)
		}
		c.closeSent, c.sentCode, c.sentReason = true, code, reason
		return
	}
	var payload [maxControlPayload]byte
	p := appendClose(payload[:0], code, reason)
	c.writeFrame(true, OpClose, 0, p)
	c.closeSent, c.sentCode, c.sentReason = true, code, reason
}

// flush writes the buffered frames in one write.
func (c *Conn) flush() error {
	if c.werr != nil {
		return c.werr
	}
	if c.wbp == nil {
		return nil
	}
	if len(*c.wbp) > 0 {
		c.armWrite()
		_, err := c.nc.Write(*c.wbp)
		*c.wbp = (*c.wbp)[:0]
		if err != nil {
			c.werr = err
			return err
		}
	}
	if c.hibernate {
		putBuf(c.wbp)
		c.wbp = nil
	}
	return nil
}

// armWrite sets the write deadline, moving it only when it has fallen
// behind by more than an eighth of the timeout (see armRead).
func (c *Conn) armWrite() {
	d := c.opts.WriteTimeout
	if d <= 0 {
		return
	}
	target := time.Now().Add(d)
	if !c.wdl.IsZero() && target.Sub(c.wdl) < d/8 {
		return
	}
	c.wdl = target
	c.nc.SetWriteDeadline(target)
}

// isReset reports whether err says the peer reset or abandoned the
// connection.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
