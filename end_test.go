package lariat

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// How a connection ends: the regression tests of the one way to end.

// TestCloseMidFrameSkipsRest: whoever starts the close while a frame is
// half read (Shutdown, the idle timeout, Info, a hibernating connection),
// the server reads past the rest of that frame and then sees the peer's
// close frame, instead of reading payload bytes as frame headers and
// giving up on the handshake.
func TestCloseMidFrameSkipsRest(t *testing.T) {
	for _, tt := range []struct {
		name  string
		code  uint16
		opts  func(*Upgrader)
		init  func(*Conn) error
		start func(u *Upgrader, c *Conn)
	}{
		{name: "shutdown", code: 1001, start: func(u *Upgrader, _ *Conn) {
			go u.Shutdown(context.Background())
		}},
		{name: "message timeout", code: 1000, opts: func(u *Upgrader) {
			u.Options.IdleTimeout = -1 // no pings in the way
			u.Options.MessageTimeout = 300 * time.Millisecond
		}},
		{name: "close from Info", code: 4000, start: func(_ *Upgrader, c *Conn) { c.Post("close") }},
		{name: "hibernating", code: 1001, init: func(c *Conn) error { c.Hibernate(); return nil }, start: func(u *Upgrader, _ *Conn) {
			go u.Shutdown(context.Background())
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newRecorder()
			h.onInit = tt.init
			h.onInfo = func(c *Conn, msg any) error { return c.Close(4000, "from info") }
			var closeRcvd atomic.Bool
			h.onTerminate = func(c *Conn, r Reason) { closeRcvd.Store(c.closeRcvd) }
			conns := make(chan *Conn, 1)
			h.onInitConn = func(c *Conn) { conns <- c }
			var up *Upgrader
			url := serve(t, h, func(u *Upgrader) {
				up = u
				u.Options.CloseTimeout = 10 * time.Second
				if tt.opts != nil {
					tt.opts(u)
				}
			})
			c := wstest.Dial(t, url)
			sc := <-conns
			payload := make([]byte, 64<<10)
			frame := c.AppendFrame(nil, true, 0, wstest.OpBinary, payload)
			c.WriteRaw(frame[:len(frame)/2])
			if tt.start != nil {
				tt.start(up, sc)
			}
			c.WantClose(tt.code)
			c.WriteRaw(frame[len(frame)/2:])
			c.WriteClose(tt.code, "")
			c.WantTCPClosed(5 * time.Second)
			h.reason(t)
			if !closeRcvd.Load() {
				t.Fatal("the server did not see the peer's close frame")
			}
		})
	}
}

// TestEndedMeansEnded: once the connection has ended, every send method
// returns ErrClosed and takes no write buffer, and Post refuses.
func TestEndedMeansEnded(t *testing.T) {
	h := newRecorder()
	errs := make(chan []error, 1)
	h.onTerminate = func(c *Conn, r Reason) {
		errs <- []error{
			c.SendText("x"), c.Send(Frame{Op: OpBinary, Payload: []byte("x")}), c.Send(Frame{Op: OpPing, Payload: nil}),
			c.Send(Frame{Op: OpPong}), c.Close(1000, ""), c.Post("late"),
		}
		if c.wbp != nil {
			t.Error("a send in Terminate took a write buffer")
		}
	}
	c := wstest.Dial(t, serve(t, h))
	c.WriteClose(1000, "")
	c.WantClose(1000)
	for i, err := range <-errs {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("call %d in Terminate = %v, want ErrClosed", i, err)
		}
	}
}

// TestEveryPostDelivered: posts accepted while the connection runs, or
// while it ends, all reach Info; Post refuses once Info will not run.
func TestEveryPostDelivered(t *testing.T) {
	for how, code := range map[string]uint16{"stop": 1000, "shutdown": 1001} {
		t.Run(how, func(t *testing.T) {
			var mu sync.Mutex
			delivered := 0
			release := make(chan struct{})
			conns := make(chan *Conn, 1)
			h := newRecorder()
			h.onInitConn = func(c *Conn) { conns <- c }
			h.onHandle = func(c *Conn, f Frame) error {
				<-release // posts pile up while Handle is busy
				if how == "stop" {
					return Stop
				}
				return nil
			}
			h.onInfo = func(c *Conn, msg any) error {
				mu.Lock()
				delivered++
				mu.Unlock()
				return nil
			}
			var up *Upgrader
			c := wstest.Dial(t, serve(t, h, func(u *Upgrader) { up = u }))
			sc := <-conns
			c.WriteText("go")
			accepted := 0
			for i := range 5000 {
				if i == 2500 {
					if how == "shutdown" {
						go up.Shutdown(context.Background())
					}
					close(release)
				}
				if sc.Post(i) == nil {
					accepted++
				}
			}
			c.WantClose(code)
			c.WriteClose(code, "")
			h.reason(t)
			mu.Lock()
			defer mu.Unlock()
			if delivered != accepted {
				t.Fatalf("%d posts accepted, %d delivered", accepted, delivered)
			}
			if err := sc.Post("after"); !errors.Is(err, ErrClosed) {
				t.Fatalf("Post after the end = %v", err)
			}
		})
	}
}

// TestShutdownReasonsSayWhatHappened: when Shutdown's context runs out, a
// connection blocked in Handle gets ReasonShutdown with 1006, since no
// close frame reached its peer.
func TestShutdownReasonsSayWhatHappened(t *testing.T) {
	h := newRecorder()
	entered, block := make(chan struct{}), make(chan struct{})
	h.onHandle = func(c *Conn, f Frame) error { close(entered); <-block; return nil }
	var up *Upgrader
	c := wstest.Dial(t, serve(t, h, func(u *Upgrader) { up = u }))
	c.WriteText("block")
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := up.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v", err)
	}
	close(block)
	if r := h.reason(t); r.Kind != ReasonShutdown || r.Code != StatusAbnormalClosure {
		t.Fatalf("reason %+v, want shutdown with 1006", r)
	}
}

// TestShutdownFromCallback: Shutdown inside a callback returns an error
// instead of waiting for its own connection.
func TestShutdownFromCallback(t *testing.T) {
	h := newRecorder()
	var up *Upgrader
	got := make(chan error, 1)
	h.onHandle = func(c *Conn, f Frame) error {
		got <- up.Shutdown(context.Background())
		return nil
	}
	c := wstest.Dial(t, serve(t, h, func(u *Upgrader) { up = u }))
	c.WriteText("shut down")
	if err := <-got; err == nil || !strings.Contains(err.Error(), "callback") {
		t.Fatalf("Shutdown in a callback = %v", err)
	}
	c.WantClose(1001)
	c.WriteClose(1001, "")
	if r := h.reason(t); r.Kind != ReasonShutdown || r.Code != StatusGoingAway {
		t.Fatalf("reason %+v", r)
	}
}

// TestNewPanicReleasesSlot: a panic in New, on either handshake, gives
// back the MaxConnections slot it took.
func TestNewPanicReleasesSlot(t *testing.T) {
	u := &Upgrader{Legacy: true, MaxConnections: 1, New: func(*http.Request, *Handshake) (Handler, error) {
		panic("in New")
	}}
	for _, req := range []func() *http.Request{
		func() *http.Request { return upgradeRequest(nil) },
		func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Upgrade", "WebSocket")
			r.Header.Set("Connection", "Upgrade")
			r.Header.Set("Sec-WebSocket-Key1", hixieKey1)
			r.Header.Set("Sec-WebSocket-Key2", hixieKey2)
			return r
		},
	} {
		for range 3 {
			func() {
				defer func() { recover() }()
				u.ServeHTTP(httptest.NewRecorder(), req())
			}()
		}
	}
	if n := u.Connections(); n != 0 {
		t.Fatalf("%d slots held after panics in New", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := u.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with nothing open = %v", err)
	}
}
