//go:build !amd64 || purego

package lariat

// No vector code here: the word loop of scan does all lengths.
const hasUTF8Vector = false

// utf8Vector is never called: hasUTF8Vector is false.
func utf8Vector(p []byte) (n int, ok bool) { return 0, true }
