package deflate

import (
	"bytes"
	"errors"
)

// refInflate is a second, independent inflater for tests: a direct
// transcription of RFC 1951 §3.2 in the manner of zlib's contrib/puff,
// decoding bit by bit. It follows the message rules Inflate documents
// (tail appended, a sender's own tail tolerated, a new stream after a
// final block that ends before the message, at most maxStreams streams),
// and records the longest back-reference distance it met, which is how the
// tests check that the compressor stays inside its window.
//
// Where RFC 1951 is silent it does what compress/flate does: a code-length
// code, like a literal/length or distance code, must be complete unless it
// is a single code of length 1.
type refInflater struct {
	in     []byte
	pos    int
	bitbuf uint32
	bitcnt uint

	out   []byte // history, then this message's output
	start int    // where this message's output begins in out
	base  int    // earliest byte of out a back-reference may reach
	limit int

	maxDist int // longest distance seen, in bytes
}

var (
	errRefTooBig  = errors.New("ref: too big")
	errRefCorrupt = errors.New("ref: corrupt")
	errRefEOF     = errors.New("ref: out of input")
)

// refInflate inflates msg given the history the decompressor holds (nil
// without context takeover), the history window it keeps (for restarts),
// and the output limit.
func refInflate(msg, hist []byte, window, limit int) (out []byte, maxDist int, err error) {
	if len(msg) == 0 {
		return nil, 0, nil
	}
	tail := inflateTail[:]
	if bytes.HasSuffix(msg, syncTail) {
		tail = inflateTail[4:]
	}
	r := &refInflater{
		in:    append(append([]byte(nil), msg...), tail...),
		out:   append([]byte(nil), hist...),
		start: len(hist),
		limit: limit,
	}
	for streams := 1; ; {
		final, err := r.block()
		if err != nil {
			return nil, r.maxDist, err
		}
		if !final {
			continue
		}
		r.bitbuf, r.bitcnt = 0, 0 // the rest of the byte is padding
		switch {
		case r.pos < len(msg):
			if streams++; streams > maxStreams {
				return nil, r.maxDist, errRefCorrupt
			}
			// The new stream sees the history window (with takeover) or
			// the last 32 KiB of this message (without).
			if window > 0 {
				r.base = max(r.base, len(r.out)-window)
			} else {
				r.base = max(r.start, len(r.out)-maxWindow)
			}
			continue
		case r.pos == len(msg), r.pos == len(r.in):
			return r.out[r.start:], r.maxDist, nil
		default:
			return nil, r.maxDist, errRefCorrupt
		}
	}
}

func (r *refInflater) bits(n uint) (int, error) {
	v := r.bitbuf
	for r.bitcnt < n {
		if r.pos >= len(r.in) {
			return 0, errRefEOF
		}
		v |= uint32(r.in[r.pos]) << r.bitcnt
		r.pos++
		r.bitcnt += 8
	}
	r.bitbuf = v >> n
	r.bitcnt -= n
	return int(v & (1<<n - 1)), nil
}

func (r *refInflater) emit(b byte) error {
	if len(r.out)-r.start >= r.limit {
		return errRefTooBig
	}
	r.out = append(r.out, b)
	return nil
}

// block decodes one block and reports whether it had BFINAL set.
func (r *refInflater) block() (bool, error) {
	final, err := r.bits(1)
	if err != nil {
		return false, err
	}
	typ, err := r.bits(2)
	if err != nil {
		return false, err
	}
	switch typ {
	case 0:
		err = r.stored()
	case 1:
		err = r.codes(&fixedLit, &fixedDist)
	case 2:
		err = r.dynamic()
	default:
		err = errRefCorrupt
	}
	return final == 1, err
}

func (r *refInflater) stored() error {
	r.bitbuf, r.bitcnt = 0, 0
	if r.pos+4 > len(r.in) {
		return errRefEOF
	}
	n := int(r.in[r.pos]) | int(r.in[r.pos+1])<<8
	if r.in[r.pos+2] != ^r.in[r.pos] || r.in[r.pos+3] != ^r.in[r.pos+1] {
		return errRefCorrupt
	}
	r.pos += 4
	if r.pos+n > len(r.in) {
		return errRefEOF
	}
	for _, b := range r.in[r.pos : r.pos+n] {
		if err := r.emit(b); err != nil {
			return err
		}
	}
	r.pos += n
	return nil
}

type huffman struct {
	count  [16]int
	symbol []int
}

// construct builds h from code lengths and returns the number of unused
// codes: 0 for a complete code, negative if over-subscribed.
func (h *huffman) construct(lengths []int) int {
	h.count = [16]int{}
	for _, l := range lengths {
		h.count[l]++
	}
	if h.count[0] == len(lengths) {
		return 0 // no codes: decoding with it fails
	}
	left := 1
	for l := 1; l < 16; l++ {
		left <<= 1
		left -= h.count[l]
		if left < 0 {
			return left
		}
	}
	var offs [16]int
	for l := 1; l < 15; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	h.symbol = make([]int, len(lengths))
	for sym, l := range lengths {
		if l != 0 {
			h.symbol[offs[l]] = sym
			offs[l]++
		}
	}
	return left
}

// usable reports whether a code built by construct may be used: complete,
// or a single code of length 1.
func (h *huffman) usable(left int) bool {
	if left == 0 {
		return true
	}
	if left < 0 {
		return false
	}
	n := 0
	for l := 1; l < 16; l++ {
		n += h.count[l]
	}
	return n == 1 && h.count[1] == 1
}

func (r *refInflater) decode(h *huffman) (int, error) {
	code, first, index := 0, 0, 0
	for l := 1; l < 16; l++ {
		b, err := r.bits(1)
		if err != nil {
			return 0, err
		}
		code |= b
		count := h.count[l]
		if code-count < first {
			return h.symbol[index+(code-first)], nil
		}
		index += count
		first += count
		first <<= 1
		code <<= 1
	}
	return 0, errRefCorrupt
}

var (
	lengthBase  = [29]int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]int{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}

	fixedLit, fixedDist huffman
)

func init() {
	var l [288]int
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	fixedLit.construct(l[:])
	var d [30]int
	for i := range d {
		d[i] = 5
	}
	fixedDist.construct(d[:])
}

func (r *refInflater) codes(lit, dist *huffman) error {
	for {
		sym, err := r.decode(lit)
		if err != nil {
			return err
		}
		switch {
		case sym < 256:
			if err := r.emit(byte(sym)); err != nil {
				return err
			}
			continue
		case sym == 256:
			return nil
		}
		sym -= 257
		if sym >= 29 {
			return errRefCorrupt
		}
		e, err := r.bits(lengthExtra[sym])
		if err != nil {
			return err
		}
		n := lengthBase[sym] + e
		dsym, err := r.decode(dist)
		if err != nil {
			return err
		}
		if dsym >= 30 {
			return errRefCorrupt
		}
		e, err = r.bits(distExtra[dsym])
		if err != nil {
			return err
		}
		d := distBase[dsym] + e
		if d > maxWindow || len(r.out)-d < r.base {
			return errRefCorrupt // before the available history
		}
		r.maxDist = max(r.maxDist, d)
		for range n {
			if err := r.emit(r.out[len(r.out)-d]); err != nil {
				return err
			}
		}
	}
}

var codeLengthOrder = [19]int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

func (r *refInflater) dynamic() error {
	nlen, err := r.bits(5)
	if err != nil {
		return err
	}
	ndist, err := r.bits(5)
	if err != nil {
		return err
	}
	ncode, err := r.bits(4)
	if err != nil {
		return err
	}
	nlen, ndist, ncode = nlen+257, ndist+1, ncode+4
	if nlen > 286 || ndist > 30 {
		return errRefCorrupt
	}
	var lengths [320]int
	for i := range ncode {
		if lengths[codeLengthOrder[i]], err = r.bits(3); err != nil {
			return err
		}
	}
	var lencode, distcode huffman
	if !lencode.usable(lencode.construct(lengths[:19])) {
		return errRefCorrupt
	}
	lengths = [320]int{}
	for i := 0; i < nlen+ndist; {
		sym, err := r.decode(&lencode)
		if err != nil {
			return err
		}
		if sym < 16 {
			lengths[i] = sym
			i++
			continue
		}
		var rep, l int
		switch sym {
		case 16:
			if i == 0 {
				return errRefCorrupt
			}
			l = lengths[i-1]
			rep, err = r.bits(2)
			rep += 3
		case 17:
			rep, err = r.bits(3)
			rep += 3
		default:
			rep, err = r.bits(7)
			rep += 11
		}
		if err != nil {
			return err
		}
		if i+rep > nlen+ndist {
			return errRefCorrupt
		}
		for ; rep > 0; rep-- {
			lengths[i] = l
			i++
		}
	}
	if !lencode.usable(lencode.construct(lengths[:nlen])) ||
		!distcode.usable(distcode.construct(lengths[nlen:nlen+ndist])) {
		return errRefCorrupt
	}
	return r.codes(&lencode, &distcode)
}
