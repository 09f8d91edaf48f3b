package lariat

import (
	"errors"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lariat-ws/lariat/internal/deflate"
)

// Conn is one WebSocket connection, run by lariat on a goroutine of its
// own, or, while it is parked (see Hibernate), on none.
//
// Conn's methods are for use inside the Handler's callbacks, on that
// goroutine; calling them from elsewhere is a data race. The exceptions,
// safe for concurrent use from any goroutine, are Post, Version, Protocol,
// Compression, Transport, RemoteAddr and LocalAddr: other goroutines reach
// a connection by posting a message that its Info callback then handles.
//
// Frames sent inside callbacks are buffered and leave together when the
// connection is about to wait for the peer, so the replies to pipelined
// messages, or to a burst of posts, share one write; a lone reply leaves
// as soon as its callback returns. A payload larger than the write buffer
// is written at once, after what was buffered before it. Either way the
// caller may reuse the payload's memory as soon as the method returns.
type Conn struct {
	nc       net.Conn
	h        Handler
	ctl      ControlHandler // h, when it wants control frames
	codec    codec
	version  Version
	protocol string
	opts     Options    // in force, with defaults filled in
	base     restorable // as the upgrade set them: what zero restores
	srv      *Upgrader

	// Reading: connection goroutine only. The unread bytes are
	// rbuf[r:w]; the first remaining of them (or all that have arrived)
	// belong to the payload of the frame being read.
	rbp       *[]byte
	rbuf      []byte // nil while hibernating
	r, w      int
	remaining int64
	tiny      [1]byte // what a hibernating connection reads into, but on a plain socket
	rsize     bufSize // what rbuf is to hold, following the load (pool.go)
	mbp       *[]byte // the message being reassembled, when not in place
	zbp       *[]byte // compressed bytes of an x-webkit-deflate-frame frame
	cur       message
	src       messageSource // a permessage-deflate message being inflated

	// Timers: connection goroutine only (see timers.go).
	readSeen   bool      // a read happened since the timers last looked
	quiet      bool      // when the timers last looked, none had
	mailSeen   bool      // Info ran since the timers last looked
	hibSince   time.Time // when the timers last saw that Info had run
	quietSince time.Time // no read is known to have happened since
	pinged     bool      // an automatic ping went out since quietSince
	msgSeen    uint32    // cur.seq when the timers last saw a message
	msgSince   time.Time // when the timers first saw that message
	rdl        time.Time // the planned read deadline; zero for none
	rdlStale   bool      // rdl is not yet set on nc

	// Compression, when negotiated: connection goroutine only.
	ext        deflate.Kind
	comp       *deflate.Compressor
	decomp     *deflate.Decompressor
	noCompress bool

	// Writing: connection goroutine only.
	wbp   *[]byte // taken from the pool while frames wait, given back by flush
	werr  error   // the first write error; nothing is written after it
	wrote int64   // bytes the transport took, those of a write that failed part way too
	wdl   time.Duration
	epoch time.Time // when the connection began, with a monotonic reading
	wsize bufSize   // what wbp is to hold, following the load (pool.go)
	iov   net.Buffers
	iova  [3][]byte

	// Reading a plain socket through its descriptor, which lets the
	// connection wait without a read buffer, and park (see park.go):
	// connection goroutine only, except the poller's fields.
	sock     syscall.RawConn       // nil when nc is not a plain socket
	sockRead func(fd uintptr) bool // c.readSocket, bound once
	sockN    int                   // what readSocket read
	sockErr  error                 // and how it ended
	lullSeq  uint32                // cur.seq when the peer woke the connection
	lull     bool                  // woken from hibernation, and no message since lullSeq
	noPark   bool                  // the poller refused this connection
	listener bool                  // the Hub woke it last, not its peer: it parks while it waits
	pfd      int32                 // poller: the descriptor while registered
	pgen     uint32                // poller: the registration's generation
	pslot    int32                 // poller: 1 + index in the timer heap; 0 when not in it
	pfired   bool                  // poller: the registration's event came; under its mutex
	pkept    bool                  // registered with the poller, armed or not: connection goroutine only

	// Commands and the close handshake: connection goroutine only.
	initDone  bool // Init has run
	active    bool
	hibernate bool
	closeSent bool // a close frame is queued: nothing more may be sent
	closeRcvd bool
	sentCode  StatusCode
	sentText  string

	// Mailbox, shared with Post.
	mu         sync.Mutex
	inbox      []any
	spare      []any
	inboxBytes int
	dead       bool         // Info will not run again: Post refuses
	hasMail    atomic.Bool  // inbox is not empty
	goingAway  atomic.Bool  // Shutdown asked for a 1001 close
	cut        atomic.Bool  // Shutdown ran out of time and closed the socket
	state      atomic.Int32 // connBusy, connReading, ... (see below)
	wake       chan struct{}

	// Topics: the Hub subscriptions and backlog (hub.go), and the topic
	// of the delivery HandleTopic is being called for.
	topics   *subscriber
	curTopic string
}

// restorable holds the options that a Conn method given zero restores.
type restorable struct {
	IdleTimeout    time.Duration
	MaxMessageSize int64
}

// message is the data message being reassembled.
type message struct {
	op         Opcode // OpText or OpBinary; 0 when no message is in progress
	compressed bool   // permessage-deflate: RSV1 was set on the first frame
	n          int64  // payload bytes received so far: inflated, or as on the wire
	wire       int64  // compressed bytes received so far
	seq        uint32 // counts messages, for the message timeout
	utf8       utf8State
}

// The states of the connection goroutine, as Post's wake-up needs them.
// A parked connection has no goroutine: the first to move it from
// connParked to connBusy starts one (see park.go).
const (
	connBusy    int32 = iota
	connReading       // blocked reading: a past read deadline wakes it
	connPaused        // waiting in pause: c.wake wakes it
	connParking       // leaving its goroutine to park; a wake makes it connStaying
	connStaying       // woken while parking: the goroutine goes on
	connParked        // no goroutine
)

// newConn makes the connection for a completed handshake: buffered holds
// bytes the client sent after its request, which are its first frames.
func newConn(u *Upgrader, nc net.Conn, h Handler, hs *Handshake, buffered []byte) *Conn {
	opts := hs.Options
	c := &Conn{
		nc:       nc,
		h:        h,
		version:  hs.Version,
		protocol: hs.Protocol,
		opts:     opts,
		base:     restorable{opts.IdleTimeout, opts.MaxMessageSize},
		srv:      u,
		active:   true,
		wake:     make(chan struct{}, 1),
	}
	c.ctl, _ = h.(ControlHandler)
	if hs.Version.isHixie() {
		c.codec = newHixieCodec(hs.Version, opts.MaxMessageSize)
	} else {
		c.codec = rfc6455{}
	}
	if c.sock = socketOf(nc); c.sock != nil {
		c.sockRead = c.readSocket
	}
	c.setReadBuf(getBuf(max(opts.ReadBufferSize, len(buffered))))
	c.w = copy(c.rbuf, buffered)
	now := time.Now()
	c.epoch, c.quietSince = now, now
	c.planDeadline(now)
	return c
}

func (c *Conn) setReadBuf(p *[]byte) {
	c.rbp = p
	c.rbuf = (*p)[:cap(*p)]
}

// Version reports the protocol generation the connection speaks.
func (c *Conn) Version() Version { return c.version }

// Protocol reports the subprotocol chosen during the handshake, or "".
func (c *Conn) Protocol() string { return c.protocol }

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
// connection on a goroutine of its own, reporting whether it did. From
// then on the connection owns its Upgrader slot and releases it when it
// ends.
func (c *Conn) start(response []byte) bool {
	if len(response) > 0 {
		c.armWrite()
		if _, err := c.nc.Write(response); err != nil {
			c.startFailed(err)
			return false
		}
	}
	c.srv.track(c) // before the goroutine starts, so that Shutdown sees it
	go c.serve()
	return true
}

// startFailed ends a connection whose handshake response could not be
// sent.
func (c *Conn) startFailed(err error) {
	c.nc.Close()
	c.releaseBuffers()
	c.mu.Lock()
	c.dead = true
	c.mu.Unlock()
	c.terminate(Reason{Kind: ReasonHandshake, Code: StatusAbnormalClosure, Err: err})
}

// serve runs the connection until it ends and Terminate has returned,
// then gives back its Upgrader slot; or until it parks, when the goroutine
// returns and a wake-up runs serve again on a new one. Nothing that
// happens on the connection, not even a panic in lariat itself, reaches
// the process: as net/http does for each connection, a panic is logged
// and ends only this connection, with ReasonCrash.
func (c *Conn) serve() {
	r, parked := c.runToEnd()
	if parked {
		return // c belongs to whoever wakes it now
	}
	// The connection has ended.
	defer c.srv.done(c)
	if c.pkept {
		parker.forget(c) // before its descriptor can be reused
	}
	c.closeTransport(&r)
	c.releaseBuffers()
	c.terminate(r)
}

// runToEnd runs the connection and returns how it ended, or reports that
// it parked.
func (c *Conn) runToEnd() (r Reason, parked bool) {
	defer func() {
		if v := recover(); v != nil {
			r, parked = c.crashed(v), false
		}
	}()
	for {
		err := c.run()
		if err != errParked {
			return c.finish(err), false
		}
		if c.park() {
			return Reason{}, true
		}
	}
}

// crashed turns a panic inside lariat into the connection's end: the
// peer gets 1011 if the socket still works.
func (c *Conn) crashed(v any) (r Reason) {
	stack := debug.Stack()
	c.srv.logError("panic serving a connection", "panic", v, "remote", c.RemoteAddr(), "stack", string(stack))
	perr := &PanicError{Value: v, Stack: stack}
	defer func() {
		if recover() != nil {
			c.werr = errors.New("lariat: connection state lost to a panic")
			r = Reason{Kind: ReasonCrash, Code: StatusAbnormalClosure, Err: perr}
		}
	}()
	return c.finish(fail(ReasonCrash, "internal error", perr))
}

// run calls Init, the first time, then reads and dispatches events until
// something ends the connection, and returns that, or errParked. The
// codecs' next can be called again after errParked: the connection parks
// only between frames, with nothing unread.
func (c *Conn) run() error {
	if !c.initDone {
		c.initDone = true
		if err := c.invoke(callInit, Frame{}, nil); err != nil {
			return err
		}
	}
	for {
		ev, err := c.codec.next(c)
		if err != nil {
			return err
		}
		if err := c.dispatch(ev); err != nil {
			return err
		}
	}
}

// dispatch acts on one event from the codec.
func (c *Conn) dispatch(ev Frame) error {
	switch ev.Op {
	case OpText, OpBinary:
		err := c.invoke(callHandle, Frame{Op: ev.Op, Payload: ev.Payload}, nil)
		c.doneWithMessage(ev.Payload)
		return err
	case OpPing:
		// RFC 6455 §5.5.2: "Upon receipt of a Ping frame, an endpoint
		// MUST send a Pong frame in response ... with identical
		// Application data". It is queued first, so it leaves with
		// whatever the handler sends.
		c.writeFrame(true, OpPong, 0, ev.Payload)
	}
	if c.ctl == nil {
		return nil
	}
	err := c.invoke(callControl, Frame{Op: ev.Op, Payload: ev.Payload}, nil)
	poison(ev.Payload)
	return err
}

type callKind uint8

const (
	callInit callKind = iota
	callHandle
	callControl
	callInfo
	callTopic // msg is the *PreparedMessage, c.curTopic its topic
)

// invoke runs one callback and turns its result, or its panic, into the
// error that ends the connection, or nil.
func (c *Conn) invoke(k callKind, f Frame, msg any) (err error) {
	defer func() {
		if v := recover(); v != nil {
			stack := debug.Stack()
			c.srv.logError("handler panic", "panic", v, "remote", c.RemoteAddr(), "stack", string(stack))
			err = fail(ReasonCrash, "internal error", &PanicError{Value: v, Stack: stack})
		}
	}()
	switch k {
	case callInit:
		err = c.h.Init(c)
	case callHandle:
		err = c.h.Handle(c, f)
	case callControl:
		err = c.ctl.HandleControl(c, f)
	case callTopic:
		err = c.topics.th.HandleTopic(c, c.curTopic, msg.(*PreparedMessage))
	default:
		err = c.h.Info(c, msg)
	}
	switch {
	case c.werr != nil:
		// The socket failed under the callback; whatever it returned
		// (often that very error) is not the cause.
		return c.werr
	case err == nil:
		if c.closeSent {
			return &connError{kind: ReasonStop, text: c.sentText} // the callback called Close
		}
		return nil
	case errors.Is(err, Stop):
		return fail(ReasonStop, "", nil)
	}
	return fail(ReasonHandlerError, "internal error", err)
}

// finish is the one place a connection's end is decided: it turns the
// error that ended the run loop into the close frame the peer gets and
// the Reason Terminate gets, and delivers what is left in the mailbox.
// Code in the Reason is what really went over the wire.
func (c *Conn) finish(err error) Reason {
	ce := asConnError(err)
	if c.cut.Load() && (ce.kind == ReasonClosed || ce.kind == ReasonTimeout) {
		ce = &connError{kind: ReasonShutdown, err: ce.err}
	}
	r := Reason{Kind: ce.kind, Code: StatusAbnormalClosure, Text: ce.text, Err: ce.err}
	switch {
	case ce.kind == ReasonRemote:
		// RFC 6455 §5.5.1: "the endpoint typically echos the status
		// code it received".
		c.queueClose(ce.code, "")
		r.Code = ce.code
	case c.closeSent:
		// A callback called Close: its frame is what the peer gets.
		r.Text = c.sentText
	case ce.kind.closeCode() != 0:
		c.queueClose(ce.kind.closeCode(), ce.text)
	}
	c.closeSent = true // nothing more may be sent, close frame or not
	c.flush()
	c.topics.leave()
	if r.Code == StatusAbnormalClosure && c.sentCode != 0 && c.werr == nil {
		r.Code = c.sentCode
	}
	c.drainMailbox()
	return r
}

// doneWithMessage gives back the buffers of a message Handle has seen.
func (c *Conn) doneWithMessage(p []byte) {
	poison(p)
	if c.mbp != nil {
		putBuf(c.mbp)
		c.mbp = nil
	}
	if c.zbp != nil {
		putBuf(c.zbp)
		c.zbp = nil
	}
}

// terminate calls Terminate, which must not take the process down either.
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
	if c.comp != nil {
		c.comp.Release()
		c.decomp.Release()
	}
}

// SetActive pauses (false) or resumes (true) reading from the peer, for
// flow control: while paused no frame is read, the TCP window fills and
// the peer is slowed down, but Info still runs for posted messages. The
// idle timeout keeps running while reading is paused (as Cowboy's does),
// so a connection paused for longer than it is closed: raise it with
// SetIdleTimeout for long pauses. (Cowboy: {active, B}.)
func (c *Conn) SetActive(on bool) { c.active = on }

// SetIdleTimeout changes the connection's idle timeout (see
// Options.IdleTimeout), counting from now. Zero restores the value the
// connection started with; a negative value disables the timeout and
// the automatic pings. (Cowboy: set_options idle_timeout.)
func (c *Conn) SetIdleTimeout(d time.Duration) {
	if d == 0 {
		d = c.base.IdleTimeout
	}
	c.opts.IdleTimeout = d
	c.quietSince, c.pinged, c.readSeen = time.Now(), false, false
	c.planDeadline(c.quietSince)
}

// SetMaxMessageSize changes the largest message the connection accepts,
// reassembled and, with compression, inflated; a larger one closes the
// connection with 1009. Zero or less restores the value the connection
// started with. (Cowboy's max_frame_size, which also applies to whole
// messages.)
func (c *Conn) SetMaxMessageSize(n int64) {
	if n <= 0 {
		n = c.base.MaxMessageSize
	}
	c.opts.MaxMessageSize = n
	c.codec.setMaxMessageSize(n)
}

// Hibernate makes the connection give back everything it can while it
// waits for its peer: its buffers and compression context go back to
// shared pools, and on Linux, over a plain TCP or Unix socket, its
// goroutine ends too. Such a parked connection is a struct of about
// 1.6 KB in all, watched by a poller shared by the process, and it
// wakes on a new goroutine when data, a post, Shutdown or one of its
// timers (the idle timeout, the automatic ping) comes; callbacks still
// run one at a time and in order. Elsewhere (another OS, TLS, a wrapped
// net.Conn, or reading paused with SetActive(false)) the goroutine
// stays, without buffers.
//
// Hibernation takes effect when the connection next waits for the peer
// with no message in progress, and lasts until the next message or post:
// call Hibernate again, in Handle and Info, to hibernate again. Pings and
// pongs from the peer, and the connection's own timers, wake it only
// briefly. Data from the peer costs a parked connection about 10 µs more
// than waiting on a goroutine, a post under 1 µs more (see
// Options.HibernateAfter, which makes quiet connections hibernate by
// themselves). (Cowboy: hibernate.)
func (c *Conn) Hibernate() { c.hibernate = true }
