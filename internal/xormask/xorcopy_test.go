package xormask

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"testing"
)

// checkCopy runs xor from a copy of data placed soff bytes into one
// guarded buffer, into a destination doff bytes into another, or in place
// when inPlace, and compares the bytes and the ASCII answer with the
// reference. The guards catch a wide load or store past either end.
func checkCopy(t *testing.T, xor func(dst, src []byte, key uint32) bool, data []byte, soff, doff int, inPlace bool, key uint32) {
	t.Helper()
	const guard = 64
	fill := func(n, seed int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*13 + seed)
		}
		return b
	}
	sbuf := fill(guard+soff+len(data)+guard, 5)
	src := sbuf[guard+soff : guard+soff+len(data)]
	copy(src, data)
	dbuf, dst, dstOff := sbuf, src, soff
	if !inPlace {
		dbuf = fill(guard+doff+len(data)+guard, 9)
		dst, dstOff = dbuf[guard+doff:guard+doff+len(data)], doff
	}
	want := bytes.Clone(dbuf)
	unmasked := want[guard+dstOff : guard+dstOff+len(data)]
	copy(unmasked, data)
	xorBytewise(unmasked, key)
	wantASCII := true
	for _, c := range unmasked {
		wantASCII = wantASCII && c < 0x80
	}
	srcBefore := bytes.Clone(sbuf)

	ascii := xor(dst, src, key)

	if !bytes.Equal(dbuf, want) {
		for i := range dbuf {
			if dbuf[i] != want[i] {
				t.Fatalf("len %d soff %d doff %d in place %v key %#08x: first difference at dst[%d]: got %#02x, want %#02x",
					len(data), soff, doff, inPlace, key, i-guard-dstOff, dbuf[i], want[i])
			}
		}
	}
	if !inPlace && !bytes.Equal(sbuf, srcBefore) {
		t.Fatalf("len %d soff %d doff %d key %#08x: the source changed", len(data), soff, doff, key)
	}
	if ascii != wantASCII {
		t.Fatalf("len %d soff %d doff %d in place %v key %#08x: ascii %v, want %v",
			len(data), soff, doff, inPlace, key, ascii, wantASCII)
	}
}

// maskedASCII returns n bytes that unmask with key to ASCII text, except
// at the positions in high, which unmask to bytes with the high bit set.
func maskedASCII(n int, key uint32, high ...int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	for _, i := range high {
		p[i] = 0x80 | byte(i)
	}
	xorBytewise(p, key)
	return p
}

func TestXORCopyMatchesBytewise(t *testing.T) {
	data := pattern(300)
	forEachCopyImpl(t, func(t *testing.T, xor func(dst, src []byte, key uint32) bool) {
		for n := range len(data) + 1 {
			for off := range 4 {
				for _, key := range keys {
					checkCopy(t, xor, data[:n], off, 0, true, key)
					checkCopy(t, xor, data[:n], off, 3-off, false, key)
					checkCopy(t, xor, maskedASCII(n, key), off, off, false, key)
				}
			}
		}
	})
}

// TestXORCopyFindsEveryHighBit puts one non-ASCII byte at each position
// of a payload in turn: the heads, the vector blocks and the tails must
// each see it, whatever the alignment.
func TestXORCopyFindsEveryHighBit(t *testing.T) {
	forEachCopyImpl(t, func(t *testing.T, xor func(dst, src []byte, key uint32) bool) {
		for _, n := range []int{1, 7, 31, 63, 127, 128, 300, 511, 512, 700} {
			for _, off := range []int{0, 1, 5, 31} {
				for i := range n {
					data := maskedASCII(n, keys[2], i)
					checkCopy(t, xor, data, off, 0, true, keys[2])
					checkCopy(t, xor, data, off, (off+7)%32, false, keys[3])
				}
			}
		}
	})
}

// TestXORCopyHeads covers the lengths where the bulk routine first
// aligns the destination, from every misalignment of either buffer.
func TestXORCopyHeads(t *testing.T) {
	data := pattern(700)
	forEachCopyImpl(t, func(t *testing.T, xor func(dst, src []byte, key uint32) bool) {
		for n := 500; n <= len(data); n += 7 {
			for off := range 32 {
				checkCopy(t, xor, data[:n], off, 0, true, keys[2])
				checkCopy(t, xor, maskedASCII(n, keys[3]), off, (off*5)%32, false, keys[3])
			}
		}
	})
}

func TestXORCopyLarge(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	forEachCopyImpl(t, func(t *testing.T, xor func(dst, src []byte, key uint32) bool) {
		for range 100 {
			n := r.IntN(70_000)
			key := r.Uint32()
			var data []byte
			if r.IntN(2) == 0 {
				data = make([]byte, n)
				for i := range data {
					data[i] = byte(r.Uint32())
				}
			} else if n > 0 {
				data = maskedASCII(n, key, r.IntN(n))
			} else {
				data = maskedASCII(n, key)
			}
			checkCopy(t, xor, data, r.IntN(64), r.IntN(64), r.IntN(2) == 0, key)
		}
	})
}

func TestXORCopyAllocs(t *testing.T) {
	src, dst := make([]byte, 16<<10), make([]byte, 16<<10)
	for _, n := range []int{3, 100, 16 << 10} {
		if a := testing.AllocsPerRun(100, func() { XORCopy(dst[1:n], src[1:n], 0x12345678) }); a != 0 {
			t.Fatalf("XORCopy of %d bytes allocates %v times", n, a)
		}
	}
}

func FuzzXORCopy(f *testing.F) {
	f.Add([]byte("Hello"), uint32(0x3d21fa37), uint8(0), uint8(0), false)
	f.Add(make([]byte, 200), uint32(0xa1b2c3d4), uint8(3), uint8(0), true)
	f.Add(maskedASCII(1000, 0xa1b2c3d4), uint32(0xa1b2c3d4), uint8(17), uint8(40), false)
	f.Add(maskedASCII(600, 0x01020304, 599), uint32(0x01020304), uint8(1), uint8(2), false)
	f.Fuzz(func(t *testing.T, data []byte, key uint32, soff, doff uint8, inPlace bool) {
		forEachCopyImpl(t, func(t *testing.T, xor func(dst, src []byte, key uint32) bool) {
			checkCopy(t, xor, data, int(soff%64), int(doff%64), inPlace, key)
		})
	})
}

// BenchmarkXORCopy measures unmasking with the ASCII test, in place and
// into another buffer (the copy out of the read buffer); compare with
// BenchmarkXOR, which does the same work without the test.
func BenchmarkXORCopy(b *testing.B) {
	for _, size := range []int{16, 128, 1024, 16 << 10} {
		src, dst := make([]byte, size+1), make([]byte, size+1)
		b.Run(strconv.Itoa(size)+"/inplace", func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				XORCopy(src[:size], src[:size], 0x12345678)
			}
		})
		b.Run(strconv.Itoa(size)+"/copy", func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				XORCopy(dst[:size], src[1:size+1], 0x12345678)
			}
		})
	}
}
