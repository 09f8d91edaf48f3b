//go:build linux

package lariat

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
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// TestParkMemory measures what an idle connection costs the server, in
// each way it can be idle, with thousands of connections:
//
//	LARIAT_PARKMEM=1 go test -run '^TestParkMemory$' -v -timeout 30m .
//	LARIAT_PARKMEM=10000,19000 ...   # the connection counts; 1 means these two
//
// Each measurement runs in a fresh server process, and the clients in
// another, so that the server's memory holds server state only and each
// process needs one descriptor per connection. Every client exchanges
// nine 4 KiB text messages with the echo server, then stays idle. The
// server reports, per connection, the growth of its heap
// (runtime.MemStats.HeapAlloc after two collections), of its goroutine
// stacks (StackInuse), and of its resident memory (RSS, /proc/self/statm,
// after debug.FreeOSMemory returns the freed pages), and the number of
// goroutines, all against the same figures before the first client.
//
// The modes:
//
//	plain      a connection that does not hibernate, on a TCP socket: its
//	           goroutine waits without a read buffer
//	buffered   the same on a transport that is not a plain socket (here a
//	           wrapped net.Conn, as a TLS connection would be): the
//	           goroutine waits holding the read buffer
//	hibernate  Conn.Hibernate after each message, on that same wrapped
//	           transport: no buffers, but the goroutine stays
//	parked     Conn.Hibernate after each message, on a TCP socket: the
//	           connection parks
//	auto       no call to Hibernate, HibernateAfter 200 ms: the connection
//	           parks by itself
func TestParkMemory(t *testing.T) {
	if role := os.Getenv(parkMemServerEnv); role != "" {
		parkMemServer(t, role)
		return
	}
	if role := os.Getenv(parkMemClientEnv); role != "" {
		parkMemClient(t, role)
		return
	}
	spec := os.Getenv("LARIAT_PARKMEM")
	if spec == "" {
		t.Skip("set LARIAT_PARKMEM=1 to measure idle memory with thousands of connections")
	}
	counts := []int{10000, 19000}
	if spec != "1" {
		counts = nil
		for _, f := range strings.Split(spec, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n <= 0 {
				t.Fatalf("LARIAT_PARKMEM=%q: want 1 or connection counts", spec)
			}
			counts = append(counts, n)
		}
	}
	t.Logf("%-9s %6s %9s %9s %9s %9s %12s", "mode", "conns", "heap B", "stack B", "total B", "RSS B", "goroutines")
	for _, n := range counts {
		for _, mode := range []string{"plain", "buffered", "hibernate", "parked", "auto"} {
			cmd := exec.Command(os.Args[0], "-test.run=^TestParkMemory$", "-test.v")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d", parkMemServerEnv, mode, n))
			cmd.Stderr = os.Stderr
			out, err := cmd.Output()
			var line string
			for _, l := range strings.Split(string(out), "\n") {
				if s, ok := strings.CutPrefix(strings.TrimSpace(l), "parkmem-result "); ok {
					line = s
				}
			}
			if err != nil || line == "" {
				t.Fatalf("%s %d: %v\n%s", mode, n, err, out)
			}
			var heap, stack, rss, gs float64
			if _, err := fmt.Sscan(line, &heap, &stack, &rss, &gs); err != nil {
				t.Fatalf("%s %d: %q: %v", mode, n, line, err)
			}
			t.Logf("%-9s %6d %9.0f %9.0f %9.0f %9.0f %12.2f", mode, n, heap, stack, heap+stack, rss, gs)
		}
	}
}

const (
	parkMemServerEnv = "LARIAT_PARKMEM_SERVER" // "mode n"
	parkMemClientEnv = "LARIAT_PARKMEM_CLIENT" // "addr n"
	parkMemMessages  = 9
)

// parkMemMessage is the text every client sends parkMemMessages times.
var parkMemMessage = jsonish(4 << 10)

// parkMemServer is TestParkMemory's server process: it prints
// "parkmem-result <heap> <stack> <rss> <goroutines>", per connection.
func parkMemServer(t *testing.T, role string) {
	var mode string
	var n int
	if _, err := fmt.Sscan(role, &mode, &n); err != nil {
		t.Fatal(err)
	}
	var handled atomic.Int64
	u := &Upgrader{New: func(*http.Request, *Handshake) (Handler, error) {
		return &funcs{onHandle: func(c *Conn, f Frame) error {
			if mode == "parked" || mode == "hibernate" {
				c.Hibernate()
			}
			err := c.Send(f)
			handled.Add(1)
			return err
		}}, nil
	}}
	u.Options.HibernateAfter = -1
	if mode == "auto" {
		u.Options.HibernateAfter = 200 * time.Millisecond
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if mode == "buffered" || mode == "hibernate" {
		ln = wrappedListener{ln}
	}
	srv := &http.Server{Handler: u, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)

	var before, after runtime.MemStats
	rssBefore := parkMemSettle(&before)
	goroutinesBefore := runtime.NumGoroutine()

	cmd := exec.Command(os.Args[0], "-test.run=^TestParkMemory$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d", parkMemClientEnv, ln.Addr(), n))
	cmd.Env = slicesDelete(cmd.Env, parkMemServerEnv)
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	br := bufio.NewReader(stdout)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("client process: %v", err)
		}
		if strings.HasPrefix(line, "parkmem-ready") {
			break
		}
	}
	// Every echo has been read; wait for the callbacks to return, and,
	// when the connections park, for all of them to be parked.
	for handled.Load() < int64(n*parkMemMessages) {
		time.Sleep(time.Millisecond)
	}
	if mode == "parked" || mode == "auto" {
		for registered() < n {
			time.Sleep(10 * time.Millisecond)
		}
	}
	rssAfter := parkMemSettle(&after)
	goroutines := runtime.NumGoroutine() - goroutinesBefore
	perConn := func(a, b uint64) float64 { return float64(int64(b)-int64(a)) / float64(n) }
	fmt.Printf("parkmem-result %.0f %.0f %.0f %.3f\n",
		perConn(before.HeapAlloc, after.HeapAlloc), perConn(before.StackInuse, after.StackInuse),
		perConn(rssBefore, rssAfter), float64(goroutines)/float64(n))
}

// parkMemSettle lets goroutines settle, collects garbage twice (sync.Pool
// keeps its contents for one collection), reads the memory statistics,
// then returns the freed pages to the system and reports the resident
// memory.
func parkMemSettle(ms *runtime.MemStats) (rss uint64) {
	time.Sleep(200 * time.Millisecond)
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(ms)
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

func slicesDelete(env []string, key string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// parkMemClient is TestParkMemory's client process: it opens n
// connections, echoes parkMemMessages messages on each, prints
// "parkmem-ready" and holds them until its standard input closes.
func parkMemClient(t *testing.T, role string) {
	var addr string
	var n int
	if _, err := fmt.Sscan(role, &addr, &n); err != nil {
		t.Fatal(err)
	}
	frame := wstest.AppendFrame(nil, wstest.Frame{Fin: true, Op: wstest.OpText, Payload: parkMemMessage, Masked: true, Mask: [4]byte{1, 2, 3, 4}})
	conns := make([]net.Conn, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				nc, err := parkMemDial(addr, frame)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				conns[i] = nc
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	fmt.Println("parkmem-ready")
	io.Copy(io.Discard, os.Stdin)
	for _, nc := range conns {
		nc.Close()
	}
}

func parkMemDial(addr string, frame []byte) (net.Conn, error) {
	var nc net.Conn
	var err error
	for try := 0; try < 20; try++ { // a burst of connects can overflow the backlog
		if nc, err = net.Dial("tcp", addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.WriteString(nc, rawRequest("ws://"+addr+"/")); err != nil {
		return nil, err
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("handshake: %s", resp.Status)
	}
	for range parkMemMessages {
		if _, err := nc.Write(frame); err != nil {
			return nil, err
		}
		f, err := wstest.ReadFrameFrom(br, 1<<20)
		if err != nil {
			return nil, err
		}
		if len(f.Payload) != len(parkMemMessage) {
			return nil, errors.New("bad echo")
		}
	}
	nc.SetDeadline(time.Time{})
	return nc, nil
}
