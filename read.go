package lariat

// The read side of a connection: frames off the socket into messages,
// with the waiting for data, posts and timers that reading involves.

import (
	"errors"
	"os"
	"time"

	"github.com/lariat-ws/lariat/internal/deflate"
)

var errBadUTF8 = errors.New("lariat: invalid UTF-8")

// readHeader returns the next frame header, reading as needed.
func (c *Conn) readHeader() (header, error) {
	for {
		if c.rbuf != nil {
			h, n, err := parseHeader(c.rbuf[c.r:c.w])
			if err != nil {
				return h, err
			}
			if n > 0 {
				c.r += n
				return h, nil
			}
		}
		if err := c.fill(); err != nil {
			return header{}, err
		}
	}
}

// fill reads more bytes into the read buffer, keeping the unread ones.
func (c *Conn) fill() error {
	if c.r == c.w && c.hibernate && c.cur.op == 0 && c.rbuf != nil {
		putBuf(c.rbp)
		c.rbp, c.rbuf, c.r, c.w = nil, nil, 0, 0
		if c.comp != nil {
			c.comp.Release()
			c.decomp.Release()
		}
	}
	if c.rbuf == nil {
		// Hibernating: wait for the first byte without holding a buffer.
		if _, err := c.readSome(c.tiny[:]); err != nil {
			return err
		}
		c.hibernate = false
		c.setReadBuf(getBuf(c.opts.ReadBufferSize))
		c.rbuf[0] = c.tiny[0]
		c.r, c.w = 0, 1
		return nil
	}
	if c.r == c.w {
		c.r, c.w = 0, 0
	} else if c.w == len(c.rbuf) {
		c.w = copy(c.rbuf, c.rbuf[c.r:c.w])
		c.r = 0
	}
	n, err := c.readSome(c.rbuf[c.w:])
	c.w += n
	return err
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
			mask(h.key, done, chunk)
			if validate && !c.cur.utf8.feed(chunk) {
				c.skip = int64(n) // the payload starts at c.r
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
	return p, nil
}

// readPayloadInto appends a payload to the pooled buffer *bp. Large
// payloads are read straight from the socket into it, skipping the read
// buffer.
func (c *Conn) readPayloadInto(bp **[]byte, h header, validate bool) error {
	n := int(h.length)
	c.grow(bp, n)
	m := **bp
	start := len(m)
	m = m[:start+n]
	**bp = m
	done := 0
	for done < n {
		if c.r == c.w && n-done >= len(c.rbuf)/2 {
			k, err := c.readSome(m[start+done:])
			if k > 0 {
				if !c.unmaskChunk(h.key, m[start+done:start+done+k], done, validate) {
					c.skip = int64(n - done - k)
					return errBadUTF8
				}
				done += k
			}
			if err != nil {
				return err
			}
			continue
		}
		if c.r == c.w {
			if err := c.fill(); err != nil {
				return err
			}
		}
		k := copy(m[start+done:], c.rbuf[c.r:c.w])
		c.r += k
		if !c.unmaskChunk(h.key, m[start+done:start+done+k], done, validate) {
			c.skip = int64(n - done - k)
			return errBadUTF8
		}
		done += k
	}
	return nil
}
func (c *Conn) unmaskChunk(key uint32, chunk []byte, pos int, validate bool) bool {
	mask(key, pos, chunk)
	return !validate || c.cur.utf8.feed(chunk)
}

// grow makes room for n more bytes in the pooled buffer *bp.
func (c *Conn) grow(bp **[]byte, n int) {
	if *bp == nil {
		*bp = getBuf(n)
		return
	}
	m := **bp
	if cap(m)-len(m) >= n {
		return
	}
	// Double, so that a message in many fragments costs O(log n) copies,
	// but never reserve past the limit.
	size := min(max(2*cap(m), len(m)+n), int(c.opts.MaxMessageSize))
	nb := getBuf(max(size, len(m)+n))
	*nb = append(*nb, m...)
	putBuf(*bp)
	*bp = nb
}

// inflateInto inflates the compressed bytes gathered in zbp onto the end
// of the message buffer, stopping at the message size limit, and
// validates the new text.
func (c *Conn) inflateInto(validate bool) error {
	z := *c.zbp
	if c.mbp == nil {
		// A guess that fits most messages; Inflate grows it if not. The
		// byte beyond lets Inflate see the end of the data without
		// growing a buffer that the message fills exactly.
		c.mbp = getBuf(min(max(8*len(z), 4096), int(c.opts.MaxMessageSize)) + 1)
	}
	m := *c.mbp
	start := len(m)
	out, err := c.decomp.Inflate(m, z, int(c.opts.MaxMessageSize)-start)
	*c.zbp = z[:0]
	switch {
	case errors.Is(err, deflate.ErrTooBig):
		return ending{c.end(ReasonTooBig, StatusMessageTooBig, "message too big", nil)}
	case err != nil:
		return ending{c.end(ReasonBadEncoding, StatusInvalidPayload, "invalid compressed data", err)}
	}
	if cap(out) != cap(m) {
		// Inflate outgrew the pooled buffer: keep its larger one.
		putBuf(c.mbp)
		c.mbp = new([]byte)
	}
	*c.mbp = out
	if validate && !c.cur.utf8.feed(out[start:]) {
		return errBadUTF8
	}
	return nil
}

// readSome reads from the socket into p and, while it waits, delivers the
// mailbox to Info, honours SetActive(false) and the idle timeout. It
// returns n > 0 or an error.
func (c *Conn) readSome(p []byte) (int, error) {
	for {
		if c.goingAway.Load() {
			return 0, ending{c.end(ReasonShutdown, StatusGoingAway, "going away", nil)}
		}
		if c.hasMail.Load() {
			if r := c.deliverMail(); r != nil {
				return 0, ending{r}
			}
			continue
		}
		if !c.active {
			c.state.Store(connParked)
			if !c.hasMail.Load() && !c.goingAway.Load() {
				<-c.wake
			}
			c.state.Store(connBusy)
			c.readSeen = true // a pause is not idleness
			continue
		}
		if err := c.armRead(); err != nil {
			return 0, err
		}
		// Post wakes a blocked Read by moving the read deadline into the
		// past; the state it checks must be set before the mailbox is
		// looked at one last time, or a post in between would be missed.
		c.state.Store(connReading)
		if c.hasMail.Load() {
			c.state.Store(connBusy)
			continue
		}
		n, err := c.nc.Read(p)
		c.state.Store(connBusy)
		if n > 0 {
			c.readSeen = true
			return n, nil
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, err
		}
		// A timeout is Post's wake-up, an idle check, or the time to
		// ping or to give up waiting for a pong. timers plans the next
		// deadline either way, since Post moved the one on the socket.
		if r := c.timers(); r != nil {
			return 0, ending{r}
		}
	}
}

// The idle timeout is kept without reading the clock on every read,
// which costs more than the rest of receiving a small frame: a read only
// notes that it happened (readSeen), and the clock is read when a
// deadline fires. A check that finds reads since the last one moves
// quietSince to now and looks again a quarter of the timeout later; one
// that finds none lets the deadline run to quietSince plus the timeout.
// So a connection is closed between 1 and 1.25 IdleTimeouts after its
// last read, and one that keeps receiving is woken only four times per
// IdleTimeout.

// timers acts on whichever of the idle timeout and the automatic ping
// timers has expired, and plans the next deadline.
func (c *Conn) timers() *Reason {
	now := time.Now()
	if c.readSeen {
		c.readSeen, c.quietSince = false, now
	}
	switch {
	case c.idle > 0 && now.Sub(c.quietSince) >= c.idle:
		return c.end(ReasonTimeout, StatusNormalClosure, "idle timeout", nil)
	case !c.pongDue.IsZero() && !now.Before(c.pongDue):
		return c.end(ReasonTimeout, StatusNormalClosure, "no pong", nil)
	case c.pongDue.IsZero() && !c.pingAt.IsZero() && !now.Before(c.pingAt):
		c.pongDue = now.Add(c.opts.PongTimeout)
		c.pingAt = now.Add(c.opts.PingInterval)
		c.writeFrame(true, OpPing, 0, nil)
		if err := c.flush(); err != nil {
			return c.writeFailed(err)
		}
	}
	c.planDeadline(now)
	return nil
}

// planDeadline chooses the next read deadline: the next idle check, the
// next automatic ping or the pong's deadline, whichever comes first.
func (c *Conn) planDeadline(now time.Time) {
	var t time.Time
	earliest := func(at time.Time) {
		if t.IsZero() || at.Before(t) {
			t = at
		}
	}
	if c.idle > 0 {
		if c.quietSince.Equal(now) {
			earliest(now.Add(c.idle / 4))
		} else {
			earliest(c.quietSince.Add(c.idle))
		}
	}
	if !c.pongDue.IsZero() {
		earliest(c.pongDue)
	} else if !c.pingAt.IsZero() {
		earliest(c.pingAt)
	}
	c.rdl, c.rdlStale = t, true
}

// armRead applies the planned read deadline to the socket when it may
// differ from the one set there: moving a deadline costs a trip into the
// runtime's poller, so it is not done per read.
func (c *Conn) armRead() error {
	if !c.rdlStale {
		return nil
	}
	c.rdlStale = false
	return c.nc.SetReadDeadline(c.rdl)
}
