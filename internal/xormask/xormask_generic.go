//go:build !amd64 || purego

package xormask

// No bulk routine here: XOR's own word loop does all lengths.
const (
	hasBulk = false
	bulkMin = 0
)

// xorBulk is never called: hasBulk is false.
func xorBulk(b []byte, key uint64) { panic("xormask: no bulk routine") }

// xorCopyBulk is never called: hasBulk is false.
func xorCopyBulk(dst, src []byte, key uint64) bool { panic("xormask: no bulk routine") }
