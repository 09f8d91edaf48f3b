package bench

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// -count repeats each sub-benchmark several times in a row, so on a noisy
// machine a slow minute lands on one library only. -rounds instead runs
// every library once per round, and rotates which one goes first, so that
// drift spreads over all of them. Repeated names get testing's "#01"
// suffixes; cmd/report strips them.
var rounds = flag.Int("rounds", 1, "run every library this many times, interleaved")

// -libs limits a run to some libraries, as cmd/report does when it
// compares two lariat trees: "-libs lariat".
var libsFlag = flag.String("libs", "", "run only these libraries (comma-separated names); all by default")

func TestMain(m *testing.M) {
	flag.Parse()
	raiseFileLimit()
	switch {
	case os.Getenv(idleServerEnv) != "":
		os.Exit(idleServerMain())
	case os.Getenv(idleClientEnv) != "":
		os.Exit(idleClientMain())
	case os.Getenv(echoClientEnv) != "":
		os.Exit(echoClientMain())
	}
	for env, run := range childMains {
		if os.Getenv(env) != "" {
			os.Exit(run())
		}
	}
	os.Exit(m.Run())
}

// childMains are the child processes that files built only with some
// lariat trees add (the broadcast client), by the variable that selects
// each.
var childMains = map[string]func() int{}

// raiseFileLimit lifts the soft limit on open files to the hard one: the
// idle-memory benchmark holds thousands of sockets.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// rotated returns the libraries of libs that -libs selects, starting at
// index round.
func rotated(libs []Library, round int) []Library {
	if *libsFlag != "" {
		var sel []Library
		for _, l := range libs {
			if slices.Contains(strings.Split(*libsFlag, ","), l.Name) {
				sel = append(sel, l)
			}
		}
		libs = sel
	}
	if len(libs) == 0 {
		return nil
	}
	k := round % len(libs)
	return append(append([]Library(nil), libs[k:]...), libs[:k]...)
}

// eachLib runs f as sub-benchmarks lib=<name>, -rounds times, the order
// of the libraries rotating from one round to the next. outer names an
// extra level (a size or mode) that is the same for every library.
func eachLib(b *testing.B, libs []Library, outer []string, f func(b *testing.B, outer string, lib Library)) {
	if len(outer) == 0 {
		outer = []string{""}
	}
	for r := range max(*rounds, 1) {
		for _, o := range outer {
			run := func(b *testing.B) {
				for _, lib := range rotated(libs, r) {
					b.Run("lib="+lib.Name, func(b *testing.B) { f(b, o, lib) })
				}
			}
			if o == "" {
				run(b)
			} else {
				b.Run(o, run)
			}
		}
	}
}

// meter brackets the measured messages of an in-memory benchmark: the
// first warm messages run with the timer off, so that buffers have grown
// and pools filled, then b.N messages are timed and their allocations
// counted, and whatever follows (the close handshake, the teardown) is
// left out. tick runs on the benchmark's goroutine: the in-memory servers
// call their handler synchronously.
type meter struct {
	b              *testing.B
	warm, n        int
	seen           int
	start, end     runtime.MemStats
	cpuStart, cpuE time.Duration
}

func (m *meter) tick() {
	m.seen++
	switch m.seen {
	case m.warm:
		runtime.ReadMemStats(&m.start)
		m.b.ResetTimer()
		m.cpuStart = cpuTime()
	case m.warm + m.n:
		m.cpuE = cpuTime()
		m.b.StopTimer()
		runtime.ReadMemStats(&m.end)
	}
}

// report adds allocations per message with their fraction, which
// testing's integer allocs/op would round away.
func (m *meter) report() {
	if m.seen < m.warm+m.n {
		m.b.Fatalf("the server handled %d of %d messages", m.seen, m.warm+m.n)
	}
	n := float64(m.n)
	m.b.ReportMetric(float64(m.end.Mallocs-m.start.Mallocs)/n, "allocs/msg")
	m.b.ReportMetric(float64(m.end.TotalAlloc-m.start.TotalAlloc)/n, "B/msg")
	m.b.ReportMetric(float64(m.cpuE-m.cpuStart)/n, "cpu-ns/msg")
}

// cpuTime returns the CPU time the process has used, user and system,
// on all threads. On a machine shared with other work, CPU time per
// message moves much less than wall time: time spent waiting for a core
// is not in it. GC and the runtime's other threads are, as they should.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func sizeName(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("size=%dKiB", n/1024)
	}
	return fmt.Sprintf("size=%dB", n)
}
