package xormask

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"testing"
)

// xorBytewise is the reference: RFC 6455 §5.3 word for word.
func xorBytewise(b []byte, key uint32) {
	for i := range b {
		b[i] ^= byte(key >> (8 * (i % 4)))
	}
}

// check runs xor on a copy of data placed off bytes into a buffer with
// guard bytes on both sides, and compares with the reference; the guards
// catch a wide store that runs past either end.
func check(t *testing.T, xor func([]byte, uint32), data []byte, off int, key uint32) {
	t.Helper()
	const guard = 64
	buf := make([]byte, guard+off+len(data)+guard)
	for i := range buf {
		buf[i] = byte(i*13 + 5)
	}
	b := buf[guard+off : guard+off+len(data)]
	copy(b, data)
	want := bytes.Clone(buf)
	xorBytewise(want[guard+off:guard+off+len(data)], key)
	xor(b, key)
	if !bytes.Equal(buf, want) {
		for i := range buf {
			if buf[i] != want[i] {
				t.Fatalf("len %d off %d key %#08x: first difference at b[%d]: got %#02x, want %#02x",
					len(data), off, key, i-guard-off, buf[i], want[i])
			}
		}
	}
}

var keys = []uint32{0, 0xffffffff, 0xa1b2c3d4, 0x3d21fa37}

func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i * 7)
	}
	return p
}

func TestXORMatchesBytewise(t *testing.T) {
	data := pattern(300)
	forEachImpl(t, func(t *testing.T, xor func([]byte, uint32)) {
		for n := range len(data) + 1 {
			for off := range 4 {
				for _, key := range keys {
					check(t, xor, data[:n], off, key)
				}
			}
		}
	})
}

// TestXORHeads covers the lengths where the bulk routine first aligns its
// pointer, from every misalignment.
func TestXORHeads(t *testing.T) {
	data := pattern(700)
	forEachImpl(t, func(t *testing.T, xor func([]byte, uint32)) {
		for n := 500; n <= len(data); n += 7 {
			for off := range 32 {
				check(t, xor, data[:n], off, keys[2])
			}
		}
	})
}

func TestXORLarge(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	forEachImpl(t, func(t *testing.T, xor func([]byte, uint32)) {
		for range 100 {
			data := make([]byte, r.IntN(70_000))
			for i := range data {
				data[i] = byte(r.Uint32())
			}
			check(t, xor, data, r.IntN(64), r.Uint32())
		}
	})
}

func TestXORAllocs(t *testing.T) {
	b := make([]byte, 16<<10)
	for _, n := range []int{3, 100, 16 << 10} {
		if a := testing.AllocsPerRun(100, func() { XOR(b[1:n], 0x12345678) }); a != 0 {
			t.Fatalf("XOR of %d bytes allocates %v times", n, a)
		}
	}
}

func FuzzXOR(f *testing.F) {
	f.Add([]byte("Hello"), uint32(0x3d21fa37), uint8(0))
	f.Add(make([]byte, 200), uint32(0xa1b2c3d4), uint8(3))
	f.Add(make([]byte, 1000), uint32(0xa1b2c3d4), uint8(17))
	f.Fuzz(func(t *testing.T, data []byte, key uint32, off uint8) {
		forEachImpl(t, func(t *testing.T, xor func([]byte, uint32)) {
			check(t, xor, data, int(off%64), key)
		})
	})
}

func BenchmarkXOR(b *testing.B) {
	for _, size := range []int{3, 16, 128, 1024, 16 << 10} {
		for _, off := range []int{0, 1} {
			buf := make([]byte, size+off)
			name := strconv.Itoa(size)
			if off != 0 {
				name += "/unaligned"
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(size))
				for b.Loop() {
					XOR(buf[off:], 0x12345678)
				}
			})
		}
	}
}
