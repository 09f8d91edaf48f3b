package lariat

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// TestH2 runs WebSocket over HTTP/2 (RFC 8441) against net/http's own
// HTTP/2 server, with a scripted client that writes HTTP/2 frames.
// net/http advertises extended CONNECT only when GODEBUG held
// http2xconnect=1 when the process started, so unless it did, TestH2 runs
// itself in a child process that has it, and reports what the child
// reports. The other tests of the package run without it.
func TestH2(t *testing.T) {
	if !extendedConnect {
		runH2Child(t)
		return
	}
	for _, tc := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"Settings", testH2Settings},
		{"Handshake", testH2Handshake},
		{"Echo", testH2Echo},
		{"Fragments", testH2Fragments},
		{"Ping", testH2Ping},
		{"ClientCloses", testH2ClientCloses},
		{"ServerCloses", testH2ServerCloses},
		{"Deflate", testH2Deflate},
		{"ResetMidMessage", testH2ResetMidMessage},
		{"ConnectionLost", testH2ConnectionLost},
		{"ManyStreams", testH2ManyStreams},
		{"Shutdown", testH2Shutdown},
		{"ShutdownStuckWriter", testH2ShutdownStuckWriter},
		{"PostWakes", testH2PostWakes},
		{"IdleTimeout", testH2IdleTimeout},
		{"WriteTimeout", testH2WriteTimeout},
		{"Hibernate", testH2Hibernate},
		{"Refusals", testH2Refusals},
		{"ServerShutdown", testH2ServerShutdown},
		{"TLS", testH2TLS},
	} {
		t.Run(tc.name, tc.f)
	}
}

// runH2Child runs TestH2, and the subtests -run selects in it, in a child
// process whose GODEBUG turns extended CONNECT on.
func runH2Child(t *testing.T) {
	pattern := "^TestH2$"
	if f := flag.Lookup("test.run"); f != nil {
		if _, sub, ok := strings.Cut(f.Value.String(), "/"); ok {
			pattern += "/" + sub
		}
	}
	args := []string{"-test.run=" + pattern, "-test.count=1"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	if d, ok := t.Deadline(); ok {
		args = append(args, "-test.timeout="+time.Until(d).String())
	}
	cmd := exec.Command(os.Args[0], args...)
	godebug := "http2xconnect=1"
	for _, kv := range os.Environ() {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok && v != "" {
			godebug = v + "," + godebug
		} else if !ok {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "GODEBUG="+godebug)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("TestH2 in a process with GODEBUG=%s: %v\n%s", godebug, err, out)
	}
	if testing.Verbose() {
		t.Logf("TestH2 ran in a process with GODEBUG=%s:\n%s", godebug, out)
	}
}

// h2Serve starts a server on 127.0.0.1 that speaks HTTP/1.1 and
// prior-knowledge cleartext HTTP/2 (h2c), and returns its address. When
// the test ends the server is closed and no connection goroutine, and no
// stream's pump, may be left.
func h2Serve(t *testing.T, h http.Handler) (string, *http.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-served
		waitNoH2Goroutines(t)
	})
	return ln.Addr().String(), srv
}

// h2Upgrader returns an Upgrader whose New hands out h, with a short
// CloseTimeout, as serve does for HTTP/1.1.
func h2Upgrader(h Handler, opts ...func(*Upgrader)) *Upgrader {
	u := &Upgrader{New: func(*http.Request, *Handshake) (Handler, error) { return h, nil }}
	u.Options.CloseTimeout = 300 * time.Millisecond
	for _, o := range opts {
		o(u)
	}
	return u
}

// waitNoH2Goroutines fails the test if a connection goroutine or a
// stream's pump outlives it.
func waitNoH2Goroutines(t *testing.T) {
	t.Helper()
	var buf []byte
	for range 500 {
		buf = make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		if !bytes.Contains(buf, []byte("lariat.(*Conn).serve")) && !bytes.Contains(buf, []byte("lariat.(*h2Stream).pump")) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("goroutines left after the test:\n%s", buf)
}

func testH2Settings(t *testing.T) {
	addr, _ := h2Serve(t, h2Upgrader(newRecorder()))
	// RFC 8441 §3: SETTINGS_ENABLE_CONNECT_PROTOCOL (0x8) = 1.
	wstest.DialH2(t, "http://"+addr).WantSetting(http2.SettingEnableConnectProtocol, 1)
}

func testH2Handshake(t *testing.T) {
	conns := make(chan *Conn, 1)
	h := newRecorder()
	h.onInit = func(c *Conn) error { conns <- c; return nil }
	var hsSeen *Handshake
	u := &Upgrader{New: func(r *http.Request, hs *Handshake) (Handler, error) {
		hsSeen = hs
		hs.Protocol = "chat"
		hs.Header.Set("Set-Cookie", "a=b")
		hs.Header.Set("Connection", "close") // must not reach HTTP/2
		return h, nil
	}}
	addr, _ := h2Serve(t, u)
	c := wstest.DialH2(t, "http://"+addr)
	// The :protocol value is compared without case; a Sec-WebSocket-Key,
	// which RFC 8441 does not use, is ignored.
	fields := c.ConnectFields("/ws", "sec-websocket-protocol", "superchat, chat", "origin", "http://"+addr, "sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
	fields[1].Value = "WebSocket"
	st := c.Open(fields, false)
	resp, err := st.Response()
	if err != nil {
		t.Fatal(err)
	}
	if resp.Get(":status") != "200" || resp.Get("Sec-Websocket-Protocol") != "chat" || resp.Get("Set-Cookie") != "a=b" {
		t.Fatalf("response %v", resp)
	}
	for _, k := range []string{"Sec-Websocket-Accept", "Upgrade", "Connection"} {
		if v, ok := resp[k]; ok {
			t.Errorf("response has %s: %q", k, v)
		}
	}
	conn := <-conns
	if hsSeen.Version != VersionRFC6455 || strings.Join(hsSeen.Protocols, ",") != "superchat,chat" {
		t.Errorf("Handshake %+v", hsSeen)
	}
	if got := conn.Transport(); got != "h2" {
		t.Errorf("Transport() = %q, want h2", got)
	}
	if got, want := conn.RemoteAddr().String(), c.LocalAddr().String(); got != want {
		t.Errorf("RemoteAddr() = %s, want %s", got, want)
	}
	if got, want := conn.LocalAddr().String(), c.RemoteAddr().String(); got != want {
		t.Errorf("LocalAddr() = %s, want %s", got, want)
	}
	if _, ok := conn.RemoteAddr().(*net.TCPAddr); !ok {
		t.Errorf("RemoteAddr() is a %T", conn.RemoteAddr())
	}
	st.WriteText("hello")
	st.WantText("hello")
	st.WriteClose(1000, "")
	st.WantClose(1000)
	st.WantEnd()
	if r := h.reason(t); r.Kind != ReasonRemote || r.Code != StatusNormalClosure {
		t.Fatalf("reason %+v", r)
	}
}

func testH2Echo(t *testing.T) {
	addr, _ := h2Serve(t, h2Upgrader(newRecorder()))
	st, _ := wstest.DialH2(t, "http://"+addr).Connect("/")
	for _, n := range []int{0, 1, 125, 126, 4095, 4096, 65535, 65536, 300 << 10} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i * 7)
		}
		st.WriteBinary(p)
		st.WantBinary(p)
	}
	text := strings.Repeat("héllo ", 1000)
	st.WriteText(text)
	st.WantText(text)
}

func testH2Fragments(t *testing.T) {
	h := newRecorder()
	addr, _ := h2Serve(t, h2Upgrader(h, func(u *Upgrader) { u.Options.FragmentSize = 1000 }))
	st, _ := wstest.DialH2(t, "http://"+addr).Connect("/")
	// A message in 7 fragments with pings between them, sent byte by
	// byte in DATA frames of its own: it arrives whole, after the pongs.
	msg := bytes.Repeat([]byte("0123456789"), 700)
	var wire []byte
	for i := 0; i < len(msg); i += 1000 {
		op := byte(wstest.OpContinuation)
		if i == 0 {
			op = wstest.OpText
		}
		wire = append(wire, wstest.MaskedFrame(i+1000 >= len(msg), 0, op, msg[i:min(i+1000, len(msg))])...)
		wire = append(wire, wstest.MaskedFrame(true, 0, wstest.OpPing, []byte{byte(i / 1000)})...)
	}
	for i := 0; i < len(wire); i += 97 {
		st.WriteRaw(wire[i:min(i+97, len(wire))])
	}
	for i := range 6 {
		st.WantPong([]byte{byte(i)})
	}
	// The echo leaves in frames of FragmentSize, before the answer to the
	// ping that followed the last fragment.
	var got []byte
	for len(got) < len(msg) {
		f, err := wstest.ReadFrameFrom(st, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Payload) > 1000 || f.Fin != (len(got)+len(f.Payload) == len(msg)) {
			t.Fatalf("frame %v", f)
		}
		got = append(got, f.Payload...)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("echo differs")
	}
	st.WantPong([]byte{6})
}

func testH2Ping(t *testing.T) {
	h := newRecorder()
	addr, _ := h2Serve(t, h2Upgrader(h, func(u *Upgrader) { u.Options.IdleTimeout = 100 * time.Millisecond }))
	st, _ := wstest.DialH2(t, "http://"+addr).Connect("/")
	st.WritePing([]byte("are you there"))
	st.WantPong([]byte("are you there"))
	// The server's automatic ping; its pong keeps the connection.
	st.WantMessage(wstest.OpPing, nil)
	st.WritePong(nil)
	st.WriteText("still here")
	st.WantText("still here")
}

func testH2ClientCloses(t *testing.T) {
	h := newRecorder()
	addr, _ := h2Serve(t, h2Upgrader(h))
	st, _ := wstest.DialH2(t, "http://"+addr).Connect("/")
	st.WriteClose(4000, "bye")
	st.WantClose(4000)
	st.WantEnd()
	r := h.reason(t)
	if r.Kind != ReasonRemote || r.Code != 4000 || r.Text != "bye" {
		t.Fatalf("reason %+v", r)
	}
}

func testH2ServerCloses(t *testing.T) {
	h := newRecorder()
	h.onHandle = func(c *Conn, f Frame) error { return Stop }
	addr, _ := h2Serve(t, h2Upgrader(h))
	st, _ := wstest.DialH2(t, "http://"+addr).Connect("/")
	st.WriteText("stop")
	st.WantClose(1000)
	st.WriteClose(1000, "")
	st.WantEnd()
	if r := h.reason(t); r.Kind != ReasonStop {
		t.Fatalf("reason %+v", r)
	}
}

func testH2Deflate(t *testing.T) {
	h := newRecorder()
	addr, _ := h2Serve(t, h2Upgrader(h, func(u *Upgrader) { u.Options.Compression = &CompressionOptions{} }))
	st, resp := wstest.DialH2(t, "http://"+addr).Connect("/", "sec-websocket-extensions", "permessage-deflate; client_max_window_bits")
	if st.Deflater() == nil {
		t.Fatalf("permessage-deflate not accepted: %v", resp)
	}
	msg := jsonish(8 << 10)
	for range 3 {
		st.WriteMessage(wstest.OpText, msg, 0)
		f, err := wstest.ReadFrameFrom(st, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if f.Rsv != wstest.RSV1 || len(f.Payload) >= len(msg)/2 {
			t.Fatalf("echo not compressed: %v", f)
		}
		got, err := st.Deflater().Decompress(f.Payload, 1<<20)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("echo differs: %v", err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.frames) != 3 || !bytes.Equal(h.frames[0].Payload, msg) {
		t.Fatalf("Handle saw %d frames", len(h.frames))
	}
}

// testH2ResetMidMessage: RST_STREAM is the stream's TCP reset (RFC 8441
// §5): the connection ends with ReasonClosed and 1006, and the other
// streams of the HTTP/2 connection go on.
func testH2ResetMidMessage(t *testing.T) {
	var mu sync.Mutex
	reasons := map[string]Reason{}
	done := make(chan struct{}, 2)
	u := &Upgrader{New: func(r *http.Request, hs *Handshake) (Handler, error) {
		return &funcs{
			onHandle: func(c *Conn, f Frame) error { return c.Send(f) },
			onTerminate: func(c *Conn, rs Reason) {
				mu.Lock()
				reasons[r.URL.Path] = rs
				mu.Unlock()
				done <- struct{}{}
			},
		}, nil
	}}
	addr, _ := h2Serve(t, u)
	c := wstest.DialH2(t, "http://"+addr)
	st, _ := c.Connect("/reset")
	other, _ := c.Connect("/other")
	st.WriteRaw(wstest.MaskedFrame(true, 0, wstest.OpBinary, make([]byte, 1000))[:300])
	if err := st.Reset(http2.ErrCodeCancel); err != nil {
		t.Fatal(err)
	}
	<-done
	mu.Lock()
	r := reasons["/reset"]
	mu.Unlock()
	if r.Kind != ReasonClosed || r.Code != StatusAbnormalClosure || !errors.Is(r, syscall.ECONNRESET) {
		t.Fatalf("reason %+v", r)
	}
	other.WriteText("after the reset")
	other.WantText("after the reset")
	other.WriteClose(1000, "")
	other.WantClose(1000)
	other.WantEnd()
}

func testH2ConnectionLost(t *testing.T) {
	const n = 3
	reasons := make(chan Reason, n)
	u := &Upgrader{New: func(*http.Request, *Handshake) (Handler, error) {
		return &funcs{onTerminate: func(c *Conn, r Reason) { reasons <- r }}, nil
	}}
	addr, _ := h2Serve(t, u)
	c := wstest.DialH2(t, "http://"+addr)
	for range n {
		c.Connect("/")
	}
	c.Close()
	for range n {
		if r := <-reasons; r.Kind != ReasonClosed || r.Code != StatusAbnormalClosure {
			t.Errorf("reason %+v", r)
		}
	}
}

// testH2ManyStreams runs 50 WebSockets at once on one HTTP/2 connection,
// each echoing messages of its own.
func testH2ManyStreams(t *testing.T) {
	const streams, messages = 50, 20
	u := h2Upgrader(nil)
	u.New = func(*http.Request, *Handshake) (Handler, error) {
		return &funcs{onHandle: func(c *Conn, f Frame) error { return c.Send(f) }}, nil
	}
	addr, _ := h2Serve(t, u)
	c := wstest.DialH2(t, "http://"+addr)
	sts := make([]*wstest.H2Stream, streams)
	for i := range sts {
		sts[i], _ = c.Connect("/")
	}
	if got := u.Connections(); got != streams {
		t.Fatalf("Connections() = %d, want %d", got, streams)
	}
	var wg sync.WaitGroup
	for i, st := range sts {
		wg.Go(func() {
			for j := range messages {
				msg := bytes.Repeat([]byte{byte(i), byte(j)}, 1+(i*j)%3000)
				if err := st.SendMessage(wstest.OpBinary, msg, 700); err != nil {
					t.Error(err)
					return
				}
				if err := st.Expect(wstest.OpBinary, msg); err != nil {
					t.Error(err)
					return
				}
			}
			st.SendData(wstest.MaskedFrame(true, 0, wstest.OpClose, wstest.ClosePayload(1000, "")), false)
			if _, _, err := st.ExpectClose(1000); err != nil {
				t.Error(err)
			} else if err := st.ExpectEnd(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// testH2Shutdown: Upgrader.Shutdown sends 1001 on every stream and waits
// for the close handshakes; a CONNECT after it gets 503.
func testH2Shutdown(t *testing.T) {
	const n = 20
	reasons := make(chan Reason, n)
	u := h2Upgrader(nil)
	u.New = func(*http.Request, *Handshake) (Handler, error) {
		return &funcs{onTerminate: func(c *Conn, r Reason) { reasons <- r }}, nil
	}
	addr, _ := h2Serve(t, u)
	c := wstest.DialH2(t, "http://"+addr)
	sts := make([]*wstest.H2Stream, n)
	for i := range sts {
		sts[i], _ = c.Connect("/")
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- u.Shutdown(ctx)
	}()
	for _, st := range sts {
		st.WantClose(1001)
		st.WriteClose(1001, "")
		st.WantEnd()
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	for range n {
		if r := <-reasons; r.Kind != ReasonShutdown || r.Code != StatusGoingAway {
			t.Errorf("reason %+v", r)
		}
	}
	st := c.Open(c.ConnectFields("/"), false)
	if resp, err := st.Response(); err != nil || resp.Get(":status") != "503" {
		t.Fatalf("CONNECT after Shutdown: %v %v", resp, err)
	}
}

// testH2ShutdownStuckWriter: when Shutdown's context ends, a connection
// blocked writing to a client that grants no flow-control window is
// released by resetting its stream.
func testH2ShutdownStuckWriter(t *testing.T) {
	reasons := make(chan Reason, 1)
	u := h2Upgrader(&funcs{
		onInit:      func(c *Conn) error { return c.SendText("this cannot leave") },
		onTerminate: func(c *Conn, r Reason) { reasons <- r },
	})
	addr, _ := h2Serve(t, u)
	c := wstest.DialH2(t, "http://"+addr, wstest.H2Window(0))
	st, _ := c.Connect("/")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := u.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v", err)
	}
	if r := <-reasons; r.Kind != ReasonShutdown || r.Code != StatusAbnormalClosure {
		t.Fatalf("reason %+v", r)
	}
	var rst wstest.ResetError
	if _, err := io.ReadAll(st); !errors.As(err, &rst) || rst.Code != http2.ErrCodeInternal {
		t.Fatalf("stream ended with %v, want RST_STREAM INTERNAL_ERROR", err)
	}
}

// testH2PostWakes: Post wakes a connection blocked reading its stream,
// which moves the read deadline into the past; the stream survives every
// wake-up and goes on with the next frame.
func testH2PostWakes(t *testing.T) {
	ready := make(chan *Conn, 1)
	h := newRecorder()
	h.onInit = func(c *Conn) error { ready <- c; return nil }
	h.onInfo = func(c *Conn, msg any) error { return c.SendText(msg.(string)) }
	addr, _ := h2Serve(t, h2Upgrader(h))
	st, _ := wstest.DialH2(t, "http://"+addr).Connect("/")
	conn := <-ready
	for _, s := range []string{"one", "two", "three"} {
		waitReading(t, conn)
		if err := conn.Post(s); err != nil {
			t.Fatal(err)
		}
		st.WantText(s)
	}
	waitReading(t, conn)
	st.WriteText("after wakes")
	st.WantText("after wakes")
}

func testH2IdleTimeout(t *testing.T) {
	h := newRecorder()
	addr, _ := h2Serve(t, h2Upgrader(h, func(u *Upgrader) { u.Options.IdleTimeout = 150 * time.Millisecond }))
	st, _ := wstest.DialH2(t, "http://"+addr).Connect("/")
	st.WriteText("keep")
	st.WantText("keep")
	st.WantMessage(wstest.OpPing, nil) // half the timeout later; unanswered
	st.WantClose(1000)
	st.WantEnd()
	if r := h.reason(t); r.Kind != ReasonTimeout || r.Text != "idle timeout" {
		t.Fatalf("reason %+v", r)
	}
}

// testH2WriteTimeout: a client that grants no window is dropped after
// WriteTimeout, as a client that does not read is on HTTP/1.1.
func testH2WriteTimeout(t *testing.T) {
	reasons := make(chan Reason, 1)
	u := h2Upgrader(&funcs{
		onInit:      func(c *Conn) error { return c.SendText("this cannot leave") },
		onTerminate: func(c *Conn, r Reason) { reasons <- r },
	}, func(u *Upgrader) { u.Options.WriteTimeout = 200 * time.Millisecond })
	addr, _ := h2Serve(t, u)
	st, _ := wstest.DialH2(t, "http://"+addr, wstest.H2Window(0)).Connect("/")
	if r := <-reasons; r.Kind != ReasonTimeout || r.Text != "write timeout" || !errors.Is(r, os.ErrDeadlineExceeded) {
		t.Fatalf("reason %+v", r)
	}
	var rst wstest.ResetError
	if _, err := io.ReadAll(st); !errors.As(err, &rst) {
		t.Fatalf("stream ended with %v, want RST_STREAM", err)
	}
}

func testH2Hibernate(t *testing.T) {
	h := newRecorder()
	h.onHandle = func(c *Conn, f Frame) error {
		c.Hibernate()
		return c.Send(f)
	}
	addr, _ := h2Serve(t, h2Upgrader(h))
	st, _ := wstest.DialH2(t, "http://"+addr).Connect("/")
	for _, s := range []string{"a", strings.Repeat("b", 5000), "c"} {
		st.WriteText(s)
		st.WantText(s)
	}
}

// testH2Refusals: every CONNECT that is not a WebSocket handshake gets its
// status (or net/http's stream error) and none reaches the fallback,
// while the fallback still serves GET over HTTP/2.
func testH2Refusals(t *testing.T) {
	var pages sync.Map
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pages.Store(r.Method+" "+r.URL.Path, true)
		io.WriteString(w, "page")
	})
	u := h2Upgrader(newRecorder())
	u.New = func(r *http.Request, hs *Handshake) (Handler, error) {
		if r.URL.Path == "/refuse" {
			return nil, &HTTPError{Status: http.StatusTooManyRequests, Message: "later"}
		}
		return &funcs{}, nil
	}
	addr, _ := h2Serve(t, u.Wrap(page))
	c := wstest.DialH2(t, "http://"+addr)
	drop := func(name string) func([]string) []string {
		return func(f []string) []string {
			var out []string
			for i := 0; i+1 < len(f); i += 2 {
				if f[i] != name {
					out = append(out, f[i], f[i+1])
				}
			}
			return out
		}
	}
	set := func(name, value string) func([]string) []string {
		return func(f []string) []string {
			for i := 0; i+1 < len(f); i += 2 {
				if f[i] == name {
					f[i+1] = value
					return f
				}
			}
			return append(f, name, value)
		}
	}
	for _, tc := range []struct {
		name      string
		path      string
		edit      func([]string) []string
		endStream bool
		status    string
		header    string // name: value the response must carry
		rst       http2.ErrCode
	}{
		{name: "unknown protocol", edit: set(":protocol", "mqtt"), status: "501"},
		{name: "no version", edit: drop("sec-websocket-version"), status: "400", header: "sec-websocket-version: 13"},
		{name: "version 8", edit: set("sec-websocket-version", "8"), status: "400", header: "sec-websocket-version: 13"},
		{name: "stream ended", endStream: true, status: "400"},
		{name: "content-length", edit: set("content-length", "5"), status: "400"},
		{name: "plain CONNECT", edit: func(f []string) []string { return drop(":scheme")(drop(":path")(drop(":protocol")(f))) }, status: "405", header: "allow: GET"},
		{name: "foreign origin", edit: set("origin", "http://elsewhere.example"), status: "403"},
		{name: "New refuses", path: "/refuse", status: "429"},
		// Refused by net/http before any handler runs.
		{name: "no :path", edit: drop(":path"), rst: http2.ErrCodeProtocol},
		{name: "connection header", edit: set("connection", "upgrade"), status: "400"},
		{name: "upgrade header", edit: set("upgrade", "websocket"), status: "400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = "/chat"
			}
			base := []string{":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":path", path, ":authority", addr, "sec-websocket-version", "13"}
			if tc.edit != nil {
				base = tc.edit(base)
			}
			st := c.Open(wstest.H2Fields(base...), tc.endStream)
			resp, err := st.Response()
			var rst wstest.ResetError
			switch {
			case tc.rst != 0:
				if !errors.As(err, &rst) || rst.Code != tc.rst {
					t.Fatalf("got %v %v, want RST_STREAM %v", resp, err, tc.rst)
				}
			case err != nil:
				t.Fatal(err)
			case resp.Get(":status") != tc.status:
				t.Fatalf("status %s, want %s; %v", resp.Get(":status"), tc.status, resp)
			case tc.header != "":
				k, v, _ := strings.Cut(tc.header, ": ")
				if resp.Get(k) != v {
					t.Fatalf("%s: %q, want %q", k, resp.Get(k), v)
				}
			}
		})
	}
	pages.Range(func(k, _ any) bool {
		t.Errorf("the fallback served %v", k)
		return true
	})
	// GET still reaches the page over HTTP/2.
	st := c.Open(wstest.H2Fields(":method", "GET", ":scheme", "http", ":path", "/chat", ":authority", addr), true)
	if resp, err := st.Response(); err != nil || resp.Get(":status") != "200" {
		t.Fatalf("GET: %v %v", resp, err)
	}
	if body, err := io.ReadAll(st); err != nil || string(body) != "page" {
		t.Fatalf("GET body %q %v", body, err)
	}
	if _, ok := pages.Load("GET /chat"); !ok {
		t.Fatal("GET did not reach the page")
	}
}

// testH2ServerShutdown: an http.Server's Shutdown sees WebSockets on
// HTTP/2 streams (they are not hijacked) and waits for them; with the
// Upgrader's Shutdown hooked to it, they close with 1001.
func testH2ServerShutdown(t *testing.T) {
	u := h2Upgrader(newRecorder())
	addr, srv := h2Serve(t, u)
	srv.RegisterOnShutdown(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		u.Shutdown(ctx)
	})
	st, _ := wstest.DialH2(t, "http://"+addr).Connect("/")
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background()) }()
	st.WantClose(1001)
	select {
	case err := <-done:
		t.Fatalf("Server.Shutdown returned %v before the WebSocket ended", err)
	default:
	}
	st.WriteClose(1001, "")
	st.WantEnd()
	if err := <-done; err != nil {
		t.Fatalf("Server.Shutdown = %v", err)
	}
}

// connectRequest builds an extended CONNECT request as net/http's HTTP/2
// server hands it to handlers.
func connectRequest(edit func(r *http.Request)) *http.Request {
	r := httptest.NewRequest(http.MethodConnect, "/chat", nil)
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
	r.Host = "example.com"
	r.ContentLength = -1
	r.Header.Set(":protocol", "websocket")
	r.Header.Set("Sec-WebSocket-Version", "13")
	if edit != nil {
		edit(r)
	}
	return r
}

// TestExtendedConnectRefusals checks the answer to each kind of CONNECT
// that is not a WebSocket handshake, including those net/http's HTTP/2
// server refuses itself, and that none reaches the fallback.
func TestExtendedConnectRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(r *http.Request)
		status int
		header string
	}{
		{"HTTP/1.1 CONNECT", func(r *http.Request) { r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1 }, 405, "Allow: GET"},
		{"no :protocol", func(r *http.Request) { r.Header.Del(":protocol") }, 405, "Allow: GET"},
		{"unknown :protocol", func(r *http.Request) { r.Header.Set(":protocol", "mqtt") }, 501, ""},
		{"two :protocol", func(r *http.Request) { r.Header.Add(":protocol", "websocket") }, 501, ""},
		{"Connection", func(r *http.Request) { r.Header.Set("Connection", "upgrade") }, 400, ""},
		{"Upgrade", func(r *http.Request) { r.Header.Set("Upgrade", "websocket") }, 400, ""},
		{"no :authority", func(r *http.Request) { r.Host = "" }, 400, ""},
		{"stream ended", func(r *http.Request) { r.ContentLength = 0 }, 400, ""},
		{"Content-Length", func(r *http.Request) { r.ContentLength = 10 }, 400, ""},
		{"no version", func(r *http.Request) { r.Header.Del("Sec-WebSocket-Version") }, 400, "Sec-WebSocket-Version: 13"},
		{"version 8", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Version", "8") }, 400, "Sec-WebSocket-Version: 13"},
		{"two versions", func(r *http.Request) { r.Header.Add("Sec-WebSocket-Version", "13") }, 400, "Sec-WebSocket-Version: 13"},
		{"foreign origin", func(r *http.Request) { r.Header.Set("Origin", "https://elsewhere.example") }, 403, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fellBack := false
			u := &Upgrader{New: func(*http.Request, *Handshake) (Handler, error) {
				t.Fatal("New called")
				return nil, nil
			}}
			h := u.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { fellBack = true }))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, connectRequest(tc.edit))
			if fellBack {
				t.Fatal("the request reached the fallback")
			}
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if k, v, ok := strings.Cut(tc.header, ": "); ok && rec.Header().Get(k) != v {
				t.Fatalf("%s: %q, want %q", k, rec.Header().Get(k), v)
			}
			if u.Connections() != 0 {
				t.Fatal("a slot was not released")
			}
		})
	}
	if ref := checkExtendedConnect(connectRequest(nil)); ref.status != 0 {
		t.Fatalf("a valid request refused: %+v", ref)
	}
}

// TestH2Log: the state of WebSocket over HTTP/2 is logged once per
// Upgrader, on its first HTTP/2 request, and never for HTTP/1.1.
func TestH2Log(t *testing.T) {
	var buf safeBuffer
	u := &Upgrader{Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	page := u.Wrap(http.NotFoundHandler())
	get := func(major int) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.ProtoMajor = major
		page.ServeHTTP(httptest.NewRecorder(), r)
	}
	get(1)
	if buf.String() != "" {
		t.Fatalf("logged for HTTP/1.1: %s", buf.String())
	}
	get(2)
	get(2)
	want := "WebSocket over HTTP/2 is off"
	if extendedConnect {
		want = "WebSocket over HTTP/2 is on"
	}
	if got := buf.String(); strings.Count(got, "level=INFO") != 1 || !strings.Contains(got, want) {
		t.Fatalf("log %q, want one line with %q", got, want)
	}
}

// TestTransport: HTTP/1.1 connections say so; a connection that never
// upgraded says nothing.
func TestTransport(t *testing.T) {
	got := make(chan string, 2)
	h := &funcs{
		onInit:      func(c *Conn) error { got <- c.Transport(); return Stop },
		onTerminate: func(c *Conn, r Reason) {},
	}
	c := wstest.Dial(t, serve(t, h))
	c.WantClose(1000)
	if s := <-got; s != "http/1.1" {
		t.Fatalf("Transport() = %q", s)
	}
	u := &Upgrader{}
	u.abandon(&funcs{onTerminate: func(c *Conn, r Reason) { got <- c.Transport() }}, &Handshake{}, nil)
	if s := <-got; s != "" {
		t.Fatalf("Transport() of an abandoned connection = %q", s)
	}
}

// FuzzExtendedConnect sends arbitrary CONNECT requests, as net/http's
// HTTP/2 server could hand them over, through an Upgrader wrapping a page:
// none reaches the page, none leaves a slot taken, every refusal has the
// status checkExtendedConnect chose, and a request is accepted only when
// it meets every rule of RFC 8441 §4-5.
func FuzzExtendedConnect(f *testing.F) {
	f.Add(uint8(2), true, "websocket", "13", "example.com", "Origin: http://example.com\n", int64(-1))
	f.Add(uint8(2), true, "WebSocket", "13", "example.com", "Sec-WebSocket-Protocol: chat, superchat\nSec-WebSocket-Extensions: permessage-deflate\n", int64(-1))
	f.Add(uint8(2), true, "mqtt", "13", "example.com", "", int64(-1))
	f.Add(uint8(2), false, "", "13", "example.com:443", "", int64(-1))
	f.Add(uint8(1), true, "websocket", "13", "example.com", "", int64(-1))
	f.Add(uint8(2), true, "websocket", "", "example.com", "", int64(-1))
	f.Add(uint8(2), true, "websocket", " 13 ", "example.com", "Connection: upgrade\n", int64(0))
	f.Add(uint8(3), true, "websocket", "13", "", "Origin: http://elsewhere.example\n", int64(12))
	f.Fuzz(func(t *testing.T, major uint8, hasProtocol bool, protocol, version, host, headers string, contentLength int64) {
		r := &http.Request{
			Method:        http.MethodConnect,
			URL:           &url.URL{Path: "/chat"},
			Proto:         "HTTP/2.0",
			ProtoMajor:    int(major),
			Header:        http.Header{},
			Host:          host,
			ContentLength: contentLength,
			RemoteAddr:    "192.0.2.1:1234",
			Body:          http.NoBody,
		}
		for line := range strings.Lines(headers) {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k != "" {
				r.Header.Add(k, strings.TrimSpace(v))
			}
		}
		if hasProtocol {
			r.Header[":protocol"] = []string{protocol}
		}
		if version != "" {
			r.Header.Set("Sec-WebSocket-Version", version)
		}
		ref := checkExtendedConnect(r)
		if ref.status == 0 {
			p := r.Header[":protocol"]
			v := r.Header["Sec-Websocket-Version"]
			if major < 2 || len(p) != 1 || !strings.EqualFold(p[0], "websocket") || len(v) != 1 || strings.TrimSpace(v[0]) != "13" ||
				host == "" || contentLength != -1 || r.Header["Connection"] != nil || r.Header["Upgrade"] != nil {
				t.Fatalf("accepted %v %q", r.Header, host)
			}
		}
		switch ref.status {
		case 0, http.StatusNotImplemented:
		case http.StatusMethodNotAllowed:
			if ref.header != "Allow" {
				t.Fatalf("405 without Allow: %+v", ref)
			}
		case http.StatusBadRequest:
			if ref.header != "" && ref.value != "13" {
				t.Fatalf("400 with %+v", ref)
			}
		default:
			t.Fatalf("refusal %+v", ref)
		}
		u := &Upgrader{New: func(*http.Request, *Handshake) (Handler, error) {
			return nil, &HTTPError{Status: http.StatusTeapot, Message: "refused"}
		}}
		fellBack := false
		rec := httptest.NewRecorder()
		u.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { fellBack = true })).ServeHTTP(rec, r)
		switch {
		case fellBack:
			t.Fatal("a CONNECT reached the fallback")
		case u.Connections() != 0:
			t.Fatal("a slot was not released")
		case ref.status != 0 && rec.Code != ref.status:
			t.Fatalf("status %d, want %d", rec.Code, ref.status)
		case ref.status == 0 && rec.Code != http.StatusTeapot && rec.Code != http.StatusForbidden:
			t.Fatalf("status %d for a valid request", rec.Code)
		}
	})
}

// testH2TLS: over TLS, as browsers reach a server, ALPN selects h2 and
// the WebSocket runs on a stream.
func testH2TLS(t *testing.T) {
	transports := make(chan string, 1)
	h := newRecorder()
	h.onInit = func(c *Conn) error { transports <- c.Transport(); return nil }
	srv := httptest.NewUnstartedServer(h2Upgrader(h))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(func() { srv.Close(); waitNoH2Goroutines(t) })
	// DialH2 fails the test unless ALPN chooses h2.
	st, _ := wstest.DialH2(t, srv.URL).Connect("/")
	if tr := <-transports; tr != "h2" {
		t.Fatalf("Transport() = %q", tr)
	}
	st.WriteText("over TLS")
	st.WantText("over TLS")
	st.WriteClose(1000, "")
	st.WantClose(1000)
	st.WantEnd()
}
