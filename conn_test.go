package lariat

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// recorder is a Handler that echoes data messages and records what
// happened to it, for tests to inspect once the connection has ended.
type recorder struct {
	mu      sync.Mutex
	frames  []Frame
	infos   []any
	reasons []Reason
	done    chan struct{}

	onInit      func(c *Conn) error
	onInitConn  func(c *Conn) // sees the Conn first, before onInit
	onHandle    func(c *Conn, f Frame) error
	onInfo      func(c *Conn, msg any) error
	onTerminate func(c *Conn, r Reason) // runs before the Reason is recorded
}

func newRecorder() *recorder { return &recorder{done: make(chan struct{})} }

func (h *recorder) Init(c *Conn) error {
	if h.onInitConn != nil {
		h.onInitConn(c)
	}
	if h.onInit != nil {
		return h.onInit(c)
	}
	return nil
}

func (h *recorder) Handle(c *Conn, f Frame) error {
	h.mu.Lock()
	h.frames = append(h.frames, f.Clone())
	h.mu.Unlock()
	if h.onHandle != nil {
		return h.onHandle(c, f)
	}
	return c.Send(f)
}

// HandleControl records pings and pongs beside the messages.
func (h *recorder) HandleControl(c *Conn, f Frame) error {
	h.mu.Lock()
	h.frames = append(h.frames, f.Clone())
	h.mu.Unlock()
	return nil
}

func (h *recorder) Info(c *Conn, msg any) error {
	h.mu.Lock()
	h.infos = append(h.infos, msg)
	h.mu.Unlock()
	if h.onInfo != nil {
		return h.onInfo(c, msg)
	}
	return nil
}

func (h *recorder) Terminate(c *Conn, r Reason) {
	if h.onTerminate != nil {
		h.onTerminate(c, r)
	}
	h.mu.Lock()
	h.reasons = append(h.reasons, r)
	h.mu.Unlock()
	close(h.done) // a second call panics: Terminate runs exactly once
}

// reason waits for Terminate and returns its Reason.
func (h *recorder) reason(t *testing.T) Reason {
	t.Helper()
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Terminate was not called")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reasons[0]
}

// serve starts a loopback server whose Upgrader hands out h, and returns
// its ws:// URL. When the test ends it checks that no connection
// goroutine is left behind.
func serve(t *testing.T, h Handler, opts ...func(*Upgrader)) string {
	t.Helper()
	u := &Upgrader{New: func(*http.Request, *Handshake) (Handler, error) { return h, nil }}
	// The scripted client does not answer close frames unless a test
	// says so; the server waits this long for it.
	u.Options.CloseTimeout = 300 * time.Millisecond
	for _, o := range opts {
		o(u)
	}
	srv := httptest.NewServer(u)
	t.Cleanup(func() {
		srv.Close()
		waitNoConnGoroutines(t)
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
}

// waitNoConnGoroutines fails the test if a connection goroutine, or a
// parked connection, outlives it. httptest.Server.Close does not wait for
// hijacked connections, so this looks at the stacks.
func waitNoConnGoroutines(t *testing.T) {
	t.Helper()
	var buf []byte
	for range 500 {
		buf = make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		if !bytes.Contains(buf, []byte("lariat.(*Conn).serve")) && registered() == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("connection goroutines left after the test:\n%s", buf)
}

func TestAcceptKeyRFCExample(t *testing.T) {
	// RFC 6455 §1.3.
	if got := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("acceptKey = %q", got)
	}
}

func TestEchoSizes(t *testing.T) {
	h := newRecorder()
	c := wstest.Dial(t, serve(t, h))
	for _, n := range []int{0, 1, 125, 126, 127, 1000, 2047, 2048, 2049, 4096, 65535, 65536, 300000} {
		p := bytes.Repeat([]byte("abcdefg"), n/7+1)[:n]
		c.WriteText(string(p))
		c.WantText(string(p))
		c.WriteBinary(p)
		c.WantBinary(p)
	}
	c.WriteClose(1000, "done")
	c.WantClose(1000)
	c.WantTCPClosed(5 * time.Second)
	r := h.reason(t)
	if r.Kind != ReasonRemote || r.Code != 1000 || r.Text != "done" || r.Err != nil {
		t.Fatalf("reason %+v", r)
	}
}

func TestChoppedWrites(t *testing.T) {
	c := wstest.Dial(t, serve(t, newRecorder()))
	c.SetChop(1, 0)
	c.WriteText("one byte at a time")
	c.WantText("one byte at a time")
	c.SetChop(7, time.Millisecond)
	p := bytes.Repeat([]byte{1, 2, 3}, 3000)
	c.WriteBinary(p)
	c.WantBinary(p)
}

// TestBytesAfterRequest sends the first frame in the same write as the
// request: those bytes sit in net/http's buffer at the hijack and must be
// the connection's first frame.
func TestBytesAfterRequest(t *testing.T) {
	url := serve(t, newRecorder())
	frame := wstest.AppendFrame(nil, wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte("early"), Masked: true, Mask: [4]byte{1, 2, 3, 4}})
	host := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/")
	req := "GET / HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" + string(frame)
	c := wstest.Dial(t, url, wstest.RawRequest(req))
	c.WantText("early")
}

func TestFragmentationWithPings(t *testing.T) {
	h := newRecorder()
	c := wstest.Dial(t, serve(t, h))
	c.WriteFrame(false, 0, wstest.OpText, []byte("frag"))
	c.WritePing([]byte("p1"))
	c.WantPong([]byte("p1"))
	c.WriteFrame(false, 0, wstest.OpContinuation, []byte("ment"))
	c.WritePing([]byte("p2"))
	c.WantPong([]byte("p2"))
	c.WriteFrame(true, 0, wstest.OpContinuation, []byte("ed"))
	c.WantText("fragmented")
	c.WriteClose(1000, "")
	c.WantClose(1000)
	h.reason(t)
	var ops []Opcode
	for _, f := range h.frames {
		ops = append(ops, f.Op)
	}
	if fmt.Sprint(ops) != "[ping ping text]" || string(h.frames[0].Payload) != "p1" {
		t.Fatalf("Handle saw %v", ops)
	}
}

// TestHandleSeesDataOnly: a Handler that does not implement
// ControlHandler gets data messages only; lariat answers the pings.
func TestHandleSeesDataOnly(t *testing.T) {
	var mu sync.Mutex
	var ops []Opcode
	h := &funcs{onHandle: func(c *Conn, f Frame) error {
		mu.Lock()
		ops = append(ops, f.Op)
		mu.Unlock()
		return c.Send(f)
	}}
	c := wstest.Dial(t, serve(t, h))
	c.WritePing([]byte("p1"))
	c.WantPong([]byte("p1"))
	c.WriteText("a")
	c.WantText("a")
	c.WritePong([]byte("unsolicited"))
	c.WriteBinary([]byte("b"))
	c.WantBinary([]byte("b"))
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(ops) != "[text binary]" {
		t.Fatalf("Handle saw %v", ops)
	}
}

// TestUTF8FailFast: the 1007 close must come while the message is still
// unfinished, as soon as the bad byte is read.
func TestUTF8FailFast(t *testing.T) {
	h := newRecorder()
	c := wstest.Dial(t, serve(t, h))
	c.WriteFrame(false, 0, wstest.OpText, []byte("κόσμε"))
	c.WriteFrame(false, 0, wstest.OpContinuation, []byte("ok\xed\xa0\x80 and more"))
	c.WantClose(1007)
	c.WantTCPClosed(5 * time.Second)
	if r := h.reason(t); r.Kind != ReasonBadEncoding || r.Code != 1007 {
		t.Fatalf("reason %+v", r)
	}

	// The same within a single frame whose end has not arrived.
	h = newRecorder()
	c = wstest.Dial(t, serve(t, h))
	frame := c.AppendFrame(nil, true, 0, wstest.OpText, []byte("abc\xffdef and a long tail that never comes"))
	c.WriteRaw(frame[:12])
	c.WantClose(1007)
	h.reason(t)
}

func TestUTF8SplitAcrossFragments(t *testing.T) {
	c := wstest.Dial(t, serve(t, newRecorder()))
	msg := "a€𝄞b"
	for i := 1; i < len(msg); i++ {
		c.WriteFrame(false, 0, wstest.OpText, []byte(msg[:i]))
		c.WriteFrame(true, 0, wstest.OpContinuation, []byte(msg[i:]))
		c.WantText(msg)
	}
	// A message that ends inside a character is invalid.
	c.WriteFrame(true, 0, wstest.OpText, []byte("a\xe2\x82"))
	c.WantClose(1007)
}

func TestProtocolErrors(t *testing.T) {
	tests := []struct {
		name  string
		send  func(c *wstest.Conn)
		code  uint16
		kind  ReasonKind
		first string // an echo that must arrive before the close
	}{
		{"RSV1 without extension", func(c *wstest.Conn) { c.WriteFrame(true, wstest.RSV1, wstest.OpText, []byte("x")) }, 1002, ReasonBadFrame, ""},
		{"RSV2", func(c *wstest.Conn) { c.WriteFrame(true, wstest.RSV2, wstest.OpText, []byte("x")) }, 1002, ReasonBadFrame, ""},
		{"RSV3 after a good message", func(c *wstest.Conn) {
			c.WriteText("good")
			c.WriteFrame(true, wstest.RSV3, wstest.OpText, []byte("x"))
		}, 1002, ReasonBadFrame, "good"},
		{"reserved opcode 3", func(c *wstest.Conn) { c.WriteFrame(true, 0, 3, nil) }, 1002, ReasonBadFrame, ""},
		{"reserved opcode 11", func(c *wstest.Conn) { c.WriteFrame(true, 0, 11, nil) }, 1002, ReasonBadFrame, ""},
		{"fragmented ping", func(c *wstest.Conn) { c.WriteFrame(false, 0, wstest.OpPing, nil) }, 1002, ReasonBadFrame, ""},
		{"ping over 125", func(c *wstest.Conn) { c.WriteFrame(true, 0, wstest.OpPing, make([]byte, 126)) }, 1002, ReasonBadFrame, ""},
		{"unmasked", func(c *wstest.Conn) { c.SetUnmasked(true); c.WriteText("x") }, 1002, ReasonBadFrame, ""},
		{"continuation without start", func(c *wstest.Conn) { c.WriteFrame(true, 0, wstest.OpContinuation, []byte("x")) }, 1002, ReasonBadFrame, ""},
		{"text inside fragmented message", func(c *wstest.Conn) {
			c.WriteFrame(false, 0, wstest.OpText, []byte("a"))
			c.WriteFrame(true, 0, wstest.OpText, []byte("b"))
		}, 1002, ReasonBadFrame, ""},
		{"64-bit length top bit", func(c *wstest.Conn) {
			c.WriteRaw([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4})
		}, 1002, ReasonBadFrame, ""},
		{"close with 1 byte", func(c *wstest.Conn) { c.WriteFrame(true, 0, wstest.OpClose, []byte{3}) }, 1002, ReasonBadFrame, ""},
		{"close code 1005", func(c *wstest.Conn) { c.WriteClose(1005, "") }, 1002, ReasonBadFrame, ""},
		{"close code 999", func(c *wstest.Conn) { c.WriteClose(999, "") }, 1002, ReasonBadFrame, ""},
		{"close reason not UTF-8", func(c *wstest.Conn) { c.WriteClose(1000, "\xff") }, 1007, ReasonBadEncoding, ""},
		{"message over the limit, header only", func(c *wstest.Conn) {
			c.WriteRaw([]byte{0x82, 0xff, 0, 0, 0, 0, 0, 0x20, 0, 0, 1, 2, 3, 4})
		}, 1009, ReasonTooBig, ""},
		{"fragments over the limit", func(c *wstest.Conn) {
			c.WriteFrame(false, 0, wstest.OpBinary, make([]byte, 600<<10))
			c.WriteFrame(true, 0, wstest.OpContinuation, make([]byte, 600<<10))
		}, 1009, ReasonTooBig, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRecorder()
			c := wstest.Dial(t, serve(t, h))
			tt.send(c)
			if tt.first != "" {
				c.WantText(tt.first)
			}
			c.WantClose(tt.code)
			c.WantTCPClosed(5 * time.Second)
			if r := h.reason(t); r.Kind != tt.kind || r.Code != StatusCode(tt.code) {
				t.Fatalf("reason %+v, want kind %v code %d", r, tt.kind, tt.code)
			}
		})
	}
}

func TestCloseStartedByServer(t *testing.T) {
	h := newRecorder()
	h.onHandle = func(c *Conn, f Frame) error {
		if string(f.Payload) == "bye" {
			// Frames queued before the close go out before it.
			c.SendText("one")
			c.Send(Frame{Op: OpBinary, Payload: []byte("two")})
			return c.Close(4001, "see you")
		}
		return c.Send(f)
	}
	c := wstest.Dial(t, serve(t, h))
	c.WriteText("bye")
	c.WantText("one")
	c.WantBinary([]byte("two"))
	if _, reason := c.WantClose(4001); reason != "see you" {
		t.Fatalf("reason %q", reason)
	}
	c.WriteClose(4001, "")
	c.WantTCPClosed(5 * time.Second)
	if r := h.reason(t); r.Kind != ReasonStop || r.Code != 4001 || r.Text != "see you" {
		t.Fatalf("reason %+v", r)
	}
}

// TestCloseWaitIsBounded: a peer that never answers the server's close
// frame is dropped after CloseTimeout.
func TestCloseWaitIsBounded(t *testing.T) {
	h := newRecorder()
	h.onInit = func(*Conn) error { return Stop }
	c := wstest.Dial(t, serve(t, h, func(u *Upgrader) { u.Options.CloseTimeout = 100 * time.Millisecond }))
	c.WantClose(1000)
	c.WantTCPClosed(5 * time.Second)
	if r := h.reason(t); r.Kind != ReasonStop || r.Code != 1000 {
		t.Fatalf("reason %+v", r)
	}
}

func TestTerminateReasons(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name   string
		h      func() *recorder
		script func(c *wstest.Conn)
		kind   ReasonKind
		code   StatusCode
		check  func(t *testing.T, r Reason)
	}{
		{"remote close without payload", newRecorder, func(c *wstest.Conn) {
			c.WriteClose(0, "")
			c.WantClose(wstest.StatusNone)
		}, ReasonRemote, StatusNoStatusRcvd, nil},
		{"stop from Handle", func() *recorder {
			h := newRecorder()
			h.onHandle = func(*Conn, Frame) error { return Stop }
			return h
		}, func(c *wstest.Conn) { c.WriteText("x"); c.WantClose(1000) }, ReasonStop, 1000, nil},
		{"error from Handle", func() *recorder {
			h := newRecorder()
			h.onHandle = func(*Conn, Frame) error { return fmt.Errorf("wrapped: %w", boom) }
			return h
		}, func(c *wstest.Conn) { c.WriteText("x"); c.WantClose(1011) }, ReasonHandlerError, 1011, func(t *testing.T, r Reason) {
			if !errors.Is(r, boom) {
				t.Errorf("errors.Is(reason, boom) is false: %v", r)
			}
		}},
		{"panic in Init", func() *recorder {
			h := newRecorder()
			h.onInit = func(*Conn) error { panic("init boom") }
			return h
		}, func(c *wstest.Conn) { c.WantClose(1011) }, ReasonCrash, 1011, func(t *testing.T, r Reason) {
			var pe *PanicError
			if !errors.As(r, &pe) || pe.Value != "init boom" || len(pe.Stack) == 0 {
				t.Errorf("panic error %+v", pe)
			}
		}},
		{"panic in Handle", func() *recorder {
			h := newRecorder()
			h.onHandle = func(*Conn, Frame) error { panic(boom) }
			return h
		}, func(c *wstest.Conn) { c.WriteText("x"); c.WantClose(1011) }, ReasonCrash, 1011, func(t *testing.T, r Reason) {
			if !errors.Is(r, boom) {
				t.Errorf("panic value not reachable: %v", r)
			}
		}},
		{"panic in Info", func() *recorder {
			h := newRecorder()
			h.onInit = func(c *Conn) error { return c.Post("hello") }
			h.onInfo = func(*Conn, any) error { panic("info boom") }
			return h
		}, func(c *wstest.Conn) { c.WantClose(1011) }, ReasonCrash, 1011, nil},
		{"abrupt TCP close", newRecorder, func(c *wstest.Conn) {
			c.WriteText("x")
			c.WantText("x")
			c.Close()
		}, ReasonClosed, StatusAbnormalClosure, nil},
		{"TCP close mid-frame", newRecorder, func(c *wstest.Conn) {
			c.WriteRaw(c.AppendFrame(nil, true, 0, wstest.OpBinary, make([]byte, 100))[:50])
			c.Close()
		}, ReasonClosed, StatusAbnormalClosure, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.h()
			c := wstest.Dial(t, serve(t, h))
			tt.script(c)
			r := h.reason(t)
			if r.Kind != tt.kind || r.Code != tt.code {
				t.Fatalf("reason %+v, want %v %v", r, tt.kind, tt.code)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	h := newRecorder()
	c := wstest.Dial(t, serve(t, h, func(u *Upgrader) { u.Options.IdleTimeout = 150 * time.Millisecond }))
	c.WriteText("keep")
	c.WantText("keep")
	// Half the timeout later comes a ping, which this peer ignores.
	if f, err := c.ReadFrame(); err != nil || f.Op != wstest.OpPing {
		t.Fatalf("want ping, got %v %v", f, err)
	}
	c.WantClose(1000)
	c.WantTCPClosed(5 * time.Second)
	if r := h.reason(t); r.Kind != ReasonTimeout {
		t.Fatalf("reason %+v", r)
	}
}

// TestPostOrder posts from many goroutines while the connection is
// blocked reading; each goroutine's messages must arrive in its order.
func TestPostOrder(t *testing.T) {
	const senders, each = 8, 200
	h := newRecorder()
	ready := make(chan *Conn, 1)
	got := make(chan struct{})
	n := 0
	h.onInit = func(c *Conn) error { ready <- c; return nil }
	h.onInfo = func(c *Conn, msg any) error {
		if n++; n == senders*each {
			close(got)
		}
		return nil
	}
	wc := wstest.Dial(t, serve(t, h))
	conn := <-ready
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				for conn.Post([2]int{s, i}) == ErrMailboxFull {
					runtime.Gosched()
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("posted messages did not all arrive")
	}
	h.mu.Lock()
	next := make([]int, senders)
	for _, m := range h.infos {
		p := m.([2]int)
		if p[1] != next[p[0]] {
			t.Fatalf("sender %d: got %d, want %d", p[0], p[1], next[p[0]])
		}
		next[p[0]]++
	}
	h.mu.Unlock()
	wc.WriteClose(1000, "")
	wc.WantClose(1000)
	h.reason(t)
	if err := conn.Post("late"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Post after Terminate = %v", err)
	}
}

func TestInfoSendsFrames(t *testing.T) {
	h := newRecorder()
	ready := make(chan *Conn, 1)
	h.onInit = func(c *Conn) error { ready <- c; return nil }
	h.onInfo = func(c *Conn, msg any) error { return c.SendText(msg.(string)) }
	wc := wstest.Dial(t, serve(t, h))
	conn := <-ready
	for _, s := range []string{"a", "b", "c"} {
		if err := conn.Post(s); err != nil {
			t.Fatal(err)
		}
	}
	wc.WantText("a")
	wc.WantText("b")
	wc.WantText("c")
}

func TestSetActive(t *testing.T) {
	h := newRecorder()
	ready := make(chan *Conn, 1)
	h.onInit = func(c *Conn) error {
		c.SetActive(false)
		ready <- c
		return nil
	}
	h.onInfo = func(c *Conn, msg any) error {
		c.SetActive(msg.(bool))
		return nil
	}
	wc := wstest.Dial(t, serve(t, h))
	conn := <-ready
	wc.WriteText("held")
	wc.WantNoFrame(200 * time.Millisecond)
	h.mu.Lock()
	seen := len(h.frames)
	h.mu.Unlock()
	if seen != 0 {
		t.Fatal("Handle ran while reading was paused")
	}
	conn.Post(true)
	wc.WantText("held")
}

func TestHibernate(t *testing.T) {
	h := newRecorder()
	hib := make(chan *Conn, 10)
	h.onHandle = func(c *Conn, f Frame) error {
		c.Hibernate()
		hib <- c
		return c.Send(f)
	}
	h.onInfo = func(c *Conn, msg any) error {
		// Runs while hibernating: the read buffer is in the pool.
		msg.(chan bool) <- c.rbuf == nil
		return c.SendText("from info")
	}
	wc := wstest.Dial(t, serve(t, h))
	wc.WriteText("one")
	wc.WantText("one")
	conn := <-hib
	// The echo left when the connection was about to wait, after it
	// gave its read buffer back: the post finds none.
	res := make(chan bool, 1)
	conn.Post(res)
	wc.WantText("from info")
	if !<-res {
		t.Fatal("the read buffer is still held while hibernating")
	}
	wc.WriteText("two")
	wc.WantText("two")
}

// TestUpgradeBehindMiddleware: the hijack goes through a wrapping
// ResponseWriter that implements Unwrap, as http.ResponseController wants.
func TestUpgradeBehindMiddleware(t *testing.T) {
	u := &Upgrader{New: func(*http.Request, *Handshake) (Handler, error) { return newRecorder(), nil }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.ServeHTTP(&middlewareWriter{ResponseWriter: w}, r)
	}))
	t.Cleanup(func() { srv.Close(); waitNoConnGoroutines(t) })
	c := wstest.Dial(t, "ws"+strings.TrimPrefix(srv.URL, "http"))
	c.WriteText("through")
	c.WantText("through")
}

type middlewareWriter struct{ http.ResponseWriter }

func (w *middlewareWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// fakeConn is an in-memory net.Conn whose reads replay one frame forever
// and whose writes are discarded: it isolates the connection's own costs
// for the allocation test and benchmarks.
type fakeConn struct {
	net.Conn
	frame []byte
	off   int
	wrote int
}

func (f *fakeConn) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], f.frame[f.off:])
		n += k
		f.off = (f.off + k) % len(f.frame)
	}
	return n, nil
}
func (f *fakeConn) Write(p []byte) (int, error)      { f.wrote += len(p); return len(p), nil }
func (f *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (f *fakeConn) SetWriteDeadline(time.Time) error { return nil }
func (f *fakeConn) Close() error                     { return nil }

type echoHandler struct{ Base }

func (echoHandler) Handle(c *Conn, f Frame) error { return c.Send(f) }

func newFakeEcho(size int) (*Conn, *fakeConn) {
	p := make([]byte, size)
	frame := wstest.AppendFrame(nil, wstest.Frame{Fin: true, Op: wstest.OpBinary, Payload: p, Masked: true, Mask: [4]byte{1, 2, 3, 4}})
	fc := &fakeConn{frame: frame}
	c := newTestConn(fc, echoHandler{}, Options{}, VersionRFC6455)
	return c, fc
}

// TestEchoAllocs pins the echo path, once warm, at zero allocations per
// message: Handle plus the reply.
func TestEchoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	for _, size := range []int{16, 16 << 10} {
		c, fc := newFakeEcho(size)
		for range 10 {
			if r := c.step(); r != nil {
				t.Fatal(r)
			}
		}
		if n := testing.AllocsPerRun(200, func() { c.step() }); n != 0 {
			t.Errorf("%d B: %v allocations per echoed message", size, n)
		}
		if fc.wrote == 0 {
			t.Fatal("nothing echoed")
		}
	}
}

func BenchmarkEcho(b *testing.B) {
	for _, size := range []int{16, 1024, 16 << 10} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			c, _ := newFakeEcho(size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if r := c.step(); r != nil {
					b.Fatal(r)
				}
			}
		})
	}
}

// TestTooBigCloseSurvives: after refusing an oversized frame from its
// header, the server reads past the rest of that frame while it waits for
// the peer's close, so it never closes on unread data: that would reset
// the connection and destroy the 1009 still on its way.
func TestTooBigCloseSurvives(t *testing.T) {
	big := make([]byte, 1<<20+1)
	for range 5 {
		h := newRecorder()
		c := wstest.Dial(t, serve(t, h))
		c.WriteBinary(big)
		c.WantClose(1009)
		c.WriteClose(1009, "")
		c.WantTCPClosed(5 * time.Second)
		if r := h.reason(t); r.Kind != ReasonTooBig {
			t.Fatalf("reason %+v", r)
		}
	}
}

// TestCompressedLimit: MaxMessageSize bounds the inflated message; an
// incompressible message at the limit, a little larger once deflated,
// is accepted.
func TestCompressedLimit(t *testing.T) {
	c := wstest.Dial(t, serve(t, newRecorder(), compressed()), wstest.Extensions("permessage-deflate"))
	msg := make([]byte, 1<<20)
	rand.NewChaCha8([32]byte{1}).Read(msg)
	c.WriteBinary(msg)
	c.WantBinary(msg)
	c.WriteBinary(append(msg, 0))
	c.WantClose(1009)
}
