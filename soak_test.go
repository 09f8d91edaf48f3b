package lariat

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// TestSoak runs many connections at once for a while: well-behaved ones
// that exchange numbered messages and sometimes ask the server to pause
// reading, and misbehaving ones that send garbage, vanish mid-frame, read
// slowly or never read. The server must stay responsive, its memory
// bounded, and every message of the well-behaved connections must arrive
// exactly once and in order.
//
// It runs for 3 s by default; LARIAT_SOAK=60s (as CI sets) runs longer
// with more connections.
func TestSoak(t *testing.T) {
	duration, good, bad := 3*time.Second, 60, 20
	if v := os.Getenv("LARIAT_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("LARIAT_SOAK: %v", err)
		}
		duration, good, bad = d, 300, 100
	}
	if testing.Short() {
		duration = time.Second
	}

	u := &Upgrader{
		New: func(*http.Request, *Handshake) (Handler, error) { return &soakHandler{}, nil },
		Options: Options{
			WriteTimeout: time.Second,
			IdleTimeout:  5 * time.Second,
			CloseTimeout: time.Second,
		},
	}
	srv := httptest.NewServer(u)
	defer func() {
		srv.Close()
		waitNoConnGoroutines(t)
	}()
	addr := srv.Listener.Addr().String()

	var before runtime.MemStats
	readMem(&before)
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	var delivered atomic.Int64
	errs := make(chan error, good+bad)
	for i := range good {
		wg.Go(func() {
			n, err := soakGood(addr, i, deadline)
			delivered.Add(int64(n))
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		})
	}
	for i := range bad {
		wg.Go(func() { soakBad(addr, i, deadline) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// Still responsive.
	c := wstest.Dial(t, "ws://"+addr)
	c.WriteText("still there?")
	c.WantText("still there?")
	c.WriteClose(1000, "")
	c.WantClose(1000)

	var after runtime.MemStats
	readMem(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d messages echoed in order; heap %d -> %d bytes", delivered.Load(), before.HeapAlloc, after.HeapAlloc)
	if delivered.Load() == 0 {
		t.Fatal("no message delivered")
	}
	if growth > 64<<20 {
		t.Fatalf("heap grew by %d bytes", growth)
	}
}

// soakHandler echoes, and on "pause" stops reading for a moment: the
// messages sent meanwhile must still arrive, in order, afterwards.
type soakHandler struct{ Base }

func (soakHandler) Handle(c *Conn, f Frame) error {
	if f.Op.isControl() {
		return nil
	}
	if bytes.HasSuffix(f.Payload, []byte(" pause")) {
		c.SetActive(false)
		time.AfterFunc(20*time.Millisecond, func() { c.Post(true) })
	}
	return c.Send(f)
}

func (soakHandler) Info(c *Conn, msg any) error {
	c.SetActive(true)
	return nil
}

func soakDial(addr string) (net.Conn, *bufio.Reader, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(nc, "GET / HTTP/1.1\r\nHost: "+addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: "+goodKey+"\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		return nil, nil, fmt.Errorf("status %s", resp.Status)
	}
	return nc, br, nil
}

func soakFrame(op byte, p []byte) []byte {
	var key [4]byte
	for i := range key {
		key[i] = byte(rand.Uint32())
	}
	return wstest.AppendFrame(nil, wstest.Frame{Fin: true, Op: op, Payload: p, Masked: true, Mask: key})
}

// soakGood sends numbered messages, a few in flight at a time, and checks
// that each comes back once and in order. It returns how many did.
func soakGood(addr string, id int, deadline time.Time) (int, error) {
	nc, br, err := soakDial(addr)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	sent, got := 0, 0
	const window = 4
	for time.Now().Before(deadline) || got < sent {
		for sent-got < window && time.Now().Before(deadline) {
			msg := fmt.Sprintf("client %d message %d %s", id, sent, strings.Repeat("x", rand.IntN(3000)))
			if rand.IntN(50) == 0 {
				msg += " pause"
			}
			nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := nc.Write(soakFrame(wstest.OpText, []byte(msg))); err != nil {
				return got, err
			}
			sent++
		}
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		f, err := wstest.ReadFrameFrom(br, 1<<20)
		if err != nil {
			return got, fmt.Errorf("after %d of %d: %w", got, sent, err)
		}
		want := fmt.Sprintf("client %d message %d ", id, got)
		if f.Op != wstest.OpText || !strings.HasPrefix(string(f.Payload), want) {
			return got, fmt.Errorf("got %v %.40q, want %q", f.Op, f.Payload, want)
		}
		got++
	}
	nc.Write(soakFrame(wstest.OpClose, []byte{3, 0xe8}))
	return got, nil
}

// soakBad misbehaves in turn, until the deadline.
func soakBad(addr string, id int, deadline time.Time) {
	for i := 0; time.Now().Before(deadline); i++ {
		nc, br, err := soakDial(addr)
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		switch (id + i) % 4 {
		case 0: // garbage
			garbage := make([]byte, 64)
			for j := range garbage {
				garbage[j] = byte(rand.Uint32())
			}
			nc.Write(garbage)
			io.Copy(io.Discard, br)
		case 1: // vanish mid-frame, with a reset
			nc.Write(soakFrame(wstest.OpBinary, make([]byte, 5000))[:1000])
			nc.(*net.TCPConn).SetLinger(0)
		case 2: // read slowly
			nc.Write(soakFrame(wstest.OpBinary, make([]byte, 20000)))
			buf := make([]byte, 512)
			for range 10 {
				time.Sleep(5 * time.Millisecond)
				if _, err := br.Read(buf); err != nil {
					break
				}
			}
		case 3: // never read, while asking for large echoes
			p := make([]byte, 64<<10)
			nc.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
			for range 64 {
				if _, err := nc.Write(soakFrame(wstest.OpBinary, p)); err != nil {
					break
				}
			}
		}
		nc.Close()
	}
}
