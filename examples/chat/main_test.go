package main

import (
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

// SIGTERM closes every member with 1001, completes the close handshakes,
// and the process exits 0.
func TestSIGTERMSendsGoingAway(t *testing.T) {
	p := exampletest.Start(t, "-addr", "127.0.0.1:0", "-compress")
	if !strings.Contains(p.Log(), "compress=true") {
		t.Errorf("the startup line does not say that compression is on:\n%s", p.Log())
	}
	var members []*wstest.Conn
	for range 3 {
		c := wstest.Dial(t, "ws://"+p.Addr+"/?name=m")
		op, _, err := c.ReadMessage() // the welcome: the member is in the room
		if err != nil || op != wstest.OpText {
			t.Fatalf("want the welcome, got %s message (err %v)", wstest.OpName(op), err)
		}
		members = append(members, c)
	}
	p.Signal(t, syscall.SIGTERM)
	for _, c := range members {
		exampletest.WantGoingAway(t, c) // after notices of the others leaving
	}
	p.WantExit(t)
	if !strings.Contains(p.Log(), "chat: shut down") {
		t.Errorf("log does not say it shut down:\n%s", p.Log())
	}
}

func TestHTTPLimits(t *testing.T) {
	exampletest.CheckHTTPLimits(t, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", http.StatusOK)
}

// With -tls and GODEBUG=http2xconnect=1, members join over streams of the
// page's HTTP/2 connection (RFC 8441): the welcome tells each one so, the
// log says it of each, and the room relays between them as between
// connections of their own.
func TestHTTP2(t *testing.T) {
	p := exampletest.StartEnv(t, []string{"GODEBUG=http2xconnect=1"}, "-addr", "127.0.0.1:0", "-tls")
	c := wstest.DialH2(t, "https://"+p.Addr) // TLS; ALPN must choose h2
	c.WantSetting(http2.SettingEnableConnectProtocol, 1)
	origin := "https://" + p.Addr
	alice, _ := c.Connect("/?name=Alice", "origin", origin)
	alice.WantText("\x01" + `{"system":"welcome","room":"lobby","members":1,"maxMessage":1048576,"transport":"h2"}`)
	bob, _ := c.Connect("/?name=Bob", "origin", origin)
	bob.WantText("\x01" + `{"system":"welcome","room":"lobby","members":2,"maxMessage":1048576,"transport":"h2"}`)
	alice.WantText("\x01" + `{"system":"join","name":"Bob","members":2}`)
	alice.WriteText(`{"name":"Alice","text":"hi Bob"}`)
	bob.WantText(`{"name":"Alice","text":"hi Bob"}`)
	bob.WriteBinary([]byte{0, 1, 0xff})
	alice.WantBinary([]byte{0, 1, 0xff})
	p.Signal(t, syscall.SIGTERM)
	exampletest.WantGoingAwayH2(t, alice) // after the notice of Bob leaving, or not
	exampletest.WantGoingAwayH2(t, bob)
	c.Close() // or net/http's HTTP/2 server waits 1 s after its GOAWAY
	p.WantExit(t)
	if n := strings.Count(p.Log(), "joined over h2"); n != 2 {
		t.Errorf("%d lines say a member joined over h2, want 2; the log:\n%s", n, p.Log())
	}
}
