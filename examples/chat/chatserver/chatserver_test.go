package chatserver_test

import (
	"bytes"
	"context"
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

// serve starts the chat with opts on a Hub of the Room's own.
func serve(t testing.TB, opts lariat.Options) *server {
	t.Helper()
	return serveOn(t, opts, nil)
}

// serveOn starts the chat with opts on hub (nil: the Room's own). When
// the test ends, or earlier when it calls s.stop, the server stops and
// waits, within a bound, for every connection to end and leave the room.
func serveOn(t testing.TB, opts lariat.Options, hub *lariat.Hub) *server {
	t.Helper()
	s := &server{room: &chatserver.Room{Hub: hub}, maxMessage: 1 << 20}
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

// uncounted, as the number of members, stands for notices without one:
// those of a Room whose Hub has a Broker.
const uncounted = -1

// join dials the chat as name, in the default room, and reads the
// welcome, after which the member is in the room and sees every later
// message. members is the number of members the welcome must count, the
// newcomer included; each of others, already in the room, must be told
// of the newcomer next.
func (s *server) join(t testing.TB, name string, members int, others ...*wstest.Conn) *wstest.Conn {
	t.Helper()
	return s.joinRoom(t, name, "", chatserver.DefaultRoom, members, others...)
}

// joinRoom is join in the room the URL's room parameter asks for, which
// the welcome must call shown.
func (s *server) joinRoom(t testing.TB, name, room, shown string, members int, others ...*wstest.Conn) *wstest.Conn {
	t.Helper()
	q := url.Values{"name": {name}}
	if room != "" {
		q.Set("room", room)
	}
	c := wstest.Dial(t, s.url+"/?"+q.Encode())
	c.WantText(notice(`{"system":"welcome","room":` + strconv.Quote(shown) + count(members) + `,"maxMessage":` + strconv.Itoa(s.maxMessage) + `,"transport":"http/1.1"}`))
	for _, o := range others {
		wantNotice(o, "join", name, members)
	}
	return c
}

// notice is a message of the room's own: js after the byte 0x01.
func notice(js string) string { return "\x01" + js }

// count is the members field of a notice.
func count(members int) string {
	if members == uncounted {
		return ""
	}
	return `,"members":` + strconv.Itoa(members)
}

// wantNotice reads c's next message and fails the test unless it is the
// notice that name joined or left, leaving members in the room.
func wantNotice(c *wstest.Conn, system, name string, members int) {
	c.TB().Helper()
	c.WantText(notice(`{"system":"` + system + `","name":"` + name + `"` + count(members) + `}`))
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
	for _, path := range []string{"/", "/?room=side"} {
		resp, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %s, want 200", path, resp.Status)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("Content-Type = %q, want text/html", ct)
		}
		// The page must open its socket on the URL it was served from,
		// in the room its own URL names.
		for _, want := range []string{
			`new WebSocket(scheme + location.host + "/?name="`,
			`new URLSearchParams(location.search).get("room")`,
			`"&room=" + encodeURIComponent(room)`,
			`<ul id="messages"`, `id="name"`,
		} {
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
	}

	// The same path upgrades.
	leave(s.join(t, "a", 1), "a", 0)

	// One route only.
	resp, err := http.Get(s.url + "/other")
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

	// Text that is not the page's JSON, binary that starts with 0x01,
	// and empty messages are relayed as they are too: the room reads
	// none of them.
	b.WriteText("plain, not JSON")
	a.WantText("plain, not JSON")
	c.WantText("plain, not JSON")
	a.WriteBinary([]byte{1, '{', '}'})
	b.WantBinary([]byte{1, '{', '}'})
	c.WantBinary([]byte{1, '{', '}'})
	c.WriteText("")
	c.WriteBinary(nil)
	a.WantText("")
	a.WantBinary(nil)
	b.WantText("")
	b.WantBinary(nil)

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

// Each room hears only its own members, and counts only them; the room
// parameter is cleaned as names are.
func TestRooms(t *testing.T) {
	s := serve(t, lariat.Options{})
	a := s.join(t, "a", 1)
	x := s.joinRoom(t, "x", "side", "side", 1)
	b := s.joinRoom(t, "b", "lobby", "lobby", 2, a) // named, as the default
	y := s.joinRoom(t, "y", " side\x00", "side", 2, x)
	named := strings.Repeat("r", 45)
	z := s.joinRoom(t, "z", named, named[:40], 1)

	a.WriteText("in the lobby")
	b.WantText("in the lobby")
	y.WriteText("on the side")
	x.WantText("on the side")
	z.WriteBinary([]byte("alone"))
	// Each one's next message is the next one meant for it: nothing
	// crossed between rooms.
	x.WriteText("marker")
	y.WantText("marker")
	leave(z, "z", 0)
	leave(b, "b", 1, a)
	leave(y, "y", 1, x)
	leave(a, "a", 0)
	leave(x, "x", 0)
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

// Messages published on a room's topic by anything but a Room: one too
// short to carry a sender's id is dropped; one with an id nobody has
// reaches every member.
func TestForeignPublications(t *testing.T) {
	var hub lariat.Hub
	s := serveOn(t, lariat.Options{}, &hub)
	a := s.join(t, "a", 1)
	hub.Publish("chat.lobby", lariat.OpText, []byte("short"))
	hub.Publish("chat.lobby", lariat.OpText, []byte("\x00\x00\x00\x00\x00\x00\x00\x00from the server"))
	a.WantText("from the server")
	leave(a, "a", 0)
}

// A member that does not read is closed once its backlog on the Hub is
// full, and the sender is never held up by it.
func TestSlowMemberIsDropped(t *testing.T) {
	const backlog = 256 << 10
	s := serveOn(t, lariat.Options{}, &lariat.Hub{BacklogBytes: backlog})
	sender := s.join(t, "sender", 1)
	slow := s.join(t, "slow", 2, sender)

	// Messages of 64 KiB soon fill the loopback socket buffers and then
	// the backlog, since slow reads nothing yet. After every 16 the
	// sender pings: the pong leaves after every earlier message has been
	// published, so the Hub has tried to queue each for slow by then.
	// The sender may read the notice that slow left before a pong, or
	// between two: when the overflow cut the server off while it was
	// writing to slow, slow leaves at once; otherwise it leaves when it
	// answers the close frame queued behind its messages, below. 512
	// messages (32 MiB) are far more than the buffers and the backlog
	// hold.
	const n, size = 512, 64 << 10
	msg := make([]byte, size)
	sent, told := 0, false
	for sent < n && !told {
		for range 16 {
			msg[0], msg[size-1] = byte(sent), byte(sent)
			sender.WriteBinary(msg)
			sent++
		}
		sender.WritePing([]byte("sync"))
		for {
			op, p, err := sender.ReadMessage()
			if err != nil {
				t.Fatalf("sender, awaiting its pong: %v", err)
			}
			if op == wstest.OpPong {
				break
			}
			if want := notice(`{"system":"leave","name":"slow","members":1}`); op != wstest.OpText || string(p) != want || told {
				t.Fatalf("sender got %s message %q, want its pong or, once, %q", wstest.OpName(op), p, want)
			}
			told = true
		}
	}

	// slow gets, in order, what was written before its backlog
	// overflowed, then the close that tells it why, or, when the
	// overflow came while the server was blocked writing to it, only
	// the end of the stream.
	for i := 0; ; i++ {
		op, p, err := slow.ReadMessage()
		if err != nil {
			t.Logf("slow member got %d of %d messages, then %v", i, sent, err)
			break
		}
		if op == wstest.OpClose {
			if len(p) < 2 || binary.BigEndian.Uint16(p) != uint16(lariat.StatusTryAgainLater) {
				t.Fatalf("slow member got close %q, want 1013", p)
			}
			t.Logf("slow member got %d of %d messages, then close %d %q", i, sent, binary.BigEndian.Uint16(p), p[2:])
			slow.WriteClose(1013, "")
			break
		}
		if op != wstest.OpBinary || len(p) != size || p[0] != byte(i) || p[size-1] != byte(i) {
			t.Fatalf("slow member, message %d: got %s message of %d bytes, want binary %d bytes of %d", i, wstest.OpName(op), len(p), size, byte(i))
		}
		if i >= sent {
			t.Fatalf("slow member got more than the %d messages sent", sent)
		}
	}

	if !told {
		op, p, err := sender.ReadMessage()
		if want := notice(`{"system":"leave","name":"slow","members":1}`); err != nil || op != wstest.OpText || string(p) != want {
			t.Fatalf("sender got %s message %q, %v; want %q", wstest.OpName(op), p, err, want)
		}
	}

	// The room goes on for the others.
	late := s.join(t, "late", 2, sender)
	sender.WriteText("still here")
	late.WantText("still here")
	leave(sender, "sender", 1, late)
	leave(late, "late", 0)

	s.stop()
	if !slices.ContainsFunc(s.leftWith(), func(r lariat.Reason) bool { return r.Kind == lariat.ReasonBacklogFull }) {
		t.Errorf("no member left with ReasonBacklogFull; reasons %v", s.leftWith())
	}
}

// TestTwoNodes runs the chat on two Hubs that share a Broker: members on
// either node are in the same rooms and hear each other, each message
// once and byte for byte, never their own; notices cross too, without a
// count, since neither node knows the other's members.
func TestTwoNodes(t *testing.T) {
	var pn pipeNet
	n0 := serveOn(t, lariat.Options{}, pn.hub(t))
	n1 := serveOn(t, lariat.Options{}, pn.hub(t))

	a := n0.join(t, "a", uncounted)
	b := n1.join(t, "b", uncounted, a)
	c := n0.join(t, "c", uncounted, a, b)
	x := n1.joinRoom(t, "x", "side", "side", uncounted)

	for _, m := range []struct {
		from *wstest.Conn
		op   byte
		p    []byte
	}{
		{a, wstest.OpText, []byte(`{"name":"a","text":"from node 0 ✓"}`)},
		{b, wstest.OpText, []byte(`{"name":"b","text":"from node 1"}`)},
		{b, wstest.OpBinary, []byte{0, 1, 0xfe, 0xff}},
		{c, wstest.OpBinary, []byte{1, '{', '}'}},
		{c, wstest.OpText, nil},
		{a, wstest.OpBinary, bytes.Repeat([]byte{0xa5}, 70000)},
	} {
		m.from.WriteMessage(m.op, m.p, 0)
		for _, to := range []*wstest.Conn{a, b, c} {
			if to != m.from {
				to.WantMessage(m.op, m.p)
			}
		}
	}
	// Nothing was echoed, nor delivered twice, nor reached the other
	// room: each one's next message is this one.
	x.WriteText("marker")
	b.WriteText("marker")
	a.WantText("marker")
	c.WantText("marker")

	leave(b, "b", uncounted, a, c)
	leave(a, "a", uncounted, c)
	leave(c, "c", uncounted)
	leave(x, "x", uncounted)
}

// pipeNet joins the Hubs of a test in one process: each node's Broker
// hands what it publishes to the other nodes subscribed to the topic,
// through a goroutine per node, in order, never back to its own node.
type pipeNet struct {
	mu    sync.Mutex
	nodes []*pipeBroker
}

// node returns the Broker of a new node of n.
func (n *pipeNet) node() *pipeBroker {
	b := &pipeBroker{net: n, in: make(chan pipeMsg, 1024), done: make(chan struct{}), subs: map[string]bool{}}
	n.mu.Lock()
	n.nodes = append(n.nodes, b)
	n.mu.Unlock()
	return b
}

// hub returns a Hub on a new node of n, closed when the test ends, after
// the servers started after it.
func (n *pipeNet) hub(t testing.TB) *lariat.Hub {
	h := &lariat.Hub{Broker: n.node()}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopWait)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return h
}

type pipeBroker struct {
	net  *pipeNet
	in   chan pipeMsg
	done chan struct{}
	mu   sync.Mutex
	subs map[string]bool
}

type pipeMsg struct {
	topic   string
	op      lariat.Opcode
	payload []byte
}

func (b *pipeBroker) Start(deliver func(string, lariat.Opcode, []byte)) error {
	go func() {
		defer close(b.done)
		for m := range b.in {
			deliver(m.topic, m.op, m.payload)
		}
	}()
	return nil
}

func (b *pipeBroker) Subscribe(topic string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs[topic] = true
	return nil
}

func (b *pipeBroker) Unsubscribe(topic string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subs, topic)
	return nil
}

func (b *pipeBroker) Publish(topic string, op lariat.Opcode, payload []byte) error {
	b.net.mu.Lock()
	defer b.net.mu.Unlock()
	for _, o := range b.net.nodes {
		o.mu.Lock()
		interested := o != b && o.subs[topic]
		o.mu.Unlock()
		if interested {
			o.in <- pipeMsg{topic, op, bytes.Clone(payload)}
		}
	}
	return nil
}

func (b *pipeBroker) Close(ctx context.Context) error {
	b.net.mu.Lock()
	close(b.in)
	b.net.mu.Unlock()
	select {
	case <-b.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// BenchmarkRelay measures one message relayed to the other members of a
// room of 8 on one node: read by lariat, published on the Hub, filtered
// and sent by each member, read by each client.
func BenchmarkRelay(b *testing.B) {
	for _, size := range []int{64, 4 << 10} {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			s := serve(b, lariat.Options{})
			const members = 8
			var cs []*wstest.Conn
			for i := range members {
				c := s.join(b, "m", i+1, cs...)
				cs = append(cs, c)
			}
			msg := bytes.Repeat([]byte("x"), size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				cs[0].WriteText(string(msg))
				for _, c := range cs[1:] {
					if _, _, err := c.ReadMessage(); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			for i := members - 1; i >= 0; i-- {
				leave(cs[i], "m", i, cs[:i]...)
			}
		})
	}
}
