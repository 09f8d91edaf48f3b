package lariat

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// subHandler subscribes, in Init, to the topics of its request's "t"
// query values, then sends "ready", so that a client that has read
// "ready" knows its subscriptions are in place. Text messages from the
// client are commands: "unsub T" unsubscribes from T and answers "ok".
type subHandler struct {
	hub    *Hub
	topics []string
	ended  chan Reason // Terminate's Reason, when not nil
	tcp    func(*net.TCPConn)
}

func (h *subHandler) Init(c *Conn) error {
	if h.tcp != nil {
		h.tcp(c.nc.(*net.TCPConn))
	}
	for _, t := range h.topics {
		if err := h.hub.Subscribe(c, t); err != nil {
			return err
		}
	}
	return c.SendText("ready")
}

func (h *subHandler) Handle(c *Conn, f Frame) error {
	if topic, ok := strings.CutPrefix(string(f.Payload), "unsub "); ok && f.Op == OpText {
		h.hub.Unsubscribe(c, topic)
		return c.SendText("ok")
	}
	return nil
}

func (h *subHandler) Info(*Conn, any) error { return nil }

func (h *subHandler) Terminate(c *Conn, r Reason) {
	if h.ended != nil {
		h.ended <- r
	}
}

// hubServer serves connections whose Handler mk makes from the request.
func hubServer(t *testing.T, mk func(r *http.Request) Handler, opts ...func(*Upgrader)) string {
	t.Helper()
	return serve(t, nil, append([]func(*Upgrader){func(u *Upgrader) {
		u.New = func(r *http.Request, hs *Handshake) (Handler, error) { return mk(r), nil }
	}}, opts...)...)
}

// subServer serves subHandlers on hub.
func subServer(t *testing.T, hub *Hub, ended chan Reason, opts ...func(*Upgrader)) string {
	return hubServer(t, func(r *http.Request) Handler {
		return &subHandler{hub: hub, topics: r.URL.Query()["t"], ended: ended}
	}, opts...)
}

// dialSub connects a client subscribed to topics and waits until the
// subscriptions are in place.
func dialSub(t *testing.T, base string, topics []string, opts ...wstest.Option) *wstest.Conn {
	t.Helper()
	q := url.Values{"t": topics}
	c := wstest.Dial(t, base+"?"+q.Encode(), opts...)
	c.WantText("ready")
	return c
}

// waitFor waits, boundedly, until cond holds: for counters that are
// updated just after the bytes they count have left.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func wantStats(t *testing.T, h *Hub, want HubStats) {
	t.Helper()
	var got HubStats
	for range 1000 {
		if got = h.Stats(); got == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("Stats() = %+v\nwant       %+v", got, want)
}

// TestHubDelivers: every subscriber of a topic gets each message once,
// compressed as it negotiated; others get nothing of it.
func TestHubDelivers(t *testing.T) {
	var hub Hub
	base := subServer(t, &hub, nil, compressed())
	news := []*wstest.Conn{
		dialSub(t, base, []string{"news"}),
		dialSub(t, base, []string{"news", "other"}, wstest.Extensions("permessage-deflate; server_no_context_takeover")),
		dialSub(t, base, []string{"news"}, wstest.Extensions("permessage-deflate")),
	}
	other := dialSub(t, base, []string{"other"})
	big := jsonish(5000)
	if err := hub.Publish("news", OpText, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := hub.Publish("news", OpBinary, big); err != nil {
		t.Fatal(err)
	}
	if err := hub.Publish("other", OpText, []byte("other")); err != nil {
		t.Fatal(err)
	}
	if err := hub.Publish("nobody", OpText, []byte("lost")); err != nil {
		t.Fatal(err)
	}
	for _, c := range news {
		c.WantText("first")
		c.WantBinary(big)
	}
	news[1].WantText("other")
	other.WantText("other") // and so neither news message
	wantStats(t, &hub, HubStats{Topics: 2, Subscriptions: 5, Published: 4, Delivered: 8})
}

// TestHubOneWrite: the messages waiting for a connection leave in one
// write, however many and whatever the size of the write buffer; with a
// TopicHandler too.
func TestHubOneWrite(t *testing.T) {
	for _, th := range []bool{false, true} {
		t.Run(fmt.Sprintf("TopicHandler %v", th), func(t *testing.T) {
			var hub Hub
			var h Handler = Base{}
			if th {
				h = reverser{}
			}
			c, sc := newSink(sinkSetup{}, h, true)
			if err := hub.Subscribe(c, "t"); err != nil {
				t.Fatal(err)
			}
			for i := range 20 {
				hub.Publish("t", OpBinary, bytes.Repeat([]byte{byte(i)}, 1000))
			}
			if n, _ := sc.written(); n != 0 {
				t.Fatalf("%d writes before the connection drained its backlog", n)
			}
			if r := c.deliverMail(); r != nil {
				t.Fatal(r)
			}
			n, out := sc.written()
			if n != 1 {
				t.Fatalf("%d writes for 20 messages, want 1", n)
			}
			frames := readFrames(t, out)
			if len(frames) != 20 {
				t.Fatalf("%d frames, want 20", len(frames))
			}
			for i, f := range frames {
				if f.Op != wstest.OpBinary || len(f.Payload) != 1000 || f.Payload[0] != byte(i) {
					t.Fatalf("frame %d: %v", i, f)
				}
			}
			if c.wbp != nil && cap(*c.wbp) > c.opts.WriteBufferSize {
				t.Errorf("the connection kept a %d-byte write buffer", cap(*c.wbp))
			}
			wantStats(t, &hub, HubStats{Topics: 1, Subscriptions: 1, Published: 20, Delivered: 20})
		})
	}
}

// reverser sends each topic message reversed.
type reverser struct{ Base }

func (reverser) HandleTopic(c *Conn, topic string, m *PreparedMessage) error {
	p := slices.Clone(m.Frame().Payload)
	slices.Reverse(p)
	return c.Send(Frame{Op: OpBinary, Payload: p})
}

// stopAfterTwo sends topic messages until its second, then stops.
type stopAfterTwo struct {
	Base
	n int
}

func (h *stopAfterTwo) HandleTopic(c *Conn, topic string, m *PreparedMessage) error {
	if err := c.SendPrepared(m); err != nil {
		return err
	}
	if h.n++; h.n == 2 {
		return Stop
	}
	return nil
}

// TestHubStopKeepsSentFrames: what a TopicHandler sent before it returned
// Stop leaves before the close frame, though the batch took a larger
// write buffer (once, that buffer was given back with the frames in it).
func TestHubStopKeepsSentFrames(t *testing.T) {
	var hub Hub
	c, sc := newSink(sinkSetup{}, &stopAfterTwo{}, true)
	if err := hub.Subscribe(c, "t"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		hub.Publish("t", OpBinary, bytes.Repeat([]byte{byte(i)}, 3000))
	}
	err := c.deliverMail()
	if err == nil {
		t.Fatal("HandleTopic's Stop did not end the connection")
	}
	if r := c.finish(err); r.Kind != ReasonStop {
		t.Fatalf("reason %+v", r)
	}
	_, out := sc.written()
	frames := readFrames(t, out)
	if len(frames) != 3 || frames[0].Payload[0] != 0 || frames[1].Payload[0] != 1 || frames[2].Op != wstest.OpClose {
		t.Fatalf("%d frames %v, want the first two messages and a close", len(frames), frames)
	}
}

func readFrames(t *testing.T, b []byte) []wstest.Frame {
	t.Helper()
	var frames []wstest.Frame
	r := bytes.NewReader(b)
	for r.Len() > 0 {
		f, err := wstest.ReadFrameFrom(r, 1<<24)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	return frames
}

// TestHubBacklogFull: a message that does not fit in a backlog is
// dropped for that connection, or the connection is closed with 1013
// after the messages queued before it.
func TestHubBacklogFull(t *testing.T) {
	msg := make([]byte, 1000)
	for _, drop := range []bool{true, false} {
		t.Run(fmt.Sprintf("DropWhenFull %v", drop), func(t *testing.T) {
			hub := Hub{BacklogBytes: 4 * (1000 + backlogEntryCost), DropWhenFull: drop}
			c, sc := newSink(sinkSetup{}, nil, true)
			hub.Subscribe(c, "t")
			for i := range 6 {
				msg[0] = byte(i)
				hub.Publish("t", OpBinary, msg)
			}
			r := c.deliverMail()
			var reason Reason
			if r != nil {
				reason = c.finish(r) // the run loop's end: queues the close
			}
			_, out := sc.written()
			frames := readFrames(t, out)
			if drop {
				if r != nil {
					t.Fatal(r)
				}
				if len(frames) != 4 {
					t.Fatalf("%d frames, want 4", len(frames))
				}
				wantStats(t, &hub, HubStats{Topics: 1, Subscriptions: 1, Published: 6, Delivered: 4, Dropped: 2})
				// Room again.
				hub.Publish("t", OpBinary, msg)
				c.deliverMail()
				wantStats(t, &hub, HubStats{Topics: 1, Subscriptions: 1, Published: 7, Delivered: 5, Dropped: 2})
				return
			}
			if reason.Kind != ReasonBacklogFull || reason.Code != StatusTryAgainLater {
				t.Fatalf("ended with %+v, want ReasonBacklogFull with 1013", reason)
			}
			if len(frames) != 5 {
				t.Fatalf("%d frames, want 4 and a close", len(frames))
			}
			for i, f := range frames[:4] {
				if f.Payload[0] != byte(i) {
					t.Fatalf("frame %d carries message %d", i, f.Payload[0])
				}
			}
			if f := frames[4]; f.Op != wstest.OpClose || !bytes.Equal(f.Payload, wstest.ClosePayload(1013, "backlog full")) {
				t.Fatalf("last frame %v, want close 1013", f)
			}
			wantStats(t, &hub, HubStats{Published: 6, Delivered: 4, Dropped: 2, Evicted: 1})
		})
	}
}

// TestHubSlowConsumer: over TCP, a client that stops reading fills its
// backlog and is cut (or, with DropWhenFull, loses messages) while a
// client that reads gets every message in order.
func TestHubSlowConsumer(t *testing.T) {
	for _, drop := range []bool{false, true} {
		t.Run(fmt.Sprintf("DropWhenFull %v", drop), func(t *testing.T) {
			hub := Hub{BacklogBytes: 64 << 10, DropWhenFull: drop}
			ended := make(chan Reason, 2)
			base := hubServer(t, func(r *http.Request) Handler {
				return &subHandler{hub: &hub, topics: []string{"t"}, ended: ended, tcp: func(nc *net.TCPConn) {
					nc.SetWriteBuffer(4096) // so that a few messages fill the socket
				}}
			})
			fast := dialSub(t, base, nil)
			slow := dialSub(t, base, nil)
			msg := make([]byte, 16<<10)
			var slowReason *Reason
			sent := 0
			for ; sent < 4000; sent++ {
				binary.BigEndian.PutUint32(msg, uint32(sent))
				if err := hub.Publish("t", OpBinary, msg); err != nil {
					t.Fatal(err)
				}
				// In step with the fast client, which so never lags.
				_, p, err := fast.ReadMessage()
				if err != nil || binary.BigEndian.Uint32(p) != uint32(sent) {
					t.Fatalf("fast client: message %d: %v", sent, err)
				}
				if drop && hub.Stats().Dropped > 0 {
					break
				}
				if !drop && len(ended) > 0 {
					r := <-ended
					slowReason = &r
					break
				}
			}
			if drop {
				if hub.Stats().Dropped == 0 {
					t.Fatalf("nothing dropped after %d messages", sent)
				}
				select {
				case r := <-ended:
					t.Fatalf("a connection ended: %v", r)
				default:
				}
				slow.Close()
				<-ended
				return
			}
			if slowReason == nil {
				t.Fatalf("the slow client was not cut after %d messages", sent)
			}
			if slowReason.Kind != ReasonBacklogFull {
				t.Fatalf("slow client ended with %v", slowReason)
			}
			if s := hub.Stats(); s.Evicted != 1 || s.Subscriptions != 1 {
				t.Fatalf("Stats() = %+v", s)
			}
			// The fast client goes on.
			hub.Publish("t", OpText, []byte("still here"))
			fast.WantText("still here")
		})
	}
}

// TestHubOrder: publishers on many goroutines, on two topics; every
// subscriber of both gets each publisher's messages once, in order.
func TestHubOrder(t *testing.T) {
	hub := Hub{BacklogBytes: 64 << 20}
	base := subServer(t, &hub, nil, compressed())
	const publishers, each = 4, 300
	var clients []*wstest.Conn
	for i := range 3 {
		var opts []wstest.Option
		if i == 1 {
			opts = append(opts, wstest.Extensions("permessage-deflate; server_no_context_takeover"))
		}
		clients = append(clients, dialSub(t, base, []string{"a", "b"}, opts...))
	}
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				topic := []string{"a", "b"}[i%2]
				if err := hub.Publish(topic, OpText, fmt.Appendf(nil, "%d %d %s", p, i, topic)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for _, c := range clients {
		wg.Go(func() {
			next := make([]int, publishers)
			for range publishers * each {
				_, m, err := c.ReadMessage()
				if err != nil {
					t.Error(err)
					return
				}
				var p, i int
				var topic string
				if _, err := fmt.Sscanf(string(m), "%d %d %s", &p, &i, &topic); err != nil || i != next[p] {
					t.Errorf("got %q, want message %d of publisher %d", m, next[p], p)
					return
				}
				next[p]++
			}
		})
	}
	wg.Wait()
	wantStats(t, &hub, HubStats{Topics: 2, Subscriptions: 6, Published: publishers * each, Delivered: 3 * publishers * each})
}

// TestHubUnsubscribe: after Unsubscribe, the topic's messages no longer
// come; the last subscriber's leaving removes the topic.
func TestHubUnsubscribe(t *testing.T) {
	var hub Hub
	c := dialSub(t, subServer(t, &hub, nil), []string{"a", "b"})
	c.WriteText("unsub a")
	c.WantText("ok")
	c.WriteText("unsub nothing")
	c.WantText("ok")
	hub.Publish("a", OpText, []byte("a"))
	hub.Publish("b", OpText, []byte("b"))
	c.WantText("b") // and so not "a", published first
	wantStats(t, &hub, HubStats{Topics: 1, Subscriptions: 1, Published: 2, Delivered: 1})
}

// TestHubLeaveOnEnd: a connection leaves its topics when it ends, however
// it ends; a Subscribe in Terminate fails and leaves nothing behind.
func TestHubLeaveOnEnd(t *testing.T) {
	var hub Hub
	ended := make(chan error, 1)
	base := hubServer(t, func(r *http.Request) Handler {
		return &funcs{
			onInit: func(c *Conn) error {
				hub.Subscribe(c, "a")
				hub.Subscribe(c, "b")
				return c.SendText("ready")
			},
			onTerminate: func(c *Conn, r Reason) { ended <- hub.Subscribe(c, "c") },
		}
	})
	for _, end := range []func(c *wstest.Conn){
		func(c *wstest.Conn) { c.WriteClose(1000, "") },
		func(c *wstest.Conn) { c.Close() },
		func(c *wstest.Conn) { c.WriteFrame(true, 0, 0x3, nil) }, // reserved opcode
	} {
		c := dialSub(t, base, nil)
		hub.Publish("a", OpText, []byte("x"))
		c.WantText("x")
		end(c)
		if err := <-ended; !errors.Is(err, ErrClosed) {
			t.Fatalf("Subscribe in Terminate: %v, want ErrClosed", err)
		}
		if s := hub.Stats(); s.Topics != 0 || s.Subscriptions != 0 {
			t.Fatalf("after the end: %+v", s)
		}
	}
	hub.Publish("a", OpText, []byte("nobody"))
}

// topicFilter upper-cases topic messages, drops "skip", stops on "bye"
// and panics on "panic".
type topicFilter struct {
	subHandler
}

func (h *topicFilter) HandleTopic(c *Conn, topic string, m *PreparedMessage) error {
	switch p := string(m.Frame().Payload); p {
	case "skip":
		return nil
	case "bye":
		return Stop
	case "panic":
		panic("topic panic")
	default:
		return c.SendText(topic + ":" + strings.ToUpper(p))
	}
}

func TestHubTopicHandler(t *testing.T) {
	var hub Hub
	ended := make(chan Reason, 1)
	base := hubServer(t, func(r *http.Request) Handler {
		return &topicFilter{subHandler{hub: &hub, topics: []string{"t"}, ended: ended}}
	})
	for _, tt := range []struct {
		last string
		code uint16
		kind ReasonKind
	}{
		{"bye", 1000, ReasonStop},
		{"panic", 1011, ReasonCrash},
	} {
		c := dialSub(t, base, nil)
		for _, m := range []string{"hello", "skip", "world", tt.last, "after"} {
			hub.Publish("t", OpText, []byte(m))
		}
		c.WantText("t:HELLO")
		c.WantText("t:WORLD")
		c.WantClose(tt.code)
		if r := <-ended; r.Kind != tt.kind {
			t.Fatalf("Terminate got %v, want %v", r, tt.kind)
		}
	}
}

// TestHubHixie: hixie connections get text; binary is skipped and counted.
func TestHubHixie(t *testing.T) {
	var hub Hub
	addr := strings.TrimSuffix(strings.TrimPrefix(subServer(t, &hub, nil, func(u *Upgrader) { u.Legacy = true }), "ws://"), "/")
	c := dialHixie(t, addr, strings.Replace(request76(addr, ""), "/demo?room=1", "/?t=t", 1)+hixieKey3)
	c.readHead()
	c.readN(16)
	c.wantText("ready")
	hub.Publish("t", OpBinary, []byte("binary"))
	hub.Publish("t", OpText, []byte("a\xffb"))
	hub.Publish("t", OpText, []byte("text"))
	c.wantText("text")
	wantStats(t, &hub, HubStats{Topics: 1, Subscriptions: 1, Published: 3, Delivered: 1, Skipped: 2})
}

// TestHubClose: Close waits for what is waiting to be written; then
// publishing and subscribing fail.
func TestHubClose(t *testing.T) {
	var hub Hub
	base := subServer(t, &hub, nil)
	c := dialSub(t, base, []string{"t"})
	for i := range 50 {
		hub.Publish("t", OpText, fmt.Appendf(nil, "%d", i))
	}
	if err := hub.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := hub.Stats(); s.Delivered != 50 {
		t.Fatalf("Close returned with %d of 50 messages written", s.Delivered)
	}
	for i := range 50 {
		c.WantText(fmt.Sprint(i))
	}
	if err := hub.Publish("t", OpText, nil); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
	late := wstest.Dial(t, base+"?t=t")
	late.WantClose(1011)
	if err := hub.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestHubCloseDeadline: Close gives up waiting when its context ends.
func TestHubCloseDeadline(t *testing.T) {
	var hub Hub
	c, _ := newSink(sinkSetup{}, nil, false)
	hub.Subscribe(c, "t")
	hub.Publish("t", OpText, []byte("never drained"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := hub.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close: %v", err)
	}
	c.deliverMail()
	if s := hub.Stats(); s.Delivered != 1 {
		t.Fatalf("%+v", s)
	}
}

func TestHubErrors(t *testing.T) {
	var hub, other Hub
	c, _ := newSink(sinkSetup{}, nil, false)
	if err := hub.Publish("t", OpPing, nil); err != errPublishOp {
		t.Errorf("Publish of a ping: %v", err)
	}
	if err := hub.Subscribe(c, "t"); err != nil {
		t.Fatal(err)
	}
	if err := hub.Subscribe(c, "t"); err != nil {
		t.Errorf("second Subscribe: %v", err)
	}
	if err := other.Subscribe(c, "t"); err == nil {
		t.Error("Subscribe through a second Hub succeeded")
	}
	other.Unsubscribe(c, "t") // not subscribed there: nothing happens
	if s := hub.Stats(); s.Subscriptions != 1 {
		t.Errorf("%+v", s)
	}
	if err := (&Hub{Broker: &failingBroker{}}).Publish("t", OpText, nil); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("Publish with a Broker that fails to start: %v", err)
	}
}

type failingBroker struct{ Broker }

func (*failingBroker) Start(func(string, Opcode, []byte)) error { return errors.New("refused") }

// pipeBroker joins Hubs in one process, for tests of the Broker
// contract: each node's messages reach the others through a goroutine
// per node, in order, never back to their own node.
type pipeBroker struct {
	net  *pipeNet
	node int
	in   chan pipeMsg
	done chan struct{}
	mu   sync.Mutex
	subs map[string]bool
	log  []string
}

type pipeMsg struct {
	topic   string
	op      Opcode
	payload []byte
}

type pipeNet struct {
	mu    sync.Mutex
	nodes []*pipeBroker
}

func (n *pipeNet) add() *pipeBroker {
	n.mu.Lock()
	defer n.mu.Unlock()
	b := &pipeBroker{net: n, node: len(n.nodes), in: make(chan pipeMsg, 1024), done: make(chan struct{}), subs: map[string]bool{}}
	n.nodes = append(n.nodes, b)
	return b
}

func (b *pipeBroker) Start(deliver func(string, Opcode, []byte)) error {
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
	b.log = append(b.log, "+"+topic)
	return nil
}

func (b *pipeBroker) Unsubscribe(topic string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subs, topic)
	b.log = append(b.log, "-"+topic)
	return nil
}

func (b *pipeBroker) Publish(topic string, op Opcode, payload []byte) error {
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

func (b *pipeBroker) interest() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.log...)
}

// TestHubBroker: with a Broker, each subscriber on each node gets every
// message once, and a node's Broker subscribes to a topic only while the
// node has a subscriber for it.
func TestHubBroker(t *testing.T) {
	var pn pipeNet
	hubs := []*Hub{{Broker: pn.add()}, {Broker: pn.add()}}
	bases := []string{subServer(t, hubs[0], nil), subServer(t, hubs[1], nil)}
	a0 := dialSub(t, bases[0], []string{"a"})
	a0b := dialSub(t, bases[0], []string{"a"})
	a1 := dialSub(t, bases[1], []string{"a", "b"})
	b0 := dialSub(t, bases[0], []string{"b"})
	for i, h := range hubs {
		h.Publish("a", OpText, fmt.Appendf(nil, "from %d", i))
	}
	for _, c := range []*wstest.Conn{a0, a0b, a1} {
		// Two publishers: each message once, in either order.
		var got []string
		for range 2 {
			_, p, err := c.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(p))
		}
		if !slices.Equal(got, []string{"from 0", "from 1"}) && !slices.Equal(got, []string{"from 1", "from 0"}) {
			t.Fatalf("got %q", got)
		}
	}
	hubs[1].Publish("b", OpText, []byte("b"))
	b0.WantText("b")
	a1.WantText("b")
	b0.WriteText("unsub b")
	b0.WantText("ok")
	if got, want := pn.nodes[0].interest(), []string{"+a", "+b", "-b"}; !slices.Equal(got, want) {
		t.Errorf("node 0 broker calls %q, want %q", got, want)
	}
	wantStats(t, hubs[0], HubStats{Topics: 1, Subscriptions: 2, Published: 1, Received: 2, Delivered: 5})
	for _, h := range hubs {
		if err := h.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// newSinkHub returns a Hub with n connections subscribed to "t", each
// writing to a sinkConn, negotiated as su.
func newSinkHub(n int, su sinkSetup) (*Hub, []*Conn) {
	hub := &Hub{BacklogBytes: 1 << 30}
	conns := make([]*Conn, n)
	for i := range conns {
		conns[i], _ = newSink(su, nil, false)
		hub.Subscribe(conns[i], "t")
	}
	return hub, conns
}

func publishAndDrain(hub *Hub, conns []*Conn, msg []byte) {
	hub.Publish("t", OpText, msg)
	for _, c := range conns {
		c.deliverMail()
	}
}

// TestPublishAllocsPerRecipient: a publication allocates the same for one
// recipient as for a hundred: nothing per recipient, compressed or not.
func TestPublishAllocsPerRecipient(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	msg := jsonish(1024)
	for _, su := range sinkSetups[:2] {
		var allocs [2]float64
		for i, n := range []int{1, 100} {
			hub, conns := newSinkHub(n, su)
			for range 10 {
				publishAndDrain(hub, conns, msg)
			}
			allocs[i] = testing.AllocsPerRun(50, func() { publishAndDrain(hub, conns, msg) })
		}
		if allocs[0] != allocs[1] {
			t.Errorf("%s: %v allocations per publication to 1 connection, %v to 100", su.name, allocs[0], allocs[1])
		}
	}
}

// BenchmarkHubPublish publishes a 1 KiB message to n connections and has
// each of them write it, as their goroutines would.
func BenchmarkHubPublish(b *testing.B) {
	msg := jsonish(1024)
	for _, su := range sinkSetups[:2] {
		for _, n := range []int{1, 100, 1000} {
			name := "plain"
			if su.params != nil {
				name = "deflate-no-context-takeover"
			}
			b.Run(fmt.Sprintf("%s/conns=%d", name, n), func(b *testing.B) {
				hub, conns := newSinkHub(n, su)
				publishAndDrain(hub, conns, msg)
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				b.ReportAllocs()
				for b.Loop() {
					publishAndDrain(hub, conns, msg)
				}
				runtime.ReadMemStats(&m1)
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/recipient")
				b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(b.N)/float64(n), "allocs/recipient")
			})
		}
	}
}

var _ io.Writer = (*sinkConn)(nil)

// TestIdleSubscriberHoldsNoQueue: once a connection has written what
// was waiting for it, its backlog's slice is back in the pool.
func TestIdleSubscriberHoldsNoQueue(t *testing.T) {
	hub, conns := newSinkHub(3, sinkSetups[0])
	for range 3 {
		publishAndDrain(hub, conns, []byte("x"))
	}
	for i, c := range conns {
		if q := c.topics.queue; q != nil {
			t.Errorf("connection %d keeps a queue of %d after writing its backlog", i, cap(*q))
		}
	}
}

// cutConn takes the first n bytes written to it, then fails the write
// that goes past them, as a socket does whose peer stopped reading once
// its write deadline passes.
type cutConn struct {
	sinkConn
	n int
}

func (c *cutConn) Write(p []byte) (int, error) {
	if len(p) <= c.n {
		c.n -= len(p)
		return c.sinkConn.Write(p)
	}
	n := c.n
	c.n = 0
	c.sinkConn.Write(p[:n])
	return n, os.ErrDeadlineExceeded
}

// TestHubStatsWriteCut: when the write of a backlog fails part way, the
// messages that left whole before the failure count as Delivered, the
// others as Dropped.
func TestHubStatsWriteCut(t *testing.T) {
	var hub Hub
	cc := &cutConn{sinkConn: sinkConn{keep: true}, n: 250} // two 102-byte frames, and part of a third
	c := newTestConn(cc, Base{}, Options{}, VersionRFC6455)
	hub.Subscribe(c, "t")
	for range 3 {
		hub.Publish("t", OpText, make([]byte, 100))
	}
	err := c.deliverMail()
	if err == nil {
		t.Fatal("the write did not fail")
	}
	c.finish(err) // the run loop's end: the connection leaves its topics
	if _, out := cc.written(); len(out) != 250 {
		t.Fatalf("%d bytes written, want 250", len(out))
	}
	wantStats(t, &hub, HubStats{Published: 3, Delivered: 2, Dropped: 1})
}
