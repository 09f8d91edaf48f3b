package lariat

import "encoding/binary"

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
// whether they are still a prefix of valid UTF-8. After a false result the
// state stays invalid.
func (s *utf8State) feed(p []byte) bool {
	need, lo, hi := s.need, s.lo, s.hi
	if need == utf8Bad {
		return false
	}
	i := 0
	for i < len(p) {
		if need > 0 {
			// Ranges per the table of RFC 3629 §4: the second byte of
			// E0, ED, F0 and F4 sequences is narrowed to rule out
			// overlongs, surrogates and code points above U+10FFFF.
			if c := p[i]; c < lo || c > hi {
				s.need = utf8Bad
				return false
			}
			i++
			need--
			lo, hi = 0x80, 0xbf
			continue
		}
		// ASCII fast path: eight bytes at a time while no high bit is set.
		for len(p)-i >= 8 && binary.LittleEndian.Uint64(p[i:])&0x8080808080808080 == 0 {
			i += 8
		}
		for i < len(p) && p[i] < 0x80 {
			i++
		}
		if i == len(p) {
			break
		}
		c := p[i]
		i++
		switch {
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
