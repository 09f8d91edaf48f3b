// Package hixie is the codec of the two oldest WebSocket drafts:
// draft-hixie-thewebsocketprotocol-75 and -76 (the latter republished as
// draft-ietf-hybi-thewebsocketprotocol-00). Browsers of 2010 and 2011
// spoke them (Chrome 4 to 13, Safari 5, Firefox 4 and Opera 11 behind a
// switch). The package has the pieces of the opening handshake and a
// resumable decoder and an encoder for the framing; lariat's Upgrader and
// Conn wire them to the network. It uses the standard library only.
//
// # Handshake
//
// A hixie-76 request carries Sec-WebSocket-Key1 and Sec-WebSocket-Key2
// and, after its header, 8 bytes (key3) that net/http does not read as a
// body, since the request declares none: after Hijack they are in the
// bufio.Reader or still on the wire. The response is a 101 with a header
// of its own and a 16-byte body, the MD5 challenge:
//
//	key1, key2, err := hixie.ParseKeys(r.Header)   // refuse with 400 on error
//	loc := hixie.Location(r.TLS != nil, r.Host, r.RequestURI)
//	buf, err := hixie.AppendResponse76Header(nil, r.Header.Get("Origin"), loc,
//		r.Header.Get("Sec-WebSocket-Protocol"), extraHeader)
//	// hijack; write buf, flush; set a read deadline; then
//	key3, err := hixie.ReadKey3(brw.Reader)
//	sum := hixie.Challenge(key1, key2, key3)
//	// write sum[:], flush, clear the deadline
//
// Writing the header before reading key3 lets the handshake through
// proxies that hold key3 back until they see the 101 (HAProxy does). When
// key3 is already buffered, AppendResponse76 writes the whole response at
// once. A hixie-75 request has no keys and its response
// (AppendResponse75) has no body; IsHixie76 and IsHixie75 tell the two
// apart once the caller has checked Upgrade and Connection.
//
// # Framing
//
// Both drafts frame data the same way. A frame starts with a type byte.
// If its high bit is clear (0x00-0x7F), UTF-8 text follows, ended by
// 0xFF; only type 0x00 is a message. If it is set (0x80-0xFF), a length
// follows in 7-bit groups, most significant first, the high bit of each
// byte saying whether another follows, then that many bytes. Draft-76
// makes type 0xFF with length 0 the closing frame (CloseFrame); draft-75
// has no closing frame, and the connection just ends.
//
// Decoder.Decode consumes bytes in pieces of any size and reports one
// event at a time: a chunk of a text message (EventText), the end of a
// text message with its last chunk (EventTextEnd), the closing frame
// (EventClose). Chunks alias the input, so decoding copies nothing and
// allocates nothing, and a caller can validate UTF-8 as chunks arrive
// and fail a message at its first bad byte.
//
// # What the decoder does with frames that are not messages
//
// The drafts define no message but text: no browser ever sent anything
// but type 0x00 text frames and the closing frame. For the other frames
// the Decoder does what draft-76 section 5.3 tells a server to do, and
// only that:
//
//   - A frame of type 0x80-0xFF (other than the closing frame) is
//     discarded: its length is read and that many bytes skipped. Skipping
//     holds no memory, so refusing these frames would protect nothing; it
//     would only make lariat fail a peer that follows the draft. The
//     length is checked against MaxMessage before a byte is skipped, so a
//     declared length beyond the limit fails at once with ErrTooBig, and
//     a length beyond 64 bits cannot even be expressed: the check stops
//     it first. A length prefix longer than 10 bytes (possible with
//     leading zero groups) is ErrFrame.
//   - A text frame of type 0x01-0x7F is read up to its 0xFF and discarded,
//     never reported: the draft gives those types no meaning. Its length
//     counts against MaxMessage like any other frame's, so a peer cannot
//     hold the connection busy with one endless frame.
//   - The closing frame is reported for hixie-75 connections too, where it
//     is a zero-length binary frame. No hixie-75 client sends it; a caller
//     may treat it as a close or ignore it.
//
// # Limits and errors
//
// Decoder.MaxMessage (1 MiB when zero, as lariat's default) bounds every
// frame, reported or discarded. A text message is reported up to exactly
// MaxMessage bytes; the next byte of it fails with ErrTooBig. Errors wrap
// one of four sentinels: ErrKey, ErrHeaderValue, ErrFrame, ErrTooBig.
// A decoding error is final: the stream cannot be resynced.
//
// # Costs
//
// A Decoder is 40 bytes and allocates only to build an error. ParseKey,
// Challenge and the Append functions allocate nothing beyond the growth of
// dst (the response functions allocate one slice more, to sort the names of
// extra header fields, when there are any); Location builds one string;
// ReadKey3 moves its 8 bytes to the heap because it reads through an
// io.Reader.
package hixie
