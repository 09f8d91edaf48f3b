//go:build !purego

package xormask

const (
	hasBulk = true
	// Below 128 bytes the Go code in XOR is as fast or faster: the call
	// into assembly costs about what the wider registers save (64 bytes
	// took 6.6 ns in assembly, 5.8 ns in Go).
	bulkMin = 128
)

// useAVX2 selects the AVX2 loop in xorBulk; set once, before any call.
var useAVX2 = avx2

// xorBulk xors b in place with key, the 4-byte key repeated twice.
//
//go:noescape
func xorBulk(b []byte, key uint64)

// HasAVX2 reports whether the CPU has AVX2 and the operating system saves
// the YMM registers, for lariat's other vector code (UTF-8 validation),
// so that the CPU is probed in one place. It is safe for concurrent use.
func HasAVX2() bool { return avx2 }

// avx2 is what hasAVX2 found, once.
var avx2 = hasAVX2()

// HasAVX512BW reports whether the CPU has AVX-512 F and BW on top of AVX2
// and the operating system saves the opmask and ZMM registers, on a CPU
// that also has VBMI2: one whose 512-bit instructions do not slow the
// core down (not Skylake-X or Cascade Lake, where they do), for
// lariat's UTF-8 validation of text that is not ASCII, which is bound by
// the number of vector operations and so gains from 64-byte registers.
// It is safe for concurrent use.
func HasAVX512BW() bool { return avx512bw }

// avx512bw is what hasAVX512BW found, once.
var avx512bw = avx2 && hasAVX512BW()

// hasAVX512BW reports whether the CPU has AVX512F, AVX512BW and
// AVX512_VBMI2 and the operating system saves the opmask, ZMM_Hi256 and Hi16_ZMM state
// (XCR0 bits 5-7) besides XMM and YMM.
func hasAVX512BW() bool

// hasAVX2 reports whether the CPU has AVX2 and the operating system saves
// the YMM registers across context switches (OSXSAVE, XCR0 bits 1 and 2).
// golang.org/x/sys/cpu would tell the same, at the cost of a dependency.
func hasAVX2() bool

// xorCopyBulk is XORCopy for len(src) >= bulkMin, with key the 4-byte key
// repeated twice; len(dst) == len(src).
//
//go:noescape
func xorCopyBulk(dst, src []byte, key uint64) (ascii bool)
