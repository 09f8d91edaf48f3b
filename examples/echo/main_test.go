package main

import (
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"

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
