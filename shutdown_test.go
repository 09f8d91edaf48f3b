package lariat

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lariat-ws/lariat/internal/wstest"
)

func TestShutdown(t *testing.T) {
	var mu sync.Mutex
	var reasons []Reason
	u := &Upgrader{New: func(*http.Request, *Handshake) (Handler, error) {
		return &funcs{
			onHandle: func(c *Conn, f Frame) error { return c.Send(f) },
			onTerminate: func(c *Conn, r Reason) {
				mu.Lock()
				reasons = append(reasons, r)
				mu.Unlock()
			},
		}, nil
	}}
	srv := httptest.NewServer(u)
	t.Cleanup(func() { srv.Close(); waitNoConnGoroutines(t) })
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	const n = 5
	clients := make([]*wstest.Conn, n)
	for i := range clients {
		clients[i] = wstest.Dial(t, url)
		clients[i].WriteText("hello")
		clients[i].WantText("hello")
	}
	if got := u.Connections(); got != n {
		t.Fatalf("Connections() = %d, want %d", got, n)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- u.Shutdown(ctx)
	}()
	// Every client gets 1001 and answers; the handshake completes.
	for _, c := range clients {
		if _, reason := c.WantClose(1001); reason != "going away" {
			t.Errorf("reason %q", reason)
		}
		c.WriteClose(1001, "")
		c.WantTCPClosed(5 * time.Second)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	mu.Lock()
	if len(reasons) != n {
		t.Fatalf("%d Terminate calls, want %d", len(reasons), n)
	}
	for _, r := range reasons {
		if r.Kind != ReasonShutdown || r.Code != StatusGoingAway {
			t.Errorf("reason %+v", r)
		}
	}
	mu.Unlock()
	// After Shutdown, upgrades are refused.
	c := wstest.Dial(t, url, wstest.WantStatus(http.StatusServiceUnavailable))
	_ = c
}

// TestShutdownDeadline: a client that never answers the close frame, and
// one the server cannot write to, are cut off when ctx ends.
func TestShutdownDeadline(t *testing.T) {
	h := newRecorder()
	u := &Upgrader{New: func(*http.Request, *Handshake) (Handler, error) { return h, nil }}
	u.Options.CloseTimeout = time.Minute
	srv := httptest.NewServer(u)
	t.Cleanup(func() { srv.Close(); waitNoConnGoroutines(t) })
	c := wstest.Dial(t, "ws"+strings.TrimPrefix(srv.URL, "http"))
	c.WriteText("x")
	c.WantText("x")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := u.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want deadline exceeded", err)
	}
	if r := h.reason(t); r.Kind != ReasonShutdown {
		t.Fatalf("reason %+v", r)
	}
	// Shutdown did not wait for Terminate; a second call does.
	if err := u.Shutdown(context.Background()); err != nil || u.Connections() != 0 {
		t.Fatalf("second Shutdown = %v, %d connections left", err, u.Connections())
	}
}

func TestRegisterOnShutdown(t *testing.T) {
	h := newRecorder()
	u := &Upgrader{New: func(*http.Request, *Handshake) (Handler, error) { return h, nil }}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: u, ReadHeaderTimeout: time.Second}
	srv.RegisterOnShutdown(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		u.Shutdown(ctx)
	})
	go srv.Serve(ln)
	c := wstest.Dial(t, "ws://"+ln.Addr().String())
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.WantClose(1001)
	c.WriteClose(1001, "")
	if r := h.reason(t); r.Kind != ReasonShutdown {
		t.Fatalf("reason %+v", r)
	}
	waitNoConnGoroutines(t)
}

func TestMaxConnections(t *testing.T) {
	url := serve(t, newRecorder2(), func(u *Upgrader) { u.MaxConnections = 2 })
	a := wstest.Dial(t, url)
	b := wstest.Dial(t, url)
	over := wstest.Dial(t, url, wstest.WantStatus(http.StatusServiceUnavailable))
	if over.Response.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	a.WriteClose(1000, "")
	a.WantClose(1000)
	a.WantTCPClosed(5 * time.Second)
	for i := 0; ; i++ {
		// The slot frees once the first connection has terminated.
		status, nc, _ := rawDial(t, url)
		nc.Close()
		if status == http.StatusSwitchingProtocols {
			break
		}
		if i == 100 {
			t.Fatal("slot never freed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.WriteText("still here")
	b.WantText("still here")
}

// newRecorder2 hands out a fresh echo handler per connection.
func newRecorder2() Handler {
	return &funcs{onHandle: func(c *Conn, f Frame) error { return c.Send(f) }}
}

// TestWriteTimeout: a peer that stops reading is dropped after
// WriteTimeout; meanwhile nothing is queued in memory (large payloads
// are written through, and the write buffer keeps its size), and once
// a write has failed every send fails at once.
func TestWriteTimeout(t *testing.T) {
	h := newRecorder()
	big := make([]byte, 1<<20)
	sent, buffered := 0, 0
	var errs []error
	h.onInit = func(c *Conn) error {
		for range 64 {
			err := c.Send(Frame{Op: OpBinary, Payload: big})
			if c.wbp != nil {
				buffered = max(buffered, cap(*c.wbp))
			}
			if err != nil {
				errs = append(errs, err, c.SendText("after"))
				return err
			}
			sent++
		}
		return nil
	}
	wstest.Dial(t, serve(t, h, func(u *Upgrader) { u.Options.WriteTimeout = 200 * time.Millisecond }))
	r := h.reason(t)
	if r.Kind != ReasonTimeout || r.Text != "write timeout" || r.Code != StatusAbnormalClosure {
		t.Fatalf("reason %+v", r)
	}
	if sent == 64 || len(errs) != 2 || !errors.Is(errs[0], os.ErrDeadlineExceeded) || !errors.Is(errs[1], os.ErrDeadlineExceeded) {
		t.Fatalf("%d sends went through, then %v", sent, errs)
	}
	if buffered > defaultBufferSize {
		t.Fatalf("write buffer grew to %d bytes", buffered)
	}
}

// TestQuietPeerStays: with the default rule, a peer that sends nothing
// but answers pings, as an idle browser tab does, stays connected well
// past IdleTimeout; once it stops answering it is closed with 1000
// within 1.25 IdleTimeouts of its last pong.
func TestQuietPeerStays(t *testing.T) {
	h := newRecorder()
	const idle = 200 * time.Millisecond
	c := wstest.Dial(t, serve(t, h, func(u *Upgrader) { u.Options.IdleTimeout = idle }))
	start := time.Now()
	for range 6 {
		f, err := c.ReadFrame()
		if err != nil || f.Op != wstest.OpPing {
			t.Fatalf("want ping, got %v %v", f, err)
		}
		c.WritePong(f.Payload)
	}
	// Each ping came after half an IdleTimeout of silence: the
	// connection has outlived three IdleTimeouts.
	if d := time.Since(start); d < 3*idle {
		t.Fatalf("6 pings in %v", d)
	}
	// Now stop answering: the next ping goes unanswered and the server
	// gives up.
	f, err := c.ReadFrame()
	if err != nil || f.Op != wstest.OpPing {
		t.Fatalf("want ping, got %v %v", f, err)
	}
	c.WantClose(1000)
	if r := h.reason(t); r.Kind != ReasonTimeout || r.Text != "idle timeout" || r.Code != 1000 {
		t.Fatalf("reason %+v", r)
	}
}

// TestResetLeavesNothing: a TCP reset mid-message ends the connection
// with ReasonClosed and no goroutine left (serve's cleanup checks).
func TestResetLeavesNothing(t *testing.T) {
	h := newRecorder()
	_, nc, _ := rawDial(t, serve(t, h))
	frame := wstest.AppendFrame(nil, wstest.Frame{Fin: true, Op: wstest.OpBinary, Payload: make([]byte, 1000), Masked: true})
	nc.Write(frame[:100])
	tcp := nc.(*net.TCPConn)
	tcp.SetLinger(0)
	tcp.Close()
	if r := h.reason(t); r.Kind != ReasonClosed {
		t.Fatalf("reason %+v", r)
	}
}

// rawDial performs an RFC 6455 handshake on a plain TCP connection and
// returns the response status.
func rawDial(t *testing.T, url string) (int, net.Conn, *bufio.Reader) {
	t.Helper()
	host := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/")
	nc, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(nc, rawRequest(url))
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Time{})
	return resp.StatusCode, nc, br
}

// TestLogger: refused handshakes and panics are logged, messages are not.
func TestLogger(t *testing.T) {
	var buf safeBuffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	h := newRecorder()
	h.onHandle = func(c *Conn, f Frame) error {
		if string(f.Payload) == "boom" {
			panic("kaboom")
		}
		return c.Send(f)
	}
	url := serve(t, h, func(u *Upgrader) { u.Logger = logger })
	wstest.Dial(t, url, wstest.Version("12"), wstest.WantStatus(http.StatusUpgradeRequired))
	c := wstest.Dial(t, url)
	for range 10 {
		c.WriteText("quiet")
		c.WantText("quiet")
	}
	c.WriteText("boom")
	c.WantClose(1011)
	h.reason(t)
	out := buf.String()
	if !strings.Contains(out, "handshake refused") || !strings.Contains(out, "status=426") {
		t.Errorf("refusal not logged:\n%s", out)
	}
	if !strings.Contains(out, "kaboom") {
		t.Errorf("panic not logged:\n%s", out)
	}
	if strings.Count(out, "\n") != 2 {
		t.Errorf("want 2 log lines, got:\n%s", out)
	}
}

// TestTerminatePanic: a panic in Terminate is recovered and logged; the
// process and the server go on.
func TestTerminatePanic(t *testing.T) {
	var buf safeBuffer
	url := serve(t, &funcs{onTerminate: func(*Conn, Reason) { panic("in terminate") }}, func(u *Upgrader) {
		u.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	})
	c := wstest.Dial(t, url)
	c.WriteClose(1000, "")
	c.WantClose(1000)
	c.WantTCPClosed(5 * time.Second)
	for i := 0; !strings.Contains(buf.String(), "in terminate"); i++ {
		if i == 500 {
			t.Fatalf("panic in Terminate not logged: %q", buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	wstest.Dial(t, url) // still serving
}

type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
