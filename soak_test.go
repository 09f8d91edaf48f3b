package lariat

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// TestSoak runs many connections at once for a while: well-behaved ones
// that exchange numbered messages and sometimes ask the server to pause
// reading, and misbehaving ones that send garbage, vanish mid-frame, read
// slowly or never read. The server must stay responsive, its memory
// bounded, and every message of the well-behaved connections must arrive
// exactly once and in order.
//
// It runs for 3 s by default; LARIAT_SOAK=60s (as CI sets) runs longer
// with more connections.
func TestSoak(t *testing.T) {
	duration, good, bad := 3*time.Second, 60, 20
	if v := os.Getenv("LARIAT_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("LARIAT_SOAK: %v", err)
		}
		duration, good, bad = d, 300, 100
	}
	if testing.Short() {
		duration = time.Second
	}

	u := &Upgrader{
		New: func(*http.Request, *Handshake) (Handler, error) { return &soakHandler{}, nil },
		Options: Options{
			WriteTimeout: time.Second,
			IdleTimeout:  5 * time.Second,
			CloseTimeout: time.Second,
		},
	}
	srv := httptest.NewServer(u)
	defer func() {
		srv.Close()
		waitNoConnGoroutines(t)
	}()
	addr := srv.Listener.Addr().String()

	var before runtime.MemStats
	readMem(&before)
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	var delivered atomic.Int64
	errs := make(chan error, good+bad)
	for i := range good {
		wg.Go(func() {
			n, err := soakGood(addr, i, deadline)
			delivered.Add(int64(n))
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		})
	}
	for i := range bad {
		wg.Go(func() { soakBad(addr, i, deadline) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// Still responsive.
	c := wstest.Dial(t, "ws://"+addr)
	c.WriteText("still there?")
	c.WantText("still there?")
	c.WriteClose(1000, "")
	c.WantClose(1000)

	var after runtime.MemStats
	readMem(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d messages echoed in order; heap %d -> %d bytes", delivered.Load(), before.HeapAlloc, after.HeapAlloc)
	if delivered.Load() == 0 {
		t.Fatal("no message delivered")
	}
	if growth > 64<<20 {
		t.Fatalf("heap grew by %d bytes", growth)
	}
}

// soakHandler echoes, and on "pause" stops reading for a moment: the
// messages sent meanwhile must still arrive, in order, afterwards.
type soakHandler struct{ Base }

func (soakHandler) Handle(c *Conn, f Frame) error {
	if f.Op.isControl() {
		return nil
	}
	if bytes.HasSuffix(f.Payload, []byte(" pause")) {
		c.SetActive(false)
		time.AfterFunc(20*time.Millisecond, func() { c.Post(true) })
	}
	return c.Send(f)
}

func (soakHandler) Info(c *Conn, msg any) error {
	c.SetActive(true)
	return nil
}

func soakDial(addr string) (net.Conn, *bufio.Reader, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(nc, "GET / HTTP/1.1\r\nHost: "+addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: "+goodKey+"\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		return nil, nil, fmt.Errorf("status %s", resp.Status)
	}
	return nc, br, nil
}

func soakFrame(op byte, p []byte) []byte {
	var key [4]byte
	for i := range key {
		key[i] = byte(rand.Uint32())
	}
	return wstest.AppendFrame(nil, wstest.Frame{Fin: true, Op: op, Payload: p, Masked: true, Mask: key})
}

// soakGood sends numbered messages, a few in flight at a time, and checks
// that each comes back once and in order. It returns how many did.
func soakGood(addr string, id int, deadline time.Time) (int, error) {
	nc, br, err := soakDial(addr)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	sent, got := 0, 0
	const window = 4
	for time.Now().Before(deadline) || got < sent {
		for sent-got < window && time.Now().Before(deadline) {
			msg := fmt.Sprintf("client %d message %d %s", id, sent, strings.Repeat("x", rand.IntN(3000)))
			if rand.IntN(50) == 0 {
				msg += " pause"
			}
			nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := nc.Write(soakFrame(wstest.OpText, []byte(msg))); err != nil {
				return got, err
			}
			sent++
		}
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		f, err := wstest.ReadFrameFrom(br, 1<<20)
		if err != nil {
			return got, fmt.Errorf("after %d of %d: %w", got, sent, err)
		}
		want := fmt.Sprintf("client %d message %d ", id, got)
		if f.Op != wstest.OpText || !strings.HasPrefix(string(f.Payload), want) {
			return got, fmt.Errorf("got %v %.40q, want %q", f.Op, f.Payload, want)
		}
		got++
	}
	nc.Write(soakFrame(wstest.OpClose, []byte{3, 0xe8}))
	return got, nil
}

// soakBad misbehaves in turn, until the deadline.
func soakBad(addr string, id int, deadline time.Time) {
	for i := 0; time.Now().Before(deadline); i++ {
		nc, br, err := soakDial(addr)
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		switch (id + i) % 4 {
		case 0: // garbage
			garbage := make([]byte, 64)
			for j := range garbage {
				garbage[j] = byte(rand.Uint32())
			}
			nc.Write(garbage)
			io.Copy(io.Discard, br)
		case 1: // vanish mid-frame, with a reset
			nc.Write(soakFrame(wstest.OpBinary, make([]byte, 5000))[:1000])
			nc.(*net.TCPConn).SetLinger(0)
		case 2: // read slowly
			nc.Write(soakFrame(wstest.OpBinary, make([]byte, 20000)))
			buf := make([]byte, 512)
			for range 10 {
				time.Sleep(5 * time.Millisecond)
				if _, err := br.Read(buf); err != nil {
					break
				}
			}
		case 3: // never read, while asking for large echoes
			p := make([]byte, 64<<10)
			nc.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
			for range 64 {
				if _, err := nc.Write(soakFrame(wstest.OpBinary, p)); err != nil {
					break
				}
			}
		}
		nc.Close()
	}
}

// TestSoakHub runs, for as long as TestSoak, subscribers of three Hubs
// that exchange echoes with the server while publishers publish numbered
// messages and a poster posts numbered messages to some of them, so that
// Hub deliveries, posts, peer data and timers race to wake connections
// that park between them (on Linux) as Hub listeners or hibernating ones.
//
//   - On the main Hub, every subscriber must receive each message
//     published to its topics after its subscription took effect exactly
//     once, in each publisher's order; and every post, exactly once and in
//     order; and every echo. Some hibernate by themselves after 50 ms,
//     some call Hibernate, some are pinged by their idle timeout, some
//     unsubscribe and resubscribe, and some stay connected until
//     Hub.Close and Upgrader.Shutdown end the test.
//   - On a Hub with a small backlog, slow readers, and subscribers of a
//     topic published in bursts larger than the backlog, must be evicted
//     (with 1013, or cut if blocked writing) while the subscribers of
//     another topic, which read, keep every message.
//   - On a third Hub, subscribers vanish with a reset once parked.
//
// At the end the Hubs' Stats must add up, and neither a connection
// goroutine nor a poller registration may be left.
func TestSoakHub(t *testing.T) {
	duration, mains, fasts, slows, bursters, vanishers := 3*time.Second, 24, 4, 4, 2, 6
	if v := os.Getenv("LARIAT_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("LARIAT_SOAK: %v", err)
		}
		duration, mains, fasts, slows, bursters, vanishers = d, 48, 8, 8, 4, 8
	}
	if testing.Short() {
		duration = time.Second
	}

	env := newHubSoak()
	u := &Upgrader{
		New: env.newHandler,
		Options: Options{
			WriteTimeout: 5 * time.Second,
			IdleTimeout:  10 * time.Second,
			CloseTimeout: 5 * time.Second,
		},
	}
	srv := httptest.NewServer(u)
	defer func() {
		srv.Close()
		waitNoConnGoroutines(t)
		if n := registered(); n != 0 {
			t.Errorf("%d connections still registered with the poller", n)
		}
	}()
	addr := srv.Listener.Addr().String()
	hook := func(c *Conn) {
		if h, ok := env.byConn.Load(c); ok {
			h.(*hubSoakHandler).parks.Add(1)
		}
		env.parks.Add(1)
	}
	testHookParked.Store(&hook)
	defer testHookParked.Store(nil)

	var before runtime.MemStats
	readMem(&before)
	deadline := time.Now().Add(duration)

	// Publishers and the poster run until the deadline; then quiet is
	// closed, and the clients check that everything came. The bursts go
	// on until the last subscriber to them has been evicted: on a loaded
	// machine one may subscribe only after the deadline.
	var producers sync.WaitGroup
	burstersDone := make(chan struct{})
	for p := range hubSoakPublishers {
		producers.Go(func() { env.publish(p, deadline, burstersDone) })
	}
	producers.Go(func() { env.post(deadline) })
	go func() {
		producers.Wait()
		close(env.quiet)
	}()

	var clients, stayers sync.WaitGroup
	errs := make(chan error, mains+fasts+slows+bursters+vanishers)
	var stay []*hubSoakClient
	var stayMu sync.Mutex
	run := func(role byte, id int) {
		c, err := env.dial(addr, role, id)
		if err == nil {
			err = c.run(deadline)
		}
		if err != nil {
			errs <- fmt.Errorf("client %c%d: %w", role, id, err)
			return
		}
		if c.plan.stay {
			stayMu.Lock()
			stay = append(stay, c)
			stayMu.Unlock()
			stayers.Add(1)
			go func() {
				defer stayers.Done()
				if err := c.awaitShutdown(); err != nil {
					errs <- fmt.Errorf("client %c%d: %w", role, id, err)
				}
			}()
		}
	}
	for i := range mains {
		clients.Go(func() { run('m', i) })
	}
	for i := range fasts {
		clients.Go(func() { run('f', i) })
	}
	for i := range slows {
		clients.Go(func() { run('s', i) })
	}
	var bursts atomic.Int64
	var burstClients sync.WaitGroup
	for i := range bursters {
		burstClients.Add(1)
		clients.Go(func() {
			defer burstClients.Done()
			// Each connection is evicted by the next burst, 50 ms on.
			for k := 0; time.Now().Before(deadline.Add(-500 * time.Millisecond)); k++ {
				run('b', i*100000+k)
				bursts.Add(1)
			}
		})
	}
	go func() {
		burstClients.Wait()
		close(burstersDone)
	}()
	for i := range vanishers {
		clients.Go(func() {
			if err := env.vanish(addr, i, deadline); err != nil {
				errs <- fmt.Errorf("vanisher %d: %w", i, err)
			}
		})
	}
	clients.Wait()

	// The stayers are quiet now, parked on Linux: close the Hubs, which
	// writes what is left, then shut down, which closes them with 1001.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, h := range env.hubs {
		if err := h.Close(ctx); err != nil {
			t.Errorf("Hub.Close: %v", err)
		}
	}
	if err := u.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	stayers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	waitNoConnGoroutines(t)

	var after runtime.MemStats
	readMem(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if growth > 64<<20 {
		t.Errorf("heap grew by %d bytes", growth)
	}

	env.checkStats(t, mains, fasts+slows+bursters, int(int64(slows)+bursts.Load()), vanishers)
	t.Logf("%d parkings, %d pings, %d peers vanished once parked, %d slow readers and burst subscribers evicted (%d with a close frame), %d stayed to Shutdown; heap %d -> %d bytes",
		env.parks.Load(), env.pings.Load(), env.vanished.Load(), env.evicted.Load(), env.closed.Load(), len(stay), before.HeapAlloc, after.HeapAlloc)
}

// The publishers of TestSoakHub: each publishes to the topics of one Hub,
// a message at a time, numbered from 0 by publisher, the topic chosen by
// the number (hubSoakTopic) so that a client can tell which messages it
// must have received.
const hubSoakPublishers = 5

var hubSoakPubs = [hubSoakPublishers]struct {
	hub    int // index in hubSoak.hubs
	topics []string
	size   int           // payload bytes, at least
	burst  int           // messages published back to back
	every  time.Duration // pace
}{
	{0, []string{"a", "b", "c", "d"}, 40, 1, time.Millisecond},
	{0, []string{"a", "b", "c", "d"}, 200, 1, time.Millisecond},
	{1, []string{"slow"}, 1000, 1, time.Millisecond},
	{2, []string{"v"}, 100, 1, time.Millisecond},
	// Two messages that the backlog of hubTight cannot hold both of.
	{1, []string{"burst"}, 100 << 10, 2, 50 * time.Millisecond},
}

const (
	hubMain   = 0
	hubTight  = 1
	hubVanish = 2

	// tightBacklog is the backlog of hubTight: about 192 of its messages,
	// a fifth of a second of them.
	tightBacklog = 192 << 10
)

// hubSoakTopic is the topic of publisher p's message s.
func hubSoakTopic(p int, s int64) string {
	ts := hubSoakPubs[p].topics
	return ts[int(s+s/5+int64(p))%len(ts)]
}

// hubSoakPlan is what a client of TestSoakHub does, known to the client
// and the server from its role and number.
type hubSoakPlan struct {
	hub       int
	topics    []string // subscribed in Init, for good
	toggle    string   // unsubscribed and subscribed again in turn
	hibernate bool     // calls Hibernate in every callback
	auto      bool     // hibernates by itself after 50 ms
	idle      bool     // an idle timeout short enough to be pinged
	posts     bool     // receives posts
	stay      bool     // stays connected until Shutdown
	slow      bool     // reads slowly, to be evicted
	burst     bool     // subscribed to bursts, to be evicted
}

func hubSoakPlanOf(role byte, id int) hubSoakPlan {
	switch role {
	case 'f':
		return hubSoakPlan{hub: hubTight, topics: []string{"slow"}, auto: id%2 == 0}
	case 's':
		return hubSoakPlan{hub: hubTight, topics: []string{"slow"}, slow: true}
	case 'b':
		return hubSoakPlan{hub: hubTight, topics: []string{"burst"}, burst: true}
	case 'v':
		return hubSoakPlan{hub: hubVanish, topics: []string{"v"}, auto: true}
	}
	ts := hubSoakPubs[0].topics
	p := hubSoakPlan{
		hub:       hubMain,
		topics:    []string{ts[id%4]},
		hibernate: id%5 == 1 || id%5 == 2,
		auto:      id%5 == 3 || id%5 == 4,
		idle:      id%2 == 0,
		posts:     id%3 != 2,
		stay:      id%6 == 5,
	}
	if id%3 == 0 {
		p.topics = append(p.topics, ts[(id+1)%4])
	}
	if id%4 == 1 {
		p.toggle = ts[(id+2)%4]
	}
	return p
}

// hubSoak is the server side of TestSoakHub, and what its clients and
// producers share.
type hubSoak struct {
	hubs [3]*Hub

	// begun holds, by publisher, the number of the message being
	// published (-1 before the first): a subscription whose Subscribe
	// returned before it was read receives every later message.
	begun [hubSoakPublishers]atomic.Int64
	// published holds, by publisher, how many it published: final once
	// quiet is closed.
	published [hubSoakPublishers]atomic.Int64
	quiet     chan struct{}

	byID   sync.Map // "role id" to the *hubSoakHandler of the client's last connection
	byConn sync.Map // *Conn to *hubSoakHandler, for the parking hook

	mu       sync.Mutex
	postable []*hubSoakHandler // under mu

	// Totals over the clients, added as each ends.
	received [3]atomic.Int64 // topic messages read, by Hub
	evicted  atomic.Int64    // clients ended with ReasonBacklogFull
	closed   atomic.Int64    // of those, the ones that got the close frame

	// For the log: what happened how often.
	parks, pings, vanished atomic.Int64
}

func newHubSoak() *hubSoak {
	env := &hubSoak{
		hubs: [3]*Hub{
			{},
			{BacklogBytes: tightBacklog},
			{},
		},
		quiet: make(chan struct{}),
	}
	for p := range env.begun {
		env.begun[p].Store(-1)
	}
	return env
}

// cutoffs reads begun, for a subscription that has taken effect.
func (env *hubSoak) cutoffs() string {
	var b strings.Builder
	for p := range env.begun {
		if p > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(env.begun[p].Load(), 10))
	}
	return b.String()
}

func (env *hubSoak) publish(p int, deadline time.Time, burstersDone <-chan struct{}) {
	pub := hubSoakPubs[p]
	h := env.hubs[pub.hub]
	pad := strings.Repeat("x", pub.size)
	more := func() bool {
		if time.Now().Before(deadline) {
			return true
		}
		if pub.burst == 1 {
			return false
		}
		select {
		case <-burstersDone:
			return false
		default:
			return true
		}
	}
	var s int64
	for ; more(); s++ {
		env.begun[p].Store(s)
		topic := hubSoakTopic(p, s)
		if err := h.Publish(topic, OpText, fmt.Appendf(nil, "t %s %d %d %s", topic, p, s, pad)); err != nil {
			panic(err) // the Hub closes only after the publishers end
		}
		if (s+1)%int64(pub.burst) == 0 {
			time.Sleep(pub.every)
		}
	}
	env.published[p].Store(s)
}

// post posts numbered messages to the clients that take posts, counting
// by connection those Post accepted.
func (env *hubSoak) post(deadline time.Time) {
	for time.Now().Before(deadline) {
		env.mu.Lock()
		hs := slices.Clone(env.postable)
		env.mu.Unlock()
		for _, h := range hs {
			h.postMu.Lock()
			if h.c.Post(h.posted) == nil {
				h.posted++
			}
			h.postMu.Unlock()
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (env *hubSoak) newHandler(r *http.Request, hs *Handshake) (Handler, error) {
	q := r.URL.Query()
	role, id := q.Get("role"), 0
	if len(role) != 1 {
		return nil, fmt.Errorf("role %q", role)
	}
	id, err := strconv.Atoi(q.Get("id"))
	if err != nil {
		return nil, err
	}
	h := &hubSoakHandler{env: env, plan: hubSoakPlanOf(role[0], id), ended: make(chan Reason, 1)}
	h.hub = env.hubs[h.plan.hub]
	if h.plan.auto {
		hs.Options.HibernateAfter = 50 * time.Millisecond
	}
	if h.plan.idle {
		// Pinged after 500 ms without a message: the client's pauses
		// are sometimes longer.
		hs.Options.IdleTimeout = time.Second
	}
	env.byID.Store(q.Get("role")+" "+q.Get("id"), h)
	return h, nil
}

// hubSoakHandler is a subscriber of TestSoakHub. It subscribes in Init
// and answers "ready" with the cutoffs; then "e ..." is echoed, "sub T"
// and "unsub T" subscribe and unsubscribe, answered with "subbed T
// cutoffs" and "unsubbed T"; each post n is sent as "p n".
type hubSoakHandler struct {
	Base
	env   *hubSoak
	plan  hubSoakPlan
	hub   *Hub
	parks atomic.Int64 // parkings, counted by the test's hook
	ended chan Reason

	postMu sync.Mutex
	c      *Conn
	posted int // posts accepted, under postMu
}

func (h *hubSoakHandler) Init(c *Conn) error {
	if h.plan.slow {
		// So that a few messages fill the socket.
		c.nc.(*net.TCPConn).SetWriteBuffer(4096)
	}
	for _, topic := range h.plan.topics {
		if err := h.hub.Subscribe(c, topic); err != nil {
			return err
		}
	}
	if err := c.SendText("ready " + h.env.cutoffs()); err != nil {
		return err
	}
	h.env.byConn.Store(c, h)
	if h.plan.posts {
		h.c = c
		h.env.mu.Lock()
		h.env.postable = append(h.env.postable, h)
		h.env.mu.Unlock()
	}
	h.rest(c)
	return nil
}

// rest hibernates if the plan says so: until the next callback.
func (h *hubSoakHandler) rest(c *Conn) {
	if h.plan.hibernate {
		c.Hibernate()
	}
}

func (h *hubSoakHandler) Handle(c *Conn, f Frame) error {
	if f.Op != OpText {
		return nil
	}
	defer h.rest(c)
	cmd, topic, _ := strings.Cut(string(f.Payload), " ")
	switch cmd {
	case "e":
		return c.Send(f)
	case "sub":
		if err := h.hub.Subscribe(c, topic); err != nil {
			return err
		}
		return c.SendText("subbed " + topic + " " + h.env.cutoffs())
	case "unsub":
		h.hub.Unsubscribe(c, topic)
		return c.SendText("unsubbed " + topic)
	}
	return fmt.Errorf("unknown command %.20q", f.Payload)
}

func (h *hubSoakHandler) Info(c *Conn, msg any) error {
	defer h.rest(c)
	return c.SendText(fmt.Sprint("p ", msg))
}

func (h *hubSoakHandler) Terminate(c *Conn, r Reason) {
	h.env.byConn.Delete(c)
	h.ended <- r
}

// forget drops the server's handler of a client that has ended, so that
// the test keeps no connection alive.
func (c *hubSoakClient) forget() { c.env.byID.Delete(fmt.Sprintf("%c %d", c.role, c.id)) }

// handler returns the handler of the client's connection.
func (env *hubSoak) handler(role byte, id int) *hubSoakHandler {
	h, _ := env.byID.Load(fmt.Sprintf("%c %d", role, id))
	return h.(*hubSoakHandler)
}

// hubSoakClient is a subscriber's peer: its writer sends echoes and
// commands, its reader checks what comes.
type hubSoakClient struct {
	env  *hubSoak
	role byte
	id   int
	plan hubSoakPlan
	h    *hubSoakHandler
	nc   net.Conn
	br   *bufio.Reader

	wmu sync.Mutex // writes

	echoed  chan struct{} // an echo came back
	replies chan string   // a command was answered
	done    chan struct{} // the reader ended; then err is set
	err     error
	closing atomic.Bool // the client sent its close frame

	mu       sync.Mutex
	cutoff   map[string][]int64 // subscribed topics' cutoffs, by publisher
	last     [hubSoakPublishers]int64
	nextEcho int
	nextPost int
	msgs     int64          // topic messages read
	target   *hubSoakTarget // what must come before the client closes
	complete chan struct{}  // closed once target is met
}

// hubSoakTarget is everything the server sent: the publishers' totals
// and the posts accepted.
type hubSoakTarget struct {
	published [hubSoakPublishers]int64
	posts     int
}

func (env *hubSoak) dial(addr string, role byte, id int) (*hubSoakClient, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	plan := hubSoakPlanOf(role, id)
	if plan.slow {
		nc.(*net.TCPConn).SetReadBuffer(4096)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(nc, fmt.Sprintf("GET /?role=%c&id=%d HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", role, id, addr, goodKey))
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err == nil && resp.StatusCode != http.StatusSwitchingProtocols {
		err = fmt.Errorf("status %s", resp.Status)
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	c := &hubSoakClient{
		env: env, role: role, id: id, plan: plan, nc: nc, br: br,
		echoed:   make(chan struct{}, 16),
		replies:  make(chan string, 1),
		done:     make(chan struct{}),
		cutoff:   make(map[string][]int64),
		complete: make(chan struct{}),
	}
	for p := range c.last {
		c.last[p] = -1
	}
	// "ready", with the cutoffs of the topics subscribed in Init.
	f, err := wstest.ReadFrameFrom(br, 1<<20)
	ready, ok := strings.CutPrefix(string(f.Payload), "ready ")
	if err != nil || !ok {
		nc.Close()
		return nil, fmt.Errorf("want ready, got %v %v", f, err)
	}
	cut, err := parseCutoffs(ready)
	if err != nil {
		nc.Close()
		return nil, err
	}
	for _, topic := range plan.topics {
		c.cutoff[topic] = cut
	}
	c.h = env.handler(role, id)
	return c, nil
}

func parseCutoffs(s string) ([]int64, error) {
	fs := strings.Split(s, ",")
	if len(fs) != hubSoakPublishers {
		return nil, fmt.Errorf("cutoffs %q", s)
	}
	cut := make([]int64, len(fs))
	for i, f := range fs {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("cutoffs %q", s)
		}
		cut[i] = n
	}
	return cut, nil
}

// write sends a frame. If it fails because the reader found something
// wrong and closed the connection, it returns what the reader found.
func (c *hubSoakClient) write(op byte, p []byte) error {
	err := c.send(op, p)
	if err != nil && errors.Is(err, net.ErrClosed) {
		<-c.done
		if c.err != nil {
			return c.err
		}
	}
	return err
}

// run plays the plan until the deadline, then waits for everything the
// server sent to come, and closes unless the plan is to stay.
func (c *hubSoakClient) run(deadline time.Time) error {
	go c.read()
	if c.plan.slow || c.plan.burst {
		return c.evicted()
	}
	sent := 0
	const window = 4
	wait := func(ch <-chan struct{}) error {
		select {
		case <-ch:
			return nil
		case <-c.done:
			return c.err
		case <-time.After(10 * time.Second):
			return errors.New("nothing came for 10 s")
		}
	}
	for time.Now().Before(deadline) {
		if sent >= window {
			if err := wait(c.echoed); err != nil {
				return fmt.Errorf("waiting for echo %d: %w", sent-window, err)
			}
		}
		msg := fmt.Sprintf("e %d %s", sent, strings.Repeat("x", rand.IntN(2000)))
		if err := c.write(wstest.OpText, []byte(msg)); err != nil {
			return err
		}
		sent++
		switch n := rand.IntN(40); {
		case n == 0 && c.plan.toggle != "":
			if err := c.toggle(); err != nil {
				return err
			}
		case n < 3:
			// Quiet for a while: the connection parks, and the idle
			// timeout may ping it meanwhile.
			time.Sleep(time.Duration(rand.IntN(700)) * time.Millisecond)
		}
	}
	for range min(sent, window) {
		if err := wait(c.echoed); err != nil {
			return fmt.Errorf("waiting for the last echoes: %w", err)
		}
	}
	// Quiet from here on; wait for every publication and post.
	if err := wait(c.env.quiet); err != nil {
		return err
	}
	target := &hubSoakTarget{}
	for p := range target.published {
		target.published[p] = c.env.published[p].Load()
	}
	if c.plan.posts {
		c.h.postMu.Lock()
		target.posts = c.h.posted
		c.h.postMu.Unlock()
	}
	c.mu.Lock()
	c.target = target
	c.checkComplete()
	c.mu.Unlock()
	if err := wait(c.complete); err != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		return fmt.Errorf("incomplete: %w: echoes %d, posts %d of %d, last %v of %v, subscribed %v",
			err, c.nextEcho, c.nextPost, target.posts, c.last, target.published, c.cutoff)
	}
	if c.plan.stay {
		return nil
	}
	c.closing.Store(true)
	c.write(wstest.OpClose, []byte{3, 0xe8})
	<-c.done
	if c.err != nil {
		return c.err
	}
	c.env.received[c.plan.hub].Add(c.msgs)
	if r := <-c.h.ended; r.Kind != ReasonRemote || r.Code != StatusNormalClosure {
		return fmt.Errorf("ended with %v, want ReasonRemote with 1000", r)
	}
	return nil
}

// toggle unsubscribes from plan.toggle, or subscribes to it again.
func (c *hubSoakClient) toggle() error {
	topic := c.plan.toggle
	c.mu.Lock()
	_, on := c.cutoff[topic]
	// Not owed any more from the moment the server may act.
	delete(c.cutoff, topic)
	c.mu.Unlock()
	cmd, want := "sub ", "subbed "
	if on {
		cmd, want = "unsub ", "unsubbed "
	}
	if err := c.write(wstest.OpText, []byte(cmd+topic)); err != nil {
		return err
	}
	select {
	case r := <-c.replies:
		if !strings.HasPrefix(r, want+topic) {
			return fmt.Errorf("%s%s answered with %q", cmd, topic, r)
		}
		return nil
	case <-c.done:
		return c.err
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s%s: no answer", cmd, topic)
	}
}

// send sends a frame, from the writer or the reader.
func (c *hubSoakClient) send(op byte, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.nc.Write(soakFrame(op, p))
	return err
}

// read checks every frame that comes, until the close frame, an error or
// a check that fails; then sets c.err and closes c.done.
func (c *hubSoakClient) read() {
	defer close(c.done)
	fail := func(err error) {
		c.err = err
		c.nc.Close()
	}
	for {
		c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		f, err := wstest.ReadFrameFrom(c.br, 1<<20)
		if err != nil {
			fail(fmt.Errorf("read: %w", err))
			return
		}
		switch f.Op {
		case wstest.OpPing:
			c.env.pings.Add(1)
			c.send(wstest.OpPong, f.Payload)
		case wstest.OpClose:
			c.err = c.closed(f.Payload)
			c.nc.Close()
			return
		case wstest.OpText:
			if c.plan.slow {
				time.Sleep(20 * time.Millisecond)
			}
			if err := c.check(f.Payload); err != nil {
				fail(err)
				return
			}
		default:
			fail(fmt.Errorf("unexpected %v", f))
			return
		}
	}
}

// closed judges the server's close frame.
func (c *hubSoakClient) closed(p []byte) error {
	code := -1
	if len(p) >= 2 {
		code = int(p[0])<<8 | int(p[1])
	}
	switch {
	case (c.plan.slow || c.plan.burst) && code == int(StatusTryAgainLater):
		return nil
	case c.closing.Load() && code == int(StatusNormalClosure):
		return nil
	case c.plan.stay && code == int(StatusGoingAway):
		c.closing.Store(true)
		return c.send(wstest.OpClose, p[:2])
	}
	return fmt.Errorf("closed with %d %q", code, p)
}

// check checks one text message from the server.
func (c *hubSoakClient) check(p []byte) error {
	head := string(p[:min(len(p), 64)])
	fields := strings.Fields(head)
	if len(fields) == 0 {
		return fmt.Errorf("got %q", head)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.checkComplete()
	switch fields[0] {
	case "e":
		if len(fields) < 2 || fields[1] != strconv.Itoa(c.nextEcho) {
			return fmt.Errorf("got %.20q, want echo %d", p, c.nextEcho)
		}
		c.nextEcho++
		c.echoed <- struct{}{}
	case "p":
		if len(fields) != 2 || fields[1] != strconv.Itoa(c.nextPost) {
			return fmt.Errorf("got %q, want post %d", p, c.nextPost)
		}
		c.nextPost++
	case "t":
		var pub int
		var s int64
		if len(fields) < 4 {
			return fmt.Errorf("got %q", head)
		}
		topic := fields[1]
		pub, err1 := strconv.Atoi(fields[2])
		s, err2 := strconv.ParseInt(fields[3], 10, 64)
		if err1 != nil || err2 != nil || pub >= hubSoakPublishers || hubSoakTopic(pub, s) != topic {
			return fmt.Errorf("got %q", head)
		}
		if s <= c.last[pub] {
			return fmt.Errorf("publisher %d: got message %d after %d", pub, s, c.last[pub])
		}
		if m, ok := c.missing(pub, c.last[pub]+1, s); ok {
			return fmt.Errorf("publisher %d: got message %d, missed %d (on %s)", pub, s, m, hubSoakTopic(pub, m))
		}
		c.last[pub] = s
		c.msgs++
	case "subbed":
		cut, err := parseCutoffs(strings.TrimSpace(string(p[len("subbed "+c.plan.toggle):])))
		if err != nil {
			return err
		}
		c.cutoff[c.plan.toggle] = cut
		c.replies <- string(p)
	case "unsubbed":
		c.replies <- string(p)
	default:
		return fmt.Errorf("unexpected %.20q", p)
	}
	return nil
}

// missing returns a message of publisher pub numbered from..to-1 that
// the client is owed. c.mu must be held.
func (c *hubSoakClient) missing(pub int, from, to int64) (int64, bool) {
	for s := from; s < to; s++ {
		if cut, ok := c.cutoff[hubSoakTopic(pub, s)]; ok && s > cut[pub] {
			return s, true
		}
	}
	return 0, false
}

// checkComplete closes c.complete once the target is met. c.mu must be
// held.
func (c *hubSoakClient) checkComplete() {
	t := c.target
	if t == nil || c.nextPost < t.posts {
		return
	}
	for p := range t.published {
		if _, ok := c.missing(p, c.last[p]+1, t.published[p]); ok {
			return
		}
	}
	c.target = nil
	close(c.complete)
}

// evicted is the run of a slow reader or of a subscriber to bursts: it
// reads until the server closes it with 1013, or cuts it, and its
// Terminate must tell why.
func (c *hubSoakClient) evicted() error {
	select {
	case r := <-c.h.ended:
		if r.Kind != ReasonBacklogFull {
			return fmt.Errorf("ended with %v, want ReasonBacklogFull", r)
		}
	case <-time.After(20 * time.Second):
		c.nc.Close()
		return errors.New("not evicted")
	}
	<-c.done
	c.forget()
	c.mu.Lock()
	c.env.received[c.plan.hub].Add(c.msgs)
	c.mu.Unlock()
	c.env.evicted.Add(1)
	if c.err == nil {
		c.env.closed.Add(1)
	}
	if c.err == nil || errors.Is(c.err, io.EOF) || errors.Is(c.err, io.ErrUnexpectedEOF) || errors.Is(c.err, syscall.ECONNRESET) {
		return nil // closed with 1013, or cut
	}
	return c.err
}

// awaitShutdown waits for a stayer's close 1001.
func (c *hubSoakClient) awaitShutdown() error {
	<-c.done
	c.env.received[c.plan.hub].Add(c.msgs)
	if c.err != nil {
		return c.err
	}
	if r := <-c.h.ended; r.Kind != ReasonShutdown {
		return fmt.Errorf("ended with %v, want ReasonShutdown", r)
	}
	return nil
}

// vanish connects subscribers of hubVanish in turn until the deadline:
// each has one message echoed, waits until its connection parks, and
// vanishes, with a reset or a FIN; its connection must end.
func (env *hubSoak) vanish(addr string, id int, deadline time.Time) error {
	for k := 0; time.Now().Before(deadline); k++ {
		c, err := env.dial(addr, 'v', id*100000+k)
		if err != nil {
			return err
		}
		if err := c.send(wstest.OpText, []byte("e 0")); err != nil {
			return err
		}
		for {
			f, err := wstest.ReadFrameFrom(c.br, 1<<20)
			if err != nil {
				return fmt.Errorf("waiting for the echo: %w", err)
			}
			if f.Op == wstest.OpText && string(f.Payload) == "e 0" {
				break
			}
		}
		// Parked after the echo: as a listener once the next message
		// comes, or hibernating after 50 ms.
		if n := c.h.parks.Load(); canPark {
			for i := 0; c.h.parks.Load() == n; i++ {
				if i == 5000 {
					return errors.New("never parked")
				}
				time.Sleep(time.Millisecond)
			}
		}
		if k%2 == 0 {
			c.nc.(*net.TCPConn).SetLinger(0)
		}
		c.nc.Close()
		env.vanished.Add(1)
		select {
		case <-c.h.ended:
		case <-time.After(10 * time.Second):
			return errors.New("the connection outlived its peer")
		}
		c.forget()
	}
	return nil
}

// checkStats checks each Hub's counters once every connection has ended.
// The Hubs have at most mains, tights and vanishers subscribers at a
// time; evicted of hubTight's are to be evicted.
func (env *hubSoak) checkStats(t *testing.T, mains, tights, evicted, vanishers int) {
	t.Helper()
	for i, h := range env.hubs {
		s := h.Stats()
		var published int64
		for p, pub := range hubSoakPubs {
			if pub.hub == i {
				published += env.published[p].Load()
			}
		}
		received := env.received[i].Load()
		t.Logf("hub %d: %+v; clients read %d", i, s, received)
		if s.Topics != 0 || s.Subscriptions != 0 || h.busy.Load() != 0 {
			t.Errorf("hub %d: %d topics, %d subscriptions and %d backlogs left", i, s.Topics, s.Subscriptions, h.busy.Load())
		}
		if s.Published != uint64(published) || s.Received != 0 || s.Skipped != 0 {
			t.Errorf("hub %d: Stats %+v, want Published %d, Received and Skipped 0", i, s, published)
		}
		// Every message read was delivered (a write cut part way counts
		// those that left whole: TestHubStatsWriteCut); and the messages
		// delivered, dropped or skipped are each a message published to a
		// subscriber.
		if s.Delivered < uint64(received) {
			t.Errorf("hub %d: Delivered %d, but clients read %d", i, s.Delivered, received)
		}
		subscribers := []int{mains, tights, vanishers}[i]
		switch i {
		case hubMain:
			// Every client of the main Hub read to the end.
			if s.Delivered != uint64(received) || s.Evicted != 0 {
				t.Errorf("hub %d: Delivered %d and Evicted %d, want %d and 0", i, s.Delivered, s.Evicted, received)
			}
		case hubTight:
			if s.Evicted != uint64(evicted) || env.evicted.Load() != int64(evicted) {
				t.Errorf("hub %d: Evicted %d, %d clients evicted, want %d", i, s.Evicted, env.evicted.Load(), evicted)
			}
		case hubVanish:
			if s.Evicted != 0 {
				t.Errorf("hub %d: Evicted %d", i, s.Evicted)
			}
		}
		if total := s.Delivered + s.Dropped + s.Skipped; total > uint64(published)*uint64(subscribers) {
			t.Errorf("hub %d: %d delivered, dropped or skipped, more than %d messages to %d subscribers", i, total, published, subscribers)
		}
	}
}
