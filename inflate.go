package lariat

import (
	"errors"
	"io"
	"math"

	"github.com/lariat-ws/lariat/internal/deflate"
)

// A permessage-deflate message is inflated as its frames arrive (as
// Cowboy does), not gathered compressed and inflated at its end: the
// inflater pulls the compressed bytes through messageSource, which reads
// them off the connection frame by frame and answers control frames in
// between. So compressed bytes are never held beyond the read buffer, and
// compressed text is validated as it is inflated, failing at the first
// bad byte like uncompressed text.
//
// The cost: a peer that stops in the middle of a compressed message,
// after its first bytes, holds a pooled inflater (about 41 KB) until
// MessageTimeout ends it.

// messageSource yields the compressed payload of the message in
// progress, unmasked, frame after frame, and io.EOF after the last.
type messageSource struct {
	c   *Conn
	h   header // the frame being read
	pos int    // bytes of its payload read so far
}

// Read gives the inflater the next compressed bytes of the message,
// reading the next frame when the current one is used up.
func (s *messageSource) Read(p []byte) (int, error) {
	c := s.c
	for c.remaining == 0 {
		if s.h.fin {
			return 0, io.EOF
		}
		if err := s.nextFrame(); err != nil {
			return 0, err
		}
	}
	if c.r == c.w {
		if err := c.fill(); err != nil {
			return 0, err
		}
	}
	k := copy(p[:min(int64(len(p)), c.remaining)], c.rbuf[c.r:c.w])
	c.r += k
	c.remaining -= int64(k)
	s.pos = mask(s.h.key, s.pos, p[:k])
	return k, nil
}

// nextFrame reads up to the next frame of the message, acting on the
// control frames before it.
func (s *messageSource) nextFrame() error {
	c := s.c
	for {
		h, err := c.readHeader()
		if err != nil {
			return err
		}
		if h.op.isControl() {
			if h.rsv != 0 {
				return fail(ReasonBadFrame, "reserved bits set", nil)
			}
			f, err := c.control(h)
			if err != nil {
				return err
			}
			if err := c.dispatch(f); err != nil {
				return err
			}
			continue
		}
		switch {
		case h.op != opContinuation:
			return fail(ReasonBadFrame, "data frame inside a fragmented message", nil)
		case h.rsv != 0:
			return fail(ReasonBadFrame, "reserved bits set", nil)
		case h.length > wireLimit(c.opts.MaxMessageSize)-c.cur.wire:
			return errTooBig
		}
		c.cur.wire += h.length
		s.h, s.pos = h, 0
		return nil
	}
}

// inflateMessage reads and inflates a permessage-deflate message whose
// first frame header is h, and returns the message.
func (c *Conn) inflateMessage(h header, validate bool) (Frame, error) {
	c.cur.wire = h.length
	c.src = messageSource{c: c, h: h}
	// An inflater is taken from the pool only once compressed bytes are
	// here: a header alone costs none.
	if c.remaining > 0 && c.r == c.w {
		if err := c.fill(); err != nil {
			return Frame{}, err
		}
	}
	if c.mbp == nil {
		c.mbp = getBuf(min(c.opts.ReadBufferSize, int(min(c.opts.MaxMessageSize, math.MaxInt))))
	}
	var emit func([]byte) error
	if validate {
		emit = c.feedText
	}
	limit := int(min(c.opts.MaxMessageSize, math.MaxInt))
	m := (*c.mbp)[:0]
	out, err := c.decomp.InflateStream(m, &c.src, limit, emit)
	switch {
	case err == nil:
	case errors.Is(err, deflate.ErrTooBig):
		return Frame{}, errTooBig
	case errors.Is(err, deflate.ErrCorrupt):
		return Frame{}, fail(ReasonBadEncoding, "invalid compressed data", nil)
	default:
		return Frame{}, err
	}
	if cap(out) != cap(m) {
		// The message outgrew the pooled buffer: keep the larger one.
		putBuf(c.mbp)
		c.mbp = new([]byte)
	}
	*c.mbp = out
	if validate && !c.cur.utf8.complete() {
		return Frame{}, errBadUTF8
	}
	op := c.cur.op
	c.cur = message{seq: c.cur.seq}
	return Frame{Op: op, Payload: out}, nil
}

// feedText validates inflated text as it appears.
func (c *Conn) feedText(p []byte) error {
	if !c.cur.utf8.feed(p) {
		return errBadUTF8
	}
	return nil
}
