package lariat

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// utf8BenchKinds name the texts of the UTF-8 benchmarks: pure ASCII,
// ASCII with about one byte in twenty in multibyte characters (English
// with names, prices and the odd emoji: most chat and JSON), and texts
// made of 2-, 3- and 4-byte characters.
var utf8BenchKinds = []string{"ascii", "ascii95", "greek", "cyrillic", "cjk", "mixed", "emoji"}

// utf8BenchText returns exactly size bytes of valid UTF-8 text of the
// given kind.
func utf8BenchText(kind string, size int) []byte {
	var b strings.Builder
	switch kind {
	case "ascii":
		for b.Len() < size {
			b.WriteString("The quick brown fox jumps over the lazy dog. ")
		}
	case "ascii95":
		// Gaps of 8-100 ASCII bytes (54 on average) between characters
		// of 2.75 bytes on average: 4.8% of the bytes are not ASCII.
		const prose = "Pack my box with five dozen liquor jugs; {\"id\": 42, \"name\": \"x\"} "
		runes := []string{"é", "ü", "€", "—", "中", "😀", "ñ", "’"}
		r := rand.New(rand.NewPCG(1, 2))
		j := 0
		for b.Len() < size {
			for range 8 + r.IntN(93) {
				b.WriteByte(prose[j%len(prose)])
				j++
			}
			b.WriteString(runes[r.IntN(len(runes))])
		}
	case "greek":
		for b.Len() < size {
			b.WriteString("κόσμε")
		}
	case "cyrillic":
		for b.Len() < size {
			b.WriteString("Съешь же ещё этих мягких французских булок, да выпей чаю. ")
		}
	case "cjk":
		for b.Len() < size {
			b.WriteString("我能吞下玻璃而不伤身体。")
		}
	case "mixed":
		for b.Len() < size {
			b.WriteString("Größe: 10 € — 中文 😀 ")
		}
	case "emoji":
		for b.Len() < size {
			b.WriteString("😀🎉𝄞🚀")
		}
	default:
		panic("unknown text " + kind)
	}
	p := []byte(b.String())[:size]
	// Cut at a character boundary and pad with ASCII.
	for i := size - 1; i >= max(0, size-3); i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				copy(p[i:], "   ")
			}
			break
		}
	}
	if !utf8.Valid(p) {
		panic("invalid benchmark text " + kind)
	}
	return p
}

// BenchmarkUTF8 compares validUTF8 (impl=lariat: with the vector code
// where the CPU has it), the word loop alone (impl=generic, what other
// machines run) and unicode/utf8.Valid on the same bytes, and copy, the
// bandwidth yardstick. Compare with
//
//	benchstat -col /impl
func BenchmarkUTF8(b *testing.B) {
	for _, size := range []int{1 << 10, 16 << 10} {
		for _, kind := range utf8BenchKinds {
			in := utf8BenchText(kind, size)
			name := "text=" + kind + "/size=" + strconv.Itoa(size)
			b.Run(name+"/impl=lariat", func(b *testing.B) {
				b.SetBytes(int64(len(in)))
				for b.Loop() {
					if !validUTF8(in) {
						b.Fatal("rejected")
					}
				}
			})
			b.Run(name+"/impl=generic", func(b *testing.B) {
				b.SetBytes(int64(len(in)))
				for b.Loop() {
					var s utf8State
					if !s.feedGeneric(in) || !s.complete() {
						b.Fatal("rejected")
					}
				}
			})
			b.Run(name+"/impl=stdlib", func(b *testing.B) {
				b.SetBytes(int64(len(in)))
				for b.Loop() {
					if !utf8.Valid(in) {
						b.Fatal("rejected")
					}
				}
			})
		}
		out := make([]byte, size)
		in := utf8BenchText("ascii", size)
		b.Run("text=ascii/size="+strconv.Itoa(size)+"/impl=copy", func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				copy(out, in)
			}
		})
	}
	in := []byte("Hello, wörld!")
	b.Run("text=short/size=13/impl=lariat", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			validUTF8(in)
		}
	})
	b.Run("text=short/size=13/impl=stdlib", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			utf8.Valid(in)
		}
	})
}

// BenchmarkUTF8Feed validates 16 KiB in pieces of 1000 bytes, as they
// come off the wire: multibyte characters are cut between pieces.
func BenchmarkUTF8Feed(b *testing.B) {
	for _, kind := range utf8BenchKinds {
		in := utf8BenchText(kind, 16<<10)
		for _, impl := range utf8Impls {
			b.Run("text="+kind+"/impl="+impl.name, func(b *testing.B) {
				b.SetBytes(int64(len(in)))
				for b.Loop() {
					var s utf8State
					for p := in; len(p) > 0; {
						n := min(1000, len(p))
						if !impl.feed(&s, p[:n]) {
							b.Fatal("rejected")
						}
						p = p[n:]
					}
					if !s.complete() {
						b.Fatal("incomplete")
					}
				}
			})
		}
	}
}

// BenchmarkReadText is the whole read path of one masked 16 KiB frame,
// replayed from memory: header, unmasking, validation and a handler that
// drops the message. Binary and text with validation off are the same
// path less the validation, so the differences between the three are its
// cost.
func BenchmarkReadText(b *testing.B) {
	const size = 16 << 10
	for _, tt := range []struct {
		name string
		op   byte
		kind string
		skip bool
	}{
		{"op=binary/text=ascii", wstest.OpBinary, "ascii", false},
		{"op=text/text=ascii/validate=off", wstest.OpText, "ascii", true},
		{"op=text/text=ascii", wstest.OpText, "ascii", false},
		{"op=text/text=ascii95", wstest.OpText, "ascii95", false},
		{"op=text/text=cjk", wstest.OpText, "cjk", false},
	} {
		b.Run(tt.name, func(b *testing.B) {
			frame := wstest.AppendFrame(nil, wstest.Frame{Fin: true, Op: tt.op, Payload: utf8BenchText(tt.kind, size), Masked: true, Mask: [4]byte{1, 2, 3, 4}})
			c := newTestConn(&fakeConn{frame: frame}, Base{}, Options{SkipUTF8Validation: tt.skip}, VersionRFC6455)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if r := c.step(); r != nil {
					b.Fatal(r)
				}
			}
		})
	}
}
