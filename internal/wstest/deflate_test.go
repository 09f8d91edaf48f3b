package wstest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestDecompressRFC7692 inflates the examples of RFC 7692 §7.2.3.
func TestDecompressRFC7692(t *testing.T) {
	tests := []struct {
		name     string
		params   DeflateParams
		messages []string // hex payloads, each inflating to "Hello"
	}{
		{"7.2.3.1 one message", DeflateParams{}, []string{"f2 48 cd c9 c9 07 00"}},
		{"7.2.3.2 shared window", DeflateParams{}, []string{"f2 48 cd c9 c9 07 00", "f2 00 11 00 00"}},
		{"7.2.3.2 no takeover", DeflateParams{ServerNoContextTakeover: true}, []string{"f2 48 cd c9 c9 07 00", "f2 48 cd c9 c9 07 00"}},
		{"7.2.3.3 stored block", DeflateParams{}, []string{"00 05 00 fa ff 48 65 6c 6c 6f 00"}},
		{"7.2.3.4 BFINAL set", DeflateParams{}, []string{"f3 48 cd c9 c9 07 00 00"}},
		{"7.2.3.5 two blocks", DeflateParams{}, []string{"f2 48 05 00 00 00 ff ff ca c9 c9 07 00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDeflater(tt.params)
			for i, m := range tt.messages {
				got, err := d.Decompress(unhex(t, m), 100)
				if err != nil || string(got) != "Hello" {
					t.Fatalf("message %d: Decompress = %q, %v; want Hello", i, got, err)
				}
			}
		})
	}
}

// TestDecompressNoContext checks that, under server_no_context_takeover, a
// message that refers to the previous one is refused: it proves the
// dictionary is not kept.
func TestDecompressNoContext(t *testing.T) {
	d := NewDeflater(DeflateParams{ServerNoContextTakeover: true})
	if _, err := d.Decompress(unhex(t, "f2 48 cd c9 c9 07 00"), 100); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Decompress(unhex(t, "f2 00 11 00 00"), 100); err == nil {
		t.Fatalf("Decompress = %q, want an error: the message refers to a context the server promised not to keep", got)
	}
}

func TestDecompressLimit(t *testing.T) {
	c := NewDeflater(DeflateParams{})
	z := c.Compress(make([]byte, 1000))
	if _, err := NewDeflater(DeflateParams{}).Decompress(z, 999); err == nil {
		t.Fatal("Decompress of 1000 bytes with limit 999 succeeded")
	}
}

// TestCompressRoundTrip compresses message sequences with every
// combination of context takeover and window limits, and inflates them
// with the matching receiver.
func TestCompressRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	text := []byte(strings.Repeat("The quick brown fox jumps over the lazy dog. ", 2000))
	noise := make([]byte, 40000)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	for _, p := range []DeflateParams{
		{},
		{ClientNoContextTakeover: true},
		{ClientMaxWindowBits: 9},
		{ClientMaxWindowBits: 15},
	} {
		for _, takeover := range []bool{true, false} {
			t.Run(fmt.Sprintf("%v/takeover=%t", p, takeover), func(t *testing.T) {
				sender := NewDeflater(p)
				sender.SetContextTakeover(takeover)
				// The receiver sees the client's parameters as a server
				// sees them: the client's window is the one that matters.
				receiver := NewDeflater(DeflateParams{
					ServerNoContextTakeover: p.ClientNoContextTakeover || !takeover,
					ServerMaxWindowBits:     p.ClientMaxWindowBits,
				})
				for i, m := range [][]byte{{}, text[:10], text[:1000], text, noise, text[:300]} {
					z := sender.Compress(m)
					got, err := receiver.Decompress(z, 1<<20)
					if err != nil || !bytes.Equal(got, m) {
						t.Fatalf("message %d (%d bytes): %v, %s", i, len(m), err, diff(got, m))
					}
				}
			})
		}
	}
}

// TestCompressEmpty checks RFC 7692 §7.2.3.6: an empty message compresses
// to a single 0x00 once the tail is removed.
func TestCompressEmpty(t *testing.T) {
	if got := NewDeflater(DeflateParams{}).Compress(nil); !bytes.Equal(got, []byte{0}) {
		t.Errorf("Compress(empty) = % x, want 00", got)
	}
}

func TestParseDeflateResponse(t *testing.T) {
	tests := []struct {
		values     []string
		clientBits bool
		want       DeflateParams
		ok         bool
		err        string
	}{
		{nil, false, DeflateParams{}, false, ""},
		{[]string{"permessage-deflate"}, false, DeflateParams{}, true, ""},
		{[]string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover"}, false,
			DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true}, true, ""},
		{[]string{"Permessage-Deflate;server_max_window_bits=10; client_max_window_bits=\"9\""}, true,
			DeflateParams{ServerMaxWindowBits: 10, ClientMaxWindowBits: 9}, true, ""},
		{[]string{"permessage-deflate; client_max_window_bits=9"}, false, DeflateParams{}, false, "did not include"},
		{[]string{"permessage-deflate; server_max_window_bits=7"}, false, DeflateParams{}, false, "8..15"},
		{[]string{"permessage-deflate; server_max_window_bits=16"}, false, DeflateParams{}, false, "8..15"},
		{[]string{"permessage-deflate; server_max_window_bits"}, false, DeflateParams{}, false, "8..15"},
		{[]string{"permessage-deflate; server_max_window_bits=010"}, false, DeflateParams{}, false, "8..15"},
		{[]string{"permessage-deflate; server_no_context_takeover=1"}, false, DeflateParams{}, false, "has a value"},
		{[]string{"permessage-deflate; server_no_context_takeover; server_no_context_takeover"}, false, DeflateParams{}, false, "repeated"},
		{[]string{"permessage-deflate; mystery"}, false, DeflateParams{}, false, "unknown"},
		{[]string{"permessage-deflate", "permessage-deflate"}, false, DeflateParams{}, false, "twice"},
		{[]string{"x-webkit-deflate-frame"}, false, DeflateParams{}, false, "not offered"},
	}
	for _, tt := range tests {
		got, ok, err := ParseDeflateResponse(tt.values, tt.clientBits)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseDeflateResponse(%q) error = %v, want one about %q", tt.values, err, tt.err)
			}
			continue
		}
		if err != nil || ok != tt.ok || got != tt.want {
			t.Errorf("ParseDeflateResponse(%q) = %v, %t, %v; want %v, %t", tt.values, got, ok, err, tt.want, tt.ok)
		}
	}
}

func TestDeflateParamsString(t *testing.T) {
	p := DeflateParams{ServerNoContextTakeover: true, ClientMaxWindowBits: 10}
	if got, want := p.String(), "permessage-deflate; server_no_context_takeover; client_max_window_bits=10"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}
