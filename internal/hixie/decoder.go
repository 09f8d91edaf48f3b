package hixie

import (
	"bytes"
	"fmt"
)

// DefaultMaxMessage is the limit a Decoder applies when its MaxMessage is
// zero or negative: 1 MiB, lariat's default message size limit.
const DefaultMaxMessage = 1 << 20

// maxLengthBytes bounds the length prefix of a frame whose type byte has
// the high bit set. Nine 7-bit groups hold any int64; one more allows a
// leading zero group. Without a bound, a stream of 0x80 bytes would be a
// length prefix that never ends and never grows past the limit.
const maxLengthBytes = 10

// Event says what a call to Decoder.Decode found.
type Event uint8

const (
	// EventNone means Decode consumed all of its input without completing
	// an event: call again with more bytes.
	EventNone Event = iota

	// EventText means data is the next chunk of the current text message,
	// which goes on (or fails). The chunk is never empty.
	EventText

	// EventTextEnd means the current text message ended: data is its
	// last chunk, possibly empty.
	EventTextEnd

	// EventClose means the closing frame 0xFF 0x00 arrived. The peer
	// sends nothing after it; Decode refuses any further byte.
	EventClose
)

var eventNames = [...]string{"EventNone", "EventText", "EventTextEnd", "EventClose"}

// String returns the constant's name, such as "EventText".
func (e Event) String() string {
	if int(e) < len(eventNames) {
		return eventNames[e]
	}
	return fmt.Sprintf("Event(%d)", uint8(e))
}

// decoderState is where in the byte stream a Decoder stands.
type decoderState uint8

const (
	stateType     decoderState = iota // at a frame type byte
	stateText                         // in a 0x00 text frame's payload
	stateSkipText                     // in a 0x01-0x7F text frame's payload
	stateLength                       // in a 0x80-0xFF frame's length prefix
	stateSkip                         // in a 0x80-0xFF frame's payload
	stateClosed                       // after the closing frame
)

// A Decoder reads the framing of hixie-75 and hixie-76 (hybi-00) from a
// byte stream, in pieces of any size: it keeps all the state it needs
// between calls (40 bytes in all) and never buffers, so the caller never
// has to keep bytes that Decode has not consumed, and a message is never
// held whole unless the caller assembles it.
//
// The zero value is ready to use. A Decoder is not safe for concurrent
// use.
type Decoder struct {
	// MaxMessage limits the length of any one frame, in bytes: the
	// payload of a text message, the length a binary frame declares, the
	// bytes of a discarded text frame. Zero or negative means
	// DefaultMaxMessage. It may be changed between calls; lowering it
	// below the length of a message in progress fails that message at
	// its next byte.
	MaxMessage int64

	state   decoderState
	nlen    uint8 // stateLength: length bytes read
	isClose bool  // stateLength: the type byte was 0xFF
	n       int64 // stateText, stateSkipText, stateLength: bytes or length so far; stateSkip: bytes left
	err     error // sticky
}

// Reset returns d to its zero state, keeping MaxMessage, so it can decode
// a new stream.
func (d *Decoder) Reset() {
	*d = Decoder{MaxMessage: d.MaxMessage}
}

// InFrame reports whether the bytes consumed so far end inside a frame. A
// connection that ends while it is true was cut mid-message; one that ends
// while it is false ended cleanly, which is how a hixie-75 peer closes.
func (d *Decoder) InFrame() bool {
	return d.state != stateType && d.state != stateClosed
}

func (d *Decoder) limit() int64 {
	if d.MaxMessage <= 0 {
		return DefaultMaxMessage
	}
	return d.MaxMessage
}

// Decode consumes a prefix of p and reports at most one event: n is the
// number of bytes consumed, ev the event and, for EventText and
// EventTextEnd, data is a chunk of the text message's payload.
//
// When err is nil and ev is EventNone, n is len(p): the caller drops all of
// p and calls again with the bytes that follow. Otherwise the caller drops
// p[:n] and, to look for the next event, calls again with the rest.
//
// data aliases p, with its capacity cut to its length so that appending to
// it cannot overwrite the bytes that follow; it is valid as long as p is.
// Text chunks are passed on as they arrive, unvalidated: feed them to an
// incremental UTF-8 validator to fail a bad message at its first bad byte.
//
// The payload bytes of one message reported as data never add up to more
// than MaxMessage: the byte after the limit yields an error that wraps
// ErrTooBig. Malformed framing yields an error that wraps ErrFrame. Errors
// are final: n counts the bytes consumed before the offending one, and
// every later call returns the same error. The stream cannot be resynced;
// close the connection.
func (d *Decoder) Decode(p []byte) (n int, ev Event, data []byte, err error) {
	if d.err != nil {
		return 0, EventNone, nil, d.err
	}
	max := d.limit()
	for n < len(p) {
		switch d.state {
		case stateType:
			// Draft-76 section 5.3: a type byte with the high bit clear
			// starts a frame ended by 0xFF; with it set, a frame with a
			// length prefix.
			b := p[n]
			n++
			d.n = 0
			switch {
			case b == 0x00:
				d.state = stateText
			case b < 0x80:
				d.state = stateSkipText
			default:
				d.state = stateLength
				d.nlen = 0
				d.isClose = b == 0xFF
			}

		case stateText:
			rest := p[n:]
			end := bytes.IndexByte(rest, 0xFF)
			run := end
			if end < 0 {
				run = len(rest)
			}
			if left := max - d.n; int64(run) > left {
				// Pass on what fits; the byte after it fails the
				// message, now or at the next call.
				if left > 0 {
					d.n = max
					return n + int(left), EventText, rest[:left:left], nil
				}
				return n, EventNone, nil, d.fail(tooBig(max))
			}
			if end < 0 {
				d.n += int64(run)
				return len(p), EventText, rest[:run:run], nil
			}
			d.state = stateType
			return n + end + 1, EventTextEnd, rest[:end:end], nil

		case stateSkipText:
			// Draft-76 section 5.3: the text of a frame whose type is
			// not 0x00 is read and discarded.
			rest := p[n:]
			end := bytes.IndexByte(rest, 0xFF)
			run := end
			if end < 0 {
				run = len(rest)
			}
			if left := max - d.n; int64(run) > left {
				if left > 0 {
					n += int(left)
					d.n = max
				}
				return n, EventNone, nil, d.fail(tooBig(max))
			}
			if end < 0 {
				d.n += int64(run)
				n = len(p)
				continue
			}
			n += end + 1
			d.state = stateType

		case stateLength:
			// Draft-76 section 5.3: length = length * 128 + (b & 0x7F),
			// while b has its high bit set.
			if d.nlen == maxLengthBytes {
				return n, EventNone, nil, d.fail(fmt.Errorf("%w: length prefix longer than %d bytes", ErrFrame, maxLengthBytes))
			}
			b := p[n]
			v := int64(b & 0x7f)
			if d.n > (max-v)>>7 { // d.n*128+v > max, without overflow
				return n, EventNone, nil, d.fail(tooBig(max))
			}
			n++
			d.nlen++
			d.n = d.n<<7 | v
			if b&0x80 != 0 {
				continue
			}
			switch {
			case d.n != 0:
				d.state = stateSkip
			case d.isClose:
				// Draft-76 section 5.3: type 0xFF with length 0 starts
				// (or completes) the closing handshake.
				d.state = stateClosed
				return n, EventClose, nil, nil
			default:
				d.state = stateType
			}

		case stateSkip:
			// Draft-76 section 5.3: "Read /length/ bytes." "Discard the
			// read bytes."
			if left := len(p) - n; int64(left) < d.n {
				d.n -= int64(left)
				n = len(p)
				continue
			}
			n += int(d.n)
			d.state = stateType

		case stateClosed:
			// Draft-76 section 5.3: after the closing frame the server
			// reads no more data; a peer that sends more is broken.
			return n, EventNone, nil, d.fail(fmt.Errorf("%w: data after the closing frame", ErrFrame))
		}
	}
	return n, EventNone, nil, nil
}

func (d *Decoder) fail(err error) error {
	d.err = err
	return err
}

func tooBig(max int64) error {
	return fmt.Errorf("%w: frame longer than %d bytes", ErrTooBig, max)
}
