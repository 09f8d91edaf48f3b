package wstest

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// DeflateParams are the permessage-deflate parameters a server accepted,
// read from its Sec-WebSocket-Extensions response (RFC 7692 §7.1).
// A window size of 0 means the parameter was absent (15 bits).
type DeflateParams struct {
	ServerNoContextTakeover bool
	ClientNoContextTakeover bool
	ServerMaxWindowBits     int
	ClientMaxWindowBits     int
}

// String gives the parameters in extension-header syntax.
func (p DeflateParams) String() string {
	s := "permessage-deflate"
	if p.ServerNoContextTakeover {
		s += "; server_no_context_takeover"
	}
	if p.ClientNoContextTakeover {
		s += "; client_no_context_takeover"
	}
	if p.ServerMaxWindowBits != 0 {
		s += "; server_max_window_bits=" + strconv.Itoa(p.ServerMaxWindowBits)
	}
	if p.ClientMaxWindowBits != 0 {
		s += "; client_max_window_bits=" + strconv.Itoa(p.ClientMaxWindowBits)
	}
	return s
}

// ParseDeflateResponse reads the values of a server's
// Sec-WebSocket-Extensions response headers. It reports ok=false when
// permessage-deflate was not accepted, and an error when the response breaks
// RFC 7692 §7: another extension, a second permessage-deflate element, an
// unknown or repeated parameter, a window size outside 8..15, a value on a
// flag, or client_max_window_bits when offeredClientBits is false (§7.1.2.2:
// the server MUST NOT send it unless the client offered it).
func ParseDeflateResponse(values []string, offeredClientBits bool) (p DeflateParams, ok bool, err error) {
	for _, v := range values {
		for elem := range strings.SplitSeq(v, ",") {
			if strings.TrimSpace(elem) == "" {
				continue
			}
			params := strings.Split(elem, ";")
			name := strings.TrimSpace(params[0])
			if !strings.EqualFold(name, "permessage-deflate") {
				return p, false, fmt.Errorf("wstest: server accepted extension %q, which was not offered", name)
			}
			if ok {
				return p, false, errors.New("wstest: server accepted permessage-deflate twice")
			}
			ok = true
			seen := map[string]bool{}
			for _, param := range params[1:] {
				key, val, hasVal := strings.Cut(strings.TrimSpace(param), "=")
				key = strings.ToLower(strings.TrimSpace(key))
				val = strings.Trim(strings.TrimSpace(val), `"`)
				if seen[key] {
					return p, false, fmt.Errorf("wstest: parameter %s repeated in %q", key, elem)
				}
				seen[key] = true
				switch key {
				case "server_no_context_takeover", "client_no_context_takeover":
					if hasVal {
						return p, false, fmt.Errorf("wstest: flag %s has a value in %q", key, elem)
					}
					if key == "server_no_context_takeover" {
						p.ServerNoContextTakeover = true
					} else {
						p.ClientNoContextTakeover = true
					}
				case "server_max_window_bits", "client_max_window_bits":
					bits, err := strconv.Atoi(val)
					if !hasVal || err != nil || bits < 8 || bits > 15 || val != strconv.Itoa(bits) {
						return p, false, fmt.Errorf("wstest: %s needs a value in 8..15 in %q", key, elem)
					}
					if key == "server_max_window_bits" {
						p.ServerMaxWindowBits = bits
					} else {
						if !offeredClientBits {
							return p, false, fmt.Errorf("wstest: server sent client_max_window_bits, which the offer did not include (RFC 7692 §7.1.2.2)")
						}
						p.ClientMaxWindowBits = bits
					}
				default:
					return p, false, fmt.Errorf("wstest: unknown permessage-deflate parameter %q", key)
				}
			}
		}
	}
	return p, ok, nil
}

// tail is what a sender strips from the end of each compressed message and
// the receiver appends back (RFC 7692 §7.2.1, §7.2.2): an empty stored block.
var tail = []byte{0x00, 0x00, 0xff, 0xff}

// finalBlock is an empty final stored block. Appended after tail it lets a
// DEFLATE reader finish with io.EOF at the end of a message.
var finalBlock = []byte{0x01, 0x00, 0x00, 0xff, 0xff}

// Deflater is the client side of permessage-deflate: it compresses what the
// client sends and inflates what the server sends, keeping the LZ77 window
// across messages where the negotiated parameters allow it. The standard
// library's compressor always uses a 32 KiB window, so when the server
// limits the client's window (client_max_window_bits below 15) Deflater
// compresses with Huffman coding only, which makes no back-references.
type Deflater struct {
	params   DeflateParams
	takeover bool // the client keeps its window across messages

	w   *flate.Writer
	buf bytes.Buffer

	// dict is the server's window: the tail of what it sent earlier, used
	// as the inflate dictionary while the server keeps its context.
	dict []byte
}

// NewDeflater returns the client state for the negotiated parameters. The
// client keeps its own context across messages unless the server asked for
// client_no_context_takeover.
func NewDeflater(p DeflateParams) *Deflater {
	return &Deflater{params: p, takeover: !p.ClientNoContextTakeover}
}

// Params returns the negotiated parameters.
func (d *Deflater) Params() DeflateParams { return d.params }

// SetContextTakeover chooses whether the client keeps its compression
// context across messages. Turning it on has no effect when the server
// asked for client_no_context_takeover.
func (d *Deflater) SetContextTakeover(on bool) {
	d.takeover = on && !d.params.ClientNoContextTakeover
}

// Compress returns the payload of one compressed message: p deflated and
// flushed, with the trailing 00 00 ff ff removed (RFC 7692 §7.2.1).
func (d *Deflater) Compress(p []byte) []byte {
	if d.w == nil {
		level := flate.BestSpeed
		if b := d.params.ClientMaxWindowBits; b != 0 && b < 15 {
			level = flate.HuffmanOnly
		}
		d.w, _ = flate.NewWriter(&d.buf, level) // the level is valid
	} else if !d.takeover {
		d.w.Reset(&d.buf)
	}
	d.buf.Reset()
	d.w.Write(p) // writes to a bytes.Buffer do not fail
	d.w.Flush()
	out := bytes.Clone(d.buf.Bytes())
	if !bytes.HasSuffix(out, tail) {
		panic("wstest: flate.Writer.Flush did not end with a sync marker")
	}
	return out[:len(out)-len(tail)]
}

// Decompress inflates the payload of one compressed message from the
// server, refusing output longer than limit. While the server keeps its
// context, back-references may reach into earlier messages, but only as far
// as the server's window (server_max_window_bits), so a server that reaches
// further gets an error here.
func (d *Deflater) Decompress(p []byte, limit int64) ([]byte, error) {
	src := io.MultiReader(bytes.NewReader(p), bytes.NewReader(tail), bytes.NewReader(finalBlock))
	r := flate.NewReaderDict(src, d.dict)
	out, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("wstest: inflating a %d-byte message: %w", len(p), err)
	}
	if int64(len(out)) > limit {
		return nil, fmt.Errorf("wstest: inflated message exceeds %d bytes", limit)
	}
	if d.params.ServerNoContextTakeover {
		return out, nil
	}
	window := 1 << 15
	if b := d.params.ServerMaxWindowBits; b != 0 {
		window = 1 << b
	}
	d.dict = append(d.dict, out...)
	if len(d.dict) > window {
		d.dict = append(d.dict[:0:0], d.dict[len(d.dict)-window:]...)
	}
	return out, nil
}
