package lariat

import (
	"encoding/binary"
	"math/bits"
	"strconv"

	"github.com/lariat-ws/lariat/internal/xormask"
)

// Opcode is the type of a WebSocket frame (RFC 6455 §5.2). Like every
// enumeration here (StatusCode, ReasonKind, Version) it is a plain value,
// safe to use from any goroutine.
type Opcode byte

// The opcodes of RFC 6455 §11.8 that a Handler sees: data messages reach
// Handle as text or binary, and ControlHandler sees pings and pongs.
// Continuation and close frames are the connection's own business, and
// every other value is reserved.
const (
	opContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	opClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// isControl reports whether o is a control opcode (close, ping, pong, or
// a reserved control opcode).
func (o Opcode) isControl() bool { return o&0x8 != 0 }

// String names the opcode.
func (o Opcode) String() string {
	switch o {
	case opContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case opClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "reserved(" + strconv.Itoa(int(o)) + ")"
}

// Frame is a complete message or control frame as a Handler sees it.
//
// Payload aliases the connection's buffers: it is valid only until the
// callback that received it returns. Use Clone to keep it longer. A Frame
// is a plain value; what may be shared across goroutines is a Clone, or a
// Frame passed to Post, which copies it.
type Frame struct {
	Op      Opcode
	Payload []byte
}

// Clone returns a copy of f whose payload no longer aliases the connection's
// buffers.
func (f Frame) Clone() Frame {
	if f.Payload != nil {
		f.Payload = append([]byte(nil), f.Payload...)
	}
	return f
}

// Header bits of the first two bytes (RFC 6455 §5.2).
const (
	bitFIN  = 0x80
	bitRSV1 = 0x40
	bitRSV2 = 0x20
	bitRSV3 = 0x10
	bitMask = 0x80

	maxHeaderSize       = 14
	maxControlPayload   = 125
	maxServerHeaderSize = 10 // server frames are never masked
)

// header is one frame header as it is on the wire.
type header struct {
	fin    bool
	rsv    byte // the RSV1..3 bits, in place (0x70 mask)
	op     Opcode
	masked bool
	key    uint32 // masking key, little-endian as the bytes arrive
	length int64
}

// frameError is a protocol violation found while parsing a header. Its text
// goes into the 1002 close frame, so keep it short.
type frameError string

// Error says which rule the frame broke.
func (e frameError) Error() string { return "lariat: " + string(e) }

const (
	errReservedOpcode  = frameError("reserved opcode")
	errControlFragment = frameError("fragmented control frame")
	errControlTooLong  = frameError("control frame payload over 125 bytes")
	errUnmasked        = frameError("unmasked client frame")
	errLength64        = frameError("64-bit length with the top bit set")
)

// parseHeader decodes a frame header at the start of b. It returns the
// number of bytes the header takes, or 0 when b does not hold the whole
// header yet: the caller reads more and calls again, so a header split
// across reads costs nothing but the retry.
//
// Only rules that need no connection state are checked here; the reserved
// bits and fragmentation are judged by the reader that knows the
// negotiated extensions and the message in progress.
func parseHeader(b []byte) (h header, n int, err error) {
	if len(b) < 2 {
		return h, 0, nil
	}
	b0, b1 := b[0], b[1]
	h.fin = b0&bitFIN != 0
	h.rsv = b0 & (bitRSV1 | bitRSV2 | bitRSV3)
	h.op = Opcode(b0 & 0x0f)
	h.masked = b1&bitMask != 0
	n = 2
	switch l := b1 & 0x7f; l {
	case 126:
		if len(b) < 4 {
			return h, 0, nil
		}
		h.length = int64(binary.BigEndian.Uint16(b[2:]))
		n = 4
	case 127:
		if len(b) < 10 {
			return h, 0, nil
		}
		u := binary.BigEndian.Uint64(b[2:])
		// RFC 6455 §5.2: "the most significant bit MUST be 0".
		if u>>63 != 0 {
			return h, 0, errLength64
		}
		h.length = int64(u)
		n = 10
	default:
		h.length = int64(l)
	}
	if h.masked {
		if len(b) < n+4 {
			return h, 0, nil
		}
		h.key = binary.LittleEndian.Uint32(b[n:])
		n += 4
	}
	switch h.op {
	case opContinuation, OpText, OpBinary:
	case opClose, OpPing, OpPong:
		// RFC 6455 §5.5: "All control frames MUST have a payload length
		// of 125 bytes or less and MUST NOT be fragmented."
		if !h.fin {
			return h, 0, errControlFragment
		}
		if h.length > maxControlPayload {
			return h, 0, errControlTooLong
		}
	default:
		return h, 0, errReservedOpcode
	}
	// RFC 6455 §5.1: "The server MUST close the connection upon receiving
	// a frame that is not masked."
	if !h.masked {
		return h, 0, errUnmasked
	}
	return h, n, nil
}

// appendHeader appends the header of an unmasked server frame. The
// shortest length form is always used, as RFC 6455 §5.2 requires.
func appendHeader(dst []byte, fin bool, rsv byte, op Opcode, length int) []byte {
	b0 := byte(op) | rsv
	if fin {
		b0 |= bitFIN
	}
	switch {
	case length <= 125:
		return append(dst, b0, byte(length))
	case length <= 0xffff:
		return append(dst, b0, 126, byte(length>>8), byte(length))
	default:
		return binary.BigEndian.AppendUint64(append(dst, b0, 127), uint64(length))
	}
}

// mask XORs b in place with the masking key, where pos is the offset of
// b[0] within the frame payload, and returns the offset after b. Masking
// and unmasking are the same operation (RFC 6455 §5.3).
//
// The key is rotated to the payload offset here and the work is left to
// internal/xormask, which runs near copy() speed on long payloads. mask
// stays small enough to be inlined, so a short frame costs one call.
func mask(key uint32, pos int, b []byte) int {
	xormask.XOR(b, bits.RotateLeft32(key, -8*(pos&3)))
	return pos + len(b)
}

// unmask writes src unmasked to dst, where pos is the offset of src[0]
// within the frame payload, and reports whether every byte it wrote is
// ASCII: a text payload that is needs no other look to be valid UTF-8.
// dst is either src itself or does not overlap it, and is at least as
// long.
//
// Copying out of the read buffer, unmasking and the ASCII test are one
// pass over the bytes, which internal/xormask runs at mask's speed.
func unmask(key uint32, pos int, dst, src []byte) (ascii bool) {
	return xormask.XORCopy(dst, src, bits.RotateLeft32(key, -8*(pos&3)))
}
