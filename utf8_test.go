package lariat

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"
)

// utf8Impls are the two paths through the validator: feed, which hands
// long pieces to the vector code where the CPU has it, and feedGeneric,
// the word loop alone, which is all other machines run. Every test below
// runs both.
var utf8Impls = []struct {
	name string
	feed func(*utf8State, []byte) bool
}{
	{"lariat", (*utf8State).feed},
	{"generic", (*utf8State).feedGeneric},
}

// validWith reports whether p, fed whole, is valid UTF-8.
func validWith(feed func(*utf8State, []byte) bool, p []byte) bool {
	var s utf8State
	return feed(&s, p) && s.complete()
}

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
	{"boundary U+0080", "\u0080", true},
	{"boundary U+07FF", "\u07ff", true},
	{"boundary U+0800", "\u0800", true},
	{"boundary U+FFFF", "\uffff", true},
	{"boundary U+10000", "\U00010000", true},
	{"ascii then emoji after 8", "abcdefgh😀", true},
	{"lone continuation", "\x80", false},
	{"continuation after ascii run", "abcdefghij\xbf", false},
	{"continuation after character", "é\x80", false},
	{"overlong C0", "\xc0\xaf", false},
	{"overlong C0 80 (NUL)", "\xc0\x80", false},
	{"overlong C1", "\xc1\xbf", false},
	{"overlong E0", "\xe0\x80\xaf", false},
	{"overlong E0 9F BF", "\xe0\x9f\xbf", false},
	{"overlong F0", "\xf0\x80\x80\xaf", false},
	{"overlong F0 8F BF BF", "\xf0\x8f\xbf\xbf", false},
	{"surrogate D800", "\xed\xa0\x80", false},
	{"surrogate DBFF DC00 pair", "\xed\xaf\xbf\xed\xb0\x80", false},
	{"surrogate DFFF", "\xed\xbf\xbf", false},
	{"above U+10FFFF", "\xf4\x90\x80\x80", false},
	{"F4 BF BF BF", "\xf4\xbf\xbf\xbf", false},
	{"F5 lead", "\xf5\x80\x80\x80", false},
	{"F7 BF BF BF", "\xf7\xbf\xbf\xbf", false},
	{"five byte form", "\xf8\x88\x80\x80\x80", false},
	{"six byte form", "\xfc\x84\x80\x80\x80\x80", false},
	{"FE", "\xfe", false},
	{"FF", "\xff", false},
	{"truncated two", "\xce", false},
	{"truncated three", "\xe2\x82", false},
	{"truncated four", "\xf0\x9d\x84", false},
	{"lead then ascii", "\xe2a\x82", false},
	{"lead then lead", "\xe2\xe2\x82\xac", false},
	{"four byte with a fifth continuation", "\xf0\x9f\x98\x80\x80", false},
	{"autobahn 6.3.1", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64", false},
}

func TestUTF8Table(t *testing.T) {
	for _, impl := range utf8Impls {
		for _, tt := range utf8Cases {
			t.Run(impl.name+"/"+tt.name, func(t *testing.T) {
				if got := validWith(impl.feed, []byte(tt.in)); got != tt.valid {
					t.Fatalf("%q: %v, want %v", tt.in, got, tt.valid)
				}
				if utf8.ValidString(tt.in) != tt.valid {
					t.Fatalf("table disagrees with unicode/utf8")
				}
				// Fed in two pieces at every split point, the verdict is
				// the same; a valid prefix stays acceptable.
				for i := 0; i <= len(tt.in); i++ {
					var s utf8State
					ok := impl.feed(&s, []byte(tt.in[:i])) && impl.feed(&s, []byte(tt.in[i:])) && s.complete()
					if ok != tt.valid {
						t.Fatalf("split at %d: %v, want %v", i, ok, tt.valid)
					}
				}
				// Behind a long ASCII run, the case reaches the vector
				// code, whole or cut at any point.
				long := []byte(strings.Repeat("x", 100) + tt.in)
				checkPieces(t, impl.feed, long, []int{1 << 20})
				for i := 90; i <= len(long); i++ {
					checkPieces(t, impl.feed, long, []int{i})
				}
			})
		}
	}
}

func TestValidUTF8(t *testing.T) {
	for _, tt := range utf8Cases {
		if got := validUTF8([]byte(tt.in)); got != tt.valid {
			t.Errorf("validUTF8(%q) = %v, want %v", tt.in, got, tt.valid)
		}
	}
}

// TestUTF8FailsFast checks that the validator rejects a message at the
// first byte that no continuation can make valid, which is what lets the
// connection send 1007 before the rest of the message arrives.
func TestUTF8FailsFast(t *testing.T) {
	long := strings.Repeat("0123456789abcdef", 8)
	for _, impl := range utf8Impls {
		for _, tt := range []struct {
			prefix string // valid so far
			bad    string
		}{
			{"κόσμε", "\xff"},
			{"abc", "\x80"},
			{"abc\xed", "\xa0"}, // surrogate decided by the second byte
			{"\xf4", "\x90"},    // above U+10FFFF decided by the second byte
			{"\xe0", "\x80"},    // overlong decided by the second byte
			{"\xf0", "\x8f"},    // overlong decided by the second byte
			{"\xe2\x82", "a"},   // a character cut short
			// A bad byte at the start, the middle or the end of a
			// piece long enough for the vector code.
			{long, "\xc0" + long},
			{long, long + "\x80" + long},
			{long, long + "\xf0\x9f\x98" + long},
			{long + "\xf0\x9f", "\x98" + long + "\xff"},
			{long + "\xe2", "\x82\xac" + long + "\xed\xa0\x80"},
		} {
			var s utf8State
			if !impl.feed(&s, []byte(tt.prefix)) {
				t.Fatalf("%s: %q rejected", impl.name, tt.prefix)
			}
			if impl.feed(&s, []byte(tt.bad)) {
				t.Fatalf("%s: %q + %q accepted", impl.name, tt.prefix, tt.bad)
			}
			if impl.feed(&s, []byte("a")) || impl.feed(&s, []byte(long)) {
				t.Fatalf("%s: state recovered after failure", impl.name)
			}
		}
	}
}

// utf8BadBytes holds bytes that are wrong wherever they stand in ASCII text:
// continuations, leads that begin no sequence, and leads cut short by the
// ASCII that follows.
var utf8BadBytes = []byte{0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xf7, 0xf8, 0xfe, 0xff}

// TestUTF8BadByteEveryOffset puts each bad byte at every offset 0-130
// from the start and from the end of ASCII buffers of 131 and 260 bytes,
// so that it falls on both sides of every 8-, 32-, 64- and 128-byte
// boundary the loops step by, and checks the verdict fed whole and in
// pieces that end at those boundaries.
func TestUTF8BadByteEveryOffset(t *testing.T) {
	for _, impl := range utf8Impls {
		for _, size := range []int{131, 260} {
			for off := range 131 {
				for i, c := range utf8BadBytes {
					for _, at := range []int{off, size - 1 - off} {
						p := bytes.Repeat([]byte{'a'}, size)
						p[at] = c
						if validWith(impl.feed, p) {
							t.Fatalf("%s: %#x at %d of %d accepted", impl.name, c, at, size)
						}
						// Each way of cutting, in turn.
						splits := [][]int{{64}, {63, 65}, {max(at, 1)}, {at + 1}}
						checkPieces(t, impl.feed, p, splits[(off+i)%len(splits)])
					}
				}
			}
		}
	}
}

// TestUTF8SequenceEveryOffset puts valid and invalid sequences at every
// offset of an ASCII buffer: valid ones straddle each block boundary of
// the loops, and must pass; cut short, or as overlongs, surrogates and
// code points above U+10FFFF, they must fail.
func TestUTF8SequenceEveryOffset(t *testing.T) {
	seqs := []struct {
		seq   string
		valid bool
	}{
		{"é", true}, {"\u07ff", true}, {"€", true}, {"\ud7ff", true}, {"\ue000", true},
		{"\uffff", true}, {"😀", true}, {"\U0010FFFF", true}, {"é€😀", true},
		{"\xc3", false}, {"\xe2\x82", false}, {"\xf0\x9f\x98", false},
		{"\xc1\xbf", false}, {"\xe0\x9f\xbf", false}, {"\xf0\x8f\xbf\xbf", false},
		{"\xed\xa0\x80", false}, {"\xed\xbf\xbf", false},
		{"\xf4\x90\x80\x80", false}, {"\xf5\x80\x80\x80", false},
		{"\xe2\x82\xac\xac", false}, {"\xc3\xa9\x80", false},
	}
	for _, impl := range utf8Impls {
		for _, sq := range seqs {
			for off := range 131 {
				p := bytes.Repeat([]byte{'a'}, 200)
				copy(p[off:], sq.seq)
				if got := validWith(impl.feed, p); got != sq.valid {
					t.Fatalf("%s: %q at %d: %v, want %v", impl.name, sq.seq, off, got, sq.valid)
				}
				// Cut inside the sequence and around it.
				for cut := off - 1; cut <= off+len(sq.seq)+1; cut++ {
					checkPieces(t, impl.feed, p, []int{max(cut, 1)})
				}
				checkPieces(t, impl.feed, p, []int{64, 1, 2, 3})
			}
		}
	}
}

// TestUTF8TruncatedAtPieceEnd cuts each multibyte character at the end of
// a piece long enough for the vector code: the piece is a valid prefix but
// not a complete message, the rest completes it, and anything else in
// its place fails.
func TestUTF8TruncatedAtPieceEnd(t *testing.T) {
	for _, impl := range utf8Impls {
		for _, ch := range []string{"é", "€", "\ud7ff", "😀", "\U0010FFFF"} {
			for _, pad := range []int{0, 31, 62, 63, 64, 95, 127, 128, 200} {
				for k := 1; k < len(ch); k++ {
					head := strings.Repeat("z", pad) + ch[:k]
					var s utf8State
					if !impl.feed(&s, []byte(head)) || s.complete() {
						t.Fatalf("%s: %q: want a valid, incomplete prefix", impl.name, head)
					}
					good := s
					if !impl.feed(&good, []byte(ch[k:])) || !good.complete() {
						t.Fatalf("%s: %q + %q rejected", impl.name, head, ch[k:])
					}
					bad := s
					if impl.feed(&bad, []byte("z"+ch[k:])) {
						t.Fatalf("%s: %q + ASCII accepted", impl.name, head)
					}
				}
			}
		}
	}
}

// TestUTF8Resume checks where validation goes on after the vector code:
// at the lead of a sequence the end may cut, never inside one.
func TestUTF8Resume(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
	}{
		{"", 0},
		{"a", 1},
		{"abc\xc3", 3},
		{"ab\xc3\xa9", 2},
		{"ab\xe2\x82", 2},
		{"a\xe2\x82\xac", 1},
		{"a\xf0\x9f\x98", 1},
		{"\xf0\x9f\x98\x80", 4},
		{"\x80\x80\x80", 3},
		{"\xe2\x82\xaca", 4},
	} {
		if got := utf8Resume([]byte(tt.in)); got != tt.want {
			t.Errorf("utf8Resume(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// TestUTF8Allocs pins validation at zero allocations: the state lives in
// the connection, and nothing else is needed.
func TestUTF8Allocs(t *testing.T) {
	p := utf8BenchText("mixed", 16<<10)
	var s utf8State
	for name, f := range map[string]func(){
		"feed":    func() { s = utf8State{}; s.feed(p) },
		"generic": func() { s = utf8State{}; s.feedGeneric(p) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations", name, n)
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
func checkPieces(t *testing.T, feed func(*utf8State, []byte) bool, p []byte, sizes []int) {
	t.Helper()
	if slices.Max(sizes) <= 0 {
		t.Fatalf("pieces of %v make no progress", sizes)
	}
	// A prefix that cannot be completed stays so when extended, so the
	// first such byte can be found by bisection.
	bad := sort.Search(len(p)+1, func(k int) bool { return !validPrefix(p[:k]) })
	var s utf8State
	for i, j := 0, 0; i < len(p) || j == 0; j++ {
		n := min(sizes[j%len(sizes)], len(p)-i)
		got := feed(&s, p[i:i+n])
		i += n
		if want := i < bad; got != want {
			t.Fatalf("%q in pieces of %v: after %d bytes feed = %v, want %v", p, sizes, i, got, want)
		}
	}
	if got, want := feed(&s, nil) && s.complete(), utf8.Valid(p); got != want {
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
	string(utf8BenchText("ascii95", 150)),
}

// TestUTF8Pieces checks every text, and copies of it with one byte
// replaced at each position, against unicode/utf8, fed whole and in
// pieces of several sizes so that sequences are cut at every offset.
func TestUTF8Pieces(t *testing.T) {
	splits := [][]int{{1 << 20}, {1}, {2}, {3}, {5, 0, 7}, {64}, {13, 1}, {100, 3}, {65, 33}}
	for _, impl := range utf8Impls {
		for _, text := range utf8Texts {
			for _, sizes := range splits {
				checkPieces(t, impl.feed, []byte(text), sizes)
			}
			for i := range len(text) {
				for _, c := range []byte{'a', 0x80, 0x9f, 0xa0, 0xbf, 0xc1, 0xc2, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff} {
					p := []byte(text)
					p[i] = c
					if got, want := validWith(impl.feed, p), utf8.Valid(p); got != want {
						t.Fatalf("%s(%q) = %v, unicode/utf8 says %v", impl.name, p, got, want)
					}
					checkPieces(t, impl.feed, p, splits[i%len(splits)])
				}
			}
		}
	}
}

// TestUTF8Random is a differential test against unicode/utf8 on texts
// built from the pieces the loops tell apart (ASCII runs of every length,
// characters of each length, bad bytes, cut sequences), with a byte
// changed now and then, fed whole and in pieces of up to 200 bytes.
func TestUTF8Random(t *testing.T) {
	tokens := []string{"é", "߿", "€", "퟿", "", "￿", "😀", "􏿿",
		"Ã", "â", "ð", "À", "à", "í ", "ô", "", "ÿ"}
	r := rand.New(rand.NewPCG(7, 7))
	n := 3000
	if testing.Short() {
		n = 300
	}
	for range n {
		b := randomText(r, tokens, 300, 130)
		if len(b) > 0 && r.IntN(4) == 0 {
			b[r.IntN(len(b))] = byte(r.Uint32())
		}
		// At any distance from a 32-byte boundary, after bytes that
		// would fail the check if they were read as part of b.
		a := r.IntN(32)
		b = append(bytes.Repeat([]byte{0xe2}, a), b...)[a:]
		sizes := []int{1 + r.IntN(200), 1 + r.IntN(200), r.IntN(5)}
		for _, impl := range utf8Impls {
			if got, want := validWith(impl.feed, b), utf8.Valid(b); got != want {
				t.Fatalf("%s(%q) = %v, unicode/utf8 says %v", impl.name, b, got, want)
			}
			checkPieces(t, impl.feed, b, sizes)
		}
	}
}

// randomText joins ASCII runs of up to run bytes and tokens, at least
// size bytes, and cuts the result at a random length: the first 8 tokens
// are valid characters, the others broken sequences, taken one time in
// ten.
// randomSizes returns 1 to 8 piece lengths, half of them under 20 and
// the others under max, the first at least 1 so that feeding progresses.
func randomSizes(r *rand.Rand, max int) []int {
	sizes := make([]int, 1+r.IntN(8))
	for i := range sizes {
		if r.IntN(2) == 0 {
			sizes[i] = r.IntN(20)
		} else {
			sizes[i] = r.IntN(max)
		}
	}
	sizes[0]++
	return sizes
}

func randomText(r *rand.Rand, tokens []string, size, run int) []byte {
	var b []byte
	for len(b) < size {
		switch k := r.IntN(10); {
		case k < 6:
			b = append(b, strings.Repeat("a", r.IntN(run))...)
		case k < 9:
			b = append(b, tokens[r.IntN(8)]...) // valid
		default:
			b = append(b, tokens[r.IntN(len(tokens))]...)
		}
	}
	return b[:r.IntN(len(b)+1)]
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
		for _, impl := range utf8Impls {
			if got := validWith(impl.feed, p); got != want {
				t.Fatalf("%s(%q) = %v, unicode/utf8 says %v", impl.name, p, got, want)
			}
			var s utf8State
			if got := impl.feed(&s, p[:i]) && impl.feed(&s, p[i:]) && s.complete(); got != want {
				t.Fatalf("%s: split at %d: %v, want %v", impl.name, i, got, want)
			}
		}
	})
}

// FuzzUTF8Pieces feeds the input in pieces of random lengths, short ones
// and ones long enough for the vector code, and checks the verdict after
// each against validPrefix.
func FuzzUTF8Pieces(f *testing.F) {
	for _, tt := range utf8Cases {
		f.Add([]byte(tt.in), uint64(1))
	}
	for _, text := range utf8Texts {
		f.Add([]byte(text), uint64(2))
	}
	f.Fuzz(func(t *testing.T, p []byte, seed uint64) {
		sizes := randomSizes(rand.New(rand.NewPCG(seed, 0)), 200)
		for _, impl := range utf8Impls {
			checkPieces(t, impl.feed, p, sizes)
		}
	})
}

var writeUTF8Seeds = flag.Bool("write-utf8-seeds", false, "rewrite the UTF-8 seed corpora in testdata/fuzz")

// TestUTF8Seeds checks, or with -write-utf8-seeds rewrites, the seeds of
// FuzzUTF8 and FuzzUTF8Pieces that start the fuzzers at the boundaries of
// the loops: a bad byte at each offset 0-130 of an ASCII run, and
// multibyte characters across the 32- and 64-byte boundaries, cut inside.
func TestUTF8Seeds(t *testing.T) {
	type seed struct{ target, name, body string }
	var seeds []seed
	for off := range 131 {
		p := bytes.Repeat([]byte("The quick brown fox. "), 7)[:140]
		p[off] = utf8BadBytes[off%len(utf8BadBytes)]
		seeds = append(seeds,
			seed{"FuzzUTF8", fmt.Sprintf("ascii-bad-at-%03d", off),
				fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint8(%d)\n", p, (off*37)%141)},
			seed{"FuzzUTF8Pieces", fmt.Sprintf("ascii-bad-at-%03d", off),
				fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint64(%d)\n", p, off)})
	}
	for i, ch := range []string{"é", "€", "\ud7ff", "😀", "\U0010FFFF"} {
		for _, off := range []int{30, 31, 62, 63, 126, 127} {
			p := bytes.Repeat([]byte{'-'}, 200)
			copy(p[off:], ch)
			copy(p[off+40:], "中文"+ch)
			for k := 1; k < len(ch); k++ {
				seeds = append(seeds, seed{"FuzzUTF8", fmt.Sprintf("split-%d-at-%03d-%d", i, off, k),
					fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint8(%d)\n", p, off+k)})
			}
			seeds = append(seeds, seed{"FuzzUTF8Pieces", fmt.Sprintf("split-%d-at-%03d", i, off),
				fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint64(%d)\n", p, 1000+off)})
		}
	}
	for _, s := range seeds {
		dir := filepath.Join("testdata", "fuzz", s.target)
		path := filepath.Join(dir, s.name)
		if *writeUTF8Seeds {
			if err := os.WriteFile(path, []byte(s.body), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != s.body {
			t.Errorf("%s is missing or stale; run go test -run TestUTF8Seeds -write-utf8-seeds", path)
		}
	}
}
