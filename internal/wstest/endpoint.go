package wstest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// transport is what carries an endpoint's frames: a TCP connection
// ([Conn]) or an HTTP/2 stream ([H2Stream]).
type transport interface {
	// WriteRaw sends b as it is, failing the test on an error that
	// matters.
	WriteRaw(b []byte)
	// ReadFrame returns the next frame from the server, refusing a
	// masked one.
	ReadFrame() (Frame, error)
	// limit bounds each frame and each reassembled message.
	limit() int64
}

// endpoint is the client's side of a WebSocket, whatever carries it: how
// frames are masked and messages compressed on the way out, and how what
// the server sends is checked, reassembled and inflated on the way in.
// Conn and H2Stream embed it, so they write and expect alike.
type endpoint struct {
	t     testing.TB
	tr    transport
	label string // prefixes error messages: which stream, on HTTP/2

	unmasked bool
	maskKey  *[4]byte // nil: a fresh random key per frame

	deflate  *Deflater // nil unless permessage-deflate was negotiated
	compress bool      // compress outgoing messages when deflate is on

	partialOp  byte // opcode of the message being reassembled, if any
	partial    []byte
	partialRsv byte
	inMessage  bool
}

func newEndpoint(t testing.TB, tr transport) endpoint {
	return endpoint{t: t, tr: tr, compress: true}
}

// TB returns the test the endpoint reports to, for checks of a test's own.
func (e *endpoint) TB() testing.TB { return e.t }

// Deflater returns the permessage-deflate state, or nil when the server did
// not accept the extension.
func (e *endpoint) Deflater() *Deflater { return e.deflate }

// SetCompress chooses whether WriteMessage, WriteText and WriteBinary
// compress when permessage-deflate was negotiated (the default). Sending
// some messages uncompressed is valid (RFC 7692 §6).
func (e *endpoint) SetCompress(on bool) { e.compress = on }

// SetUnmasked makes later frames go out without a mask, which RFC 6455
// §5.1 forbids a client to do.
func (e *endpoint) SetUnmasked(on bool) { e.unmasked = on }

// SetMaskKey masks later frames with key; nil restores the default, a fresh
// random key for each frame.
func (e *endpoint) SetMaskKey(key *[4]byte) { e.maskKey = key }

// checkAccepted judges the parts of the server's handshake response that
// are alike over HTTP/1.1 and HTTP/2 (RFC 6455 §4.1, RFC 8441 §5): the
// subprotocol must be one of those offered, and the extensions a valid
// permessage-deflate acceptance of the offer, which then turns
// compression on.
func (e *endpoint) checkAccepted(req, resp http.Header) error {
	if p := resp.Values("Sec-WebSocket-Protocol"); len(p) > 0 {
		if len(p) > 1 || !hasToken(req.Values("Sec-WebSocket-Protocol"), p[0]) {
			return fmt.Errorf("Sec-WebSocket-Protocol is %q, which was not offered", p)
		}
	}
	offer := strings.Join(req.Values("Sec-WebSocket-Extensions"), ",")
	ext := resp.Values("Sec-WebSocket-Extensions")
	if len(ext) == 0 {
		return nil
	}
	if offer == "" {
		return fmt.Errorf("Sec-WebSocket-Extensions is %q, but nothing was offered", ext)
	}
	p, ok, err := ParseDeflateResponse(ext, strings.Contains(offer, "client_max_window_bits"))
	if err != nil {
		return err
	}
	if ok {
		e.deflate = NewDeflater(p)
		// RFC 7692 §7.1.1.2: a client that offered
		// client_no_context_takeover has promised not to use context
		// takeover, whatever the server answers.
		if strings.Contains(offer, "client_no_context_takeover") {
			e.deflate.SetContextTakeover(false)
		}
	}
	return nil
}

// AppendFrame appends the frame WriteFrame would send to dst, so a test can
// send several frames in one write or cut one frame at a chosen byte.
func (e *endpoint) AppendFrame(dst []byte, fin bool, rsv, op byte, payload []byte) []byte {
	f := Frame{Fin: fin, Rsv: rsv, Op: op, Payload: payload, Masked: !e.unmasked}
	if f.Masked {
		if e.maskKey != nil {
			f.Mask = *e.maskKey
		} else {
			binary.LittleEndian.PutUint32(f.Mask[:], rand.Uint32())
		}
	}
	return AppendFrame(dst, f)
}

// MaskedFrame returns the wire form of one frame as a client sends it,
// masked with a fresh random key.
func MaskedFrame(fin bool, rsv, op byte, payload []byte) []byte {
	var e endpoint
	return e.AppendFrame(nil, fin, rsv, op, payload)
}

// appendMessage appends a data message of opcode op in frames of at most
// fragment payload bytes (0: one frame), compressed first when
// permessage-deflate is on, the first frame then carrying RSV1 (RFC 7692
// §6).
func (e *endpoint) appendMessage(dst []byte, op byte, payload []byte, fragment int) []byte {
	var rsv byte
	if e.deflate != nil && e.compress {
		payload, rsv = e.deflate.Compress(payload), RSV1
	}
	if fragment <= 0 {
		fragment = max(len(payload), 1)
	}
	for first := true; first || len(payload) > 0; first = false {
		n := min(fragment, len(payload))
		op1, rsv1 := op, rsv
		if !first {
			op1, rsv1 = OpContinuation, 0
		}
		dst = e.AppendFrame(dst, n == len(payload), rsv1, op1, payload[:n])
		payload = payload[n:]
	}
	return dst
}

// WriteFrame sends one frame with the given FIN bit, reserved bits (see
// [RSV1]), opcode and payload, masked unless SetUnmasked is on.
func (e *endpoint) WriteFrame(fin bool, rsv, op byte, payload []byte) {
	e.t.Helper()
	e.tr.WriteRaw(e.AppendFrame(nil, fin, rsv, op, payload))
}

// WriteMessage sends a data message of opcode op (OpText or OpBinary) in
// frames of at most fragment payload bytes (0: one frame). When
// permessage-deflate is on the payload is compressed first and the first
// frame carries RSV1 (RFC 7692 §6).
func (e *endpoint) WriteMessage(op byte, payload []byte, fragment int) {
	e.t.Helper()
	e.tr.WriteRaw(e.appendMessage(nil, op, payload, fragment))
}

// WriteText sends s as one text frame, compressed when permessage-deflate
// is on.
func (e *endpoint) WriteText(s string) {
	e.t.Helper()
	e.WriteMessage(OpText, []byte(s), 0)
}

// WriteBinary sends p as one binary frame, compressed when permessage-deflate
// is on.
func (e *endpoint) WriteBinary(p []byte) {
	e.t.Helper()
	e.WriteMessage(OpBinary, p, 0)
}

// WritePing sends a ping frame with payload p.
func (e *endpoint) WritePing(p []byte) {
	e.t.Helper()
	e.WriteFrame(true, 0, OpPing, p)
}

// WritePong sends a pong frame with payload p.
func (e *endpoint) WritePong(p []byte) {
	e.t.Helper()
	e.WriteFrame(true, 0, OpPong, p)
}

// WriteClose sends a close frame with this status code and reason; code 0
// sends an empty payload.
func (e *endpoint) WriteClose(code uint16, reason string) {
	e.t.Helper()
	e.WriteFrame(true, 0, OpClose, ClosePayload(code, reason))
}

// ReadMessage returns the next complete thing the server sent: a control
// frame (op OpClose, OpPing or OpPong) or a data message with its fragments
// reassembled and, when it was compressed, inflated. A control frame that
// arrives between the fragments of a message is returned first; the message
// is completed by a later call. It returns an error when the server breaks
// a rule of RFC 6455 §5 or RFC 7692: a masked frame, a reserved bit or
// opcode it did not negotiate, a fragmented or oversized control frame,
// a continuation with no message to continue, a new message inside an
// unfinished one, or a text message that is not valid UTF-8.
func (e *endpoint) ReadMessage() (op byte, payload []byte, err error) {
	limit := e.tr.limit()
	for {
		f, err := e.tr.ReadFrame()
		if err != nil {
			return 0, nil, err
		}
		switch {
		case f.Op >= OpClose:
			if f.Op > OpPong {
				return 0, nil, fmt.Errorf("%sserver sent reserved opcode in %v", e.label, f)
			}
			if !f.Fin || f.Rsv != 0 || len(f.Payload) > MaxControlPayload {
				return 0, nil, fmt.Errorf("%sserver sent an invalid control frame %v (RFC 6455 §5.5)", e.label, f)
			}
			return f.Op, f.Payload, nil
		case f.Op > OpBinary:
			return 0, nil, fmt.Errorf("%sserver sent reserved opcode in %v", e.label, f)
		case f.Op == OpContinuation && !e.inMessage:
			return 0, nil, fmt.Errorf("%sserver sent a continuation with no message to continue: %v", e.label, f)
		case f.Op != OpContinuation && e.inMessage:
			return 0, nil, fmt.Errorf("%sserver started a new message inside an unfinished one: %v", e.label, f)
		case f.Op != OpContinuation:
			if f.Rsv&^RSV1 != 0 || f.Rsv == RSV1 && e.deflate == nil {
				return 0, nil, fmt.Errorf("%sserver set reserved bits it did not negotiate: %v", e.label, f)
			}
			e.inMessage, e.partialOp, e.partialRsv, e.partial = true, f.Op, f.Rsv, nil
		case f.Rsv != 0:
			return 0, nil, fmt.Errorf("%sserver set reserved bits on a continuation frame: %v", e.label, f)
		}
		if int64(len(e.partial)+len(f.Payload)) > limit {
			return 0, nil, fmt.Errorf("%sserver message exceeds %d bytes", e.label, limit)
		}
		e.partial = append(e.partial, f.Payload...)
		if !f.Fin {
			continue
		}
		op, payload = e.partialOp, e.partial
		e.inMessage, e.partial = false, nil
		if e.partialRsv == RSV1 {
			if payload, err = e.deflate.Decompress(payload, limit); err != nil {
				return 0, nil, err
			}
		}
		if op == OpText && !utf8.Valid(payload) {
			return 0, nil, fmt.Errorf("%sserver sent a text message that is not valid UTF-8: %q", e.label, abbrev(payload))
		}
		return op, payload, nil
	}
}

// Expect reads the next message and returns an error, saying what came
// instead, unless it has opcode op and exactly the payload want. Unlike the
// Want methods it does not fail the test, so it may run on a goroutine of
// its own.
func (e *endpoint) Expect(op byte, want []byte) error {
	gotOp, got, err := e.ReadMessage()
	switch {
	case err != nil:
		return fmt.Errorf("%swant %s message of %d bytes: %w", e.label, OpName(op), len(want), err)
	case gotOp != op:
		return fmt.Errorf("%sgot %s message %q, want %s message of %d bytes", e.label, OpName(gotOp), abbrev(got), OpName(op), len(want))
	case !bytes.Equal(got, want):
		return fmt.Errorf("%s%s message differs: %s", e.label, OpName(op), diff(got, want))
	}
	return nil
}

// WantMessage reads the next message and fails the test unless it has
// opcode op and exactly the payload want.
func (e *endpoint) WantMessage(op byte, want []byte) {
	e.t.Helper()
	if err := e.Expect(op, want); err != nil {
		e.t.Fatalf("%v", err)
	}
}

// WantText reads the next message and fails the test unless it is a text
// message with payload want.
func (e *endpoint) WantText(want string) {
	e.t.Helper()
	e.WantMessage(OpText, []byte(want))
}

// WantBinary reads the next message and fails the test unless it is a
// binary message with payload want.
func (e *endpoint) WantBinary(want []byte) {
	e.t.Helper()
	e.WantMessage(OpBinary, want)
}

// WantPong reads the next message and fails the test unless it is a pong
// with payload want.
func (e *endpoint) WantPong(want []byte) {
	e.t.Helper()
	e.WantMessage(OpPong, want)
}

// StatusNone stands, in [Conn.WantClose], for a close frame with an empty
// payload (no status code).
const StatusNone uint16 = 0

// ExpectClose reads the next message and returns an error unless it is a
// close frame with one of the given status codes ([StatusNone] for an
// empty payload) and a well-formed payload: not 1 byte long, a code that
// may be sent on the wire (RFC 6455 §7.4), a reason in UTF-8. It returns
// the code and reason. Unlike WantClose it does not fail the test.
func (e *endpoint) ExpectClose(codes ...uint16) (code uint16, reason string, err error) {
	op, p, err := e.ReadMessage()
	if err != nil {
		return 0, "", fmt.Errorf("%swant close %v: %w", e.label, codes, err)
	}
	if op != OpClose {
		return 0, "", fmt.Errorf("%sgot %s message %q, want close %v", e.label, OpName(op), abbrev(p), codes)
	}
	switch {
	case len(p) == 1:
		return 0, "", fmt.Errorf("%sgot close frame with a 1-byte payload %q, want close %v (RFC 6455 §5.5.1)", e.label, p, codes)
	case len(p) >= 2:
		code, reason = binary.BigEndian.Uint16(p), string(p[2:])
		if !SendableCode(code) {
			return code, reason, fmt.Errorf("%sgot close code %d, which must not be sent (RFC 6455 §7.4), want %v", e.label, code, codes)
		}
		if !utf8.ValidString(reason) {
			return code, reason, fmt.Errorf("%sgot close %d with a reason that is not UTF-8: %q", e.label, code, reason)
		}
	}
	if !slices.Contains(codes, code) {
		return code, reason, fmt.Errorf("%sgot close %d %q, want close %v", e.label, code, reason, codes)
	}
	return code, reason, nil
}

// WantClose reads the next message and fails the test unless it is a close
// frame with one of the given status codes ([StatusNone] for an empty
// payload) and a well-formed payload: not 1 byte long, a code that may be
// sent on the wire (RFC 6455 §7.4), a reason in UTF-8. It returns the code
// and reason.
func (e *endpoint) WantClose(codes ...uint16) (code uint16, reason string) {
	e.t.Helper()
	code, reason, err := e.ExpectClose(codes...)
	if err != nil {
		e.t.Fatalf("%v", err)
	}
	return code, reason
}

// SendableCode reports whether an endpoint may put this status code in a
// close frame: 1000-1003, 1007-1014 and 3000-4999 (RFC 6455 §7.4 and the
// IANA registry). 1004 is reserved; 1005, 1006 and 1015 MUST NOT be sent.
func SendableCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}
