package autobahn_test

import (
	"fmt"
	"strings"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// closeRows is family 7: the closing handshake (RFC 6455 §5.5.1, §7).
// The server answers a close with a close, processes nothing after it,
// and then closes the TCP connection; a close payload is empty or a valid
// code plus a UTF-8 reason, at most 125 bytes.
func closeRows() []row {
	const wantClose = "close 1000 only, then TCP dropped by the server"
	closeThen := func(after func(c *wstest.Conn)) func(c *wstest.Conn) {
		return func(c *wstest.Conn) {
			c.WriteClose(1000, "")
			after(c)
			c.WantClose(1000) // and nothing before it
			c.WantTCPClosed(tcpWait)
		}
	}
	closeWith := func(p string) func(c *wstest.Conn) {
		return func(c *wstest.Conn) { c.WriteFrame(true, 0, opClose, []byte(p)) }
	}
	// answered sends a close with payload p and wants one of codes back.
	answered := func(p string, codes ...uint16) func(c *wstest.Conn) {
		return func(c *wstest.Conn) {
			closeWith(p)(c)
			c.WantClose(codes...)
			c.WantTCPClosed(tcpWait)
		}
	}
	rows := []row{
		{id: "7.1.1", desc: "text, then close", want: "echo, then close 1000 and TCP dropped", run: func(c *wstest.Conn) {
			c.WriteText("Hello World!")
			c.WantText("Hello World!")
			closeClean(c)
		}},
		{id: "7.1.2", desc: "close, then close again", want: wantClose, run: closeThen(func(c *wstest.Conn) { c.WriteClose(1000, "") })},
		{id: "7.1.3", desc: "close, then ping", want: wantClose + " (no pong)", run: closeThen(func(c *wstest.Conn) { c.WritePing([]byte("Hello World!")) })},
		{id: "7.1.4", desc: "close, then text", want: wantClose + " (no echo)", run: closeThen(func(c *wstest.Conn) { c.WriteText("Hello World!") })},
		{id: "7.1.5", desc: "first fragment, close, last fragment", want: wantClose + " (no echo)", run: func(c *wstest.Conn) {
			frames{{false, opText, "fragment1"}, {true, opClose, "\x03\xe8"}, {true, opCont, "fragment2"}}.write(c, burst)
			c.WantClose(1000)
			c.WantTCPClosed(tcpWait)
		}},
		{id: "7.1.6", desc: "256 KiB text, close, ping, in one burst", want: "echo, then close 1000, no pong (queued frames precede the close)", run: func(c *wstest.Conn) {
			p := text(256 << 10)
			b := c.AppendFrame(nil, true, 0, opText, p)
			b = c.AppendFrame(b, true, 0, opClose, wstest.ClosePayload(1000, ""))
			b = c.AppendFrame(b, true, 0, opPing, []byte("Hello World!"))
			c.WriteRaw(b)
			c.WantText(string(p))
			c.WantClose(1000)
			c.WantTCPClosed(tcpWait)
		}},
		{id: "7.3.1", desc: "close with an empty payload", want: "close, empty or 1000, then TCP dropped", run: answered("", wstest.StatusNone, 1000)},
		{id: "7.3.2", desc: "close with a 1-byte payload", want: wantFail1002, run: func(c *wstest.Conn) {
			closeWith("\x03")(c)
			failsWith(c, 1002)
		}},
		{id: "7.3.3", desc: "close 1000 without reason", want: wantClose, run: answered("\x03\xe8", 1000)},
		{id: "7.3.4", desc: "close 1000 with a reason", want: wantClose, run: answered("\x03\xe8Hello World!", 1000)},
		{id: "7.3.5", desc: "close 1000 with a 123-byte reason (125-byte payload)", want: wantClose, run: answered("\x03\xe8"+strings.Repeat("*", 123), 1000)},
		{id: "7.3.6", desc: "close 1000 with a 124-byte reason (126-byte payload)", want: wantFail1002, run: func(c *wstest.Conn) {
			closeWith("\x03\xe8" + strings.Repeat("*", 124))(c)
			failsWith(c, 1002)
		}},
		{id: "7.5.1", desc: "close 1000 with a reason that is not UTF-8", want: wantFail1007, run: func(c *wstest.Conn) {
			closeWith("\x03\xe8" + kosme + "\xed\xa0\x80edited")(c)
			failsWith(c, 1007)
		}},
	}
	// RFC 6455 §5.5.1: the answering endpoint "typically echos the status
	// code it received"; the fuzzingclient accepts the echo or 1000.
	for i, code := range []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		rows = append(rows, row{
			id: fmt.Sprintf("7.7.%d", i+1), desc: fmt.Sprintf("close with valid code %d", code),
			want: fmt.Sprintf("close %d (echoed) or 1000, then TCP dropped", code),
			run:  answered(string(wstest.ClosePayload(code, "")), code, 1000),
		})
	}
	// RFC 6455 §7.4: 1004 is reserved, 1005, 1006 and 1015 "MUST NOT be
	// set as a status code in a Close control frame", and codes below
	// 3000 that are not registered, or above 4999, are not in use.
	for i, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999} {
		rows = append(rows, row{
			id: fmt.Sprintf("7.9.%d", i+1), desc: fmt.Sprintf("close with invalid code %d", code), want: wantFail1002,
			run: func(c *wstest.Conn) {
				closeWith(string([]byte{byte(code >> 8), byte(code)}))(c)
				failsWith(c, 1002)
			},
		})
	}
	for i, code := range []uint16{5000, 65535} {
		rows = append(rows, row{
			id: fmt.Sprintf("7.13.%d", i+1), desc: fmt.Sprintf("close with invalid code %d", code), want: wantFail1002,
			run: func(c *wstest.Conn) {
				closeWith(string([]byte{byte(code >> 8), byte(code)}))(c)
				failsWith(c, 1002)
			},
		})
	}
	rows = append(rows,
		row{id: "7.L1", desc: "unmasked client frame", want: wantFail1002, run: func(c *wstest.Conn) {
			// RFC 6455 §5.1: "The server MUST close the connection upon
			// receiving a frame that is not masked."
			c.SetUnmasked(true)
			c.WriteText("Hello")
			c.SetUnmasked(false)
			failsWith(c, 1002)
		}},
		row{id: "7.L2", desc: "masked with an all-zero key", want: wantEcho, run: func(c *wstest.Conn) {
			c.SetMaskKey(&[4]byte{})
			echo(opText, []byte("Hello"), 0)(c)
		}},
		row{id: "7.L3", desc: "client drops TCP without a close frame", want: "the server ends the connection (no leftover)", run: func(c *wstest.Conn) {
			c.WriteText("Hello")
			c.WantText("Hello")
			c.Close()
		}},
		row{id: "7.L4", desc: "client drops TCP inside a frame", want: "the server ends the connection (no leftover)", run: func(c *wstest.Conn) {
			f := c.AppendFrame(nil, true, 0, opBinary, binary(1000))
			c.WriteRaw(f[:500])
			c.Close()
		}},
	)
	return rows
}
