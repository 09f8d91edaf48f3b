package wstest

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// unhex decodes a spaced hex string such as "81 05 48".
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var hello = []byte("Hello")

// frameVectors are the examples of RFC 6455 §5.7, plus the edges of each
// length encoding, as wire prefixes (the payload follows when it is long).
var frameVectors = []struct {
	name  string
	frame Frame
	wire  string // hex of the header, and of the payload when it is short
	long  bool   // the payload follows the header verbatim, unmasked
}{
	{"unmasked text", Frame{Fin: true, Op: OpText, Payload: hello}, "81 05 48 65 6c 6c 6f", false},
	{"masked text", Frame{Fin: true, Op: OpText, Masked: true, Mask: [4]byte{0x37, 0xfa, 0x21, 0x3d}, Payload: hello}, "81 85 37 fa 21 3d 7f 9f 4d 51 58", false},
	{"first fragment", Frame{Op: OpText, Payload: []byte("Hel")}, "01 03 48 65 6c", false},
	{"last fragment", Frame{Fin: true, Op: OpContinuation, Payload: []byte("lo")}, "80 02 6c 6f", false},
	{"unmasked ping", Frame{Fin: true, Op: OpPing, Payload: hello}, "89 05 48 65 6c 6c 6f", false},
	{"masked pong", Frame{Fin: true, Op: OpPong, Masked: true, Mask: [4]byte{0x37, 0xfa, 0x21, 0x3d}, Payload: hello}, "8a 85 37 fa 21 3d 7f 9f 4d 51 58", false},
	{"empty close", Frame{Fin: true, Op: OpClose, Payload: []byte{}}, "88 00", false},
	{"rsv bits", Frame{Fin: true, Rsv: RSV1 | RSV3, Op: OpBinary, Payload: []byte{}}, "d2 00", false},
	{"reserved opcode", Frame{Op: 0xB, Payload: []byte{}}, "0b 00", false},
	{"125 bytes", Frame{Fin: true, Op: OpBinary, Payload: bytes.Repeat([]byte{1}, 125)}, "82 7d", true},
	{"126 bytes", Frame{Fin: true, Op: OpBinary, Payload: bytes.Repeat([]byte{2}, 126)}, "82 7e 00 7e", true},
	{"256 bytes", Frame{Fin: true, Op: OpBinary, Payload: bytes.Repeat([]byte{3}, 256)}, "82 7e 01 00", true},
	{"65535 bytes", Frame{Fin: true, Op: OpBinary, Payload: bytes.Repeat([]byte{4}, 65535)}, "82 7e ff ff", true},
	{"64 KiB", Frame{Fin: true, Op: OpBinary, Payload: bytes.Repeat([]byte{5}, 65536)}, "82 7f 00 00 00 00 00 01 00 00", true},
}

func TestAppendFrame(t *testing.T) {
	for _, v := range frameVectors {
		t.Run(v.name, func(t *testing.T) {
			want := unhex(t, v.wire)
			if v.long {
				want = append(want, v.frame.Payload...)
			}
			payload := bytes.Clone(v.frame.Payload)
			if got := AppendFrame(nil, v.frame); !bytes.Equal(got, want) {
				t.Errorf("AppendFrame = % x\nwant            % x", abbrev(got), abbrev(want))
			}
			if !bytes.Equal(v.frame.Payload, payload) {
				t.Errorf("AppendFrame changed the caller's payload")
			}
		})
	}
}

func TestReadFrameFrom(t *testing.T) {
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
	}
	for _, v := range frameVectors {
		for rname, wrap := range readers {
			t.Run(v.name+"/"+rname, func(t *testing.T) {
				wire := unhex(t, v.wire)
				if v.long {
					wire = append(wire, v.frame.Payload...)
				}
				got, err := ReadFrameFrom(wrap(bytes.NewReader(wire)), 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				if got.Fin != v.frame.Fin || got.Rsv != v.frame.Rsv || got.Op != v.frame.Op ||
					got.Masked != v.frame.Masked || got.Mask != v.frame.Mask || !bytes.Equal(got.Payload, v.frame.Payload) {
					t.Errorf("ReadFrameFrom = %v, want %v", got, v.frame)
				}
			})
		}
	}
}

func TestReadFrameFromErrors(t *testing.T) {
	tests := []struct {
		name  string
		wire  string
		limit int64
		want  error // nil: any error, checked by text below
		text  string
	}{
		{"empty stream", "", 10, io.EOF, ""},
		{"cut header", "81", 10, io.ErrUnexpectedEOF, ""},
		{"cut 16-bit length", "82 7e 00", 1000, io.ErrUnexpectedEOF, ""},
		{"cut 64-bit length", "82 7f 00 00 00", 1000, io.ErrUnexpectedEOF, ""},
		{"cut mask", "81 85 37 fa", 10, io.ErrUnexpectedEOF, ""},
		{"cut payload", "81 05 48 65", 10, io.ErrUnexpectedEOF, ""},
		{"over the limit", "82 7e 01 00", 255, ErrTooLarge, ""},
		{"64-bit length with top bit", "82 7f 80 00 00 00 00 00 00 00", 1 << 62, nil, "most significant bit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFrameFrom(bytes.NewReader(unhex(t, tt.wire)), tt.limit)
			switch {
			case err == nil:
				t.Fatal("ReadFrameFrom succeeded, want an error")
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("ReadFrameFrom error = %v, want %v", err, tt.want)
			case !strings.Contains(err.Error(), tt.text):
				t.Errorf("ReadFrameFrom error = %v, want it to mention %q", err, tt.text)
			}
		})
	}
}

// TestRoundTrip writes frames of every length encoding, masked and not,
// and reads them back.
func TestRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 128, 65535, 65536, 70000} {
		for _, masked := range []bool{false, true} {
			p := bytes.Repeat([]byte("abcdefg"), n/7+1)[:n]
			f := Frame{Fin: true, Op: OpBinary, Masked: masked, Mask: [4]byte{1, 2, 3, 4}, Payload: p}
			got, err := ReadFrameFrom(iotest.HalfReader(bytes.NewReader(AppendFrame(nil, f))), 1<<20)
			if err != nil || !bytes.Equal(got.Payload, p) || got.Masked != masked {
				t.Errorf("len %d masked %t: got %v, %v", n, masked, got, err)
			}
		}
	}
}

func TestClosePayload(t *testing.T) {
	if got := ClosePayload(0, "ignored"); len(got) != 0 {
		t.Errorf("ClosePayload(0) = % x, want empty", got)
	}
	if got, want := ClosePayload(1000, "ok"), []byte{0x03, 0xe8, 'o', 'k'}; !bytes.Equal(got, want) {
		t.Errorf("ClosePayload(1000, ok) = % x, want % x", got, want)
	}
}

func TestSendableCode(t *testing.T) {
	for code, want := range map[uint16]bool{
		0: false, 999: false, 1000: true, 1003: true, 1004: false, 1005: false, 1006: false,
		1007: true, 1014: true, 1015: false, 1016: false, 2999: false, 3000: true, 4999: true, 5000: false,
	} {
		if got := SendableCode(code); got != want {
			t.Errorf("SendableCode(%d) = %t, want %t", code, got, want)
		}
	}
}

// TestAcceptKey checks the example of RFC 6455 §1.3.
func TestAcceptKey(t *testing.T) {
	if got, want := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Errorf("AcceptKey = %q, want %q", got, want)
	}
}
