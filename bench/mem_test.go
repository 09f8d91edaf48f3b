package bench

import (
	"errors"
	"testing"
)

// warmMessages run before the timer starts in the in-memory benchmarks:
// enough for every library to have grown its buffers and filled its pools.
const warmMessages = 100

// serveMem serves warmMessages+b.N copies of frame to lib's server over a
// ReplayConn, through the library's ordinary upgrade, and times the b.N
// after the warm-up. payload is the message size, for MB/s.
func serveMem(b *testing.B, lib Library, cfg Config, frame []byte, payload int) {
	m := &meter{b: b, warm: warmMessages, n: b.N}
	cfg.OnMessage = m.tick
	h, err := lib.Handler(cfg)
	if errors.Is(err, ErrUnsupported) {
		b.Skipf("%s: %v", lib.Name, err)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(payload))
	b.ReportAllocs()
	nc := &ReplayConn{Frame: frame, Count: m.warm + m.n, Tail: CloseFrame()}
	ServeConn(h, nc, false)
	m.report()
	if !cfg.ReadOnly && nc.Written < int64(m.warm+m.n)*int64(payload) {
		b.Fatalf("%s echoed %d bytes for %d messages of %d bytes", lib.Name, nc.Written, m.warm+m.n, payload)
	}
}

// BenchmarkRead measures each library's server-side read path alone: one
// masked 16 KiB frame after another, replayed from memory, read as a whole
// message through the library's public API and dropped. It is the cost
// of parsing, unmasking, validating (lariat validates text, the peers do
// not) and delivering, with no network in the way. Messages:
//
//	msg=binary  random bytes, every library
//	msg=json    ASCII JSON text, every library
//	msg=utf8    text in several scripts (two to four bytes a rune for
//	            most of it), lariat only: the peers do not look at text
//
// Each round also times copy() of 16 KiB between two buffers (ref=copy),
// the bandwidth that the read path is compared with.
func BenchmarkRead(b *testing.B) {
	const size = 16 << 10
	lariat := Libraries[:1]
	msgs := []struct {
		name  string
		frame []byte
		libs  []Library
	}{
		{"binary", MaskedFrame(OpBinary, false, Binary(size)), Libraries},
		{"json", MaskedFrame(OpText, false, JSONText(size)), Libraries},
		{"utf8", MaskedFrame(OpText, false, UTF8Text(size)), lariat},
	}
	for r := range max(*rounds, 1) {
		for _, m := range msgs {
			b.Run("msg="+m.name+"/"+sizeName(size), func(b *testing.B) {
				for _, lib := range rotated(m.libs, r) {
					b.Run("lib="+lib.Name, func(b *testing.B) {
						serveMem(b, lib, Config{ReadOnly: true}, m.frame, size)
					})
				}
			})
		}
		b.Run("ref=copy/"+sizeName(size), func(b *testing.B) { benchCopy(b, size) })
	}
}

// benchCopy times copy() of n bytes from one buffer to another.
func benchCopy(b *testing.B, n int) {
	src, dst := Binary(n), make([]byte, n)
	b.SetBytes(int64(n))
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		copy(dst, src)
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/msg")
}

// BenchmarkEchoMem measures the whole echo path once warm: read a masked
// binary message from memory, hand it to the application, write it back
// (to a sink). Its point is allocations per message (allocs/msg, B/msg),
// which a warm server should keep at zero or close to it.
func BenchmarkEchoMem(b *testing.B) {
	sizes := []int{16, 16 << 10}
	frames := map[string][]byte{}
	var names []string
	for _, n := range sizes {
		frames[sizeName(n)] = MaskedFrame(OpBinary, false, Binary(n))
		names = append(names, sizeName(n))
	}
	eachLib(b, Libraries, names, func(b *testing.B, size string, lib Library) {
		f := frames[size]
		serveMem(b, lib, Config{}, f, payloadLen(f))
	})
}

// payloadLen returns the payload length of a masked client frame.
func payloadLen(f []byte) int {
	switch n := int(f[1] & 0x7f); n {
	case 126:
		return len(f) - 8
	case 127:
		return len(f) - 14
	default:
		return n
	}
}
