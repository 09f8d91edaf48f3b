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

// A connection's read and write buffers start at the sizes its Options
// give and follow its load, as Cowboy's dynamic_buffer does: a read that
// fills the read buffer (over a plain socket: see Conn.sawRead), or a
// frame that finds the write buffer full, doubles the size, up to
// maxGrownBuffer; when the bytes per read (or per flush) fall below a
// quarter of the size, it halves again, down to the option's.
//
// Larger buffers save system calls under load, and system calls are most
// of the CPU time of a loaded server: on loopback, 16 clients with 32
// messages of 1 KiB in flight each cost the server 0.21 reads and 0.18
// writes per message, against 0.40 and 0.37 at a fixed 4 KiB
// (bench: BenchmarkEchoTCP). With a bound of 64 KiB the server made as
// many system calls as with 32 KiB (about 0.11 reads and 0.08 writes per
// message on a busier machine, for either). The buffers are still taken
// from the pools above only while they are used, so the size an idle
// connection last had costs it nothing but the few bytes of a bufSize.
const maxGrownBuffer = 32 << 10

// bufSize is the adaptive size of one buffer of a connection.
type bufSize struct {
	shift uint8 // the size is the option's size << shift
	avg   int32 // bytes per read or flush: the mean of the last and avg
}

// size returns the size for the option's size base.
func (s *bufSize) size(base int) int { return base << s.shift }

// observe counts one read or flush of n bytes.
func (s *bufSize) observe(n int) {
	s.avg = int32((int(s.avg) + min(n, maxGrownBuffer)) / 2)
}

// grow doubles the size, unless that would pass maxGrownBuffer, and
// reports whether it did.
func (s *bufSize) grow(base int) bool {
	if base<<(s.shift+1) > maxGrownBuffer {
		return false
	}
	s.shift++
	return true
}

// shrink halves the size when the recent reads or flushes used less than
// a quarter of it, and reports whether it did.
func (s *bufSize) shrink(base int) bool {
	if s.shift == 0 || int(s.avg) >= base<<s.shift/4 {
		return false
	}
	s.shift--
	return true
}
