package lariat

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// ErrClosed is returned by Conn's send methods once the connection can no
// longer send (its close frame is queued, or it has ended), and by Post
// once Info will no longer run for what it posts. It wraps net.ErrClosed,
// so code that already checks for that keeps working.
var ErrClosed = fmt.Errorf("lariat: connection closed: %w", net.ErrClosed)

// ReasonKind tells what ended a connection. The kinds follow the terminate
// reasons of Cowboy's cowboy_websocket. The zero value is no kind. A
// ReasonKind is a plain value.
type ReasonKind uint8

// The kinds of Reason.
const (
	_ ReasonKind = iota
	// ReasonRemote: the peer sent a close frame; Code and Text are its
	// code and reason, Code 1005 when it sent none. Cowboy: remote and
	// {remote, Code, Payload}.
	ReasonRemote
	// ReasonStop: a callback returned Stop or called Conn.Close.
	// Cowboy: stop.
	ReasonStop
	// ReasonTimeout: nothing arrived within the idle timeout, a ping went
	// unanswered, a message took longer than MessageTimeout to arrive, or
	// a write did not complete in time. Cowboy: timeout.
	ReasonTimeout
	// ReasonCrash: lariat or a callback panicked; Err is a *PanicError.
	// The peer got 1011. Cowboy: {crash, Class, Reason}.
	ReasonCrash
	// ReasonHandlerError: a callback returned an error other than Stop;
	// Err is that error. The peer got 1011.
	ReasonHandlerError
	// ReasonBadEncoding: a text message or close reason was not valid
	// UTF-8, or a compressed message could not be inflated; the peer got
	// 1007. Cowboy: {error, badencoding}.
	ReasonBadEncoding
	// ReasonBadFrame: the peer broke the protocol; it got 1002.
	// Cowboy: {error, badframe}.
	ReasonBadFrame
	// ReasonTooBig: a message exceeded the maximum message size; the peer
	// got 1009.
	ReasonTooBig
	// ReasonClosed: the connection was lost without a close frame from
	// the peer: the stream ended, was reset, or failed; Err says how.
	// Cowboy: {error, closed} and {error, Reason}.
	ReasonClosed
	// ReasonShutdown: Upgrader.Shutdown closed the connection. Code is
	// 1001 when the close frame went out, 1006 when Shutdown's context
	// ran out first.
	ReasonShutdown
	// ReasonBacklogFull: messages published to the connection's topics
	// filled its backlog faster than the peer read them (see Hub); the
	// peer got 1013 (try again later), or nothing if it had stopped
	// reading.
	ReasonBacklogFull
	// ReasonHandshake: the connection ended before the upgrade completed
	// (the response could not be written, or New's Handler was abandoned).
	ReasonHandshake
)

// kindInfo is the one table of what each kind means on the wire: its
// name and the close code the server sends for it. A zero code means
// no close frame is sent (the socket is gone or never was up); remote
// closes echo the peer's code.
var kindInfo = [...]struct {
	name string
	code StatusCode
}{
	ReasonRemote:       {"peer closed", 0},
	ReasonStop:         {"stopped", StatusNormalClosure},
	ReasonTimeout:      {"timeout", StatusNormalClosure},
	ReasonCrash:        {"crashed", StatusInternalError},
	ReasonHandlerError: {"handler error", StatusInternalError},
	ReasonBadEncoding:  {"bad encoding", StatusInvalidPayload},
	ReasonBadFrame:     {"bad frame", StatusProtocolError},
	ReasonTooBig:       {"message too big", StatusMessageTooBig},
	ReasonClosed:       {"connection lost", 0},
	ReasonShutdown:     {"server shutting down", StatusGoingAway},
	ReasonBacklogFull:  {"backlog full", StatusTryAgainLater},
	ReasonHandshake:    {"handshake failed", 0},
}

// String names the kind.
func (k ReasonKind) String() string {
	if k > 0 && int(k) < len(kindInfo) {
		return kindInfo[k].name
	}
	return "ReasonKind(" + strconv.Itoa(int(k)) + ")"
}

// closeCode is the code the server sends when it ends a connection for
// this kind, or 0 for none.
func (k ReasonKind) closeCode() StatusCode {
	if k > 0 && int(k) < len(kindInfo) {
		return kindInfo[k].code
	}
	return StatusInternalError
}

// Reason is why a connection ended, as Terminate receives it.
//
// Code is what happened on the wire: the code of the close frame the
// server sent, or, for a remote close, the peer's; 1006 when no close
// frame went out, for example because the socket failed first. Text is
// the close frame's reason text, and Err the underlying cause, if any: a
// *PanicError for crashes, the handler's error, or the transport's.
//
// Reason implements error, so errors.Is and errors.As see through it to
// Err. It is a plain value, safe to copy and share.
type Reason struct {
	Kind ReasonKind
	Code StatusCode
	Text string
	Err  error
}

// Error describes why the connection ended, saying each thing once, as
// in "lariat: bad frame: reserved bits set (close 1002)" or
// "lariat: connection lost: EOF".
func (r Reason) Error() string {
	var b strings.Builder
	b.WriteString("lariat: ")
	kind := r.Kind.String()
	remote := r.Kind == ReasonRemote
	switch {
	case r.Text == "" || remote:
		b.WriteString(kind)
	case strings.Contains(r.Text, kind):
		b.WriteString(r.Text)
	default:
		b.WriteString(kind + ": " + r.Text)
	}
	if r.Code != 0 && r.Code != StatusAbnormalClosure && r.Code != StatusNoStatusRcvd {
		b.WriteString(" (close " + strconv.Itoa(int(r.Code)) + ")")
	}
	if remote && r.Text != "" {
		b.WriteString(": " + strconv.Quote(r.Text))
	}
	if r.Err != nil && !remote {
		if cause := strings.TrimPrefix(r.Err.Error(), "lariat: "); cause != r.Text {
			b.WriteString(": " + cause)
		}
	}
	return b.String()
}

// Unwrap returns r.Err.
func (r Reason) Unwrap() error { return r.Err }

// PanicError is the Err of a ReasonCrash: the value a callback, or lariat
// itself, panicked with and the stack at the panic. It is not changed once
// made.
type PanicError struct {
	Value any
	Stack []byte
}

// Error describes the panic.
func (e *PanicError) Error() string { return fmt.Sprintf("lariat: panic: %v", e.Value) }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// connError is how everything inside a connection says that it must end:
// the read side, the timers, the callbacks' results and the mailbox all
// return one, and the run loop alone turns it into a close frame and a
// Reason. Errors of other types (from the socket) are classified by
// asConnError.
type connError struct {
	kind ReasonKind
	text string     // the close reason to send, or the description
	code StatusCode // ReasonRemote: the peer's code
	err  error      // the cause, if any
}

// Error describes the end as the Reason will.
func (e *connError) Error() string {
	return Reason{Kind: e.kind, Code: e.code, Text: e.text, Err: e.err}.Error()
}

// Unwrap returns the cause.
func (e *connError) Unwrap() error { return e.err }

// fail returns the error that ends a connection with kind.
func fail(kind ReasonKind, text string, err error) error {
	return &connError{kind: kind, text: text, err: err}
}

// asConnError classifies any error that ended a connection.
func asConnError(err error) *connError {
	var ce *connError
	var fe frameError
	switch {
	case errors.As(err, &ce):
		return ce
	case errors.As(err, &fe):
		return &connError{kind: ReasonBadFrame, text: string(fe)}
	case errors.Is(err, os.ErrDeadlineExceeded):
		// Reads time out only on purpose, for the timers: this is a
		// write.
		return &connError{kind: ReasonTimeout, text: "write timeout", err: err}
	}
	return &connError{kind: ReasonClosed, err: err} // EOF, reset, closed, failed
}
