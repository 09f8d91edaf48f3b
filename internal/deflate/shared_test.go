package deflate

import (
	"bytes"
	"testing"
)

// TestCompressShared: CompressShared gives, byte for byte, what a
// Compressor without context takeover of the same Setting gives, and
// Shared tells the two kinds of Compressor apart.
func TestCompressShared(t *testing.T) {
	params := []Params{
		{ServerNoContextTakeover: true},
		{ServerNoContextTakeover: true, ServerMaxWindowBits: 9},
		{ServerNoContextTakeover: true, Level: 6},
		{ServerNoContextTakeover: true, Level: -2},
		{ServerNoContextTakeover: true, MinSize: 4000},
	}
	for _, p := range params {
		c := NewCompressor(p)
		s, ok := c.Shared()
		if !ok {
			t.Fatalf("%+v: Shared() = false for a compressor without context takeover", p)
		}
		for i, m := range append(testMessages(), []byte("tiny"), randomBytes(1, 3000)) {
			want, wantZ, err := c.Compress(nil, m)
			if err != nil {
				t.Fatal(err)
			}
			got, gotZ, err := CompressShared(nil, m, s)
			if err != nil || gotZ != wantZ || !bytes.Equal(got, want) {
				t.Fatalf("%+v message %d: CompressShared = %d bytes, %v, %v; Compress %d bytes, %v", p, i, len(got), gotZ, err, len(want), wantZ)
			}
		}
	}
	if _, ok := NewCompressor(Params{}).Shared(); ok {
		t.Error("Shared() = true for a compressor with context takeover")
	}
}
