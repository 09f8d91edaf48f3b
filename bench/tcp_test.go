package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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

// echoShape is how a throughput benchmark's clients load the server:
// how many connections, and how many messages each keeps in flight.
type echoShape struct {
	conns, window int
}

func (s echoShape) String() string { return fmt.Sprintf("%dx%d", s.conns, s.window) }

// The shapes of BenchmarkEchoTCP and BenchmarkEchoDeflate.
var (
	// closedLoop: each client sends its next message once the echo of
	// the last one is back. The server reads one message at a time and
	// answers each with a write of its own.
	closedLoop = echoShape{conns: 64, window: 1}
	// pipelined: each client keeps 32 messages in flight, so the server
	// finds several in each read, and a library can answer them with
	// fewer writes than messages.
	pipelined = echoShape{conns: 16, window: 32}
	// deflateShape loads the compressing servers, whose CPU, not the
	// socket, bounds them.
	deflateShape = echoShape{conns: 16, window: 4}
)

// echoRun is a library's server, in this process, with its clients
// connected from a process of their own: CPU time and allocations
// measured here are then the server's alone, and the client, the same
// for every library, competes for the machine's cores as a real one
// does, but not for this process's scheduler or garbage collector.
type echoRun struct {
	s      *server
	client *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
}

// echoClientEnv makes the test binary an echo client process (see
// TestMain): "addr conns window deflate op size".
const echoClientEnv = "LARIAT_BENCH_ECHO_CLIENT"

// newEchoRun starts lib's server and a client process that connects
// shape.conns clients, which will send messages of size bytes with opcode
// op, compressed with deflate. It skips when the library cannot serve
// cfg.
func newEchoRun(b *testing.B, lib Library, cfg Config, shape echoShape, op byte, size int) *echoRun {
	h, err := lib.Handler(cfg)
	switch {
	case errors.Is(err, ErrUnsupported):
		b.Skipf("%s: %v", lib.Name, err)
	case err != nil:
		b.Fatal(err)
	}
	e := &echoRun{s: startServer(b, h)}
	deflate := cfg.Compression != Plain
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(childEnv(), fmt.Sprintf("%s=%s %d %d %t %d %d", echoClientEnv, e.s.Addr(), shape.conns, shape.window, deflate, op, size))
	cmd.Stderr = os.Stderr
	e.stdin, _ = cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		e.s.Close()
		b.Fatal(err)
	}
	e.client, e.stdout = cmd, bufio.NewReader(out)
	line, err := e.stdout.ReadString('\n')
	ext, ok := strings.CutPrefix(strings.TrimSpace(line), "ready")
	if err != nil || !ok {
		e.close()
		b.Fatalf("%s: client process: %q, %v", lib.Name, line, err)
	}
	if deflate && !strings.Contains(ext, "permessage-deflate") {
		e.close()
		b.Fatalf("%s did not negotiate permessage-deflate", lib.Name)
	}
	return e
}

// close ends the client process, whose clients send close frames, and
// then the server.
func (e *echoRun) close() {
	e.stdin.Close()
	e.client.Wait()
	e.s.Close()
}

// pump has the client process send b.N messages and waits for every
// echo. It reports the server's CPU time and allocations per message.
func (e *echoRun) pump(b *testing.B) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	reads, writes := syscallCounts()
	b.ResetTimer()
	cpu := cpuTime()
	fmt.Fprintf(e.stdin, "pump %d\n", b.N)
	line, err := e.stdout.ReadString('\n')
	cpu = cpuTime() - cpu
	b.StopTimer()
	reads2, writes2 := syscallCounts()
	var clientCPU int64
	if _, serr := fmt.Sscanf(line, "done %d", &clientCPU); err != nil || serr != nil {
		b.Fatalf("client process: %q, %v", strings.TrimSpace(line), err)
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "allocs/msg")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N), "B/msg")
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/msg")
	b.ReportMetric(float64(clientCPU)/float64(b.N), "client-cpu-ns/msg")
	if reads >= 0 {
		// Two of each are the pump command and its answer.
		b.ReportMetric(float64(reads2-reads-2)/float64(b.N), "reads/msg")
		b.ReportMetric(float64(writes2-writes-2)/float64(b.N), "writes/msg")
	}
}

// syscallCounts returns how many read and write system calls the process
// has made (syscr and syscw of /proc/self/io: read, readv, write, writev
// and the like, the calls that net.Conn makes on Linux, those that
// return EAGAIN included), or -1 where the kernel does not say.
func syscallCounts() (reads, writes int64) {
	reads, writes = -1, -1
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "syscr":
			reads = n
		case "syscw":
			writes = n
		}
	}
	return
}

// dialClients connects n clients to addr, offering permessage-deflate
// when deflate is set, and checks that the server answered each the
// same. It returns those connected, even with an error.
func dialClients(addr string, n int, deflate bool) ([]*Client, error) {
	var clients []*Client
	for range n {
		c, err := Dial(addr, deflate, 0)
		if err != nil {
			return clients, err
		}
		clients = append(clients, c)
		if c.Extensions != clients[0].Extensions {
			return clients, fmt.Errorf("the server answered %q, then %q", clients[0].Extensions, c.Extensions)
		}
	}
	return clients, nil
}

// closeClients sends each client a close frame and closes it.
func closeClients(clients []*Client) {
	for _, c := range clients {
		c.Write(CloseFrame())
		c.Close()
	}
}

// echoClientMain is the client process of the throughput benchmarks. It
// connects, says "ready" with the Sec-WebSocket-Extensions the server
// answered, and then, for each line "pump N" on its standard input,
// sends N messages over its connections, reads every echo and says
// "done" with the CPU time it spent, in nanoseconds. When its input ends
// it closes its connections and exits.
func echoClientMain() int {
	var addr string
	var conns, window, op, size int
	var deflate bool
	if _, err := fmt.Sscan(os.Getenv(echoClientEnv), &addr, &conns, &window, &deflate, &op, &size); err != nil {
		fmt.Println("error bad", echoClientEnv, err)
		return 2
	}
	payload := Binary(size)
	if op == OpText {
		payload = JSONText(size)
	}
	frame, want := MaskedFrame(byte(op), false, payload), size
	if deflate {
		frame, want = MaskedFrame(byte(op), true, Deflate(payload)), -1
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
		var n int64
		if _, err := fmt.Sscanf(sc.Text(), "pump %d", &n); err != nil {
			fmt.Println("error", err)
			return 2
		}
		cpu := cpuTime()
		if err := pumpAll(clients, n, frame, window, want); err != nil {
			fmt.Println("error", err)
			return 1
		}
		fmt.Println("done", int64(cpuTime()-cpu))
	}
	return 0
}

// pumpAll sends n messages, spread over the clients as they free up, and
// waits for every echo. Each client keeps up to window messages in
// flight; a shared budget, not a per-client quota, decides who sends the
// next one, so a slow connection does not stretch the run.
func pumpAll(clients []*Client, n int64, frame []byte, window, want int) error {
	var budget atomic.Int64
	budget.Store(n)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for _, c := range clients {
		wg.Go(func() {
			if err := c.pump(&budget, frame, window, want); err != nil {
				once.Do(func() { first = err })
			}
		})
	}
	wg.Wait()
	return first
}

// pump is one client's share of pumpAll.
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
func benchEcho(b *testing.B, lib Library, cfg Config, shape echoShape, op byte, size int) {
	var e *echoRun
	b.Run("lib="+lib.Name, func(b *testing.B) {
		if e == nil {
			e = newEchoRun(b, lib, cfg, shape, op, size)
		}
		b.SetBytes(int64(size))
		b.ReportAllocs()
		e.pump(b)
	})
	if e != nil {
		e.close()
	}
}

// BenchmarkEchoTCP is the throughput of an echo server over loopback
// TCP, with 1 KiB binary messages, in two shapes: closed loop (64
// connections, one message in flight on each) and pipelined (16
// connections, 32 in flight on each). MB/s counts the payload one way;
// CPU time and allocations per message are the server's.
func BenchmarkEchoTCP(b *testing.B) {
	const size = 1 << 10
	for r := range max(*rounds, 1) {
		for _, shape := range []echoShape{closedLoop, pipelined} {
			b.Run(sizeName(size)+"/shape="+shape.String(), func(b *testing.B) {
				for _, lib := range rotated(Libraries, r) {
					benchEcho(b, lib, Config{}, shape, OpBinary, size)
				}
			})
		}
	}
}

// deflateLibraries are the libraries in the compression comparison.
var deflateLibraries = []string{"lariat", "gorilla", "coder", "gws"}

// BenchmarkEchoDeflate is the throughput of a compressing echo server
// over loopback TCP: 16 clients send 4 KiB of JSON-like text,
// compressed, 4 in flight on each, and the server inflates it and
// compresses its echo, with context takeover and without. The clients
// offer what browsers offer, "permessage-deflate; client_max_window_bits".
// MB/s counts uncompressed payload one way. lariat's text messages are
// validated as UTF-8, as it does by default; the peers do not validate by
// default.
func BenchmarkEchoDeflate(b *testing.B) {
	const size = 4 << 10
	var libs []Library
	for _, name := range deflateLibraries {
		l, _ := LibraryByName(name)
		libs = append(libs, l)
	}
	for r := range max(*rounds, 1) {
		for _, mode := range []Compression{Takeover, NoTakeover} {
			b.Run("mode="+mode.String(), func(b *testing.B) {
				for _, lib := range rotated(libs, r) {
					benchEcho(b, lib, Config{Compression: mode}, deflateShape, OpText, size)
				}
			})
		}
	}
}
