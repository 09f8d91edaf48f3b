// Package wstest is a scripted WebSocket client for tests of lariat's
// server side, over real TCP. It does not import lariat: it is a second,
// independent reading of RFC 6455 and RFC 7692, so the two cannot share a
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
package wstest
