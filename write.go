package lariat

// The write side of a connection: messages into frames, compressed and
// fragmented as negotiated, batched into as few writes as possible.

import (
	"errors"
	"time"
	"unsafe"

	"github.com/lariat-ws/lariat/internal/deflate"
)

// Send sends a text, binary, ping or pong frame. Text payloads are sent
// as they are: lariat does not validate outgoing UTF-8.
func (c *Conn) Send(f Frame) error {
	switch f.Op {
	case OpText, OpBinary:
		return c.writeData(f.Op, f.Payload)
	case OpPing, OpPong:
		if c.legacy != nil {
			return ErrNotSupported
		}
		if len(f.Payload) > maxControlPayload {
			return ErrControlTooLong
		}
		return c.writeFrame(true, f.Op, 0, f.Payload)
	}
	return ErrBadOpcode
}

// Errors returned by Conn's send methods for frames that cannot be sent.
var (
	ErrControlTooLong = errors.New("lariat: control frame payload over 125 bytes")
	ErrBadOpcode      = errors.New("lariat: Send takes text, binary, ping or pong frames; use Close to close")
	ErrBadCloseCode   = errors.New("lariat: close code may not be sent")
)

// SendText sends s as a text message.
func (c *Conn) SendText(s string) error {
	// The bytes of s are only read, never kept or changed.
	return c.writeData(OpText, unsafe.Slice(unsafe.StringData(s), len(s)))
}

// SendBinary sends p as a binary message.
func (c *Conn) SendBinary(p []byte) error { return c.writeData(OpBinary, p) }

// writeData sends a data message, compressed when that was negotiated,
// is on, and makes it smaller. With both extensions a message sent in one
// frame carries RSV1 on that frame.
func (c *Conn) writeData(op Opcode, p []byte) error {
	if c.legacy != nil {
		return c.writeLegacy(op, p)
	}
	size := c.opts.FragmentSize
	if size <= 0 {
		size = len(p)
	}
	if c.comp == nil || c.noDeflate || c.closeSent {
		return c.writeFragments(op, 0, p, size)
	}
	if c.ext == deflate.PerFrame && len(p) > size {
		// x-webkit-deflate-frame compresses each frame on its own.
		for first := true; first || len(p) > 0; first = false {
			n := min(size, len(p))
			if err := c.writeCompressed(op, p[:n], n == len(p)); err != nil {
				return err
			}
			op, p = OpContinuation, p[n:]
		}
		return nil
	}
	return c.writeCompressed(op, p, true)
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
		op, rsv, p = OpContinuation, 0, p[size:]
	}
	return c.writeFrame(true, op, rsv, p)
}

// Ping sends a ping frame. The peer's pong reaches Handle.
func (c *Conn) Ping(p []byte) error { return c.Send(Frame{Op: OpPing, Payload: p}) }

// writeFrame queues or writes one whole frame.
func (c *Conn) writeFrame(fin bool, op Opcode, rsv byte, p []byte) error {
	if c.closeSent {
		return ErrClosed
	}
	if c.werr != nil {
		return c.werr
	}
	if c.wbp == nil {
		c.wbp = getBuf(c.opts.WriteBufferSize)
	}
	wb := *c.wbp
	if len(wb)+maxServerHeaderSize+len(p) <= cap(wb) {
		wb = appendHeader(wb, fin, rsv, op, len(p))
		*c.wbp = append(wb, p...)
		return nil
	}
	// Too big for the buffer: write what is buffered, the header and the
	// payload together, with writev where the connection supports it.
	*c.wbp = appendHeader(wb, fin, rsv, op, len(p))
	return c.writeThrough(p, nil)
}

// writeThrough writes the buffered bytes, then p and trailer, with one
// writev where the connection supports it.
func (c *Conn) writeThrough(p, trailer []byte) error {
	c.armWrite()
	c.iova = [3][]byte{*c.wbp, p, trailer}
	c.iov = c.iova[:]
	_, err := c.iov.WriteTo(c.nc)
	c.iova = [3][]byte{}
	*c.wbp = (*c.wbp)[:0]
	if err != nil {
		c.werr = err
	}
	return err
}

// flush writes the buffered frames in one write.
func (c *Conn) flush() error {
	if c.werr != nil {
		return c.werr
	}
	if c.wbp == nil {
		return nil
	}
	if len(*c.wbp) > 0 {
		c.armWrite()
		_, err := c.nc.Write(*c.wbp)
		*c.wbp = (*c.wbp)[:0]
		if err != nil {
			c.werr = err
			return err
		}
	}
	if c.hibernate {
		putBuf(c.wbp)
		c.wbp = nil
	}
	return nil
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
