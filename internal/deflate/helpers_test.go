package deflate

import (
	"bytes"
	stdflate "compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// jsonMessage returns a JSON-like text of about size bytes: the same keys
// in every message, values varying with seed, as chat or game updates are.
func jsonMessage(seed uint64, size int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	names := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"}
	tags := []string{"go", "websocket", "deflate", "json", "rfc", "zlib", "server", "client"}
	var b strings.Builder
	b.WriteString(`{"type":"update","items":[`)
	for i := 0; b.Len() < size-200; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"name":%q,"email":"%s@example.com","score":%.3f,"active":%t,"tags":[%q,%q],"ts":"2024-%02d-%02dT%02d:%02d:%02dZ"}`,
			r.IntN(1000000), names[r.IntN(len(names))], names[r.IntN(len(names))], r.Float64()*100, r.IntN(2) == 0,
			tags[r.IntN(len(tags))], tags[r.IntN(len(tags))], 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60))
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 11))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// testMessages covers the sizes that matter: tiny, one stored block's
// worth, past the 8 KiB compression history, past the 32 KiB window, past
// klauspost's 64 KiB block, incompressible, and repeats (which context
// takeover should shrink).
func testMessages() [][]byte {
	big := bytes.Repeat(jsonMessage(3, 4096), 18) // 72 KiB
	return [][]byte{
		[]byte("Hello"),
		[]byte("Hello"),
		jsonMessage(1, 300),
		jsonMessage(2, 4096),
		jsonMessage(2, 4096),
		{},
		randomBytes(1, 1000),
		jsonMessage(4, 12<<10),
		big,
		jsonMessage(5, 40<<10),
		bytes.Repeat([]byte{'a'}, 1000),
		jsonMessage(2, 4096),
	}
}

// model is the peer's view of one direction of a connection: everything
// that went through the compressor, in order, which is the history the
// inflating side may be referred to.
type model struct{ sent []byte }

func (m *model) last(n int) []byte { return m.sent[max(0, len(m.sent)-n):] }

// stdInflate inflates a message with the standard library, independently
// of klauspost: dict is the history the sender may refer to.
func stdInflate(t testing.TB, msg, dict []byte) []byte {
	t.Helper()
	in := append(append([]byte(nil), msg...), inflateTail[:]...)
	r := stdflate.NewReaderDict(bytes.NewReader(in), dict)
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("compress/flate cannot inflate % x: %v", msg[:min(len(msg), 32)], err)
	}
	return out
}

// stdDeflate compresses a message with the standard library the way a
// client does (sync flush, tail removed), referring to dict.
func stdDeflate(t testing.TB, level int, msg, dict []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := stdflate.NewWriterDict(&buf, level, dict)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	out := buf.Bytes()
	if !bytes.HasSuffix(out, syncTail) {
		t.Fatalf("compress/flate flush ends with % x", out[len(out)-4:])
	}
	return out[:len(out)-4]
}

// stdCompress compresses data whole (with a final block), for bombs.
func stdCompress(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := stdflate.NewWriter(&buf, stdflate.BestCompression)
	w.Write(data)
	w.Flush()
	return buf.Bytes()[:buf.Len()-4]
}

func unhex(s string) []byte {
	var b []byte
	for _, f := range strings.Fields(s) {
		var v byte
		fmt.Sscanf(f, "%x", &v)
		b = append(b, v)
	}
	return b
}
