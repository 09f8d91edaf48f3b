package bench

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	tcpConns     = flag.Int("tcp.conns", 64, "client connections in BenchmarkEchoTCP")
	deflateConns = flag.Int("deflate.conns", 16, "client connections in BenchmarkEchoDeflate")
	window       = flag.Int("window", 4, "messages each client keeps in flight")
)

// server is one library's handler behind a real net/http server on a
// loopback port.
type server struct {
	srv  *http.Server
	ln   net.Listener
	live sync.WaitGroup // connections whose handler has not returned
}

func startServer(tb testing.TB, h http.Handler) *server {
	s, err := newServer(h)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func newServer(h http.Handler) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{ln: ln}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.live.Add(1)
		defer s.live.Done()
		h.ServeHTTP(w, r)
	})}
	go s.srv.Serve(ln)
	return s, nil
}

func (s *server) Addr() string { return s.ln.Addr().String() }

// Close stops the server and waits, boundedly, for the hijacked
// connections' handlers, which http.Server.Close does not track: the next
// measurement should not share the CPU with a previous one's teardown.
func (s *server) Close() {
	s.srv.Close()
	done := make(chan struct{})
	go func() { s.live.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

// echoRun is a server with connected clients, set up once for all the
// b.N rounds testing runs a sub-benchmark with.
type echoRun struct {
	s       *server
	clients []*Client
	frame   []byte // the message, as the client sends it
	want    int    // length of the echo, or -1 when compressed
}

func (e *echoRun) close() {
	for _, c := range e.clients {
		c.Write(CloseFrame())
		c.Close()
	}
	e.s.Close()
}

// newEchoRun starts lib's server and connects conns clients. It skips
// when the library cannot serve cfg, and when lariat does not negotiate
// compression yet.
func newEchoRun(b *testing.B, lib Library, cfg Config, conns int, frame []byte, want int) *echoRun {
	h, err := lib.Handler(cfg)
	switch {
	case errors.Is(err, ErrUnsupported):
		b.Skipf("%s: %v", lib.Name, err)
	case errors.Is(err, errLariatNoCompression):
		b.Skipf("lariat: skipped until its compression lands (%v)", err)
	case err != nil:
		b.Fatal(err)
	}
	e := &echoRun{s: startServer(b, h), frame: frame, want: want}
	deflate := cfg.Compression != Plain
	for range conns {
		c, err := Dial(e.s.Addr(), deflate, 0)
		if err != nil {
			e.close()
			b.Fatalf("%s: %v", lib.Name, err)
		}
		e.clients = append(e.clients, c)
		if deflate && !c.Compressing() {
			e.close()
			if lib.Name == "lariat" {
				b.Skip("lariat: the server did not answer with Sec-WebSocket-Extensions: permessage-deflate; skipped until its compression lands")
			}
			b.Fatalf("%s did not negotiate permessage-deflate", lib.Name)
		}
	}
	return e
}

// pump sends b.N messages, spread over the clients as they free up, and
// waits for every echo. Each client keeps up to -window messages in
// flight; a shared budget, not a per-client quota, decides who sends the
// next one, so a slow connection does not stretch the run.
func (e *echoRun) pump(b *testing.B) {
	var budget atomic.Int64
	budget.Store(int64(b.N))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	cpu := cpuTime()
	var wg sync.WaitGroup
	for _, c := range e.clients {
		wg.Go(func() {
			if err := c.pump(&budget, e.frame, *window, e.want); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	cpu = cpuTime() - cpu
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "allocs/msg")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N), "B/msg")
	// The client's share of the CPU is the same whatever the server.
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/msg")
}

// pump is one client's share of echoRun.pump.
func (c *Client) pump(budget *atomic.Int64, frame []byte, window, want int) error {
	c.nc.SetDeadline(time.Now().Add(2 * time.Minute))
	out := 0
	for out < window && budget.Add(-1) >= 0 {
		if err := c.Write(frame); err != nil {
			return err
		}
		out++
	}
	for out > 0 {
		n, err := c.SkipMessage()
		if err != nil {
			return err
		}
		if want >= 0 && n != want {
			return fmt.Errorf("echo of %d bytes, want %d", n, want)
		}
		out--
		if budget.Add(-1) >= 0 {
			if err := c.Write(frame); err != nil {
				return err
			}
			out++
		}
	}
	return nil
}

// benchEcho runs one echo sub-benchmark: the server and clients are set
// up on the first call and kept for the larger b.N that follow.
func benchEcho(b *testing.B, lib Library, cfg Config, conns int, frame []byte, want, payload int) {
	var e *echoRun
	b.Run("lib="+lib.Name, func(b *testing.B) {
		if e == nil {
			e = newEchoRun(b, lib, cfg, conns, frame, want)
		}
		b.SetBytes(int64(payload))
		b.ReportAllocs()
		e.pump(b)
	})
	if e != nil {
		e.close()
	}
}

// BenchmarkEchoTCP is the throughput of an echo server over loopback TCP:
// -tcp.conns clients (64) send 1 KiB binary messages, each keeping
// -window (4) in flight. MB/s counts the payload one way; allocs/msg
// counts the whole process, in which the client allocates nothing.
func BenchmarkEchoTCP(b *testing.B) {
	const size = 1 << 10
	frame := MaskedFrame(OpBinary, false, Binary(size))
	for r := range max(*rounds, 1) {
		b.Run(sizeName(size), func(b *testing.B) {
			for _, lib := range rotated(Libraries, r) {
				benchEcho(b, lib, Config{}, *tcpConns, frame, size, size)
			}
		})
	}
}

// deflateLibraries are the libraries in the compression comparison.
var deflateLibraries = []string{"lariat", "gorilla", "coder", "gws"}

// BenchmarkEchoDeflate is the throughput of a compressing echo server
// over loopback TCP: -deflate.conns clients (16) send 4 KiB of JSON-like
// text, compressed, and the server inflates it and compresses its echo,
// with context takeover and without. MB/s counts uncompressed payload one
// way. lariat's text messages are validated as UTF-8, as it does by
// default; the peers do not validate by default.
func BenchmarkEchoDeflate(b *testing.B) {
	const size = 4 << 10
	text := JSONText(size)
	frame := MaskedFrame(OpText, true, Deflate(text))
	var libs []Library
	for _, name := range deflateLibraries {
		l, _ := LibraryByName(name)
		libs = append(libs, l)
	}
	for r := range max(*rounds, 1) {
		for _, mode := range []Compression{Takeover, NoTakeover} {
			b.Run("mode="+mode.String(), func(b *testing.B) {
				for _, lib := range rotated(libs, r) {
					benchEcho(b, lib, Config{Compression: mode}, *deflateConns, frame, -1, size)
				}
			})
		}
	}
}
