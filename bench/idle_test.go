package bench

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkIdle measures memory per idle connection. One op is one
// connection: b.N clients (run it with -benchtime=10000x) upgrade,
// exchange nine 4 KiB text messages with the echo server and then stay
// idle, and the server
// process's heap (runtime.MemStats.HeapAlloc after two GCs) and goroutine
// stacks (StackInuse) are compared with those before the first client.
//
// Each measurement runs in processes of its own: a server process, fresh,
// so that no earlier measurement's freed stacks, pooled buffers or heap
// growth blur its numbers; and a client process, so that the server's
// heap holds nothing but server state and each process needs one
// descriptor per connection, not two.
//
// Modes: plain; takeover and notakeover with permessage-deflate; and
// hibernate, lariat only, whose handler calls Conn.Hibernate after each
// message. The "baseline" library is net/http plus a hijack and nothing
// else, to show what every library pays before its own state.
func BenchmarkIdle(b *testing.B) {
	lariat, _ := LibraryByName("lariat")
	modes := []struct {
		name string
		libs []Library
	}{
		{"plain", idleLibraries()},
		{"hibernate", []Library{lariat}},
		{"takeover", Libraries},
		{"notakeover", Libraries},
	}
	for r := range max(*rounds, 1) {
		for _, m := range modes {
			b.Run("mode="+m.name, func(b *testing.B) {
				for _, lib := range rotated(m.libs, r) {
					b.Run("lib="+lib.Name, func(b *testing.B) { benchIdle(b, lib.Name, m.name) })
				}
			})
		}
	}
}

func idleLibraries() []Library {
	return append(append([]Library(nil), Libraries...), Library{"baseline", baselineHandler})
}

func idleConfig(mode string) Config {
	cfg := Config{PoolBuffers: true}
	switch mode {
	case "hibernate":
		cfg.Hibernate = true
	case "takeover":
		cfg.Compression = Takeover
	case "notakeover":
		cfg.Compression = NoTakeover
	}
	return cfg
}

// The test binary turns into one of BenchmarkIdle's processes when one of
// these is set (see TestMain).
const (
	idleServerEnv  = "LARIAT_BENCH_IDLE_SERVER"  // "library mode n"
	idleClientEnv  = "LARIAT_BENCH_IDLE_CLIENT"  // "addr n deflate"
	idleProfileEnv = "LARIAT_BENCH_IDLE_PROFILE" // directory for heap profiles
)

// idleProfile makes every server process of BenchmarkIdle write a heap
// profile of its idle connections, sampling every allocation, to tell
// where each library's bytes per connection go:
//
//	go test -run '^$' -bench 'Idle/mode=plain' -benchtime 2000x -idle.profile /tmp/idle .
//	go tool pprof -sample_index=inuse_space -top /tmp/idle/lariat-plain.heap
var idleProfile = flag.String("idle.profile", "", "directory where BenchmarkIdle's server processes write heap profiles")

// childEnv is this process's environment without the variables that
// choose a role, so that a child gets exactly the role it is given.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, idleServerEnv+"=") && !strings.HasPrefix(kv, idleClientEnv+"=") && !strings.HasPrefix(kv, idleProfileEnv+"=") {
			env = append(env, kv)
		}
	}
	return env
}

func benchIdle(b *testing.B, lib, mode string) {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(childEnv(), fmt.Sprintf("%s=%s %s %d", idleServerEnv, lib, mode, b.N))
	if *idleProfile != "" {
		cmd.Env = append(cmd.Env, idleProfileEnv+"="+*idleProfile)
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	b.StopTimer()
	last := string(bytes.TrimSpace(out))
	if i := strings.LastIndexByte(last, '\n'); i >= 0 {
		last = last[i+1:]
	}
	verb, rest, _ := strings.Cut(last, " ")
	switch {
	case verb == "skip":
		b.Skip(rest)
	case verb != "result" || err != nil:
		b.Fatalf("server process: %v: %s", err, out)
	}
	var heap, stack float64
	if _, err := fmt.Sscan(rest, &heap, &stack); err != nil {
		b.Fatalf("server process: %q: %v", last, err)
	}
	b.ReportMetric(heap, "heap-B/conn")
	b.ReportMetric(stack, "stack-B/conn")
	b.ReportMetric(heap+stack, "total-B/conn")
}

// idleServerMain is BenchmarkIdle's server process. It prints one line:
// "result <heap B/conn> <stack B/conn>", "skip <reason>" or "error ...".
func idleServerMain() int {
	f := strings.Fields(os.Getenv(idleServerEnv))
	if len(f) != 3 {
		fmt.Println("error bad", idleServerEnv)
		return 2
	}
	name, mode := f[0], f[1]
	n, _ := strconv.Atoi(f[2])
	var lib Library
	for _, l := range idleLibraries() {
		if l.Name == name {
			lib = l
		}
	}
	if lib.Handler == nil {
		fmt.Println("error unknown library", name)
		return 2
	}
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && uint64(n)+64 > l.Cur {
		fmt.Printf("skip %d connections need more open files than the limit of %d: raise ulimit -n or lower -benchtime\n", n, l.Cur)
		return 0
	}
	profile := os.Getenv(idleProfileEnv)
	if profile != "" {
		runtime.MemProfileRate = 1
	}
	cfg := idleConfig(mode)
	var handled atomic.Int64
	cfg.OnMessage = func() { handled.Add(1) }
	h, err := lib.Handler(cfg)
	switch {
	case errors.Is(err, ErrUnsupported):
		fmt.Printf("skip %s: %v\n", name, err)
		return 0
	case errors.Is(err, errLariatNoCompression):
		fmt.Printf("skip lariat: skipped until its compression lands (%v)\n", err)
		return 0
	case err != nil:
		fmt.Println("error", err)
		return 1
	}
	s, err := newServer(h)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	defer s.Close()

	var before, after runtime.MemStats
	settle(&before)

	deflate := cfg.Compression != Plain
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(childEnv(), fmt.Sprintf("%s=%s %d %t", idleClientEnv, s.Addr(), n, deflate))
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		fmt.Println("error", err)
		return 1
	}
	defer func() {
		stdin.Close() // the client process closes its connections and exits
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		fmt.Println("error the client process ended early:", err)
		return 1
	}
	ext, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "ready")
	if !ok {
		fmt.Println("error client process:", line)
		return 1
	}
	if deflate && !strings.Contains(ext, "permessage-deflate") {
		if name == "lariat" {
			fmt.Println("skip lariat: the server did not answer with Sec-WebSocket-Extensions: permessage-deflate; skipped until its compression lands")
			return 0
		}
		fmt.Println("error", name, "did not negotiate permessage-deflate")
		return 1
	}
	// The client has read every echo, but a server may still be finishing
	// the callback that sent it.
	for deadline := time.Now().Add(10 * time.Second); handled.Load() < int64(n*idleMessages); {
		if time.Now().After(deadline) {
			fmt.Printf("error the server handled %d of %d messages\n", handled.Load(), n*idleMessages)
			return 1
		}
		time.Sleep(time.Millisecond)
	}
	settle(&after)
	if profile != "" {
		if err := writeHeapProfile(filepath.Join(profile, name+"-"+mode+".heap")); err != nil {
			fmt.Println("error", err)
			return 1
		}
	}
	heap := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
	stack := float64(int64(after.StackInuse)-int64(before.StackInuse)) / float64(n)
	fmt.Printf("result %.0f %.0f\n", heap, stack)
	return 0
}

func writeHeapProfile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("heap").WriteTo(f, 0)
}

// settle lets the connections' goroutines park, collects garbage twice
// (sync.Pool keeps its contents for one collection; hibernating
// connections give their buffers to pools) and reads the memory stats.
func settle(ms *runtime.MemStats) {
	time.Sleep(50 * time.Millisecond)
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(ms)
}

// idleMessage is sent idleMessages times on every connection before it
// goes idle: a connection that has exchanged messages holds whatever the
// library keeps between them, which a freshly upgraded one may not have
// allocated yet. 36 KiB in all is more than a 32 KiB DEFLATE window, so
// that with context takeover the windows are as full as they get on a
// long-lived connection.
var idleMessage = JSONText(4 << 10)

const idleMessages = 9

// idleClientMain is the client process of BenchmarkIdle. It connects,
// upgrades and echoes one message on every connection, says "ready", and
// holds the connections until its standard input closes.
func idleClientMain() int {
	f := strings.Fields(os.Getenv(idleClientEnv))
	if len(f) != 3 {
		fmt.Println("bad", idleClientEnv)
		return 2
	}
	addr := f[0]
	n, _ := strconv.Atoi(f[1])
	deflate := f[2] == "true"
	msg := idleMessage
	frame := MaskedFrame(OpText, false, msg)
	if deflate {
		frame = MaskedFrame(OpText, true, Deflate(msg))
	}
	clients := make([]*Client, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	// A few dialers at once: the listen backlog is finite, and the server
	// gets one connection to upgrade at a time per dialer.
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, err := idleDial(addr, deflate, frame, len(msg))
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				clients[i] = c
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		fmt.Println("error", firstErr)
		return 1
	}
	fmt.Println("ready", clients[0].Extensions)
	io.Copy(io.Discard, os.Stdin)
	for _, c := range clients {
		c.Close()
	}
	return 0
}

func idleDial(addr string, deflate bool, frame []byte, want int) (*Client, error) {
	var c *Client
	var err error
	// A burst of thousands of connects can overflow the listen backlog;
	// a refused or reset dial is retried.
	for try := 0; ; try++ {
		c, err = Dial(addr, deflate, 4096)
		if err == nil || try == 20 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	c.nc.SetDeadline(time.Now().Add(30 * time.Second))
	for range idleMessages {
		if err := c.Write(frame); err != nil {
			return nil, err
		}
		op, compressed, p, err := c.ReadMessage(nil)
		if err != nil {
			return nil, err
		}
		if op != OpText || (!compressed && len(p) != want) {
			return nil, fmt.Errorf("bad echo: op %d, %d bytes, compressed %t", op, len(p), compressed)
		}
	}
	c.nc.SetDeadline(time.Time{})
	return c, nil
}

// baselineHandler upgrades with nothing but net/http's hijack and a
// hand-written 101, then echoes messages with a pooled buffer: the memory
// every library above pays for a connection before its own state. It
// understands only what the idle clients send (masked frames with 16-bit
// lengths).
func baselineHandler(cfg Config) (http.Handler, error) {
	if cfg.Hibernate || cfg.Compression != Plain {
		return nil, ErrUnsupported
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer nc.Close()
		io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+handshakeAccept+"\r\n\r\n")
		for {
			// 2+2 header bytes, then 4 key bytes, then the payload.
			var hdr [8]byte
			if _, err := io.ReadFull(brw, hdr[:]); err != nil || hdr[1]&0x7f != 126 {
				return
			}
			bp := msgPool.Get().(*[]byte)
			n := int(hdr[2])<<8 | int(hdr[3])
			p := append((*bp)[:0], hdr[0], 126, hdr[2], hdr[3])
			p = append(p, make([]byte, n)...)
			if _, err := io.ReadFull(brw, p[4:]); err != nil {
				return
			}
			for i := range n {
				p[4+i] ^= hdr[4+i&3]
			}
			nc.Write(p)
			*bp = p
			msgPool.Put(bp)
			cfg.onMessage()
		}
	}), nil
}
