package main

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lariat-ws/lariat/examples/internal/exampletest"
	"github.com/lariat-ws/lariat/examples/internal/serve"
	"github.com/lariat-ws/lariat/internal/wstest"
	lnats "github.com/lariat-ws/lariat/nats"
	"github.com/nats-io/nats-server/v2/server"
)

// The tests run main in child processes (see exampletest), against a
// real NATS server in the test process.
func TestMain(m *testing.M) { exampletest.Main(m, main) }

// runNATS starts a NATS server on 127.0.0.1, on a port of its choosing,
// with its default limits, until the test ends.
func runNATS(t *testing.T) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(exampletest.Bound) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// lobby is the NATS subject of the default room.
var lobby = lnats.Subject("lariat", "chat.lobby")

// waitInterest waits until the server knows of want subscriptions to
// subject: the nodes subscribe without waiting for the server, so a
// notice published before the server has another node's subscription
// would not reach it.
func waitInterest(t *testing.T, s *server.Server, subject string, want int) {
	t.Helper()
	for range 2000 {
		if s.GlobalAccount().Interest(subject) >= want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("interest in %s is %d, want %d", subject, s.GlobalAccount().Interest(subject), want)
}

// welcome is the first message of a member of the lobby: without a
// count of the members, which no node knows, and with the largest
// message that fits a NATS message of the server's default 1 MiB.
func welcome(maxMessage int) string {
	return "\x01" + `{"system":"welcome","room":"lobby","maxMessage":` + strconv.Itoa(maxMessage) + `,"transport":"http/1.1"}`
}

const natsMaxMessage = 1<<20 - brokerHeader - 8 // chatserver.Overhead

// notice is the notice that name joined or left, without a count.
func notice(system, name string) string {
	return "\x01" + `{"system":"` + system + `","name":"` + name + `"}`
}

// TestTwoNodes runs two chat processes on one NATS server: their members
// share the lobby, each message crosses once and byte for byte, never
// back to its sender, a message of the node's limit still fits a NATS
// message, notices cross, and SIGTERM to one node tells the other that
// its members left.
func TestTwoNodes(t *testing.T) {
	ns := runNATS(t)
	n0 := exampletest.Start(t, "-addr", "127.0.0.1:0", "-nats", ns.ClientURL())
	n1 := exampletest.Start(t, "-addr", "127.0.0.1:0", "-nats", ns.ClientURL(), "-compress")
	if want := "rooms on NATS " + ns.ClientURL(); !strings.Contains(n0.Log(), want) {
		t.Errorf("the startup line does not say %q:\n%s", want, n0.Log())
	}

	a := wstest.Dial(t, "ws://"+n0.Addr+"/?name=a")
	a.WantText(welcome(natsMaxMessage))
	waitInterest(t, ns, lobby, 1)
	b := wstest.Dial(t, "ws://"+n1.Addr+"/?name=b", wstest.Extensions("permessage-deflate"))
	b.WantText(welcome(natsMaxMessage))
	a.WantText(notice("join", "b"))
	waitInterest(t, ns, lobby, 2)

	largest := bytes.Repeat([]byte("0123456789abcdef"), natsMaxMessage/16+1)[:natsMaxMessage]
	for _, m := range []struct {
		from, to *wstest.Conn
		op       byte
		p        []byte
	}{
		{a, b, wstest.OpText, []byte(`{"name":"a","text":"from node 0 ✓"}`)},
		{b, a, wstest.OpText, []byte(`{"name":"b","text":"from node 1"}`)},
		{b, a, wstest.OpBinary, []byte{0, 1, 0xfe, 0xff}},
		{a, b, wstest.OpText, nil},
		{a, b, wstest.OpBinary, largest},
		{b, a, wstest.OpBinary, largest},
	} {
		m.from.WriteMessage(m.op, m.p, 0)
		m.to.WantMessage(m.op, m.p)
	}
	// Nothing came back to its sender: each one's next message is the
	// other's.
	a.WriteText("marker a")
	b.WantText("marker a")
	b.WriteText("marker b")
	a.WantText("marker b")

	// One byte over the limit is refused, and reaches no one.
	c := wstest.Dial(t, "ws://"+n1.Addr+"/?name=c")
	c.WantText(welcome(natsMaxMessage))
	a.WantText(notice("join", "c"))
	b.WantText(notice("join", "c"))
	c.WriteBinary(append(largest, 'x'))
	c.WantClose(1009)
	c.WriteClose(1009, "")
	a.WantText(notice("leave", "c"))
	b.WantText(notice("leave", "c"))

	// SIGTERM to node 1: b gets 1001, and a hears that b left.
	n1.Signal(t, syscall.SIGTERM)
	exampletest.WantGoingAway(t, b)
	a.WantText(notice("leave", "b"))
	n1.WantExit(t)
	if !strings.Contains(n1.Log(), "chat: shut down") {
		t.Errorf("node 1's log does not say it shut down:\n%s", n1.Log())
	}
	a.WriteClose(1000, "")
	a.WantClose(1000)
}

// Without -nats, the rooms are the process's own, and the notices count
// their members.
func TestWithoutNATS(t *testing.T) {
	p := exampletest.Start(t, "-addr", "127.0.0.1:0")
	if !strings.Contains(p.Log(), "rooms on this process only") {
		t.Errorf("the startup line does not say the rooms are local:\n%s", p.Log())
	}
	a := wstest.Dial(t, "ws://"+p.Addr+"/?name=a")
	a.WantText("\x01" + `{"system":"welcome","room":"lobby","members":1,"maxMessage":1048576,"transport":"http/1.1"}`)
	b := wstest.Dial(t, "ws://"+p.Addr+"/?name=b")
	b.WantText("\x01" + `{"system":"welcome","room":"lobby","members":2,"maxMessage":1048576,"transport":"http/1.1"}`)
	a.WantText("\x01" + `{"system":"join","name":"b","members":2}`)
	b.WriteText("hi")
	a.WantText("hi")
}

// An unreachable NATS server ends the command at once, with the command
// that starts one.
func TestNATSUnreachable(t *testing.T) {
	ns := runNATS(t)
	url := ns.ClientURL()
	ns.Shutdown()
	ns.WaitForShutdown()
	err := run(&serve.Flags{Addr: "127.0.0.1:0"}, false, 0, 1<<20, url)
	if err == nil || !strings.Contains(err.Error(), "go run github.com/nats-io/nats-server/v2@") {
		t.Fatalf("run with NATS down: %v, want an error that says how to start a server", err)
	}
}

// The NATS server the documentation and the error above tell to run is
// the version go.mod requires, which these tests run against.
func TestNATSServerVersion(t *testing.T) {
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/nats-io/nats-server/v2 (v\S+)$`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod does not require github.com/nats-io/nats-server/v2")
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	want := "go run github.com/nats-io/nats-server/v2@" + string(m[1]) + " "
	if n := strings.Count(string(src), "github.com/nats-io/nats-server/v2@"); n != strings.Count(string(src), want) || n < 2 {
		t.Errorf("main.go should name nats-server %s, the version go.mod requires, in each of its (at least 2) commands", m[1])
	}
}
