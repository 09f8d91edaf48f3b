package bench

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// The client is the same for every library, so that only the server
// differs between two measurements. It speaks RFC 6455 from raw bytes:
// frames are built and masked once, before a measurement, and replies are
// parsed with a few shifts, so the client costs the same small, constant
// amount of CPU whichever server it talks to.

// handshakeKey is a fixed Sec-WebSocket-Key: the benchmarks do not test
// the handshake's nonce, and a constant key makes the request a constant.
const (
	handshakeKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	handshakeAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" // RFC 6455 §1.3
)

// Opcodes the client writes and checks.
const (
	OpText   = 0x1
	OpBinary = 0x2
	OpClose  = 0x8
	OpPing   = 0x9
	OpPong   = 0xa
)

// maskKey is the masking key of every client frame. RFC 6455 wants it
// unpredictable to protect intermediaries, which do not exist here; a
// fixed key lets a frame be masked once and written many times.
var maskKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// UpgradeRequest returns the bytes of a client's upgrade request. With
// deflate it offers what browsers offer, permessage-deflate with
// client_max_window_bits (the client can take a smaller window), which
// every server accepts in its own preferred mode. The client compresses
// each message on its own, so it keeps within any window it is given.
func UpgradeRequest(host string, deflate bool) []byte {
	var b bytes.Buffer
	b.WriteString("GET / HTTP/1.1\r\nHost: " + host + "\r\n")
	b.WriteString("Upgrade: websocket\r\nConnection: Upgrade\r\n")
	b.WriteString("Sec-WebSocket-Key: " + handshakeKey + "\r\nSec-WebSocket-Version: 13\r\n")
	if deflate {
		b.WriteString("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// MaskedFrame returns a whole, final client frame: header, masking key and
// masked payload. compressed sets RSV1, the permessage-deflate bit.
func MaskedFrame(op byte, compressed bool, payload []byte) []byte {
	b0 := 0x80 | op
	if compressed {
		b0 |= 0x40
	}
	f := []byte{b0}
	switch n := len(payload); {
	case n <= 125:
		f = append(f, 0x80|byte(n))
	case n <= 0xffff:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	default:
		f = binary.BigEndian.AppendUint64(append(f, 0x80|127), uint64(n))
	}
	f = append(f, maskKey[:]...)
	start := len(f)
	f = append(f, payload...)
	for i := range payload {
		f[start+i] ^= maskKey[i&3]
	}
	return f
}

// CloseFrame returns a masked close frame with code 1000.
func CloseFrame() []byte { return MaskedFrame(OpClose, false, []byte{0x03, 0xe8}) }

// Deflate compresses one message as permessage-deflate does (RFC 7692
// §7.2.1): a raw DEFLATE stream ended by a sync flush whose last four
// bytes, 00 00 ff ff, are removed. Each message is compressed on its own,
// which a server accepts whether or not it keeps the client's context.
func Deflate(p []byte) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	w.Write(p)
	w.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// Inflate undoes Deflate for one message compressed without context.
func Inflate(p []byte) ([]byte, error) {
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})))
	return io.ReadAll(r)
}

// Client is one client connection.
type Client struct {
	nc net.Conn
	br *bufio.Reader
	// Extensions is the Sec-WebSocket-Extensions header the server
	// answered with: empty when it does not compress.
	Extensions string
}

// Dial connects to addr and upgrades the connection. bufSize sizes the
// client's read buffer; 0 means 64 KiB.
func Dial(addr string, deflate bool, bufSize int) (*Client, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c, err := Handshake(nc, addr, deflate, bufSize)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// Handshake upgrades nc, which is connected to host.
func Handshake(nc net.Conn, host string, deflate bool, bufSize int) (*Client, error) {
	if _, err := nc.Write(UpgradeRequest(host, deflate)); err != nil {
		return nil, err
	}
	if bufSize <= 0 {
		bufSize = 64 << 10
	}
	br := bufio.NewReaderSize(nc, bufSize)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, fmt.Errorf("reading the upgrade response: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("upgrade refused: %s", resp.Status)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != handshakeAccept {
		return nil, fmt.Errorf("bad Sec-WebSocket-Accept %q", got)
	}
	return &Client{nc: nc, br: br, Extensions: resp.Header.Get("Sec-WebSocket-Extensions")}, nil
}

// Compressing reports whether the server accepted permessage-deflate.
func (c *Client) Compressing() bool {
	return strings.Contains(c.Extensions, "permessage-deflate")
}

// Conn returns the underlying connection.
func (c *Client) Conn() net.Conn { return c.nc }

// Close closes the TCP connection without a close handshake.
func (c *Client) Close() error { return c.nc.Close() }

// Write writes pre-built frames.
func (c *Client) Write(frames []byte) error {
	_, err := c.nc.Write(frames)
	return err
}

// Header is what the client needs of a server frame's header.
type Header struct {
	Fin        bool
	Compressed bool // RSV1
	Op         byte
	Length     int
}

var errMaskedServerFrame = errors.New("server sent a masked frame")

// readHeader reads the header of the next server frame.
func (c *Client) readHeader() (Header, error) {
	hb, err := c.br.Peek(2)
	if err != nil {
		return Header{}, err
	}
	h := Header{Fin: hb[0]&0x80 != 0, Compressed: hb[0]&0x40 != 0, Op: hb[0] & 0x0f}
	if hb[1]&0x80 != 0 {
		return h, errMaskedServerFrame
	}
	n, hl := int(hb[1]&0x7f), 2
	switch n {
	case 126:
		hl = 4
	case 127:
		hl = 10
	}
	if hl > 2 {
		ext, err := c.br.Peek(hl)
		if err != nil {
			return h, err
		}
		if hl == 4 {
			n = int(binary.BigEndian.Uint16(ext[2:]))
		} else {
			n = int(binary.BigEndian.Uint64(ext[2:]))
		}
	}
	c.br.Discard(hl)
	h.Length = n
	return h, nil
}

// ReadFrame reads one frame and appends its payload to dst.
func (c *Client) ReadFrame(dst []byte) (Header, []byte, error) {
	h, err := c.readHeader()
	if err != nil {
		return h, dst, err
	}
	start := len(dst)
	dst = append(dst, make([]byte, h.Length)...)
	_, err = io.ReadFull(c.br, dst[start:])
	return h, dst, err
}

// SkipFrame reads one frame and drops its payload, which is how the
// throughput benchmarks read: the client does not touch what it was sent
// back.
func (c *Client) SkipFrame() (Header, error) {
	h, err := c.readHeader()
	if err != nil {
		return h, err
	}
	_, err = c.br.Discard(h.Length)
	return h, err
}

// ReadMessage reads frames up to the end of a data message and returns
// its opcode and payload, appended to dst. Control frames in between are
// skipped; a close frame is an error.
func (c *Client) ReadMessage(dst []byte) (byte, bool, []byte, error) {
	var op byte
	var compressed bool
	for {
		h, p, err := c.ReadFrame(dst)
		if err != nil {
			return op, compressed, p, err
		}
		switch {
		case h.Op == OpClose:
			return h.Op, false, p, fmt.Errorf("server closed the connection")
		case h.Op >= 0x8:
			dst = p[:len(dst)]
			continue
		case h.Op != 0:
			op, compressed = h.Op, h.Compressed
		}
		dst = p
		if h.Fin {
			return op, compressed, dst, nil
		}
	}
}

// SkipMessage reads frames up to the end of a data message without
// keeping the payload, and reports how long the message was.
func (c *Client) SkipMessage() (int, error) {
	total := 0
	for {
		h, err := c.SkipFrame()
		if err != nil {
			return total, err
		}
		if h.Op == OpClose {
			return total, errors.New("server closed the connection")
		}
		if h.Op >= 0x8 {
			continue
		}
		total += h.Length
		if h.Fin {
			return total, nil
		}
	}
}
