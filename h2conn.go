package lariat

// WebSocket over HTTP/2 (RFC 8441): the transport. A WebSocket runs on one
// stream, "as if it were the TCP connection referred to in [RFC6455]"
// (RFC 8441 §5): the request body carries the client's frames, the
// response body the server's. h2Stream makes the stream a net.Conn, so
// that the connection engine runs on it unchanged.
//
// The engine needs read deadlines that can be moved and that a Read
// survives: they drive the idle and ping timers, and Post wakes a blocked
// Read by moving the deadline into the past, then reads again. net/http's
// HTTP/2 deadlines cannot do that: a read deadline that fires closes the
// request body for good (http2stream.onReadTimeout calls
// body.CloseWithError). So the body is read by a pump goroutine, and Read
// waits for the pump, the deadline or Close, whichever comes first,
// without losing what the pump read.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Transport names what the connection runs on, by its ALPN protocol ID:
// "http/1.1" for a connection taken over from HTTP/1.1, "h2" for a stream
// of an HTTP/2 connection (RFC 8441; over TLS or cleartext), or "" when
// the connection never completed its upgrade. It is meant for logs and
// metrics, and is safe for concurrent use.
func (c *Conn) Transport() string {
	switch c.nc.(type) {
	case nil:
		return ""
	case *h2Stream:
		return "h2"
	}
	return "http/1.1"
}

// h2Stream is a net.Conn over the stream of an extended CONNECT request.
//
// Read and the Set*Deadline methods follow net.Conn's rules: Read, Write
// and Close come from the connection's goroutine, except that Close and
// SetReadDeadline may come from any goroutine (Shutdown and Post use
// them), at any time, even after ServeHTTP returned.
type h2Stream struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	body io.ReadCloser

	remote, local net.Addr

	// The pump reads the body and hands each chunk over through ready;
	// Read owns the chunk's buffer until it has copied it all out and
	// gives it back through more, which lets the pump read again.
	// Between chunks the pump holds no buffer, so an idle stream costs
	// none. The unread bytes are (*bp)[r:n]; connection goroutine only.
	bp     *[]byte
	n, r   int
	size   int
	ready  chan h2Chunk
	more   chan struct{}
	rerr   error         // the body's error, once Read reached it
	pumped chan struct{} // closed when the pump returns

	rdl h2Deadline
	wdl time.Time // the write deadline; connection goroutine only

	mu       sync.Mutex
	closed   bool
	writing  bool          // a Write is under way
	finished bool          // ServeHTTP is returning: w is no longer usable
	done     chan struct{} // closed by Close
}

func newH2Stream(w http.ResponseWriter, r *http.Request, readSize int) *h2Stream {
	s := &h2Stream{
		w:      w,
		rc:     http.NewResponseController(w),
		body:   r.Body,
		remote: parseAddr(r.RemoteAddr),
		size:   readSize,
		ready:  make(chan h2Chunk, 1),
		more:   make(chan struct{}, 1),
		pumped: make(chan struct{}),
		done:   make(chan struct{}),
		rdl:    h2Deadline{wake: make(chan struct{}, 1)},
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		s.local = a
	}
	// The server's ReadTimeout and WriteTimeout start a deadline on every
	// stream, which would end the connection however busy it is; the
	// connection keeps its own, as on HTTP/1.1 after the hijack. Neither
	// call fails on net/http's HTTP/2 ResponseWriter.
	s.rc.SetReadDeadline(time.Time{})
	s.rc.SetWriteDeadline(time.Time{})
	go s.pump()
	return s
}

// writeHeader sends the response's HEADERS frame, without END_STREAM.
func (s *h2Stream) writeHeader(status int) error {
	s.w.WriteHeader(status)
	_, err := s.Write(nil)
	return err
}

// h2Chunk is one read of the request body: n bytes in *bp, and the
// read's error.
type h2Chunk struct {
	bp  *[]byte
	n   int
	err error
}

// pump reads the request body, one chunk at a time, for Read.
func (s *h2Stream) pump() {
	defer close(s.pumped)
	for {
		// A read of nothing waits for data without holding a buffer
		// (net/http's pipe returns once it has bytes or an error).
		var c h2Chunk
		if _, c.err = s.body.Read(nil); c.err == nil {
			c.bp = getBuf(s.size)
			c.n, c.err = s.body.Read((*c.bp)[:cap(*c.bp)])
		}
		select {
		case s.ready <- c: // never blocks: Read gave the last chunk back
		case <-s.done:
			putBuf(c.bp)
			return
		}
		if c.err != nil {
			return
		}
		select {
		case <-s.more:
		case <-s.done:
			return
		}
	}
}

// Read returns the bytes the pump read, waiting for them until the read
// deadline or Close. Once the deadline has passed it returns an error
// for which errors.Is(err, os.ErrDeadlineExceeded) holds; the stream is
// not harmed, and a Read after the deadline moved goes on where the last
// one stopped.
func (s *h2Stream) Read(p []byte) (int, error) {
	for {
		if s.r < s.n {
			k := copy(p, (*s.bp)[s.r:s.n])
			s.r += k
			if s.r == s.n {
				s.giveBack()
			}
			return k, nil
		}
		if s.rerr != nil {
			return 0, s.rerr
		}
		if s.rdl.expired.Load() {
			return 0, errH2Timeout
		}
		select {
		case c := <-s.ready:
			s.bp, s.n, s.r = c.bp, c.n, 0
			if c.err != nil {
				s.rerr = s.readError(c.err)
			}
			if s.n == 0 {
				s.giveBack()
			}
		case <-s.rdl.wake:
		case <-s.done:
			return 0, ErrClosed
		}
	}
}

// giveBack returns the consumed chunk's buffer to the pool and lets the
// pump read on.
func (s *h2Stream) giveBack() {
	putBuf(s.bp)
	s.bp, s.r, s.n = nil, 0, 0
	s.more <- struct{}{} // room for one: the pump takes it before the next chunk
}

// readError turns the body's error into what the engine expects of a
// socket: io.EOF when the client ended its side of the stream
// (END_STREAM, RFC 8441 §5's "orderly TCP-level closure"), ErrClosed
// after Close, a reset otherwise.
func (s *h2Stream) readError(err error) error {
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	if s.isClosed() {
		return ErrClosed
	}
	return &h2ResetError{err}
}

// Write sends p in DATA frames and flushes them, so that the engine's
// batching decides what leaves together. It blocks while HTTP/2 flow
// control holds the data back, until the write deadline.
func (s *h2Stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, ErrClosed
	}
	s.writing = true
	s.mu.Unlock()
	n, err := s.w.Write(p)
	if err == nil {
		err = s.rc.Flush()
	}
	s.mu.Lock()
	s.writing = false
	closed := s.closed
	s.mu.Unlock()
	switch {
	case err == nil:
		return n, nil
	case closed:
		return n, ErrClosed
	case !s.wdl.IsZero() && !time.Now().Before(s.wdl):
		// net/http resets the stream when its write deadline passes.
		return n, fmt.Errorf("lariat: HTTP/2 stream write: %w", os.ErrDeadlineExceeded)
	}
	return n, &h2ResetError{err}
}

// Close ends the connection's use of the stream: the pump stops and a
// blocked Read returns ErrClosed. The stream itself ends when ServeHTTP
// returns: net/http then sends END_STREAM, and RST_STREAM(NO_ERROR) if
// the client has not ended its side (RFC 9113 §8.1). A Write blocked by
// flow control, which only the stream's reset can release, makes Close
// reset the stream at once (RST_STREAM with INTERNAL_ERROR, which is
// what net/http sends when a write deadline passes).
func (s *h2Stream) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	if s.writing && !s.finished {
		s.rc.SetWriteDeadline(aLongTimeAgo)
	}
	s.mu.Unlock()
	s.rdl.stop()
	s.body.Close() // releases a pump blocked in Read
	return nil
}

func (s *h2Stream) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// finish runs as ServeHTTP returns: it closes the stream if the
// connection has not, waits for the pump, and keeps Close from touching
// the ResponseWriter from then on.
func (s *h2Stream) finish() {
	s.Close()
	<-s.pumped
	select {
	case c := <-s.ready: // handed over, never read
		putBuf(c.bp)
	default:
	}
	putBuf(s.bp)
	s.bp, s.r, s.n = nil, 0, 0
	s.mu.Lock()
	s.finished = true
	s.mu.Unlock()
}

// LocalAddr returns the address of the HTTP/2 connection's local end,
// or nil when net/http did not record it.
func (s *h2Stream) LocalAddr() net.Addr { return s.local }

// RemoteAddr returns the client's address, as http.Request.RemoteAddr
// gave it.
func (s *h2Stream) RemoteAddr() net.Addr { return s.remote }

// SetDeadline sets both deadlines.
func (s *h2Stream) SetDeadline(t time.Time) error {
	s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline of Read; zero means none. It may be
// called from any goroutine, and wakes a blocked Read when t has passed.
func (s *h2Stream) SetReadDeadline(t time.Time) error {
	s.rdl.set(t)
	return nil
}

// SetWriteDeadline sets the stream's write deadline in net/http, which
// resets the stream when it passes: a peer that does not read for that
// long is dropped, as a socket write timeout drops it on HTTP/1.1. The
// engine calls it from its own goroutine only.
func (s *h2Stream) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		return ErrClosed
	}
	s.wdl = t
	return s.rc.SetWriteDeadline(t)
}

// h2Deadline is a read deadline that can be moved any number of times,
// from any goroutine. When it passes, expired is set and wake signalled,
// and a blocked Read returns; setting a new deadline clears expired. One
// timer serves the stream's life: moving the deadline costs no
// allocation.
type h2Deadline struct {
	mu      sync.Mutex
	at      time.Time
	timer   *time.Timer
	stopped bool
	expired atomic.Bool
	wake    chan struct{} // capacity 1
}

func (d *h2Deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	d.at = t
	if t.IsZero() {
		d.expired.Store(false)
		if d.timer != nil {
			d.timer.Stop()
		}
		return
	}
	if wait := time.Until(t); wait > 0 {
		d.expired.Store(false)
		if d.timer == nil {
			d.timer = time.AfterFunc(wait, d.fire)
		} else {
			d.timer.Reset(wait)
		}
		return
	}
	if d.timer != nil {
		d.timer.Stop()
	}
	d.expire()
}

// fire runs when the timer goes off; a timer that was moved meanwhile
// finds its deadline still ahead and does nothing.
func (d *h2Deadline) fire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.stopped && !d.at.IsZero() && !time.Now().Before(d.at) {
		d.expire()
	}
}

// expire marks the deadline passed and wakes a blocked Read; d.mu must
// be held.
func (d *h2Deadline) expire() {
	d.expired.Store(true)
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// stop disarms the deadline for good.
func (d *h2Deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = true
	if d.timer != nil {
		d.timer.Stop()
	}
}

// errH2Timeout is what Read returns once its deadline has passed.
var errH2Timeout = fmt.Errorf("lariat: HTTP/2 stream read: %w", os.ErrDeadlineExceeded)

// h2ResetError reports that the client reset the stream (RST_STREAM) or
// that the HTTP/2 connection was lost, under net/http's error. It is the
// stream's counterpart of a TCP reset, so errors.Is(err,
// syscall.ECONNRESET) holds, and the connection ends with ReasonClosed
// and 1006 as a reset TCP connection does.
type h2ResetError struct{ err error }

func (e *h2ResetError) Error() string   { return "lariat: HTTP/2 stream reset: " + e.err.Error() }
func (e *h2ResetError) Unwrap() []error { return []error{syscall.ECONNRESET, e.err} }

// parseAddr turns http.Request.RemoteAddr into a net.Addr: a *net.TCPAddr
// when it is an IP and a port, as net/http's listeners give it.
func parseAddr(s string) net.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return h2Addr(s)
}

// h2Addr is an address net/http gave in a form other than IP:port.
type h2Addr string

func (a h2Addr) Network() string { return "tcp" }
func (a h2Addr) String() string  { return string(a) }
