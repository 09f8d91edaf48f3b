package lariat

// Prepared messages: one message sent to many connections, its payload
// copied once and compressed once per compression setting, whatever the
// number of connections.

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/lariat-ws/lariat/internal/deflate"
)

// PreparedMessage is a message prepared once for sending to any number of
// connections with [Conn.SendPrepared]. It is immutable and safe for
// concurrent use: connections on different goroutines may send the same
// PreparedMessage at the same time.
//
// What each connection costs depends on what it negotiated:
//
//   - RFC 6455 without compression, or with SetCompression(false): the payload
//     is written as it is, behind a 2 to 10 byte header that the
//     connection's writer encodes. No allocation, no compression.
//   - permessage-deflate or x-webkit-deflate-frame with
//     server_no_context_takeover: every connection with the same level,
//     window and minimum size (a "setting") gets the same compressed bytes,
//     so the message is compressed once per setting, by the first
//     connection that sends it, and the result is kept in the
//     PreparedMessage for the others (uWebSockets' shared compressor is the
//     model). The cost is the compressed bytes, kept as long as the
//     PreparedMessage, and one compression per setting; a server usually
//     has one setting.
//   - compression with context takeover (the default when a client offers
//     permessage-deflate and Compression.ServerNoContextTakeover is
//     unset): each message refers to what the connection sent before, so
//     each connection compresses the message itself, with its own
//     context, exactly as Send does. Servers that send a message to many
//     compressed connections should set ServerNoContextTakeover, which
//     turns that CPU cost per recipient into a cost per message.
//   - hixie-75 and hixie-76: text goes out as 0x00, the payload, 0xFF.
//     Binary messages, pings and pongs cannot be carried, nor text
//     holding a 0xFF byte: SendPrepared returns an error.
//
// A connection with Options.FragmentSize splits the message into frames
// as it splits its own messages.
//
// In numbers, for a 1 KiB JSON-like text at the default level
// (BenchmarkSendPrepared): 67 ns per connection without compression,
// 82 ns with a shared compressed form, 7 µs for a connection that
// compresses with its own context. A PreparedMessage holds its payload
// and 48 bytes, plus, per setting used, the compressed payload and 56
// bytes; all of it is freed with the last reference.
type PreparedMessage struct {
	op      Opcode
	payload []byte
	hixie   bool // text that a hixie frame can carry

	// Compressed forms, one per setting, written once under mu and read
	// without it: forms only ever grows, by replacing the slice.
	mu    sync.Mutex
	forms atomic.Pointer[[]compressedForm]
}

// compressedForm is the message as every connection of one setting
// sends it.
type compressedForm struct {
	s          deflate.Setting
	compressed bool   // false: too small or incompressible, sent as it is
	body       []byte // the compressed payload when compressed
}

// NewPreparedMessage prepares a message of opcode op (OpText, OpBinary,
// OpPing or OpPong) with a copy of payload: the caller may reuse payload
// when it returns. Text is not checked for valid UTF-8, as with Send.
// Control payloads are limited to 125 bytes.
func NewPreparedMessage(op Opcode, payload []byte) (*PreparedMessage, error) {
	switch op {
	case OpText, OpBinary:
	case OpPing, OpPong:
		if len(payload) > maxControlPayload {
			return nil, errPingTooLong
		}
	default:
		return nil, errBadOpcode
	}
	return newPrepared(op, payload), nil
}

func newPrepared(op Opcode, payload []byte) *PreparedMessage {
	pm := &PreparedMessage{op: op, payload: bytes.Clone(payload)}
	if pm.payload == nil {
		pm.payload = []byte{}
	}
	pm.hixie = op == OpText && bytes.IndexByte(payload, 0xff) < 0
	return pm
}

// Frame returns the message as a Frame. Its payload is shared by every
// user of the PreparedMessage and must not be modified.
func (pm *PreparedMessage) Frame() Frame { return Frame{Op: pm.op, Payload: pm.payload} }

// backlogCost is what a waiting message counts against a connection's
// backlog: its payload, plus a fixed part for the queue entry and the
// frame header, so that a flood of empty messages is bounded too.
func (pm *PreparedMessage) backlogCost() int { return len(pm.payload) + backlogEntryCost }

const backlogEntryCost = 32

// form returns the message compressed for setting s, compressing it if
// no connection of that setting has done so yet.
func (pm *PreparedMessage) form(s deflate.Setting) (*compressedForm, error) {
	if f := findForm(pm.forms.Load(), s); f != nil {
		return f, nil
	}
	pm.mu.Lock()
	defer pm.mu.Unlock()
	old := pm.forms.Load()
	if f := findForm(old, s); f != nil {
		return f, nil
	}
	f := compressedForm{s: s}
	zb := getBuf(len(pm.payload) + 64)
	defer putBuf(zb)
	out, compressed, err := deflate.CompressShared(*zb, pm.payload, s)
	if err != nil {
		return nil, err
	}
	if compressed {
		f.compressed, f.body = true, bytes.Clone(out)
	}
	var forms []compressedForm
	if old != nil {
		forms = append(forms, *old...)
	}
	forms = append(forms, f)
	pm.forms.Store(&forms)
	return &forms[len(forms)-1], nil
}

func findForm(forms *[]compressedForm, s deflate.Setting) *compressedForm {
	if forms == nil {
		return nil
	}
	for i := range *forms {
		if (*forms)[i].s == s {
			return &(*forms)[i]
		}
	}
	return nil
}

// SendPrepared sends a prepared message, in the form this connection
// negotiated: see [PreparedMessage] for what that costs. Like the other
// send methods it is for use inside the Handler's callbacks. Hixie
// connections refuse anything but text.
func (c *Conn) SendPrepared(pm *PreparedMessage) error {
	if err := c.sendable(); err != nil {
		return err
	}
	if !c.codec.canPing() { // hixie
		switch {
		case pm.hixie:
			return c.writeData(OpText, pm.payload)
		case pm.op == OpText:
			return errUnframeable
		}
		return errNotSupported
	}
	if pm.op.isControl() {
		return c.writeFrame(true, pm.op, 0, pm.payload)
	}
	if c.comp == nil || c.noCompress {
		return c.writeData(pm.op, pm.payload)
	}
	s, shared := c.comp.Shared()
	size := c.opts.FragmentSize
	if !shared || c.ext == deflate.PerFrame && size > 0 && len(pm.payload) > size {
		// The connection's own context, or x-webkit-deflate-frame
		// fragments, each compressed on its own: nothing to share.
		return c.writeData(pm.op, pm.payload)
	}
	f, err := pm.form(s)
	if err != nil {
		return fmt.Errorf("lariat: compressing a prepared message: %w", err)
	}
	body, rsv := pm.payload, byte(0)
	if f.compressed {
		body, rsv = f.body, bitRSV1
	}
	if size <= 0 {
		size = len(body)
	}
	return c.writeFragments(pm.op, rsv, body, size)
}
