package lariat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func hexBytes(t testing.TB, s string) []byte {
	t.Helper()
	var out []byte
	for _, f := range bytes.Fields([]byte(s)) {
		var b byte
		for _, c := range f {
			switch {
			case c >= '0' && c <= '9':
				b = b<<4 | (c - '0')
			case c >= 'a' && c <= 'f':
				b = b<<4 | (c - 'a' + 10)
			default:
				t.Fatalf("bad hex %q", f)
			}
		}
		out = append(out, b)
	}
	return out
}

// The examples of RFC 6455 §5.7, read and written from one table.
var rfcFrames = []struct {
	name    string
	wire    string
	fin     bool
	op      Opcode
	key     string // masking key bytes, "" when unmasked
	payload string
}{
	{"unmasked text Hello", "81 05 48 65 6c 6c 6f", true, OpText, "", "Hello"},
	{"masked text Hello", "81 85 37 fa 21 3d 7f 9f 4d 51 58", true, OpText, "37 fa 21 3d", "Hello"},
	{"fragment 1 Hel", "01 03 48 65 6c", false, OpText, "", "Hel"},
	{"fragment 2 lo", "80 02 6c 6f", true, OpContinuation, "", "lo"},
	{"unmasked ping", "89 05 48 65 6c 6c 6f", true, OpPing, "", "Hello"},
	{"masked pong", "8a 85 37 fa 21 3d 7f 9f 4d 51 58", true, OpPong, "37 fa 21 3d", "Hello"},
}

func TestRFCFrameVectors(t *testing.T) {
	for _, tt := range rfcFrames {
		t.Run(tt.name, func(t *testing.T) {
			wire := hexBytes(t, tt.wire)
			// Writing: lariat's server frames are unmasked.
			if tt.key == "" {
				got := appendHeader(nil, tt.fin, 0, tt.op, len(tt.payload))
				got = append(got, tt.payload...)
				if !bytes.Equal(got, wire) {
					t.Errorf("appendHeader = % x, want % x", got, wire)
				}
				return
			}
			// Reading: client frames are masked; split at every point.
			for split := 0; split <= len(wire); split++ {
				h, n, err := parseHeader(wire[:split])
				if err != nil {
					t.Fatalf("split %d: %v", split, err)
				}
				if n == 0 {
					if split >= 6 {
						t.Fatalf("split %d: header not parsed", split)
					}
					continue
				}
				if n != 6 || h.fin != tt.fin || h.op != tt.op || h.length != int64(len(tt.payload)) || !h.masked {
					t.Fatalf("split %d: header %+v, n %d", split, h, n)
				}
				p := append([]byte(nil), wire[n:]...)
				if len(p) != int(h.length) {
					continue
				}
				mask(h.key, 0, p)
				if string(p) != tt.payload {
					t.Fatalf("payload %q, want %q", p, tt.payload)
				}
				k := hexBytes(t, tt.key)
				if h.key != binary.LittleEndian.Uint32(k) {
					t.Fatalf("key %08x", h.key)
				}
			}
		})
	}
}

func TestHeaderLengthForms(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 128, 1000, 65535, 65536, 1 << 20, 1<<31 + 5} {
		hdr := appendHeader(nil, true, 0, OpBinary, n)
		wantLen := 2
		switch {
		case n > 0xffff:
			wantLen = 10
		case n > 125:
			wantLen = 4
		}
		if len(hdr) != wantLen {
			t.Errorf("length %d: header is %d bytes, want %d", n, len(hdr), wantLen)
		}
		// Round trip through the parser, as a client would send it.
		hdr[1] |= bitMask
		hdr = append(hdr, 1, 2, 3, 4)
		h, used, err := parseHeader(hdr)
		if err != nil || used != len(hdr) || h.length != int64(n) || h.key != 0x04030201 {
			t.Errorf("length %d: parsed %+v, used %d, err %v", n, h, used, err)
		}
		for i := range len(hdr) {
			if _, used, _ := parseHeader(hdr[:i]); used != 0 {
				t.Errorf("length %d: header parsed from %d of %d bytes", n, i, len(hdr))
			}
		}
	}
}

func TestHeaderErrors(t *testing.T) {
	tests := []struct {
		name string
		wire string
		want error
	}{
		{"reserved opcode 3", "83 80 00 00 00 00", errReservedOpcode},
		{"reserved opcode 7", "87 80 00 00 00 00", errReservedOpcode},
		{"reserved opcode 11", "8b 80 00 00 00 00", errReservedOpcode},
		{"reserved opcode 15", "8f 80 00 00 00 00", errReservedOpcode},
		{"fragmented ping", "09 80 00 00 00 00", errControlFragment},
		{"fragmented close", "08 80 00 00 00 00", errControlFragment},
		{"ping of 126 bytes", "89 fe 00 7e 00 00 00 00", errControlTooLong},
		{"unmasked text", "81 00", errUnmasked},
		{"64-bit length, top bit", "82 ff 80 00 00 00 00 00 00 00 00 00 00 00", errLength64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parseHeader(hexBytes(t, tt.wire))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestMaskMatchesBytewise(t *testing.T) {
	key := uint32(0xa1b2c3d4)
	kb := [4]byte{0xd4, 0xc3, 0xb2, 0xa1}
	for n := range 100 {
		for pos := range 4 {
			p := make([]byte, n)
			for i := range p {
				p[i] = byte(i * 7)
			}
			want := append([]byte(nil), p...)
			for i := range want {
				want[i] ^= kb[(pos+i)&3]
			}
			if end := mask(key, pos, p); end != pos+n {
				t.Fatalf("mask returned %d, want %d", end, pos+n)
			}
			if !bytes.Equal(p, want) {
				t.Fatalf("n %d pos %d: % x, want % x", n, pos, p, want)
			}
		}
	}
}

func TestMaskAllocs(t *testing.T) {
	p := make([]byte, 16<<10)
	if n := testing.AllocsPerRun(100, func() { mask(0x12345678, 1, p) }); n != 0 {
		t.Fatalf("mask allocates %v times", n)
	}
}

func BenchmarkMask(b *testing.B) {
	for _, size := range []int{16, 128, 1024, 16 << 10} {
		p := make([]byte, size)
		b.Run(itoa(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				mask(0x12345678, 0, p)
			}
		})
	}
}

// BenchmarkCopy is the yardstick for BenchmarkMask: unmasking should run at
// a good fraction of memory bandwidth.
func BenchmarkCopy(b *testing.B) {
	for _, size := range []int{16, 128, 1024, 16 << 10} {
		p, q := make([]byte, size), make([]byte, size)
		b.Run(itoa(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				copy(q, p)
			}
		})
	}
}

func BenchmarkParseHeader(b *testing.B) {
	wire := []byte{0x82, 0xfe, 0x40, 0x00, 1, 2, 3, 4}
	for b.Loop() {
		if _, n, _ := parseHeader(wire); n != 8 {
			b.Fatal(n)
		}
	}
}

func FuzzParseHeader(f *testing.F) {
	for _, tt := range rfcFrames {
		f.Add(hexBytes(f, tt.wire))
	}
	f.Add([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4})
	f.Add([]byte{0x82, 0xfe, 0x00, 0x7e, 1, 2, 3, 4})
	f.Add([]byte{0x89, 0xfe, 0x00, 0x7e, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := parseHeader(b)
		if err != nil {
			if n != 0 {
				t.Fatal("error with bytes consumed")
			}
			return
		}
		if n == 0 {
			// Incomplete: every prefix is incomplete too.
			if len(b) >= maxHeaderSize {
				t.Fatalf("%d bytes and no header", len(b))
			}
			return
		}
		if n > len(b) || n > maxHeaderSize || h.length < 0 {
			t.Fatalf("n %d, length %d", n, h.length)
		}
		if h.op.IsControl() && (h.length > maxControlPayload || !h.fin) {
			t.Fatal("bad control frame accepted")
		}
		// Re-encode: the same header, parsed again, is equal.
		re := appendHeader(nil, h.fin, h.rsv, h.op, int(h.length))
		re[1] |= bitMask
		re = binary.LittleEndian.AppendUint32(re, h.key)
		h2, n2, err := parseHeader(re)
		if err != nil || n2 != len(re) || h2 != h {
			t.Fatalf("round trip: %+v %d %v, want %+v", h2, n2, err, h)
		}
	})
}
