package lariat

import (
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"
)

var utf8Cases = []struct {
	name  string
	in    string
	valid bool
}{
	{"empty", "", true},
	{"ascii", "Hello, world", true},
	{"long ascii", strings.Repeat("abcdefgh", 9) + "x", true},
	{"two byte", "κόσμε", true},
	{"three byte", "€ ✓ 中文", true},
	{"four byte", "𝄞 😀", true},
	{"max code point", "\U0010FFFF", true},
	{"boundary U+D7FF", "\ud7ff", true},
	{"boundary U+E000", "\ue000", true},
	{"ascii then emoji after 8", "abcdefgh😀", true},
	{"lone continuation", "\x80", false},
	{"continuation after ascii run", "abcdefghij\xbf", false},
	{"overlong C0", "\xc0\xaf", false},
	{"overlong C1", "\xc1\xbf", false},
	{"overlong E0", "\xe0\x80\xaf", false},
	{"overlong F0", "\xf0\x80\x80\xaf", false},
	{"surrogate D800", "\xed\xa0\x80", false},
	{"surrogate DFFF", "\xed\xbf\xbf", false},
	{"above U+10FFFF", "\xf4\x90\x80\x80", false},
	{"F5 lead", "\xf5\x80\x80\x80", false},
	{"five byte form", "\xf8\x88\x80\x80\x80", false},
	{"six byte form", "\xfc\x84\x80\x80\x80\x80", false},
	{"FE", "\xfe", false},
	{"FF", "\xff", false},
	{"truncated two", "\xce", false},
	{"truncated three", "\xe2\x82", false},
	{"truncated four", "\xf0\x9d\x84", false},
	{"lead then ascii", "\xe2a\x82", false},
	{"autobahn 6.3.1", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64", false},
}

func TestUTF8Table(t *testing.T) {
	for _, tt := range utf8Cases {
		t.Run(tt.name, func(t *testing.T) {
			if got := validUTF8([]byte(tt.in)); got != tt.valid {
				t.Fatalf("validUTF8(%q) = %v, want %v", tt.in, got, tt.valid)
			}
			if utf8.ValidString(tt.in) != tt.valid {
				t.Fatalf("table disagrees with unicode/utf8")
			}
			// Fed in two pieces at every split point, the verdict is
			// the same; a valid prefix stays acceptable.
			for i := 0; i <= len(tt.in); i++ {
				var s utf8State
				ok := s.feed([]byte(tt.in[:i])) && s.feed([]byte(tt.in[i:])) && s.complete()
				if ok != tt.valid {
					t.Fatalf("split at %d: %v, want %v", i, ok, tt.valid)
				}
			}
		})
	}
}

// TestUTF8FailsFast checks that the validator rejects a message at the
// first byte that no continuation can make valid, which is what lets the
// connection send 1007 before the rest of the message arrives.
func TestUTF8FailsFast(t *testing.T) {
	for _, tt := range []struct {
		prefix string // valid so far
		bad    byte
	}{
		{"κόσμε", 0xff},
		{"abc", 0x80},
		{"abc\xed", 0xa0}, // surrogate decided by the second byte
		{"\xf4", 0x90},    // above U+10FFFF decided by the second byte
		{"\xe0", 0x80},    // overlong decided by the second byte
	} {
		var s utf8State
		if !s.feed([]byte(tt.prefix)) {
			t.Fatalf("%q rejected", tt.prefix)
		}
		if s.feed([]byte{tt.bad}) {
			t.Fatalf("%q + %#x accepted", tt.prefix, tt.bad)
		}
		if s.feed([]byte("a")) {
			t.Fatal("state recovered after failure")
		}
	}
}

// validPrefix is the reference for fail-fast validation: whether p can
// still be completed to valid UTF-8. An incomplete last sequence needs at
// most three more bytes, of which only the first has a narrowed range,
// and each range a lead allows there holds 80, 90 or A0.
func validPrefix(p []byte) bool {
	if utf8.Valid(p) {
		return true
	}
	for _, c := range []byte{0x80, 0x90, 0xa0} {
		q := append(p[:len(p):len(p)], c)
		for range 3 {
			if utf8.Valid(q) {
				return true
			}
			q = append(q, 0x80)
		}
	}
	return false
}

// checkPieces feeds p in pieces of the given lengths (cycled, 0 allowed)
// and checks after each that the verdict is the reference's for the
// bytes fed so far: false from the first byte that cannot be completed
// on, true before it.
func checkPieces(t *testing.T, p []byte, sizes []int) {
	t.Helper()
	// A prefix that cannot be completed stays so when extended, so the
	// first such byte can be found by bisection.
	bad := sort.Search(len(p)+1, func(k int) bool { return !validPrefix(p[:k]) })
	var s utf8State
	for i, j := 0, 0; i < len(p) || j == 0; j++ {
		n := min(sizes[j%len(sizes)], len(p)-i)
		got := s.feed(p[i : i+n])
		i += n
		if want := i < bad; got != want {
			t.Fatalf("%q in pieces of %v: after %d bytes feed = %v, want %v", p, sizes, i, got, want)
		}
	}
	if got, want := s.feed(nil) && s.complete(), utf8.Valid(p); got != want {
		t.Fatalf("%q in pieces of %v: complete = %v, want %v", p, sizes, got, want)
	}
}

// utf8Texts run the fast paths of feed: long runs of ASCII and of 2-, 3-
// and 4-byte characters, and frequent changes between them.
var utf8Texts = []string{
	strings.Repeat("The quick brown fox jumps. ", 12),
	strings.Repeat("κόσμε", 30),
	"Съешь же ещё этих мягких французских булок, да выпей чаю.",
	"我能吞下玻璃而不伤身体。私はガラスを食べられます。",
	"नमस्ते दुनिया, 한국어 텍스트 힣",
	strings.Repeat("😀🎉𝄞\U0010FFFF", 10),
	strings.Repeat("Größe: 10 € — 中文 😀 ", 6),
	strings.Repeat("a", 200) + "é" + strings.Repeat("b", 70),
}

// TestUTF8Pieces checks every text, and copies of it with one byte
// replaced at each position, against unicode/utf8, fed whole and in
// pieces of several sizes so that sequences are cut at every offset.
func TestUTF8Pieces(t *testing.T) {
	splits := [][]int{{1 << 20}, {1}, {2}, {3}, {5, 0, 7}, {64}, {13, 1}}
	for _, text := range utf8Texts {
		for _, sizes := range splits {
			checkPieces(t, []byte(text), sizes)
		}
		for i := range len(text) {
			for _, c := range []byte{'a', 0x80, 0x9f, 0xa0, 0xbf, 0xc1, 0xc2, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff} {
				p := []byte(text)
				p[i] = c
				if got, want := validUTF8(p), utf8.Valid(p); got != want {
					t.Fatalf("validUTF8(%q) = %v, unicode/utf8 says %v", p, got, want)
				}
				checkPieces(t, p, splits[i%len(splits)])
			}
		}
	}
}

func BenchmarkUTF8(b *testing.B) {
	inputs := map[string][]byte{
		"ascii":    []byte(strings.Repeat("The quick brown fox jumps. ", 600)),
		"mixed":    []byte(strings.Repeat("Größe: 10 € — 中文 😀 ", 400)),
		"greek":    []byte(strings.Repeat("κόσμε", 1600)),
		"cyrillic": []byte(strings.Repeat("Съешь же ещё этих мягких французских булок, да выпей чаю. ", 150)),
		"cjk":      []byte(strings.Repeat("我能吞下玻璃而不伤身体。", 500)),
		"short":    []byte("Hello, wörld!"),
	}
	for name, in := range inputs {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				validUTF8(in)
			}
		})
		b.Run(name+"/stdlib", func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				utf8.Valid(in)
			}
		})
	}
}

// FuzzUTF8 is a differential test against unicode/utf8, whole and split.
func FuzzUTF8(f *testing.F) {
	for _, tt := range utf8Cases {
		f.Add([]byte(tt.in), uint8(1))
	}
	f.Fuzz(func(t *testing.T, p []byte, split uint8) {
		want := utf8.Valid(p)
		if got := validUTF8(p); got != want {
			t.Fatalf("validUTF8(%q) = %v, unicode/utf8 says %v", p, got, want)
		}
		i := int(split) % (len(p) + 1)
		var s utf8State
		if got := s.feed(p[:i]) && s.feed(p[i:]) && s.complete(); got != want {
			t.Fatalf("split at %d: %v, want %v", i, got, want)
		}
	})
}

// FuzzUTF8Pieces feeds the input in pieces of random lengths and checks
// the verdict after each against validPrefix.
func FuzzUTF8Pieces(f *testing.F) {
	for _, tt := range utf8Cases {
		f.Add([]byte(tt.in), uint64(1))
	}
	for _, text := range utf8Texts {
		f.Add([]byte(text), uint64(2))
	}
	f.Fuzz(func(t *testing.T, p []byte, seed uint64) {
		r := rand.New(rand.NewPCG(seed, 0))
		sizes := make([]int, 1+r.IntN(8))
		for i := range sizes {
			sizes[i] = r.IntN(20)
		}
		sizes[0]++ // progress
		checkPieces(t, p, sizes)
	})
}
