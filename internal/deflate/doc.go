// Package deflate is lariat's compression engine: extension negotiation,
// and per-connection compression and decompression, for permessage-deflate
// (RFC 7692) and its predecessor x-webkit-deflate-frame
// (draft-tyoshino-hybi-websocket-perframe-deflate, as shipped by Safari
// and early Chrome). It depends on the standard library and
// github.com/klauspost/compress/flate only.
//
// # Negotiation
//
// [Negotiate] reads the Sec-WebSocket-Extensions values of an upgrade
// request and returns the response value and the [Params] in force. It
// accepts the first acceptable permessage-deflate offer, else the first
// acceptable x-webkit-deflate-frame offer; offers with unknown, repeated or
// out-of-range parameters are declined and the next one is tried. [Config]
// mirrors lariat.DeflateOptions and shapes the answer.
//
// # Use on a connection
//
// A connection holds one [Compressor] and one [Decompressor], made from
// the same Params.
//
// Writing a data message: out, compressed, err := c.Compress(buf[:0], p).
// If compressed, send out with RSV1 set: for [PerMessage] on the first
// frame of the message only (continuation frames have RSV1 clear); for
// [PerFrame] on that frame, and a fragmented message calls Compress once
// per frame. Otherwise send p as it is, RSV1 clear. Control frames are
// never compressed.
//
// Reading: for PerMessage, RSV1 on a message's first frame marks it
// compressed (RSV1 on a continuation or control frame fails the
// connection). The connection calls
// d.InflateStream(dst, payloads, limit, emit) with an io.Reader that
// yields the payloads of the message's frames in order, reading the next
// frame from the socket when one is used up, and io.EOF after the final
// frame; emit validates text as it appears. For PerFrame each frame with
// RSV1 is inflated on its own, with [Decompressor.Inflate] or with
// InflateStream over that frame's payload, appending to the message so
// far, with limit set to what is left of the message limit. [ErrTooBig]
// maps to close code 1009, [ErrCorrupt] to 1007; an error from the reader
// (the socket's) or from emit comes back as it is. After any error the
// connection must fail, since the histories no longer match.
//
// # Inflating as frames arrive
//
// [Decompressor.InflateStream] inflates a message while its frames are
// still arriving, on the connection's goroutine: when the inflater wants
// more input it reads from the reader, which blocks on the socket. So:
//
//   - Compressed bytes are never gathered: the inflater reads through
//     its pooled 4 KiB buffer, and the message limit applies to the
//     inflated size only. (x-webkit-deflate-frame, which inflates whole
//     frames, and Inflate take the compressed bytes in memory.)
//   - Output reaches emit as soon as the inflater releases it: at every
//     flush point a sender made (the empty stored block of a sync flush),
//     at the end, and at least every 32 KiB within a long block. Corrupt
//     data fails as soon as its bad bits are read. In both cases the rest
//     of the message is not read; TestInflateStreamFailFast counts the
//     bytes read, in 1-byte, 7-byte and 1000-byte frames.
//   - The output buffer grows as output appears, by as much again as the
//     message has inflated so far (at least 4 KiB, never past the limit):
//     a 1 MiB limit reached by a few kilobytes of input costs under 2 MiB
//     of allocation, and a limit of math.MaxInt reserves nothing.
//   - The reader is read up to its io.EOF and never after it: a message
//     is accepted only once it is known to have ended.
//   - While it waits for the next frame, the connection holds a pooled
//     inflater (41 KB): a peer that stops in the middle of a compressed
//     message pins one until the read fails or times out, where a
//     gathered message would pin only its compressed bytes.
//
// Inflate is InflateStream over bytes in memory; both run at the same
// speed, about 4 µs for a 1 KiB JSON message, 9 µs for 4 KiB and 140 µs
// for 64 KiB (BenchmarkInflateStream), and allocate nothing once their
// pool is warm when dst has room (TestInflateStreamAllocs).
//
// # Memory
//
// Between messages a connection keeps its two structs (Compressor 64 B,
// Decompressor 40 B) and, with context takeover, its histories: the
// Compressor the last min(2^ServerMaxWindowBits, 8 KiB) bytes it
// compressed, the Decompressor the last 2^max(ClientMaxWindowBits, 9)
// bytes it inflated. Measured by TestMemoryPerConnection after twelve
// 4 KiB messages each way:
//
//	no context takeover either way        104 B per connection
//	server context takeover only          8.1 KiB (8 KiB + 104 B)
//	client context takeover only          32.1 KiB (32 KiB + 104 B)
//	both, 15-bit windows                  40.1 KiB
//	both, the default with a browser      16.1 KiB (client asked for 13 bits)
//	both, 10-bit windows                  2.1 KiB
//	both, 8-bit windows                   872 B (256 B + 512 B + 104 B)
//
// The histories grow with the traffic up to those sizes. Everything else
// is borrowed from pools shared by all connections, for the length of one
// call, so an idle or hibernating connection holds no compressor: a flate
// writer (823 KB at level 1, 328 KB Huffman-only, 0.95 to 1.4 MB for the
// other levels and for windows under 15 bits) and an inflater (41 KB with
// its 4 KiB read buffer). A dedicated writer per connection, which is how
// coder/websocket keeps context, would cost 823 KB each.
//
// With server context takeover the Compressor keeps the last 8 KiB it
// compressed rather than the full window: any prefix of the history may go
// unused, and a pooled writer re-hashes its dictionary on every message.
// On 4 KiB JSON messages 8 KiB compresses as well as 32 KiB or a dedicated
// writer (ratio 0.217, against 0.272 without context) for 1.6 times the
// CPU time of no context, where 32 KiB takes 3.8 times
// (BenchmarkCompressAlternatives, TestCPUTimePerMessage). [Compressor.Release] drops even that,
// which is always allowed; [Decompressor.Release] must keep its history,
// which the peer may refer to.
//
// Without context, a 4 KiB JSON message spends its time inside flate: a
// CPU profile of BenchmarkCompress gives about 40% to building the
// block's Huffman tables (a fixed cost per message, whatever its size),
// 40% to finding matches and 15% to writing the codes. Borrowing and
// resetting the pooled writer (about 60 ns per reset) and appending its
// output cost under 1%, within the noise of a bare flate.Writer.
// Inflating is alike: reading a block's Huffman tables is half the
// time of a 1 KiB message.
//
// # Window bits 8
//
// zlib cannot compress raw DEFLATE with a 256-byte window: before 1.2.9 it
// silently used 512 bytes, so a peer that trusted the 8 failed on
// distances over 256; since 1.2.9 deflateInit2 refuses
// (madler/zlib#171). Its inflater takes 8 bits without trouble. So:
//
//   - server_max_window_bits=8, offered by a client or configured, is
//     accepted and honoured exactly: klauspost's custom-window encoder
//     compresses with a true 256-byte window. The tests inflate every
//     message with an independent decoder and check that no
//     back-reference reaches further than 2^bits.
//   - The server never asks a client for 8 bits: a configured
//     ClientMaxWindowBits of 8 is asked as 9, since zlib clients, browsers
//     among them, cannot comply with 8. A client that itself offers
//     client_max_window_bits=8 is taken at its word, and the inflate
//     history is never under 512 bytes, so a client on old zlib that
//     compresses with 9 bits after promising 8 is still understood.
//   - x-webkit-deflate-frame's max_window_bits follows the same rules.
//
// Declining the offer instead would only lose compression for those
// clients.
//
// # Concurrency
//
// Negotiate is safe for concurrent use. A Compressor or Decompressor
// belongs to one connection: its methods must not be called concurrently,
// which the connection's single goroutine ensures. The pools behind them
// are safe for concurrent use.
package deflate
