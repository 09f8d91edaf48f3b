package autobahn_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// Short names for the opcodes and bits the cases write.
const (
	opCont   = wstest.OpContinuation
	opText   = wstest.OpText
	opBinary = wstest.OpBinary
	opClose  = wstest.OpClose
	opPing   = wstest.OpPing
	opPong   = wstest.OpPong
)

// framingRows is family 1: text and binary messages at every boundary of
// the payload length encodings (RFC 6455 §5.2: 7 bits up to 125, 16 bits
// up to 65535, 64 bits beyond), whole and chopped into small TCP writes.
func framingRows() []row {
	var rows []row
	sizes := []int{0, 125, 126, 127, 128, 65535, 65536}
	for fam, op := range []byte{opText, opBinary} {
		gen, name := text, "text"
		if op == opBinary {
			gen, name = binary, "binary"
		}
		for i, n := range sizes {
			rows = append(rows, row{
				id:   fmt.Sprintf("1.%d.%d", fam+1, i+1),
				desc: fmt.Sprintf("%s message, %d-byte payload", name, n),
				want: wantEcho,
				run:  echo(op, gen(n), 0),
			})
		}
		rows = append(rows, row{
			id:   fmt.Sprintf("1.%d.8", fam+1),
			desc: fmt.Sprintf("%s message, 65536-byte payload, written in 997-byte pieces", name),
			want: wantEcho,
			run: func(c *wstest.Conn) {
				c.SetChop(997, 0)
				echo(op, gen(65536), 0)(c)
			},
		})
	}
	return rows
}

// pingRows is family 2: pings are answered with a pong carrying the same
// payload (RFC 6455 §5.5.2, §5.5.3), control payloads are at most 125
// bytes (§5.5), and unsolicited pongs get no answer (§5.5.3).
func pingRows() []row {
	pingPong := func(p []byte, chop int) func(c *wstest.Conn) {
		return func(c *wstest.Conn) {
			c.SetChop(chop, 0)
			c.WritePing(p)
			c.WantPong(p)
			c.SetChop(0, 0)
			closeClean(c)
		}
	}
	return []row{
		{id: "2.1", desc: "ping without payload", want: wantPong, run: pingPong(nil, 0)},
		{id: "2.2", desc: "ping with a text payload", want: wantPong, run: pingPong([]byte("Hello, world!"), 0)},
		{id: "2.3", desc: "ping with a binary payload", want: wantPong, run: pingPong([]byte{0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff}, 0)},
		{id: "2.4", desc: "ping with a 125-byte payload", want: wantPong, run: pingPong(binary(125), 0)},
		{id: "2.5", desc: "ping with a 126-byte payload (over the control limit)", want: wantFail1002, run: func(c *wstest.Conn) {
			c.WritePing(binary(126))
			failsWith(c, 1002)
		}},
		{id: "2.6", desc: "ping with a 125-byte payload, written 1 byte at a time", want: wantPong, run: pingPong(binary(125), 1)},
		{id: "2.7", desc: "unsolicited pong without payload", want: "nothing in answer; clean close", run: func(c *wstest.Conn) {
			c.WritePong(nil)
			closeClean(c) // a pong in answer would arrive before the close
		}},
		{id: "2.8", desc: "unsolicited pong with a payload", want: "nothing in answer; clean close", run: func(c *wstest.Conn) {
			c.WritePong([]byte("unsolicited pong payload"))
			closeClean(c)
		}},
		{id: "2.9", desc: "unsolicited pong, then a ping", want: "one pong, with the ping's payload; clean close", run: func(c *wstest.Conn) {
			c.WritePong([]byte("unsolicited pong payload"))
			c.WritePing([]byte("ping payload"))
			c.WantPong([]byte("ping payload"))
			closeClean(c)
		}},
		{id: "2.10", desc: "10 pings in a row, in one write", want: "10 pongs, in order; clean close", run: func(c *wstest.Conn) {
			var b []byte
			for i := range 10 {
				b = c.AppendFrame(b, true, 0, opPing, fmt.Appendf(nil, "payload-%d", i))
			}
			c.WriteRaw(b)
			for i := range 10 {
				c.WantPong(fmt.Appendf(nil, "payload-%d", i))
			}
			closeClean(c)
		}},
		{id: "2.11", desc: "10 pings in a row, each written 1 byte at a time", want: "10 pongs, in order; clean close", run: func(c *wstest.Conn) {
			c.SetChop(1, time.Millisecond)
			for i := range 10 {
				c.WritePing(fmt.Appendf(nil, "payload-%d", i))
			}
			c.SetChop(0, 0)
			for i := range 10 {
				c.WantPong(fmt.Appendf(nil, "payload-%d", i))
			}
			closeClean(c)
		}},
	}
}

// afterEcho sends "Hello", then the offending frame, then a ping, and
// wants the echo of "Hello" and then the failure: the valid frame before
// the bad one is not lost (the project's rule), and nothing after it is
// processed (RFC 6455 §7.1.7).
func afterEcho(bad func(c *wstest.Conn), chop int, oneByOne bool) func(c *wstest.Conn) {
	return func(c *wstest.Conn) {
		c.SetChop(chop, 0)
		c.WriteText("Hello")
		if oneByOne {
			c.WantText("Hello")
		}
		bad(c)
		c.WritePing(nil)
		c.SetChop(0, 0)
		if !oneByOne {
			c.WantText("Hello")
		}
		failsWith(c, 1002)
	}
}

// reservedBitRows is family 3: a reserved bit set without a negotiated
// extension fails the connection (RFC 6455 §5.2: "If a nonzero value is
// received and none of the negotiated extensions defines the meaning of
// such a nonzero value, the receiving endpoint MUST _Fail the WebSocket
// Connection_").
func reservedBitRows() []row {
	frame := func(rsv, op byte, p string) func(c *wstest.Conn) {
		return func(c *wstest.Conn) { c.WriteFrame(true, rsv, op, []byte(p)) }
	}
	fail := func(rsv, op byte, p string) func(c *wstest.Conn) {
		return func(c *wstest.Conn) {
			frame(rsv, op, p)(c)
			failsWith(c, 1002)
		}
	}
	return []row{
		{id: "3.1", desc: "text with RSV1 (no extension negotiated)", want: wantFail1002, run: fail(wstest.RSV1, opText, "Hello")},
		{id: "3.2", desc: "text, then text with RSV2, then ping, in one burst", want: wantEchoFirst, run: afterEcho(frame(wstest.RSV2, opText, "Hello"), 0, false)},
		{id: "3.3", desc: "text, then text with RSV1+RSV2, then ping, frame by frame", want: wantEchoFirst, run: afterEcho(frame(wstest.RSV1|wstest.RSV2, opText, "Hello"), 0, true)},
		{id: "3.4", desc: "text, then text with RSV3, then ping, 1 byte at a time", want: wantEchoFirst, run: afterEcho(frame(wstest.RSV3, opText, "Hello"), 1, false)},
		{id: "3.5", desc: "binary with RSV1+RSV3", want: wantFail1002, run: fail(wstest.RSV1|wstest.RSV3, opBinary, "\x00\xff\xfe")},
		{id: "3.6", desc: "ping with RSV2+RSV3", want: wantFail1002, run: fail(wstest.RSV2|wstest.RSV3, opPing, "Hello")},
		{id: "3.7", desc: "close with all RSV bits", want: wantFail1002, run: fail(7, opClose, "\x03\xe8")},
	}
}

// opcodeRows is family 4: reserved opcodes fail the connection (RFC 6455
// §5.2: "If an unknown opcode is received, the receiving endpoint MUST
// _Fail the WebSocket Connection_").
func opcodeRows() []row {
	var rows []row
	for fam, ops := range [][]byte{{3, 4, 5, 6, 7}, {11, 12, 13, 14, 15}} {
		kind := "non-control"
		if fam == 1 {
			kind = "control"
		}
		for i, op := range ops {
			var payload string
			if i%2 == 1 {
				payload = "reserved opcode payload"
			}
			id := fmt.Sprintf("4.%d.%d", fam+1, i+1)
			bad := func(c *wstest.Conn) { c.WriteFrame(true, 0, op, []byte(payload)) }
			r := row{id: id, want: wantFail1002}
			switch i {
			case 0, 1:
				r.desc = fmt.Sprintf("reserved %s opcode %d", kind, op)
				r.run = func(c *wstest.Conn) { bad(c); failsWith(c, 1002) }
			case 2:
				r.desc, r.want = fmt.Sprintf("text, reserved opcode %d, ping, in one burst", op), wantEchoFirst
				r.run = afterEcho(bad, 0, false)
			case 3:
				r.desc, r.want = fmt.Sprintf("text, reserved opcode %d, ping, frame by frame", op), wantEchoFirst
				r.run = afterEcho(bad, 0, true)
			case 4:
				r.desc, r.want = fmt.Sprintf("text, reserved opcode %d, ping, 1 byte at a time", op), wantEchoFirst
				r.run = afterEcho(bad, 1, false)
			}
			rows = append(rows, r)
		}
	}
	return rows
}

// frames is a frame script: fin, opcode, payload.
type frames []struct {
	fin bool
	op  byte
	p   string
}

// send writes the frames in one write, or, with chop > 0, in pieces of
// chop bytes with pause between them.
func (fs frames) send(c *wstest.Conn, chop int, pause time.Duration) {
	var b []byte
	for _, f := range fs {
		b = c.AppendFrame(b, f.fin, 0, f.op, []byte(f.p))
	}
	c.SetChop(chop, pause)
	c.WriteRaw(b)
	c.SetChop(0, 0)
}

// each writes the frames one write per frame, pausing between them, so
// that each reaches the server on its own.
func (fs frames) each(c *wstest.Conn) {
	for _, f := range fs {
		c.WriteFrame(f.fin, 0, f.op, []byte(f.p))
		time.Sleep(time.Millisecond)
	}
}

// how a case writes its frames
type writeMode int

const (
	burst    writeMode = iota // one write
	bytewise                  // 1-byte writes
	paused                    // 3-byte writes with pauses
	perFrame                  // one write per frame, with pauses
)

func (fs frames) write(c *wstest.Conn, m writeMode) {
	switch m {
	case burst:
		fs.send(c, 0, 0)
	case bytewise:
		fs.send(c, 1, 0)
	case paused:
		fs.send(c, 3, time.Millisecond)
	case perFrame:
		fs.each(c)
	}
}

// fragmentationRows is family 5: fragmented messages (RFC 6455 §5.4).
// Control frames MUST NOT be fragmented but MAY be injected between
// fragments; a continuation needs a message to continue, and a new data
// frame cannot start inside an unfinished message.
func fragmentationRows() []row {
	fragmented := frames{{false, opText, "fragment1"}, {true, opCont, "fragment2"}}
	withPing := frames{{false, opText, "fragment1"}, {true, opPing, "pongme!"}, {true, opCont, "fragment2"}}
	fails := func(fs frames, m writeMode) func(c *wstest.Conn) {
		return func(c *wstest.Conn) {
			fs.write(c, m)
			failsWith(c, 1002)
		}
	}
	echoes := func(fs frames, m writeMode, want ...string) func(c *wstest.Conn) {
		return func(c *wstest.Conn) {
			fs.write(c, m)
			for _, w := range want {
				if w == "pong" {
					c.WantPong([]byte("pongme!"))
				} else {
					c.WantText(w)
				}
			}
			closeClean(c)
		}
	}
	loneCont := frames{{true, opCont, "non-continuation payload"}, {true, opText, "Hello, world!"}}
	loneContNoFin := frames{{false, opCont, "non-continuation payload"}, {true, opText, "Hello, world!"}}
	const wantPongEcho = "pong first, then the reassembled echo; clean close"
	rows := []row{
		{id: "5.1", desc: "ping in 2 fragments", want: wantFail1002, run: fails(frames{{false, opPing, "fragment1"}, {true, opCont, "fragment2"}}, burst)},
		{id: "5.2", desc: "pong in 2 fragments", want: wantFail1002, run: fails(frames{{false, opPong, "fragment1"}, {true, opCont, "fragment2"}}, burst)},
		{id: "5.3", desc: "text in 2 fragments", want: wantEcho, run: echoes(fragmented, burst, "fragment1fragment2")},
		{id: "5.4", desc: "text in 2 fragments, 1 byte at a time", want: wantEcho, run: echoes(fragmented, bytewise, "fragment1fragment2")},
		{id: "5.5", desc: "text in 2 fragments, frame by frame", want: wantEcho, run: echoes(fragmented, perFrame, "fragment1fragment2")},
		{id: "5.6", desc: "text in 2 fragments, ping between them", want: wantPongEcho, run: echoes(withPing, burst, "pong", "fragment1fragment2")},
		{id: "5.7", desc: "text in 2 fragments, ping between, 1 byte at a time", want: wantPongEcho, run: echoes(withPing, bytewise, "pong", "fragment1fragment2")},
		{id: "5.8", desc: "text in 2 fragments, ping between, frame by frame", want: wantPongEcho, run: echoes(withPing, perFrame, "pong", "fragment1fragment2")},
		{id: "5.9", desc: "continuation (FIN) with no message, then text", want: wantFail1002, run: fails(loneCont, burst)},
		{id: "5.10", desc: "as 5.9, 1 byte at a time", want: wantFail1002, run: fails(loneCont, bytewise)},
		{id: "5.11", desc: "as 5.9, in 3-byte pieces with pauses", want: wantFail1002, run: fails(loneCont, paused)},
		{id: "5.12", desc: "continuation (no FIN) with no message, then text", want: wantFail1002, run: fails(loneContNoFin, burst)},
		{id: "5.13", desc: "as 5.12, 1 byte at a time", want: wantFail1002, run: fails(loneContNoFin, bytewise)},
		{id: "5.14", desc: "as 5.12, in 3-byte pieces with pauses", want: wantFail1002, run: fails(loneContNoFin, paused)},
		{id: "5.15", desc: "complete fragmented text, then a continuation with no message", want: wantEchoFirst, run: func(c *wstest.Conn) {
			frames{{false, opText, "fragment1"}, {true, opCont, "fragment2"}, {false, opCont, "fragment3"}, {true, opText, "fragment4"}}.write(c, burst)
			c.WantText("fragment1fragment2")
			failsWith(c, 1002)
		}},
		{id: "5.16", desc: "continuation, text, continuation (no message to continue), twice", want: wantFail1002, run: fails(frames{
			{false, opCont, "fragment1"}, {false, opText, "fragment2"}, {true, opCont, "fragment3"},
			{false, opCont, "fragment1"}, {false, opText, "fragment2"}, {true, opCont, "fragment3"}}, burst)},
		{id: "5.17", desc: "as 5.16 with FIN on the first continuation", want: wantFail1002, run: fails(frames{
			{true, opCont, "fragment1"}, {false, opText, "fragment2"}, {true, opCont, "fragment3"},
			{true, opCont, "fragment1"}, {false, opText, "fragment2"}, {true, opCont, "fragment3"}}, burst)},
		{id: "5.18", desc: "text without FIN, then a new text frame inside the message", want: wantFail1002, run: fails(frames{{false, opText, "fragment1"}, {true, opText, "fragment2"}}, burst)},
		{id: "5.19", desc: "text in 5 fragments; after the 2nd and 4th a ping, answered before the message ends", want: "each pong before the next fragment is sent, then the echo", run: pingsInside(0)},
		{id: "5.20", desc: "as 5.19, 1 byte at a time", want: "each pong before the next fragment is sent, then the echo", run: pingsInside(1)},
		{id: "5.L1", desc: "text of 40 frames of 1 byte each", want: wantEcho, run: echo(opText, text(40), 1)},
		{id: "5.L2", desc: "binary with empty fragments first, in the middle and last", want: wantEcho, run: func(c *wstest.Conn) {
			frames{{false, opBinary, ""}, {false, opCont, "ab"}, {false, opCont, ""}, {false, opCont, "cd"}, {true, opCont, ""}}.write(c, burst)
			c.WantBinary([]byte("abcd"))
			closeClean(c)
		}},
		{id: "5.L3", desc: "close without FIN", want: wantFail1002, run: fails(frames{{false, opClose, "\x03\xe8"}, {true, opCont, ""}}, burst)},
		{id: "5.L4", desc: "binary message continued as text (continuation carries no opcode)", want: wantFail1002, run: fails(frames{{false, opBinary, "ab"}, {true, opText, "cd"}}, burst)},
	}
	return rows
}

// pingsInside is 5.19/5.20: the server must answer a ping injected between
// fragments without waiting for the message to end (RFC 6455 §5.4:
// control frames MAY be injected in the middle of a fragmented message).
func pingsInside(chop int) func(c *wstest.Conn) {
	return func(c *wstest.Conn) {
		c.SetChop(chop, 0)
		var whole strings.Builder
		for i := 1; i <= 5; i++ {
			op, p := opCont, fmt.Sprintf("fragment%d", i)
			if i == 1 {
				op = opText
			}
			whole.WriteString(p)
			c.WriteFrame(i == 5, 0, op, []byte(p))
			if i == 2 || i == 4 {
				ping := fmt.Appendf(nil, "pongme %d!", i/2)
				c.WritePing(ping)
				c.WantPong(ping)
			}
		}
		c.WantText(whole.String())
		c.SetChop(0, 0)
		closeClean(c)
	}
}
