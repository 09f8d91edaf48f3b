package lariat

// The hixie-75 and hixie-76 drafts, which browsers of 2010 and 2011 and
// some devices still speak, are served by the same Handler as RFC 6455
// when Upgrader.Legacy is set. They carry text messages only, have no
// ping, pong or close codes, and hixie-75 has no closing frame at all:
// the connection just ends. The framing lives in internal/hixie; this
// file is its handshake and its codec.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/lariat-ws/lariat/internal/hixie"
)

// hixieKeyTimeout bounds the wait for the 8 bytes a hixie-76 client sends
// after its request header (net/http's Server.ReadHeaderTimeout bounds
// the request itself).
var hixieKeyTimeout = 10 * time.Second

// parseHixie judges a hixie-75 or hixie-76 request.
func parseHixie(r *http.Request) generation {
	v := VersionHixie75
	var key1, key2 uint32
	if hixie.IsHixie76(r.Header) {
		v = VersionHixie76
		var err error
		if key1, key2, err = hixie.ParseKeys(r.Header); err != nil {
			return generation{status: http.StatusBadRequest, problem: err.Error()}
		}
	}
	// The drafts offer a single protocol, not a list.
	protoHeader := "Sec-Websocket-Protocol"
	if v == VersionHixie75 {
		protoHeader = "Websocket-Protocol"
	}
	g := generation{version: v}
	if p := r.Header.Get(protoHeader); p != "" {
		g.protocols = []string{p}
	}
	origin := r.Header.Get("Origin")
	location := hixie.Location(r.TLS != nil, r.Host, r.RequestURI)
	g.response = func(hs *Handshake, _ string) ([]byte, error) {
		if v == VersionHixie76 {
			return hixie.AppendResponse76Header(nil, origin, location, hs.Protocol, hs.Header)
		}
		return hixie.AppendResponse75(nil, origin, location, hs.Protocol, hs.Header)
	}
	if v == VersionHixie76 {
		g.hijacked = func(u *Upgrader, nc net.Conn, br *bufio.Reader, head []byte) ([]byte, error) {
			// Key3, the 8 bytes after the request header, may have come
			// with it or may still be on the wire: some proxies hold it
			// back until they see the 101, so the header goes out first.
			if br.Buffered() < 8 {
				if _, err := nc.Write(head); err != nil {
					return nil, err
				}
				head = head[:0]
				nc.SetReadDeadline(time.Now().Add(hixieKeyTimeout))
				defer nc.SetReadDeadline(time.Time{})
			}
			key3, err := hixie.ReadKey3(br)
			if err != nil {
				return nil, err
			}
			sum := hixie.Challenge(key1, key2, key3)
			return append(head, sum[:]...), nil
		}
	}
	return g
}

// hixieCodec frames messages as the 2010 drafts do: 0x00, UTF-8 text,
// 0xFF; hixie-76 closes with 0xFF 0x00, hixie-75 by ending the stream.
type hixieCodec struct {
	version Version
	dec     hixie.Decoder
}

// newHixieCodec returns the codec of draft v (hixie-75 or hixie-76).
func newHixieCodec(v Version, maxMessage int64) *hixieCodec {
	return &hixieCodec{version: v, dec: hixie.Decoder{MaxMessage: maxMessage}}
}

// canPing: the drafts have no ping frames.
func (*hixieCodec) canPing() bool { return false }

// setMaxMessageSize applies the limit to the decoder, which keeps its own.
func (d *hixieCodec) setMaxMessageSize(n int64) { d.dec.MaxMessage = n }

// next decodes until a text message is complete.
func (d *hixieCodec) next(c *Conn) (Frame, error) {
	validate := !c.opts.SkipUTF8Validation
	for {
		if c.rbuf == nil || c.r == c.w {
			if err := c.fill(); err != nil {
				if errors.Is(err, io.EOF) && d.version == VersionHixie75 && !d.dec.InFrame() {
					// Hixie-75 has no closing frame: the end of the
					// stream between messages is its close.
					c.closeRcvd = true
					return Frame{}, &connError{kind: ReasonRemote, code: StatusNormalClosure}
				}
				return Frame{}, err
			}
			continue
		}
		n, ev, data, err := d.dec.Decode(c.rbuf[c.r:c.w])
		c.r += n
		if d.dec.InFrame() && c.cur.op == 0 {
			c.cur = message{op: OpText, seq: c.cur.seq + 1}
		}
		switch ev {
		case hixie.EventText:
			// Part of a message: keep it, since the read buffer will
			// be reused, and validate it now, to fail fast.
			if validate && !c.cur.utf8.feed(data) {
				return Frame{}, errBadUTF8
			}
			copy(c.room(&c.mbp, len(data), len(data)), data)
			*c.mbp = (*c.mbp)[:len(*c.mbp)+len(data)]
		case hixie.EventTextEnd:
			if validate && (!c.cur.utf8.feed(data) || !c.cur.utf8.complete()) {
				return Frame{}, errBadUTF8
			}
			p := data // the whole message lies in the read buffer
			if c.mbp != nil {
				copy(c.room(&c.mbp, len(data), len(data)), data)
				*c.mbp = (*c.mbp)[:len(*c.mbp)+len(data)]
				p = *c.mbp
			}
			c.cur = message{seq: c.cur.seq}
			return Frame{Op: OpText, Payload: p}, nil
		case hixie.EventClose:
			c.closeRcvd = true
			return Frame{}, &connError{kind: ReasonRemote, code: StatusNormalClosure}
		}
		switch {
		case errors.Is(err, hixie.ErrTooBig):
			return Frame{}, errTooBig
		case err != nil:
			return Frame{}, fail(ReasonBadFrame, "invalid hixie framing", nil)
		}
	}
}

// writeData queues a text frame: 0x00, the UTF-8 bytes, 0xFF.
func (d *hixieCodec) writeData(c *Conn, op Opcode, p []byte) error {
	if op != OpText {
		return errNotSupported
	}
	// Valid UTF-8 never holds 0xFF, the frame's end: such text cannot
	// be framed.
	if bytes.IndexByte(p, 0xff) >= 0 {
		return errUnframeable
	}
	wb := append(c.writeBuf(), 0x00)
	if len(wb)+len(p)+1 <= cap(wb) {
		*c.wbp = append(append(wb, p...), 0xff)
		return nil
	}
	*c.wbp = wb
	return c.writeThrough(p, hixieEnd)
}

var errUnframeable = fmt.Errorf("lariat: text holding a 0xFF byte cannot be sent in a hixie frame")

var hixieEnd = []byte{0xff}

// writeClose queues hixie-76's closing frame; hixie-75 has none: closing
// the stream is its close.
func (d *hixieCodec) writeClose(c *Conn, _ StatusCode, _ string) {
	if d.version == VersionHixie76 {
		*c.wbp = append(c.writeBuf(), hixie.CloseFrame...)
	}
}

// awaitClose reads until the peer's closing frame, the end of the stream,
// an error or the deadline. A hixie-75 peer sends none.
func (d *hixieCodec) awaitClose(c *Conn) {
	if d.version == VersionHixie75 {
		return
	}
	for {
		if c.r == c.w && c.fillRaw() != nil {
			return
		}
		n, ev, _, err := d.dec.Decode(c.rbuf[c.r:c.w])
		c.r += n
		if ev == hixie.EventClose {
			c.closeRcvd = true
		}
		if ev == hixie.EventClose || err != nil {
			return
		}
	}
}
