package nats

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lariat-ws/lariat"
	"github.com/lariat-ws/lariat/internal/wstest"
	"github.com/nats-io/nats-server/v2/server"
)

// topicOf is the topic of a publisher's message seq in the tests that
// use two topics: every fifth message goes to "u", the others to "t".
func topicOf(seq int) string {
	if seq%5 == 4 {
		return "u"
	}
	return "t"
}

// publishSeqs has each node publish from..to, concurrently, each on its
// own goroutine, to topicOf(seq) (or only to "t").
func publishSeqs(t *testing.T, nodes []*node, from, to int, two bool) {
	t.Helper()
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() {
			for seq := from; seq <= to; seq++ {
				topic := "t"
				if two {
					topic = topicOf(seq)
				}
				if err := n.hub.Publish(topic, lariat.OpText, msg(n.name, seq)); err != nil {
					t.Errorf("%s: Publish: %v", n.name, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func seqsOn(topics map[string]bool, lo, hi int) []int {
	var s []int
	for i := lo; i <= hi; i++ {
		if topics[topicOf(i)] {
			s = append(s, i)
		}
	}
	return s
}

// TestThreeNodes: three lariat nodes on one NATS server, clients on
// every node on two topics, every node publishing at once: each client
// gets each message of its topics exactly once, every publisher's in
// publish order, across topics too.
func TestThreeNodes(t *testing.T) {
	checkNoLeaks(t)
	s := runServer(t, -1, nil)
	var nodes []*node
	groups := map[string][]*wstest.Conn{}
	for i := range 3 {
		n := newNode(t, fmt.Sprintf("n%d", i), s.ClientURL(), nodeOptions{compress: true})
		nodes = append(nodes, n)
		groups["t"] = append(groups["t"], n.dial(t, []string{"t"}))
		groups["t u"] = append(groups["t u"], n.dial(t, []string{"t", "u"}, wstest.Extensions("permessage-deflate; server_no_context_takeover")))
		groups["t u"] = append(groups["t u"], n.dial(t, []string{"u", "t"}, wstest.Extensions("permessage-deflate")))
	}
	groups["u"] = append(groups["u"], nodes[2].dial(t, []string{"u"}))
	waitInterest(t, s, "t", 3)
	waitInterest(t, s, "u", 3)

	const last = 199
	publishSeqs(t, nodes, 0, last, true)
	for g, clients := range groups {
		topics := map[string]bool{}
		for _, tp := range []string{"t", "u"} {
			topics[tp] = g == tp || g == "t u"
		}
		want := seqsOn(topics, 0, last)
		lastOf := map[string]int{}
		for _, n := range nodes {
			lastOf[n.name] = want[len(want)-1]
		}
		for i, seen := range tallyAll(t, clients, lastOf) {
			for _, n := range nodes {
				if !equalInts(seen[n.name], want) {
					t.Errorf("group %q client %d: from %s got %v, want %v", g, i, n.name, seen[n.name], want)
				}
			}
		}
	}
	for _, n := range nodes {
		waitStats(t, n, func(s lariat.HubStats) bool { return s.Published == last+1 && s.Received == 2*(last+1) })
	}
}

func waitStats(t *testing.T, n *node, ok func(lariat.HubStats) bool) {
	t.Helper()
	for range 1000 {
		if ok(n.hub.Stats()) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: Stats() = %+v", n.name, n.hub.Stats())
}

// TestClusterRoutes: nodes on the two servers of a NATS cluster get each
// other's messages exactly once and in order.
func TestClusterRoutes(t *testing.T) {
	checkNoLeaks(t)
	s1 := runServer(t, -1, &server.ClusterOpts{Name: "lariat", Host: "127.0.0.1", Port: -1})
	s2 := runServer(t, -1, &server.ClusterOpts{Name: "lariat", Host: "127.0.0.1", Port: -1},
		fmt.Sprintf("nats://127.0.0.1:%d", s1.ClusterAddr().Port))
	for range 2000 {
		if s1.NumRoutes() > 0 && s2.NumRoutes() > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if s1.NumRoutes() == 0 || s2.NumRoutes() == 0 {
		t.Fatal("the servers did not route to each other")
	}
	nodes := []*node{
		newNode(t, "a", s1.ClientURL(), nodeOptions{}),
		newNode(t, "b", s2.ClientURL(), nodeOptions{}),
		newNode(t, "c", s2.ClientURL(), nodeOptions{}),
	}
	var clients []*wstest.Conn
	for _, n := range nodes {
		clients = append(clients, n.dial(t, []string{"t"}), n.dial(t, []string{"t"}))
	}
	waitInterest(t, s1, "t", 1+1) // a, and the route to s2
	waitInterest(t, s2, "t", 2+1) // b and c, and the route to s1

	const last = 299
	publishSeqs(t, nodes, 0, last, false)
	lastOf := map[string]int{"a": last, "b": last, "c": last}
	for i, seen := range tallyAll(t, clients, lastOf) {
		for p, got := range seen {
			if !equalInts(got, span(0, last)) {
				t.Errorf("client %d: from %s got %d messages, want %d", i, p, len(got), last+1)
			}
		}
	}
}

// TestNATSRestart: the NATS server stops and comes back on the same port
// while the nodes publish. Each node's clients keep getting that node's
// messages; the nodes reconnect and resubscribe by themselves; across
// nodes, messages published while the server was down may be lost (never
// duplicated or reordered), and every message published after the
// nodes resubscribed arrives.
func TestNATSRestart(t *testing.T) {
	checkNoLeaks(t)
	s := runServer(t, -1, nil)
	port := s.Addr().(*net.TCPAddr).Port
	a := newNode(t, "a", s.ClientURL(), nodeOptions{})
	b := newNode(t, "b", s.ClientURL(), nodeOptions{})
	nodes := []*node{a, b}
	clients := []*wstest.Conn{a.dial(t, []string{"t"}), b.dial(t, []string{"t"})}
	waitInterest(t, s, "t", 2)

	publishSeqs(t, nodes, 0, 49, false)
	before := tallyAll(t, clients, map[string]int{"a": 49, "b": 49})

	stopServer(s)
	waitSignal(t, a.disconnect, "a to see the server go")
	waitSignal(t, b.disconnect, "b to see the server go")
	publishSeqs(t, nodes, 50, 99, false) // local delivery; NATS buffered

	s2 := runServer(t, port, nil)
	waitSignal(t, a.reconnected, "a to reconnect")
	waitSignal(t, b.reconnected, "b to reconnect")
	waitInterest(t, s2, "t", 2) // both resubscribed by themselves

	publishSeqs(t, nodes, 100, 149, false)
	for i, seen := range tallyAll(t, clients, map[string]int{"a": 149, "b": 149}) {
		for p := range seen {
			seen[p] = append(before[i][p], seen[p]...)
		}
		own, other := nodes[i].name, nodes[1-i].name
		checkOutage(t, i, seen, own, other)
	}
}

// checkOutage: a client got all of its own node's messages, and of the
// other node's all but some of those published during the outage
// (50..99). tally has already checked that none came twice or out of
// order.
func checkOutage(t *testing.T, i int, seen map[string][]int, own, other string) {
	t.Helper()
	if !equalInts(seen[own], span(0, 149)) {
		t.Errorf("client %d: from its own node %s got %v", i, own, seen[own])
	}
	var before, during, after []int
	for _, s := range seen[other] {
		switch {
		case s < 50:
			before = append(before, s)
		case s < 100:
			during = append(during, s)
		default:
			after = append(after, s)
		}
	}
	if !equalInts(before, span(0, 49)) || !equalInts(after, span(100, 149)) {
		t.Errorf("client %d: from %s got %v", i, other, seen[other])
	}
	t.Logf("client %d: %d of %s's 50 messages published during the outage arrived", i, len(during), other)
}

// TestNodeDies: one node dies (its NATS connection first, then its
// clients) while the others go on publishing: they lose nothing.
func TestNodeDies(t *testing.T) {
	checkNoLeaks(t)
	s := runServer(t, -1, nil)
	nodes := []*node{
		newNode(t, "a", s.ClientURL(), nodeOptions{}),
		newNode(t, "b", s.ClientURL(), nodeOptions{}),
		newNode(t, "c", s.ClientURL(), nodeOptions{}),
	}
	var clients []*wstest.Conn
	for _, n := range nodes {
		clients = append(clients, n.dial(t, []string{"t"}))
	}
	waitInterest(t, s, "t", 3)

	publishSeqs(t, nodes, 0, 49, false)
	if err := nodes[2].nc.Flush(); err != nil { // c's messages have reached the server
		t.Fatal(err)
	}
	nodes[2].kill()
	<-nodes[2].ended // c's client
	publishSeqs(t, nodes[:2], 50, 99, false)
	for i, seen := range tallyAll(t, clients[:2], map[string]int{"a": 99, "b": 99, "c": 49}) {
		for _, p := range []string{"a", "b"} {
			if !equalInts(seen[p], span(0, 99)) {
				t.Errorf("client %d: from %s got %v", i, p, seen[p])
			}
		}
		if !equalInts(seen["c"], span(0, 49)) {
			t.Errorf("client %d: from c got %v", i, seen["c"])
		}
	}
}

// TestSlowConsumer: a client that does not read, on one node, fills its
// backlog and is cut; the clients that read, on that node and another,
// get every message.
func TestSlowConsumer(t *testing.T) {
	checkNoLeaks(t)
	s := runServer(t, -1, nil)
	a := newNode(t, "a", s.ClientURL(), nodeOptions{writeBuffer: 4096})
	b := newNode(t, "b", s.ClientURL(), nodeOptions{writeBuffer: 4096, backlog: 64 << 10})
	fastA := a.dial(t, []string{"t"})
	fastB := b.dial(t, []string{"t"})
	b.dial(t, []string{"t"}) // never reads
	waitInterest(t, s, "t", 2)

	payload := make([]byte, 16<<10)
	receive := func(seq int) {
		t.Helper()
		for _, c := range []*wstest.Conn{fastA, fastB} {
			_, p, err := c.ReadMessage()
			if err != nil || len(p) != len(payload) || binary.BigEndian.Uint32(p) != uint32(seq) {
				t.Fatalf("message %d: %v", seq, err)
			}
		}
	}
	var cut *lariat.Reason
	seq := 0
	for ; seq < 4000 && cut == nil; seq++ {
		binary.BigEndian.PutUint32(payload, uint32(seq))
		if err := a.hub.Publish("t", lariat.OpBinary, payload); err != nil {
			t.Fatal(err)
		}
		receive(seq) // in step with the readers, which so never lag
		select {
		case r := <-b.ended:
			cut = &r
		default:
		}
	}
	if cut == nil {
		t.Fatalf("the client that does not read was not cut after %d messages", seq)
	}
	if cut.Kind != lariat.ReasonBacklogFull {
		t.Fatalf("it ended with %v", cut)
	}
	if st := b.hub.Stats(); st.Evicted != 1 || st.Subscriptions != 1 {
		t.Fatalf("b: %+v", st)
	}
	for range 10 {
		binary.BigEndian.PutUint32(payload, uint32(seq))
		a.hub.Publish("t", lariat.OpBinary, payload)
		receive(seq)
		seq++
	}
	t.Logf("cut after %d messages of %d bytes", seq-10, len(payload))
}

// TestCloseDrains: a Hub's Close hands its clients what its Broker had
// received, writes it, and takes the node's interest off the server;
// publishing after it fails.
func TestCloseDrains(t *testing.T) {
	checkNoLeaks(t)
	s := runServer(t, -1, nil)
	a := newNode(t, "a", s.ClientURL(), nodeOptions{})
	b := newNode(t, "b", s.ClientURL(), nodeOptions{})
	cb := b.dial(t, []string{"t"})
	waitInterest(t, s, "t", 1)
	publishSeqs(t, []*node{a}, 0, 99, false)
	if err := a.nc.Flush(); err != nil { // the server has them all
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.hub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := b.hub.Stats(); st.Received != 100 || st.Delivered != 100 {
		t.Fatalf("after Close: %+v", st)
	}
	seen := tallyAll(t, []*wstest.Conn{cb}, map[string]int{"a": 99})[0]
	if !equalInts(seen["a"], span(0, 99)) {
		t.Fatalf("got %v", seen["a"])
	}
	if err := b.hub.Publish("t", lariat.OpText, nil); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
	for range 2000 {
		if s.GlobalAccount().Interest(Subject("lariat", "t")) == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := s.GlobalAccount().Interest(Subject("lariat", "t")); n != 0 {
		t.Fatalf("interest %d after Close", n)
	}
	if !slices.Contains([]bool{true}, b.nc.IsConnected()) {
		t.Fatal("Close closed the caller's NATS connection")
	}
}
