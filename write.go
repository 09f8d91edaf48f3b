package lariat

// The write side of a connection: messages into frames, compressed and
// fragmented as negotiated, batched into as few writes as possible.

import (
	"errors"
	"time"
	"unsafe"

	"github.com/lariat-ws/lariat/internal/deflate"
)

// The misuses of Conn's send methods. They are not exported: a program
// that makes them is wrong, and the text says how.
var (
	errPingTooLong  = errors.New("lariat: control frame payload over 125 bytes")
	errBadOpcode    = errors.New("lariat: Send takes text, binary, ping or pong frames; use Close to close")
	errBadCloseCode = errors.New("lariat: close code may not be sent (use 1000-1003, 1007-1014 or 3000-4999)")
	errNotSupported = errors.New("lariat: the hixie drafts carry text messages only")
)

// Send sends a text or binary message, or a ping or pong frame: the one
// way to send, with SendText as the copy-free form for strings. Text
// payloads are sent as they are: lariat does not validate outgoing UTF-8.
// The peer's pong to a ping reaches HandleControl, for handlers that
// implement ControlHandler. Once the connection is closing, Send returns
// ErrClosed.
func (c *Conn) Send(f Frame) error {
	if err := c.sendable(); err != nil {
		return err
	}
	switch f.Op {
	case OpText, OpBinary:
		return c.writeData(f.Op, f.Payload)
	case OpPing, OpPong:
		if !c.codec.canPing() {
			return errNotSupported
		}
		if len(f.Payload) > maxControlPayload {
			return errPingTooLong
		}
		return c.writeFrame(true, f.Op, 0, f.Payload)
	}
	return errBadOpcode
}

// SendText sends s as a text message.
func (c *Conn) SendText(s string) error {
	// The bytes of s are only read, never kept or changed.
	return c.writeData(OpText, unsafe.Slice(unsafe.StringData(s), len(s)))
}

// writeData queues a data message through the connection's codec.
func (c *Conn) writeData(op Opcode, p []byte) error {
	if err := c.sendable(); err != nil {
		return err
	}
	return c.codec.writeData(c, op, p)
}

// sendable reports why nothing may be sent now, or nil.
func (c *Conn) sendable() error {
	if c.closeSent {
		return ErrClosed
	}
	return c.werr
}

// writeCompressed compresses p and sends it as one message, or as one
// frame of a message for x-webkit-deflate-frame, with RSV1 on its first
// frame; p goes out as it is when compressing would not shrink it.
func (c *Conn) writeCompressed(op Opcode, p []byte, fin bool) error {
	zb := getBuf(len(p) + 64)
	defer putBuf(zb)
	out, compressed, err := c.comp.Compress(*zb, p)
	if err != nil {
		return err
	}
	size := c.opts.FragmentSize
	if !compressed {
		out = p
	}
	if size <= 0 || c.ext == deflate.PerFrame {
		size = len(out)
	}
	var rsv byte
	if compressed {
		rsv = bitRSV1
	}
	if !fin {
		return c.writeFrame(false, op, rsv, out)
	}
	return c.writeFragments(op, rsv, out, size)
}

// writeFragments sends p as one message in frames of at most size bytes,
// rsv on the first.
func (c *Conn) writeFragments(op Opcode, rsv byte, p []byte, size int) error {
	for len(p) > size {
		if err := c.writeFrame(false, op, rsv, p[:size]); err != nil {
			return err
		}
		op, rsv, p = opContinuation, 0, p[size:]
	}
	return c.writeFrame(true, op, rsv, p)
}

// writeFrame queues or writes one whole RFC 6455 frame.
func (c *Conn) writeFrame(fin bool, op Opcode, rsv byte, p []byte) error {
	if err := c.sendable(); err != nil {
		return err
	}
	wb := c.writeBuf()
	n := maxServerHeaderSize + len(p)
	if len(wb)+n > cap(wb) && n <= cap(wb) && c.growWriteBuf() {
		wb = *c.wbp
	}
	if len(wb)+n <= cap(wb) {
		*c.wbp = append(appendHeader(wb, fin, rsv, op, len(p)), p...)
		return nil
	}
	// Too big for the buffer: write what is buffered, the header and the
	// payload together, with writev where the transport supports it.
	*c.wbp = appendHeader(wb, fin, rsv, op, len(p))
	return c.writeThrough(p, nil)
}

// writeBuf returns the write buffer, taking one from the pool if the
// connection holds none.
func (c *Conn) writeBuf() []byte {
	if c.wbp == nil {
		c.takeWriteBuf() // not inlined, so that writeBuf is
	}
	return *c.wbp
}

//go:noinline
func (c *Conn) takeWriteBuf() { c.wbp = getBuf(c.wsize.size(c.opts.WriteBufferSize)) }

// growWriteBuf moves the buffered frames into a write buffer twice as
// large, when a frame that would fit in an empty buffer finds it full
// and the size may grow, and reports whether it did. A frame larger than
// the buffer is written through (see writeThrough) and grows nothing.
func (c *Conn) growWriteBuf() bool {
	if !c.wsize.grow(c.opts.WriteBufferSize) {
		return false
	}
	nb := getBuf(c.wsize.size(c.opts.WriteBufferSize))
	if cap(*nb) <= cap(*c.wbp) {
		// The buffer is a larger one that Hub's delivery took.
		putBuf(nb)
		return false
	}
	*nb = append(*nb, *c.wbp...)
	putBuf(c.wbp)
	c.wbp = nb
	return true
}

// writeThrough writes the buffered bytes, then p and trailer, with one
// writev where the transport supports it.
func (c *Conn) writeThrough(p, trailer []byte) error {
	c.armWrite()
	c.iova = [3][]byte{*c.wbp, p, trailer}
	c.iov = c.iova[:]
	n, err := c.iov.WriteTo(c.nc)
	c.wrote += n
	c.iova = [3][]byte{}
	*c.wbp = (*c.wbp)[:0]
	if err != nil {
		c.werr = err
	}
	return err
}

// outputEnd is the offset in the connection's output just past what has
// been sent so far, written or buffered.
func (c *Conn) outputEnd() int64 {
	if c.wbp == nil {
		return c.wrote
	}
	return c.wrote + int64(len(*c.wbp))
}

// flush writes the buffered frames in one write and gives the write
// buffer back to the pool: a connection holds one only while frames wait
// in it. The next one is smaller when the recent flushes used little of
// theirs (see bufSize).
func (c *Conn) flush() error {
	if c.wbp == nil {
		return c.werr
	}
	if len(*c.wbp) > 0 && c.werr == nil {
		c.armWrite()
		n, err := c.nc.Write(*c.wbp)
		c.wrote += int64(n)
		if err != nil {
			c.werr = err
		}
	}
	c.wsize.observe(len(*c.wbp))
	c.wsize.shrink(c.opts.WriteBufferSize)
	putBuf(c.wbp)
	c.wbp = nil
	return c.werr
}

// armWrite sets the write deadline before a write, moving it only when
// it has fallen behind by more than an eighth of the timeout, since moving
// it costs a trip into the runtime's poller. The time is read as the
// monotonic time elapsed since the connection began, which costs half of
// time.Now.
func (c *Conn) armWrite() {
	d := c.opts.WriteTimeout
	if d <= 0 {
		return
	}
	target := time.Since(c.epoch) + d
	if c.wdl != 0 && target-c.wdl < d/8 {
		return
	}
	c.wdl = target
	c.nc.SetWriteDeadline(c.epoch.Add(target))
}
