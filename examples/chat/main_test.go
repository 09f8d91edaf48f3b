package main

import (
	"net/http"
	"strings"
	"syscall"
	"testing"

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
