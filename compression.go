package lariat

import "github.com/lariat-ws/lariat/internal/deflate"

// CompressionOptions shape the compression lariat negotiates when
// Options.Compression is set: permessage-deflate (RFC 7692) when the client
// offers it, else x-webkit-deflate-frame, the per-frame extension of older
// Safari and Chrome. Zero values are the defaults.
//
// Memory. Compressors and inflaters are shared by all connections through
// pools, so an idle connection holds none. What a connection keeps between
// messages is its context: with server context takeover (the default) the
// last min(2^ServerMaxWindowBits, 8 KiB) bytes it sent, which is enough to
// compress as well as a dedicated compressor; with client context takeover
// (the default) the last 2^ClientMaxWindowBits bytes it received, because
// the client may refer to all of them: 8 KiB by default for browsers, 32 KiB
// for clients that cannot be asked for less. Setting both
// NoContextTakeover fields brings that to zero, at some cost in ratio.
//
// CompressionOptions is a plain value; lariat only reads it.
type CompressionOptions struct {
	// ServerNoContextTakeover compresses every message on its own, so the
	// connection keeps no compression history (up to 8 KiB saved).
	ServerNoContextTakeover bool

	// ClientNoContextTakeover asks the client to compress every message
	// on its own, so the connection keeps no inflate history (32 KiB
	// saved with the default window).
	ClientNoContextTakeover bool

	// ServerMaxWindowBits caps the window the server compresses with,
	// 8 to 15; zero means 15. A client's server_max_window_bits lowers it
	// further.
	ServerMaxWindowBits int

	// ClientMaxWindowBits caps the window the client may compress with,
	// 8 to 15. It bounds the inflate history kept per connection. Zero
	// asks 13 bits (8 KiB) of a client whose offer carries
	// client_max_window_bits, as browsers' do, and leaves other clients at
	// 15: small windows keep nearly all of the ratio on typical messages
	// for a quarter of the memory. An explicit value is asked of every
	// client; one whose offer cannot take a window size is asked for
	// client_no_context_takeover instead. A value of 8 is asked for as 9:
	// zlib cannot produce raw DEFLATE with a 256-byte window
	// (madler/zlib#171), and a zlib client asked for 8 either refuses or
	// quietly uses 9.
	ClientMaxWindowBits int

	// Level is the flate compression level, from -2 (Huffman only) to 9;
	// zero means 1, the fastest.
	Level int

	// MinSize is the smallest message that is compressed; smaller ones
	// are sent as they are. Zero means 128 bytes.
	MinSize int
}

// config is o as the negotiation in internal/deflate takes it.
func (o *CompressionOptions) config() deflate.Config {
	return deflate.Config{
		ServerNoContextTakeover: o.ServerNoContextTakeover,
		ClientNoContextTakeover: o.ClientNoContextTakeover,
		ServerMaxWindowBits:     o.ServerMaxWindowBits,
		ClientMaxWindowBits:     o.ClientMaxWindowBits,
		Level:                   o.Level,
		MinSize:                 o.MinSize,
	}
}

// SetCompression turns compression of the messages sent after it off
// (false) or back on (true), for data that is already compressed or that
// must not share a compression context with other data. It changes
// nothing when no compression was negotiated. (Cowboy: {deflate, B}.)
func (c *Conn) SetCompression(on bool) { c.noCompress = !on }

// Compression reports the compression extension negotiated for the
// connection: "permessage-deflate", "x-webkit-deflate-frame" or "".
func (c *Conn) Compression() string {
	if c.ext == deflate.None {
		return ""
	}
	return c.ext.String()
}
