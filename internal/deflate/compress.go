package deflate

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/flate"
)

// maxCompressHistory caps the context a Compressor keeps between messages
// when it takes over context. Any prefix of the real history may be
// dropped (the receiver keeps its whole window; we just never refer past
// what we kept), and the cost of a longer dictionary is paid on every
// message, because a pooled flate.Writer re-hashes its dictionary on
// ResetDict. Measured on 4 KiB JSON-like messages
// (BenchmarkCompressAlternatives for the ratio, TestCPUTimePerMessage for
// the thread CPU time): an 8 KiB dictionary compresses exactly as well as
// a dedicated 823 KB writer that keeps the full 32 KiB (ratio 0.217 for
// both, 0.272 without context) in 45 µs per message, against 28 µs
// without context, 25 µs for the dedicated writer and 108 µs for a 32 KiB
// dictionary. StatelessDeflate with the same 8 KiB takes 38 µs but
// compresses less (0.229) and allocates 12 KB per call; klauspost stops
// its dictionary at 8 KiB for the same reason.
const maxCompressHistory = 8 << 10

// syncTail is what a sync flush ends with, and what RFC 7692 §7.2.1 has
// the sender remove: "Remove 4 octets (that are 0x00 0x00 0xff 0xff) from
// the tail end."
var syncTail = []byte{0x00, 0x00, 0xff, 0xff}

// A Compressor compresses what one connection sends: whole messages for
// PerMessage, single frames for PerFrame. It holds no flate state between
// calls: writers come from a pool shared by all connections, and with
// context takeover only the last min(2^ServerMaxWindowBits, 8 KiB) bytes
// sent are kept.
//
// A Compressor belongs to one connection and must not be used
// concurrently.
type Compressor struct {
	level    int
	bits     int
	minSize  int
	takeover bool
	hist     history
}

// NewCompressor returns the compressor for the server side of a
// connection negotiated with p (ServerNoContextTakeover,
// ServerMaxWindowBits, Level, MinSize). It allocates nothing else until
// the first message.
func NewCompressor(p Params) *Compressor {
	bits := normWindowBits(p.ServerMaxWindowBits)
	c := &Compressor{
		level:    normLevel(p.Level),
		bits:     bits,
		minSize:  normMinSize(p.MinSize),
		takeover: !p.ServerNoContextTakeover,
	}
	if c.takeover {
		c.hist.max = min(1<<bits, maxCompressHistory)
	}
	return c
}

// Compress appends the compressed form of src to dst, without the final
// 00 00 ff ff, and reports compressed = true: the caller then sends the
// appended bytes with RSV1 set (on the first frame of the message for
// PerMessage; on this frame for PerFrame).
//
// When src is shorter than MinSize, or compressing would not make it
// shorter, Compress returns dst unchanged and compressed = false: the
// caller sends src as it is with RSV1 clear. Such a message does not enter
// the compression context, as the peer never inflates it.
//
// src must not overlap the spare capacity of dst. Once its pool is warm,
// Compress allocates only when dst must grow.
func (c *Compressor) Compress(dst, src []byte) (out []byte, compressed bool, err error) {
	if len(src) < c.minSize {
		return dst, false, nil
	}
	var dict []byte
	if c.takeover {
		dict = c.hist.b
	}
	w, err := getWriter(c.level, c.bits)
	if err != nil {
		return dst, false, err
	}
	w.out = dst
	// Always ResetDict, never Reset: Reset would restore whatever
	// dictionary the writer saw last, which may be another connection's.
	w.fw.ResetDict(w, dict)
	_, err = w.fw.Write(src)
	if err == nil {
		err = w.fw.Flush()
	}
	out = w.out
	putWriter(w, c.level, c.bits)
	if err != nil {
		return dst, false, fmt.Errorf("lariat: deflate: %w", err)
	}
	if !bytes.HasSuffix(out[len(dst):], syncTail) {
		return dst, false, errors.New("lariat: deflate: flush did not end with 00 00 ff ff")
	}
	out = out[:len(out)-len(syncTail)]
	if len(out)-len(dst) >= len(src) {
		return dst, false, nil
	}
	c.hist.add(src)
	return out, true, nil
}

// Release drops the compression context, for a connection about to
// hibernate. The next message is compressed without reference to earlier
// ones, which is always allowed: the peer keeps its window, we simply stop
// referring to it. Afterwards the Compressor holds no memory beyond its
// own 64-byte struct.
func (c *Compressor) Release() { c.hist.b = nil }

// Held reports the bytes the Compressor keeps between messages (its
// context); pooled writers are not counted.
func (c *Compressor) Held() int { return c.hist.held() }

// pooledWriter is a flate.Writer with the io.Writer it writes to, so that
// the writer never points at a connection's memory while pooled.
type pooledWriter struct {
	fw  *flate.Writer
	out []byte
}

func (w *pooledWriter) Write(p []byte) (int, error) {
	w.out = append(w.out, p...)
	return len(p), nil
}

// Writers are pooled by level for 15-bit windows, and by window size for
// smaller ones (klauspost's custom-window encoder has a single level).
// Huffman-only never emits a distance, so it needs no small window.
var (
	levelWriters  [12]sync.Pool // level -2..9
	windowWriters [7]sync.Pool  // window bits 8..14
)

func writerPool(level, bits int) *sync.Pool {
	if bits < DefaultWindowBits && level != flate.HuffmanOnly {
		return &windowWriters[bits-8]
	}
	return &levelWriters[level+2]
}

func getWriter(level, bits int) (*pooledWriter, error) {
	if w, ok := writerPool(level, bits).Get().(*pooledWriter); ok {
		return w, nil
	}
	w := new(pooledWriter)
	var err error
	if bits < DefaultWindowBits && level != flate.HuffmanOnly {
		w.fw, err = flate.NewWriterWindow(w, 1<<bits)
	} else {
		w.fw, err = flate.NewWriter(w, level)
	}
	if err != nil {
		return nil, fmt.Errorf("lariat: deflate: %w", err)
	}
	return w, nil
}

func putWriter(w *pooledWriter, level, bits int) {
	w.out = nil
	// Drop the dictionary, which is a connection's history.
	w.fw.ResetDict(w, nil)
	writerPool(level, bits).Put(w)
}
