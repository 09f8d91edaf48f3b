//go:build !purego

package lariat

import "github.com/lariat-ws/lariat/internal/xormask"

// hasUTF8Vector tells feed to hand long pieces to utf8Vector.
const hasUTF8Vector = true

// useAVX2UTF8 is set once, before any call: utf8Vector does nothing
// without AVX2, and the word loop of scan does all the work.
var useAVX2UTF8 = xormask.HasAVX2()

// useAVX512UTF8 makes utf8ValidAVX2 check text that is not ASCII 64
// bytes per step, with AVX-512 BW; set once, before any call, and only
// with useAVX2UTF8.
var useAVX512UTF8 = xormask.HasAVX512BW()

// utf8Vector validates the leading whole 32-byte blocks of p, which must
// begin on a character boundary, and returns their length, n. A sequence
// that runs past n is left unchecked, from its lead on (see utf8Resume).
// ok is false if the n bytes hold an error.
func utf8Vector(p []byte) (n int, ok bool) {
	if !useAVX2UTF8 {
		return 0, true
	}
	return utf8ValidAVX2(p)
}

//go:noescape
func utf8ValidAVX2(p []byte) (n int, ok bool)
