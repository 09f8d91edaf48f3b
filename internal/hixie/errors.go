package hixie

import "errors"

// The sentinel errors. Every error this package returns wraps exactly one of
// them (ReadKey3 also wraps the reader's error), so callers branch with
// errors.Is and show the error text, which says what was wrong.
var (
	// ErrKey reports a Sec-WebSocket-Key1, Sec-WebSocket-Key2 or key3 that
	// cannot yield a challenge. The opening handshake must be refused
	// (400 Bad Request, or a plain close once the connection is hijacked).
	ErrKey = errors.New("hixie: bad handshake key")

	// ErrHeaderValue reports a response header value that would break
	// the response: it holds a control character such as CR or LF.
	ErrHeaderValue = errors.New("hixie: invalid header value")

	// ErrFrame reports bytes that are not valid framing: a length prefix
	// longer than any length this package accepts, data after the closing
	// frame, or (when encoding) text that cannot be framed.
	ErrFrame = errors.New("hixie: malformed frame")

	// ErrTooBig reports a frame longer than the Decoder's MaxMessage.
	ErrTooBig = errors.New("hixie: message too big")
)
