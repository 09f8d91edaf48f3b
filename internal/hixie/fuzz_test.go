package hixie

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var writeSeeds = flag.Bool("write-seeds", false, "rewrite the seed corpora in testdata/fuzz from the test vectors")

// FuzzHixieDecoder checks, for any input, limit and way of cutting the
// input: Decode never panics and keeps its contract (see feed), no message
// passes the limit, every cut gives the outcome of the whole input, and that
// outcome is what refDecode, a plain reading of the draft, finds.
func FuzzHixieDecoder(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte, max uint16, cuts []byte) {
		limit := int64(max)
		whole := feed(t, &Decoder{MaxMessage: limit}, [][]byte{in})
		pieces := feed(t, &Decoder{MaxMessage: limit}, cut(in, cuts))
		if !sameOutcome(whole, pieces) {
			t.Fatalf("cut at %v:\n%v\nwhole:\n%v", cuts, pieces, whole)
		}
		if limit <= 0 {
			limit = DefaultMaxMessage
		}
		ref := refDecode(in, limit)
		if !slices.Equal(whole.events, ref.events) || whole.consumed != ref.consumed ||
			(whole.err == nil) != (ref.err == nil) || (ref.err != nil && !errors.Is(whole.err, ref.err)) {
			t.Fatalf("decoder:\n%v\nreference:\n%v", whole, ref)
		}
	})
}

func sameOutcome(a, b outcome) bool {
	return slices.Equal(a.events, b.events) && a.consumed == b.consumed &&
		(a.err == nil) == (b.err == nil) && (a.err == nil || a.err.Error() == b.err.Error())
}

// cut splits in into pieces whose lengths are the bytes of cuts, in turn
// and again; a zero byte yields an empty piece. No cuts means one byte at a
// time.
func cut(in, cuts []byte) [][]byte {
	if len(cuts) == 0 {
		cuts = []byte{1}
	}
	var pieces [][]byte
	for i := 0; len(in) > 0; i++ {
		n := min(int(cuts[i%len(cuts)]), len(in))
		if n == 0 && i > 4*len(in)+len(cuts) {
			n = 1 // all zero cuts: still make progress
		}
		pieces = append(pieces, bytes.Clone(in[:n]))
		in = in[n:]
	}
	return pieces
}

// refDecode reads a whole stream the way draft-76 section 5.3 describes it,
// with lariat's limits added, written for clarity rather than speed and
// sharing no code with Decoder. Lengths are big integers, so no overflow
// can hide a mistake.
func refDecode(in []byte, max int64) outcome {
	var o outcome
	limit := big.NewInt(max)
	i := 0
	for i < len(in) {
		typ := in[i]
		if typ&0x80 == 0 {
			payload := in[i+1:]
			end := bytes.IndexByte(payload, 0xff)
			if end >= 0 {
				payload = payload[:end]
			}
			if int64(len(payload)) > max {
				if typ == 0x00 {
					o.events = append(o.events, "partial:"+string(payload[:max]))
				}
				o.err, o.consumed = ErrTooBig, i+1+int(max)
				return o
			}
			if end < 0 {
				if typ == 0x00 && len(payload) > 0 {
					o.events = append(o.events, "partial:"+string(payload))
				}
				o.consumed = len(in)
				return o
			}
			if typ == 0x00 {
				o.events = append(o.events, "text:"+string(payload))
			}
			i += 1 + end + 1
			continue
		}
		length := new(big.Int)
		j := i + 1
		for {
			if j == len(in) {
				o.consumed = len(in)
				return o
			}
			if j-(i+1) == 10 {
				o.err, o.consumed = ErrFrame, j
				return o
			}
			b := in[j]
			length.Lsh(length, 7).Add(length, big.NewInt(int64(b&0x7f)))
			if length.Cmp(limit) > 0 {
				o.err, o.consumed = ErrTooBig, j
				return o
			}
			j++
			if b&0x80 == 0 {
				break
			}
		}
		if typ == 0xff && length.Sign() == 0 {
			o.events = append(o.events, "close")
			if j < len(in) {
				o.err, o.consumed = ErrFrame, j
				return o
			}
			o.consumed = j
			return o
		}
		if int64(len(in)-j) < length.Int64() {
			o.consumed = len(in)
			return o
		}
		i = j + int(length.Int64())
	}
	o.consumed = len(in)
	return o
}

// FuzzHixieKey checks ParseKey against a reading of the draft with big
// integers: the same keys are accepted, with the same number.
func FuzzHixieKey(f *testing.F) {
	f.Fuzz(func(t *testing.T, key string) {
		got, err := ParseKey(key)
		var digits strings.Builder
		spaces := int64(0)
		for _, c := range []byte(key) {
			switch {
			case '0' <= c && c <= '9':
				digits.WriteByte(c)
			case c == ' ':
				spaces++
			}
		}
		ok := digits.Len() > 0 && spaces > 0
		var want uint64
		if ok {
			number, _ := new(big.Int).SetString(digits.String(), 10)
			q, r := new(big.Int).QuoRem(number, big.NewInt(spaces), new(big.Int))
			ok = number.Cmp(big.NewInt(math.MaxUint32)) <= 0 && r.Sign() == 0
			want = q.Uint64()
		}
		switch {
		case ok && (err != nil || uint64(got) != want):
			t.Fatalf("ParseKey(%q) = %d, %v; want %d", key, got, err, want)
		case !ok && (err == nil || !errors.Is(err, ErrKey) || got != 0):
			t.Fatalf("ParseKey(%q) = %d, %v; want ErrKey", key, got, err)
		}
	})
}

// TestWriteSeeds rewrites testdata/fuzz from the test vectors when run with
// -write-seeds; otherwise it checks that every vector has its seed file.
func TestWriteSeeds(t *testing.T) {
	type seed struct {
		name string
		body string
	}
	var decoder, key []seed
	for i, tt := range decoderTests {
		cuts := []byte{byte(i % 5), 3, 1}
		decoder = append(decoder, seed{
			fmt.Sprintf("vector-%02d", i),
			fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint16(%d)\n[]byte(%q)\n", tt.in, min(tt.max, math.MaxUint16), cuts),
		})
	}
	var stream []byte
	for _, m := range []string{"", "Hello", strings.Repeat("\xe2\x82\xac", 40)} {
		stream, _ = AppendTextString(stream, m)
	}
	stream = append(stream, CloseFrame...)
	decoder = append(decoder, seed{"round-trip", fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint16(0)\n[]byte(%q)\n", stream, []byte{7, 0, 2})})

	for i, v := range challengeVectors {
		key = append(key,
			seed{fmt.Sprintf("vector-%d-key1", i), fmt.Sprintf("go test fuzz v1\nstring(%q)\n", v.key1)},
			seed{fmt.Sprintf("vector-%d-key2", i), fmt.Sprintf("go test fuzz v1\nstring(%q)\n", v.key2)})
	}
	for i, k := range []string{"", "12345", "1  ", "4294967296 ", "4294967295 ", "0000000000000000000004 ", "\u0661 7"} {
		key = append(key, seed{fmt.Sprintf("edge-%d", i), fmt.Sprintf("go test fuzz v1\nstring(%q)\n", k)})
	}

	for target, seeds := range map[string][]seed{"FuzzHixieDecoder": decoder, "FuzzHixieKey": key} {
		dir := filepath.Join("testdata", "fuzz", target)
		for _, s := range seeds {
			path := filepath.Join(dir, s.name)
			if *writeSeeds {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(s.body), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != s.body {
				t.Errorf("%s is missing or stale; run go test -run TestWriteSeeds -write-seeds", path)
			}
		}
	}
}
