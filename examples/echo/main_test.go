package main

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/net/http2"

	"github.com/lariat-ws/lariat/examples/internal/exampletest"
	"github.com/lariat-ws/lariat/internal/wstest"
)

// The tests run main in a child process (see exampletest).
func TestMain(m *testing.M) { exampletest.Main(m, main) }

// SIGTERM closes every open WebSocket with 1001, completes the close
// handshakes, and the process exits 0.
func TestSIGTERMSendsGoingAway(t *testing.T) {
	p := exampletest.Start(t, "-addr", "127.0.0.1:0")
	var conns []*wstest.Conn
	for range 3 {
		c := wstest.Dial(t, "ws://"+p.Addr+"/ws")
		c.WriteText("before the signal")
		c.WantText("before the signal") // the connection is up and served
		conns = append(conns, c)
	}
	p.Signal(t, syscall.SIGTERM)
	for _, c := range conns {
		exampletest.WantGoingAway(t, c)
	}
	p.WantExit(t)
	if !strings.Contains(p.Log(), "echo: shut down") {
		t.Errorf("log does not say it shut down:\n%s", p.Log())
	}
}

func TestHTTPLimits(t *testing.T) {
	exampletest.CheckHTTPLimits(t, "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", http.StatusUpgradeRequired)
}

// The example serves what the README says: the echo at /ws, a line of
// text at / that names it, and nothing else.
func TestRoutes(t *testing.T) {
	addr := exampletest.Start(t, "-addr", "127.0.0.1:0").Addr
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}
	if status, body := get("/"); status != http.StatusOK || !strings.Contains(body, "ws://"+addr+"/ws") {
		t.Errorf("GET / = %d %q, want 200 naming ws://%s/ws", status, body, addr)
	}
	if status, _ := get("/ws"); status != http.StatusUpgradeRequired {
		t.Errorf("plain GET /ws = %d, want 426", status)
	}
	for _, path := range []string{"/other", "/ws/", "/index.html"} {
		if status, _ := get(path); status != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, status)
		}
	}

	c := wstest.Dial(t, "ws://"+addr+"/ws")
	c.WriteText("hello ✓")
	c.WantText("hello ✓")
	c.WriteBinary([]byte{0, 1, 0xff})
	c.WantBinary([]byte{0, 1, 0xff})
	c.WritePing([]byte("p"))
	c.WantPong([]byte("p"))
	c.WriteClose(1000, "")
	c.WantClose(1000)
}

// xconnect turns on extended CONNECT (RFC 8441) in net/http's HTTP/2
// server, which reads it once, as the process starts.
var xconnect = []string{"GODEBUG=http2xconnect=1"}

// With -tls and GODEBUG=http2xconnect=1 the echo runs on streams of one
// HTTP/2 connection (RFC 8441), as a browser on HTTPS opens them.
func TestHTTP2(t *testing.T) {
	p := exampletest.StartEnv(t, xconnect, "-addr", "127.0.0.1:0", "-tls")
	if !strings.Contains(p.Log(), "wss://"+p.Addr+"/ws") {
		t.Errorf("the startup line does not name wss://%s/ws:\n%s", p.Addr, p.Log())
	}
	c := wstest.DialH2(t, "https://"+p.Addr) // TLS; ALPN must choose h2
	// RFC 8441 §3: SETTINGS_ENABLE_CONNECT_PROTOCOL (0x8) = 1.
	c.WantSetting(http2.SettingEnableConnectProtocol, 1)
	a, _ := c.Connect("/ws", "origin", "https://"+p.Addr)
	b, _ := c.Connect("/ws") // a second stream, beside the first
	a.WriteText("hello ✓")
	b.WriteBinary([]byte{0, 1, 0xff})
	a.WantText("hello ✓")
	b.WantBinary([]byte{0, 1, 0xff})
	a.WriteBinary(make([]byte, 70000)) // more than one DATA frame each way
	a.WantBinary(make([]byte, 70000))
	b.WritePing([]byte("p"))
	b.WantPong([]byte("p"))
	a.WriteClose(1000, "")
	a.WantClose(1000)
	a.WantEnd()
	p.WantLog(t, "lariat: WebSocket over HTTP/2 is on")
	if strings.Contains(p.Log(), "are off") {
		t.Errorf("the log says WebSockets over HTTP/2 are off:\n%s", p.Log())
	}

	// SIGTERM closes the stream still open with 1001, as it closes
	// connections of their own.
	p.Signal(t, syscall.SIGTERM)
	exampletest.WantGoingAwayH2(t, b)
	c.Close() // or net/http's HTTP/2 server waits 1 s after its GOAWAY
	p.WantExit(t)
}

// Without GODEBUG=http2xconnect=1, -tls serves HTTP/2 without extended
// CONNECT, and the example says at start-up, and lariat on the first
// HTTP/2 request to the endpoint, that WebSockets over HTTP/2 are off.
func TestHTTP2Off(t *testing.T) {
	p := exampletest.StartEnv(t, []string{"GODEBUG="}, "-addr", "127.0.0.1:0", "-tls")
	p.WantLog(t, "echo: WebSockets over HTTP/2 are off: start with GODEBUG=http2xconnect=1")
	c := wstest.DialH2(t, "https://"+p.Addr)
	if v, ok := c.Settings()[http2.SettingEnableConnectProtocol]; ok && v != 0 {
		t.Fatalf("SETTINGS_ENABLE_CONNECT_PROTOCOL = %d, want it unset or 0", v)
	}
	// net/http refuses a :protocol it did not advertise (RFC 8441 §4).
	_, err := c.Open(c.ConnectFields("/ws"), false).Response()
	if rst := (wstest.ResetError{}); !errors.As(err, &rst) || rst.Code != http2.ErrCodeProtocol {
		t.Fatalf("extended CONNECT: %v, want RST_STREAM PROTOCOL_ERROR", err)
	}
	// A plain GET of the endpoint over HTTP/2 gets 426; lariat logs then.
	resp, err := c.Open(wstest.H2Fields(":method", "GET", ":scheme", "https", ":path", "/ws", ":authority", p.Addr), true).Response()
	if err != nil || resp.Get(":status") != "426" {
		t.Fatalf("GET /ws over HTTP/2: %v %v, want 426", resp, err)
	}
	p.WantLog(t, "lariat: WebSocket over HTTP/2 is off")
}
