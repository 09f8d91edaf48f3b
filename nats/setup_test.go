package nats

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lariat-ws/lariat"
	"github.com/lariat-ws/lariat/internal/wstest"
	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
)

// runServer starts a real NATS server on 127.0.0.1, on port (-1: any),
// optionally in a cluster, and shuts it down when the test ends.
func runServer(t testing.TB, port int, cluster *server.ClusterOpts, routes ...string) *server.Server {
	t.Helper()
	o := &server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true, HTTPPort: 0}
	if cluster != nil {
		o.Cluster = *cluster
		for _, r := range routes {
			u, err := url.Parse(r)
			if err != nil {
				t.Fatal(err)
			}
			o.Routes = append(o.Routes, u)
		}
	}
	s, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// stopServer shuts a server down and waits until it is gone.
func stopServer(s *server.Server) {
	s.Shutdown()
	s.WaitForShutdown()
}

// node is one lariat server: an http.Server, an Upgrader, a Hub and a
// Broker on its own NATS connection.
type node struct {
	name  string
	hub   *lariat.Hub
	b     *Broker
	nc    *natsgo.Conn
	up    *lariat.Upgrader
	srv   *http.Server
	base  string
	ended chan lariat.Reason

	reconnected chan struct{}
	disconnect  chan struct{}
	stopOnce    sync.Once
}

type nodeOptions struct {
	backlog     int // Hub.BacklogBytes
	writeBuffer int // shrink the server side socket buffers
	compress    bool
}

// newNode starts a node connected to the NATS server at natsURL.
func newNode(t testing.TB, name, natsURL string, o nodeOptions) *node {
	t.Helper()
	n := &node{
		name:        name,
		ended:       make(chan lariat.Reason, 64),
		reconnected: make(chan struct{}, 16),
		disconnect:  make(chan struct{}, 16),
	}
	nc, err := natsgo.Connect(natsURL,
		natsgo.Name(name),
		natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(20*time.Millisecond),
		natsgo.ReconnectJitter(0, 0),
		natsgo.DisconnectErrHandler(func(*natsgo.Conn, error) { n.disconnect <- struct{}{} }),
		natsgo.ReconnectHandler(func(*natsgo.Conn) { n.reconnected <- struct{}{} }),
	)
	if err != nil {
		t.Fatal(err)
	}
	n.nc = nc
	if n.b, err = New(nc, Options{}); err != nil {
		t.Fatal(err)
	}
	n.hub = &lariat.Hub{Broker: n.b, BacklogBytes: o.backlog}
	n.up = &lariat.Upgrader{New: func(r *http.Request, hs *lariat.Handshake) (lariat.Handler, error) {
		return &subscriber{hub: n.hub, topics: r.URL.Query()["t"], ended: n.ended}, nil
	}}
	if o.compress {
		n.up.Options.Compression = &lariat.CompressionOptions{}
	}
	n.up.Options.CloseTimeout = 300 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.writeBuffer > 0 {
		ln = smallBuffers{ln, o.writeBuffer}
	}
	n.srv = &http.Server{Handler: n.up, ReadHeaderTimeout: 10 * time.Second}
	go n.srv.Serve(ln)
	n.base = "ws://" + ln.Addr().String() + "/"
	t.Cleanup(n.stop)
	return n
}

// stop shuts the node down in order: the Hub (and its Broker), the
// connections, the HTTP server, the NATS connection.
func (n *node) stop() {
	n.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.hub.Close(ctx)
		n.up.Shutdown(ctx)
		n.srv.Close()
		n.nc.Close()
	})
}

// kill ends the node abruptly: its NATS connection first, then its
// connections without waiting for close handshakes.
func (n *node) kill() {
	n.stopOnce.Do(func() {
		n.nc.Close()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		n.up.Shutdown(ctx)
		n.srv.Close()
		n.hub.Close(ctx)
	})
}

// smallBuffers shrinks the send buffer of accepted connections, so that a
// client that does not read fills it after a few messages.
type smallBuffers struct {
	net.Listener
	size int
}

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(l.size)
	}
	return c, err
}

// subscriber subscribes, in Init, to the topics of its request's "t"
// query values, then sends "ready".
type subscriber struct {
	lariat.Base
	hub    *lariat.Hub
	topics []string
	ended  chan lariat.Reason
}

func (h *subscriber) Init(c *lariat.Conn) error {
	for _, t := range h.topics {
		if err := h.hub.Subscribe(c, t); err != nil {
			return err
		}
	}
	return c.SendText("ready")
}

func (h *subscriber) Terminate(c *lariat.Conn, r lariat.Reason) { h.ended <- r }

// dial connects a client to n subscribed to topics, and waits until its
// subscriptions are in place on n (not yet on the NATS servers: see
// waitInterest).
func (n *node) dial(t testing.TB, topics []string, opts ...wstest.Option) *wstest.Conn {
	t.Helper()
	c := wstest.Dial(t, n.base+"?"+url.Values{"t": topics}.Encode(), opts...)
	c.WantText("ready")
	return c
}

// waitInterest waits until server s knows of want subscriptions (local
// clients, plus one per route with interest) to topic's subject.
func waitInterest(t testing.TB, s *server.Server, topic string, want int) {
	t.Helper()
	subj := Subject("lariat", topic)
	for range 2000 {
		if s.GlobalAccount().Interest(subj) >= want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("server %s: interest in %s is %d, want %d", s.Name(), subj, s.GlobalAccount().Interest(subj), want)
}

// waitSignal waits, boundedly, for a signal on ch.
func waitSignal(t *testing.T, ch chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// msg is "publisher seq".
func msg(pub string, seq int) []byte { return []byte(pub + " " + strconv.Itoa(seq)) }

// tally reads messages from c until it has seen, from each publisher,
// the sequence number given in last, checking that each publisher's
// messages come once and in order. It returns the numbers seen per
// publisher.
func tally(c *wstest.Conn, last map[string]int) (map[string][]int, error) {
	seen := make(map[string][]int)
	done := 0
	for done < len(last) {
		_, m, err := c.ReadMessage()
		if err != nil {
			return seen, err
		}
		pub, s, ok := strings.Cut(string(m), " ")
		seq, err := strconv.Atoi(s)
		if !ok || err != nil {
			return seen, fmt.Errorf("unexpected message %q", m)
		}
		if prev := seen[pub]; len(prev) > 0 && prev[len(prev)-1] >= seq {
			return seen, fmt.Errorf("publisher %s: %d after %d (duplicate or out of order)", pub, seq, prev[len(prev)-1])
		}
		seen[pub] = append(seen[pub], seq)
		if seq == last[pub] {
			done++
		}
	}
	return seen, nil
}

// tallyAll runs tally on every client at once and fails the test on the
// first error.
func tallyAll(t *testing.T, clients []*wstest.Conn, last map[string]int) []map[string][]int {
	t.Helper()
	out := make([]map[string][]int, len(clients))
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() { out[i], errs[i] = tally(c, last) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
	}
	return out
}

// span is the numbers lo..hi.
func span(lo, hi int) []int {
	var s []int
	for i := lo; i <= hi; i++ {
		s = append(s, i)
	}
	return s
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkNoLeaks fails the test if goroutines of lariat, the Broker,
// nats.go or the NATS server outlive it. It runs last, after every other
// cleanup.
func checkNoLeaks(t *testing.T) {
	t.Cleanup(func() {
		var buf []byte
		for range 500 {
			buf = make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			if !leaked(buf) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Errorf("goroutines left after the test:\n%s", buf)
	})
}

func leaked(stacks []byte) bool {
	for _, g := range bytes.Split(stacks, []byte("\n\n")) {
		if bytes.Contains(g, []byte("checkNoLeaks")) {
			continue
		}
		for _, marker := range []string{"lariat.(*Conn).serve", "lariat/nats.(*Broker)", "nats-io/nats.go.", "nats-server/v2/server."} {
			if bytes.Contains(g, []byte(marker)) {
				return true
			}
		}
	}
	return false
}
