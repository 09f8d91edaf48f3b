package lariat

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// TestBufSize walks the size of one buffer up and down from several
// option sizes.
func TestBufSize(t *testing.T) {
	tests := []struct {
		base  int
		sizes []int // after each grow, until it refuses
	}{
		{4096, []int{8192, 16384, 32768}},
		{5000, []int{10000, 20000}},
		{256, []int{512, 1024, 2048, 4096, 8192, 16384, 32768}},
		{16384, []int{32768}},
		{32768, nil},
		{1 << 20, nil},
	}
	for _, tt := range tests {
		var s bufSize
		if got := s.size(tt.base); got != tt.base {
			t.Fatalf("base %d: starts at %d", tt.base, got)
		}
		for _, want := range tt.sizes {
			if !s.grow(tt.base) || s.size(tt.base) != want {
				t.Fatalf("base %d: grew to %d, want %d", tt.base, s.size(tt.base), want)
			}
		}
		top := s.size(tt.base)
		if s.grow(tt.base) || s.size(tt.base) != top {
			t.Fatalf("base %d: grew past %d", tt.base, top)
		}
		// After full reads, reads of a quarter of the size or more keep
		// it.
		s.observe(top)
		s.observe(top)
		for range 8 {
			s.observe(top / 4)
			if s.shrink(tt.base) {
				t.Fatalf("base %d: shrank from %d with reads of a quarter", tt.base, top)
			}
		}
		// Small reads bring it back down to the base, one halving at a
		// time, and no further.
		for i := len(tt.sizes) - 1; i >= 0; i-- {
			for s.observe(1); !s.shrink(tt.base); s.observe(1) {
			}
			want := tt.base
			if i > 0 {
				want = tt.sizes[i-1]
			}
			if got := s.size(tt.base); got != want {
				t.Fatalf("base %d: shrank to %d, want %d", tt.base, got, want)
			}
		}
		s.observe(0)
		if s.shrink(tt.base) || s.size(tt.base) != tt.base {
			t.Fatalf("base %d: shrank below the base to %d", tt.base, s.size(tt.base))
		}
	}
}

// chunkConn is an in-memory net.Conn whose reads hand out its input in
// pieces of the sizes given, in turn, and whose writes are kept.
type chunkConn struct {
	net.Conn
	in    []byte
	sizes []int
	reads int
	out   bytes.Buffer
}

func (f *chunkConn) Read(p []byte) (int, error) {
	if len(f.in) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), f.sizes[f.reads%len(f.sizes)])
	f.reads++
	n := copy(p[:k], f.in)
	f.in = f.in[n:]
	return n, nil
}
func (f *chunkConn) Write(p []byte) (int, error)      { return f.out.Write(p) }
func (f *chunkConn) SetReadDeadline(time.Time) error  { return nil }
func (f *chunkConn) SetWriteDeadline(time.Time) error { return nil }
func (f *chunkConn) Close() error                     { return nil }

// echoStream returns the client frames of binary messages of the sizes
// given, masked, and the server's echo of them, byte for byte.
func echoStream(sizes []int) (in, out []byte) {
	for i, n := range sizes {
		p := make([]byte, n)
		for j := range p {
			p[j] = byte(i*31 + j)
		}
		in = wstest.AppendFrame(in, wstest.Frame{Fin: true, Op: wstest.OpBinary, Payload: p, Masked: true, Mask: [4]byte{byte(i), 2, 3, 4}})
		out = wstest.AppendFrame(out, wstest.Frame{Fin: true, Op: wstest.OpBinary, Payload: p})
	}
	return in, out
}

// TestBuffersGrowAndShrink: reads that fill the read buffer double it up
// to maxGrownBuffer, echoes that overflow the write buffer double that,
// and when one 1 KiB message comes per read, both shrink back to the
// option's size.
func TestBuffersGrowAndShrink(t *testing.T) {
	const n = 64
	sizes := make([]int, n)
	for i := range sizes {
		sizes[i] = 1024
	}
	in, out := echoStream(sizes)
	frameLen := len(in) / n
	fc := &chunkConn{in: in, sizes: []int{1 << 20}}
	c := newTestConn(fc, echoHandler{}, Options{}, VersionRFC6455)

	// Everything arrives at once: each read fills the read buffer.
	maxHeld, maxWrite := 0, 0
	for range n {
		if err := c.step(); err != nil {
			t.Fatal(err)
		}
		held, _, write := c.bufSizes()
		maxHeld, maxWrite = max(maxHeld, held), max(maxWrite, write)
	}
	if maxHeld != maxGrownBuffer || maxWrite != maxGrownBuffer {
		t.Fatalf("under load the buffers grew to %d (read) and %d (write), want %d", maxHeld, maxWrite, maxGrownBuffer)
	}

	// One message per read: the buffers shrink, a halving at a time.
	fc.in, fc.sizes = in, []int{frameLen}
	prevHeld, prevWrite := maxHeld, maxWrite
	for i := range n {
		if err := c.step(); err != nil {
			t.Fatal(err)
		}
		held, read, write := c.bufSizes()
		if held > prevHeld || write > prevWrite {
			t.Fatalf("message %d: a buffer grew under a light load: read %d → %d, write %d → %d", i, prevHeld, held, prevWrite, write)
		}
		if held > read && held >= 2*read {
			t.Fatalf("message %d: holds a read buffer of %d, sized %d", i, held, read)
		}
		prevHeld, prevWrite = held, write
	}
	if err := c.step(); !errorsIsEOF(err) {
		t.Fatalf("after the input: %v", err)
	}
	held, read, write := c.bufSizes()
	if held != defaultBufferSize || read != defaultBufferSize || write != defaultBufferSize {
		t.Fatalf("after the load fell: read buffer %d (size %d), write %d, want %d", held, read, write, defaultBufferSize)
	}
	if want := append(append([]byte(nil), out...), out...); !bytes.Equal(fc.out.Bytes(), want) {
		t.Fatalf("echoes differ: %d bytes, want %d", fc.out.Len(), len(want))
	}

	// Hibernating gives the buffers back, and their sizes start over.
	c.rsize.grow(c.opts.ReadBufferSize)
	c.wsize.grow(c.opts.WriteBufferSize)
	c.hibernateNow()
	if held, read, write := c.bufSizes(); held != 0 || read != defaultBufferSize || write != defaultBufferSize {
		t.Fatalf("hibernated: read buffer %d (size %d), write %d", held, read, write)
	}
}

func errorsIsEOF(err error) bool { return errors.Is(err, io.EOF) }

// TestEchoSplitPoints echoes messages around every size the buffers
// care about (the in-place limit, the buffer sizes, the bound) read in
// pieces of many sizes, so that the read buffer grows and shrinks
// between and inside frames, and checks the echo byte for byte and the
// bound on the read buffer.
func TestEchoSplitPoints(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 1000, 2047, 2048, 2049, 4095, 4096, 5000, 16383, 16384, 16385, 20000, 32768, 70000, 3, 1024, 1024, 1024}
	in, out := echoStream(sizes)
	pieces := [][]int{
		{1},
		{2, 3, 5},
		{7, 4096},
		{4095},
		{4096},
		{4097},
		{1032},
		{8192, 1},
		{32768},
		{65536},
		{1 << 20},
		{40000, 10, 1032, 3},
		{100, 65536, 2},
	}
	for _, ps := range pieces {
		t.Run(fmt.Sprint(ps), func(t *testing.T) {
			fc := &chunkConn{in: in, sizes: ps}
			c := newTestConn(fc, echoHandler{}, Options{}, VersionRFC6455)
			for range len(sizes) {
				if err := c.step(); err != nil {
					t.Fatal(err)
				}
				if held, _, _ := c.bufSizes(); held > maxGrownBuffer {
					t.Fatalf("read buffer of %d bytes", held)
				}
			}
			if err := c.step(); !errorsIsEOF(err) {
				t.Fatalf("after the input: %v", err)
			}
			if got := fc.out.Bytes(); !bytes.Equal(got, out) {
				i := 0
				for i < min(len(got), len(out)) && got[i] == out[i] {
					i++
				}
				t.Fatalf("echo differs from byte %d on (%d bytes, want %d)", i, len(got), len(out))
			}
		})
	}
}

// TestMakeRoomWhenFull: unread bytes that fill the read buffer, as a
// buffer taken at the handshake larger than the option's can leave them,
// double the buffer and keep their place in the stream.
func TestMakeRoomWhenFull(t *testing.T) {
	c := newTestConn(&chunkConn{}, echoHandler{}, Options{ReadBufferSize: 256}, VersionRFC6455)
	for i := range c.rbuf {
		c.rbuf[i] = byte(i)
	}
	want := append([]byte(nil), c.rbuf...)
	c.r, c.w, c.remaining = 0, len(c.rbuf), 1000
	c.makeRoom()
	if len(c.rbuf) != 2*len(want) || c.r != 0 || !bytes.Equal(c.rbuf[:c.w], want) {
		t.Fatalf("read buffer of %d with [%d:%d] unread, want %d with the %d bytes kept", len(c.rbuf), c.r, c.w, 2*len(want), len(want))
	}
}

// TestBufferedEchoAllocs pins the pipelined echo, 32 messages of 1 KiB
// per read with the buffers grown, at zero allocations per message.
func TestBufferedEchoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	sizes := make([]int, 32)
	for i := range sizes {
		sizes[i] = 1024
	}
	batch, _ := echoStream(sizes)
	fc := &fakeConn{frame: batch}
	c := newTestConn(fc, echoHandler{}, Options{}, VersionRFC6455)
	for range 1000 {
		if err := c.step(); err != nil {
			t.Fatal(err)
		}
	}
	if held, _, write := c.bufSizes(); held != maxGrownBuffer || write != maxGrownBuffer {
		t.Fatalf("buffers of %d and %d, want them grown to %d", held, write, maxGrownBuffer)
	}
	if n := testing.AllocsPerRun(1000, func() { c.step() }); n != 0 {
		t.Errorf("%v allocations per echoed message", n)
	}
}
