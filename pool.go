package lariat

import (
	"math/bits"
	"sync"
)

// Buffers are pooled by power-of-two size class, from 256 B to 64 MiB, so
// that a connection holds a read, write or message buffer only while it
// uses one, and reusing one costs no allocation: the pools hold *[]byte,
// which fits in an interface without boxing.
const (
	minClassBits = 8
	maxClassBits = 26
)

var bufPools [maxClassBits - minClassBits + 1]sync.Pool

// sizeClass returns the index of the smallest class holding n bytes, or -1
// when n is larger than the largest class.
func sizeClass(n int) int {
	if n <= 1<<minClassBits {
		return 0
	}
	c := bits.Len(uint(n-1)) - minClassBits
	if c >= len(bufPools) {
		return -1
	}
	return c
}

// getBuf returns a buffer of length 0 and capacity at least n.
func getBuf(n int) *[]byte {
	c := sizeClass(n)
	if c < 0 {
		b := make([]byte, 0, n)
		return &b
	}
	if p, _ := bufPools[c].Get().(*[]byte); p != nil {
		*p = (*p)[:0]
		return p
	}
	b := make([]byte, 0, 1<<(c+minClassBits))
	return &b
}

// putBuf returns b to its pool. Buffers whose capacity is not a class
// size (the oversized ones) are left to the garbage collector.
func putBuf(b *[]byte) {
	if b == nil {
		return
	}
	n := cap(*b)
	c := sizeClass(n)
	if c < 0 || n != 1<<(c+minClassBits) {
		return
	}
	poison((*b)[:n])
	bufPools[c].Put(b)
}
