package bench

import (
	"bytes"
	"math/rand/v2"
	"strconv"
)

// Binary returns n bytes of pseudo-random data, the same on every call.
func Binary(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

// JSONText returns a JSON array of small records, exactly n bytes long
// and the same on every call: the kind of text that chat and API traffic
// carries, which DEFLATE shrinks by a factor of about three to five.
// Values vary from record to record, so the compressor has real work.
func JSONText(n int) []byte {
	r := rand.New(rand.NewPCG(3, 4))
	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett"}
	var b bytes.Buffer
	b.WriteByte('[')
	for i := 0; ; i++ {
		var rec bytes.Buffer
		if i > 0 {
			rec.WriteByte(',')
		}
		id := r.IntN(1_000_000)
		rec.WriteString(`{"id":` + strconv.Itoa(id))
		rec.WriteString(`,"user":"` + words[r.IntN(len(words))] + "-" + strconv.Itoa(r.IntN(10000)) + `"`)
		rec.WriteString(`,"active":` + strconv.FormatBool(r.IntN(2) == 0))
		rec.WriteString(`,"score":` + strconv.FormatFloat(r.Float64()*100, 'f', 2, 64))
		rec.WriteString(`,"tags":["` + words[r.IntN(len(words))] + `","` + words[r.IntN(len(words))] + `"]`)
		rec.WriteString(`,"ts":"2025-11-` + strconv.Itoa(10+r.IntN(20)) + "T" + strconv.Itoa(10+r.IntN(14)) + ":" + strconv.Itoa(10+r.IntN(50)) + `:00Z"}`)
		if b.Len()+rec.Len()+1 > n {
			break
		}
		b.Write(rec.Bytes())
	}
	// Pad with whitespace, which JSON allows between tokens, to the exact
	// size.
	for b.Len() < n-1 {
		b.WriteByte(' ')
	}
	b.WriteByte(']')
	return b.Bytes()
}

// UTF8Text returns n bytes of valid UTF-8 text, the same on every call,
// most of it in scripts whose runes take two to four bytes (Cyrillic,
// Greek, CJK, emoji) between ASCII spaces and punctuation: text that an
// ASCII fast path cannot skip.
func UTF8Text(n int) []byte {
	r := rand.New(rand.NewPCG(5, 6))
	words := []string{"привет", "мир", "γειά", "σου", "こんにちは", "世界", "你好", "😀", "🚀", "grüße", "naïve", "ok"}
	var b bytes.Buffer
	for {
		w := words[r.IntN(len(words))]
		if b.Len()+len(w)+1 > n {
			break
		}
		b.WriteString(w)
		b.WriteByte(' ')
	}
	for b.Len() < n {
		b.WriteByte('.')
	}
	return b.Bytes()
}
