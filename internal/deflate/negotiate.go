package deflate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Extension names, as offered in Sec-WebSocket-Extensions.
const (
	namePerMessage = "permessage-deflate"
	namePerFrame   = "x-webkit-deflate-frame"
)

// Defaults that a zero Config or Params field stands for.
const (
	DefaultWindowBits = 15
	// DefaultClientWindowBits is what a server with a zero
	// Config.ClientMaxWindowBits asks of a client whose offer allows
	// asking: 8 KiB windows keep nearly all of the ratio on the messages
	// WebSocket applications send, for a quarter of the inflate history.
	DefaultClientWindowBits = 13
	DefaultLevel            = 1
	DefaultMinSize          = 128
)

// Kind names the negotiated extension. It tells the connection where the
// RSV1 bit goes.
type Kind uint8

const (
	// None means no compression was negotiated.
	None Kind = iota
	// PerMessage is permessage-deflate (RFC 7692): a message is compressed
	// as a whole, RSV1 is set on its first frame only, and its frames'
	// payloads are concatenated before inflating.
	PerMessage
	// PerFrame is x-webkit-deflate-frame
	// (draft-tyoshino-hybi-websocket-perframe-deflate): each data frame is
	// compressed on its own and carries its own RSV1 bit.
	PerFrame
)

// String returns the extension token, or "none".
func (k Kind) String() string {
	switch k {
	case None:
		return "none"
	case PerMessage:
		return namePerMessage
	case PerFrame:
		return namePerFrame
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Config is the server's compression policy. It mirrors the public
// lariat.DeflateOptions field for field; zero values mean the defaults.
type Config struct {
	// ServerNoContextTakeover makes the server reset its compressor for
	// every message, so a connection keeps no compression history between
	// messages (it saves up to 8 KiB per connection; see the package doc).
	ServerNoContextTakeover bool
	// ClientNoContextTakeover asks the client to reset its compressor for
	// every message, so the server keeps no inflate history (it saves
	// 2^ClientMaxWindowBits bytes per connection: 8 KiB by default with a
	// client that accepts a smaller window, 32 KiB with one that does
	// not).
	ClientNoContextTakeover bool
	// ServerMaxWindowBits caps the LZ77 window the server compresses with,
	// 8 to 15 (0 means 15). All values are honoured exactly, 8 included.
	ServerMaxWindowBits int
	// ClientMaxWindowBits caps the window the client may compress with,
	// and so the inflate history kept per connection: 8 to 15. Zero asks
	// DefaultClientWindowBits (13) of a client whose offer carries
	// client_max_window_bits and leaves the others at 15. The server asks
	// for 9 when configured with 8, because zlib
	// cannot compress raw DEFLATE with a 256-byte window (see the package
	// doc). A client that cannot be asked for a smaller window (its offer
	// lacks client_max_window_bits) is asked for client_no_context_takeover
	// instead, which keeps no history at all.
	ClientMaxWindowBits int
	// clientSoft: ClientMaxWindowBits was zero, so DefaultClientWindowBits
	// is asked only of clients whose offer allows it; the others keep 15
	// bits rather than losing context takeover.
	clientSoft bool
	// Level is the flate compression level, -2 (Huffman only) to 9; 0
	// means 1 (fastest). Windows smaller than 15 bits use klauspost's
	// custom-window encoder, which has a single level.
	Level int
	// MinSize is the smallest message the server compresses (0 means
	// 128). Shorter messages are sent as they are.
	MinSize int
}

// Validate reports the first field of c that is out of range.
func (c Config) Validate() error {
	switch {
	case c.ServerMaxWindowBits != 0 && (c.ServerMaxWindowBits < 8 || c.ServerMaxWindowBits > 15):
		return fmt.Errorf("lariat: deflate: ServerMaxWindowBits %d out of range 8..15", c.ServerMaxWindowBits)
	case c.ClientMaxWindowBits != 0 && (c.ClientMaxWindowBits < 8 || c.ClientMaxWindowBits > 15):
		return fmt.Errorf("lariat: deflate: ClientMaxWindowBits %d out of range 8..15", c.ClientMaxWindowBits)
	case c.Level < -2 || c.Level > 9:
		return fmt.Errorf("lariat: deflate: Level %d out of range -2..9", c.Level)
	case c.MinSize < 0:
		return errors.New("lariat: deflate: negative MinSize")
	}
	return nil
}

// Params are the negotiated settings of one connection, seen from the
// server: "server" fields govern what the server compresses (Compressor),
// "client" fields what it inflates (Decompressor). Zero values mean the
// defaults, as in Config.
type Params struct {
	Kind Kind
	// ServerNoContextTakeover: the server compresses every message (every
	// frame, for PerFrame) without reference to earlier ones.
	ServerNoContextTakeover bool
	// ClientNoContextTakeover: the client does the same, so the server
	// keeps no inflate history.
	ClientNoContextTakeover bool
	// ServerMaxWindowBits is the window the server compresses with.
	ServerMaxWindowBits int
	// ClientMaxWindowBits is the largest window the client compresses
	// with; with client context takeover the server keeps the last
	// 2^max(bits, 9) bytes it inflated.
	ClientMaxWindowBits int
	// Level is the server's flate level.
	Level int
	// MinSize is the smallest message the server compresses.
	MinSize int
}

// Peer returns p as the client sees it: server and client fields swapped.
// NewCompressor(p.Peer()) compresses the way the client may, and
// NewDecompressor(p.Peer()) inflates what the server sends; tests and the
// internal test client use it.
func (p Params) Peer() Params {
	p.ServerNoContextTakeover, p.ClientNoContextTakeover = p.ClientNoContextTakeover, p.ServerNoContextTakeover
	p.ServerMaxWindowBits, p.ClientMaxWindowBits = p.ClientMaxWindowBits, p.ServerMaxWindowBits
	return p
}

// Negotiate picks the extension to accept from the Sec-WebSocket-Extensions
// header values of a request (every header line, in order; each may hold
// several comma-separated offers). It accepts the first permessage-deflate
// offer it can, else the first acceptable x-webkit-deflate-frame offer, and
// returns the response header value and the parameters in force. ok is
// false when nothing is acceptable: the response then carries no
// extension.
//
// An offer with an unknown, repeated or malformed parameter, or a value out
// of range, is declined (RFC 7692 §5: "A server MUST decline an extension
// negotiation offer for this extension if ... The negotiation offer
// contains an extension parameter not defined for use in an offer ... an
// extension parameter with an invalid value ... multiple extension
// parameters with the same name") and the next one is tried.
func Negotiate(values []string, cfg Config) (resp string, p Params, ok bool) {
	cfg = cfg.normalize()
	var (
		o          offer
		frame      Params
		frameResp  string
		frameFound bool
	)
	for _, v := range values {
		l := lexer{s: v}
		for l.next(&o) {
			if o.bad {
				continue
			}
			switch {
			case strings.EqualFold(o.name, namePerMessage):
				if resp, p, ok := acceptPerMessage(&o, cfg); ok {
					return resp, p, true
				}
			case strings.EqualFold(o.name, namePerFrame) && !frameFound:
				frameResp, frame, frameFound = acceptPerFrame(&o, cfg)
			}
		}
	}
	if frameFound {
		return frameResp, frame, true
	}
	return "", Params{}, false
}

// acceptPerMessage answers one permessage-deflate offer (RFC 7692 §7.1).
func acceptPerMessage(o *offer, cfg Config) (string, Params, bool) {
	var (
		seen              [4]bool
		serverNoCtx       bool // server_no_context_takeover
		clientNoCtx       bool // client_no_context_takeover
		serverBits        = DefaultWindowBits
		clientBitsOffered bool
		clientBits        = DefaultWindowBits
	)
	for _, pr := range o.params[:o.n] {
		var k int
		switch {
		case strings.EqualFold(pr.name, "server_no_context_takeover"):
			k = 0
			serverNoCtx = true
		case strings.EqualFold(pr.name, "client_no_context_takeover"):
			k = 1
			clientNoCtx = true
		case strings.EqualFold(pr.name, "server_max_window_bits"):
			// §7.1.2.1: the value is required in an offer.
			k = 2
			b, ok := parseWindowBits(pr.value)
			if !pr.hasValue || !ok {
				return "", Params{}, false
			}
			serverBits = b
		case strings.EqualFold(pr.name, "client_max_window_bits"):
			// §7.1.2.2: the value is optional in an offer.
			k = 3
			clientBitsOffered = true
			if pr.hasValue {
				b, ok := parseWindowBits(pr.value)
				if !ok {
					return "", Params{}, false
				}
				clientBits = b
			}
		default:
			return "", Params{}, false
		}
		if seen[k] || (k < 2 && pr.hasValue) {
			return "", Params{}, false // repeated, or a flag with a value
		}
		seen[k] = true
	}

	p := Params{
		Kind:                    PerMessage,
		ServerNoContextTakeover: serverNoCtx || cfg.ServerNoContextTakeover,
		ClientNoContextTakeover: clientNoCtx || cfg.ClientNoContextTakeover,
		// §7.1.2.1: "A server accepts an extension negotiation offer with
		// this parameter by including the "server_max_window_bits"
		// extension parameter in the extension negotiation response ...
		// with the same or smaller value as the offer."
		ServerMaxWindowBits: min(serverBits, cfg.ServerMaxWindowBits),
		ClientMaxWindowBits: DefaultWindowBits,
		Level:               cfg.Level,
		MinSize:             cfg.MinSize,
	}
	ask := askWindowBits(cfg.ClientMaxWindowBits)
	switch {
	case clientBitsOffered && p.ClientNoContextTakeover && cfg.clientSoft:
		// No history is kept: a smaller window would save nothing.
		p.ClientMaxWindowBits = clientBits
	case clientBitsOffered:
		// With a value the client has promised it; we may lower it.
		p.ClientMaxWindowBits = min(clientBits, ask)
	case ask < DefaultWindowBits && !cfg.clientSoft:
		// §7.1.2.2: without the parameter in the offer the response
		// "MUST NOT include" it. The only other way to bound the inflate
		// history is to keep none.
		p.ClientNoContextTakeover = true
	}

	var b strings.Builder
	b.Grow(128)
	b.WriteString(namePerMessage)
	if p.ServerNoContextTakeover {
		b.WriteString("; server_no_context_takeover")
	}
	if p.ClientNoContextTakeover {
		b.WriteString("; client_no_context_takeover")
	}
	if seen[2] || p.ServerMaxWindowBits < DefaultWindowBits {
		b.WriteString("; server_max_window_bits=")
		b.WriteString(strconv.Itoa(p.ServerMaxWindowBits))
	}
	if clientBitsOffered && p.ClientMaxWindowBits < DefaultWindowBits {
		b.WriteString("; client_max_window_bits=")
		b.WriteString(strconv.Itoa(p.ClientMaxWindowBits))
	}
	return b.String(), p, true
}

// acceptPerFrame answers one x-webkit-deflate-frame offer. Its parameters
// bind the receiver of the header: in the client's offer they limit the
// server's compressor, in the server's response the client's.
func acceptPerFrame(o *offer, cfg Config) (string, Params, bool) {
	var (
		seenNoCtx, seenBits bool
		noCtx               bool
		bits                = DefaultWindowBits
	)
	for _, pr := range o.params[:o.n] {
		switch {
		case strings.EqualFold(pr.name, "no_context_takeover") && !seenNoCtx && !pr.hasValue:
			seenNoCtx, noCtx = true, true
		case strings.EqualFold(pr.name, "max_window_bits") && !seenBits && pr.hasValue:
			b, ok := parseWindowBits(pr.value)
			if !ok {
				return "", Params{}, false
			}
			seenBits, bits = true, b
		default:
			return "", Params{}, false
		}
	}
	p := Params{
		Kind:                    PerFrame,
		ServerNoContextTakeover: noCtx || cfg.ServerNoContextTakeover,
		ClientNoContextTakeover: cfg.ClientNoContextTakeover,
		ServerMaxWindowBits:     min(bits, cfg.ServerMaxWindowBits),
		ClientMaxWindowBits:     askWindowBits(perFrameClientBits(cfg)),
		Level:                   cfg.Level,
		MinSize:                 cfg.MinSize,
	}
	resp := namePerFrame
	if p.ClientNoContextTakeover {
		resp += "; no_context_takeover"
	}
	if p.ClientMaxWindowBits < DefaultWindowBits {
		resp += "; max_window_bits=" + strconv.Itoa(p.ClientMaxWindowBits)
	}
	return resp, p, true
}

// askWindowBits is the window the server asks a client for. zlib cannot
// compress raw DEFLATE with an 8-bit window (zlib 1.2.9 and later refuse
// it; earlier versions silently use 9 bits: madler/zlib#171), and browsers
// compress with zlib, so a configured 8 is asked as 9.
func askWindowBits(bits int) int { return max(bits, 9) }

// parseWindowBits parses a *_max_window_bits value: "a decimal integer
// value without leading zeroes between 8 to 15, inclusive" (RFC 7692
// §7.1.2.1).
func parseWindowBits(v string) (int, bool) {
	switch len(v) {
	case 1:
		if v[0] == '8' || v[0] == '9' {
			return int(v[0] - '0'), true
		}
	case 2:
		if v[0] == '1' && '0' <= v[1] && v[1] <= '5' {
			return 10 + int(v[1]-'0'), true
		}
	}
	return 0, false
}

// normalize replaces zero and out-of-range fields by what they stand for.
func (c Config) normalize() Config {
	c.ServerMaxWindowBits = normWindowBits(c.ServerMaxWindowBits)
	if c.ClientMaxWindowBits == 0 {
		c.ClientMaxWindowBits, c.clientSoft = DefaultClientWindowBits, true
	}
	c.ClientMaxWindowBits = normWindowBits(c.ClientMaxWindowBits)
	c.Level = normLevel(c.Level)
	c.MinSize = normMinSize(c.MinSize)
	return c
}

func normWindowBits(b int) int {
	if b == 0 || b > 15 {
		return DefaultWindowBits
	}
	return max(b, 8)
}

func normLevel(l int) int {
	if l == 0 || l < -2 || l > 9 {
		return DefaultLevel
	}
	return l
}

func normMinSize(n int) int {
	if n <= 0 {
		return DefaultMinSize
	}
	return n
}

// perFrameClientBits is the window asked of an x-webkit-deflate-frame
// client: that extension has no way for the client to say it can take a
// smaller one, so only an explicit setting lowers it.
func perFrameClientBits(cfg Config) int {
	if cfg.clientSoft {
		return DefaultWindowBits
	}
	return cfg.ClientMaxWindowBits
}
