package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	libs        = []string{"lariat", "gorilla", "coder", "gobwas", "gws"}
	deflateLibs = []string{"lariat", "gorilla", "coder", "gws"}
)

// num formats a value with three significant digits at most and
// thousands separators.
func num(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a < 0.0005:
		// A few allocations in a million messages: a GC cycle
		// refilling a pool, not the message path.
		return "<0.001"
	case a < 0.01:
		return fmt.Sprintf("%.3f", v)
	case a < 10:
		return trimZeros(fmt.Sprintf("%.2f", v))
	case a < 100:
		return trimZeros(fmt.Sprintf("%.1f", v))
	}
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// withSpread formats a median with its spread over the rounds.
func withSpread(s stat) string {
	if !s.ok {
		return "–"
	}
	if s.n < 2 {
		return num(s.median)
	}
	return fmt.Sprintf("%s ±%.0f%%", num(s.median), 50*s.spread)
}

func plain(s stat) string {
	if !s.ok {
		return "–"
	}
	return num(s.median)
}

// paired returns the median over the rounds of peer/lariat, each round's
// peer value divided by the same round's lariat value: libraries that
// ran next to each other shared the machine's state of the moment, so a
// slow spell cancels out of the ratio. It also returns how many rounds
// the peer had the smaller value. Without rounds to pair it falls back
// to the ratio of the medians.
func paired(peer, lariat stat) (r float64, smaller, n int) {
	if len(peer.vals) != len(lariat.vals) || len(peer.vals) < 2 {
		if peer.median < lariat.median {
			smaller = 1
		}
		return peer.median / lariat.median, smaller, 1
	}
	var rs []float64
	for i, l := range lariat.vals {
		if l == 0 {
			continue
		}
		rs = append(rs, peer.vals[i]/l)
		if peer.vals[i] < l {
			smaller++
		}
	}
	if len(rs) == 0 {
		return math.Inf(1), smaller, len(peer.vals)
	}
	return median(rs), smaller, len(peer.vals)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ratio formats peer/lariat.
func ratio(peer, lariat stat) string {
	if !peer.ok || !lariat.ok || lariat.median == 0 {
		return "–"
	}
	r, _, _ := paired(peer, lariat)
	return times2(r)
}

// times2 formats a ratio as "×r" with two decimals, or two significant
// digits below 0.1.
func times2(r float64) string {
	if r < 0.1 {
		return "×" + trimZeros(fmt.Sprintf("%.2g", r))
	}
	return "×" + trimZeros(fmt.Sprintf("%.2f", r))
}

type table struct {
	b *strings.Builder
}

func (t table) row(cells ...string) {
	t.b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
}

func (t table) header(cells ...string) {
	t.row(cells...)
	seps := make([]string, len(cells))
	for i := range seps {
		seps[i] = "---"
		if i > 0 {
			seps[i] = "---:"
		}
	}
	t.row(seps...)
}

// missing explains an empty row: the skip reason, or that nothing ran.
func missing(res *results, key string) string {
	if why, ok := res.skip(key); ok {
		return "n/a (" + why + ")"
	}
	return "not run"
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d runs", n)
}

// behind collects, as sentences, where lariat loses.
type behind struct {
	items []string
}

func (bh *behind) add(format string, args ...any) {
	bh.items = append(bh.items, fmt.Sprintf(format, args...))
}

// lower checks a metric where lower is better (time, bytes, allocations).
func (bh *behind) lower(what, unit, peer string, p, l stat) {
	if !p.ok || !l.ok || l.median == 0 {
		return
	}
	r, smaller, n := paired(p, l)
	if r >= 1 {
		return
	}
	// Fractions of an allocation per hundred messages are a GC cycle
	// refilling a pool, not a cost of the message path.
	if unit == "allocs/msg" && l.median-p.median < 0.01 {
		return
	}
	verb := "takes ×%.2f as long"
	switch unit {
	case "B/conn":
		verb = "uses ×%.2f as much"
	case "allocs/msg":
		verb = "allocates ×%.2f as often"
	}
	bh.add("%s: %s %s %s, lariat %s; lariat "+verb+"%s.", what, peer, num(p.median), unit, num(l.median), 1/r, rounds(peer, smaller, n))
}

// higher checks a metric where higher is better (throughput).
func (bh *behind) higher(what, unit, peer string, p, l stat) {
	if !p.ok || !l.ok || l.median == 0 {
		return
	}
	r, smaller, n := paired(p, l)
	if r <= 1 {
		return
	}
	bh.add("%s: %s %s %s, lariat %s; lariat reaches ×%.2f of that%s.", what, peer, num(p.median), unit, num(l.median), 1/r, rounds(peer, n-smaller, n))
}

// rounds says in how many rounds the peer won, when there were several,
// and whether that many could be luck: a lead is called established when
// a sign test, two-sided, gives it less than a 5% chance of coming from
// two equal libraries (9 of 10 rounds is, 8 of 10 is not).
func rounds(peer string, won, n int) string {
	if n < 2 {
		return ""
	}
	if signTest(won, n) < 0.05 {
		return fmt.Sprintf(" (%s ahead in %d of %d rounds)", peer, won, n)
	}
	return fmt.Sprintf(" (%s ahead in only %d of %d rounds: within this run's noise)", peer, won, n)
}

// signTest returns the two-sided p-value of k or more wins out of n
// rounds between two equally fast libraries.
func signTest(k, n int) float64 {
	tail := 0.0
	for i := k; i <= n; i++ {
		c := 1.0
		for j := range i {
			c = c * float64(n-j) / float64(j+1)
		}
		tail += c
	}
	return math.Min(1, 2*tail/math.Pow(2, float64(n)))
}

func throughputHeader(t table) {
	t.header("library", "msgs/s", "MB/s", "server CPU µs/msg", "client CPU µs/msg", "reads/msg", "writes/msg", "allocs/msg", "B/msg", "msgs/s × lariat", "CPU × lariat")
}

// throughputRow writes one library's row of an echo-over-TCP table.
// CPU µs/msg is the server process's CPU time (user and system, all
// threads, GC included) per message: the client runs in a process of its
// own. It is less disturbed than throughput by other work on the machine.
func throughputRow(t table, res *results, bh *behind, what, lib, key, lariatKey string) {
	ms, cpu := res.get(key, "msgs/s"), res.get(key, "cpu-ns/msg")
	if !ms.ok {
		t.row(lib, missing(res, key), "", "", "", "", "", "", "", "", "")
		return
	}
	lms, lcpu := res.get(lariatKey, "msgs/s"), res.get(lariatKey, "cpu-ns/msg")
	t.row(lib, withSpread(ms), plain(res.get(key, "MB/s")), withSpread(scaled(cpu, 1e-3)), plain(scaled(res.get(key, "client-cpu-ns/msg"), 1e-3)), plain(res.get(key, "reads/msg")), plain(res.get(key, "writes/msg")), plain(res.get(key, "allocs/msg")), plain(res.get(key, "B/msg")), ratio(ms, lms), ratio(cpu, lcpu))
	if lib != "lariat" {
		bh.higher(what+", throughput", "msgs/s", lib, ms, lms)
		bh.lower(what+", server CPU per message", "ns/msg", lib, cpu, lcpu)
	}
}

// scaled returns s with its values multiplied by f.
func scaled(s stat, f float64) stat {
	s.median *= f
	s.vals = slices.Clone(s.vals)
	for i := range s.vals {
		s.vals[i] *= f
	}
	return s
}

// Benchmark names, shared by the tables and the goals.
const (
	readKey      = "BenchmarkRead/msg=%s/size=16KiB/lib=%s"
	copyKey      = "BenchmarkRead/ref=copy/size=16KiB"
	closedKey    = "BenchmarkEchoTCP/size=1KiB/shape=64x1/lib="
	pipelinedKey = "BenchmarkEchoTCP/size=1KiB/shape=16x32/lib="
	deflateKey   = "BenchmarkEchoDeflate/mode=%s/lib=%s"
	idleKey      = "BenchmarkIdle/conns=%s/mode=%s/lib=%s"
)

func render(m machine, res *results, rounds int, analysis []byte) string {
	var b strings.Builder
	t := table{&b}
	var bh behind
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	p("# lariat against its peers\n\n")
	p("<!-- Generated by `go run ./cmd/report`; edit cmd/report or analysis.md, not this file. -->\n\n")
	p("Server-side WebSocket libraries for Go, measured in one run, each library in turn: ")
	var peers, others []string
	for _, v := range m.versions {
		if strings.HasPrefix(v, "klauspost/") {
			others = append(others, v)
		} else {
			peers = append(peers, v)
		}
	}
	p("lariat and %s", strings.Join(peers, ", "))
	if len(others) > 0 {
		p(" (with %s, which lariat and gws share)", strings.Join(others, ", "))
	}
	p(".\n\n")
	p("| | |\n|---|---|\n")
	p("| Go | %s |\n| CPU | %s, %d logical cores |\n| OS | %s |\n", m.goVersion, m.cpu, m.cores, m.kernel)
	p("| lariat | %s |\n", m.lariatRev)
	roundsText := fmt.Sprintf("%d rounds", rounds)
	if rounds == 1 {
		roundsText = "1 round"
	}
	p("| run | %s, %s; %s; load average %s before, %s after |\n",
		m.started.UTC().Format("2006-01-02 15:04 UTC"), m.finished.Sub(m.started).Round(time.Second), roundsText, m.loadBefore, m.loadAfter)
	for _, g := range m.groupLoad {
		if f := strings.Fields(g); len(f) == 7 {
			p("| load average, %s | %s before, %s after |\n", f[0], strings.Join(f[1:4], " "), strings.Join(f[4:], " "))
		}
	}
	p("\n")
	p("This is a shared %d-core virtual machine and other work ran during the measurement (see the load averages: above %d, processes waited for a core): that is why every number carries its spread and every comparison says how many rounds agree. ", m.cores, m.cores)
	p("Numbers are medians over the rounds; ±x%% is half the range between the slowest and the fastest round, as a share of the median. ")
	p("\"× lariat\" is peer/lariat, the median of the per-round ratios (each round's peer against the same round's lariat, which ran next to it): for times and bytes above ×1 means lariat does better, for throughput below ×1 does.\n\n")

	p("## How to run\n\n")
	p("From this directory:\n\n")
	p("```sh\n")
	p("go run ./cmd/report           # the full run (about 9 minutes): rewrites README.md and results/bench.txt\n")
	p("go run ./cmd/report -quick    # smoke run (about a minute): prints the report, writes nothing\n")
	p("go test -short ./...          # the correctness checks behind the benchmarks (seconds)\n")
	p("go test -run '^$' -bench EchoMem -rounds 3 .   # any one benchmark, three interleaved rounds\n")
	p("go test -run '^$' -bench Broadcast -benchtime 32x -rounds 3 .   # one message to 10,000 connections (about 6 minutes; not in the report's run)\n")
	p("go run ./cmd/report -lariat ../../old -lariat .. -o results/compare.md   # lariat against an older tree, read and allocation benchmarks\n")
	p("```\n\n")
	p("`-rounds N` runs every library once per round, in rotated order, inside one process; ")
	p("`go test -count N` would instead repeat each library N times in a row. ")
	p("The raw output of the last full run is in `results/bench.txt` (benchstat reads it; strip the `#01` round suffixes first). ")
	p("`-lariat DIR` measures another lariat tree, e.g. a `git worktree` of an older commit (the harness builds against lariat's API before v1 too); given twice or more it measures lariat alone from each tree, the trees taking turns in every round, and writes a comparison with the first instead of this file (`results/compare-2e01cbc.md` is one). ")
	p("`-from results/bench.txt` renders this file again from the raw output (after editing analysis.md, say); `-only idle` runs one group. ")
	p("CI runs `go test -short -run . -bench . -benchtime 1x ./...`, which runs every benchmark once, the idle ones with 50 connections.\n\n")

	p("## Method\n\n")
	p("- **Same client for all.** A raw RFC 6455 client over `net.Conn` (client.go) writes frames built and masked once, before the timer starts, and parses replies with a few shifts; it allocates nothing per message. Only the server differs.\n")
	p("- **Servers as a careful user writes them** (servers.go): each library's documented public API and default options, one goroutine per connection, whole messages read into a reused buffer where the API is a reader (one per connection; one from a shared pool per message in the idle benchmark). ")
	p("lariat: an `Upgrader` whose `Handle` calls `c.Send(f)`. gorilla: `NextReader` + `WriteMessage`. coder: `Reader` + `Write`, with `context.Background()` so no timer is armed per call. ")
	p("gobwas: `wsutil.Reader` (`NextFrame`, control frames through `wsutil.ControlFrameHandler`) + `ws.WriteFrame` into the hijacked `bufio.Writer`, flushed per message. gws: `OnMessage` calling `WriteMessage`, then `Message.Close` to recycle the buffer.\n")
	p("- **In-memory read path** (memconn.go): every library, lariat included, is handed an in-memory `net.Conn` through its ordinary entry point: `ServeHTTP`/`Upgrade`/`Accept` get an `http.ResponseWriter` whose `Hijack` returns it. The conn replays one masked frame as often as asked, then a close frame; writes go to a counter. No loopback TCP is involved. 100 messages warm up before the timer starts, and the close handshake is left out of the timing.\n")
	p("- **Loopback TCP** for throughput and memory: a real `net/http` server on 127.0.0.1 in the benchmark process, and the clients in a process of their own, so that the CPU time, allocations and memory measured are the server's alone, and the clients do not share the server's scheduler and garbage collector. Both processes share the machine's cores.\n")
	p("- **Defaults differ where the libraries differ**: lariat validates UTF-8 in text messages by default (RFC 6455 §8.1); gorilla, coder, gobwas and gws do not. The text-reading table and the compression benchmark send text.\n\n")

	goals(&b, res)

	// 1. Read path.
	p("## 1. Reading a masked 16 KiB frame\n\n")
	p("`BenchmarkRead`: one masked 16 KiB frame after another, read through each library's public server-side read path as a whole message and dropped. In memory, as described above. CPU ns/msg is the process's CPU time per message (user and system, all threads, GC included), which time spent waiting for a core does not inflate.\n\n")
	p("**Binary**\n\n")
	t.header("library", "ns/msg", "CPU ns/msg", "MB/s", "allocs/msg", "B/msg", "time × lariat", "CPU × lariat")
	readRows(t, res, &bh, "binary", "Reading a 16 KiB binary frame", libs)
	p("\n**Text**, lariat validating UTF-8 as it arrives (the peers do not look at the bytes): *json* is ASCII JSON, *utf8* text in Cyrillic, Greek, CJK and emoji between ASCII spaces, which no ASCII fast path skips. *× copy* is the bandwidth as a fraction of `copy()`'s between two 16 KiB buffers, measured in each round next to the libraries: the median of the per-round ratios of CPU times, which waiting for a core does not inflate.\n\n")
	t.header("message", "library", "ns/msg", "CPU ns/msg", "MB/s", "allocs/msg", "× copy", "time × lariat")
	cp, cpc := res.get(copyKey, "ns/op"), res.get(copyKey, "cpu-ns/msg")
	for _, msg := range []string{"json", "utf8"} {
		lk := fmt.Sprintf(readKey, msg, "lariat")
		for _, lib := range libs {
			key := fmt.Sprintf(readKey, msg, lib)
			ns := res.get(key, "ns/op")
			if !ns.ok {
				continue
			}
			cpu := res.get(key, "cpu-ns/msg")
			if lib != "lariat" {
				what := "Reading 16 KiB of " + msg + " text (lariat validates it, " + lib + " does not)"
				bh.lower(what+", CPU time", "ns/msg", lib, cpu, res.get(lk, "cpu-ns/msg"))
			}
			t.row(msg, lib, withSpread(ns), withSpread(cpu), plain(res.get(key, "MB/s")), plain(res.get(key, "allocs/msg")), ratioOf(cpc, cpu), ratio(ns, res.get(lk, "ns/op")))
		}
	}
	t.row("", "`copy()`", withSpread(cp), withSpread(cpc), plain(res.get(copyKey, "MB/s")), "", "×1", "")
	p("\nUnmasking alone against `copy()` for 16 KiB, from lariat's own `BenchmarkMask` and `BenchmarkCopy` (%s, alternating):\n\n", times(rounds))
	t.header("operation", "ns/op", "MB/s", "× copy")
	mk, rcp := res.get("BenchmarkMask/16384", "ns/op"), res.get("BenchmarkCopy/16384", "ns/op")
	t.row("lariat unmask (`mask`)", withSpread(mk), plain(res.get("BenchmarkMask/16384", "MB/s")), ratio(mk, rcp))
	t.row("`copy()`", withSpread(rcp), plain(res.get("BenchmarkCopy/16384", "MB/s")), "×1")
	p("\n")

	// 2. Allocations.
	p("## 2. Allocations per echoed message, once warm\n\n")
	p("`BenchmarkEchoMem`: read a masked binary message, hand it to the application, write it back; in memory, after 100 warm-up messages. allocs/msg and B/msg are exact averages (testing's allocs/op rounds them down to an integer).\n\n")
	t.header("library", "16 B allocs/msg", "16 B B/msg", "16 B ns/msg", "× lariat", "16 KiB allocs/msg", "16 KiB B/msg", "16 KiB ns/msg", "× lariat")
	l16 := res.get("BenchmarkEchoMem/size=16B/lib=lariat", "ns/op")
	l16k := res.get("BenchmarkEchoMem/size=16KiB/lib=lariat", "ns/op")
	for _, lib := range libs {
		a := "BenchmarkEchoMem/size=16B/lib=" + lib
		c := "BenchmarkEchoMem/size=16KiB/lib=" + lib
		na, nc := res.get(a, "ns/op"), res.get(c, "ns/op")
		t.row(lib,
			plain(res.get(a, "allocs/msg")), plain(res.get(a, "B/msg")), withSpread(na), ratio(na, l16),
			plain(res.get(c, "allocs/msg")), plain(res.get(c, "B/msg")), withSpread(nc), ratio(nc, l16k))
		if lib != "lariat" {
			bh.lower("Echo of 16 B in memory", "ns/msg", lib, na, l16)
			bh.lower("Echo of 16 KiB in memory", "ns/msg", lib, nc, l16k)
			bh.lower("Allocations per 16 B echo", "allocs/msg", lib, res.get(a, "allocs/msg"), res.get("BenchmarkEchoMem/size=16B/lib=lariat", "allocs/msg"))
			bh.lower("Allocations per 16 KiB echo", "allocs/msg", lib, res.get(c, "allocs/msg"), res.get("BenchmarkEchoMem/size=16KiB/lib=lariat", "allocs/msg"))
		}
	}
	p("\n")

	// 3. TCP echo.
	p("## 3. Echo over loopback TCP\n\n")
	p("`BenchmarkEchoTCP`: 1 KiB binary messages; each library runs for about the benchtime per round. MB/s counts the payload one way. Server CPU µs/msg, allocs/msg and B/msg are the server process's; the clients run in another process and allocate nothing per message. Client CPU µs/msg is the client process's, the same work whatever the server: with both processes on two shared cores, it bounds how much a faster server can raise msgs/s. reads/msg and writes/msg count the server's read and write system calls (`syscr` and `syscw` in `/proc/self/io`; a read that finds the socket empty and returns EAGAIN counts too): on this machine the syscalls are most of the CPU time.\n\n")
	p("**Closed loop**: 64 connections, each sending its next message when the echo of the last is back, so the server reads one message at a time.\n\n")
	throughputHeader(t)
	for _, lib := range libs {
		throughputRow(t, res, &bh, "Echo over TCP, closed loop, 64 connections", lib, closedKey+lib, closedKey+"lariat")
	}
	p("\n**Pipelined**: 16 connections, each keeping 32 messages in flight, so a read finds several and a server may answer them with fewer writes than messages.\n\n")
	throughputHeader(t)
	for _, lib := range libs {
		throughputRow(t, res, &bh, "Echo over TCP, pipelined, 16 connections × 32", lib, pipelinedKey+lib, pipelinedKey+"lariat")
	}
	p("\n")

	// 4. Compression.
	p("## 4. Compressed echo (permessage-deflate)\n\n")
	p("`BenchmarkEchoDeflate`: 16 connections, 4 KiB of JSON-like text (compressed by the client to about a quarter), 4 in flight per client. The clients offer what browsers offer, `permessage-deflate; client_max_window_bits`. The server inflates, hands the text over, and compresses its echo. MB/s counts uncompressed payload one way; CPU and allocations are the server's. ")
	p("lariat validates the UTF-8 of every text message, as it does by default; the peers do not by default. ")
	p("*takeover*: both ends keep their compression context between messages, in each library's default window (lariat asks browsers' offers for 13-bit client windows; gws answers 12 bits both ways); *notakeover*: `server_no_context_takeover` and `client_no_context_takeover`. gorilla implements only the latter. gobwas is not part of this comparison.\n\n")
	for _, mode := range []string{"takeover", "notakeover"} {
		p("**%s**\n\n", mode)
		throughputHeader(t)
		for _, lib := range deflateLibs {
			throughputRow(t, res, &bh, "Compressed echo, "+mode, lib, fmt.Sprintf(deflateKey, mode, lib), fmt.Sprintf(deflateKey, mode, "lariat"))
		}
		p("\n")
	}

	// 5. Idle memory.
	idle(&b, m, res, &bh)

	p("## Where lariat is behind\n\n")
	if len(bh.items) == 0 {
		p("Nowhere in this run: lariat has the best median in every table.\n\n")
	} else {
		p("Computed from the tables above: every place a peer did better than lariat, by the median of the per-round ratios, with how many rounds agree.\n\n")
		for _, it := range bh.items {
			p("- %s\n", it)
		}
		p("\n")
	}
	if len(analysis) > 0 {
		p("## Analysis\n\n")
		b.Write(analysis)
		if !strings.HasSuffix(string(analysis), "\n") {
			p("\n")
		}
	}
	return b.String()
}

// readRows writes the rows of a read-path table for one kind of message.
func readRows(t table, res *results, bh *behind, msg, what string, libs []string) {
	lk := fmt.Sprintf(readKey, msg, "lariat")
	lr, lrc := res.get(lk, "ns/op"), res.get(lk, "cpu-ns/msg")
	for _, lib := range libs {
		key := fmt.Sprintf(readKey, msg, lib)
		ns, cpu := res.get(key, "ns/op"), res.get(key, "cpu-ns/msg")
		if !ns.ok {
			t.row(lib, missing(res, key), "", "", "", "", "", "")
			continue
		}
		t.row(lib, withSpread(ns), withSpread(cpu), plain(res.get(key, "MB/s")), plain(res.get(key, "allocs/msg")), plain(res.get(key, "B/msg")), ratio(ns, lr), ratio(cpu, lrc))
		if lib != "lariat" {
			bh.lower(what+", wall time", "ns/msg", lib, ns, lr)
			bh.lower(what+", CPU time", "ns/msg", lib, cpu, lrc)
		}
	}
}

// ratioOf formats num/den, paired by round, as "×r".
func ratioOf(num, den stat) string {
	if !num.ok || !den.ok || den.median == 0 {
		return "–"
	}
	r, _, _ := paired(num, den)
	return times2(r)
}

// idle writes the idle-memory section: one table per connection count
// without compression, lariat's variants (whatever lib=lariat+<name>
// the run has) beside plain lariat, then one with compression.
func idle(b *strings.Builder, m machine, res *results, bh *behind) {
	t := table{b}
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("## 5. Memory per idle connection\n\n")
	p("`BenchmarkIdle`: K connections are upgraded, exchange 4 KiB text messages with the echo server (two, so that whatever a library keeps between messages exists; nine with compression, so that 36 KiB fill any 32 KiB compression window) and then stay idle. ")
	p("The server process's heap (`HeapAlloc`) and goroutine stacks (`StackInuse`) after two GCs, its resident set (`VmRSS`, after `debug.FreeOSMemory` gave back what is free) and its goroutines are compared with those before the first connection, per connection. ")
	p("Each measurement has a fresh server process and a client process of its own, so each needs one descriptor per connection: the hard limit on open files here (%s) bounds K. One measurement per library: memory per connection hardly varies from run to run. ", m.fileLimit)
	p("The servers of gorilla, coder and gobwas read each message into a buffer from a shared pool here, not one kept per connection, so that the numbers are the libraries' own. ")
	p("Plain *lariat* sets `Options.HibernateAfter = -1`, so that its connections stay awake (by default an idle connection hibernates by itself after 10 s); *lariat+hibernated* calls `Conn.Hibernate()` after each message; *lariat+parked* calls nothing and lets `Options.HibernateAfter`, shortened to 100 ms, hibernate the quiet connection (the measurement waits 300 ms). On Linux over TCP a hibernated connection is parked: no goroutine, no buffers, woken by epoll. ")
	p("*baseline* is net/http, a hijack and a goroutine blocked in `Read`, with no WebSocket library: what every row pays before its own state (net/http keeps the hijacked 4 KiB `bufio.Reader` and `bufio.Writer` alive while the handler runs, whether the library uses them or not). RSS also counts what the runtime keeps beside the heap and stacks (span metadata, freed stacks not yet returned), so it is larger than heap + stack.\n\n")
	ks, variants := idleShape(res)
	rows := append(append([]string{"lariat"}, variants...), libs[1:]...)
	rows = append(rows, "baseline")
	for _, k := range ks {
		p("**%s connections, no compression**\n\n", num(float64(atoi(k))))
		t.header("library", "heap B/conn", "stack B/conn", "heap+stack B/conn", "× lariat", "RSS B/conn", "× lariat", "goroutines/conn")
		lt := res.get(fmt.Sprintf(idleKey, k, "plain", "lariat"), "total-B/conn")
		lrss := res.get(fmt.Sprintf(idleKey, k, "plain", "lariat"), "rss-B/conn")
		for _, lib := range rows {
			key := fmt.Sprintf(idleKey, k, "plain", lib)
			tot := res.get(key, "total-B/conn")
			if !tot.ok {
				t.row(lib, missing(res, key), "", "", "", "", "", "")
				continue
			}
			rss := res.get(key, "rss-B/conn")
			t.row(lib, plain(res.get(key, "heap-B/conn")), plain(res.get(key, "stack-B/conn")), plain(tot), ratio(tot, lt), plain(rss), ratio(rss, lrss), plain(res.get(key, "goroutines/conn")))
			if !strings.HasPrefix(lib, "lariat") && lib != "baseline" {
				bh.lower("Idle memory at "+k+" connections, heap+stack", "B/conn", lib, tot, lt)
				bh.lower("Idle memory at "+k+" connections, RSS", "B/conn", lib, rss, lrss)
			}
		}
		p("\n")
	}
	dk := strings.Split(m.idleDeflate, ",")
	if len(dk) == 0 || dk[0] == "" {
		return
	}
	k := dk[0]
	p("**%s connections, permessage-deflate** (fewer: coder keeps a ~1.2 MB compressor per connection with takeover), heap+stack and RSS per connection:\n\n", num(float64(atoi(k))))
	t.header("library", "takeover heap+stack", "× lariat", "takeover RSS", "notakeover heap+stack", "× lariat", "notakeover RSS")
	lto := res.get(fmt.Sprintf(idleKey, k, "takeover", "lariat"), "total-B/conn")
	lnt := res.get(fmt.Sprintf(idleKey, k, "notakeover", "lariat"), "total-B/conn")
	for _, lib := range libs {
		tk, nk := fmt.Sprintf(idleKey, k, "takeover", lib), fmt.Sprintf(idleKey, k, "notakeover", lib)
		tt, nt := res.get(tk, "total-B/conn"), res.get(nk, "total-B/conn")
		cell := func(s stat, key string) string {
			if s.ok {
				return plain(s)
			}
			if _, ok := res.skip(key); ok {
				return "n/a"
			}
			return "–"
		}
		t.row(lib, cell(tt, tk), ratio(tt, lto), plain(res.get(tk, "rss-B/conn")), cell(nt, nk), ratio(nt, lnt), plain(res.get(nk, "rss-B/conn")))
		if lib != "lariat" {
			bh.lower("Idle memory, takeover", "B/conn", lib, tt, lto)
			bh.lower("Idle memory, notakeover", "B/conn", lib, nt, lnt)
		}
	}
	p("\n")
}

// idleShape returns the connection counts of the plain idle runs and the
// lariat variants measured, in order.
func idleShape(res *results) (ks, variants []string) {
	for key := range res.values {
		rest, ok := strings.CutPrefix(key, "BenchmarkIdle/conns=")
		if !ok {
			continue
		}
		f := strings.Split(rest, "/")
		if len(f) != 3 || f[1] != "mode=plain" {
			continue
		}
		if !slices.Contains(ks, f[0]) {
			ks = append(ks, f[0])
		}
		if v := strings.TrimPrefix(f[2], "lib="); strings.HasPrefix(v, "lariat+") && !slices.Contains(variants, v) {
			variants = append(variants, v)
		}
	}
	slices.SortFunc(ks, func(a, b string) int { return atoi(a) - atoi(b) })
	slices.Sort(variants)
	return ks, variants
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
