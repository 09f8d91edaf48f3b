package lariat

import (
	"encoding/binary"
	"math/bits"
)

// utf8State validates UTF-8 incrementally: a message is fed to it in
// pieces, as they come off the wire, and it fails on the first byte that
// can begin no valid sequence, without waiting for the end of the message.
// Autobahn's cases 6.4.x call that behaviour strict; validating the whole
// message at its end is marked non-strict.
//
// The zero value is ready to validate a new message.
type utf8State struct {
	need   uint8 // continuation bytes still expected; utf8Bad after a failure
	lo, hi byte  // the range allowed for the next continuation byte
}

const utf8Bad = 0xff

// feed validates p as the continuation of the bytes fed so far and reports
// whether they are still a prefix of valid UTF-8: false as soon as p holds
// a byte that no continuation can make valid. After a false result the
// state stays invalid.
//
// Where the CPU allows (utf8_amd64.s), pieces of utf8VectorMin bytes or
// more go through vector code, 32 bytes per step with AVX2 and 64 with
// AVX-512 BW; scan does the rest.
func (s *utf8State) feed(p []byte) bool {
	if s.need != 0 {
		var ok bool
		if p, ok = s.finish(p); !ok {
			return false
		}
	}
	if hasUTF8Vector && len(p) >= utf8VectorMin {
		n, ok := utf8Vector(p)
		if !ok {
			s.need = utf8Bad
			return false
		}
		k := utf8Resume(p[:n])
		if k == len(p) {
			return true // all checked, and no sequence cut at the end
		}
		p = p[k:]
	}
	return s.scan(p)
}

// feedUnmasked is feed for a piece that unmask has just written, told
// whether it is all ASCII: ASCII that follows a character boundary is
// valid as it is, so only pieces with other bytes, or that must finish
// a sequence begun before them, are looked at again.
func (s *utf8State) feedUnmasked(p []byte, ascii bool) bool {
	if ascii && s.need == 0 {
		return true
	}
	return s.feed(p)
}

// utf8VectorMin is the shortest piece worth the call into vector code:
// below it, the word loop of scan is as fast.
const utf8VectorMin = 64

// utf8Resume returns where validation goes on after the vector code
// checked q: at the lead of a sequence that the end of q may cut (the
// vector code checks no sequence it cannot see whole), else at the end
// of q.
func utf8Resume(q []byte) int {
	for i := len(q) - 1; i >= 0 && i >= len(q)-3; i-- {
		switch c := q[i]; {
		case c < 0x80:
			return len(q)
		case c >= 0xc0:
			return i
		}
	}
	return len(q)
}

// feedGeneric is feed without the vector code: what runs where the CPU
// has none. Tests and benchmarks call it to check and measure that path
// on every machine.
func (s *utf8State) feedGeneric(p []byte) bool {
	if s.need != 0 {
		var ok bool
		if p, ok = s.finish(p); !ok {
			return false
		}
	}
	return s.scan(p)
}

// finish validates the rest of a sequence begun in an earlier piece and
// returns what follows it in p.
func (s *utf8State) finish(p []byte) ([]byte, bool) {
	if s.need == utf8Bad {
		return nil, false
	}
	// slow starts no new sequence within the need bytes it is given, and
	// if p is shorter, what is left of it is empty.
	k := min(int(s.need), len(p))
	if !s.slow(p[:k]) {
		return nil, false
	}
	return p[k:], true
}

// scan validates p, which begins on a character boundary, with word-wide
// loads.
//
// Only the end of p goes byte by byte (the last 0-3 bytes); before it,
// each sequence lies wholly inside p and is checked at once from a 4-byte
// load. Runs of ASCII, and of 2- and 3-byte characters, have loops of
// their own, so the branch that picks a loop is taken once per run rather
// than once per character.
func (s *utf8State) scan(p []byte) bool {
	n := len(p)
	i := 0
	for i <= n-4 {
		w := binary.LittleEndian.Uint32(p[i:])
		if w&0x80 == 0 {
			if w&0x80808080 != 0 {
				// Skip the 1-3 ASCII bytes before the first that is not.
				i += bits.TrailingZeros32(w&0x80808080) / 8
				continue
			}
			// Eight 64-bit loads per iteration: pure ASCII is then
			// bound by the two loads per cycle the core can do, as
			// unicode/utf8.Valid's 32-byte loop already nearly is.
			i += 4
			for i <= n-64 {
				q := p[i : i+64 : i+64]
				if (binary.LittleEndian.Uint64(q[0:])|binary.LittleEndian.Uint64(q[8:])|
					binary.LittleEndian.Uint64(q[16:])|binary.LittleEndian.Uint64(q[24:])|
					binary.LittleEndian.Uint64(q[32:])|binary.LittleEndian.Uint64(q[40:])|
					binary.LittleEndian.Uint64(q[48:])|binary.LittleEndian.Uint64(q[56:]))&0x8080808080808080 != 0 {
					break
				}
				i += 64
			}
			for i <= n-16 {
				if (binary.LittleEndian.Uint64(p[i:])|binary.LittleEndian.Uint64(p[i+8:]))&0x8080808080808080 != 0 {
					break
				}
				i += 16
			}
			continue
		}
		// The lead byte fixes the sequence length and the range of the
		// second byte (RFC 3629 §4: narrowed after E0, ED, F0 and F4
		// to rule out overlongs, surrogates and code points above
		// U+10FFFF); later bytes are plain continuations, 10xxxxxx.
		x := utf8Lead[byte(w)]
		if byte(w>>8)-byte(x) > byte(x>>8) {
			s.need = utf8Bad
			return false
		}
		// The length picks the branch, rather than being added to i
		// from the table: a branch is predicted, so the next load need
		// not wait for this one and the table lookup. Computing i
		// ran at half the speed.
		switch x >> 16 {
		case 2:
			i += 2
			// Greek, Cyrillic, Hebrew, Arabic...: two characters of
			// the form C2-DF 80-BF per iteration.
			for i <= n-4 {
				w := binary.LittleEndian.Uint32(p[i:])
				if w&0xc0e0c0e0 != 0x80c080c0 || w&0x1e == 0 || w&0x1e0000 == 0 {
					break
				}
				i += 4
			}
		case 3:
			if w&0xc00000 != 0x800000 {
				s.need = utf8Bad
				return false
			}
			i += 3
			// CJK and most other 3-byte text: E1-EC or EE-EF, then
			// two continuations. E0 and ED, whose second byte is
			// narrowed, go back through the table.
			for i <= n-4 {
				w := binary.LittleEndian.Uint32(p[i:])
				if w&0xc0c0f0 != 0x8080e0 || w&0x0f == 0 || w&0x0f == 0x0d {
					break
				}
				i += 3
			}
		case 4:
			if w&0xc0c00000 != 0x80800000 {
				s.need = utf8Bad
				return false
			}
			i += 4
		default: // 80-C1 and F5-FF begin no sequence
			s.need = utf8Bad
			return false
		}
	}
	// Messages often end in ASCII: spare those the call.
	for i < n && p[i] < 0x80 {
		i++
	}
	if i == n {
		return true
	}
	return s.slow(p[i:])
}

// utf8Lead describes, for a byte that is not ASCII, the sequence it begins:
// the lowest allowed second byte in bits 0-7, the width of the allowed
// range less one in bits 8-15, and the sequence length in bits 16-23,
// 0 when the byte can begin none.
var utf8Lead = func() (t [256]uint32) {
	set := func(c, n int, lo, hi byte) {
		t[c] = uint32(lo) | uint32(hi-lo)<<8 | uint32(n)<<16
	}
	for c := 0x80; c <= 0xff; c++ {
		switch {
		case c < 0xc2:
			set(c, 0, 0x80, 0xbf)
		case c < 0xe0:
			set(c, 2, 0x80, 0xbf)
		case c == 0xe0:
			set(c, 3, 0xa0, 0xbf)
		case c == 0xed:
			set(c, 3, 0x80, 0x9f)
		case c < 0xf0:
			set(c, 3, 0x80, 0xbf)
		case c == 0xf0:
			set(c, 4, 0x90, 0xbf)
		case c < 0xf4:
			set(c, 4, 0x80, 0xbf)
		case c == 0xf4:
			set(c, 4, 0x80, 0x8f)
		default:
			set(c, 0, 0x80, 0xbf)
		}
	}
	return t
}()

// slow validates p one byte at a time, carrying a sequence cut at either
// edge of p in s.
func (s *utf8State) slow(p []byte) bool {
	need, lo, hi := s.need, s.lo, s.hi
	for _, c := range p {
		if need > 0 {
			if c < lo || c > hi {
				s.need = utf8Bad
				return false
			}
			need--
			lo, hi = 0x80, 0xbf
			continue
		}
		switch {
		case c < 0x80:
		case c < 0xc2: // a lone continuation byte, or an overlong C0/C1 lead
			s.need = utf8Bad
			return false
		case c < 0xe0:
			need, lo, hi = 1, 0x80, 0xbf
		case c == 0xe0:
			need, lo, hi = 2, 0xa0, 0xbf
		case c == 0xed:
			need, lo, hi = 2, 0x80, 0x9f
		case c < 0xf0:
			need, lo, hi = 2, 0x80, 0xbf
		case c == 0xf0:
			need, lo, hi = 3, 0x90, 0xbf
		case c < 0xf4:
			need, lo, hi = 3, 0x80, 0xbf
		case c == 0xf4:
			need, lo, hi = 3, 0x80, 0x8f
		default: // F5..FF never appear in UTF-8
			s.need = utf8Bad
			return false
		}
	}
	s.need, s.lo, s.hi = need, lo, hi
	return true
}

// complete reports whether the bytes fed so far end on a character
// boundary: a message may end only there.
func (s *utf8State) complete() bool { return s.need == 0 }

// validUTF8 reports whether p, whole, is valid UTF-8.
func validUTF8(p []byte) bool {
	var s utf8State
	return s.feed(p) && s.complete()
}
