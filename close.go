package lariat

import "time"

// Close starts the close handshake with code and text: the close frame
// leaves after the frames already sent, the callback's return ends the
// connection, and Terminate gets a ReasonStop. Only codes that may be
// sent on the wire are accepted (1000–1003, 1007–1014, 3000–4999); the
// text is cut to 123 bytes. Once the connection is closing, Close returns
// ErrClosed.
func (c *Conn) Close(code StatusCode, text string) error {
	if !code.sendable() {
		return errBadCloseCode
	}
	if err := c.sendable(); err != nil {
		return err
	}
	c.queueClose(code, text)
	return nil
}

// queueClose queues the close frame; nothing can be sent after it.
func (c *Conn) queueClose(code StatusCode, text string) {
	if c.closeSent {
		return
	}
	if c.werr == nil {
		c.codec.writeClose(c, code, text)
		c.sentCode = code
	}
	c.closeSent, c.sentText = true, text
}

// closeTransport ends the transport after the close handshake. RFC 6455
// §7.1.1: "the underlying TCP connection, in most normal cases, SHOULD be
// closed first by the server". So the server half-closes first and, when
// it started the handshake, waits a bounded time for the peer's close
// frame, reading past the rest of any frame it stopped in. Unread bytes
// are drained before the final Close, because closing a socket with
// unread data makes the kernel send a reset that can destroy the close
// frame still in flight.
func (c *Conn) closeTransport(r *Reason) {
	defer c.nc.Close()
	defer func() {
		if v := recover(); v != nil {
			c.srv.logError("panic closing a connection", "panic", v, "remote", c.RemoteAddr())
		}
	}()
	if c.werr != nil || c.sentCode == 0 {
		return // no close frame went out: there is no handshake to finish
	}
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	if !c.closeRcvd && r.Kind != ReasonClosed {
		if c.rbuf == nil {
			c.setReadBuf(getBuf(c.opts.ReadBufferSize)) // hibernating
		}
		c.nc.SetReadDeadline(time.Now().Add(c.opts.CloseTimeout))
		c.codec.awaitClose(c)
	}
	c.nc.SetReadDeadline(time.Now())
	var sink [512]byte
	for range 64 {
		if _, err := c.nc.Read(sink[:]); err != nil {
			break
		}
	}
}
