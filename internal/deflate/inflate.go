package deflate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/klauspost/compress/flate"
)

var (
	// ErrTooBig reports a message that inflates to more than the limit
	// given to Inflate. Inflation stops as soon as the limit is crossed.
	ErrTooBig = errors.New("lariat: deflate: inflated message too big")
	// ErrCorrupt reports compressed data that is not valid DEFLATE, or
	// that refers to history it may not use. It wraps the cause.
	ErrCorrupt = errors.New("lariat: deflate: corrupt compressed data")
)

const (
	// maxWindow is DEFLATE's largest window, and the history the pooled
	// inflater keeps within a message.
	maxWindow = 32 << 10
	// minInflateHistory is the least inflate history kept with client
	// context takeover: a zlib client asked for an 8-bit window either
	// refuses or silently compresses with 9 bits (madler/zlib#171), so we
	// keep 512 bytes to inflate what the latter sends.
	minInflateHistory = 512
	// maxStreams bounds the DEFLATE streams (runs ended by a block with
	// BFINAL set) in one message. Each restart copies up to 32 KiB of
	// history into the inflater; an honest sender ends a message with at
	// most one such block (RFC 7692 §7.2.3.4), or one per flush.
	maxStreams = 16
	// minGrow is the least the output buffer grows by.
	minGrow = 4 << 10
)

// inflateTail is appended to every message: the 00 00 ff ff the sender
// removed (RFC 7692 §7.2.2: "Append 4 octets of 0x00 0x00 0xff 0xff to the
// tail end of the payload of the message"), then an empty stored block
// with BFINAL set, so that the inflater ends with io.EOF exactly at the end
// of the data instead of asking for more.
var inflateTail = [...]byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// A Decompressor inflates what one connection receives: whole messages for
// PerMessage, single frames for PerFrame. Inflaters come from a pool shared
// by all connections; with client context takeover the Decompressor keeps
// the last 2^max(ClientMaxWindowBits, 9) bytes it inflated, which the peer
// may refer to.
//
// A Decompressor belongs to one connection and must not be used
// concurrently. After Inflate returns an error its history no longer
// matches the peer's: the connection must fail.
type Decompressor struct {
	takeover bool
	hist     history
}

// NewDecompressor returns the decompressor for the server side of a
// connection negotiated with p (ClientNoContextTakeover,
// ClientMaxWindowBits).
func NewDecompressor(p Params) *Decompressor {
	d := &Decompressor{takeover: !p.ClientNoContextTakeover}
	if d.takeover {
		d.hist.max = max(1<<normWindowBits(p.ClientMaxWindowBits), minInflateHistory)
	}
	return d
}

// Inflate appends to dst the inflated form of src, a compressed message
// (PerMessage: the payloads of all its frames, concatenated, as they
// arrived) or a compressed frame (PerFrame). It appends at most limit
// bytes: as soon as the output would exceed limit it stops and returns
// ErrTooBig, having grown dst by no more than limit bytes, however small
// src is. Corrupt input returns an error wrapping ErrCorrupt. On error dst
// is returned with its original length.
//
// src ends as the sender left it, without 00 00 ff ff; Inflate appends
// them (and tolerates a sender that did not remove them). A block with
// BFINAL set may end the data (RFC 7692 §7.2.3.4); if more data follows in
// src it is inflated as a new DEFLATE stream sharing the window.
//
// Inflate does not modify src. Once its pool is warm, it allocates only
// when dst must grow; the output limit also caps the growth.
func (d *Decompressor) Inflate(dst, src []byte, limit int) ([]byte, error) {
	if len(src) == 0 {
		// Not even the three header bits of an empty block, but zlib-based
		// peers read it as the empty message (zlib waits for more input
		// rather than fail), and so do we.
		return dst, nil
	}
	start := len(dst)
	limit = min(max(limit, 0), math.MaxInt-start) // start+limit must not overflow
	in := getInflater()
	defer putInflater(in)

	tail := inflateTail[:]
	if bytes.HasSuffix(src, syncTail) {
		tail = inflateTail[len(syncTail):] // the sender kept the sync tail
	}
	in.src = source{msg: src, tail: tail}
	in.br.Reset(&in.src)
	in.fr.(flate.Resetter).Reset(in.br, d.hist.b)

	mark := start // output before mark has entered d.hist already
	for streams := 1; ; {
		var n int
		var err error
		if len(dst)-start < limit {
			if len(dst) == cap(dst) {
				dst = grow(dst, start, limit)
			}
			n, err = in.fr.Read(dst[len(dst):min(cap(dst), start+limit)])
			dst = dst[:len(dst)+n]
		} else {
			// At the limit: one more byte means too big.
			n, err = in.fr.Read(in.probe[:])
			if n > 0 {
				return dst[:start], ErrTooBig
			}
		}
		if err == nil {
			continue
		}
		if err != io.EOF {
			return dst[:start], fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		// A block with BFINAL set has ended.
		consumed := in.src.fed - in.br.Buffered()
		switch {
		case consumed < len(src):
			// More of the message follows: a new stream that may refer to
			// everything inflated so far.
			if streams++; streams > maxStreams {
				return dst[:start], fmt.Errorf("%w: more than %d final blocks in one message", ErrCorrupt, maxStreams)
			}
			var dict []byte
			if d.takeover {
				d.hist.add(dst[mark:])
				mark = len(dst)
				dict = d.hist.b
			} else {
				dict = dst[max(start, len(dst)-maxWindow):]
			}
			in.fr.(flate.Resetter).Reset(in.br, dict)
			continue
		case consumed == len(src), consumed == len(src)+len(tail):
			// The message's own final block, or ours.
		default:
			return dst[:start], fmt.Errorf("%w: data ends inside a block", ErrCorrupt)
		}
		if d.takeover {
			d.hist.add(dst[mark:])
		}
		return dst, nil
	}
}

// Release prepares the Decompressor for a hibernating connection. Nothing
// pooled is held between calls; with client context takeover the history
// must be kept, since the peer may refer to it, and Release only trims its
// spare capacity.
func (d *Decompressor) Release() {
	if len(d.hist.b) < cap(d.hist.b) {
		d.hist.b = bytes.Clone(d.hist.b)
	}
}

// Held reports the bytes the Decompressor keeps between messages (its
// history); pooled inflaters are not counted.
func (d *Decompressor) Held() int { return d.hist.held() }

// grow makes room in dst for more output: as much again as the message
// has inflated so far, at least minGrow, and never past start+limit, so
// that a decompression bomb cannot make us allocate more than the limit.
func grow(dst []byte, start, limit int) []byte {
	n := min(max(len(dst)-start, minGrow), start+limit-len(dst))
	b := make([]byte, len(dst), len(dst)+n)
	copy(b, dst)
	return b
}

// source feeds a message and then its tail to the inflater, counting what
// it has handed out so that Inflate knows where a final block ended.
type source struct {
	msg, tail []byte
	fed       int
}

func (s *source) Read(p []byte) (int, error) {
	var n int
	switch {
	case len(s.msg) > 0:
		n = copy(p, s.msg)
		s.msg = s.msg[n:]
	case len(s.tail) > 0:
		n = copy(p, s.tail)
		s.tail = s.tail[n:]
	default:
		return 0, io.EOF
	}
	s.fed += n
	return n, nil
}

// inflater is the pooled part of a Decompressor: klauspost's inflater
// (32 KiB window and Huffman tables, about 37 KB) reading through a 4 KiB
// bufio.Reader, which selects its fastest input path and, like any
// io.ByteReader, is never read past the end of a DEFLATE stream.
type inflater struct {
	fr    io.ReadCloser
	br    *bufio.Reader
	src   source
	probe [1]byte
}

var inflaters sync.Pool

func getInflater() *inflater {
	if in, ok := inflaters.Get().(*inflater); ok {
		return in
	}
	in := new(inflater)
	in.br = bufio.NewReaderSize(&in.src, 4<<10)
	in.fr = flate.NewReader(in.br)
	return in
}

func putInflater(in *inflater) {
	// Forget the message and its history before pooling.
	in.src = source{}
	in.br.Reset(&in.src)
	in.fr.(flate.Resetter).Reset(in.br, nil)
	inflaters.Put(in)
}
