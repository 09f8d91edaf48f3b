package chatserver_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
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
	url        string // http://127.0.0.1:port
	room       *chatserver.Room
	maxMessage int // the MaxMessageSize the welcome announces

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
	s := &server{room: &chatserver.Room{}, maxMessage: 1 << 20}
	if opts.MaxMessageSize > 0 {
		s.maxMessage = int(opts.MaxMessageSize)
	}
	s.room.OnLeave = func(_ *lariat.Conn, r lariat.Reason) {
		s.mu.Lock()
		s.leaves = append(s.leaves, r)
		s.mu.Unlock()
	}
	hs := httptest.NewServer(chatserver.Handler(&lariat.Upgrader{New: s.room.New, Options: opts}))
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

// join dials the chat as name and reads the welcome, after which the
// member is in the room and sees every later message. members is the
// number of members the welcome must count, the newcomer included; each
// of others, already in the room, must be told of the newcomer next.
func (s *server) join(t *testing.T, name string, members int, others ...*wstest.Conn) *wstest.Conn {
	t.Helper()
	c := wstest.Dial(t, s.url+"/?name="+url.QueryEscape(name))
	c.WantText(notice(`{"system":"welcome","members":` + strconv.Itoa(members) + `,"maxMessage":` + strconv.Itoa(s.maxMessage) + `,"transport":"http/1.1"}`))
	for _, o := range others {
		wantNotice(o, "join", name, members)
	}
	return c
}

// notice is a message of the room's own: js after the byte 0x01.
func notice(js string) string { return "\x01" + js }

// wantNotice reads c's next message and fails the test unless it is the
// notice that name joined or left, leaving members in the room.
func wantNotice(c *wstest.Conn, system, name string, members int) {
	c.TB().Helper()
	c.WantText(notice(`{"system":"` + system + `","name":"` + name + `","members":` + strconv.Itoa(members) + `}`))
}

// leave closes c normally and tells each of others, in the room with c,
// that c's member, name, left, leaving members in the room.
func leave(c *wstest.Conn, name string, members int, others ...*wstest.Conn) {
	c.TB().Helper()
	c.WriteClose(1000, "")
	c.WantClose(1000)
	for _, o := range others {
		wantNotice(o, "leave", name, members)
	}
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
	for _, want := range []string{`new WebSocket(scheme + location.host + "/?name="`, `<ul id="messages"`, `id="name"`} {
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
	leave(s.join(t, "a", 1), "a", 0)

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
	a := s.join(t, "a", 1)
	b := s.join(t, "b", 2, a)
	c := s.join(t, "c", 3, a, b)

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

	// Text that is not the page's JSON, and binary that starts with
	// 0x01, are relayed as they are too: the room reads neither.
	b.WriteText("plain, not JSON")
	a.WantText("plain, not JSON")
	c.WantText("plain, not JSON")
	a.WriteBinary([]byte{1, '{', '}'})
	b.WantBinary([]byte{1, '{', '}'})
	c.WantBinary([]byte{1, '{', '}'})

	// Everyone leaves; the others are told; a member that left gets
	// nothing more.
	leave(a, "a", 2, b, c)
	b.WriteText("after a left")
	c.WantText("after a left")
	b.WriteClose(1001, "going away")
	b.WantClose(1001)
	wantNotice(c, "leave", "b", 1)
	leave(c, "c", 0)
}

// The room's notices say who joined and who left, by the name each page
// gave, in the order it happened, and count the room.
func TestJoinAndLeaveNotices(t *testing.T) {
	s := serve(t, lariat.Options{})
	names := []struct{ asked, shown string }{
		{"Alice", "Alice"},
		{"", "guest"},
		{"  Zoë \u00e9t\u00e9  ", "Zoë été"},
		{"tab\there\x00and\x1b[31mred", "tabhereand[31mred"},
		{"\xff\xfeok", "\ufffd\ufffdok"},
		{strings.Repeat("名", 50), strings.Repeat("名", 40)},
		{`quote " and \ backslash`, `quote \" and \\ backslash`}, // as JSON
	}
	first := s.join(t, "first", 1)
	for _, n := range names {
		c := wstest.Dial(t, s.url+"/?name="+url.QueryEscape(n.asked))
		op, _, err := c.ReadMessage() // the welcome
		if err != nil || op != wstest.OpText {
			t.Fatalf("%q: want the welcome, got %s (err %v)", n.asked, wstest.OpName(op), err)
		}
		wantNotice(first, "join", n.shown, 2)
		c.WriteClose(1000, "")
		c.WantClose(1000)
		wantNotice(first, "leave", n.shown, 1)
	}
	leave(first, "first", 0)
}

// Text that starts with the notices' byte 0x01 would pass for the room's
// own: it is refused with 1008 and reaches no one.
func TestForgedNoticeRefused(t *testing.T) {
	s := serve(t, lariat.Options{})
	a := s.join(t, "a", 1)
	forger := s.join(t, "forger", 2, a)
	forger.WriteText(notice(`{"system":"join","name":"admin","members":99}`))
	forger.WantClose(uint16(lariat.StatusPolicyViolation))
	forger.WriteClose(uint16(lariat.StatusPolicyViolation), "")
	// a's next message is the forger leaving: nothing was relayed before
	// it, and the room kept its count.
	wantNotice(a, "leave", "forger", 1)
	leave(a, "a", 0)
}

// A message over MaxMessageSize closes its sender with 1009 and reaches no
// one; the welcome announced the limit.
func TestTooBigReachesNoOne(t *testing.T) {
	s := serve(t, lariat.Options{MaxMessageSize: 1000})
	a := s.join(t, "a", 1)
	b := s.join(t, "b", 2, a)
	b.WriteText(`{"name":"b","text":"` + strings.Repeat("x", 1000) + `"}`)
	b.WantClose(uint16(lariat.StatusMessageTooBig))
	wantNotice(a, "leave", "b", 1)
	leave(a, "a", 0)
	s.stop()
	if !slices.ContainsFunc(s.leftWith(), func(r lariat.Reason) bool { return r.Kind == lariat.ReasonTooBig }) {
		t.Errorf("no member left with ReasonTooBig; reasons %v", s.leftWith())
	}
}

// A member that does not read is dropped once its mailbox is full, and the
// sender is never held up by it.
func TestSlowMemberIsDropped(t *testing.T) {
	const mailbox = 4
	s := serve(t, lariat.Options{MailboxSize: mailbox})
	sender := s.join(t, "sender", 1)
	slow := s.join(t, "slow", 2, sender)

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

	slow.WantTCPClosed(wstest.DefaultTimeout)
	// The sender was told; the room counted slow out when it dropped it.
	wantNotice(sender, "leave", "slow", 1)

	// The room goes on for the others.
	late := s.join(t, "late", 2, sender)
	sender.WriteText("still here")
	late.WantText("still here")
	leave(sender, "sender", 1, late)
	leave(late, "late", 0)

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
