package deflate

import (
	"bytes"
	"runtime"
	"strconv"
	"testing"
	"unsafe"

	"github.com/klauspost/compress/flate"
)

// benchMessages are 64 JSON-like messages of 4 KiB.
var benchMessages = func() [][]byte {
	m := make([][]byte, 64)
	for i := range m {
		m[i] = jsonMessage(uint64(i), 4096)
	}
	return m
}()

func benchSize() int64 {
	n := 0
	for _, m := range benchMessages {
		n += len(m)
	}
	return int64(n / len(benchMessages))
}

var benchModes = []struct {
	name string
	p    Params
}{
	{"no-context", Params{ServerNoContextTakeover: true, ClientNoContextTakeover: true}},
	{"context-takeover", Params{}},
	{"no-context/window-10", Params{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 10, ClientMaxWindowBits: 10}},
	{"context-takeover/window-10", Params{ServerMaxWindowBits: 10, ClientMaxWindowBits: 10}},
}

// BenchmarkCompress compresses 4 KiB JSON-like messages as a server does,
// and reports the compression ratio and the bytes the connection keeps.
func BenchmarkCompress(b *testing.B) {
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			c := NewCompressor(m.p)
			out := make([]byte, 0, 8192)
			var in, wire int
			b.SetBytes(benchSize())
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				msg := benchMessages[i%len(benchMessages)]
				out, _, _ = c.Compress(out[:0], msg)
				in += len(msg)
				wire += len(out)
			}
			b.ReportMetric(float64(wire)/float64(in), "ratio")
			b.ReportMetric(float64(c.Held()), "held-B")
		})
	}
}

// BenchmarkInflate inflates the same messages as a server receives them.
func BenchmarkInflate(b *testing.B) {
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			client := NewCompressor(m.p.Peer())
			compressed := make([][]byte, len(benchMessages))
			for i, msg := range benchMessages {
				compressed[i], _, _ = client.Compress(nil, msg)
			}
			d := NewDecompressor(m.p)
			out := make([]byte, 0, 8192)
			b.SetBytes(benchSize())
			b.ReportAllocs()
			var err error
			for i := 0; b.Loop(); i++ {
				if out, err = d.Inflate(out[:0], compressed[i%len(compressed)], 1<<20); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(d.Held()), "held-B")
		})
	}
}

// BenchmarkCompressAlternatives measures the ways to keep context that
// maxCompressHistory chose between, on the same messages.
func BenchmarkCompressAlternatives(b *testing.B) {
	run := func(b *testing.B, compress func(out *bytes.Buffer, msg []byte)) {
		var out bytes.Buffer
		var in, wire int
		b.SetBytes(benchSize())
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			msg := benchMessages[i%len(benchMessages)]
			out.Reset()
			compress(&out, msg)
			in += len(msg)
			wire += out.Len() - 4
		}
		b.ReportMetric(float64(wire)/float64(in), "ratio")
	}
	b.Run("dedicated-writer", func(b *testing.B) {
		var target *bytes.Buffer
		w, _ := flate.NewWriter(writerFunc(func(p []byte) (int, error) { return target.Write(p) }), 1)
		run(b, func(out *bytes.Buffer, msg []byte) {
			target = out
			w.Write(msg)
			w.Flush()
		})
	})
	for _, size := range []int{32 << 10, 16 << 10, 8 << 10, 4 << 10} {
		b.Run("pooled-writer/dict-"+itoa(size>>10)+"KiB", func(b *testing.B) {
			w, _ := flate.NewWriter(nil, 1)
			h := history{max: size}
			run(b, func(out *bytes.Buffer, msg []byte) {
				w.ResetDict(out, h.b)
				w.Write(msg)
				w.Flush()
				h.add(msg)
			})
		})
	}
	b.Run("stateless/dict-8KiB", func(b *testing.B) {
		h := history{max: 8 << 10}
		run(b, func(out *bytes.Buffer, msg []byte) {
			flate.StatelessDeflate(out, msg, false, h.b)
			flate.StatelessDeflate(out, nil, false, nil)
			h.add(msg)
		})
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func itoa(n int) string { return strconv.Itoa(n) }

// TestMemoryPerConnection measures what connections keep between
// messages, in each mode, once the pools are gone: 200 connections each
// exchange twelve 4 KiB messages in both directions.
func TestMemoryPerConnection(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("measures the heap")
	}
	structs := int(unsafe.Sizeof(Compressor{}) + unsafe.Sizeof(Decompressor{}))
	t.Logf("Compressor %d B, Decompressor %d B", unsafe.Sizeof(Compressor{}), unsafe.Sizeof(Decompressor{}))
	modes := []struct {
		name           string
		p              Params
		compress, hist int
	}{
		{"no context takeover", Params{ServerNoContextTakeover: true, ClientNoContextTakeover: true}, 0, 0},
		{"server context takeover", Params{ClientNoContextTakeover: true}, maxCompressHistory, 0},
		{"client context takeover", Params{ServerNoContextTakeover: true}, 0, maxWindow},
		{"both (the default)", Params{}, maxCompressHistory, maxWindow},
		{"both, 10-bit windows", Params{ServerMaxWindowBits: 10, ClientMaxWindowBits: 10}, 1 << 10, 1 << 10},
		{"both, 8-bit windows", Params{ServerMaxWindowBits: 8, ClientMaxWindowBits: 8}, 1 << 8, minInflateHistory},
	}
	const conns, messages = 200, 12
	for _, m := range modes {
		client := NewCompressor(m.p.Peer())
		var stream [][]byte
		for i := range messages {
			out, _, _ := client.Compress(nil, jsonMessage(uint64(i), 4096))
			stream = append(stream, out)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&before)
		cs := make([]*Compressor, conns)
		ds := make([]*Decompressor, conns)
		out := make([]byte, 0, 8192)
		for i := range cs {
			cs[i], ds[i] = NewCompressor(m.p), NewDecompressor(m.p)
			for j, msg := range stream {
				out, _, _ = cs[i].Compress(out[:0], jsonMessage(uint64(j), 4096))
				if out, _ = ds[i].Inflate(out[:0], msg, 1<<20); len(out) == 0 {
					t.Fatal("inflate failed")
				}
			}
		}
		runtime.GC()
		runtime.GC() // twice: the second empties the pools' victim caches
		runtime.ReadMemStats(&after)
		per := (int(after.HeapAlloc) - int(before.HeapAlloc) - 2*8*conns) / conns // minus the two slices
		want := structs + m.compress + m.hist
		t.Logf("%-25s %6d B per connection (expected %d: structs %d + context %d + history %d)", m.name, per, want, structs, m.compress, m.hist)
		if per > want+want/8+256 {
			t.Errorf("%s: %d bytes per connection; want about %d", m.name, per, want)
		}
		for i := range cs {
			if cs[i].Held() != m.compress || ds[i].Held() != m.hist {
				t.Fatalf("%s: Held = %d, %d", m.name, cs[i].Held(), ds[i].Held())
			}
		}
		runtime.KeepAlive(cs)
		runtime.KeepAlive(ds)
		runtime.KeepAlive(client)
		runtime.KeepAlive(stream)
	}

	// What is borrowed from the pools during a call, for the package doc.
	size := func(f func() any) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		v := f()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(v)
		return after.TotalAlloc - before.TotalAlloc
	}
	for _, level := range []int{-2, 1, 2, 3, 4, 5, 6, 7, 9} {
		t.Logf("pooled writer, level %2d: %7d B", level, size(func() any {
			w, _ := getWriter(level, 15)
			w.fw.Write(benchMessages[0])
			w.fw.Flush()
			return w
		}))
	}
	t.Logf("pooled writer, window < 15 bits: %7d B", size(func() any {
		w, _ := getWriter(1, 10)
		w.fw.Write(benchMessages[0])
		w.fw.Flush()
		return w
	}))
	t.Logf("pooled inflater: %7d B", size(func() any {
		in := getInflater()
		in.fr.(flate.Resetter).Reset(bytes.NewReader(nil), nil)
		return in
	}))
}

// BenchmarkInflateStream inflates JSON-like messages of 1, 4 and 64 KiB
// whole with Inflate, and with InflateStream from a reader that yields
// each message as one frame (most messages are) or in 1 KiB frames, as
// the connection does.
func BenchmarkInflateStream(b *testing.B) {
	for _, size := range []int{1 << 10, 4 << 10, 64 << 10} {
		for _, m := range benchModes[:2] {
			const n = 16
			client := NewCompressor(m.p.Peer())
			compressed := make([][]byte, n)
			var total int
			for i := range compressed {
				msg := jsonMessage(uint64(i), size)
				compressed[i] = mustCompress(b, client, msg)
				total += len(msg)
			}
			name := itoa(size>>10) + "KiB/" + m.name
			run := func(b *testing.B, inflate func(d *Decompressor, out, msg []byte) ([]byte, error)) {
				d := NewDecompressor(m.p)
				out := make([]byte, 0, size+1024)
				b.SetBytes(int64(total / n))
				b.ReportAllocs()
				var err error
				for i := 0; b.Loop(); i++ {
					if out, err = inflate(d, out[:0], compressed[i%n]); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.Run(name+"/Inflate", func(b *testing.B) {
				run(b, func(d *Decompressor, out, msg []byte) ([]byte, error) {
					return d.Inflate(out, msg, 1<<20)
				})
			})
			for _, frame := range []int{0, 1 << 10} {
				var src pieceReader
				emit := func([]byte) error { return nil }
				sub := "/InflateStream"
				if frame > 0 {
					sub += "/frames-" + itoa(frame>>10) + "KiB"
				}
				b.Run(name+sub, func(b *testing.B) {
					run(b, func(d *Decompressor, out, msg []byte) ([]byte, error) {
						src.reset(msg, frame)
						return d.InflateStream(out, &src, 1<<20, emit)
					})
				})
			}
		}
	}
}
