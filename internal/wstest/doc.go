// Package wstest is a scripted WebSocket client for tests of lariat's
// server side, over real TCP or on the streams of a real HTTP/2
// connection. It does not import lariat: it is a second, independent
// reading of RFC 6455, RFC 7692 and RFC 8441, so the two cannot share a
// mistake.
//
// A test dials, writes exactly the frames it wants (masked or not, with
// any opcode and reserved bits, whole or chopped into small TCP writes),
// and states what it expects back:
//
//	c := wstest.Dial(t, "ws://"+addr+"/")
//	c.WriteFrame(true, wstest.RSV2, wstest.OpText, []byte("hi"))
//	c.WantClose(1002)
//	c.WriteClose(1002, "")
//	c.WantTCPClosed(wstest.DefaultTimeout)
//
// Every read has a deadline (Conn.Timeout, ten seconds by default). The
// Want methods fail the test with a message that says what arrived instead.
//
// # Compression
//
// When the handshake offers permessage-deflate (the Extensions option) and
// the server accepts it, the Conn compresses the messages it sends with
// compress/flate and inflates those it receives, keeping or resetting the
// LZ77 context as negotiated.
//
// # HTTP/2
//
// [DialH2] opens an HTTP/2 connection, cleartext (h2c) or over TLS with
// ALPN, on which each [H2Conn.Connect] opens a WebSocket as one stream
// with extended CONNECT (RFC 8441). An [H2Stream] writes and expects
// messages with the same methods as a Conn:
//
//	c := wstest.DialH2(t, "https://"+addr)
//	c.WantSetting(http2.SettingEnableConnectProtocol, 1)
//	st, _ := c.Connect("/ws")
//	st.WriteText("hi")
//	st.WantText("hi")
//
// The client writes exactly the HTTP/2 frames a test asks for
// ([H2Conn.Open] takes any header fields), so tests can also send what a
// browser would not.
package wstest
