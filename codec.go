package lariat

// A codec is one protocol generation's framing, as the connection loop
// sees it: RFC 6455 (with the hybi-07/08 drafts, which frame alike) and
// the hixie-75/76 drafts each implement it once, so the loop in conn.go
// knows no draft. A codec reads and writes through its Conn's buffers and
// transport, on the connection goroutine only.
type codec interface {
	// next reads until the next event: a whole data message (fragments
	// reassembled, inflated and validated) or a ping or pong. Its
	// payload is valid until the next call. A close frame from the peer,
	// a protocol error and a failed read are all returned as the error
	// that ends the connection: a *connError, or the transport's error.
	next(c *Conn) (Frame, error)

	// writeData queues one data message, framed, and compressed when
	// that was negotiated.
	writeData(c *Conn, op Opcode, p []byte) error

	// writeClose queues the close frame, where the draft has one.
	writeClose(c *Conn, code StatusCode, text string)

	// awaitClose reads and discards what the peer sends after the
	// server's close frame, the rest of a frame cut short included,
	// until the peer's close frame, the end of the stream, an error or
	// the read deadline already set.
	awaitClose(c *Conn)

	// canPing reports whether the draft has ping frames.
	canPing() bool

	// setMaxMessageSize applies a new message size limit to a decoder
	// that keeps its own.
	setMaxMessageSize(n int64)
}
