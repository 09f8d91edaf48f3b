//go:build !nohub

// The broadcast benchmark needs lariat's Hub: cmd/report builds with
// -tags nohub against lariat trees from before it.

package bench

import (
	"bufio"
	"context"

	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coderws "github.com/coder/websocket"
	gorillaws "github.com/gorilla/websocket"
	"github.com/lariat-ws/lariat"
	"github.com/lxzan/gws"
)

var broadcastConns = flag.Int("broadcast.conns", 10000, "BenchmarkBroadcast: connections that receive every message")

// broadcastClientEnv makes the test binary a broadcast client process
// (see TestMain): "addr conns deflate".
const broadcastClientEnv = "LARIAT_BENCH_BROADCAST_CLIENT"

func init() { childMains[broadcastClientEnv] = broadcastClientMain }

// broadcastBatch is how many messages are published before the
// benchmark waits for every client to have them all: it bounds what the
// libraries queue per connection to 16 KiB.
const broadcastBatch = 16

// A fanout is a server whose connections all receive what publish sends.
type fanout struct {
	handler http.Handler
	// publish sends one binary message to every connection so far.
	publish func(msg []byte) error
	// conns is how many connections are ready to receive.
	conns func() int
	// done releases what the server holds for publishing.
	done func()
}

// fanoutLibs lists the broadcast servers, each written with the way its
// library documents for sending one message to many connections: lariat
// Hub.Publish; gws Broadcaster, which frames (and compresses) once;
// gorilla PreparedMessage, likewise, written to each connection in a
// loop; coder has no such API, so a loop of Conn.Write.
var fanoutLibs = []struct {
	name string
	new  func(c Compression) (*fanout, error)
}{
	{"lariat", lariatFanout},
	{"gorilla", gorillaFanout},
	{"coder", coderFanout},
	{"gws", gwsFanout},
}

// registry is the connections a peer's fanout writes to.
type registry[T any] struct {
	mu    sync.Mutex
	conns []T
}

func (r *registry[T]) add(c T) {
	r.mu.Lock()
	r.conns = append(r.conns, c)
	r.mu.Unlock()
}

func (r *registry[T]) snapshot() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns
}

func (r *registry[T]) len() int { return len(r.snapshot()) }

type lariatSubscriber struct {
	lariat.Base
	hub *lariat.Hub
}

func (s lariatSubscriber) Init(c *lariat.Conn) error { return s.hub.Subscribe(c, "all") }

func lariatFanout(comp Compression) (*fanout, error) {
	hub := &lariat.Hub{}
	up := &lariat.Upgrader{New: func(*http.Request, *lariat.Handshake) (lariat.Handler, error) {
		return lariatSubscriber{hub: hub}, nil
	}}
	// Awake connections, as the peers' (see LariatVariants).
	setLariatDuration(&up.Options, "HibernateAfter", -1)
	if comp != Plain && !setLariatCompression(&up.Options, comp) {
		return nil, errLariatNoCompression
	}
	return &fanout{
		handler: up,
		publish: func(msg []byte) error { return hub.Publish("all", lariat.OpBinary, msg) },
		conns:   func() int { return int(hub.Stats().Subscriptions) },
		done:    func() { hub.Close(context.Background()) },
	}, nil
}

func gorillaFanout(comp Compression) (*fanout, error) {
	if comp == Takeover {
		return nil, ErrUnsupported
	}
	var reg registry[*gorillaws.Conn]
	up := &gorillaws.Upgrader{EnableCompression: comp != Plain}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		reg.add(c)
		for {
			if _, _, err := c.NextReader(); err != nil {
				return
			}
		}
	})
	return &fanout{
		handler: h,
		publish: func(msg []byte) error {
			pm, err := gorillaws.NewPreparedMessage(gorillaws.BinaryMessage, msg)
			if err != nil {
				return err
			}
			for _, c := range reg.snapshot() {
				if err := c.WritePreparedMessage(pm); err != nil {
					return err
				}
			}
			return nil
		},
		conns: reg.len,
		done:  func() {},
	}, nil
}

func coderFanout(comp Compression) (*fanout, error) {
	var reg registry[*coderws.Conn]
	opts := &coderws.AcceptOptions{InsecureSkipVerify: true}
	switch comp {
	case Takeover:
		opts.CompressionMode = coderws.CompressionContextTakeover
	case NoTakeover:
		opts.CompressionMode = coderws.CompressionNoContextTakeover
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := coderws.Accept(w, r, opts)
		if err != nil {
			return
		}
		// CloseRead reads control frames until the connection ends.
		ctx := c.CloseRead(context.Background())
		reg.add(c)
		<-ctx.Done()
	})
	return &fanout{
		handler: h,
		publish: func(msg []byte) error {
			for _, c := range reg.snapshot() {
				if err := c.Write(context.Background(), coderws.MessageBinary, msg); err != nil {
					return err
				}
			}
			return nil
		},
		conns: reg.len,
		done:  func() {},
	}, nil
}

type gwsSubscriber struct {
	gws.BuiltinEventHandler
	reg *registry[*gws.Conn]
}

func (s gwsSubscriber) OnOpen(c *gws.Conn) { s.reg.add(c) }

func (s gwsSubscriber) OnMessage(c *gws.Conn, m *gws.Message) { m.Close() }

func gwsFanout(comp Compression) (*fanout, error) {
	reg := &registry[*gws.Conn]{}
	opt := &gws.ServerOption{}
	if comp != Plain {
		opt.PermessageDeflate = gws.PermessageDeflate{
			Enabled:               true,
			ServerContextTakeover: comp == Takeover,
			ClientContextTakeover: comp == Takeover,
		}
	}
	up := gws.NewUpgrader(gwsSubscriber{reg: reg}, opt)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		c.ReadLoop()
	})
	return &fanout{
		handler: h,
		publish: func(msg []byte) error {
			b := gws.NewBroadcaster(gws.OpcodeBinary, msg)
			defer b.Close()
			for _, c := range reg.snapshot() {
				if err := b.Broadcast(c); err != nil {
					return err
				}
			}
			return nil
		},
		conns: reg.len,
		done:  func() {},
	}, nil
}

// BenchmarkBroadcast sends 1 KiB binary messages to every one of
// -broadcast.conns connections of one server, plain and compressed
// without context takeover, each library with its own way of sending one
// message to many (fanoutLibs). The clients run in a process of their
// own and skip what they read; the benchmark publishes 16 messages, waits
// until every client has all 16, and so on. One op is one message
// published; deliveries/s, server CPU and allocations are per delivery,
// that is per message and recipient.
func BenchmarkBroadcast(b *testing.B) {
	conns := *broadcastConns
	if testing.Short() {
		conns = 20
	}
	msg := Binary(1024)
	for _, comp := range []Compression{Plain, NoTakeover} {
		for r := range *rounds {
			for i := range fanoutLibs {
				lib := fanoutLibs[(i+r)%len(fanoutLibs)]
				name := fmt.Sprintf("conns=%d/mode=%s", conns, comp)
				if *rounds > 1 {
					name += fmt.Sprintf("#%02d", r+1)
				}
				b.Run(name+"/lib="+lib.name, func(b *testing.B) {
					f, err := lib.new(comp)
					if err != nil {
						b.Skipf("%s: %v", lib.name, err)
					}
					benchBroadcast(b, f, comp, conns, msg)
				})
			}
		}
	}
}

func benchBroadcast(b *testing.B, f *fanout, comp Compression, conns int, msg []byte) {
	s := startServer(b, f.handler)
	defer s.Close()
	defer f.done()
	deflate := comp != Plain
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(childEnv(), fmt.Sprintf("%s=%s %d %t", broadcastClientEnv, s.Addr(), conns, deflate))
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	stdout := bufio.NewReader(out)
	line, err := stdout.ReadString('\n')
	ext, ok := strings.CutPrefix(strings.TrimSpace(line), "ready")
	if err != nil || !ok {
		b.Fatalf("client process: %q, %v", line, err)
	}
	if deflate && !strings.Contains(ext, "permessage-deflate") {
		b.Fatal("permessage-deflate not negotiated")
	}
	// The handlers register their connections on their own goroutines,
	// after the handshake the clients have seen: wait for the last.
	for deadline := time.Now().Add(30 * time.Second); f.conns() < conns; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d connections registered", f.conns(), conns)
		}
	}
	batch := func(k int) {
		fmt.Fprintf(stdin, "expect %d\n", k)
		for range k {
			if err := f.publish(msg); err != nil {
				b.Fatal(err)
			}
		}
		if line, err := stdout.ReadString('\n'); err != nil || !strings.HasPrefix(line, "done") {
			b.Fatalf("client process: %q, %v", line, err)
		}
	}
	// One batch to warm up, as the echo benchmarks do: what a library
	// allocates once per connection, on its first message, is not a
	// cost per delivery.
	batch(broadcastBatch)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	cpu := cpuTime()
	for sent := 0; sent < b.N; {
		k := min(broadcastBatch, b.N-sent)
		batch(k)
		sent += k
	}
	cpu = cpuTime() - cpu
	b.StopTimer()
	runtime.ReadMemStats(&after)
	d := float64(b.N) * float64(conns)
	b.ReportMetric(d/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(float64(cpu)/d, "cpu-ns/delivery")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/d, "allocs/delivery")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/d, "B/delivery")
}

// broadcastClientMain connects the clients, then for each "expect K"
// on stdin waits until every client has read K more messages and answers
// "done".
func broadcastClientMain() int {
	var addr string
	var conns int
	var deflate bool
	if _, err := fmt.Sscan(os.Getenv(broadcastClientEnv), &addr, &conns, &deflate); err != nil {
		fmt.Println("error bad", broadcastClientEnv, err)
		return 2
	}
	clients, err := dialClients(addr, conns, deflate)
	defer closeClients(clients)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("ready", clients[0].Extensions)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var k int
		if _, err := fmt.Sscanf(sc.Text(), "expect %d", &k); err != nil {
			fmt.Println("error", err)
			return 2
		}
		var wg sync.WaitGroup
		var failed atomic.Pointer[error]
		for _, c := range clients {
			wg.Go(func() {
				for range k {
					if _, err := c.SkipMessage(); err != nil {
						failed.Store(&err)
						return
					}
				}
			})
		}
		wg.Wait()
		if err := failed.Load(); err != nil {
			fmt.Println("error", *err)
			return 1
		}
		fmt.Println("done")
	}
	return 0
}
