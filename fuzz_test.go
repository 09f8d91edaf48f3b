package lariat

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/lariat-ws/lariat/internal/deflate"
	"github.com/lariat-ws/lariat/internal/hixie"
	"github.com/lariat-ws/lariat/internal/wstest"
)

// scriptConn is a net.Conn that reads a fixed script, then EOF, and
// discards what is written.
type scriptConn struct {
	net.Conn
	r     *bytes.Reader
	wrote int
}

func (s *scriptConn) Read(p []byte) (int, error)      { return s.r.Read(p) }
func (s *scriptConn) Write(p []byte) (int, error)     { s.wrote += len(p); return len(p), nil }
func (s *scriptConn) SetReadDeadline(time.Time) error { return nil }
func (*scriptConn) SetWriteDeadline(time.Time) error  { return nil }
func (*scriptConn) SetDeadline(time.Time) error       { return nil }
func (*scriptConn) Close() error                      { return nil }
func (*scriptConn) RemoteAddr() net.Addr              { return &net.TCPAddr{} }

// FuzzConn runs a whole connection on arbitrary input from the peer, as
// RFC 6455 with and without compression and as hixie-76: whatever the
// bytes, the connection ends with Terminate called once, nothing panics,
// and no message larger than the limit reaches Handle.
func FuzzConn(f *testing.F) {
	frame := func(fin bool, rsv byte, op byte, p []byte) []byte {
		return wstest.AppendFrame(nil, wstest.Frame{Fin: fin, Rsv: rsv, Op: op, Payload: p, Masked: true, Mask: [4]byte{9, 8, 7, 6}})
	}
	f.Add(uint8(0), frame(true, 0, wstest.OpText, []byte("hello")))
	f.Add(uint8(0), append(frame(false, 0, wstest.OpText, []byte("he")), frame(true, 0, wstest.OpContinuation, []byte("llo"))...))
	f.Add(uint8(0), frame(true, 0, wstest.OpPing, []byte("p")))
	f.Add(uint8(0), frame(true, 0, wstest.OpClose, []byte{3, 0xe8}))
	f.Add(uint8(1), frame(true, wstest.RSV1, wstest.OpText, []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}))
	f.Add(uint8(1), frame(true, wstest.RSV1, wstest.OpBinary, []byte{0xff, 0xff, 0xff}))
	f.Add(uint8(2), []byte("\x00hello\xff\x00wor"))
	f.Add(uint8(2), []byte("\x80\x7f\xff\x00"))
	const limit = 4096
	f.Fuzz(func(t *testing.T, mode uint8, input []byte) {
		terminated := 0
		h := &Funcs{
			OnHandle: func(c *Conn, fr Frame) error {
				if len(fr.Payload) > limit {
					t.Fatalf("Handle got %d bytes, limit %d", len(fr.Payload), limit)
				}
				if fr.Op.IsControl() {
					return nil
				}
				return c.Send(fr)
			},
			OnTerminate: func(*Conn, Reason) { terminated++ },
		}
		sc := &scriptConn{r: bytes.NewReader(input)}
		opts := Options{MaxMessageSize: limit}.withDefaults()
		v := VersionRFC6455
		if mode%3 == 2 {
			v = VersionHixie76
		}
		c := newConn(nil, sc, h, opts, v, "", nil)
		switch mode % 3 {
		case 1:
			p := deflate.Params{Kind: deflate.PerMessage}
			c.ext, c.comp, c.decomp = p.Kind, deflate.NewCompressor(p), deflate.NewDecompressor(p)
		case 2:
			c.legacy = &hixie.Decoder{MaxMessage: limit}
		}
		c.serve()
		if terminated != 1 {
			t.Fatalf("Terminate called %d times", terminated)
		}
	})
}
