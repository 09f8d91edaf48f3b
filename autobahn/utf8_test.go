package autobahn_test

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// A utf8Case is one byte sequence, named by the UTF-8 rule it exercises
// (RFC 3629 §3 and §4: no overlong forms, no surrogates, nothing above
// U+10FFFF, no 5- or 6-byte forms, no bytes C0, C1, F5-FF).
type utf8Case struct {
	name string
	b    string
	// truncated marks a sequence that is only invalid because the message
	// ends inside it: no receiver can reject it before the end.
	truncated bool
}

var validUTF8 = []utf8Case{
	{"U+0000", "\x00", false},
	{"U+007F, last 1-byte", "\x7f", false},
	{"U+0080, first 2-byte", "\xc2\x80", false},
	{"U+07FF, last 2-byte", "\xdf\xbf", false},
	{"U+0800, first 3-byte", "\xe0\xa0\x80", false},
	{"U+D7FF, before the surrogates", "\xed\x9f\xbf", false},
	{"U+E000, after the surrogates", "\xee\x80\x80", false},
	{"U+FDD0, noncharacter", "\xef\xb7\x90", false},
	{"U+FEFF, byte order mark", "\xef\xbb\xbf", false},
	{"U+FFFD, replacement character", "\xef\xbf\xbd", false},
	{"U+FFFE, noncharacter", "\xef\xbf\xbe", false},
	{"U+FFFF, last 3-byte", "\xef\xbf\xbf", false},
	{"U+10000, first 4-byte", "\xf0\x90\x80\x80", false},
	{"U+1FFFE, noncharacter", "\xf0\x9f\xbf\xbe", false},
	{"U+10FFFF, last code point", "\xf4\x8f\xbf\xbf", false},
	{"Greek, CJK and a musical symbol", "κόσμε, 日本語, 𝄞", false},
}

var invalidUTF8 = []utf8Case{
	{"lone continuation 80", "\x80", false},
	{"lone continuation BF", "\xbf", false},
	{"two continuations", "\x80\xbf", false},
	{"2-byte start, then a space", "\xc2 ", false},
	{"3-byte start and 1 continuation, then a space", "\xe0\xa0 ", false},
	{"4-byte start and 2 continuations, then a space", "\xf0\x90\x80 ", false},
	{"overlong U+0000 (C0 80)", "\xc0\x80", false},
	{"overlong '/' (C0 AF)", "\xc0\xaf", false},
	{"overlong 2-byte maximum (C1 BF)", "\xc1\xbf", false},
	{"overlong 3-byte '/' (E0 80 AF)", "\xe0\x80\xaf", false},
	{"overlong 3-byte maximum (E0 9F BF)", "\xe0\x9f\xbf", false},
	{"overlong 4-byte '/' (F0 80 80 AF)", "\xf0\x80\x80\xaf", false},
	{"overlong 4-byte maximum (F0 8F BF BF)", "\xf0\x8f\xbf\xbf", false},
	{"overlong 5-byte '/'", "\xf8\x80\x80\x80\xaf", false},
	{"surrogate U+D800", "\xed\xa0\x80", false},
	{"surrogate U+DB7F", "\xed\xad\xbf", false},
	{"surrogate U+DBFF", "\xed\xaf\xbf", false},
	{"surrogate U+DC00", "\xed\xb0\x80", false},
	{"surrogate U+DFFF", "\xed\xbf\xbf", false},
	{"surrogate pair U+D800 U+DC00", "\xed\xa0\x80\xed\xb0\x80", false},
	{"U+110000, above the last code point", "\xf4\x90\x80\x80", false},
	{"F4 BF BF BF, above the last code point", "\xf4\xbf\xbf\xbf", false},
	{"F5 start byte", "\xf5\x80\x80\x80", false},
	{"U+1FFFFF in 4 bytes (F7 BF BF BF)", "\xf7\xbf\xbf\xbf", false},
	{"5-byte form of U+200000", "\xf8\x88\x80\x80\x80", false},
	{"5-byte form FB BF BF BF BF", "\xfb\xbf\xbf\xbf\xbf", false},
	{"6-byte form of U+4000000", "\xfc\x84\x80\x80\x80\x80", false},
	{"6-byte form FD BF BF BF BF BF", "\xfd\xbf\xbf\xbf\xbf\xbf", false},
	{"byte FE", "\xfe", false},
	{"byte FF", "\xff", false},
	{"bytes FE FE FF FF", "\xfe\xfe\xff\xff", false},
	{"message ends after a 2-byte start", "\xc2", true},
	{"message ends after DF", "\xdf", true},
	{"message ends inside a 3-byte form", "\xe0\xa0", true},
	{"message ends inside U+FFFF", "\xef\xbf", true},
	{"message ends inside a 4-byte form", "\xf0\x90\x80", true},
	{"message ends inside U+10FFFF", "\xf4\x8f\xbf", true},
}

// kosme is the Greek word the fuzzingclient's UTF-8 cases use.
const kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"

// failFastWait bounds the wait for a fail-fast close: the server has all it
// needs to decide, so any answer comes at once or never.
const failFastWait = 5 * time.Second

// utf8Rows is family 6: text messages must be valid UTF-8 (RFC 6455 §8.1:
// an endpoint that finds otherwise "MUST _Fail the WebSocket Connection_",
// with 1007 per §7.4.1), whatever the fragmentation, and a strict server
// fails as soon as the bad byte arrives, before the message ends.
func utf8Rows() []row {
	const mixed = "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!"
	invalidKosme := kosme + "\xed\xa0\x80" + "edited"
	rows := []row{
		{id: "6.1.1", desc: "empty text message", want: wantEcho, run: echo(opText, nil, 0)},
		{id: "6.1.2", desc: "text of three empty fragments", want: wantEcho, run: func(c *wstest.Conn) {
			frames{{false, opText, ""}, {false, opCont, ""}, {true, opCont, ""}}.write(c, burst)
			c.WantText("")
			closeClean(c)
		}},
		{id: "6.1.3", desc: "text of an empty, a non-empty and an empty fragment", want: wantEcho, run: func(c *wstest.Conn) {
			frames{{false, opText, ""}, {false, opCont, "middle frame payload"}, {true, opCont, ""}}.write(c, burst)
			c.WantText("middle frame payload")
			closeClean(c)
		}},
		{id: "6.2.1", desc: "valid UTF-8 in one frame", want: wantEcho, run: echo(opText, []byte(mixed), 0)},
		{id: "6.2.2", desc: "valid UTF-8 in 2 fragments split between code points", want: wantEcho, run: func(c *wstest.Conn) {
			frames{{false, opText, mixed[:12]}, {true, opCont, mixed[12:]}}.write(c, burst)
			c.WantText(mixed)
			closeClean(c)
		}},
		{id: "6.2.3", desc: "valid UTF-8 in 1-byte fragments", want: wantEcho, run: echo(opText, []byte(mixed), 1)},
		{id: "6.2.4", desc: "κόσμε in 1-byte fragments", want: wantEcho, run: echo(opText, []byte(kosme), 1)},
		{id: "6.2.L1", desc: "valid UTF-8 split in 2 fragments at every byte", want: "every split echoed; clean close", run: splitEverywhere(mixed)},
		{id: "6.2.L2", desc: "2-, 3- and 4-byte forms split in 2 fragments at every byte", want: "every split echoed; clean close", run: splitEverywhere("\xc2\x80\xe0\xa0\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf" + kosme)},
		{id: "6.3.1", desc: "κόσμε, a surrogate, 'edited', in one frame", want: wantFail1007, run: func(c *wstest.Conn) {
			c.WriteText(invalidKosme)
			failsWith(c, 1007)
		}},
		{id: "6.3.2", desc: "as 6.3.1, in 1-byte fragments", want: wantFail1007, run: func(c *wstest.Conn) {
			c.WriteMessage(opText, []byte(invalidKosme), 1)
			failsWith(c, 1007)
		}},
		{id: "6.4.1", desc: "fragments κόσμε | F4 90 80 80 | edited; the last is never sent", want: "close 1007 before the message ends", wait: failFastWait, run: func(c *wstest.Conn) {
			frames{{false, opText, kosme}, {false, opCont, "\xf4\x90\x80\x80"}}.write(c, perFrame)
			failsWith(c, 1007)
		}},
		{id: "6.4.2", desc: "fragments κόσμε F4 | 90 80 80 | edited; the last is never sent", want: "close 1007 before the message ends", wait: failFastWait, run: func(c *wstest.Conn) {
			frames{{false, opText, kosme + "\xf4"}, {false, opCont, "\x90\x80\x80"}}.write(c, perFrame)
			failsWith(c, 1007)
		}},
		{id: "6.4.3", desc: "one frame κόσμε | F4 90 80 80 | edited, sent up to the bad bytes", want: "close 1007 before the frame ends", wait: failFastWait, run: partialFrame(kosme, "\xf4\x90\x80\x80", "edited")},
		{id: "6.4.4", desc: "one frame κόσμε F4 | 90 | 80 80 edited, sent up to the bad byte", want: "close 1007 before the frame ends", wait: failFastWait, run: partialFrame(kosme+"\xf4", "\x90", "\x80\x80edited")},
	}
	for i := 1; i <= len(kosme); i++ {
		p := kosme[:i]
		r := row{id: fmt.Sprintf("6.6.%d", i), desc: fmt.Sprintf("the first %d bytes of κόσμε", i), want: wantEcho, run: echo(opText, []byte(p), 0)}
		if !utf8.ValidString(p) {
			r.want = wantFail1007
			r.run = func(c *wstest.Conn) {
				c.WriteText(p)
				failsWith(c, 1007)
			}
		}
		rows = append(rows, r)
	}
	for i, v := range validUTF8 {
		rows = append(rows, row{
			id: fmt.Sprintf("6.V%d", i+1), desc: "valid: " + v.name, want: wantEcho,
			run: echo(opText, []byte("abc"+v.b+"xyz"), 0),
		})
	}
	for i, v := range invalidUTF8 {
		msg := "abc" + v.b
		if !v.truncated {
			msg += "xyz"
		}
		id := fmt.Sprintf("6.I%d", i+1)
		rows = append(rows,
			row{id: id, desc: "invalid: " + v.name, want: wantFail1007, run: func(c *wstest.Conn) {
				c.WriteText(msg)
				failsWith(c, 1007)
			}},
			row{id: id + "f", desc: "invalid, in 1-byte fragments: " + v.name, want: wantFail1007, run: func(c *wstest.Conn) {
				c.WriteMessage(opText, []byte(msg), 1)
				failsWith(c, 1007)
			}},
		)
		if !v.truncated {
			rows = append(rows, row{
				id: id + "x", desc: "invalid, fail fast: first fragment ends with " + v.name, want: "close 1007 before the message ends",
				wait: failFastWait, run: func(c *wstest.Conn) {
					c.WriteFrame(false, 0, opText, []byte("abc"+v.b))
					failsWith(c, 1007)
				},
			})
		}
	}
	return rows
}

// splitEverywhere sends s as two fragments split at each byte in turn,
// each split a message of its own, and wants each echoed.
func splitEverywhere(s string) func(c *wstest.Conn) {
	return func(c *wstest.Conn) {
		for i := 1; i < len(s); i++ {
			frames{{false, opText, s[:i]}, {true, opCont, s[i:]}}.write(c, burst)
			c.WantText(s)
		}
		closeClean(c)
	}
}

// partialFrame writes the header of a text frame carrying a+bad+rest, then
// a and bad as separate writes, and never the rest: the server must fail
// on the bad bytes without waiting for the frame to end.
func partialFrame(a, bad, rest string) func(c *wstest.Conn) {
	return func(c *wstest.Conn) {
		f := c.AppendFrame(nil, true, 0, opText, []byte(a+bad+rest))
		head := len(f) - len(a+bad+rest)
		c.WriteRaw(f[:head+len(a)])
		time.Sleep(time.Millisecond)
		c.WriteRaw(f[head+len(a) : head+len(a)+len(bad)])
		failsWith(c, 1007)
	}
}
