package lariat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/lariat-ws/lariat/internal/hixie"
)

// StatusCode is a close status code (RFC 6455 §7.4).
type StatusCode uint16

// The close codes of RFC 6455 §7.4.1 and the IANA registry. Codes 1005,
// 1006 and 1015 are never sent on the wire: they only report what happened.
const (
	StatusNormalClosure      StatusCode = 1000
	StatusGoingAway          StatusCode = 1001
	StatusProtocolError      StatusCode = 1002
	StatusUnsupportedData    StatusCode = 1003
	StatusNoStatusRcvd       StatusCode = 1005
	StatusAbnormalClosure    StatusCode = 1006
	StatusInvalidPayload     StatusCode = 1007
	StatusPolicyViolation    StatusCode = 1008
	StatusMessageTooBig      StatusCode = 1009
	StatusMandatoryExtension StatusCode = 1010
	StatusInternalError      StatusCode = 1011
	StatusServiceRestart     StatusCode = 1012
	StatusTryAgainLater      StatusCode = 1013
	StatusBadGateway         StatusCode = 1014
	StatusTLSHandshake       StatusCode = 1015
)

var statusNames = map[StatusCode]string{
	StatusNormalClosure:      "normal closure",
	StatusGoingAway:          "going away",
	StatusProtocolError:      "protocol error",
	StatusUnsupportedData:    "unsupported data",
	StatusNoStatusRcvd:       "no status received",
	StatusAbnormalClosure:    "abnormal closure",
	StatusInvalidPayload:     "invalid payload data",
	StatusPolicyViolation:    "policy violation",
	StatusMessageTooBig:      "message too big",
	StatusMandatoryExtension: "mandatory extension",
	StatusInternalError:      "internal error",
	StatusServiceRestart:     "service restart",
	StatusTryAgainLater:      "try again later",
	StatusBadGateway:         "bad gateway",
	StatusTLSHandshake:       "TLS handshake",
}

// String returns the code and its registered name, as in "1000 normal closure".
func (c StatusCode) String() string {
	if s, ok := statusNames[c]; ok {
		return itoa(int(c)) + " " + s
	}
	return itoa(int(c))
}

// sendable reports whether c may appear in a close frame on the wire
// (RFC 6455 §7.4.1 and §7.4.2): the registered codes 1000–1003 and
// 1007–1014, and 3000–4999 for libraries and applications. 1004 is
// reserved, 1005, 1006 and 1015 "MUST NOT be set as a status code in a
// Close control frame", and everything below 1000 or from 5000 up is
// undefined.
func (c StatusCode) sendable() bool {
	switch {
	case c >= 1000 && c <= 1003, c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// CloseError is a close frame's code and reason. A remote close reaches
// Terminate as a Reason whose Err is a *CloseError, so
//
//	var ce *lariat.CloseError
//	if errors.As(r, &ce) && ce.Code == lariat.StatusGoingAway { ... }
//
// works on it.
type CloseError struct {
	Code   StatusCode
	Reason string
}

// Error describes the close.
func (e *CloseError) Error() string {
	if e.Reason == "" {
		return "lariat: closed with " + e.Code.String()
	}
	return fmt.Sprintf("lariat: closed with %v: %q", e.Code, e.Reason)
}

// ErrClosed is returned by Conn methods once the connection can no longer
// send, and by Post once the connection has terminated. It wraps
// net.ErrClosed, so code that already checks for that keeps working.
var ErrClosed = fmt.Errorf("lariat: connection closed: %w", net.ErrClosed)

// ReasonKind tells what ended a connection. The kinds follow the terminate
// reasons of Cowboy's cowboy_websocket.
type ReasonKind uint8

// The kinds of Reason.
const (
	// ReasonHandshake: the connection closed before the upgrade completed
	// (the 101 response could not be written). Cowboy: normal.
	ReasonHandshake ReasonKind = iota
	// ReasonRemote: the peer sent a close frame with a status code.
	// Cowboy: {remote, Code, Payload}.
	ReasonRemote
	// ReasonRemoteNoCode: the peer sent a close frame without a payload
	// (Code is 1005). Cowboy: remote.
	ReasonRemoteNoCode
	// ReasonStop: a callback returned Stop or called Conn.Close.
	// Cowboy: stop.
	ReasonStop
	// ReasonTimeout: nothing arrived within the idle timeout, or a write
	// or close handshake did not complete in time. Cowboy: timeout.
	ReasonTimeout
	// ReasonCrash: a callback panicked; Err is a *PanicError.
	// Cowboy: {crash, Class, Reason}.
	ReasonCrash
	// ReasonHandlerError: a callback returned an error other than Stop;
	// Err is that error. The client got 1011.
	ReasonHandlerError
	// ReasonBadEncoding: a text message or close reason was not valid
	// UTF-8, or a compressed message could not be inflated; the client
	// got 1007. Cowboy: {error, badencoding}.
	ReasonBadEncoding
	// ReasonBadFrame: the peer broke the protocol; the client got 1002.
	// Cowboy: {error, badframe}.
	ReasonBadFrame
	// ReasonTooBig: a message exceeded the maximum message size; the
	// client got 1009.
	ReasonTooBig
	// ReasonClosed: the TCP connection closed without a close frame.
	// Cowboy: {error, closed}.
	ReasonClosed
	// ReasonSocketError: reading or writing the socket failed; Err says
	// why. Cowboy: {error, Reason}.
	ReasonSocketError
	// ReasonShutdown: the server is shutting down; the client got 1001.
	ReasonShutdown
)

var reasonNames = [...]string{
	ReasonHandshake:    "handshake",
	ReasonRemote:       "remote",
	ReasonRemoteNoCode: "remote (no code)",
	ReasonStop:         "stop",
	ReasonTimeout:      "timeout",
	ReasonCrash:        "crash",
	ReasonHandlerError: "handler error",
	ReasonBadEncoding:  "bad encoding",
	ReasonBadFrame:     "bad frame",
	ReasonTooBig:       "message too big",
	ReasonClosed:       "closed",
	ReasonSocketError:  "socket error",
	ReasonShutdown:     "shutdown",
}

// String names the kind.
func (k ReasonKind) String() string {
	if int(k) < len(reasonNames) {
		return reasonNames[k]
	}
	return "ReasonKind(" + itoa(int(k)) + ")"
}

// Reason is why a connection ended, as Terminate receives it. Code is the
// close code that was sent or received (1006 when no close frame was
// exchanged), Text the close reason, and Err the underlying cause, if any:
// a *CloseError for remote closes, a *PanicError for crashes, the
// handler's error, or the socket error.
//
// Reason implements error, so errors.Is and errors.As see through it to
// Err.
type Reason struct {
	Kind ReasonKind
	Code StatusCode
	Text string
	Err  error
}

// Error describes why the connection ended.
func (r Reason) Error() string {
	s := "lariat: connection ended: " + r.Kind.String()
	if r.Code != 0 {
		s += " (" + r.Code.String() + ")"
	}
	if r.Err != nil {
		s += ": " + r.Err.Error()
	} else if r.Text != "" {
		s += ": " + r.Text
	}
	return s
}

// Unwrap returns r.Err.
func (r Reason) Unwrap() error { return r.Err }

// PanicError is the Err of a ReasonCrash: the value a callback panicked
// with and the stack at the panic.
type PanicError struct {
	Value any
	Stack []byte
}

// Error describes the panic.
func (e *PanicError) Error() string { return fmt.Sprintf("lariat: handler panic: %v", e.Value) }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// The ways a received close payload can be bad: a frameError means 1002,
// errCloseReason 1007.
var (
	errClosePayload1 = frameError("close payload of 1 byte")
	errCloseCode     = frameError("invalid close code")
	errCloseReason   = errors.New("lariat: close reason is not UTF-8")
)

// parseClose judges a received close payload (RFC 6455 §5.5.1): empty is
// allowed and means no status (1005); otherwise a 2-byte code that may be
// sent on the wire, then a UTF-8 reason. The error tells which close code
// to answer with: a frameError means 1002, errCloseReason 1007.
func parseClose(p []byte) (code StatusCode, reason string, err error) {
	switch {
	case len(p) == 0:
		return StatusNoStatusRcvd, "", nil
	case len(p) == 1:
		return 0, "", errClosePayload1
	}
	code = StatusCode(binary.BigEndian.Uint16(p))
	if !code.sendable() {
		return code, "", errCloseCode
	}
	if !validUTF8(p[2:]) {
		return code, "", errCloseReason
	}
	return code, string(p[2:]), nil
}

// appendClose appends a close payload. A reason is cut to fit the 125-byte
// control frame limit, on a character boundary.
func appendClose(dst []byte, code StatusCode, reason string) []byte {
	if code == StatusNoStatusRcvd {
		return dst // "no status" is sent as an empty payload
	}
	if len(reason) > maxControlPayload-2 {
		reason = reason[:maxControlPayload-2]
		for len(reason) > 0 && !validUTF8([]byte(reason)) {
			reason = reason[:len(reason)-1]
		}
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(dst, reason...)
}

// closeTCP ends the TCP connection after the close handshake. RFC 6455
// §7.1.1: "the underlying TCP connection, in most normal cases, SHOULD be
// closed first by the server". So the server half-closes first, and, when
// it started the handshake, waits a bounded time for the peer's close
// frame. Unread bytes are drained before the final Close, because closing
// a socket with unread data makes the kernel send a reset that can
// destroy the close frame still in flight.
func (c *Conn) closeTCP(r *Reason) {
	c.flush()
	if r.Kind == ReasonSocketError || (r.Kind == ReasonClosed && !c.closeSent) || c.werr != nil {
		c.nc.Close()
		return
	}
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	if c.closeSent && !c.closeRcvd && c.rbuf != nil && c.version != VersionHixie75 {
		c.nc.SetReadDeadline(time.Now().Add(c.opts.CloseTimeout))
		if c.legacy != nil {
			c.awaitLegacyClose()
		} else {
			c.awaitClose()
		}
	}
	c.nc.SetReadDeadline(time.Now())
	var sink [512]byte
	for range 64 {
		if _, err := c.nc.Read(sink[:]); err != nil {
			break
		}
	}
	c.nc.Close()
}

// awaitClose reads and discards frames until the peer's close frame, the
// end of the stream, an error or the deadline.
func (c *Conn) awaitClose() {
	c.active, c.hibernate = true, false
	// The rest of a frame the connection failed on comes first: read as
	// headers it would look like garbage, and the peer's answer to the
	// close would be missed.
	if !c.skipRaw(c.skip) {
		return
	}
	for {
		h, n, err := parseHeader(c.rbuf[c.r:c.w])
		if err != nil {
			return
		}
		if n == 0 {
			if c.fillRaw() != nil {
				return
			}
			continue
		}
		c.r += n
		if h.op == OpClose || !c.skipRaw(h.length) {
			return
		}
	}
}

// skipRaw discards n bytes of input, reporting whether it could.
func (c *Conn) skipRaw(n int64) bool {
	for n > 0 {
		if c.r == c.w && c.fillRaw() != nil {
			return false
		}
		k := min(int64(c.w-c.r), n)
		c.r += int(k)
		n -= k
	}
	return true
}

// fillRaw reads into the read buffer without the mailbox or timers: the
// connection is closing.
func (c *Conn) fillRaw() error {
	if c.r == c.w {
		c.r, c.w = 0, 0
	} else if c.w == len(c.rbuf) {
		c.w = copy(c.rbuf, c.rbuf[c.r:c.w])
		c.r = 0
	}
	n, err := c.nc.Read(c.rbuf[c.w:])
	c.w += n
	if n > 0 {
		return nil
	}
	return err
}

// Close starts the close handshake with code and reason: the close frame
// leaves after the frames already sent, the callback's return ends the
// connection, and Terminate gets a ReasonStop. Only codes that may be
// sent on the wire are accepted (1000–1003, 1007–1014, 3000–4999); the
// reason is cut to 123 bytes.
func (c *Conn) Close(code StatusCode, reason string) error {
	if !code.sendable() {
		return ErrBadCloseCode
	}
	if c.closeSent {
		return ErrClosed
	}
	c.queueClose(code, reason)
	return nil
}

// queueClose queues the close frame; nothing can be sent after it.
func (c *Conn) queueClose(code StatusCode, reason string) {
	if c.closeSent {
		return
	}
	if c.legacy != nil {
		// Hixie-76 has a closing frame without a code; hixie-75 has
		// none: closing the TCP connection is its close.
		if c.version == VersionHixie76 && c.werr == nil {
			if c.wbp == nil {
				c.wbp = getBuf(c.opts.WriteBufferSize)
			}
			*c.wbp = append(*c.wbp, hixie.CloseFrame...)
		}
		c.closeSent, c.sentCode, c.sentReason = true, code, reason
		return
	}
	var payload [maxControlPayload]byte
	p := appendClose(payload[:0], code, reason)
	c.writeFrame(true, OpClose, 0, p)
	c.closeSent, c.sentCode, c.sentReason = true, code, reason
}
