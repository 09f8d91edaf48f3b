package lariat

import "time"

// A connection's timers (the idle timeout with its automatic ping, and the
// message timeout) share the transport's read deadline, and are kept
// without reading the clock on every read, which costs more than the
// rest of receiving a small frame: a read only notes that it happened
// (readSeen), and the clock is read when the deadline fires.
//
// A check that finds reads since the last one moves quietSince to now and
// looks again a quarter of the timeout later, as does the first read
// after a check that found none. One that finds none lets
// the deadline run to quietSince plus half the idle timeout, when a ping
// goes out, and then to quietSince plus the whole timeout, when the
// connection is closed unless the pong, or anything else, came back. So a
// silent peer is closed between 1 and 1.25 IdleTimeouts after it last
// sent anything, one that keeps sending wakes the connection only four
// times per IdleTimeout, and a quiet one that answers pings stays.
//
// The message timeout counts from the first check that sees a message in
// progress, so it fires between 1 and 1.25 MessageTimeouts after the
// message began: the first read after a quiet check restarts the checks
// (resumeTimers), so a message that begins after a quiet spell is timed
// as one that begins among reads.
//
// HibernateAfter is one more deadline, HibernateAfter after quietSince or
// after the last check that saw Info run, whichever is later: so a
// connection hibernates between 1 and 2 HibernateAfters after it last
// received anything, from its peer or through Post.

// timers acts on whichever timer has expired and plans the next deadline.
func (c *Conn) timers() error {
	now := time.Now()
	c.quiet = !c.readSeen
	if c.readSeen {
		c.readSeen, c.quietSince, c.pinged = false, now, false
	}
	if c.mailSeen {
		c.mailSeen, c.hibSince = false, now
	}
	inMessage := c.cur.op != 0
	if inMessage && c.msgSeen != c.cur.seq {
		c.msgSeen, c.msgSince = c.cur.seq, now
	}
	idle, msg := c.opts.IdleTimeout, c.opts.MessageTimeout
	quiet := now.Sub(c.quietSince)
	switch {
	case idle > 0 && quiet >= idle:
		return fail(ReasonTimeout, "idle timeout", nil)
	case msg > 0 && inMessage && now.Sub(c.msgSince) >= msg:
		return fail(ReasonTimeout, "message timeout", nil)
	case idle > 0 && quiet >= idle/2 && !c.pinged && c.active && c.codec.canPing():
		c.pinged = true
		if err := c.writeFrame(true, OpPing, 0, nil); err != nil {
			return err
		}
	}
	if after := c.opts.HibernateAfter; after > 0 && now.Sub(c.activeSince()) >= after {
		c.hibernate = true
	}
	c.lull = false
	c.planDeadline(now)
	return nil
}

// activeSince is when the connection last received something, as far as
// the timers know: from its peer, or through Post.
func (c *Conn) activeSince() time.Time {
	if c.hibSince.After(c.quietSince) {
		return c.hibSince
	}
	return c.quietSince
}

// posted notes that Info is about to run: a post ends hibernation, as a
// message does, and counts as activity for HibernateAfter.
func (c *Conn) posted() {
	c.mailSeen = true
	if c.hibernate {
		c.hibernate = false
		c.hibSince = time.Now()
		c.planDeadline(c.hibSince)
	}
}

// resumeTimers restarts the timers as a check that saw reads would: the
// first read after a quiet spell, which may begin a message, must not
// wait for a deadline planned for silence.
func (c *Conn) resumeTimers() {
	c.quiet, c.readSeen, c.pinged = false, false, false
	c.quietSince = time.Now()
	c.planDeadline(c.quietSince)
}

// planDeadline chooses the next read deadline: the next check of the
// idle timeout, the automatic ping, or the message timeout, whichever
// comes first; zero when no timer runs.
func (c *Conn) planDeadline(now time.Time) {
	var t time.Time
	earliest := func(at time.Time) {
		if t.IsZero() || at.Before(t) {
			t = at
		}
	}
	idle, msg := c.opts.IdleTimeout, c.opts.MessageTimeout
	period := idle
	if msg > 0 && (period <= 0 || msg < period) {
		period = msg
	}
	if period > 0 && c.quietSince.Equal(now) {
		// Reads are happening: look again in a while, to notice
		// silence, or a message that starts and does not end.
		earliest(now.Add(period / 4))
	}
	if idle > 0 {
		if c.pinged || !c.codec.canPing() {
			earliest(c.quietSince.Add(idle))
		} else {
			earliest(c.quietSince.Add(idle / 2))
		}
	}
	if msg > 0 && c.cur.op != 0 && c.msgSeen == c.cur.seq {
		earliest(c.msgSince.Add(msg))
	}
	if after := c.opts.HibernateAfter; after > 0 && !c.hibernate {
		earliest(c.activeSince().Add(after))
	}
	c.rdl, c.rdlStale = t, true
}

// armRead applies the planned read deadline to the transport when it may
// differ from the one set there: moving a deadline costs a trip into the
// runtime's poller, so it is not done per read.
func (c *Conn) armRead() error {
	if !c.rdlStale {
		return nil
	}
	c.rdlStale = false
	return c.nc.SetReadDeadline(c.rdl)
}
