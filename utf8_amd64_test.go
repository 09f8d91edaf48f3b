//go:build !purego

package lariat

// With AVX-512 the vector code checks text that is not ASCII 64 bytes
// per step; every UTF-8 test runs the AVX2 steps too, as machines
// without it do.
func init() {
	if !useAVX512UTF8 {
		return
	}
	utf8Impls = append(utf8Impls, struct {
		name string
		feed func(*utf8State, []byte) bool
	}{"avx2", func(s *utf8State, p []byte) bool {
		useAVX512UTF8 = false
		defer func() { useAVX512UTF8 = true }()
		return s.feed(p)
	}})
}
