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
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkIdle measures memory per idle connection. In each
// measurement K clients upgrade, exchange 4 KiB text messages with the
// echo server (two, or nine with compression: see idleMessages) and then
// stay idle, and the server process's heap
// (runtime.MemStats.HeapAlloc after two GCs), goroutine stacks
// (StackInuse), resident set (VmRSS, after debug.FreeOSMemory has
// returned what is free to the OS) and goroutines are compared with those
// before the first client. K is -idle.conns for plain connections and
// -idle.deflate.conns with compression; one op is one measurement of K
// connections, so run it with -benchtime 1x.
//
// Each measurement runs in processes of its own: a server process, fresh,
// so that no earlier measurement's freed stacks, pooled buffers or heap
// growth blur its numbers; and a client process, so that the server's
// heap holds nothing but server state and each process needs one
// descriptor per connection, not two (the hard limit on open files is
// often 20,000, which then bounds K).
//
// Modes: plain, where every lariat variant (LariatVariants: lariat after
// Hibernate, for one) is measured beside plain lariat; takeover and
// notakeover with permessage-deflate. The "baseline" library is net/http
// plus a hijack and nothing else, to show what every library pays before
// its own state.
func BenchmarkIdle(b *testing.B) {
	plainConns, deflateConns := *idleConns, *idleDeflateConns
	if testing.Short() {
		// CI's smoke run proves that every process still starts and
		// answers; thousands of connections would take minutes.
		plainConns, deflateConns = flagOr("idle.conns", "50"), flagOr("idle.deflate.conns", "20")
	}
	type mode struct {
		name  string
		conns []int
		libs  []Library
	}
	modes := []mode{
		{"plain", parseConns(b, plainConns), idleLibraries()},
		{"takeover", parseConns(b, deflateConns), Libraries},
		{"notakeover", parseConns(b, deflateConns), Libraries},
	}
	for r := range max(*rounds, 1) {
		for _, m := range modes {
			for _, k := range m.conns {
				b.Run(fmt.Sprintf("conns=%d/mode=%s", k, m.name), func(b *testing.B) {
					for _, lib := range rotated(m.libs, r) {
						b.Run("lib="+lib.Name, func(b *testing.B) { benchIdle(b, lib.Name, m.name, k) })
					}
				})
			}
		}
	}
}

var (
	idleConns        = flag.String("idle.conns", "10000,19000", "BenchmarkIdle: connections per measurement without compression, comma-separated")
	idleDeflateConns = flag.String("idle.deflate.conns", "2000", "BenchmarkIdle: connections per measurement with compression, comma-separated")
)

// flagOr returns the value of the named flag when it was given on the
// command line, else def.
func flagOr(name, def string) string {
	v := def
	flag.Visit(func(f *flag.Flag) {
		if f.Name == name {
			v = f.Value.String()
		}
	})
	return v
}

func parseConns(b *testing.B, list string) []int {
	var ks []int
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		k, err := strconv.Atoi(f)
		if err != nil || k <= 0 {
			b.Fatalf("bad connection count %q", f)
		}
		ks = append(ks, k)
	}
	return ks
}

// idleLibraries are the libraries of the plain idle measurement: lariat,
// its variants, the peers and the baseline.
func idleLibraries() []Library {
	libs := append([]Library{Libraries[0]}, VariantLibraries()...)
	libs = append(libs, Libraries[1:]...)
	return append(libs, Library{"baseline", baselineHandler})
}

func idleConfig(mode string) Config {
	cfg := Config{PoolBuffers: true}
	switch mode {
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
		if !strings.HasPrefix(kv, idleServerEnv+"=") && !strings.HasPrefix(kv, idleClientEnv+"=") && !strings.HasPrefix(kv, idleProfileEnv+"=") && !strings.HasPrefix(kv, echoClientEnv+"=") && !isChildMainVar(kv) {
			env = append(env, kv)
		}
	}
	return env
}

// isChildMainVar reports whether kv sets a variable of childMains.
func isChildMainVar(kv string) bool {
	for env := range childMains {
		if strings.HasPrefix(kv, env+"=") {
			return true
		}
	}
	return false
}

func benchIdle(b *testing.B, lib, mode string, k int) {
	var sum idleResult
	for range b.N {
		r := idleRun(b, lib, mode, k)
		sum.heap += r.heap
		sum.stack += r.stack
		sum.rss += r.rss
		sum.goroutines += r.goroutines
	}
	n := float64(b.N)
	b.ReportMetric(sum.heap/n, "heap-B/conn")
	b.ReportMetric(sum.stack/n, "stack-B/conn")
	b.ReportMetric((sum.heap+sum.stack)/n, "total-B/conn")
	b.ReportMetric(sum.rss/n, "rss-B/conn")
	b.ReportMetric(sum.goroutines/n, "goroutines/conn")
}

// idleResult is what one server process measured, per connection.
type idleResult struct {
	heap, stack, rss, goroutines float64
}

// idleRun runs one server process, which runs its client process, and
// returns what it measured.
func idleRun(b *testing.B, lib, mode string, k int) idleResult {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(childEnv(), fmt.Sprintf("%s=%s %s %d", idleServerEnv, lib, mode, k))
	if *idleProfile != "" {
		cmd.Env = append(cmd.Env, idleProfileEnv+"="+*idleProfile)
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
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
	var r idleResult
	if _, err := fmt.Sscan(rest, &r.heap, &r.stack, &r.rss, &r.goroutines); err != nil {
		b.Fatalf("server process: %q: %v", last, err)
	}
	return r
}

// idleServerMain is BenchmarkIdle's server process. It prints one line:
// "result <heap B/conn> <stack B/conn> <RSS B/conn> <goroutines/conn>",
// "skip <reason>" or "error ...".
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
	rssBefore, goBefore := residentBytes(), runtime.NumGoroutine()

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
	for deadline := time.Now().Add(10 * time.Second); handled.Load() < int64(n*idleMessages(deflate)); {
		if time.Now().After(deadline) {
			fmt.Printf("error the server handled %d of %d messages\n", handled.Load(), n*idleMessages(deflate))
			return 1
		}
		time.Sleep(time.Millisecond)
	}
	settle(&after)
	rssAfter, goAfter := residentBytes(), runtime.NumGoroutine()
	if profile != "" {
		if err := writeHeapProfile(filepath.Join(profile, name+"-"+mode+".heap")); err != nil {
			fmt.Println("error", err)
			return 1
		}
	}
	heap := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
	stack := float64(int64(after.StackInuse)-int64(before.StackInuse)) / float64(n)
	rss := float64(rssAfter-rssBefore) / float64(n)
	goroutines := float64(goAfter-goBefore) / float64(n)
	fmt.Printf("result %.0f %.0f %.0f %.3f\n", heap, stack, rss, goroutines)
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

// idleParkWait is how long settle waits: past two parkedHibernateAfters,
// so that the "parked" variant's connections have hibernated by
// themselves.
const idleParkWait = 2*parkedHibernateAfter + 100*time.Millisecond

// settle lets the connections' goroutines park, collects garbage twice
// (sync.Pool keeps its contents for one collection; hibernating
// connections give their buffers to pools), reads the memory stats and
// returns the free memory to the OS, so that the resident set read next
// is what the process holds.
func settle(ms *runtime.MemStats) {
	time.Sleep(idleParkWait)
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(ms)
	debug.FreeOSMemory()
}

// residentBytes returns the process's resident set size, from
// /proc/self/statm, or 0 where there is none.
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// idleMessage is sent on every connection before it goes idle, and
// echoed: a connection that has exchanged messages holds whatever the
// library keeps between them, which a freshly upgraded one may not have
// allocated yet. Two are enough for that without compression; with it,
// nine (36 KiB in all, more than a 32 KiB DEFLATE window) fill the
// windows of context takeover as full as they get on a long-lived
// connection.
var idleMessage = JSONText(4 << 10)

// idleMessages returns how many messages each connection echoes before
// it goes idle.
func idleMessages(deflate bool) int {
	if deflate {
		return 9
	}
	return 2
}

// idleClientMain is the client process of BenchmarkIdle. It connects,
// upgrades and echoes messages on every connection, says "ready", and
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
	for range idleMessages(deflate) {
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
	if cfg.Compression != Plain {
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
