package deflate

// history is an LZ77 sliding window kept outside the flate machinery: the
// last max bytes of a byte stream, oldest first, in one contiguous slice
// that can be handed to flate as a preset dictionary. It is what context
// takeover costs per connection once the pooled compressor or inflater has
// been returned.
//
// The slice grows with the stream and is never given more capacity than
// max, so a connection that only ever sees short messages holds only what
// it has seen.
type history struct {
	b   []byte
	max int
}

// add appends p to the window, dropping the oldest bytes beyond max.
func (h *history) add(p []byte) {
	if h.max <= 0 || len(p) == 0 {
		return
	}
	if len(p) >= h.max {
		h.reserve(h.max)
		h.b = append(h.b[:0], p[len(p)-h.max:]...)
		return
	}
	if drop := len(h.b) + len(p) - h.max; drop > 0 {
		h.b = h.b[:copy(h.b, h.b[drop:])]
	}
	h.reserve(len(h.b) + len(p))
	h.b = append(h.b, p...)
}

// reserve makes cap(h.b) at least n (n <= h.max), doubling but never
// beyond h.max.
func (h *history) reserve(n int) {
	if cap(h.b) >= n {
		return
	}
	c := min(max(n, 2*cap(h.b), 512), h.max)
	b := make([]byte, len(h.b), c)
	copy(b, h.b)
	h.b = b
}

// held reports the bytes of memory the window holds.
func (h *history) held() int { return cap(h.b) }
