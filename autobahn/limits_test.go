package autobahn_test

import (
	"fmt"
	"time"

	"github.com/lariat-ws/lariat/autobahn/echoserver"
	"github.com/lariat-ws/lariat/internal/wstest"
)

// bigWait is the read timeout of the large cases: with -race on two cores
// the server may take seconds to validate and echo 16 MiB.
const bigWait = 60 * time.Second

// limitRows is family 9: large messages, many frames, many messages, up to
// the echo server's 16 MiB limit, and one byte over it (RFC 6455 §7.4.1:
// 1009 for a message "too big for it to process"). Payloads are made when
// a case runs, not when the table is built, so that the suite never holds
// them all at once.
func limitRows() []row {
	const (
		KiB = 1 << 10
		MiB = 1 << 20
	)
	var rows []row
	gens := []struct {
		op   byte
		name string
		gen  func(int) []byte
	}{{opText, "text", text}, {opBinary, "binary", binary}}
	for k, g := range gens {
		for i, n := range []int{64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB, 8 * MiB, 16 * MiB} {
			rows = append(rows, row{
				id: fmt.Sprintf("9.%d.%d", k+1, i+1), desc: fmt.Sprintf("%s message of %s", g.name, size(n)),
				want: wantEcho, wait: bigWait, run: func(c *wstest.Conn) { echo(g.op, g.gen(n), 0)(c) },
			})
		}
	}
	for k, g := range gens {
		for i, frag := range []int{64, 256, 1 * KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB} {
			rows = append(rows, row{
				id: fmt.Sprintf("9.%d.%d", k+3, i+1), desc: fmt.Sprintf("%s message of 4 MiB in %s fragments", g.name, size(frag)),
				want: wantEcho, wait: bigWait, run: func(c *wstest.Conn) { echo(g.op, g.gen(4*MiB), frag)(c) },
			})
		}
	}
	for k, g := range gens {
		for i, chop := range []int{64, 128, 256, 512, 1024, 2048} {
			rows = append(rows, row{
				id: fmt.Sprintf("9.%d.%d", k+5, i+1), desc: fmt.Sprintf("%s message of 1 MiB, written in %d-byte pieces", g.name, chop),
				want: wantEcho, wait: bigWait, run: func(c *wstest.Conn) {
					c.SetChop(chop, 0)
					echo(g.op, g.gen(1*MiB), 0)(c)
				},
			})
		}
	}
	for k, g := range gens {
		for i, n := range []int{0, 16, 64, 256, 1 * KiB, 4 * KiB} {
			rows = append(rows, row{
				id: fmt.Sprintf("9.%d.%d", k+7, i+1), desc: fmt.Sprintf("1000 %s messages of %d bytes, 100 in flight", g.name, n),
				want: "every echo, in order; clean close", wait: bigWait, run: manyMessages(g.op, g.gen(n), 1000, 100),
			})
		}
	}
	over := echoserver.MaxMessageSize + 1
	rows = append(rows,
		row{id: "9.L1", desc: "text message of 16 MiB + 1 byte (over the limit)", want: "close 1009, then TCP dropped", wait: bigWait, run: func(c *wstest.Conn) {
			c.WriteText(string(text(over)))
			failsWith(c, 1009)
		}},
		row{id: "9.L2", desc: "binary message of 16 MiB + 1 byte in 1 MiB fragments", want: "close 1009, then TCP dropped", wait: bigWait, run: func(c *wstest.Conn) {
			c.WriteMessage(opBinary, binary(over), 1*MiB)
			failsWith(c, 1009)
		}},
		row{id: "9.L3", desc: "frame header declaring 2^63-1 bytes", want: "close 1009 (or 1002), then TCP dropped", run: func(c *wstest.Conn) {
			// RFC 6455 §5.2: a 64-bit length whose most significant bit
			// is 0. No server can hold it; it must refuse, not allocate.
			c.WriteRaw([]byte{0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4})
			failsWith(c, 1009, 1002)
		}},
		row{id: "9.L4", desc: "frame header with the 64-bit length's top bit set", want: wantFail1002, run: func(c *wstest.Conn) {
			// RFC 6455 §5.2: "the most significant bit MUST be 0".
			c.WriteRaw([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4})
			failsWith(c, 1002)
		}},
		row{id: "9.L5", desc: "16-bit length form used for a 5-byte payload", want: wantEcho + " (RFC 6455 needs no minimal length)", run: func(c *wstest.Conn) {
			// §5.2 asks senders for the minimal length encoding; the
			// fuzzingclient never sends another. Receivers accept it.
			b := []byte{0x81, 0xfe, 0x00, 0x05, 0, 0, 0, 0}
			c.WriteRaw(append(b, "Hello"...))
			c.WantText("Hello")
			closeClean(c)
		}},
	)
	return rows
}

// manyMessages sends count copies of p, with at most inflight unanswered,
// and wants every echo in order.
func manyMessages(op byte, p []byte, count, inflight int) func(c *wstest.Conn) {
	return func(c *wstest.Conn) {
		for sent := 0; sent < count; sent += inflight {
			var b []byte
			for range min(inflight, count-sent) {
				b = c.AppendFrame(b, true, 0, op, p)
			}
			c.WriteRaw(b)
			for range min(inflight, count-sent) {
				c.WantMessage(op, p)
			}
		}
		closeClean(c)
	}
}

// autoFragmentRows is family 10: a message the client fragments arbitrarily
// is echoed whole; the server may fragment its answer as it likes, which
// wstest reassembles.
func autoFragmentRows() []row {
	return []row{
		{id: "10.1.1", desc: "text message of 64 KiB in 1300-byte fragments", want: wantEcho, run: echo(opText, text(65536), 1300)},
		{id: "10.1.L1", desc: "binary message of 64 KiB in 1300-byte fragments, written in 1000-byte pieces", want: wantEcho, run: func(c *wstest.Conn) {
			c.SetChop(1000, 0)
			echo(opBinary, binary(65536), 1300)(c)
		}},
	}
}

// size formats a byte count the way the case descriptions do.
func size(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
