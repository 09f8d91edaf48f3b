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
	// given to Inflate or InflateStream. Inflation stops as soon as the
	// limit is crossed.
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
// concurrently. After Inflate or InflateStream returns an error its
// history no longer matches the peer's: the connection must fail.
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
// Inflate is InflateStream reading from src. It does not modify src. Once
// its pool is warm, it allocates only when dst must grow; the output limit
// also caps the growth.
func (d *Decompressor) Inflate(dst, src []byte, limit int) ([]byte, error) {
	in := getInflater()
	defer putInflater(in)
	in.mem.Reset(src)
	return d.inflate(in, dst, &in.mem, limit, nil)
}

// InflateStream inflates one compressed message read from src until src
// returns io.EOF, appending the output to dst, and calls emit (if not nil)
// with each newly appended piece, for example to validate UTF-8 as it
// appears; the piece is part of the returned slice's memory, and emit must
// not keep it, as dst may move when it grows. It is Inflate for a message whose frames are still arriving:
// src yields the payloads of the message's frames, in order, and may block
// while the next frame is read; it must return io.EOF after the last one.
//
// The rules are Inflate's: at most limit bytes are appended, and ErrTooBig
// is returned as soon as the output would exceed limit; corrupt data
// returns an error wrapping ErrCorrupt; the 00 00 ff ff the sender removed
// is restored, a final block may end the message or start a new stream,
// and the context-takeover history is kept alike. An error from emit stops
// inflation and is returned as it is; so is an error from src other than
// io.EOF (errors.Is matches it), which tells a failed read from corrupt
// data. On any error dst is returned with its original length, and src may
// have been read only in part.
//
// Nothing is read from src beyond what the inflater needs to produce the
// next output, and nothing after src's io.EOF: the compressed message is
// never held whole, only the inflater's 4 KiB read buffer. Output reaches
// emit as soon as the inflater releases it: at every flush point (the
// empty stored block that ends a sync flush), at the end, and at least
// every 32 KiB within a long block, so bad data fails the message without
// waiting for its last frame.
//
// dst grows as output appears, by as much again as the message has
// inflated so far (at least 4 KiB, never past limit), so a huge limit,
// even math.MaxInt, reserves nothing. Once the pool is warm InflateStream
// allocates only when dst must grow.
func (d *Decompressor) InflateStream(dst []byte, src io.Reader, limit int, emit func([]byte) error) ([]byte, error) {
	in := getInflater()
	defer putInflater(in)
	return d.inflate(in, dst, src, limit, emit)
}

// inflate does the work of Inflate and InflateStream with in, reading src
// through in.br.
func (d *Decompressor) inflate(in *inflater, dst []byte, src io.Reader, limit int, emit func([]byte) error) ([]byte, error) {
	start := len(dst)
	limit = min(max(limit, 0), math.MaxInt-start) // start+limit must not overflow
	in.src = source{r: src}
	in.br.Reset(&in.src)
	in.fr.(flate.Resetter).Reset(in.br, d.hist.b)

	mark := start // output before mark has entered d.hist already
	for streams := 1; ; {
		var n int
		var err error
		if len(dst) < cap(dst) && len(dst)-start < limit {
			n, err = in.fr.Read(dst[len(dst):min(cap(dst), start+limit)])
			dst = dst[:len(dst)+n]
		} else {
			// dst is full, or at the limit: learn whether more output
			// comes before making room for it, so that a message that
			// fills dst exactly costs no allocation.
			n, err = in.fr.Read(in.probe[:])
			if n > 0 {
				if len(dst)-start >= limit {
					return dst[:start], ErrTooBig
				}
				dst = append(grow(dst, start, limit), in.probe[0])
			}
		}
		if n > 0 && emit != nil {
			if err := emit(dst[len(dst)-n:]); err != nil {
				return dst[:start], err
			}
		}
		if err == nil {
			continue
		}
		if err != io.EOF {
			if in.src.eof && in.src.n == 0 {
				// Not even the three header bits of an empty block, but
				// zlib-based peers read it as the empty message (zlib
				// waits for more input rather than fail), and so do we.
				return dst, nil
			}
			return dst[:start], in.src.cause(err)
		}
		// A block with BFINAL set has ended.
		consumed := in.src.n + in.src.tailFed - in.br.Buffered()
		if consumed == in.src.n && !in.src.eof {
			// Whether the message goes on is known only from src.
			if _, err := in.br.Peek(1); err != nil {
				return dst[:start], in.src.cause(err)
			}
		}
		switch {
		case consumed < in.src.n:
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
		case consumed == in.src.n, consumed == in.src.n+in.src.tailLen:
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

// source feeds the inflater a message read from r and then the tail,
// counting what it hands out so that inflate knows where a final block
// ended. It never reads r again once r has returned io.EOF.
type source struct {
	r       io.Reader
	n       int     // bytes read from r
	last    [4]byte // the last bytes read from r, oldest first
	eof     bool    // r has returned io.EOF
	err     error   // r's error other than io.EOF
	tail    []byte  // what is left to feed of the tail, once r has ended
	tailLen int     // the length of the tail chosen
	tailFed int     // tail bytes handed out
}

func (s *source) Read(p []byte) (int, error) {
	if !s.eof {
		n, err := s.r.Read(p)
		if n > 0 {
			s.n += n
			s.keepLast(p[:n])
		}
		switch {
		case err == io.EOF:
			s.eof = true
			s.chooseTail()
			if n > 0 {
				return n, nil
			}
		case err != nil:
			// The inflater keeps whatever error it gets; a sentinel of
			// ours lets cause recognise it, whatever r's error is.
			s.err = err
			return n, errSource
		default:
			return n, nil
		}
	}
	if len(s.tail) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.tail)
	s.tail = s.tail[n:]
	s.tailFed += n
	return n, nil
}

// keepLast remembers the last four bytes read, to tell whether the
// sender kept the sync tail.
func (s *source) keepLast(p []byte) {
	if len(p) >= len(s.last) {
		copy(s.last[:], p[len(p)-len(s.last):])
		return
	}
	copy(s.last[:], s.last[len(p):])
	copy(s.last[len(s.last)-len(p):], p)
}

// chooseTail picks what follows the message once r has ended: nothing
// after an empty message, the final empty block alone if the sender kept
// 00 00 ff ff, else both.
func (s *source) chooseTail() {
	switch {
	case s.n == 0:
		s.tail = nil
	case s.n >= len(syncTail) && bytes.Equal(s.last[:], syncTail):
		s.tail = inflateTail[len(syncTail):]
	default:
		s.tail = inflateTail[:]
	}
	s.tailLen = len(s.tail)
}

// errSource stands for r's error inside the inflater.
var errSource = errors.New("lariat: deflate: source failed")

// cause turns an error from the inflater into InflateStream's: r's own
// error (or bufio's complaint that r makes no progress) as it is, else
// corrupt data.
func (s *source) cause(err error) error {
	switch {
	case errors.Is(err, errSource):
		return s.err
	case errors.Is(err, io.ErrNoProgress):
		return err
	}
	return fmt.Errorf("%w: %w", ErrCorrupt, err)
}

// inflater is the pooled part of a Decompressor: klauspost's inflater
// (32 KiB window and Huffman tables, about 37 KB) reading through a 4 KiB
// bufio.Reader, which selects its fastest input path and, like any
// io.ByteReader, is never read past the end of a DEFLATE stream.
type inflater struct {
	fr    io.ReadCloser
	br    *bufio.Reader
	src   source
	mem   bytes.Reader // src of Inflate
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
	in.mem.Reset(nil)
	in.br.Reset(&in.src)
	in.fr.(flate.Resetter).Reset(in.br, nil)
	inflaters.Put(in)
}
