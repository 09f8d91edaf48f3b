package lariat

import (
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

func BenchmarkUTF8(b *testing.B) {
	inputs := map[string][]byte{
		"ascii": []byte(strings.Repeat("The quick brown fox jumps. ", 600)),
		"mixed": []byte(strings.Repeat("Größe: 10 € — 中文 😀 ", 400)),
		"greek": []byte(strings.Repeat("κόσμε", 1600)),
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
