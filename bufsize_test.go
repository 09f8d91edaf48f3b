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

func errorsIsEOF(err error) bool { return errors.Is(err, io.EOF) }

// sameEcho fails the test where got, the echo, first differs from want.
func sameEcho(t *testing.T, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < min(len(got), len(want)) && got[i] == want[i] {
		i++
	}
	t.Fatalf("echo differs from byte %d on (%d bytes, want %d)", i, len(got), len(want))
}

// splitSizes are message sizes around every size the buffers care about:
// the in-place limit, the buffer sizes, the bound.
var splitSizes = []int{0, 1, 125, 126, 1000, 2047, 2048, 2049, 4095, 4096, 5000, 16383, 16384, 16385, 20000, 32768, 70000, 3, 1024, 1024, 1024}

// splitPieces are the sizes of the pieces in which the split-point tests
// deliver the messages, taken in turn.
var splitPieces = [][]int{
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

// TestEchoSplitPoints echoes the messages of splitSizes read in the
// pieces of splitPieces, and checks the echo byte for byte and the bound
// on the read buffer. Over this transport, not a socket, the read buffer
// keeps its size; the write buffer grows and shrinks. (TestSocketSplitPoints
// does the same over a socket.)
func TestEchoSplitPoints(t *testing.T) {
	in, out := echoStream(splitSizes)
	for _, ps := range splitPieces {
		t.Run(fmt.Sprint(ps), func(t *testing.T) {
			fc := &chunkConn{in: in, sizes: ps}
			c := newTestConn(fc, echoHandler{}, Options{}, VersionRFC6455)
			for range len(splitSizes) {
				if err := c.step(); err != nil {
					t.Fatal(err)
				}
				if held, _, _ := c.bufSizes(); held != defaultBufferSize {
					t.Fatalf("read buffer of %d bytes", held)
				}
			}
			if err := c.step(); !errorsIsEOF(err) {
				t.Fatalf("after the input: %v", err)
			}
			sameEcho(t, fc.out.Bytes(), out)
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
