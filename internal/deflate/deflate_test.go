package deflate

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"testing"

	"github.com/klauspost/compress/flate"
)

// rfcHello is RFC 7692 §7.2.3.1's "Hello".
const rfcHello = "f2 48 cd c9 c9 07 00"

// inflateVectors are the examples of RFC 7692 §7.2.3, and the variants a
// receiver meets in the wild: each a sequence of messages on one
// connection.
var inflateVectors = []struct {
	name     string
	takeover bool
	messages []string // hex
	want     []string
}{
	{"7.2.3.1 a message compressed", false, []string{rfcHello}, []string{"Hello"}},
	{"7.2.3.1 twice without context takeover", false, []string{rfcHello, rfcHello}, []string{"Hello", "Hello"}},
	{"7.2.3.2 sharing the LZ77 window", true, []string{rfcHello, "f2 00 11 00 00"}, []string{"Hello", "Hello"}},
	{"7.2.3.3 a block with no compression", false, []string{"00 05 00 fa ff 48 65 6c 6c 6f 00"}, []string{"Hello"}},
	{"7.2.3.4 a block with BFINAL set", false, []string{"f3 48 cd c9 c9 07 00 00"}, []string{"Hello"}},
	{"7.2.3.4 then context takeover", true, []string{"f3 48 cd c9 c9 07 00 00", "f2 00 11 00 00"}, []string{"Hello", "Hello"}},
	{"7.2.3.5 two blocks in one message", false, []string{"f2 48 05 00 00 00 ff ff ca c9 c9 07 00"}, []string{"Hello"}},
	{"BFINAL without the empty block after it", false, []string{"f3 48 cd c9 c9 07 00"}, []string{"Hello"}},
	{"sender kept 00 00 ff ff", false, []string{rfcHello + " 00 00 ff ff"}, []string{"Hello"}},
	{"stream after a final block", false, []string{"f3 48 cd c9 c9 07 00 00 06 00 f9 ff 20 77 6f 72 6c 64 00"}, []string{"Hello world"}},
	{"stream after a final block refers back", false, []string{"f3 48 cd c9 c9 07 00 f2 00 11 00 00"}, []string{"HelloHello"}},
	{"stream after a final block refers back, takeover", true, []string{rfcHello, "f3 00 11 00 f2 00 11 00 00"}, []string{"Hello", "HelloHello"}},
	{"sixteen final blocks", false, []string{"03 00 03 00 03 00 03 00 03 00 03 00 03 00 03 00 03 00 03 00 03 00 03 00 03 00 03 00 03 00 03 00"}, []string{""}},
	{"empty message", false, []string{"00"}, []string{""}},
	{"empty payload", false, []string{""}, []string{""}},
	{"empty message, as zlib writes it", false, []string{"02 00"}, []string{""}},
}

// TestInflateVectors reads the examples of RFC 7692 §7.2.3, and the
// variants a receiver meets in the wild, through both Inflate and the
// reference inflater.
func TestInflateVectors(t *testing.T) {
	for _, tt := range inflateVectors {
		t.Run(tt.name, func(t *testing.T) {
			p := Params{ClientNoContextTakeover: !tt.takeover}
			d := NewDecompressor(p)
			var hist []byte
			for i, m := range tt.messages {
				src := unhex(m)
				got, err := d.Inflate(nil, src, 1<<20)
				if err != nil || string(got) != tt.want[i] {
					t.Fatalf("message %d: Inflate = %q, %v; want %q", i, got, err, tt.want[i])
				}
				window := 0
				if tt.takeover {
					window = d.hist.max
				}
				ref, _, err := refInflate(src, hist, window, 1<<20)
				if err != nil || string(ref) != tt.want[i] {
					t.Fatalf("message %d: reference inflater = %q, %v", i, ref, err)
				}
				if tt.takeover {
					hist = append(hist, got...)
				}
			}
		})
	}
}

// corruptVectors are messages that no inflater may accept.
var corruptVectors = []struct {
	name, hex string
}{
	{"reserved block type", "07 00"},
	{"stored length mismatch", "00 05 00 00 00 48 65 6c 6c 6f 00"},
	{"stored block shorter than its length", "00 05 00 fa ff 48 65"},
	{"distance before the start of history", "f2 00 11 00 00"},
	{"data ends inside a block", "f2 48 cd"},
	{"seventeen final blocks", "03 00 03 00 03 00 03 00 03 00 03 00 03 00 03 00 03 00 03 00 03 00 03 00 03 00 03 00 03 00 03 00 03 00"},
	{"incomplete code-length code", "04 c0 81 08 00 00 00 00 20 7f eb 0b 00 00"},
	{"garbage after a final block", "f3 48 cd c9 c9 07 00 ff ff"},
}

func TestInflateCorrupt(t *testing.T) {
	for _, tt := range corruptVectors {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecompressor(Params{ClientNoContextTakeover: true})
			dst := []byte("prefix")
			got, err := d.Inflate(dst, unhex(tt.hex), 1<<20)
			if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTooBig) {
				t.Fatalf("Inflate = %q, %v; want ErrCorrupt", got, err)
			}
			if string(got) != "prefix" {
				t.Errorf("dst after error = %q; want it unchanged", got)
			}
			if _, _, err := refInflate(unhex(tt.hex), nil, 0, 1<<20); err == nil {
				t.Errorf("the reference inflater accepts it")
			}
		})
	}

	// A distance code of 30 in a fixed block: 'H', length 3, distance
	// code 30 (RFC 1951 §3.2.6: "distance codes 30-31 will never actually
	// occur in the compressed data").
	var w bitWriter
	w.bits(0, 1)
	w.bits(1, 2)
	w.code(0x30+'H', 8)
	w.code(1, 7)
	w.code(30, 5)
	if _, err := NewDecompressor(Params{}).Inflate(nil, w.b, 100); !errors.Is(err, ErrCorrupt) {
		t.Errorf("distance code 30: %v", err)
	}
	if _, _, err := refInflate(w.b, nil, 0, 100); err == nil {
		t.Errorf("distance code 30: the reference inflater accepts it")
	}

	// The cause stays reachable.
	_, err := NewDecompressor(Params{}).Inflate(nil, unhex("07 00"), 10)
	var cie flate.CorruptInputError
	if !errors.As(err, &cie) {
		t.Errorf("%v does not wrap a flate.CorruptInputError", err)
	}
}

// TestInflateHistoryLimit checks that a client may refer back exactly as
// far as its window, and no further.
func TestInflateHistoryLimit(t *testing.T) {
	first := randomBytes(9, 1000)
	second := stdDeflate(t, 9, first[:100], first) // refers 1000 bytes back
	for _, tt := range []struct {
		bits int
		ok   bool
	}{{9, false}, {10, true}, {15, true}} {
		d := NewDecompressor(Params{ClientMaxWindowBits: tt.bits})
		if _, err := d.Inflate(nil, stdDeflate(t, 9, first, nil), 1<<20); err != nil {
			t.Fatal(err)
		}
		got, err := d.Inflate(nil, second, 1<<20)
		if tt.ok != (err == nil) || (tt.ok && !bytes.Equal(got, first[:100])) {
			t.Errorf("window bits %d: %v", tt.bits, err)
		}
		if !tt.ok && !errors.Is(err, ErrCorrupt) {
			t.Errorf("window bits %d: %v, want ErrCorrupt", tt.bits, err)
		}
	}
}

// TestInflateMinimumHistory: a client asked for 8 bits that compresses
// with 9, as zlib before 1.2.9 silently does, still inflates.
func TestInflateMinimumHistory(t *testing.T) {
	first := randomBytes(10, 600)
	d := NewDecompressor(Params{ClientMaxWindowBits: 8})
	if _, err := d.Inflate(nil, stdDeflate(t, 9, first, nil), 1<<20); err != nil {
		t.Fatal(err)
	}
	got, err := d.Inflate(nil, stdDeflate(t, 9, first[:50], first[len(first)-512:]), 1<<20)
	if err != nil || !bytes.Equal(got, first[:50]) {
		t.Fatalf("Inflate = %v", err)
	}
}

func TestInflateLimit(t *testing.T) {
	msg := jsonMessage(1, 5000)
	src := stdDeflate(t, 6, msg, nil)
	d := NewDecompressor(Params{ClientNoContextTakeover: true})
	if got, err := d.Inflate(nil, src, len(msg)); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("limit = size: %v", err)
	}
	if got, err := d.Inflate([]byte("x"), src, len(msg)-1); err != ErrTooBig || string(got) != "x" {
		t.Fatalf("limit = size-1: %q, %v; want ErrTooBig", got, err)
	}
	if _, err := d.Inflate(nil, src, 0); err != ErrTooBig {
		t.Fatalf("limit 0: %v", err)
	}
	if got, err := d.Inflate(nil, unhex("00"), 0); err != nil || len(got) != 0 {
		t.Fatalf("empty message, limit 0: %v", err)
	}
	if _, err := d.Inflate(nil, src, -1); err != ErrTooBig {
		t.Fatalf("negative limit: %v", err)
	}
	if got, err := d.Inflate([]byte("x"), src, math.MaxInt); err != nil || !bytes.Equal(got[1:], msg) {
		t.Fatalf("no limit to speak of: %v", err)
	}
}

// TestDecompressionBomb inflates 10 MB of zeros, compressed to a few KB,
// with a 1 MiB limit: ErrTooBig, having allocated about the limit and not
// the message.
func TestDecompressionBomb(t *testing.T) {
	const limit = 1 << 20
	bomb := stdCompress(t, make([]byte, 10<<20))
	t.Logf("bomb: %d bytes inflating to %d", len(bomb), 10<<20)
	if len(bomb) > 16<<10 {
		t.Fatalf("bomb is %d bytes", len(bomb))
	}
	d := NewDecompressor(Params{})
	d.Inflate(nil, unhex("f2 48 cd c9 c9 07 00"), limit) // warm the pool

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, err := d.Inflate(nil, bomb, limit)
	runtime.ReadMemStats(&after)
	if err != ErrTooBig || len(got) != 0 {
		t.Fatalf("Inflate = %d bytes, %v; want ErrTooBig", len(got), err)
	}
	// Growing by doubling to the limit allocates under twice the limit
	// in all, whatever the message would inflate to.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2*limit+64<<10 {
		t.Errorf("allocated %d bytes for a %d-byte limit", alloc, limit)
	}

	if raceEnabled {
		return
	}
	// With a buffer that already has room, nothing at all.
	buf := make([]byte, 0, limit)
	if n := testing.AllocsPerRun(5, func() {
		if _, err := d.Inflate(buf, bomb, limit); err != ErrTooBig {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations with a buffer of the limit's size", n)
	}
	if _, _, err := refInflate(bomb, nil, 0, limit); err != errRefTooBig {
		t.Errorf("reference inflater: %v", err)
	}
}

// roundTripCases are the parameter sets round-tripped: every window size
// with and without context takeover, and the levels.
func roundTripCases() []Params {
	var ps []Params
	for bits := 8; bits <= 15; bits++ {
		for _, noCtx := range []bool{false, true} {
			ps = append(ps, Params{Kind: PerMessage, ServerNoContextTakeover: noCtx, ClientNoContextTakeover: noCtx,
				ServerMaxWindowBits: bits, ClientMaxWindowBits: 23 - bits, MinSize: 1})
		}
	}
	// The compressor and decompressor work alike for both extensions;
	// the Kind only tells the connection where RSV1 goes.
	for _, bits := range []int{9, 15} {
		for _, noCtx := range []bool{false, true} {
			ps = append(ps, Params{Kind: PerFrame, ServerNoContextTakeover: noCtx, ClientNoContextTakeover: noCtx,
				ServerMaxWindowBits: bits, ClientMaxWindowBits: bits, MinSize: 1})
		}
	}
	for _, level := range []int{-2, -1, 2, 4, 6, 7, 9} {
		ps = append(ps, Params{Kind: PerMessage, Level: level, MinSize: 1})
	}
	return ps
}

func (p Params) String() string {
	noCtx := func(b bool) string {
		if b {
			return "-nocontext"
		}
		return ""
	}
	return fmt.Sprintf("%s/server%d%s/client%d%s/level%d", p.Kind, normWindowBits(p.ServerMaxWindowBits), noCtx(p.ServerNoContextTakeover),
		normWindowBits(p.ClientMaxWindowBits), noCtx(p.ClientNoContextTakeover), p.Level)
}

// TestServerToClient compresses a sequence of messages as the server and
// inflates them three ways: with a Decompressor built for the client,
// with the standard library, and with the reference inflater, which also
// checks that no back-reference reaches past the server's window.
func TestServerToClient(t *testing.T) {
	for _, p := range roundTripCases() {
		t.Run(p.String(), func(t *testing.T) {
			c := NewCompressor(p)
			client := NewDecompressor(p.Peer())
			window := 1 << normWindowBits(p.ServerMaxWindowBits)
			var sent model
			var out []byte
			compressedSome := false
			for i, msg := range testMessages() {
				var ok bool
				var err error
				out, ok, err = c.Compress(out[:0], msg)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if !ok {
					continue // sent as it is
				}
				compressedSome = true
				if bytes.HasSuffix(out, syncTail) {
					t.Errorf("message %d ends with 00 00 ff ff", i)
				}
				if len(out) >= len(msg) {
					t.Errorf("message %d: %d bytes compressed to %d", i, len(msg), len(out))
				}
				var dict []byte
				if !p.ServerNoContextTakeover {
					dict = sent.last(maxWindow)
				}
				if got := stdInflate(t, out, dict); !bytes.Equal(got, msg) {
					t.Fatalf("message %d: compress/flate inflates a different message", i)
				}
				ref, dist, err := refInflate(out, dict, 0, 1<<30)
				if err != nil || !bytes.Equal(ref, msg) {
					t.Fatalf("message %d: reference inflater: %v", i, err)
				}
				if dist > window {
					t.Fatalf("message %d: back-reference %d bytes, window %d", i, dist, window)
				}
				got, err := client.Inflate(nil, out, len(msg))
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("message %d: Inflate: %v", i, err)
				}
				sent.sent = append(sent.sent, msg...)
			}
			if !compressedSome {
				t.Fatal("nothing was compressed")
			}
		})
	}
}

// TestClientToServer inflates what a client sends, compressed by a
// Compressor built for the client and, where the client's window is the
// full 32 KiB the standard library always uses, by compress/flate.
func TestClientToServer(t *testing.T) {
	for _, p := range roundTripCases() {
		t.Run(p.String(), func(t *testing.T) {
			server := NewDecompressor(p)
			fromOurs := NewDecompressor(p)
			client := NewCompressor(p.Peer())
			bits := normWindowBits(p.ClientMaxWindowBits)
			var sent model
			for i, msg := range testMessages() {
				if bits == 15 {
					var dict []byte
					if !p.ClientNoContextTakeover {
						dict = sent.last(maxWindow)
					}
					src := stdDeflate(t, 6, msg, dict)
					got, err := server.Inflate(nil, src, len(msg))
					if err != nil || !bytes.Equal(got, msg) {
						t.Fatalf("message %d from compress/flate: %v", i, err)
					}
					sent.sent = append(sent.sent, msg...)
				}
				src, ok, err := client.Compress(nil, msg)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					continue
				}
				got, err := fromOurs.Inflate([]byte("head"), src, len(msg))
				if err != nil || !bytes.Equal(got[4:], msg) || string(got[:4]) != "head" {
					t.Fatalf("message %d: %v", i, err)
				}
			}
		})
	}
}

// TestPerFrame sends a fragmented message under x-webkit-deflate-frame:
// every frame is compressed on its own, and the receiver inflates them
// one by one into the same buffer, with what is left of its limit.
func TestPerFrame(t *testing.T) {
	for _, noCtx := range []bool{false, true} {
		p := Params{Kind: PerFrame, ServerNoContextTakeover: noCtx, ClientNoContextTakeover: noCtx, MinSize: 1}
		c := NewCompressor(p)
		d := NewDecompressor(p.Peer())
		msg := jsonMessage(6, 20000)
		const limit = 20000
		for round := range 3 {
			var got []byte
			var wire int
			for frame := range slices.Chunk(msg, 3000) {
				out, ok, err := c.Compress(nil, frame)
				if err != nil || !ok {
					t.Fatalf("frame: %v %v", ok, err)
				}
				wire += len(out)
				if got, err = d.Inflate(got, out, limit-len(got)); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("round %d: message differs", round)
			}
			t.Logf("no context takeover %v, round %d: %d bytes on the wire", noCtx, round, wire)
		}
		if _, err := d.Inflate(nil, mustCompress(t, c, msg), len(msg)-1); err != ErrTooBig {
			t.Errorf("frame over the remaining limit: %v", err)
		}
	}
}

func mustCompress(t testing.TB, c *Compressor, msg []byte) []byte {
	t.Helper()
	out, ok, err := c.Compress(nil, msg)
	if err != nil || !ok {
		t.Fatalf("Compress: %v %v", ok, err)
	}
	return out
}

// TestContextTakeover checks that takeover is used when allowed, and not
// when refused, in both directions.
func TestContextTakeover(t *testing.T) {
	msg := jsonMessage(7, 2000)
	for _, noCtx := range []bool{false, true} {
		p := Params{ServerNoContextTakeover: noCtx, ClientNoContextTakeover: noCtx}
		c := NewCompressor(p)
		d := NewDecompressor(p.Peer())
		first := len(mustCompress(t, c, msg))
		second := mustCompress(t, c, msg)
		if got, err := d.Inflate(nil, mustCompress(t, NewCompressor(p), msg), 1<<20); err != nil || !bytes.Equal(got, msg) {
			t.Fatal(err)
		}
		if got, err := d.Inflate(nil, second, 1<<20); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("no context takeover %v: %v", noCtx, err)
		}
		if shrunk := len(second) < first/10; shrunk == noCtx {
			t.Errorf("no context takeover %v: repeated message %d bytes, first %d", noCtx, len(second), first)
		}
	}
}

// TestIncompressible: a message that does not shrink is sent as it is and
// stays out of the context, or the peer could not follow later references.
func TestIncompressible(t *testing.T) {
	p := Params{MinSize: 1}
	c := NewCompressor(p)
	d := NewDecompressor(p.Peer())
	noise := randomBytes(2, 3000)
	dst := []byte("keep")
	out, ok, err := c.Compress(dst, noise)
	if ok || err != nil || string(out) != "keep" {
		t.Fatalf("Compress(noise) = %q…, %v, %v", out[:4], ok, err)
	}
	if c.Held() != 0 {
		t.Errorf("context holds %d bytes after an uncompressed message", c.Held())
	}
	if _, ok, _ := NewCompressor(Params{}).Compress(nil, []byte("short")); ok {
		t.Error("a message under MinSize was compressed")
	}
	// Noise then a message quoting it: the quote must not refer back.
	msg := append(bytes.Repeat([]byte("x"), 200), noise[:500]...)
	got, err := d.Inflate(nil, mustCompress(t, c, msg), 1<<20)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("Inflate: %v", err)
	}
}

// TestRelease: after Release a compressor holds nothing and carries on
// without context; a decompressor keeps the history its peer relies on.
func TestRelease(t *testing.T) {
	p := Params{}
	c := NewCompressor(p)
	d := NewDecompressor(p.Peer())
	for i := range 10 {
		msg := jsonMessage(uint64(i), 4096)
		if _, err := d.Inflate(nil, mustCompress(t, c, msg), 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	if c.Held() != maxCompressHistory || d.Held() != maxWindow {
		t.Errorf("held %d and %d bytes; want %d and %d", c.Held(), d.Held(), maxCompressHistory, maxWindow)
	}
	c.Release()
	d.Release()
	if c.Held() != 0 || d.Held() != maxWindow {
		t.Errorf("after Release: held %d and %d bytes", c.Held(), d.Held())
	}
	msg := jsonMessage(1, 4096)
	if got, err := d.Inflate(nil, mustCompress(t, c, msg), 1<<20); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("after Release: %v", err)
	}
	// The decompressor still has the history a peer refers to.
	ref := stdDeflate(t, 9, msg, msg)
	if got, err := d.Inflate(nil, ref, 1<<20); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("reference to history kept over Release: %v", err)
	}
}

// TestAllocs pins the warm paths at zero allocations.
func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	msg := jsonMessage(8, 4096)
	for _, noCtx := range []bool{true, false} {
		p := Params{ServerNoContextTakeover: noCtx, ClientNoContextTakeover: noCtx}
		c := NewCompressor(p)
		d := NewDecompressor(p.Peer())
		out := make([]byte, 0, 8192)
		in := make([]byte, 0, 8192)
		round := func() {
			var err error
			out, _, err = c.Compress(out[:0], msg)
			if err != nil {
				t.Fatal(err)
			}
			if in, err = d.Inflate(in[:0], out, 1<<20); err != nil {
				t.Fatal(err)
			}
		}
		for range 10 {
			round() // fill the pools and the histories
		}
		if n := testing.AllocsPerRun(100, round); n != 0 {
			t.Errorf("no context takeover %v: %v allocations per message", noCtx, n)
		}
	}
}

// TestPooledWriterForgetsDictionary: a writer back from the pool must not
// use the previous connection's history.
func TestPooledWriterForgetsDictionary(t *testing.T) {
	msg := jsonMessage(9, 3000)
	a := NewCompressor(Params{})
	mustCompress(t, a, msg)
	b := NewCompressor(Params{ServerNoContextTakeover: true})
	for range 3 {
		out := mustCompress(t, b, msg)
		if got := stdInflate(t, out, nil); !bytes.Equal(got, msg) {
			t.Fatal("a fresh connection's message refers to another's history")
		}
	}
}

// bitWriter writes DEFLATE bit fields, for hand-made streams.
type bitWriter struct {
	b []byte
	n uint // bits used in the last byte
}

// bits writes v in n bits, least significant first (RFC 1951 §3.1.1).
func (w *bitWriter) bits(v uint, n uint) {
	for i := range n {
		if w.n%8 == 0 {
			w.b = append(w.b, 0)
		}
		w.b[len(w.b)-1] |= byte(v>>i&1) << (w.n % 8)
		w.n++
	}
}

// code writes a Huffman code of n bits, most significant bit first.
func (w *bitWriter) code(c uint, n uint) {
	for i := n; i > 0; i-- {
		w.bits(c>>(i-1)&1, 1)
	}
}
