package lariat

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeStreamWriter stands in for net/http's HTTP/2 ResponseWriter: it
// records what is written and flushed, and fails writes with err.
type fakeStreamWriter struct {
	mu      sync.Mutex
	header  http.Header
	status  int
	wrote   bytes.Buffer
	flushes int
	err     error
	wdl     time.Time
}

func (w *fakeStreamWriter) Header() http.Header { return w.header }
func (w *fakeStreamWriter) WriteHeader(code int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.status = code
}
func (w *fakeStreamWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	return w.wrote.Write(p)
}
func (w *fakeStreamWriter) FlushError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushes++
	return w.err
}
func (w *fakeStreamWriter) SetReadDeadline(time.Time) error { return nil }
func (w *fakeStreamWriter) SetWriteDeadline(t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.wdl = t
	return nil
}

// newTestStream returns an h2Stream whose request body is the read end of
// a pipe; the test writes the client's bytes to the other end. The
// stream is finished, and its pump gone, when the test ends.
func newTestStream(t testing.TB) (*h2Stream, *io.PipeWriter, *fakeStreamWriter) {
	pr, pw := io.Pipe()
	r := httptest.NewRequest(http.MethodConnect, "/", pr)
	r.RemoteAddr = "192.0.2.1:1234"
	w := &fakeStreamWriter{header: http.Header{}}
	s := newH2Stream(w, r, 4096)
	t.Cleanup(func() {
		pw.Close()
		s.finish()
	})
	return s, pw, w
}

// TestH2StreamWake: a Read blocked on the stream returns a deadline error
// when another goroutine moves the deadline into the past, as Post does,
// and the next Read gets the data that arrives after.
func TestH2StreamWake(t *testing.T) {
	s, pw, _ := newTestStream(t)
	got := make(chan error, 1)
	go func() {
		_, err := s.Read(make([]byte, 10))
		got <- err
	}()
	s.SetReadDeadline(aLongTimeAgo)
	if err := <-got; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read = %v, want a deadline error", err)
	}
	if _, err := s.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read with the deadline passed = %v", err)
	}
	s.SetReadDeadline(time.Time{})
	go pw.Write([]byte("after"))
	p := make([]byte, 10)
	n, err := s.Read(p)
	if err != nil || string(p[:n]) != "after" {
		t.Fatalf("Read = %q, %v", p[:n], err)
	}
}

// TestH2StreamTimer: a deadline in the future fires, and a deadline moved
// before it fires does not.
func TestH2StreamTimer(t *testing.T) {
	s, pw, _ := newTestStream(t)
	s.SetReadDeadline(time.Now().Add(time.Hour))
	s.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := s.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read = %v", err)
	}
	s.SetReadDeadline(time.Now().Add(time.Hour))
	go pw.Write([]byte("x"))
	if n, err := s.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("Read = %d, %v", n, err)
	}
}

// TestH2StreamNoLoss streams 1 MiB through while another goroutine keeps
// moving the read deadline into the past and the reader, like the
// connection, clears it after each timeout: every byte arrives, in order.
func TestH2StreamNoLoss(t *testing.T) {
	s, pw, _ := newTestStream(t)
	want := make([]byte, 1<<20)
	for i := range want {
		want[i] = byte(rand.Uint32())
	}
	go func() {
		for p := want; len(p) > 0; {
			n := min(len(p), 1+rand.IntN(9000))
			pw.Write(p[:n])
			p = p[n:]
		}
		pw.Close()
	}()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				s.SetReadDeadline(aLongTimeAgo)
				time.Sleep(time.Duration(rand.IntN(50)) * time.Microsecond)
			}
		}
	})
	var got []byte
	timeouts := 0
	p := make([]byte, 3000)
	for {
		n, err := s.Read(p)
		got = append(got, p[:n]...)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			timeouts++
			s.SetReadDeadline(time.Time{})
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want %d; they differ", len(got), len(want))
	}
	t.Logf("%d wake-ups", timeouts)
}

// TestH2StreamErrors: the body's end and errors become what the engine
// expects of a socket.
func TestH2StreamErrors(t *testing.T) {
	s, pw, _ := newTestStream(t)
	pw.Close()
	if _, err := s.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after END_STREAM: %v, want io.EOF", err)
	}

	s, pw, _ = newTestStream(t)
	cause := errors.New("stream reset by peer")
	pw.CloseWithError(cause)
	_, err := s.Read(make([]byte, 1))
	if !errors.Is(err, syscall.ECONNRESET) || !errors.Is(err, cause) {
		t.Fatalf("after a reset: %v, want ECONNRESET and the cause", err)
	}

	s, _, _ = newTestStream(t)
	got := make(chan error, 1)
	go func() {
		_, err := s.Read(make([]byte, 1))
		got <- err
	}()
	s.Close()
	if err := <-got; !errors.Is(err, ErrClosed) {
		t.Fatalf("Read blocked across Close: %v, want ErrClosed", err)
	}
	s.finish() // the pump is gone
	if _, err := s.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close = %v", err)
	}
}

func TestH2StreamWrite(t *testing.T) {
	s, _, w := newTestStream(t)
	if err := s.writeHeader(http.StatusOK); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Write([]byte("frame")); n != 5 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if w.status != 200 || w.wrote.String() != "frame" || w.flushes != 2 {
		t.Fatalf("status %d, wrote %q, %d flushes", w.status, w.wrote.String(), w.flushes)
	}
	w.err = errors.New("http2: stream closed")
	if _, err := s.Write([]byte("x")); !errors.Is(err, syscall.ECONNRESET) || !errors.Is(err, w.err) {
		t.Fatalf("Write on a reset stream = %v", err)
	}
	s.SetWriteDeadline(aLongTimeAgo)
	if !w.wdl.Equal(aLongTimeAgo) {
		t.Fatalf("write deadline %v not passed on", w.wdl)
	}
	if _, err := s.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write past the deadline = %v", err)
	}
	if got := s.RemoteAddr().String(); got != "192.0.2.1:1234" {
		t.Fatalf("RemoteAddr() = %s", got)
	}
}

// TestH2StreamAllocs pins the cost of moving the deadline, of Post's
// wake-up and of a Read from data already handed over: none allocates.
func TestH2StreamAllocs(t *testing.T) {
	s, pw, _ := newTestStream(t)
	s.SetReadDeadline(time.Now().Add(time.Hour))
	if n := testing.AllocsPerRun(100, func() { s.SetReadDeadline(time.Now().Add(time.Hour)) }); n != 0 {
		t.Errorf("moving the deadline: %v allocations", n)
	}
	p := make([]byte, 1)
	if n := testing.AllocsPerRun(100, func() {
		s.SetReadDeadline(aLongTimeAgo)
		if _, err := s.Read(p); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal(err)
		}
		s.SetReadDeadline(time.Time{})
	}); n != 0 {
		t.Errorf("a wake-up: %v allocations", n)
	}
	go pw.Write(make([]byte, 200))
	if _, err := s.Read(p); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { s.Read(p) }); n != 0 {
		t.Errorf("a Read of buffered data: %v allocations", n)
	}
}
