package hixie

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestAppendText(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", "\x00\xff"},
		{"Hello", "\x00Hello\xff"},
		{"h\xc3\xa9\x00", "\x00h\xc3\xa9\x00\xff"},
	} {
		got, err := AppendText([]byte("pre"), []byte(tt.in))
		if err != nil || string(got) != "pre"+tt.want {
			t.Errorf("AppendText(%q) = %q, %v; want %q", tt.in, got, err, "pre"+tt.want)
		}
		got, err = AppendTextString([]byte("pre"), tt.in)
		if err != nil || string(got) != "pre"+tt.want {
			t.Errorf("AppendTextString(%q) = %q, %v; want %q", tt.in, got, err, "pre"+tt.want)
		}
	}
	for _, bad := range []string{"\xff", "abc\xffdef", "\xc3\xff"} {
		got, err := AppendText([]byte("pre"), []byte(bad))
		if !errors.Is(err, ErrFrame) || string(got) != "pre" {
			t.Errorf("AppendText(%q) = %q, %v; want dst unchanged and ErrFrame", bad, got, err)
		}
		got, err = AppendTextString([]byte("pre"), bad)
		if !errors.Is(err, ErrFrame) || string(got) != "pre" {
			t.Errorf("AppendTextString(%q) = %q, %v; want dst unchanged and ErrFrame", bad, got, err)
		}
	}
}

func TestCloseFrame(t *testing.T) {
	var d Decoder
	if n, ev, _, err := d.Decode([]byte(CloseFrame)); n != 2 || ev != EventClose || err != nil {
		t.Errorf("Decode(CloseFrame) = %d, %v, %v", n, ev, err)
	}
}

// What the encoder writes, the decoder reads back, in any pieces.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	msgs := []string{"", "a", "Hello, world", strings.Repeat("\xe2\x82\xac", 1000), "\x00\x00", "\x7f"}
	var stream []byte
	var want []string
	for _, m := range msgs {
		var err error
		if stream, err = AppendTextString(stream, m); err != nil {
			t.Fatal(err)
		}
		want = append(want, "text:"+m)
	}
	stream = append(stream, CloseFrame...)
	want = append(want, "close")
	for _, s := range splitters {
		got := feed(t, &Decoder{}, s.split(t, stream))
		if !slices.Equal(got.events, want) || got.err != nil || got.consumed != len(stream) {
			t.Errorf("%s: %v", s.name, got)
		}
	}
}

func TestEncoderAllocs(t *testing.T) {
	buf := make([]byte, 0, 64)
	p := []byte("Hello, world")
	allocs := testing.AllocsPerRun(100, func() {
		buf, _ = AppendText(buf[:0], p)
		buf, _ = AppendTextString(buf, "Hello, world")
		buf = append(buf, CloseFrame...)
	})
	if allocs != 0 {
		t.Errorf("AppendText: %v allocations; want 0", allocs)
	}
}
