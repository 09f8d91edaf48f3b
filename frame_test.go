package lariat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
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
	{"fragment 2 lo", "80 02 6c 6f", true, opContinuation, "", "lo"},
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
	for _, n64 := range []int64{0, 1, 125, 126, 127, 128, 1000, 65535, 65536, 1 << 20, 1<<31 + 5} {
		if n64 > math.MaxInt {
			continue // a 32-bit int cannot hold it
		}
		n := int(n64)
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

// maskBytewise is the reference: RFC 6455 §5.3 word for word, with the
// key as the four bytes of the frame header.
func maskBytewise(key uint32, pos int, b []byte) {
	var kb [4]byte
	binary.LittleEndian.PutUint32(kb[:], key)
	for i := range b {
		b[i] ^= kb[(pos+i)%4]
	}
}

// checkMask masks len(data) bytes placed off bytes into a buffer, from
// payload offset pos, and compares with the reference, including the
// bytes around the slice, which must not change.
func checkMask(t *testing.T, key uint32, pos, off int, data []byte) {
	t.Helper()
	buf := make([]byte, off+len(data)+8)
	for i := range buf {
		buf[i] = byte(i*13 + 5)
	}
	p := buf[off : off+len(data)]
	copy(p, data)
	want := bytes.Clone(buf)
	maskBytewise(key, pos, want[off:off+len(data)])
	if end := mask(key, pos, p); end != pos+len(data) {
		t.Fatalf("mask returned %d, want %d", end, pos+len(data))
	}
	for i := range buf {
		if buf[i] != want[i] {
			t.Fatalf("n %d pos %d off %d key %#08x: at p[%d] got %#02x, want %#02x",
				len(data), pos, off, key, i-off, buf[i], want[i])
		}
	}
}

func TestMaskMatchesBytewise(t *testing.T) {
	data := make([]byte, 300)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for n := range len(data) + 1 {
		for pos := range 8 {
			for _, off := range []int{0, 1, 3} {
				checkMask(t, 0xa1b2c3d4, pos, off, data[:n])
			}
		}
	}
	// Long payloads, masked in chunks as they come off the wire.
	r := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		data := make([]byte, r.IntN(100_000))
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		key, off := r.Uint32(), r.IntN(64)
		checkMask(t, key, r.IntN(1<<20), off, data)

		want := bytes.Clone(data)
		maskBytewise(key, 0, want)
		for pos := 0; pos < len(data); {
			n := min(1+r.IntN(20_000), len(data)-pos)
			pos = mask(key, pos, data[pos:pos+n])
		}
		if !bytes.Equal(data, want) {
			t.Fatalf("%d bytes masked in chunks differ from the reference", len(data))
		}
	}
}

func TestMaskAllocs(t *testing.T) {
	p := make([]byte, 16<<10)
	if n := testing.AllocsPerRun(100, func() { mask(0x12345678, 1, p) }); n != 0 {
		t.Fatalf("mask allocates %v times", n)
	}
}

// FuzzMask is a differential test against the bytewise reference.
func FuzzMask(f *testing.F) {
	f.Add([]byte("Hello"), uint32(0x3d21fa37), uint16(0), uint8(0))
	f.Add(make([]byte, 100), uint32(0xa1b2c3d4), uint16(3), uint8(1))
	f.Add(make([]byte, 1000), uint32(0xa1b2c3d4), uint16(1), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, key uint32, pos uint16, off uint8) {
		checkMask(t, key, int(pos), int(off%64), data)
	})
}

func BenchmarkMask(b *testing.B) {
	for _, size := range []int{3, 16, 128, 1024, 16 << 10} {
		p := make([]byte, size)
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				mask(0x12345678, 0, p)
			}
		})
	}
	// Payloads follow a 2-14 byte header in the read buffer, so they
	// rarely start on an aligned address.
	p := make([]byte, 1+16<<10)[1:]
	b.Run("16384+1", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			mask(0x12345678, 0, p)
		}
	})
}

// BenchmarkCopy is the yardstick for BenchmarkMask: unmasking should run at
// a good fraction of memory bandwidth.
func BenchmarkCopy(b *testing.B) {
	for _, size := range []int{3, 16, 128, 1024, 16 << 10} {
		p, q := make([]byte, size), make([]byte, size)
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				copy(q, p)
			}
		})
	}
	p, q := make([]byte, 1+16<<10)[1:], make([]byte, 1+16<<10)[1:]
	b.Run("16384+1", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			copy(q, p)
		}
	})
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
		if h.op.isControl() && (h.length > maxControlPayload || !h.fin) {
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
