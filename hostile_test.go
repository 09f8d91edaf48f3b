package lariat

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// Hostile input: what a peer controls must not crash the process, size
// an allocation, or hold a connection forever.

// TestDeclaredLengthAllocatesNothing: a frame header alone costs a small
// constant, whatever length it declares and whatever MaxMessageSize is
// (an operator's "unlimited" once crashed the process with one 14-byte
// header).
func TestDeclaredLengthAllocatesNothing(t *testing.T) {
	for _, limit := range []int64{1 << 20, 64 << 30, math.MaxInt64} {
		for _, declared := range []int64{1<<20 - 1, 1 << 40, 1 << 62} {
			if declared > limit {
				continue
			}
			frame := wstest.AppendFrame(nil, wstest.Frame{Fin: true, Op: wstest.OpBinary, Payload: make([]byte, 100), Masked: true})
			// Rewrite the length to the declared one, keeping the 100
			// bytes that really come.
			hdr := []byte{0x82, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}
			for i := range 8 {
				hdr[2+i] = byte(uint64(declared) >> (56 - 8*i))
			}
			input := append(hdr, frame[len(frame)-100:]...)
			c := newTestConn(&scriptConn{r: bytes.NewReader(input)}, echoHandler{}, Options{MaxMessageSize: limit}, VersionRFC6455)
			err := c.step()
			if r := asConnError(err); r.kind != ReasonClosed {
				t.Fatalf("limit %d, declared %d: %v", limit, declared, err)
			}
			// One growth chunk, whatever the header declared.
			if c.mbp != nil && cap(*c.mbp) > growChunk {
				t.Fatalf("limit %d, declared %d: %d bytes reserved for 100 that came", limit, declared, cap(*c.mbp))
			}
		}
	}
}

// TestHugeLimitCompressed: a limit near math.MaxInt64 once overflowed the
// slack allowed for compressed bytes, refusing every compressed message.
func TestHugeLimitCompressed(t *testing.T) {
	url := serve(t, newRecorder(), compressed(func(u *Upgrader) { u.Options.MaxMessageSize = math.MaxInt64 }))
	c := wstest.Dial(t, url, wstest.Extensions("permessage-deflate"))
	msg := jsonish(64 << 10)
	c.WriteBinary(msg)
	c.WantBinary(msg)
}

// TestMessageTimeout: a message trickled in a byte at a time is cut off
// after MessageTimeout, though the idle timeout never fires.
func TestMessageTimeout(t *testing.T) {
	h := newRecorder()
	c := wstest.Dial(t, serve(t, h, func(u *Upgrader) { u.Options.MessageTimeout = 200 * time.Millisecond }))
	frame := c.AppendFrame(nil, true, 0, wstest.OpBinary, make([]byte, 1<<20-1))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 200; i++ { // at most 4 s: bounded
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			c.WriteRaw(frame[i : i+1])
		}
	}()
	c.WantClose(1000)
	close(stop)
	wg.Wait()
	if r := h.reason(t); r.Kind != ReasonTimeout || r.Text != "message timeout" {
		t.Fatalf("reason %+v", r)
	}
}

// TestWebkitLimitCountsInflated: with x-webkit-deflate-frame, a compressed
// frame that inflates to nearly the limit, then a raw continuation as
// long, is too big: wire bytes once counted, letting twice the limit
// through.
func TestWebkitLimitCountsInflated(t *testing.T) {
	const limit = 64 << 10
	h := newRecorder()
	url := serve(t, h, compressed(func(u *Upgrader) { u.Options.MaxMessageSize = limit }))
	c := wstest.Dial(t, url, wstest.RawRequest(rawRequest(url, "Sec-WebSocket-Extensions: x-webkit-deflate-frame")))
	c.WriteFrame(false, wstest.RSV1, wstest.OpBinary, deflateRaw(make([]byte, limit-100)))
	c.WriteFrame(true, 0, wstest.OpContinuation, make([]byte, limit-100))
	c.WantClose(1009)
	if r := h.reason(t); r.Kind != ReasonTooBig {
		t.Fatalf("reason %+v", r)
	}
}

// panicConn panics in Read, as a bug in lariat's own read path would.
type panicConn struct{ scriptConn }

func (*panicConn) Read([]byte) (int, error) { panic("lariat bug") }

// TestPanicInLariatEndsOneConnection: a panic on the connection goroutine
// outside the callbacks is recovered there: Terminate gets ReasonCrash
// and the process goes on.
func TestPanicInLariatEndsOneConnection(t *testing.T) {
	h := newRecorder()
	c := newTestConn(&panicConn{}, h, Options{}, VersionRFC6455)
	c.serve()
	r := h.reason(t)
	var pe *PanicError
	if r.Kind != ReasonCrash || !errors.As(r, &pe) || pe.Value != "lariat bug" {
		t.Fatalf("reason %+v", r)
	}
}

// TestMailboxBytes: the mailbox is bounded in bytes as well as count.
func TestMailboxBytes(t *testing.T) {
	h := newRecorder()
	entered, release := make(chan *Conn), make(chan struct{})
	h.onHandle = func(c *Conn, f Frame) error { entered <- c; <-release; return nil }
	c := wstest.Dial(t, serve(t, h))
	c.WriteText("block")
	sc := <-entered
	chunk := make([]byte, 64<<10)
	accepted := 0
	var err error
	for range 100 {
		if err = sc.Post(chunk); err != nil {
			break
		}
		accepted++
	}
	close(release)
	if !errors.Is(err, ErrMailboxFull) || accepted != defaultMailboxBytes/len(chunk) {
		t.Fatalf("%d posts of 64 KiB accepted, then %v", accepted, err)
	}
}

// TestPausedConnectionIsBounded: a connection whose reading is paused
// still ends after the idle timeout, so a peer that went away is not held
// forever.
func TestPausedConnectionIsBounded(t *testing.T) {
	h := newRecorder()
	h.onInit = func(c *Conn) error { c.SetActive(false); return nil }
	c := wstest.Dial(t, serve(t, h, func(u *Upgrader) { u.Options.IdleTimeout = 200 * time.Millisecond }))
	c.Close()
	if r := h.reason(t); r.Kind != ReasonTimeout {
		t.Fatalf("reason %+v", r)
	}
}

// TestPostFrameIsCopied: a Frame posted as it is, not cloned, arrives
// intact, though its payload aliased a buffer that has been reused (and,
// under the race detector, poisoned) since.
func TestPostFrameIsCopied(t *testing.T) {
	h := newRecorder()
	h.onHandle = func(c *Conn, f Frame) error { return c.Post(f) }
	h.onInfo = func(c *Conn, msg any) error { return c.Send(msg.(Frame)) }
	c := wstest.Dial(t, serve(t, h))
	var batch []byte
	for _, s := range []string{"first", "second", "third"} {
		batch = c.AppendFrame(batch, true, 0, wstest.OpText, []byte(s))
	}
	c.WriteRaw(batch)
	c.WantText("first")
	c.WantText("second")
	c.WantText("third")
}

// TestCompressedTextFailsFast: invalid UTF-8 in the first frame of a
// compressed message closes with 1007 before the message ends, as it does
// for uncompressed text.
func TestCompressedTextFailsFast(t *testing.T) {
	h := newRecorder()
	c := wstest.Dial(t, serve(t, h, compressed()), wstest.Extensions("permessage-deflate"))
	// A sync-flushed block whose output is complete at the frame's end.
	c.WriteFrame(false, wstest.RSV1, wstest.OpText, append(deflateRaw([]byte("ok \xff\xfe")), 0, 0, 0xff, 0xff))
	c.WantClose(1007)
	if r := h.reason(t); r.Kind != ReasonBadEncoding {
		t.Fatalf("reason %+v", r)
	}
}

// TestConnectNeverReachesPage: a CONNECT, as an RFC 8441 client sends it,
// is refused and never given to the page handler, which would answer 200
// and be taken for an open tunnel.
func TestConnectNeverReachesPage(t *testing.T) {
	u := &Upgrader{New: func(*http.Request, *Handshake) (Handler, error) { return newRecorder(), nil }}
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("page served a %s", r.Method)
	})
	for _, h := range []http.Handler{u, u.Wrap(page)} {
		r := httptest.NewRequest(http.MethodConnect, "https://example.com/chat", nil)
		r.Proto, r.ProtoMajor = "HTTP/2.0", 2
		r.Header.Set(":protocol", "websocket")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code < 400 {
			t.Fatalf("CONNECT answered %d", w.Code)
		}
	}
}

// TestShutdownContextBound: Shutdown returns by its context's deadline,
// even when a Terminate blocks.
func TestShutdownContextBound(t *testing.T) {
	h := newRecorder()
	release := make(chan struct{})
	defer close(release)
	h.onTerminate = func(*Conn, Reason) { <-release }
	var up *Upgrader
	c := wstest.Dial(t, serve(t, h, func(u *Upgrader) { up = u }))
	c.WriteText("x")
	c.WantText("x")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- up.Shutdown(ctx) }()
	c.WantClose(1001)
	c.WriteClose(1001, "")
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after its deadline")
	}
}
