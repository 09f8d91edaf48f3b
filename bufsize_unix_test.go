//go:build unix

package lariat

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
)

// socketPair returns the two ends of a connected Unix stream socket: a
// plain socket, read through its descriptor (see socketOf), where a
// write is queued whole at the other end before it returns.
func socketPair(t testing.TB) (srv, cli *net.UnixConn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	ends := make([]*net.UnixConn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		nc, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		ends[i] = nc.(*net.UnixConn)
	}
	t.Cleanup(func() { ends[0].Close(); ends[1].Close() })
	return ends[0], ends[1]
}

// drain reads cli to its end in a goroutine; wait returns what it read,
// once the server's end is closed.
func drain(cli net.Conn) (wait func() []byte) {
	var got bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(&got, cli)
	}()
	return func() []byte { <-done; return got.Bytes() }
}

// discard reads cli to its end in a goroutine, keeping nothing; wait
// returns once the server's end is closed.
func discard(cli net.Conn) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			if _, err := cli.Read(buf); err != nil {
				return
			}
		}
	}()
	return func() { <-done }
}

// TestBuffersGrowAndShrink: over a socket, reads that fill the read
// buffer double it up to maxGrownBuffer, and echoes that overflow the
// write buffer double that; when one 1 KiB message comes per read, both
// shrink back to the option's size, and hibernating starts them over.
func TestBuffersGrowAndShrink(t *testing.T) {
	const n = 64
	sizes := make([]int, n)
	for i := range sizes {
		sizes[i] = 1024
	}
	in, out := echoStream(sizes)
	frameLen := len(in) / n
	srv, cli := socketPair(t)
	c := newTestConn(srv, echoHandler{}, Options{}, VersionRFC6455)
	echoes := drain(cli)

	// Everything arrives at once: each read fills the read buffer.
	if _, err := cli.Write(in); err != nil {
		t.Fatal(err)
	}
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
	_, prevRead, prevWrite := c.bufSizes()
	for i := range n {
		if _, err := cli.Write(in[i*frameLen : (i+1)*frameLen]); err != nil {
			t.Fatal(err)
		}
		if err := c.step(); err != nil {
			t.Fatal(err)
		}
		held, read, write := c.bufSizes()
		if read > prevRead || write > prevWrite || held > prevRead {
			t.Fatalf("message %d: a buffer grew under a light load: read %d → %d (holding %d), write %d → %d", i, prevRead, read, held, prevWrite, write)
		}
		prevRead, prevWrite = read, write
	}
	cli.CloseWrite()
	if err := c.step(); !errorsIsEOF(err) {
		t.Fatalf("after the input: %v", err)
	}
	held, read, write := c.bufSizes()
	if held > defaultBufferSize || read != defaultBufferSize || write != defaultBufferSize {
		t.Fatalf("after the load fell: read buffer %d (size %d), write %d, want %d", held, read, write, defaultBufferSize)
	}
	srv.Close()
	sameEcho(t, echoes(), append(append([]byte(nil), out...), out...))

	// Hibernating gives the buffers back, and their sizes start over.
	c.rsize.grow(c.opts.ReadBufferSize)
	c.wsize.grow(c.opts.WriteBufferSize)
	c.hibernateNow()
	if held, read, write := c.bufSizes(); held != 0 || read != defaultBufferSize || write != defaultBufferSize {
		t.Fatalf("hibernated: read buffer %d (size %d), write %d", held, read, write)
	}
}

// TestSocketSplitPoints is TestEchoSplitPoints over a socket, where the
// read buffer grows and shrinks too, between frames and inside them: a
// writer sends the pieces as the server reads, which may take several
// at once.
func TestSocketSplitPoints(t *testing.T) {
	in, out := echoStream(splitSizes)
	for _, ps := range splitPieces {
		t.Run(fmt.Sprint(ps), func(t *testing.T) {
			srv, cli := socketPair(t)
			c := newTestConn(srv, echoHandler{}, Options{}, VersionRFC6455)
			echoes := drain(cli)
			wrote := make(chan error, 1)
			go func() {
				p := in
				for i := 0; len(p) > 0; i++ {
					k := min(len(p), ps[i%len(ps)])
					if _, err := cli.Write(p[:k]); err != nil {
						wrote <- err
						return
					}
					p = p[k:]
				}
				wrote <- cli.CloseWrite()
			}()
			for range len(splitSizes) {
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
			if err := <-wrote; err != nil {
				t.Fatal(err)
			}
			srv.Close()
			sameEcho(t, echoes(), out)
		})
	}
}

// TestBufferedEchoAllocs pins the pipelined echo over a socket, 32
// messages of 1 KiB per read with the buffers grown, at zero allocations
// per message, the peer's included.
func TestBufferedEchoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	sizes := make([]int, 32)
	for i := range sizes {
		sizes[i] = 1024
	}
	batch, echo := echoStream(sizes)
	srv, cli := socketPair(t)
	c := newTestConn(srv, echoHandler{}, Options{}, VersionRFC6455)
	echoes := drain(cli)
	// The batch is written, 32 messages at a time, by the test itself
	// before the server reads: no other goroutine writes.
	batches := 0
	step := func(i int) {
		if i%len(sizes) == 0 {
			batches++
			if _, err := cli.Write(batch); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.step(); err != nil {
			t.Fatal(err)
		}
	}
	const warm = 32 * 32
	for i := range warm {
		step(i)
	}
	if _, read, write := c.bufSizes(); read != maxGrownBuffer || write != maxGrownBuffer {
		t.Fatalf("buffers sized %d and %d, want them grown to %d", read, write, maxGrownBuffer)
	}
	i := warm
	if n := testing.AllocsPerRun(32*64, func() { step(i); i++ }); n != 0 {
		t.Errorf("%v allocations per echoed message", n)
	}
	cli.CloseWrite()
	for c.step() == nil {
	}
	srv.Close()
	got := echoes()
	if len(got) != len(echo)*batches {
		t.Fatalf("%d bytes echoed, want %d", len(got), len(echo)*batches)
	}
}

// BenchmarkSocketEcho echoes 1 KiB messages over a socket pair, written
// in batches of window messages: with a window of 1 the buffers keep
// the option's size, with 32 they grow. The peer's writes and reads are
// counted in the time.
func BenchmarkSocketEcho(b *testing.B) {
	for _, window := range []int{1, 32} {
		b.Run(fmt.Sprintf("window=%d", window), func(b *testing.B) {
			sizes := make([]int, window)
			for i := range sizes {
				sizes[i] = 1024
			}
			batch, _ := echoStream(sizes)
			srv, cli := socketPair(b)
			c := newTestConn(srv, echoHandler{}, Options{}, VersionRFC6455)
			done := discard(cli)
			b.SetBytes(1024)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i%window == 0 {
					if _, err := cli.Write(batch); err != nil {
						b.Fatal(err)
					}
				}
				if err := c.step(); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.StopTimer()
			cli.CloseWrite()
			for c.step() == nil {
			}
			srv.Close()
			done()
		})
	}
}
