package hixie

import (
	"fmt"
	"strings"
	"testing"
)

// benchDecode feeds stream to a Decoder in reads of readSize bytes, as a
// connection reading into a fixed buffer does, and counts the messages.
func benchDecode(b *testing.B, stream []byte, readSize int, wantMsgs int) {
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	var d Decoder
	d.MaxMessage = 1 << 30
	b.ResetTimer()
	for b.Loop() {
		d.Reset()
		msgs := 0
		for off := 0; off < len(stream); {
			p := stream[off:min(off+readSize, len(stream))]
			off += len(p)
			for len(p) > 0 {
				n, ev, _, err := d.Decode(p)
				if err != nil {
					b.Fatal(err)
				}
				p = p[n:]
				if ev == EventTextEnd {
					msgs++
				}
			}
		}
		if msgs != wantMsgs {
			b.Fatalf("%d messages; want %d", msgs, wantMsgs)
		}
	}
}

func textStream(b *testing.B, size, count int) []byte {
	msg := strings.Repeat("a", size)
	var stream []byte
	for range count {
		var err error
		if stream, err = AppendTextString(stream, msg); err != nil {
			b.Fatal(err)
		}
	}
	return stream
}

func BenchmarkDecoder(b *testing.B) {
	b.Run("text16B", func(b *testing.B) { benchDecode(b, textStream(b, 16, 1024), 4096, 1024) })
	b.Run("text128B", func(b *testing.B) { benchDecode(b, textStream(b, 128, 256), 4096, 256) })
	b.Run("text4KiB", func(b *testing.B) { benchDecode(b, textStream(b, 4096, 16), 4096, 16) })
	b.Run("text1MiB", func(b *testing.B) { benchDecode(b, textStream(b, 1<<20, 1), 4096, 1) })
	b.Run("skipBinary64KiB", func(b *testing.B) {
		// 0x80, length 65536 in 7-bit groups (4 0x80 0x80 0x00), payload, then one text message.
		stream := append([]byte{0x80, 0x84, 0x80, 0x00}, make([]byte, 1<<16)...)
		stream = append(stream, "\x00x\xff"...)
		benchDecode(b, stream, 4096, 1)
	})
}

func BenchmarkAppendText(b *testing.B) {
	for _, size := range []int{16, 4096} {
		p := []byte(strings.Repeat("a", size))
		buf := make([]byte, 0, size+2)
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = AppendText(buf[:0], p)
			}
		})
	}
}

func BenchmarkChallenge(b *testing.B) {
	b.ReportAllocs()
	var sum [16]byte
	for b.Loop() {
		k1, _ := ParseKey("4 @1  46546xW%0l 1 5")
		k2, _ := ParseKey("12998 5 Y3 1  .P00")
		sum = Challenge(k1, k2, [8]byte{'^', 'n', ':', 'd', 's', '[', '4', 'U'})
	}
	_ = sum
}
