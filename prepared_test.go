package lariat

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/lariat-ws/lariat/internal/deflate"
)

// sinkConn is an in-memory net.Conn that counts writes and, when keep is
// set, keeps what was written. Reads never return.
type sinkConn struct {
	net.Conn
	mu     sync.Mutex
	keep   bool
	writes int
	out    bytes.Buffer
}

func (s *sinkConn) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.writes++
	if s.keep {
		s.out.Write(p)
	}
	s.mu.Unlock()
	return len(p), nil
}

func (s *sinkConn) written() (writes int, out []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes, bytes.Clone(s.out.Bytes())
}

func (s *sinkConn) SetReadDeadline(time.Time) error  { return nil }
func (s *sinkConn) SetWriteDeadline(time.Time) error { return nil }
func (s *sinkConn) Close() error                     { return nil }
func (s *sinkConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// sinkSetup is one way a connection can have been negotiated.
type sinkSetup struct {
	name    string
	version Version
	params  *deflate.Params // nil: no compression
	opts    func(*Options)
}

var sinkSetups = []sinkSetup{
	{name: "plain"},
	{name: "permessage-deflate, server_no_context_takeover", params: &deflate.Params{Kind: deflate.PerMessage, ServerNoContextTakeover: true}},
	{name: "permessage-deflate, server_no_context_takeover, 9-bit window", params: &deflate.Params{Kind: deflate.PerMessage, ServerNoContextTakeover: true, ServerMaxWindowBits: 9}},
	{name: "permessage-deflate, context takeover", params: &deflate.Params{Kind: deflate.PerMessage}},
	{name: "x-webkit-deflate-frame, no_context_takeover", params: &deflate.Params{Kind: deflate.PerFrame, ServerNoContextTakeover: true}},
	{name: "plain, 100-byte fragments", opts: func(o *Options) { o.FragmentSize = 100 }},
	{name: "permessage-deflate, server_no_context_takeover, 100-byte fragments", params: &deflate.Params{Kind: deflate.PerMessage, ServerNoContextTakeover: true}, opts: func(o *Options) { o.FragmentSize = 100 }},
	{name: "x-webkit-deflate-frame, no_context_takeover, 100-byte fragments", params: &deflate.Params{Kind: deflate.PerFrame, ServerNoContextTakeover: true}, opts: func(o *Options) { o.FragmentSize = 100 }},
	{name: "hixie-76", version: VersionHixie76},
}

// newSink returns a connection negotiated as su, writing to a sinkConn,
// driven by the test goroutine in place of its own.
func newSink(su sinkSetup, h Handler, keep bool) (*Conn, *sinkConn) {
	sc := &sinkConn{keep: keep}
	o := Options{}
	if su.opts != nil {
		su.opts(&o)
	}
	if h == nil {
		h = Base{}
	}
	v := su.version
	if v == 0 {
		v = VersionRFC6455
	}
	c := newTestConn(sc, h, o, v)
	if su.params != nil {
		c.ext, c.comp, c.decomp = su.params.Kind, deflate.NewCompressor(*su.params), deflate.NewDecompressor(*su.params)
	}
	return c, sc
}

// TestSendPreparedWire: whatever a connection negotiated, SendPrepared
// puts on the wire exactly what Send would, message after message (with
// context takeover the compressed bytes depend on the messages before).
// Where RFC 6455 or hixie-76 fix the bytes, they are checked too.
func TestSendPreparedWire(t *testing.T) {
	msgs := []Frame{
		{Op: OpText, Payload: []byte("Hello")},
		{Op: OpBinary, Payload: jsonish(3000)},
		{Op: OpText, Payload: jsonish(300)},
		{Op: OpPing, Payload: []byte("p")},
		{Op: OpText, Payload: nil},
		{Op: OpBinary, Payload: bytes.Repeat([]byte{0xff}, 500)},
		{Op: OpText, Payload: jsonish(3000)},
	}
	exact := map[string]string{
		"plain":    "81 05 48 65 6c 6c 6f", // RFC 6455 §5.7, a single-frame unmasked text message
		"hixie-76": "00 48 65 6c 6c 6f ff", // draft-hixie-76 §4.2, a text frame
	}
	for _, su := range sinkSetups {
		t.Run(su.name, func(t *testing.T) {
			send, sendOut := newSink(su, nil, true)
			prep, prepOut := newSink(su, nil, true)
			for i, m := range msgs {
				pm, err := NewPreparedMessage(m.Op, m.Payload)
				if err != nil {
					t.Fatal(err)
				}
				errSend, errPrep := send.Send(m), prep.SendPrepared(pm)
				if !errors.Is(errPrep, errSend) && errPrep != errSend {
					t.Fatalf("message %d: SendPrepared: %v, Send: %v", i, errPrep, errSend)
				}
				send.flush()
				prep.flush()
				_, a := sendOut.written()
				_, b := prepOut.written()
				if !bytes.Equal(a, b) {
					t.Fatalf("message %d (%v, %d bytes): SendPrepared wrote\n% x\nSend wrote\n% x", i, m.Op, len(m.Payload), b, a)
				}
				if i == 0 && exact[su.name] != "" {
					if want := hexBytes(t, exact[su.name]); !bytes.Equal(b, want) {
						t.Fatalf("Hello: % x, want % x", b, want)
					}
				}
			}
		})
	}
}

// TestSendPreparedHixie: what a hixie connection cannot carry is refused
// with the errors Send gives.
func TestSendPreparedHixie(t *testing.T) {
	c, _ := newSink(sinkSetup{version: VersionHixie76}, nil, false)
	for _, tt := range []struct {
		op      Opcode
		payload string
		want    error
	}{
		{OpBinary, "b", errNotSupported},
		{OpPing, "", errNotSupported},
		{OpText, "a\xffb", errUnframeable},
		{OpText, "fine", nil},
	} {
		pm, _ := NewPreparedMessage(tt.op, []byte(tt.payload))
		if err := c.SendPrepared(pm); !errors.Is(err, tt.want) {
			t.Errorf("%v %q: %v, want %v", tt.op, tt.payload, err, tt.want)
		}
	}
}

func TestNewPreparedMessageErrors(t *testing.T) {
	for _, tt := range []struct {
		op   Opcode
		n    int
		want error
	}{
		{OpText, 1 << 20, nil},
		{OpPong, 125, nil},
		{OpPing, 126, errPingTooLong},
		{opClose, 2, errBadOpcode},
		{opContinuation, 1, errBadOpcode},
		{Opcode(3), 1, errBadOpcode},
	} {
		if _, err := NewPreparedMessage(tt.op, make([]byte, tt.n)); !errors.Is(err, tt.want) {
			t.Errorf("%v, %d bytes: %v, want %v", tt.op, tt.n, err, tt.want)
		}
	}
	// The payload is copied.
	p := []byte("abc")
	pm, _ := NewPreparedMessage(OpText, p)
	p[0] = 'x'
	if f := pm.Frame(); string(f.Payload) != "abc" || f.Op != OpText {
		t.Fatalf("Frame() = %v %q", f.Op, f.Payload)
	}
}

// TestPreparedCompressedOncePerSetting: connections that share a setting
// share one compressed form; another window is another form; context
// takeover and plain connections add none.
func TestPreparedCompressedOncePerSetting(t *testing.T) {
	pm, _ := NewPreparedMessage(OpText, jsonish(4000))
	var conns []*Conn
	for range 20 {
		c, _ := newSink(sinkSetups[1], nil, false)
		conns = append(conns, c)
	}
	for range 5 {
		c, _ := newSink(sinkSetups[2], nil, false)
		conns = append(conns, c)
	}
	for _, su := range []sinkSetup{sinkSetups[0], sinkSetups[3]} {
		c, _ := newSink(su, nil, false)
		conns = append(conns, c)
	}
	for _, c := range conns {
		if err := c.SendPrepared(pm); err != nil {
			t.Fatal(err)
		}
		c.flush()
	}
	forms := *pm.forms.Load()
	if len(forms) != 2 {
		t.Fatalf("%d compressed forms, want 2", len(forms))
	}
	for _, f := range forms {
		if !f.compressed || len(f.body) >= 4000 {
			t.Errorf("setting %+v: compressed %v, %d bytes", f.s, f.compressed, len(f.body))
		}
	}
}

// TestPreparedConcurrent: one PreparedMessage sent from many goroutines,
// each the goroutine of its own connection, on two settings; every
// connection of a setting writes the same bytes.
func TestPreparedConcurrent(t *testing.T) {
	pm, _ := NewPreparedMessage(OpBinary, jsonish(2000))
	const n = 8
	outs := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, sc := newSink(sinkSetups[1+i%2], nil, true)
			for range 20 {
				if err := c.SendPrepared(pm); err != nil {
					t.Error(err)
				}
				c.flush()
			}
			_, outs[i] = sc.written()
		})
	}
	wg.Wait()
	for i := 2; i < n; i++ {
		if !bytes.Equal(outs[i], outs[i%2]) {
			t.Errorf("connection %d wrote other bytes than connection %d", i, i%2)
		}
	}
}

// TestSendPreparedAllocs: once the pools are warm, sending a prepared
// message allocates nothing, compressed or not.
func TestSendPreparedAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	for _, su := range sinkSetups[:3] {
		c, _ := newSink(su, nil, false)
		pm, _ := NewPreparedMessage(OpText, jsonish(1024))
		send := func() {
			c.SendPrepared(pm)
			c.flush()
		}
		send()
		if n := testing.AllocsPerRun(100, send); n != 0 {
			t.Errorf("%s: %v allocations per send", su.name, n)
		}
	}
}

func BenchmarkSendPrepared(b *testing.B) {
	for _, su := range sinkSetups[:4] {
		b.Run(su.name, func(b *testing.B) {
			c, _ := newSink(su, nil, false)
			pm, _ := NewPreparedMessage(OpText, jsonish(1024))
			b.SetBytes(1024)
			b.ReportAllocs()
			for b.Loop() {
				c.SendPrepared(pm)
				c.flush()
			}
		})
	}
}
