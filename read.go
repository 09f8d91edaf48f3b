package lariat

// The read side of a connection: bytes off the transport into the read
// buffer, frame headers and payloads out of it, and the waiting for data
// during which posts are delivered and timers run.

import (
	"errors"
	"math"
	"os"
	"time"

	"github.com/lariat-ws/lariat/internal/deflate"
)

// errBadUTF8 ends a connection whose text is not UTF-8.
var errBadUTF8 = &connError{kind: ReasonBadEncoding, text: "invalid UTF-8"}

// readHeader returns the next frame header, reading as needed. From then
// on c.remaining counts the frame's payload bytes not yet consumed.
func (c *Conn) readHeader() (header, error) {
	for {
		if c.rbuf != nil {
			h, n, err := parseHeader(c.rbuf[c.r:c.w])
			if err != nil {
				return h, err
			}
			if n > 0 {
				c.r += n
				c.remaining = h.length
				return h, nil
			}
		}
		if err := c.fill(); err != nil {
			return header{}, err
		}
	}
}

// fill reads more bytes into the read buffer, keeping the unread ones.
//
// A hibernating connection gives back its read buffer and compression
// state when nothing is unread and no message or frame is in progress,
// and waits for the peer without them: on a plain socket it may park
// (see park.go), and on other transports it waits for one byte. A
// connection that the peer woke from hibernation with control frames
// only (the pong to an automatic ping) hibernates again.
func (c *Conn) fill() error {
	for {
		if c.r == c.w && c.cur.op == 0 && c.remaining == 0 {
			if c.lull && c.lullSeq == c.cur.seq {
				c.lull, c.hibernate = false, true
				c.planDeadline(time.Time{}) // as planned before the wake-up
			}
			if c.hibernate {
				c.hibernateNow()
			}
		}
		if c.rbuf == nil && c.sock == nil {
			if _, err := c.readSome(c.tiny[:]); err != nil {
				return err
			}
			c.setReadBuf(getBuf(c.rsize.size(c.opts.ReadBufferSize)))
			c.rbuf[0] = c.tiny[0]
			c.r, c.w = 0, 1
			c.awoke()
			return nil
		}
		if c.rbuf != nil {
			c.makeRoom()
		} else if c.remaining == 0 {
			c.rsize.shrink(c.opts.ReadBufferSize) // see makeRoom
		}
		n, err := c.readSome(nil)
		c.w += n
		if n > 0 {
			c.sawRead(n)
			if c.hibernate {
				c.awoke()
			}
		}
		if err != errRefill {
			return err
		}
	}
}

// errRefill sends readSome's caller back to the top of fill: the timers
// turned hibernation on.
var errRefill = errors.New("lariat: hibernate now")

// hibernateNow gives back the read buffer and the compression state.
// The buffer sizes start again from the options' sizes: the load is gone.
func (c *Conn) hibernateNow() {
	if c.rbuf != nil {
		putBuf(c.rbp)
		c.rbp, c.rbuf, c.r, c.w = nil, nil, 0, 0
	}
	c.rsize, c.wsize = bufSize{}, bufSize{}
	if c.comp != nil {
		c.comp.Release()
		c.decomp.Release()
	}
}

// awoke ends hibernation, or the wait for one byte after a post ended
// it: the peer sent something. The timers start afresh, as after a check
// that saw reads.
func (c *Conn) awoke() {
	if c.hibernate {
		c.lull, c.lullSeq = true, c.cur.seq
	}
	c.hibernate = false
	c.resumeTimers()
}

// sawRead adapts the read buffer's size to a read of n bytes that ended
// at c.w: a read that filled at least half of the buffer, up to its end,
// suggests that more was waiting, and the buffer doubles before the next
// read (see makeRoom). Only over a plain socket, where the read buffer
// goes back to its pool whenever the socket is empty (see readSocket):
// over other transports a connection waits for the peer holding its
// read buffer, which must then stay the size the options give.
func (c *Conn) sawRead(n int) {
	c.rsize.observe(n)
	if c.sock != nil && c.w == len(c.rbuf) && 2*n >= len(c.rbuf) {
		c.rsize.grow(c.opts.ReadBufferSize)
	}
}

// makeRoom makes room at the end of the read buffer before a read. It
// moves the unread bytes into a larger buffer when the buffer is to grow,
// and takes a smaller one when the buffer is to shrink and holds nothing:
// no unread bytes, no frame whose payload is still to come. A frame's
// payload is read in place when it fits in half of the buffer (see
// Conn.data), so the buffer must not shrink under it; it does not, since
// readSocket takes the size decided here when it takes a buffer again.
// Should the unread bytes fill the buffer all the same (a buffer given
// at the handshake, larger than the option's), it doubles: a read always
// has room.
func (c *Conn) makeRoom() {
	base := c.opts.ReadBufferSize
	empty := c.r == c.w && c.remaining == 0
	if empty {
		c.rsize.shrink(base)
	}
	want := c.rsize.size(base)
	if c.r == 0 && c.w == len(c.rbuf) {
		want = max(want, 2*len(c.rbuf))
	}
	if len(c.rbuf) >= want && (!empty || len(c.rbuf) < 2*want) {
		c.compact()
		return
	}
	nb := getBuf(want)
	c.w = copy((*nb)[:cap(*nb)], c.rbuf[c.r:c.w])
	c.r = 0
	putBuf(c.rbp)
	c.setReadBuf(nb)
}

// compact makes room at the end of the read buffer.
func (c *Conn) compact() {
	if c.r == c.w {
		c.r, c.w = 0, 0
	} else if c.w == len(c.rbuf) {
		c.w = copy(c.rbuf, c.rbuf[c.r:c.w])
		c.r = 0
	}
}

// readPayloadInPlace reads a payload that fits in the read buffer and
// returns it where it lies, unmasked and, if asked, validated as it
// arrives.
func (c *Conn) readPayloadInPlace(h header, validate bool) ([]byte, error) {
	n := int(h.length)
	if c.r+n > len(c.rbuf) {
		c.w = copy(c.rbuf, c.rbuf[c.r:c.w])
		c.r = 0
	}
	done := 0
	for {
		if avail := min(c.w-c.r, n); avail > done {
			chunk := c.rbuf[c.r+done : c.r+avail]
			if !validate {
				mask(h.key, done, chunk) // no ASCII test to pay for
			} else if !c.cur.utf8.feedUnmasked(chunk, unmask(h.key, done, chunk, chunk)) {
				return nil, errBadUTF8
			}
			done = avail
		}
		if done == n {
			break
		}
		if err := c.fill(); err != nil {
			return nil, err
		}
	}
	p := c.rbuf[c.r : c.r+n : c.r+n]
	c.r += n
	c.remaining = 0
	return p, nil
}

// readPayloadInto appends a payload to the pooled buffer *bp, which grows
// with the bytes that arrive, never with the length the header declared
// (see room). Large payloads are read straight from the transport into
// it, skipping the read buffer.
func (c *Conn) readPayloadInto(bp **[]byte, h header, validate bool) error {
	n := int(h.length)
	for done := 0; done < n; {
		rest := n - done
		// chunk is where the next bytes go in *bp; they come from src,
		// which is either chunk itself, read straight from the
		// transport, or bytes in the read buffer, which are unmasked on
		// the way over: one pass, not a copy and then an unmasking.
		var chunk, src []byte
		if c.r == c.w && rest >= len(c.rbuf)/2 {
			room := c.room(bp, 1, rest)
			room = room[:min(len(room), rest)]
			k, err := c.readSome(room)
			if err != nil {
				return err
			}
			chunk = room[:k]
			src = chunk
		} else {
			if c.r == c.w {
				if err := c.fill(); err != nil {
					return err
				}
			}
			k := min(c.w-c.r, rest)
			chunk = c.room(bp, k, rest)[:k]
			src = c.rbuf[c.r : c.r+k]
			c.r += k
		}
		**bp = (**bp)[:len(**bp)+len(chunk)]
		c.remaining -= int64(len(chunk))
		ascii := unmask(h.key, done, chunk, src)
		if validate && !c.cur.utf8.feedUnmasked(chunk, ascii) {
			return errBadUTF8
		}
		done += len(chunk)
	}
	return nil
}

// growChunk bounds what a message buffer reserves beyond the bytes that
// have come: a frame header alone costs at most this much, whatever it
// declares, and a message that arrives holds at most twice its bytes
// plus this. Messages up to it are read straight into one buffer of their
// size, without a copy.
const growChunk = 32 << 10

// room returns the free space after the bytes in *bp, at least k bytes.
// When it must grow the buffer, it reserves for up to rest more bytes of
// the frame, but never more than max(growChunk, bytes held) at a time:
// growing by doubling costs a message O(log n) copies.
func (c *Conn) room(bp **[]byte, k, rest int) []byte {
	held := 0
	if *bp != nil {
		held = len(**bp)
		if cap(**bp)-held >= k {
			return (**bp)[held:cap(**bp)]
		}
	}
	nb := getBuf(held + max(k, min(rest, max(growChunk, held))))
	if *bp != nil {
		*nb = append(*nb, **bp...)
		putBuf(*bp)
	}
	*bp = nb
	return (*nb)[held:cap(*nb)]
}

// inflateInto inflates the compressed bytes gathered in zbp onto the end
// of the message buffer, stopping at the message size limit, and
// validates the new text.
func (c *Conn) inflateInto(validate bool) error {
	z := *c.zbp
	start := 0
	if c.mbp != nil {
		start = len(*c.mbp)
	}
	limit := int(min(c.opts.MaxMessageSize-int64(start), math.MaxInt))
	want := min(max(8*len(z), 4096), limit) + 1
	c.room(&c.mbp, want, want)
	m := *c.mbp
	out, err := c.decomp.Inflate(m, z, limit)
	*c.zbp = z[:0]
	switch {
	case errors.Is(err, deflate.ErrTooBig):
		return errTooBig
	case err != nil:
		return fail(ReasonBadEncoding, "invalid compressed data", nil)
	}
	if cap(out) != cap(m) {
		// Inflate outgrew the pooled buffer: keep its larger one.
		putBuf(c.mbp)
		c.mbp = new([]byte)
	}
	*c.mbp = out
	c.cur.n = int64(len(out))
	if validate && !c.cur.utf8.feed(out[start:]) {
		return errBadUTF8
	}
	return nil
}

// readSome reads from the transport into p, or into the read buffer
// when p is nil, and, while it waits, flushes what callbacks sent,
// delivers the mailbox to Info, honours SetActive(false), Shutdown and
// the timers. It returns n > 0 or an error: errParked when the
// connection is to park, errRefill when the timers turned hibernation
// on and p is nil.
func (c *Conn) readSome(p []byte) (int, error) {
	for {
		if c.goingAway.Load() {
			return 0, fail(ReasonShutdown, "going away", nil)
		}
		if c.hasMail.Load() {
			if err := c.deliverMail(); err != nil {
				return 0, err
			}
			continue
		}
		// About to wait for the peer: what the callbacks sent leaves
		// now, in one write.
		if err := c.flush(); err != nil {
			return 0, err
		}
		if !c.active {
			if err := c.pause(); err != nil {
				return 0, err
			}
			continue
		}
		if err := c.armRead(); err != nil {
			return 0, err
		}
		// Post wakes a blocked Read by moving the read deadline into the
		// past; the state it checks must be set before the mailbox is
		// looked at one last time, or a post in between would be missed.
		c.state.Store(connReading)
		if c.hasMail.Load() || c.goingAway.Load() {
			c.state.Store(connBusy)
			continue
		}
		n, err := c.read(p)
		if err == errParked {
			return 0, err // in state connParking: see park
		}
		c.state.Store(connBusy)
		if n > 0 {
			c.readSeen, c.listener = true, false
			if c.quiet {
				c.resumeTimers()
			}
			return n, nil
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, err
		}
		// A timeout is Post's wake-up, Shutdown's, or a timer's. timers
		// plans the next deadline either way, since a wake-up moved the
		// one on the transport.
		if err := c.timers(); err != nil {
			return 0, err
		}
		if p == nil && c.hibernate {
			return 0, errRefill
		}
	}
}

// read reads once from the transport into p, or into the read buffer
// when p is nil: through the descriptor of a plain socket, which gives
// the buffer back while it waits.
func (c *Conn) read(p []byte) (int, error) {
	switch {
	case p != nil:
		return c.nc.Read(p)
	case c.sock != nil:
		err := c.sock.Read(c.sockRead)
		n := c.sockN
		c.sockN = 0
		if err == nil {
			err, c.sockErr = c.sockErr, nil
		}
		return n, err
	}
	return c.nc.Read(c.rbuf[c.w:])
}

// pause waits, while reading is paused, for a post, Shutdown or the next
// timer.
func (c *Conn) pause() error {
	var timeout <-chan time.Time
	if !c.rdl.IsZero() {
		t := time.NewTimer(time.Until(c.rdl))
		defer t.Stop()
		timeout = t.C
	}
	c.state.Store(connPaused)
	if !c.hasMail.Load() && !c.goingAway.Load() {
		select {
		case <-c.wake:
		case <-timeout:
		}
	}
	c.state.Store(connBusy)
	return c.timers()
}

// skipRaw discards n bytes of input, without the mailbox or timers: the
// connection is closing. It reports whether it could.
func (c *Conn) skipRaw(n int64) bool {
	for n > 0 {
		if c.r == c.w && c.fillRaw() != nil {
			return false
		}
		k := min(int64(c.w-c.r), n)
		c.r += int(k)
		n -= k
	}
	c.remaining = 0
	return true
}

// fillRaw reads into the read buffer without the mailbox or timers: the
// connection is closing.
func (c *Conn) fillRaw() error {
	c.compact()
	n, err := c.nc.Read(c.rbuf[c.w:])
	c.w += n
	if n > 0 {
		return nil
	}
	return err
}
