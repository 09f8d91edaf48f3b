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

// deliverMail hands every posted message, in order, to Info.
func (c *Conn) deliverMail() *Reason {
	c.mu.Lock()
	batch := c.inbox
	c.inbox = c.spare[:0]
	c.hasMail.Store(false)
	c.mu.Unlock()
	for i, msg := range batch {
		batch[i] = nil
		if r := c.invoke(callInfo, Frame{}, msg); r != nil {
			clear(batch[i:])
			return r
		}
	}
	c.mu.Lock()
	c.spare = batch[:0]
	c.mu.Unlock()
	return c.topics.drain() // topics: write the waiting topic deliveries, one flush (hub.go)
}

// Post delivers msg to the Handler's Info callback, on the connection's
// goroutine, after the messages posted before it. It is safe for
// concurrent use and never blocks on the connection: it returns
// ErrMailboxFull when Options.MailboxSize messages are already waiting,
// and ErrClosed once the connection has terminated.
func (c *Conn) Post(msg any) error {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return ErrClosed
	}
	if len(c.inbox) >= c.opts.MailboxSize {
		c.mu.Unlock()
		return ErrMailboxFull
	}
	c.inbox = append(c.inbox, msg)
	c.hasMail.Store(true)
	c.mu.Unlock()
	c.kick()
	return nil
}

// ErrMailboxFull is returned by Post when the connection's mailbox holds
// Options.MailboxSize messages: the connection is not keeping up, and
// growing its queue without bound would only move the problem to memory.
var ErrMailboxFull = errors.New("lariat: mailbox full")

// kick wakes the connection goroutine if it is blocked reading or parked.
func (c *Conn) kick() {
	switch c.state.Load() {
	case connReading:
		c.nc.SetReadDeadline(aLongTimeAgo)
	case connParked:
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}
