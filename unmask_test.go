package lariat

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// maskRef is the reference masking, RFC 6455 §5.3 word for word, for the
// payload bytes from offset pos on.
func maskRef(key uint32, pos int, p []byte) {
	for i := range p {
		p[i] ^= byte(key >> (8 * ((pos + i) % 4)))
	}
}

// checkUnmaskPieces masks text with key as a payload from offset pos,
// then unmasks and validates it in pieces of the given lengths (cycled,
// 0 allowed) as the read path does: in place or into a separate buffer
// at another alignment, by turns, each piece through feedUnmasked. After
// each piece the verdict must be unicode/utf8's for the bytes so far
// (validPrefix), and the bytes written must be the text.
func checkUnmaskPieces(t *testing.T, text []byte, key uint32, pos, align int, sizes []int) {
	t.Helper()
	if slices.Max(sizes) <= 0 {
		t.Fatalf("pieces of %v make no progress", sizes)
	}
	masked := bytes.Clone(text)
	maskRef(key, pos, masked)
	bad := sort.Search(len(text)+1, func(k int) bool { return !validPrefix(text[:k]) })
	out := make([]byte, align+len(text))[align:]
	var s utf8State
	for i, j := 0, 0; i < len(text) || j == 0; j++ {
		n := min(sizes[j%len(sizes)], len(text)-i)
		src, dst := masked[i:i+n], out[i:i+n]
		if j%2 == 1 {
			dst = src
		}
		ascii := unmask(key, pos+i, dst, src)
		if want := !bytes.ContainsFunc(dst, func(r rune) bool { return r >= utf8.RuneSelf }); ascii != want {
			t.Fatalf("%q: piece %d..%d: ascii = %v, want %v", text, i, i+n, ascii, want)
		}
		got := s.feedUnmasked(dst, ascii)
		copy(out[i:i+n], dst)
		i += n
		if want := i < bad; got != want {
			t.Fatalf("%q key %#x pos %d in pieces of %v: after %d bytes = %v, want %v", text, key, pos, sizes, i, got, want)
		}
	}
	if !bytes.Equal(out, text) {
		t.Fatalf("%q key %#x pos %d in pieces of %v: unmasked to %q", text, key, pos, sizes, out)
	}
	if got, want := s.feedUnmasked(nil, true) && s.complete(), utf8.Valid(text); got != want {
		t.Fatalf("%q in pieces of %v: complete = %v, want %v", text, sizes, got, want)
	}
}

// TestUnmaskPieces is the differential test of the fused path against
// masking then unicode/utf8: every text, and copies of it with a byte
// replaced, cut at every offset by the piece sizes, with keys and
// payload offsets that rotate the key through all four positions.
func TestUnmaskPieces(t *testing.T) {
	splits := [][]int{{1 << 20}, {1}, {2}, {3}, {5, 0, 7}, {64}, {13, 1}, {100, 3}, {65, 33}, {128, 1}, {200, 129}}
	keys := []uint32{0, 0x80808080, 0xa1b2c3d4, 0x3d21fa37}
	for ti, text := range append(utf8Texts, strings.Repeat("plain ascii text ", 40)) {
		for ki, key := range keys {
			for _, sizes := range splits {
				checkUnmaskPieces(t, []byte(text), key, ki, ti%32, sizes)
			}
		}
		for i := 0; i < len(text); i += 3 {
			for k, c := range []byte{'a', 0x80, 0xbf, 0xc2, 0xe0, 0xed, 0xf0, 0xf4, 0xff} {
				p := []byte(text)
				p[i] = c
				checkUnmaskPieces(t, p, keys[(i+k)%4], i%4, k, splits[(i+k)%len(splits)])
			}
		}
	}
}

// TestUnmaskRandom: texts built from ASCII runs of every length and
// characters of each length, now and then broken, at random keys,
// payload offsets, alignments and split points.
func TestUnmaskRandom(t *testing.T) {
	tokens := []string{"é", "߿", "€", "퟿", "", "￿", "😀", "􏿿",
		"\xc3", "\xe2\x82", "\xf0\x9f", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80", "\xff"}
	r := rand.New(rand.NewPCG(11, 12))
	n := 2000
	if testing.Short() {
		n = 200
	}
	for range n {
		b := randomText(r, tokens, 1200, 300)
		sizes := []int{1 + r.IntN(600), 1 + r.IntN(200), r.IntN(5)}
		checkUnmaskPieces(t, b, r.Uint32(), r.IntN(1<<20), r.IntN(64), sizes)
	}
}

// FuzzUnmask is the differential test with the fuzzer's bytes, key,
// payload offset and piece lengths.
func FuzzUnmask(f *testing.F) {
	for _, tt := range utf8Cases {
		f.Add([]byte(tt.in), uint32(0x3d21fa37), uint16(0), uint64(1))
	}
	for i, text := range utf8Texts {
		f.Add([]byte(text), uint32(0xa1b2c3d4), uint16(i), uint64(i))
	}
	f.Fuzz(func(t *testing.T, p []byte, key uint32, pos uint16, seed uint64) {
		sizes := randomSizes(rand.New(rand.NewPCG(seed, 0)), 700)
		checkUnmaskPieces(t, p, key, int(pos), int(seed%64), sizes)
	})
}

// chopConn is a net.Conn whose reads return at most the next of sizes
// bytes (cycled), so that the read path meets its chunk boundaries
// where a test wants them; it reads script, then EOF.
type chopConn struct {
	net.Conn
	script []byte
	sizes  []int
	i      int
}

func (c *chopConn) Read(p []byte) (int, error) {
	if len(c.script) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.sizes[c.i%len(c.sizes)])], c.script)
	c.i++
	c.script = c.script[n:]
	return n, nil
}
func (*chopConn) Write(p []byte) (int, error)      { return len(p), nil }
func (*chopConn) SetReadDeadline(time.Time) error  { return nil }
func (*chopConn) SetWriteDeadline(time.Time) error { return nil }
func (*chopConn) SetDeadline(time.Time) error      { return nil }
func (*chopConn) Close() error                     { return nil }
func (*chopConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }

// TestUTF8AcrossChunksAndFrames: characters cut by frame boundaries and
// by the reads that bring a frame in, in frames small enough to be read
// in place and large enough to be gathered, where the pieces on either
// side of the cut are ASCII as far as the unmasking can tell. A piece
// that is all ASCII but must finish a sequence is invalid.
func TestUTF8AcrossChunksAndFrames(t *testing.T) {
	long := func(s string) string { return strings.Repeat("a", 300) + s + strings.Repeat("b", 300) }
	tests := []struct {
		name   string
		frames []string
		valid  bool
	}{
		{"2-byte across frames", []string{"aaa\xc3", "\xa9bbb"}, true},
		{"lead, then an ASCII frame", []string{"aaa\xc3", "bbb"}, false},
		{"lead, then an empty frame, then the rest", []string{"a\xc3", "", "\xa9"}, true},
		{"4-byte across three frames", []string{"x\xf0", "\x9f\x98", "\x80y"}, true},
		{"message ends inside a character", []string{"x\xf0\x9f\x98"}, false},
		{"message ends inside, frame by frame", []string{"x\xf0\x9f", "\x98"}, false},
		{"surrogate across frames", []string{"a\xed", "\xa0\x80"}, false},
		{"overlong across frames", []string{"a\xe0", "\x80\x80"}, false},
		{"long: 3-byte across frames", []string{long("") + "\xe2", "\x82\xac" + long("")}, true},
		{"long: lead, then an ASCII frame", []string{long("") + "\xe2", long("")}, false},
		{"long: lead, then ASCII in the frame", []string{long("\xe2") + long("")}, false},
		{"long: continuation after ASCII", []string{long("\x80")}, false},
		{"long: all ASCII", []string{long(""), long("")}, true},
		{"long: characters in every chunk", []string{strings.Repeat("κόσμε€😀 ", 200)}, true},
		{"long: 4-byte cut at the end", []string{long("") + "\xf0\x9f\x98"}, false},
	}
	for _, tt := range tests {
		want := strings.Join(tt.frames, "")
		for _, rbs := range []int{256, 4096} {
			for _, sizes := range [][]int{{1 << 20}, {1}, {3}, {7, 100}, {301, 2}, {303}, {604, 5}} {
				t.Run(fmt.Sprintf("%s/rbuf=%d/reads=%v", tt.name, rbs, sizes), func(t *testing.T) {
					var script []byte
					for i, p := range tt.frames {
						op := byte(wstest.OpContinuation)
						if i == 0 {
							op = wstest.OpText
						}
						key := [4]byte{byte(i), 0x80, 0xff, 0x3d}
						script = wstest.AppendFrame(script, wstest.Frame{Fin: i == len(tt.frames)-1, Op: op, Payload: []byte(p), Masked: true, Mask: key})
					}
					var got []string
					var reason Reason
					h := &funcs{
						onHandle:    func(c *Conn, f Frame) error { got = append(got, string(f.Payload)); return nil },
						onTerminate: func(c *Conn, r Reason) { reason = r },
					}
					c := newTestConn(&chopConn{script: script, sizes: sizes}, h, Options{ReadBufferSize: rbs}, VersionRFC6455)
					c.serve()
					if tt.valid {
						if len(got) != 1 || got[0] != want {
							t.Fatalf("Handle got %q, want %q (reason %v)", got, want, reason)
						}
						if reason.Kind == ReasonBadEncoding {
							t.Fatalf("reason %v", reason)
						}
					} else if len(got) != 0 || reason.Kind != ReasonBadEncoding {
						t.Fatalf("Handle got %q, reason %v; want none and a bad encoding", got, reason)
					}
				})
			}
		}
	}
}

// BenchmarkUnmask is the fused unmasking and ASCII test, then the
// validation only where it is needed, against the two passes it
// replaced, on 16 KiB of each benchmark text. Each iteration masks the
// text again afterwards, in both, so that the next one finds it masked.
func BenchmarkUnmask(b *testing.B) {
	const size = 16 << 10
	const key = 0x12345678
	for _, kind := range []string{"ascii", "ascii95", "cjk"} {
		buf := make([]byte, size+1)[1:]
		copy(buf, utf8BenchText(kind, size))
		mask(key, 0, buf)
		b.Run("text="+kind+"/impl=fused", func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				var s utf8State
				if !s.feedUnmasked(buf, unmask(key, 0, buf, buf)) {
					b.Fatal("rejected")
				}
				mask(key, 0, buf)
			}
		})
		b.Run("text="+kind+"/impl=twopass", func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				var s utf8State
				mask(key, 0, buf)
				if !s.feed(buf) {
					b.Fatal("rejected")
				}
				mask(key, 0, buf)
			}
		})
	}
}
