package wstest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Opcodes of RFC 6455 §5.2. The reserved values 3-7 and 11-15 have no name:
// tests write them as plain numbers.
const (
	OpContinuation byte = 0x0
	OpText         byte = 0x1
	OpBinary       byte = 0x2
	OpClose        byte = 0x8
	OpPing         byte = 0x9
	OpPong         byte = 0xA
)

// Reserved bits as they are passed in the rsv argument of [Conn.WriteFrame]
// and kept in [Frame.Rsv]: RSV1 is the permessage-deflate "compressed" bit.
const (
	RSV1 byte = 4
	RSV2 byte = 2
	RSV3 byte = 1
)

// MaxControlPayload is the largest payload a control frame may carry
// (RFC 6455 §5.5).
const MaxControlPayload = 125

// Frame is one WebSocket frame, with its payload unmasked.
type Frame struct {
	Fin     bool
	Rsv     byte // RSV1..RSV3 as the bits 4, 2 and 1
	Op      byte
	Masked  bool
	Mask    [4]byte // the masking key; meaningful when Masked is set
	Payload []byte
}

// String describes the frame in one line, with at most the first 32 payload
// bytes, for failure messages.
func (f Frame) String() string {
	p := f.Payload
	more := ""
	if len(p) > 32 {
		p, more = p[:32], "..."
	}
	return fmt.Sprintf("{fin=%t rsv=%d op=%s len=%d payload=%q%s}", f.Fin, f.Rsv, OpName(f.Op), len(f.Payload), p, more)
}

// OpName names an opcode for messages: "text", "close", "op(3)".
func OpName(op byte) string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return fmt.Sprintf("op(%d)", op)
}

// AppendFrame appends the wire form of f to dst: the header with the
// shortest length encoding (RFC 6455 §5.2), then the payload, masked with
// f.Mask when f.Masked is set. It writes what it is given, reserved opcodes
// and bits included, so tests can build invalid frames; only Rsv and Op
// are truncated to their field widths.
func AppendFrame(dst []byte, f Frame) []byte {
	b0 := f.Rsv&7<<4 | f.Op&0xF
	if f.Fin {
		b0 |= 0x80
	}
	var b1 byte
	if f.Masked {
		b1 = 0x80
	}
	n := len(f.Payload)
	switch {
	case n <= 125:
		dst = append(dst, b0, b1|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, b0, b1|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, b0, b1|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if !f.Masked {
		return append(dst, f.Payload...)
	}
	dst = append(dst, f.Mask[:]...)
	start := len(dst)
	dst = append(dst, f.Payload...)
	maskBytes(f.Mask, dst[start:])
	return dst
}

// maskBytes applies the RFC 6455 §5.3 masking transform in place; applying
// it twice restores the input.
func maskBytes(key [4]byte, p []byte) {
	for i := range p {
		p[i] ^= key[i&3]
	}
}

// ErrTooLarge is returned by [ReadFrameFrom] when a frame declares a payload
// longer than the limit it was given.
var ErrTooLarge = errors.New("wstest: frame payload exceeds the limit")

// ReadFrameFrom reads one frame from r and unmasks its payload. It refuses,
// before allocating, a declared payload length above limit or with the most
// significant bit set (RFC 6455 §5.2: "the most significant bit MUST be 0").
// It does not judge opcodes, reserved bits or control-frame rules: callers
// that check a peer do that on the returned Frame. A stream that ends inside
// a frame gives io.ErrUnexpectedEOF; one that ends before it gives io.EOF.
func ReadFrameFrom(r io.Reader, limit int64) (Frame, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:2]); err != nil {
		return Frame{}, err
	}
	f := Frame{
		Fin:    hdr[0]&0x80 != 0,
		Rsv:    hdr[0] >> 4 & 7,
		Op:     hdr[0] & 0xF,
		Masked: hdr[1]&0x80 != 0,
	}
	n := uint64(hdr[1] & 0x7F)
	switch n {
	case 126:
		if _, err := io.ReadFull(r, hdr[:2]); err != nil {
			return Frame{}, noEOF(err)
		}
		n = uint64(binary.BigEndian.Uint16(hdr[:2]))
	case 127:
		if _, err := io.ReadFull(r, hdr[:8]); err != nil {
			return Frame{}, noEOF(err)
		}
		n = binary.BigEndian.Uint64(hdr[:8])
		if n>>63 != 0 {
			return Frame{}, fmt.Errorf("wstest: 64-bit payload length %#x has its most significant bit set", n)
		}
	}
	if n > uint64(limit) {
		return Frame{}, fmt.Errorf("%w: %d > %d bytes", ErrTooLarge, n, limit)
	}
	if f.Masked {
		if _, err := io.ReadFull(r, f.Mask[:]); err != nil {
			return Frame{}, noEOF(err)
		}
	}
	f.Payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.Payload); err != nil {
		return Frame{}, noEOF(err)
	}
	if f.Masked {
		maskBytes(f.Mask, f.Payload)
	}
	return f, nil
}

// noEOF turns an EOF in the middle of a frame into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ClosePayload builds the payload of a close frame: the status code in
// network byte order followed by the reason (RFC 6455 §5.5.1). Code 0 gives
// an empty payload, whatever the reason.
func ClosePayload(code uint16, reason string) []byte {
	if code == 0 {
		return nil
	}
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}
