//go:build linux

package lariat

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// Parked connections: the tests wait for parkings through
// testHookParked, and for the goroutine of a parked connection to be
// gone through waitNoConnGoroutines.

// waitGoroutineGone waits until no goroutine runs a connection: the one
// of a connection that parked may still be on its way out.
func waitGoroutineGone(t *testing.T) {
	t.Helper()
	waitNoStack(t, "lariat.(*Conn).serve", "the goroutine of a parked connection is still there")
}

// stacksHold reports whether a goroutine's stack holds fn.
func stacksHold(fn string) bool {
	buf := make([]byte, 1<<20)
	return bytes.Contains(buf[:runtime.Stack(buf, true)], []byte(fn))
}

// waitNoStack waits, boundedly, until no goroutine's stack holds fn, and
// fails with msg if one still does.
func waitNoStack(t *testing.T, fn, msg string) {
	t.Helper()
	for range 500 {
		if !stacksHold(fn) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal(msg)
}

// registered counts the connections registered with the poller: parked,
// or about to park.
func registered() int {
	parker.mu.Lock()
	defer parker.mu.Unlock()
	n := 0
	for _, c := range parker.conns {
		if c != nil {
			n++
		}
	}
	return n
}

func noAutoHibernate(u *Upgrader) { u.Options.HibernateAfter = -1 }

// TestParkWakeUps: a hibernating connection parks without a goroutine or
// buffers, and data, posts and its peer's close frame each wake it.
func TestParkWakeUps(t *testing.T) {
	parked := parkings(t)
	h := hibernating()
	wc := wstest.Dial(t, serve(t, h, noAutoHibernate))
	for i := range 3 {
		msg := fmt.Sprint("message ", i)
		wc.WriteText(msg)
		wc.WantText(msg)
		c := waitParked(t, parked)
		waitGoroutineGone(t)
		if got := held(c, true); got != heldNothing {
			t.Fatalf("parked holding %s", got)
		}
		waitParked(t, parked)
		// A post wakes it; Info runs and hibernates; it parks again.
		c.Post(fmt.Sprint("post ", i))
		wc.WantText(fmt.Sprint("post ", i))
		waitParked(t, parked)
	}
	wc.WriteClose(1000, "bye")
	wc.WantClose(1000)
	wc.WantTCPClosed(5 * time.Second)
	if r := h.reason(t); r.Kind != ReasonRemote || r.Code != 1000 {
		t.Fatalf("reason %+v", r)
	}
}

// TestParkPeerVanishes: a parked connection whose peer closes its socket,
// with a FIN or a reset, wakes and ends with ReasonClosed.
func TestParkPeerVanishes(t *testing.T) {
	for _, reset := range []bool{false, true} {
		t.Run(map[bool]string{false: "FIN", true: "RST"}[reset], func(t *testing.T) {
			parked := parkings(t)
			h := hibernating()
			_, nc, br := rawDial(t, serve(t, h, noAutoHibernate))
			nc.Write(wstest.AppendFrame(nil, wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte("hi"), Masked: true}))
			if f, err := wstest.ReadFrameFrom(br, 1<<10); err != nil || string(f.Payload) != "hi" {
				t.Fatalf("echo: %v %v", f, err)
			}
			waitParked(t, parked)
			if reset {
				nc.(*net.TCPConn).SetLinger(0)
			}
			nc.Close()
			if r := h.reason(t); r.Kind != ReasonClosed || r.Code != StatusAbnormalClosure {
				t.Fatalf("reason %+v", r)
			}
		})
	}
}

// TestParkTimers: a parked connection wakes for its timers: it pings its
// quiet peer and parks again; the pong wakes it, and since the pong is
// not a message it parks again at once; a peer that stops answering is
// closed for its silence.
func TestParkTimers(t *testing.T) {
	parked := parkings(t)
	h := hibernating()
	wc := wstest.Dial(t, serve(t, h, noAutoHibernate, func(u *Upgrader) { u.Options.IdleTimeout = 200 * time.Millisecond }))
	wc.WriteText("x")
	wc.WantText("x")
	waitParked(t, parked)
	for range 3 {
		f, err := wc.ReadFrame()
		if err != nil || f.Op != wstest.OpPing {
			t.Fatalf("want ping, got %v %v", f, err)
		}
		waitParked(t, parked) // after sending the ping
		wc.WritePong(f.Payload)
		waitParked(t, parked) // after reading the pong
	}
	if f, err := wc.ReadFrame(); err != nil || f.Op != wstest.OpPing {
		t.Fatalf("want ping, got %v %v", f, err)
	}
	wc.WantClose(1000)
	if r := h.reason(t); r.Kind != ReasonTimeout || r.Text != "idle timeout" {
		t.Fatalf("reason %+v", r)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.frames) != 4 || h.frames[1].Op != OpPong {
		t.Fatalf("Handle and HandleControl saw %v", h.frames)
	}
}

// TestAutoHibernate: with HibernateAfter, a connection that receives
// nothing for that long hibernates, and parks, by itself; the peer's
// next message, or a post, wakes it for as long again.
func TestAutoHibernate(t *testing.T) {
	parked := parkings(t)
	h := hibernating()
	h.onHandle = nil // echo, and no call to Hibernate
	wc := wstest.Dial(t, serve(t, h, func(u *Upgrader) { u.Options.HibernateAfter = 20 * time.Millisecond }))
	for i := range 3 {
		msg := fmt.Sprint("message ", i)
		wc.WriteText(msg)
		wc.WantText(msg)
		c := waitParked(t, parked)
		if got := held(c, false); got != heldNothing {
			t.Fatalf("parked holding %s", got)
		}
		waitParked(t, parked) // the post woke it for HibernateAfter
	}
}

// TestParkShutdown: Shutdown wakes parked connections, which close with
// 1001; when its context ends first, it cuts them off.
func TestParkShutdown(t *testing.T) {
	for _, cut := range []bool{false, true} {
		t.Run(map[bool]string{false: "graceful", true: "cut"}[cut], func(t *testing.T) {
			parked := parkings(t)
			var mu sync.Mutex
			var reasons []Reason
			var up *Upgrader
			url := serve(t, nil, func(u *Upgrader) {
				up = u
				u.Options.CloseTimeout = time.Minute
				u.New = func(*http.Request, *Handshake) (Handler, error) {
					return &funcs{
						onHandle: func(c *Conn, f Frame) error { c.Hibernate(); return c.Send(f) },
						onTerminate: func(c *Conn, r Reason) {
							mu.Lock()
							reasons = append(reasons, r)
							mu.Unlock()
						},
					}, nil
				}
			})
			const n = 3
			var clients []*wstest.Conn
			for range n {
				wc := wstest.Dial(t, url)
				wc.WriteText("hi")
				wc.WantText("hi")
				waitParked(t, parked)
				clients = append(clients, wc)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if cut {
				ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
			}
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- up.Shutdown(ctx) }()
			for _, wc := range clients {
				wc.WantClose(1001)
				if !cut {
					wc.WriteClose(1001, "")
				}
			}
			err := <-done
			if cut != errors.Is(err, context.DeadlineExceeded) || !cut && err != nil {
				t.Fatalf("Shutdown = %v", err)
			}
			if err := up.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(reasons) != n {
				t.Fatalf("%d Terminate calls, want %d", len(reasons), n)
			}
			for _, r := range reasons {
				if r.Kind != ReasonShutdown {
					t.Errorf("reason %+v", r)
				}
			}
		})
	}
}

// TestParkDeflate: a compressed connection that parks between messages
// gives back its compression context and still speaks permessage-deflate
// with context takeover.
func TestParkDeflate(t *testing.T) {
	parked := parkings(t)
	wc := wstest.Dial(t, serve(t, hibernating(), noAutoHibernate, compressed()), wstest.Extensions("permessage-deflate"))
	wc.SetCompress(true)
	for i := range 4 {
		msg := string(jsonish(2000 + i))
		wc.WriteText(msg)
		wc.WantText(msg)
		c := waitParked(t, parked)
		if got := held(c, true); got != heldNothing {
			t.Fatalf("parked holding %s", got)
		}
		waitParked(t, parked)
	}
}

// TestParkHixie: a hixie-76 connection parks and wakes like any other.
func TestParkHixie(t *testing.T) {
	parked := parkings(t)
	h := hibernating()
	addr := legacyServer(t, h, noAutoHibernate)
	c := dialHixie(t, addr, request76(addr, "")+hixieKey3)
	c.readHead()
	c.readN(16)
	for i := range 3 {
		msg := fmt.Sprint("hixie ", i)
		c.send("\x00" + msg + "\xff")
		c.wantText(msg)
		waitParked(t, parked)
	}
	c.send("\xff\x00")
	if got := string(c.readN(2)); got != "\xff\x00" {
		t.Fatalf("got %q, want the closing frame", got)
	}
	c.wantEOF()
	h.reason(t)
}

// TestParkRaces runs parked connections through every kind of wake-up at
// once: data, a stream of posts from several goroutines, pings and pongs
// every few milliseconds, automatic hibernation, and Shutdown part way
// through. Callbacks must never overlap, messages and posts must keep
// their order, and every accepted post must reach Info exactly once.
func TestParkRaces(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 4
	}
	parked := parkings(t)
	for round := range rounds {
		raceRound(t, round)
		n := len(parked)
		for len(parked) > 0 {
			<-parked
		}
		t.Logf("round %d: %d parkings", round, n)
		if t.Failed() {
			return
		}
	}
}

// raceHandler checks, as it goes, what TestParkRaces requires.
type raceHandler struct {
	t         *testing.T
	inside    atomic.Int32
	nextMsg   int
	nextPost  [4]int
	delivered atomic.Int64
	conns     chan *Conn
	done      chan Reason
}

func (h *raceHandler) enter() {
	if h.inside.Add(1) != 1 {
		h.t.Error("two callbacks at once")
	}
}

func (h *raceHandler) exit() { h.inside.Add(-1) }

func (h *raceHandler) Init(c *Conn) error {
	h.enter()
	defer h.exit()
	c.Hibernate()
	h.conns <- c
	return nil
}

func (h *raceHandler) Handle(c *Conn, f Frame) error {
	h.enter()
	defer h.exit()
	if n, err := strconv.Atoi(string(f.Payload)); err != nil || n != h.nextMsg {
		h.t.Errorf("message %q, want %d", f.Payload, h.nextMsg)
	}
	h.nextMsg++
	if h.nextMsg%2 == 0 {
		c.Hibernate()
	}
	return c.Send(f)
}

func (h *raceHandler) HandleControl(c *Conn, f Frame) error { h.enter(); defer h.exit(); return nil }

func (h *raceHandler) Info(c *Conn, msg any) error {
	h.enter()
	defer h.exit()
	p := msg.([2]int)
	if p[1] != h.nextPost[p[0]] {
		h.t.Errorf("post %d from poster %d, want %d", p[1], p[0], h.nextPost[p[0]])
	}
	h.nextPost[p[0]]++
	h.delivered.Add(1)
	if p[1]%8 == 0 {
		c.Hibernate()
		return c.SendText(fmt.Sprintf("p%d-%d", p[0], p[1]))
	}
	return nil
}

func (h *raceHandler) Terminate(c *Conn, r Reason) {
	h.enter()
	defer h.exit()
	h.done <- r
}

func raceRound(t *testing.T, round int) {
	h := &raceHandler{t: t, conns: make(chan *Conn, 1), done: make(chan Reason, 1)}
	var up *Upgrader
	url := serve(t, nil, func(u *Upgrader) {
		up = u
		u.Options.IdleTimeout = 200 * time.Millisecond // pings come often, with room for a loaded machine
		u.Options.HibernateAfter = time.Millisecond
		u.Options.CloseTimeout = 5 * time.Second
		u.New = func(*http.Request, *Handshake) (Handler, error) { return h, nil }
	})
	_, nc, br := rawDial(t, url)
	sc := <-h.conns
	var wmu sync.Mutex
	write := func(f wstest.Frame) error {
		f.Masked = true
		wmu.Lock()
		defer wmu.Unlock()
		_, err := nc.Write(wstest.AppendFrame(nil, f))
		return err
	}
	const messages, posters = 150, 4
	stopAt := 30 + round*37%(messages-30) // the echo after which Shutdown starts
	// Everything is paced by what the reader sees: each echo or ping
	// lets the writer send the next message and each poster post a few.
	echoed := make(chan int, messages)
	pinged := make(chan struct{}, messages)
	var ticks [posters]chan struct{}
	for i := range ticks {
		ticks[i] = make(chan struct{}, 2*messages)
	}
	shutdown := make(chan struct{})
	readerDone := make(chan struct{})
	var closed atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		defer func() {
			close(readerDone)
			close(echoed)
			for _, tk := range ticks {
				close(tk)
			}
		}()
		tick := func() {
			for _, tk := range ticks {
				tk <- struct{}{}
			}
		}
		next := 0
		var nextPost [posters]int
		for {
			nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			f, err := wstest.ReadFrameFrom(br, 1<<20)
			if err != nil {
				t.Errorf("round %d: read: %v", round, err)
				return
			}
			switch f.Op {
			case wstest.OpPing:
				write(wstest.Frame{Fin: true, Op: wstest.OpPong, Payload: f.Payload})
				select {
				case pinged <- struct{}{}:
				default:
				}
				tick()
			case wstest.OpClose:
				closed.Store(true)
				write(wstest.Frame{Fin: true, Op: wstest.OpClose, Payload: f.Payload})
				return
			case wstest.OpText:
				s := string(f.Payload)
				if strings.HasPrefix(s, "p") {
					var poster, n int
					fmt.Sscanf(s, "p%d-%d", &poster, &n)
					if n < nextPost[poster] {
						t.Errorf("round %d: post reply %q out of order", round, s)
					}
					nextPost[poster] = n + 1
					continue
				}
				if n, _ := strconv.Atoi(s); n != next {
					t.Errorf("round %d: echo %q, want %d", round, s, next)
				}
				next++
				if next == stopAt {
					close(shutdown)
				}
				echoed <- next
				tick()
			}
		}
	})
	// The writer: one message per echo, so that the connection parks
	// between them; now and then a burst, and now and then a wait for
	// a ping, which a timer sends.
	wg.Go(func() {
		for i := 0; i < messages && !closed.Load(); i++ {
			if write(wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte(strconv.Itoa(i))}) != nil {
				return
			}
			if i%10 == 0 {
				continue // the next one follows at once
			}
			if _, ok := <-echoed; !ok {
				return
			}
			if i%50 == 25 {
				select {
				case <-pinged:
				case <-shutdown:
				case <-readerDone:
				}
			}
		}
	})
	// The posters: a few posts per tick, and once the reader is gone,
	// posts until Post refuses.
	var accepted atomic.Int64
	for poster := range posters {
		wg.Go(func() {
			post := func(i int) bool {
				for {
					switch err := sc.Post([2]int{poster, i}); {
					case err == nil:
						accepted.Add(1)
						return true
					case errors.Is(err, ErrMailboxFull):
						runtime.Gosched()
					case errors.Is(err, ErrClosed):
						return false
					default:
						t.Errorf("Post: %v", err)
						return false
					}
				}
			}
			i := 0
			for range ticks[poster] {
				for range 1 + (i+poster)%3 {
					if !post(i) {
						return
					}
					i++
				}
			}
			for post(i) {
				i++
			}
		})
	}
	select {
	case <-shutdown:
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := up.Shutdown(ctx); err != nil {
			t.Errorf("round %d: Shutdown = %v", round, err)
		}
	case <-readerDone:
		// The connection ended early: its reason says why.
	}
	r := <-h.done
	wg.Wait()
	if r.Kind != ReasonShutdown {
		t.Errorf("round %d: reason %+v", round, r)
	}
	if a, d := accepted.Load(), h.delivered.Load(); a != d {
		t.Errorf("round %d: %d posts accepted, %d delivered", round, a, d)
	}
}

// BenchmarkWake measures a wake-up: one op is a small message from the
// client and its echo, on a connection that waits for it. "parked"
// parks between messages (Handle calls Hibernate), so each message wakes
// it onto a new goroutine, which reads, echoes and parks again; "plain"
// waits on its goroutine; "fallback" hibernates on a transport that
// cannot park (a wrapped net.Conn), so it waits for one byte and then
// reads the rest. In the post modes one op is a Post and the message
// Info sends for it: "post-plain" wakes a goroutine blocked reading, by
// moving its read deadline; "post-parked" a parked connection, which
// parks again on the registration it left (poller.rearm). wake-ns/op is
// the time from the client's write, or the Post, to the message in the
// client's hands; cpu-ns/op is the CPU time of the process, client
// included, per op.
func BenchmarkWake(b *testing.B) {
	for _, mode := range []string{"plain", "parked", "fallback", "post-plain", "post-parked"} {
		b.Run(mode, func(b *testing.B) { benchWake(b, mode) })
	}
}

func benchWake(b *testing.B, mode string) {
	roundTrip := wakeRig(b, mode)
	for range 100 {
		roundTrip()
	}
	b.ReportAllocs()
	var wake time.Duration
	cpu := cpuTime()
	b.ResetTimer()
	for range b.N {
		wake += roundTrip()
	}
	b.StopTimer()
	b.ReportMetric(float64(wake.Nanoseconds())/float64(b.N), "wake-ns/op")
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
}

// TestWakeAllocs pins what a wake-up allocates: nothing, whether the
// connection waits on its goroutine or parked, when a new goroutine
// takes it up (goServe); one error value when a Post wakes a goroutine
// blocked reading, as the interrupted read returns (net's *OpError).
func TestWakeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	for mode, want := range map[string]float64{"plain": 0, "parked": 0, "post-plain": 1, "post-parked": 0} {
		t.Run(mode, func(t *testing.T) {
			roundTrip := wakeRig(t, mode)
			for range 100 {
				roundTrip()
			}
			if n := testing.AllocsPerRun(200, func() { roundTrip() }); n != want {
				t.Errorf("%v allocations per wake-up, want %v", n, want)
			}
		})
	}
}

// wakeRig serves one echo connection in the given mode of BenchmarkWake
// and returns a function that sends it a small message, waits for the
// echo, and, when the connection parks, for it to park again; it returns
// the time from the write to the echo.
func wakeRig(tb testing.TB, mode string) func() time.Duration {
	parked := make(chan *Conn, 1)
	if strings.HasSuffix(mode, "parked") {
		f := func(c *Conn) { parked <- c }
		testHookParked.Store(&f)
		tb.Cleanup(func() { testHookParked.Store(nil) })
	}
	conns := make(chan *Conn, 1)
	u := &Upgrader{New: func(*http.Request, *Handshake) (Handler, error) {
		return &funcs{onInit: func(c *Conn) error {
			conns <- c
			if mode == "post-parked" {
				c.Hibernate()
			}
			return nil
		}, onHandle: func(c *Conn, f Frame) error {
			if mode != "plain" {
				c.Hibernate()
			}
			return c.Send(f)
		}, onInfo: func(c *Conn, msg any) error {
			if mode == "post-parked" {
				c.Hibernate()
			}
			return c.SendText("wake")
		}}, nil
	}}
	u.Options.HibernateAfter = -1
	srv := httptest.NewUnstartedServer(u)
	if mode == "fallback" {
		srv.Listener = wrappedListener{srv.Listener}
	}
	srv.Start()
	nc, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		nc.Close()
		srv.Close()
		if t, ok := tb.(*testing.T); ok {
			waitNoConnGoroutines(t)
		}
	})
	io.WriteString(nc, rawRequest("ws://"+srv.Listener.Addr().String()+"/"))
	br := bufio.NewReader(nc)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		tb.Fatalf("handshake: %v %v", resp, err)
	}
	frame := wstest.AppendFrame(nil, wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte("wake"), Masked: true, Mask: [4]byte{1, 2, 3, 4}})
	echo := make([]byte, 2+len("wake"))
	c := <-conns
	if mode == "post-parked" {
		<-parked
	}
	return func() time.Duration {
		start := time.Now()
		if strings.HasPrefix(mode, "post") {
			c.Post("w")
		} else if _, err := nc.Write(frame); err != nil {
			tb.Fatal(err)
		}
		if _, err := io.ReadFull(br, echo); err != nil {
			tb.Fatal(err)
		}
		d := time.Since(start)
		if strings.HasSuffix(mode, "parked") {
			<-parked
		}
		return d
	}
}

// TestPollerEnds: the poller's goroutine ends once no connection has
// been parked for pollerLinger, and a later parking starts it again.
func TestPollerEnds(t *testing.T) {
	pollerGone := func() {
		t.Helper()
		waitNoStack(t, "lariat.(*poller).wait", "the poller's goroutine outlived the parked connections")
	}
	parked := parkings(t)
	for range 2 {
		h := hibernating()
		wc := wstest.Dial(t, serve(t, h, noAutoHibernate))
		wc.WriteText("x")
		wc.WantText("x")
		waitParked(t, parked)
		if !stacksHold("lariat.(*poller).wait") {
			t.Fatal("no poller goroutine while a connection is parked")
		}
		wc.Close()
		h.reason(t)
		pollerGone()
	}
}

// TestListenerParks: a connection that only receives what it subscribed
// to parks between deliveries, hibernating or not; once its peer sends
// something it waits on its goroutine again, until the next delivery.
func TestListenerParks(t *testing.T) {
	parked := parkings(t)
	hub := &Hub{}
	base := subServer(t, hub, nil, noAutoHibernate)
	wc := dialSub(t, base, []string{"news"})
	waitBlockedReading(t) // not parked: nothing came from the Hub yet

	hub.Publish("news", OpText, []byte("one"))
	wc.WantText("one")
	waitParked(t, parked)
	waitGoroutineGone(t)

	hub.Publish("news", OpText, []byte("two")) // wakes the parked connection
	wc.WantText("two")
	waitParked(t, parked)

	wc.WriteText("unsub other") // its peer speaks: the answer comes
	wc.WantText("ok")
	waitBlockedReading(t) // from a connection that waits on its goroutine
	select {
	case <-parked:
		t.Fatal("parked after its peer spoke")
	default:
	}

	hub.Publish("news", OpText, []byte("three")) // a read deadline wakes it
	wc.WantText("three")
	waitParked(t, parked)
	wc.Close()
}

// TestListenerWakeAllocs: delivering a publication to connections that
// wait for it allocates nothing per connection. Listeners are parked, so
// a delivery wakes them without moving a read deadline, which would cost
// each an error value (net's *OpError) as its Read returns.
func TestListenerWakeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	var allocs [2]float64
	for i, n := range []int{1, 4} {
		hub := &Hub{}
		parked := parkings(t)
		base := hubServer(t, func(*http.Request) Handler {
			return &subHandler{hub: hub, topics: []string{"news"}}
		}, noAutoHibernate)
		clients := make([]*bufio.Reader, n)
		for j := range clients {
			nc, err := net.Dial("tcp", strings.TrimPrefix(strings.TrimSuffix(base, "/"), "ws://"))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			io.WriteString(nc, rawRequest(base))
			clients[j] = bufio.NewReader(nc)
			if resp, err := http.ReadResponse(clients[j], nil); err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("handshake: %v %v", resp, err)
			}
		}
		timeout := time.After(10 * time.Second)
		msg := []byte("tick")
		frame := make([]byte, 2+len("ready"))
		for _, br := range clients {
			io.ReadFull(br, frame) // "ready"
		}
		frame = frame[:2+len(msg)]
		round := func() {
			hub.Publish("news", OpText, msg)
			for _, br := range clients {
				if _, err := io.ReadFull(br, frame); err != nil {
					t.Fatal(err)
				}
			}
			for range clients {
				select { // not waitParked: its time.After allocates
				case <-parked:
				case <-timeout:
					t.Fatal("no parking")
				}
			}
		}
		for range 20 {
			round()
		}
		allocs[i] = testing.AllocsPerRun(100, round)
	}
	if allocs[0] != allocs[1] {
		t.Errorf("%v allocations per publication to 1 listener, %v to 4", allocs[0], allocs[1])
	}
}

// arms counts the registrations the poller has armed with a system call.
func arms() uint64 {
	parker.mu.Lock()
	defer parker.mu.Unlock()
	return parker.arms
}

// parkedAfterEcho dials a connection that hibernates after each
// message, has it echo one, and returns it once it has parked, with the
// client and the channel of parkings.
func parkedAfterEcho(t *testing.T) (<-chan *Conn, *wstest.Conn, *Conn) {
	t.Helper()
	parked := parkings(t)
	wc := wstest.Dial(t, serve(t, hibernating(), noAutoHibernate))
	wc.WriteText("x")
	wc.WantText("x")
	return parked, wc, waitParked(t, parked)
}

// TestParkAgainWithoutSyscalls: a connection that a post woke parks
// again on the registration it left, without reading its socket or
// re-arming it; one that its socket woke re-arms.
func TestParkAgainWithoutSyscalls(t *testing.T) {
	parked, wc, c := parkedAfterEcho(t)
	before := arms()
	for i := range 5 {
		c.Post(fmt.Sprint("post ", i))
		wc.WantText(fmt.Sprint("post ", i))
		waitParked(t, parked)
	}
	if n := arms() - before; n != 0 {
		t.Errorf("%d registrations armed again for 5 posts, want 0", n)
	}
	wc.WriteText("y")
	wc.WantText("y")
	waitParked(t, parked)
	if n := arms() - before; n != 1 {
		t.Errorf("%d registrations armed after data from the peer, want 1", n)
	}
}

// TestParkDataDuringWake: data that comes while a post has woken a
// parked connection, before or after the registration's event is taken,
// is read: whether the connection parks again on its registration or
// re-arms it, nothing is lost.
func TestParkDataDuringWake(t *testing.T) {
	parked, wc, c := parkedAfterEcho(t)
	for i := range 200 {
		post, data := fmt.Sprint("post ", i), fmt.Sprint("data ", i)
		c.Post(post)
		wc.WriteText(data)
		got := map[string]bool{}
		for range 2 {
			f, err := wc.ReadFrame()
			if err != nil {
				t.Fatalf("round %d: %v", i, err)
			}
			got[string(f.Payload)] = true
		}
		if !got[post] || !got[data] {
			t.Fatalf("round %d: got %v", i, got)
		}
		// Parked once or twice, as the post and the data may wake it
		// separately: wait until it is parked again.
		for c.state.Load() != connParked {
			select {
			case <-parked:
			case <-time.After(10 * time.Second):
				t.Fatal("never parked")
			}
		}
	}
}
