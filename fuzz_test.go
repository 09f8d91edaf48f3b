package lariat

import (
	"bytes"
	"compress/flate"
	"net"
	"testing"
	"time"

	"github.com/lariat-ws/lariat/internal/deflate"
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

// fuzzHandler echoes data messages, checks that none is larger than
// limit, and counts Terminate calls.
type fuzzHandler struct {
	Base
	t          *testing.T
	limit      int
	terminated int
}

func (h *fuzzHandler) Handle(c *Conn, f Frame) error {
	if len(f.Payload) > h.limit {
		h.t.Fatalf("Handle got %d bytes, limit %d", len(f.Payload), h.limit)
	}
	return c.Send(f)
}

func (h *fuzzHandler) Terminate(*Conn, Reason) { h.terminated++ }

// deflateRaw compresses p as one x-webkit-deflate-frame or
// permessage-deflate payload: a sync-flushed raw DEFLATE stream without
// its 00 00 ff ff tail.
func deflateRaw(p []byte) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	w.Write(p)
	w.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// FuzzConn runs a whole connection on arbitrary input from the peer, as
// RFC 6455 without compression, with permessage-deflate, as hixie-76 and
// with x-webkit-deflate-frame: whatever the bytes, the connection ends
// with Terminate called once, nothing panics, and no message larger than
// the limit reaches Handle.
func FuzzConn(f *testing.F) {
	frame := func(fin bool, rsv byte, op byte, p []byte) []byte {
		return wstest.AppendFrame(nil, wstest.Frame{Fin: fin, Rsv: rsv, Op: op, Payload: p, Masked: true, Mask: [4]byte{9, 8, 7, 6}})
	}
	const limit = 4096
	f.Add(uint8(0), frame(true, 0, wstest.OpText, []byte("hello")))
	f.Add(uint8(0), append(frame(false, 0, wstest.OpText, []byte("he")), frame(true, 0, wstest.OpContinuation, []byte("llo"))...))
	f.Add(uint8(0), frame(true, 0, wstest.OpPing, []byte("p")))
	f.Add(uint8(0), frame(true, 0, wstest.OpClose, []byte{3, 0xe8}))
	f.Add(uint8(1), frame(true, wstest.RSV1, wstest.OpText, []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}))
	f.Add(uint8(1), frame(true, wstest.RSV1, wstest.OpBinary, []byte{0xff, 0xff, 0xff}))
	f.Add(uint8(2), []byte("\x00hello\xff\x00wor"))
	f.Add(uint8(2), []byte("\x80\x7f\xff\x00"))
	// x-webkit-deflate-frame: a compressed frame that inflates to nearly
	// the limit, then a raw continuation as long: together twice the
	// limit, which counting wire bytes let through.
	f.Add(uint8(3), append(frame(false, wstest.RSV1, wstest.OpBinary, deflateRaw(make([]byte, limit-8))),
		frame(true, 0, wstest.OpContinuation, make([]byte, limit-8))...))
	f.Add(uint8(3), frame(true, wstest.RSV1, wstest.OpText, deflateRaw([]byte("hello"))))
	f.Fuzz(func(t *testing.T, mode uint8, input []byte) {
		h := &fuzzHandler{t: t, limit: limit}
		sc := &scriptConn{r: bytes.NewReader(input)}
		v := VersionRFC6455
		if mode%4 == 2 {
			v = VersionHixie76
		}
		c := newTestConn(sc, h, Options{MaxMessageSize: limit}, v)
		var p deflate.Params
		switch mode % 4 {
		case 1:
			p = deflate.Params{Kind: deflate.PerMessage}
		case 3:
			p = deflate.Params{Kind: deflate.PerFrame}
		}
		if p.Kind != deflate.None {
			c.ext, c.comp, c.decomp = p.Kind, deflate.NewCompressor(p), deflate.NewDecompressor(p)
		}
		c.serve()
		if h.terminated != 1 {
			t.Fatalf("Terminate called %d times", h.terminated)
		}
	})
}
