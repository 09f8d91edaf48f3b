package lariat

import (
	"bytes"
	"testing"
	"time"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// TestSetIdleTimeout: the command changes the connection's timeout from
// now, a negative value disables it, and zero restores the value the
// connection started with (Options.IdleTimeout), as the option's zero
// means its default.
func TestSetIdleTimeout(t *testing.T) {
	t.Run("shorter", func(t *testing.T) {
		h := newRecorder()
		h.onInit = func(c *Conn) error { c.SetIdleTimeout(100 * time.Millisecond); return nil }
		c := wstest.Dial(t, serve(t, h)) // Options.IdleTimeout: 60 s
		if f, err := c.ReadFrame(); err != nil || f.Op != wstest.OpPing {
			t.Fatalf("want ping, got %v %v", f, err)
		}
		c.WantClose(1000)
		if r := h.reason(t); r.Kind != ReasonTimeout || r.Text != "idle timeout" {
			t.Fatalf("reason %+v", r)
		}
	})
	t.Run("disabled then restored", func(t *testing.T) {
		h := newRecorder()
		h.onInit = func(c *Conn) error { c.SetIdleTimeout(-1); return nil }
		h.onHandle = func(c *Conn, f Frame) error { c.SetIdleTimeout(0); return c.Send(f) }
		c := wstest.Dial(t, serve(t, h, func(u *Upgrader) { u.Options.IdleTimeout = 100 * time.Millisecond }))
		c.WantNoFrame(400 * time.Millisecond) // no ping, no close
		c.WriteText("restore")
		c.WantText("restore")
		if f, err := c.ReadFrame(); err != nil || f.Op != wstest.OpPing {
			t.Fatalf("want ping, got %v %v", f, err)
		}
		c.WantClose(1000)
	})
}

// TestSetMaxMessageSize: the command bounds the messages that follow,
// and zero restores the connection's configured limit, not the
// library's default.
func TestSetMaxMessageSize(t *testing.T) {
	h := newRecorder()
	h.onInit = func(c *Conn) error { c.SetMaxMessageSize(10); return nil }
	h.onHandle = func(c *Conn, f Frame) error {
		if string(f.Payload) == "restore" {
			c.SetMaxMessageSize(0)
		}
		return c.Send(f)
	}
	c := wstest.Dial(t, serve(t, h, func(u *Upgrader) { u.Options.MaxMessageSize = 100 }))
	c.WriteText("restore")
	c.WantText("restore")
	c.WriteBinary(make([]byte, 100))
	c.WantBinary(make([]byte, 100))
	c.WriteBinary(make([]byte, 101))
	c.WantClose(1009)

	h2 := newRecorder()
	h2.onInit = func(c *Conn) error { c.SetMaxMessageSize(10); return nil }
	c2 := wstest.Dial(t, serve(t, h2, func(u *Upgrader) { u.Options.MaxMessageSize = 100 }))
	c2.WriteBinary(make([]byte, 11))
	c2.WantClose(1009)
}

// countConn is a scriptConn that counts its writes.
type countConn struct {
	scriptConn
	writes int
}

func (c *countConn) Write(p []byte) (int, error) { c.writes++; return len(p), nil }

// TestPipelinedRepliesShareWrites: replies to messages that arrived
// together leave together, in one write, when the connection is about
// to wait for more.
func TestPipelinedRepliesShareWrites(t *testing.T) {
	var input []byte
	for range 32 {
		input = wstest.AppendFrame(input, wstest.Frame{Fin: true, Op: wstest.OpBinary, Payload: make([]byte, 64), Masked: true})
	}
	cc := &countConn{scriptConn: scriptConn{r: bytes.NewReader(input)}}
	h := newRecorder()
	c := newTestConn(cc, h, Options{}, VersionRFC6455)
	c.serve()
	if n := len(h.frames); n != 32 {
		t.Fatalf("%d messages handled", n)
	}
	if cc.writes != 1 {
		t.Fatalf("32 pipelined replies took %d writes, want 1", cc.writes)
	}
}
