package lariat

// The mailbox through which other goroutines reach a connection.

import (
	"errors"
	"time"
)

// aLongTimeAgo is a deadline in the past: setting it as the read deadline
// makes a blocked Read return at once, which is how Post wakes the
// connection without a second goroutine.
var aLongTimeAgo = time.Unix(1, 0)

// ErrMailboxFull is returned by Post when the connection's mailbox holds
// Options.MailboxSize messages or Options.MailboxBytes bytes: the
// connection is not keeping up, and growing its queue without bound would
// only move the problem to memory.
var ErrMailboxFull = errors.New("lariat: mailbox full")

// Post delivers msg to the Handler's Info callback, on the connection's
// goroutine, after the messages posted before it. It is safe for
// concurrent use and never blocks on the connection.
//
// Every post Post accepts reaches Info exactly once: while the connection
// runs, or, if it ends first, just before Terminate, when Info can no
// longer send (its sends return ErrClosed). Post returns ErrClosed once
// Info will not run again, and ErrMailboxFull when the mailbox is full
// (see Options.MailboxSize).
//
// A Frame is copied, since its payload may alias the buffers of the
// connection that received it; a []byte is not: the caller must not
// change it after posting.
func (c *Conn) Post(msg any) error {
	size := 0
	switch m := msg.(type) {
	case Frame:
		msg = m.Clone()
		size = len(m.Payload)
	case []byte:
		size = len(m)
	case string:
		size = len(m)
	}
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return ErrClosed
	}
	if len(c.inbox) >= c.opts.MailboxSize || c.inboxBytes+size > c.opts.MailboxBytes {
		c.mu.Unlock()
		return ErrMailboxFull
	}
	c.inbox = append(c.inbox, msg)
	c.inboxBytes += size
	c.hasMail.Store(true)
	c.mu.Unlock()
	c.kick()
	return nil
}

// takeMail returns the posted messages, in order, and empties the
// mailbox; dead says whether Post is to refuse from now on.
func (c *Conn) takeMail(dead bool) []any {
	c.mu.Lock()
	batch := c.inbox
	c.inbox = c.spare[:0]
	c.spare = nil
	c.inboxBytes = 0
	c.dead = c.dead || dead
	c.hasMail.Store(false)
	c.mu.Unlock()
	return batch
}

// deliverMail hands every posted message, in order, to Info. A post ends
// hibernation, as a message does.
func (c *Conn) deliverMail() error {
	c.posted()
	batch := c.takeMail(false)
	for i, msg := range batch {
		batch[i] = nil
		if err := c.invoke(callInfo, Frame{}, msg); err != nil {
			// The rest are delivered by drainMailbox, after the end.
			c.mu.Lock()
			c.inbox = append(batch[i+1:len(batch):len(batch)], c.inbox...)
			c.hasMail.Store(len(c.inbox) > 0)
			c.mu.Unlock()
			return err
		}
	}
	c.mu.Lock()
	if c.spare == nil {
		c.spare = batch[:0]
	}
	c.mu.Unlock()
	return c.topics.drain() // then what the Hub queued, in one flush
}

// drainMailbox closes the mailbox and delivers what it still holds to
// Info, once the connection has ended: every accepted post reaches Info.
// Sends fail with ErrClosed by then, and what Info returns changes
// nothing.
func (c *Conn) drainMailbox() {
	for _, msg := range c.takeMail(true) {
		c.invoke(callInfo, Frame{}, msg)
	}
}

// kick wakes the connection goroutine if it is blocked reading or paused,
// and the connection if it is parked.
func (c *Conn) kick() {
	switch c.state.Load() {
	case connReading:
		c.nc.SetReadDeadline(aLongTimeAgo)
	case connPaused:
		select {
		case c.wake <- struct{}{}:
		default:
		}
	case connParking, connParked:
		c.wakeParked()
	}
}
