//go:build linux

package deflate

import (
	"bytes"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/flate"
)

// TestCPUTimePerMessage measures the CPU time of the thread, not the wall
// clock, per 4 KiB message: on a shared machine the benchmarks' wall time
// swings with the load, thread CPU time hardly does. It takes 15 seconds,
// so it runs only when LARIAT_CPUTIME is set:
//
//	LARIAT_CPUTIME=1 go test -run CPUTime -v ./internal/deflate
func TestCPUTimePerMessage(t *testing.T) {
	if os.Getenv("LARIAT_CPUTIME") == "" {
		t.Skip("set LARIAT_CPUTIME=1 to measure")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	threadCPU := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_THREAD, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	measure := func(name string, f func(i int)) {
		const n = 3000
		for i := range 200 {
			f(i)
		}
		best := time.Duration(1<<63 - 1)
		for range 5 {
			start := threadCPU()
			for i := range n {
				f(i)
			}
			best = min(best, (threadCPU()-start)/n)
		}
		t.Logf("%-42s %7.1f µs", name, best.Seconds()*1e6)
	}

	out := make([]byte, 0, 8192)
	for _, m := range benchModes {
		c := NewCompressor(m.p)
		measure("Compress/"+m.name, func(i int) { out, _, _ = c.Compress(out[:0], benchMessages[i%64]) })
	}
	for _, m := range benchModes {
		client := NewCompressor(m.p.Peer())
		compressed := make([][]byte, len(benchMessages))
		for i, msg := range benchMessages {
			compressed[i], _, _ = client.Compress(nil, msg)
		}
		d := NewDecompressor(m.p)
		measure("Inflate/"+m.name, func(i int) { out, _ = d.Inflate(out[:0], compressed[i%64], 1<<20) })
	}

	// The ways to keep context that maxCompressHistory chose between.
	var buf bytes.Buffer
	dedicated, _ := flate.NewWriter(&buf, 1)
	measure("alternative/dedicated-writer", func(i int) {
		buf.Reset()
		dedicated.Write(benchMessages[i%64])
		dedicated.Flush()
	})
	pooled, _ := flate.NewWriter(&buf, 1)
	for _, size := range []int{32 << 10, 8 << 10} {
		h := history{max: size}
		measure("alternative/pooled-writer/dict-"+itoa(size>>10)+"KiB", func(i int) {
			buf.Reset()
			pooled.ResetDict(&buf, h.b)
			pooled.Write(benchMessages[i%64])
			pooled.Flush()
			h.add(benchMessages[i%64])
		})
	}
	h := history{max: 8 << 10}
	measure("alternative/stateless/dict-8KiB", func(i int) {
		buf.Reset()
		flate.StatelessDeflate(&buf, benchMessages[i%64], false, h.b)
		flate.StatelessDeflate(&buf, nil, false, nil)
		h.add(benchMessages[i%64])
	})
}
