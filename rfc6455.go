package lariat

import (
	"errors"
	"math"

	"github.com/lariat-ws/lariat/internal/deflate"
)

// rfc6455 is the codec of RFC 6455 and of the hybi-07/08 drafts, which
// frame alike. It keeps no state of its own: the message in progress and
// the negotiated compression live in the Conn.
type rfc6455 struct{}

// canPing: RFC 6455 has ping frames.
func (rfc6455) canPing() bool { return true }

// setMaxMessageSize: the limit is read from the Conn's options.
func (rfc6455) setMaxMessageSize(int64) {}

// next reads frames until one completes a message or is a ping or pong.
func (rfc6455) next(c *Conn) (Frame, error) {
	for {
		h, err := c.readHeader()
		if err != nil {
			return Frame{}, err
		}
		// RFC 6455 §5.2: "RSV1, RSV2, RSV3: 1 bit each. MUST be 0 unless
		// an extension is negotiated that defines meanings for non-zero
		// values." Compression claims RSV1 on data frames only: for
		// permessage-deflate on the first frame of a message (RFC 7692
		// §6.1), for x-webkit-deflate-frame on any data frame.
		if h.rsv != 0 {
			ok := h.rsv == bitRSV1 && !h.op.isControl() &&
				(c.ext == deflate.PerFrame || c.ext == deflate.PerMessage && h.op != opContinuation)
			if !ok {
				return Frame{}, fail(ReasonBadFrame, "reserved bits set", nil)
			}
		}
		if h.op.isControl() {
			return c.control(h)
		}
		f, err := c.data(h)
		if err != nil || f.Op != 0 {
			return f, err
		}
	}
}

// control reads a control frame's payload and returns it as an event, or,
// for a close frame, as the error that ends the connection.
func (c *Conn) control(h header) (Frame, error) {
	p, err := c.readPayloadInPlace(h, false)
	if err != nil {
		return Frame{}, err
	}
	if h.op != opClose {
		return Frame{Op: h.op, Payload: p}, nil
	}
	c.closeRcvd = true
	code, text, err := parseClose(p)
	switch {
	case errors.Is(err, errCloseText):
		return Frame{}, fail(ReasonBadEncoding, "invalid UTF-8 in close reason", nil)
	case err != nil:
		return Frame{}, fail(ReasonBadFrame, "invalid close frame", nil)
	}
	return Frame{}, &connError{kind: ReasonRemote, code: code, text: text}
}

// errTooBig ends a connection whose message outgrew MaxMessageSize.
var errTooBig = &connError{kind: ReasonTooBig, text: "message too big"}

// data reads one data frame and returns the message it completes, or a
// zero Frame when more frames are to come.
func (c *Conn) data(h header) (Frame, error) {
	if h.op == opContinuation {
		if c.cur.op == 0 {
			return Frame{}, fail(ReasonBadFrame, "continuation frame without a message", nil)
		}
	} else {
		// RFC 6455 §5.4: the fragments of one message "MUST NOT be
		// interleaved" with those of another.
		if c.cur.op != 0 {
			return Frame{}, fail(ReasonBadFrame, "data frame inside a fragmented message", nil)
		}
		c.cur = message{op: h.op, compressed: h.rsv != 0 && c.ext == deflate.PerMessage, seq: c.cur.seq + 1}
	}
	// Every length is judged before a byte of the payload is read, and
	// no buffer is sized by it: buffers grow as the bytes arrive.
	// Compressed bytes may exceed their inflated size by what DEFLATE
	// adds to data it cannot shrink (stored blocks cost 5 bytes per 64
	// KiB); their inflated size is held to the limit itself, as they
	// are inflated.
	limit := c.opts.MaxMessageSize
	compressed := c.cur.compressed || h.rsv != 0
	if compressed {
		if h.length > wireLimit(limit)-c.cur.wire {
			return Frame{}, errTooBig
		}
	} else if h.length > limit-c.cur.n {
		return Frame{}, errTooBig
	}
	validate := c.cur.op == OpText && !c.opts.SkipUTF8Validation
	var p []byte
	var err error
	switch {
	case c.cur.compressed:
		// permessage-deflate: the whole message, frame by frame.
		return c.inflateMessage(h, validate)
	case h.rsv != 0:
		// x-webkit-deflate-frame: each frame inflates on its own.
		if err = c.readPayloadInto(&c.zbp, h, false); err == nil {
			err = c.inflateInto(validate)
		}
	case h.fin && c.cur.n == 0 && int(h.length) <= len(c.rbuf)/2:
		// A whole message in one small frame: it is handed to Handle
		// where it lies in the read buffer.
		p, err = c.readPayloadInPlace(h, validate)
	default:
		err = c.readPayloadInto(&c.mbp, h, validate)
		c.cur.n += h.length
	}
	if err != nil {
		return Frame{}, err
	}
	if !h.fin {
		return Frame{}, nil
	}
	if p == nil && c.mbp != nil {
		p = *c.mbp
	}
	// RFC 6455 §8.1: a text message must be valid UTF-8 as a whole, so it
	// cannot end inside a character.
	if validate && !c.cur.utf8.complete() {
		return Frame{}, errBadUTF8
	}
	op := c.cur.op
	c.cur = message{seq: c.cur.seq}
	if p == nil {
		p = []byte{}
	}
	return Frame{Op: op, Payload: p}, nil
}

// wireLimit is the most compressed bytes a message of at most limit
// inflated bytes may take, without overflowing for huge limits.
func wireLimit(limit int64) int64 {
	slack := limit/256 + 64
	if limit > math.MaxInt64-slack {
		return math.MaxInt64
	}
	return limit + slack
}

// writeData sends a data message, compressed when that was negotiated,
// is on, and makes it smaller. With both extensions a message sent in one
// frame carries RSV1 on that frame.
func (rfc6455) writeData(c *Conn, op Opcode, p []byte) error {
	size := c.opts.FragmentSize
	if size <= 0 {
		size = len(p)
	}
	if c.comp == nil || c.noCompress {
		return c.writeFragments(op, 0, p, size)
	}
	if c.ext == deflate.PerFrame && len(p) > size {
		// x-webkit-deflate-frame compresses each frame on its own.
		for first := true; first || len(p) > 0; first = false {
			n := min(size, len(p))
			if err := c.writeCompressed(op, p[:n], n == len(p)); err != nil {
				return err
			}
			op, p = opContinuation, p[n:]
		}
		return nil
	}
	return c.writeCompressed(op, p, true)
}

// writeClose queues a close frame with code and text.
func (rfc6455) writeClose(c *Conn, code StatusCode, text string) {
	var payload [maxControlPayload]byte
	c.writeFrame(true, opClose, 0, appendClose(payload[:0], code, text))
}

// awaitClose discards frames until the peer's close frame. The rest of
// the frame the connection stopped in comes first: read as headers it
// would look like garbage, and the peer's answer to the close would be
// missed.
func (rfc6455) awaitClose(c *Conn) {
	if !c.skipRaw(c.remaining) {
		return
	}
	for {
		h, n, err := parseHeader(c.rbuf[c.r:c.w])
		if err != nil {
			return
		}
		if n == 0 {
			if c.fillRaw() != nil {
				return
			}
			continue
		}
		c.r += n
		if h.op == opClose {
			c.closeRcvd = true
			return
		}
		if !c.skipRaw(h.length) {
			return
		}
	}
}
