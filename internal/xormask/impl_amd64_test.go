//go:build !purego

package xormask

import (
	"strconv"
	"testing"
)

// forEachSIMD calls run with "avx2" while the AVX2 code is in use, where
// the machine has it, then with "sse2" while the SSE2 code is, and puts
// the choice back.
func forEachSIMD(t *testing.T, run func(name string)) {
	saved := useAVX2
	defer func() { useAVX2 = saved }()
	for _, avx2 := range []bool{true, false} {
		if avx2 && !hasAVX2() {
			t.Log("no AVX2 here: testing SSE2 only")
			continue
		}
		useAVX2 = avx2
		name := "sse2"
		if avx2 {
			name = "avx2"
		}
		run(name)
	}
}

// forEachImpl runs f with XOR and with xorBulk alone (which XOR calls
// only from bulkMin bytes up), each with the AVX2 code, where the
// machine has it, and with the SSE2 code.
func forEachImpl(t *testing.T, f func(t *testing.T, xor func([]byte, uint32))) {
	bulk := func(b []byte, key uint32) { xorBulk(b, uint64(key)<<32|uint64(key)) }
	forEachSIMD(t, func(name string) {
		t.Run("XOR/"+name, func(t *testing.T) { f(t, XOR) })
		t.Run("bulk/"+name, func(t *testing.T) { f(t, bulk) })
	})
}

// BenchmarkImpl isolates the assembly loops: AVX2 against SSE2 on the
// same buffers (build with -tags purego for the pure-Go loop, which
// BenchmarkXOR then measures). The AVX2 loop stays only while it wins.
func BenchmarkImpl(b *testing.B) {
	saved := useAVX2
	defer func() { useAVX2 = saved }()
	for _, size := range []int{1024, 16 << 10} {
		buf := make([]byte, size)
		for _, avx2 := range []bool{true, false} {
			if avx2 && !hasAVX2() {
				continue
			}
			name := "sse2/"
			if avx2 {
				name = "avx2/"
			}
			b.Run(name+strconv.Itoa(size), func(b *testing.B) {
				useAVX2 = avx2
				b.SetBytes(int64(size))
				for b.Loop() {
					XOR(buf, 0x12345678)
				}
			})
		}
	}
}

// forEachCopyImpl runs f with XORCopy, xorCopyBulk alone (which XORCopy
// calls only from bulkMin bytes up) and the portable xorCopyWords, the
// assembly each with AVX2, where the machine has it, and with SSE2.
func forEachCopyImpl(t *testing.T, f func(t *testing.T, xor func(dst, src []byte, key uint32) bool)) {
	bulk := func(dst, src []byte, key uint32) bool {
		return xorCopyBulk(dst[:len(src)], src, uint64(key)<<32|uint64(key))
	}
	words := func(dst, src []byte, key uint32) bool {
		return xorCopyWords(dst, src, uint64(key)<<32|uint64(key))
	}
	t.Run("words", func(t *testing.T) { f(t, words) })
	forEachSIMD(t, func(name string) {
		t.Run("XORCopy/"+name, func(t *testing.T) { f(t, XORCopy) })
		t.Run("bulk/"+name, func(t *testing.T) { f(t, bulk) })
	})
}
