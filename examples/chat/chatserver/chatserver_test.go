package chatserver_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lariat-ws/lariat"
	"github.com/lariat-ws/lariat/examples/chat/chatserver"
	"github.com/lariat-ws/lariat/internal/wstest"
)

// server is the chat served on a loopback port, with what its members left
// with.
type server struct {
	url  string // http://127.0.0.1:port
	room *chatserver.Room

	stop func() // closes the server and waits for its connections

	mu     sync.Mutex
	leaves []lariat.Reason
}

// stopWait bounds the wait for connections to end once their clients are
// gone. It is not a measurement: only a hung server ever comes near it.
const stopWait = 10 * time.Second

// serve starts the chat with opts. When the test ends, or earlier when it
// calls s.stop, the server stops and waits, within a bound, for every
// connection to end and leave the room.
func serve(t *testing.T, opts lariat.Options) *server {
	t.Helper()
	s := &server{room: &chatserver.Room{}}
	s.room.OnLeave = func(_ *lariat.Conn, r lariat.Reason) {
		s.mu.Lock()
		s.leaves = append(s.leaves, r)
		s.mu.Unlock()
	}
	hs := httptest.NewServer(chatserver.Handler(s.room, opts))
	s.url = hs.URL
	s.stop = sync.OnceFunc(func() {
		hs.Close()
		// Upgraded connections run on their own goroutines, which
		// httptest.Server.Close does not wait for: wait for the room to
		// empty, as every member's Terminate leaves it.
		for deadline := time.Now().Add(stopWait); s.room.Len() != 0; {
			if time.Now().After(deadline) {
				t.Errorf("room has %d members %v after their clients closed", s.room.Len(), stopWait)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	// Registered before any client, so it runs after their cleanups have
	// closed them.
	t.Cleanup(s.stop)
	return s
}

func (s *server) leftWith() []lariat.Reason {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]lariat.Reason(nil), s.leaves...)
}

// join dials the chat and reads the greeting, after which the member is in
// the room and sees every later message.
func (s *server) join(t *testing.T, members int) *wstest.Conn {
	t.Helper()
	c := wstest.Dial(t, s.url+"/")
	c.WantText(`{"system":"welcome","members":` + strconv.Itoa(members) + `}`)
	return c
}

func TestPageServedAtTheSamePath(t *testing.T) {
	s := serve(t, lariat.Options{})
	resp, err := http.Get(s.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %s, want 200", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type = %q, want text/html", ct)
	}
	// The page must open its socket on the URL it was served from.
	for _, want := range []string{`new WebSocket("ws://" + location.host + "/")`, `<ul id="messages"`, `id="name"`} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("page lacks %s", want)
		}
	}
	// No external assets: nothing is fetched from elsewhere.
	for _, bad := range []string{"http://", "https://", "src="} {
		if bytes.Contains(body, []byte(bad)) {
			t.Errorf("page refers to %q: it must be self-contained", bad)
		}
	}

	// The same path upgrades.
	c := s.join(t, 1)
	c.WriteClose(1000, "")
	c.WantClose(1000)

	// One route only.
	resp, err = http.Get(s.url + "/other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /other = %s, want 404", resp.Status)
	}
}

func TestBroadcastBetweenThreeClients(t *testing.T) {
	s := serve(t, lariat.Options{})
	a := s.join(t, 1)
	b := s.join(t, 2)
	c := s.join(t, 3)

	hello := `{"name":"a","text":"hello from a"}`
	a.WriteText(hello)
	b.WantText(hello)
	c.WantText(hello)

	// Binary is relayed as binary. a's next message is b's: nobody gets
	// their own message back.
	bin := []byte{0, 1, 2, 0xfe, 0xff}
	b.WriteBinary(bin)
	a.WantBinary(bin)
	c.WantBinary(bin)

	// A fragmented message, cut inside a multi-byte character, arrives
	// whole.
	frag := `{"name":"c","text":"ünïcödé €"}`
	c.WriteMessage(wstest.OpText, []byte(frag), 3)
	a.WantText(frag)
	b.WantText(frag)

	// Everyone leaves; a member that left gets nothing more.
	a.WriteClose(1000, "")
	a.WantClose(1000)
	b.WriteText("after a left")
	c.WantText("after a left")
	b.WriteClose(1001, "going away")
	b.WantClose(1001)
	c.WriteClose(1000, "")
	c.WantClose(1000)
}

// A member that does not read is dropped once its mailbox is full, and the
// sender is never held up by it.
func TestSlowMemberIsDropped(t *testing.T) {
	const mailbox = 4
	s := serve(t, lariat.Options{MailboxSize: mailbox})
	sender := s.join(t, 1)
	slow := s.join(t, 2)

	// Messages of 64 KiB soon fill the loopback socket buffers and then
	// the mailbox, since slow reads nothing yet. After every 16 the
	// sender pings: the pong leaves after every earlier message has been
	// handled, so every broadcast has been tried by then. 512 messages
	// (32 MiB) are far more than the buffers and the mailbox hold.
	const n, size = 512, 64 << 10
	msg := make([]byte, size)
	sent := 0
	for sent < n && s.room.Len() == 2 {
		for range 16 {
			msg[0], msg[size-1] = byte(sent), byte(sent)
			sender.WriteBinary(msg)
			sent++
		}
		sender.WritePing([]byte("sync"))
		sender.WantPong([]byte("sync"))
	}
	if got := s.room.Len(); got != 1 {
		t.Fatalf("room has %d members after %d messages the slow one did not read, want 1", got, sent)
	}

	// slow gets, in order, what was posted before it was dropped, then
	// the close that tells it why.
	for i := 0; ; i++ {
		op, p, err := slow.ReadMessage()
		if err != nil {
			t.Fatalf("slow member, message %d: %v", i, err)
		}
		if op == wstest.OpClose {
			if len(p) < 2 {
				t.Fatalf("slow member got close %q, want 1008", p)
			}
			code, reason := binary.BigEndian.Uint16(p), string(p[2:])
			if code != uint16(lariat.StatusPolicyViolation) {
				t.Fatalf("slow member got close %d %q, want 1008", code, reason)
			}
			t.Logf("slow member got %d of %d messages, then close %d %q", i, sent, code, reason)
			break
		}
		if op != wstest.OpBinary || len(p) != size || p[0] != byte(i) || p[size-1] != byte(i) {
			t.Fatalf("slow member, message %d: got %s message of %d bytes, want binary %d bytes of %d", i, wstest.OpName(op), len(p), size, byte(i))
		}
		if i >= sent {
			t.Fatalf("slow member got more than the %d messages sent", sent)
		}
	}
	slow.WriteClose(1008, "")

	// The room goes on for the others.
	late := s.join(t, 2)
	sender.WriteText("still here")
	late.WantText("still here")
	sender.WriteClose(1000, "")
	sender.WantClose(1000)
	late.WriteClose(1000, "")
	late.WantClose(1000)
	slow.WantTCPClosed(wstest.DefaultTimeout)

	s.stop()
	var dropped bool
	for _, r := range s.leftWith() {
		if r.Kind == lariat.ReasonStop && r.Code == lariat.StatusPolicyViolation {
			dropped = true
		}
	}
	if !dropped {
		t.Errorf("no member left with a stop reason of code 1008; reasons %v", s.leftWith())
	}
}
