package autobahn_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// Data sets for the compression cases, in the spirit of the fuzzingclient's
// (a novel, an image, a PDF, JSON, HTML): made here, deterministically,
// about 256 KiB each.
var (
	prose = sync.OnceValue(func() []byte {
		words := strings.Fields("Habe nun ach Philosophie Juristerei und Medizin und leider auch Theologie " +
			"durchaus studiert mit heissem Bemuehn da steh ich nun ich armer Tor und bin so klug als wie zuvor")
		return generate(func(r *rand.Rand, b *bytes.Buffer) {
			for i := range 12 {
				if i > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(words[r.IntN(len(words))])
			}
			b.WriteString(".\n")
		})
	})
	image = sync.OnceValue(func() []byte {
		return generate(func(r *rand.Rand, b *bytes.Buffer) {
			// Runs of similar bytes, as in a bitmap's rows.
			v := byte(r.IntN(256))
			for range 64 {
				v += byte(r.IntN(5)) - 2
				b.WriteByte(v)
			}
		})
	})
	noise = sync.OnceValue(func() []byte {
		return generate(func(r *rand.Rand, b *bytes.Buffer) { b.WriteByte(byte(r.Uint32())) })
	})
	jsonData = sync.OnceValue(func() []byte {
		return generate(func(r *rand.Rand, b *bytes.Buffer) {
			fmt.Fprintf(b, `{"id":%d,"name":"user-%d","active":%t,"score":%.3f,"tags":["alpha","beta","gamma"]},`+"\n",
				r.IntN(1e6), r.IntN(1e4), r.IntN(2) == 0, r.Float64())
		})
	})
	htmlData = sync.OnceValue(func() []byte {
		return generate(func(r *rand.Rand, b *bytes.Buffer) {
			fmt.Fprintf(b, "<tr class=\"row-%d\"><td>%d</td><td><a href=\"/item/%d\">Item %d</a></td></tr>\n",
				r.IntN(2), r.IntN(1e5), r.IntN(1e5), r.IntN(1e3))
		})
	})
)

// generate repeats step until it has 256 KiB.
func generate(step func(r *rand.Rand, b *bytes.Buffer)) []byte {
	r := rand.New(rand.NewPCG(6455, 7692))
	var b bytes.Buffer
	for b.Len() < 256<<10 {
		step(r, &b)
	}
	return b.Bytes()[:256<<10]
}

// msgSizes are the fuzzingclient's (payload size, auto-fragment size) pairs
// of families 12 and 13. It sends 1000 messages of each; this suite sends
// fewer (count), which keeps the context-takeover path busy for as long as
// the largest window without costing minutes under -race.
var msgSizes = []struct{ size, frag int }{
	{16, 0}, {64, 0}, {256, 0}, {1024, 0}, {4096, 0}, {8192, 0}, {16384, 0}, {32768, 0}, {65536, 0}, {131072, 0},
	{8192, 256}, {16384, 256}, {32768, 256}, {65536, 256}, {131072, 256}, {131072, 1024}, {131072, 4096}, {131072, 32768},
}

// count is how many messages a compression case sends: at least 6, at most
// 32, and about 512 KiB in all.
func count(size int) int { return min(32, max(6, (512<<10)/size)) }

// The fuzzingclient's default offer: the client accepts any window
// limit and promises not to take over its context.
const defaultOffer = "permessage-deflate; client_no_context_takeover; client_max_window_bits"

// compressionRows is families 12 and 13: permessage-deflate (RFC 7692) with
// the fuzzingclient's data sizes and its offers, then offers and frames
// it does not send.
func compressionRows() []row {
	var rows []row
	sets := []struct {
		name string
		data func() []byte
		op   byte
	}{
		{"prose, as binary", prose, opBinary},
		{"image-like bytes", image, opBinary},
		{"incompressible bytes", noise, opBinary},
		{"JSON, as text", jsonData, opText},
		{"HTML, as text", htmlData, opText},
	}
	for j, set := range sets {
		for i, s := range msgSizes {
			rows = append(rows, row{
				id:   fmt.Sprintf("12.%d.%d", j+1, i+1),
				desc: fmt.Sprintf("%d %s messages of %d bytes, fragments of %d; default offer", count(s.size), set.name, s.size, s.frag),
				want: "every echo, byte-exact; clean close",
				need: needDeflate, wait: bigWait,
				opts: []wstest.Option{wstest.Extensions(defaultOffer)},
				run:  compressed(defaultOffer, false, set.data, set.op, s.size, s.frag),
			})
		}
	}
	// The offers of cases 13.1-13.7, as the fuzzingclient writes them.
	offers := []string{
		defaultOffer,
		defaultOffer + "; server_no_context_takeover",
		defaultOffer + "; server_max_window_bits=8",
		defaultOffer + "; server_max_window_bits=15",
		defaultOffer + "; server_no_context_takeover; server_max_window_bits=8",
		defaultOffer + "; server_no_context_takeover; server_max_window_bits=15",
		defaultOffer + "; server_no_context_takeover; server_max_window_bits=8, " +
			defaultOffer + "; server_no_context_takeover, " + defaultOffer,
	}
	for j, offer := range offers {
		for i, s := range msgSizes {
			rows = append(rows, row{
				id:   fmt.Sprintf("13.%d.%d", j+1, i+1),
				desc: fmt.Sprintf("%d JSON messages of %d bytes, fragments of %d; offer %q", count(s.size), s.size, s.frag, offer),
				want: "a valid acceptance of the offer; every echo; clean close",
				need: needDeflate, wait: bigWait,
				opts: []wstest.Option{wstest.Extensions(offer)},
				// Window 8 is the one offer a server may decline:
				// zlib cannot honour it (see RFC 7692 §7.1.2.1).
				run: compressed(offer, strings.Contains(offer, "=8"), jsonData, opText, s.size, s.frag),
			})
		}
	}
	// Offers the fuzzingclient does not make: each window size, the plain
	// offer, and the client resetting its own context.
	more := []string{"permessage-deflate"}
	for bits := 9; bits <= 14; bits++ {
		more = append(more, fmt.Sprintf("permessage-deflate; server_max_window_bits=%d", bits))
	}
	more = append(more, "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits")
	for j, offer := range more {
		for i, s := range []struct{ size, frag int }{{256, 0}, {32768, 0}, {131072, 0}, {131072, 4096}} {
			rows = append(rows, row{
				id:   fmt.Sprintf("13.L%d.%d", j+1, i+1),
				desc: fmt.Sprintf("%d JSON messages of %d bytes, fragments of %d; offer %q", count(s.size), s.size, s.frag, offer),
				want: "a valid acceptance of the offer; every echo; clean close",
				need: needDeflate, wait: bigWait,
				opts: []wstest.Option{wstest.Extensions(offer)},
				run:  compressed(offer, false, jsonData, opText, s.size, s.frag),
			})
		}
	}
	return append(rows, deflateFrameRows()...)
}

// compressed checks the server's acceptance of offers, then sends count
// messages of size bytes taken in turn from data, and wants each echoed.
func compressed(offers string, mayDecline bool, data func() []byte, op byte, size, frag int) func(c *wstest.Conn) {
	return func(c *wstest.Conn) {
		t := c.TB()
		d := c.Deflater()
		if d == nil {
			if !mayDecline {
				t.Fatalf("the server declined the offer %q", offers)
			}
			t.Logf("the server declined the offer %q, as it may", offers)
			closeClean(c)
			return
		}
		if err := acceptsOne(d.Params(), offers); err != nil {
			t.Fatal(err)
		}
		t.Logf("negotiated %q", d.Params())
		src, pos := data(), 0
		for range count(size) {
			m := make([]byte, size)
			for n := 0; n < size; {
				k := copy(m[n:], src[pos:])
				n += k
				pos = (pos + k) % len(src)
			}
			c.WriteMessage(op, m, frag)
			c.WantMessage(op, m)
		}
		closeClean(c)
	}
}

// acceptsOne checks that the server's parameters answer one of the
// comma-separated offers as RFC 7692 §7.1 requires: server_no_context_takeover
// repeated when offered (§7.1.1.1), server_max_window_bits present and no
// larger than offered (§7.1.2.1), client_max_window_bits only when offered
// (§7.1.2.2).
func acceptsOne(p wstest.DeflateParams, offers string) error {
	for offer := range strings.SplitSeq(offers, ",") {
		ok := true
		has := func(param string) bool { return strings.Contains(offer, param) }
		if has("server_no_context_takeover") && !p.ServerNoContextTakeover {
			ok = false
		}
		if _, v, found := strings.Cut(offer, "server_max_window_bits="); found {
			bits, _ := strconv.Atoi(strings.TrimSpace(strings.Split(v, ";")[0]))
			if p.ServerMaxWindowBits == 0 || p.ServerMaxWindowBits > bits {
				ok = false
			}
		}
		if !has("client_max_window_bits") && p.ClientMaxWindowBits != 0 {
			ok = false
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("the server answered %q, which accepts none of the offers %q", p, offers)
}

// deflateFrameRows check frames that only permessage-deflate makes
// meaningful, on a connection that negotiated it.
func deflateFrameRows() []row {
	offer := []wstest.Option{wstest.Extensions("permessage-deflate")}
	return []row{
		{id: "12.L1", desc: "the RFC 7692 §7.2.3.1 bytes f2 48 cd c9 c9 07 00", want: `echo of "Hello"; clean close`, need: needDeflate, opts: offer, run: func(c *wstest.Conn) {
			c.WriteFrame(true, wstest.RSV1, opText, []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})
			c.WantText("Hello")
			closeClean(c)
		}},
		{id: "12.L2", desc: "an uncompressed message on a compressed connection", want: wantEcho, need: needDeflate, opts: offer, run: func(c *wstest.Conn) {
			c.SetCompress(false)
			echo(opText, []byte("not compressed"), 0)(c)
		}},
		{id: "12.L3", desc: "an empty compressed message (payload 00)", want: wantEcho, need: needDeflate, opts: offer, run: func(c *wstest.Conn) {
			c.WriteFrame(true, wstest.RSV1, opText, []byte{0x00})
			c.WantText("")
			closeClean(c)
		}},
		{id: "12.L4", desc: "compressed message in 1-byte fragments", want: wantEcho, need: needDeflate, opts: offer, run: echo(opText, jsonData()[:2000], 1)},
		{id: "12.L5", desc: "30 messages with the client resetting its context each time", want: "every echo; clean close", need: needDeflate, opts: offer, run: func(c *wstest.Conn) {
			c.Deflater().SetContextTakeover(false)
			for i := range 30 {
				m := jsonData()[i*500 : i*500+500]
				c.WriteText(string(m))
				c.WantText(string(m))
			}
			closeClean(c)
		}},
		{id: "12.L6", desc: "RSV1 on a continuation frame", want: wantFail1002, need: needDeflate, opts: offer, run: func(c *wstest.Conn) {
			// RFC 7692 §6: RSV1 is set on the first frame of a message
			// only; an endpoint MUST fail the connection otherwise.
			z := c.Deflater().Compress([]byte("Hello, Hello"))
			c.WriteFrame(false, wstest.RSV1, opText, z[:3])
			c.WriteFrame(true, wstest.RSV1, opCont, z[3:])
			failsWith(c, 1002)
		}},
		{id: "12.L7", desc: "RSV1 on a ping", want: wantFail1002, need: needDeflate, opts: offer, run: func(c *wstest.Conn) {
			c.WriteFrame(true, wstest.RSV1, opPing, []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})
			failsWith(c, 1002)
		}},
		{id: "12.L8", desc: "corrupt compressed data (reserved block type)", want: "close 1007 (or 1002), then TCP dropped", need: needDeflate, opts: offer, run: func(c *wstest.Conn) {
			// RFC 7692 §8.1 leaves the code open; 1007 is "data within a
			// message that was not consistent with the type".
			c.WriteFrame(true, wstest.RSV1, opBinary, []byte{0xff, 0xff, 0xff, 0xff})
			failsWith(c, 1007, 1002)
		}},
		{id: "12.L9", desc: "compressed text that inflates to invalid UTF-8", want: wantFail1007, need: needDeflate, opts: offer, run: func(c *wstest.Conn) {
			c.WriteText("abc\xed\xa0\x80xyz")
			failsWith(c, 1007)
		}},
		{id: "12.L10", desc: "17 KiB that inflate to 17 MiB (over the 16 MiB limit)", want: "close 1009, then TCP dropped", need: needDeflate, wait: bigWait, opts: offer, run: func(c *wstest.Conn) {
			// The limit applies to the inflated size, as DESIGN.md says
			// (gorilla/websocket counts compressed bytes instead).
			c.WriteBinary(make([]byte, 17<<20))
			failsWith(c, 1009)
		}},
		{id: "12.L11", desc: "offer with an unknown parameter", want: "101 without permessage-deflate (RFC 7692 §5: MUST decline)", need: needDeflate,
			opts: []wstest.Option{wstest.Extensions("permessage-deflate; mystery=1")}, run: declined},
		{id: "12.L12", desc: "offer with server_max_window_bits=7", want: "101 without permessage-deflate (invalid value: MUST decline)", need: needDeflate,
			opts: []wstest.Option{wstest.Extensions("permessage-deflate; server_max_window_bits=7")}, run: declined},
		{id: "12.L13", desc: "offer with client_max_window_bits=16", want: "101 without permessage-deflate (invalid value: MUST decline)", need: needDeflate,
			opts: []wstest.Option{wstest.Extensions("permessage-deflate; client_max_window_bits=16")}, run: declined},
		{id: "12.L14", desc: "offer with server_no_context_takeover twice", want: "101 without permessage-deflate (repeated parameter: MUST decline)", need: needDeflate,
			opts: []wstest.Option{wstest.Extensions("permessage-deflate; server_no_context_takeover; server_no_context_takeover")}, run: declined},
		{id: "12.L15", desc: "bad offer first, good offer second", want: "101 accepting the second offer; echo", need: needDeflate,
			opts: []wstest.Option{wstest.Extensions("permessage-deflate; mystery=1, permessage-deflate; server_no_context_takeover")},
			run:  compressed("permessage-deflate; server_no_context_takeover", false, jsonData, opText, 1000, 0)},
		{id: "12.L16", desc: "4 KiB of JSON: is the echo compressed?", want: "echo with RSV1 set (lariat compresses above Deflate.MinSize; RFC 7692 allows either)", need: needDeflate, opts: offer, run: func(c *wstest.Conn) {
			// Without this check the cases above would pass against a
			// server that negotiates permessage-deflate but never
			// compresses what it sends.
			m := jsonData()[:4096]
			c.WriteText(string(m))
			f, err := c.ReadFrame()
			if err != nil {
				c.TB().Fatal(err)
			}
			if f.Op != opText || !f.Fin || f.Rsv != wstest.RSV1 {
				c.TB().Fatalf("got %v, want one compressed text frame", f)
			}
			got, err := c.Deflater().Decompress(f.Payload, 1<<20)
			if err != nil || string(got) != string(m) {
				c.TB().Fatalf("inflating the echo: %v (got %d bytes, want %d)", err, len(got), len(m))
			}
			closeClean(c)
		}},
	}
}

// declined checks that the server answered without permessage-deflate
// (wstest.Dial has already refused any answer that was not offered).
func declined(c *wstest.Conn) {
	if d := c.Deflater(); d != nil {
		c.TB().Fatalf("the server accepted an offer it must decline, with %q", d.Params())
	}
	closeClean(c)
}
