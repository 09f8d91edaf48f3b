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
	rbp        *[]byte
	rbuf       []byte // nil while hibernating
	r, w       int
	tiny       [1]byte // what a hibernating connection reads into
	mbp        *[]byte // reassembly buffer of the message in progress
	cur        message
	readSeen   bool      // a read happened since the timers last looked
	quietSince time.Time // no read is known to have happened since
	rdl        time.Time // the planned read deadline; zero for none
	rdlStale   bool      // rdl is not yet set on nc
	idle       time.Duration
	pingAt     time.Time // when the next automatic ping is due
	pongDue    time.Time // when an unanswered ping times out; zero if none

	// The decoder of a hixie-75 or hixie-76 connection; nil for RFC 6455.
	legacy *hixie.Decoder

	// Compression, when negotiated: connection goroutine only.
	ext       deflate.Kind
	comp      *deflate.Compressor
	decomp    *deflate.Decompressor
	zbp       *[]byte // compressed payload of the message in progress
	noDeflate bool

	// Writing: connection goroutine only.
	wbp   *[]byte
	werr  error
	wdl   time.Duration // write deadline set on nc, as time since epoch; 0 for none
	epoch time.Time     // when the connection began, with a monotonic reading
	iov   net.Buffers
	iova  [3][]byte

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

	topics *subscriber // topics: Hub subscriptions and backlog (hub.go); connection goroutine only
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
	now := time.Now()
	c.epoch, c.quietSince = now, now
	if opts.PingInterval > 0 {
		c.pingAt = now.Add(opts.PingInterval)
	}
	c.planDeadline(now)
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

// start writes the handshake response and, when that succeeds, runs the
// connection on a goroutine of its own, reporting whether it did. The
// connection owns its Upgrader slot from then on.
func (c *Conn) start(response []byte) bool {
	if len(response) > 0 {
		c.armWrite()
		if _, err := c.nc.Write(response); err != nil {
			c.nc.Close()
			c.releaseBuffers()
			c.mu.Lock()
			c.dead = true
			c.mu.Unlock()
			c.terminate(Reason{Kind: ReasonHandshake, Code: StatusAbnormalClosure, Err: err})
			return false
		}
	}
	if c.srv != nil {
		c.srv.track(c) // before returning, so that Shutdown sees it
	}
	go c.serve()
	return true
}

// serve runs the connection until it ends. It returns after Terminate.
func (c *Conn) serve() {
	if c.srv != nil {
		defer func() {
			c.srv.untrack(c)
			c.srv.release()
		}()
	}
	r := c.run()
	c.topics.leave() // topics: leave every topic, drop what waits (hub.go)
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
func (c *Conn) releaseBuffers() {
	putBuf(c.rbp)
	putBuf(c.wbp)
	putBuf(c.mbp)
	putBuf(c.zbp)
	c.rbp, c.rbuf, c.wbp, c.mbp, c.zbp = nil, nil, nil, nil, nil
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
	c.quietSince = time.Now() // count from now
	c.planDeadline(c.quietSince)
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

// isReset reports whether err says the peer reset or abandoned the
// connection.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
