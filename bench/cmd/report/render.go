package main

import (
	"fmt"
	"math"
	"slices"
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
	t.header("library", "msgs/s", "MB/s", "CPU µs/msg", "allocs/msg", "B/msg", "msgs/s × lariat", "CPU × lariat")
}

// throughputRow writes one library's row of an echo-over-TCP table.
// CPU µs/msg is the whole process's CPU time (server and client, user
// and system) per message: less disturbed than throughput by other work
// on the machine.
func throughputRow(t table, res *results, bh *behind, what, lib, key, lariatKey string) {
	ms, cpu := res.get(key, "msgs/s"), res.get(key, "cpu-ns/msg")
	if !ms.ok {
		t.row(lib, missing(res, key), "", "", "", "", "", "")
		return
	}
	lms, lcpu := res.get(lariatKey, "msgs/s"), res.get(lariatKey, "cpu-ns/msg")
	us := func(s stat) stat {
		s.median /= 1000
		return s
	}
	t.row(lib, withSpread(ms), plain(res.get(key, "MB/s")), withSpread(us(cpu)), plain(res.get(key, "allocs/msg")), plain(res.get(key, "B/msg")), ratio(ms, lms), ratio(cpu, lcpu))
	if lib != "lariat" {
		bh.higher(what+", throughput", "msgs/s", lib, ms, lms)
		bh.lower(what+", CPU per message", "ns/msg", lib, cpu, lcpu)
	}
}

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
	p("| run | %s, %s; %s; load average %s before, %s after |\n\n",
		m.started.UTC().Format("2006-01-02 15:04 UTC"), m.finished.Sub(m.started).Round(time.Second), roundsText, m.loadBefore, m.loadAfter)
	p("This is a shared 2-core virtual machine and other work ran during the measurement (see the load averages): that is why every number carries its spread and every comparison says how many rounds agree. ")
	p("Numbers are medians over the rounds; ±x%% is half the range between the slowest and the fastest round, as a share of the median. ")
	p("\"× lariat\" is peer/lariat, the median of the per-round ratios (each round's peer against the same round's lariat, which ran next to it): for times and bytes above ×1 means lariat does better, for throughput below ×1 does.\n\n")

	p("## How to run\n\n")
	p("From this directory:\n\n")
	p("```sh\n")
	p("go run ./cmd/report           # the full run (about 6 minutes): rewrites README.md and results/bench.txt\n")
	p("go run ./cmd/report -quick    # smoke run for CI (under a minute): prints the report, writes nothing\n")
	p("go test -short ./...          # the correctness checks behind the benchmarks (seconds)\n")
	p("go test -run '^$' -bench EchoMem -rounds 3 .   # any one benchmark, three interleaved rounds\n")
	p("```\n\n")
	p("`-rounds N` runs every library once per round, in rotated order, inside one process; ")
	p("`go test -count N` would instead repeat each library N times in a row. ")
	p("The raw output of the last full run is in `results/bench.txt` (benchstat reads it; strip the `#01` round suffixes first). ")
	p("`-lariat DIR` measures another lariat tree, e.g. a `git worktree` of an older commit; `-from results/bench.txt` renders this file again from the raw output (after editing analysis.md, say); `-only idle` runs one group.\n\n")

	p("## Method\n\n")
	p("- **Same client for all.** A raw RFC 6455 client over `net.Conn` (client.go) writes frames built and masked once, before the timer starts, and parses replies with a few shifts; it allocates nothing per message. Only the server differs.\n")
	p("- **Servers as a careful user writes them** (servers.go): each library's documented public API and default options, one goroutine per connection (net/http's, after the hijack), whole messages read into a reused buffer where the API is a reader (one per connection; one from a shared pool per message in the idle benchmark). ")
	p("lariat: an `Upgrader` whose `Handle` calls `c.Send(f)`. gorilla: `NextReader` + `WriteMessage`. coder: `Reader` + `Write`, with `context.Background()` so no timer is armed per call. ")
	p("gobwas: `wsutil.Reader` (`NextFrame`, control frames through `wsutil.ControlFrameHandler`) + `ws.WriteFrame` into the hijacked `bufio.Writer`. gws: `OnMessage` calling `WriteMessage`, then `Message.Close` to recycle the buffer.\n")
	p("- **In-memory read path** (memconn.go): every library, lariat included, is handed an in-memory `net.Conn` through its ordinary entry point: `ServeHTTP`/`Upgrade`/`Accept` get an `http.ResponseWriter` whose `Hijack` returns it. The conn replays one masked frame as often as asked, then a close frame; writes go to a counter. No loopback TCP is involved. 100 messages warm up before the timer starts, and the close handshake is left out of the timing.\n")
	p("- **Loopback TCP** for throughput and memory: a real `net/http` server on 127.0.0.1 and the client in the same process (throughput) or in a separate process (memory, so the server's heap holds server state only and each process needs one descriptor per connection).\n")
	p("- **Defaults differ where the libraries differ**: lariat validates UTF-8 in text messages by default (RFC 6455 §8.1); gorilla, coder, gobwas and gws do not. Only the compression benchmark sends text.\n\n")

	// 1. Read path.
	p("## 1. Reading a masked 16 KiB binary frame\n\n")
	p("`BenchmarkRead`: one masked 16 KiB binary frame after another, read through each library's public server-side read path as a whole message and dropped. In memory, as described above. CPU ns/msg is the process's CPU time per message (user and system, all threads, GC included), which time spent waiting for a core does not inflate.\n\n")
	t.header("library", "ns/msg", "CPU ns/msg", "MB/s", "allocs/msg", "B/msg", "time × lariat", "CPU × lariat")
	lr := res.get("BenchmarkRead/size=16KiB/lib=lariat", "ns/op")
	lrc := res.get("BenchmarkRead/size=16KiB/lib=lariat", "cpu-ns/msg")
	for _, lib := range libs {
		key := "BenchmarkRead/size=16KiB/lib=" + lib
		ns, cpu := res.get(key, "ns/op"), res.get(key, "cpu-ns/msg")
		if !ns.ok {
			t.row(lib, missing(res, key), "", "", "", "", "", "")
			continue
		}
		t.row(lib, withSpread(ns), withSpread(cpu), plain(res.get(key, "MB/s")), plain(res.get(key, "allocs/msg")), plain(res.get(key, "B/msg")), ratio(ns, lr), ratio(cpu, lrc))
		if lib != "lariat" {
			bh.lower("Reading a 16 KiB frame, wall time", "ns/msg", lib, ns, lr)
			bh.lower("Reading a 16 KiB frame, CPU time", "ns/msg", lib, cpu, lrc)
		}
	}
	p("\nUnmasking alone against `copy()` for 16 KiB, from lariat's own `BenchmarkMask` and `BenchmarkCopy` (%s, alternating):\n\n", times(rounds))
	t.header("operation", "ns/op", "MB/s", "× copy")
	mk, cp := res.get("BenchmarkMask/16384", "ns/op"), res.get("BenchmarkCopy/16384", "ns/op")
	t.row("lariat unmask (`mask`)", withSpread(mk), plain(res.get("BenchmarkMask/16384", "MB/s")), ratio(mk, cp))
	t.row("`copy()`", withSpread(cp), plain(res.get("BenchmarkCopy/16384", "MB/s")), "×1")
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
	p("`BenchmarkEchoTCP`: 64 connections, 1 KiB binary messages, each client keeping 4 messages in flight; each library runs for about the benchtime per round. MB/s counts the payload one way. CPU µs/msg and allocs/msg count the whole process, client included: the client's share is the same whatever the server (and it allocates nothing per message). On this machine the syscalls of both ends are most of the CPU time.\n\n")
	throughputHeader(t)
	lt := "BenchmarkEchoTCP/size=1KiB/lib=lariat"
	for _, lib := range libs {
		throughputRow(t, res, &bh, "Echo over TCP, 64 connections × 1 KiB", lib, "BenchmarkEchoTCP/size=1KiB/lib="+lib, lt)
	}
	p("\n")

	// 4. Compression.
	p("## 4. Compressed echo (permessage-deflate)\n\n")
	p("`BenchmarkEchoDeflate`: 16 connections, 4 KiB of JSON-like text (compressed by the client to about a quarter), 4 in flight per client. The server inflates, hands the text over, and compresses its echo. MB/s counts uncompressed payload one way. ")
	p("lariat validates the UTF-8 of every text message, as it does by default; the peers do not by default. ")
	p("*takeover*: both ends keep their compression context between messages (each library's default window: 32 KiB, except gws, which defaults to 4 KiB windows with takeover); *notakeover*: `server_no_context_takeover` and `client_no_context_takeover`. gorilla implements only the latter. gobwas is not part of this comparison.\n\n")
	for _, mode := range []string{"takeover", "notakeover"} {
		p("**%s**\n\n", mode)
		throughputHeader(t)
		base := "BenchmarkEchoDeflate/mode=" + mode + "/lib="
		for _, lib := range deflateLibs {
			throughputRow(t, res, &bh, "Compressed echo, "+mode, lib, base+lib, base+"lariat")
		}
		p("\n")
	}

	// 5. Idle memory.
	p("## 5. Memory per idle connection\n\n")
	p("`BenchmarkIdle`: connections are upgraded, exchange nine 4 KiB text messages with the echo server (so that whatever a library keeps between messages exists, and 36 KiB fill any 32 KiB compression window) and then stay idle; ")
	p("the server process's heap (`HeapAlloc`) and goroutine stacks (`StackInuse`), after two GCs, are compared with those before the first connection. ")
	p("%s connections plain and with Hibernate, %s with compression (coder keeps a ~1.2 MB compressor per connection with takeover, so ten thousand would need 12 GB). The benchmark raises the soft limit on open files to the hard one (%s here); server and clients live in separate processes, so each needs one descriptor per connection. ", m.idlePlain, m.idleDeflate, m.fileLimit)
	p("The servers of gorilla, coder and gobwas read each message into a buffer from a shared pool here, not one kept per connection, so that the numbers are the libraries' own. ")
	p("*baseline* is net/http, a hijack and a goroutine blocked in `Read`, with no WebSocket library: what every row pays before its own state (net/http keeps the hijacked 4 KiB `bufio.Reader` and `bufio.Writer` alive while the handler runs, whether the library uses them or not).\n\n")
	t.header("library", "plain heap B/conn", "plain stack B/conn", "plain total B/conn", "× lariat", "takeover total", "× lariat", "notakeover total", "× lariat")
	lp := res.get("BenchmarkIdle/mode=plain/lib=lariat", "total-B/conn")
	lto := res.get("BenchmarkIdle/mode=takeover/lib=lariat", "total-B/conn")
	lnt := res.get("BenchmarkIdle/mode=notakeover/lib=lariat", "total-B/conn")
	rows := append(append([]string{}, libs...), "baseline")
	for _, lib := range rows {
		pk := "BenchmarkIdle/mode=plain/lib=" + lib
		tk := "BenchmarkIdle/mode=takeover/lib=" + lib
		nk := "BenchmarkIdle/mode=notakeover/lib=" + lib
		pt, tt, nt := res.get(pk, "total-B/conn"), res.get(tk, "total-B/conn"), res.get(nk, "total-B/conn")
		cell := func(s stat, key string) string {
			if s.ok {
				return plain(s)
			}
			if _, ok := res.skip(key); ok {
				return "n/a"
			}
			return "–"
		}
		t.row(lib, plain(res.get(pk, "heap-B/conn")), plain(res.get(pk, "stack-B/conn")), cell(pt, pk), ratio(pt, lp),
			cell(tt, tk), ratio(tt, lto), cell(nt, nk), ratio(nt, lnt))
		if lib != "lariat" && lib != "baseline" {
			bh.lower("Idle memory, plain", "B/conn", lib, pt, lp)
			bh.lower("Idle memory, takeover", "B/conn", lib, tt, lto)
			bh.lower("Idle memory, notakeover", "B/conn", lib, nt, lnt)
		}
	}
	hk := "BenchmarkIdle/mode=hibernate/lib=lariat"
	ht := res.get(hk, "total-B/conn")
	t.row("lariat, Hibernate()", plain(res.get(hk, "heap-B/conn")), plain(res.get(hk, "stack-B/conn")), plain(ht), ratio(ht, lp), "", "", "", "")
	p("\n")

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
