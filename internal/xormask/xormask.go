// Package xormask XORs bytes with a repeating 4-byte key: the masking of
// RFC 6455 §5.3, which every byte a client sends goes through.
//
// Short inputs, the common case for WebSocket frames, are done in Go by
// XOR itself, so a call costs one plain function call. Longer ones go to
// a bulk routine where the architecture has one: on amd64, assembly using
// AVX2 where the CPU and the operating system support it and SSE2 (part
// of every amd64) otherwise, because the compiler does not vectorize and
// the 64-bit word loop below tops out near a quarter of what copy()
// reaches. Other architectures, and builds with the purego tag, use the
// word loop for every length.
package xormask

import "encoding/binary"

// XOR xors b in place with key repeated from b[0] on, least significant
// byte first: b[i] ^= byte(key >> (8 * (i % 4))).
func XOR(b []byte, key uint32) {
	k := uint64(key)<<32 | uint64(key)
	if hasBulk && len(b) >= bulkMin {
		xorBulk(b, k)
		return
	}
	// The compiler turns each binary.LittleEndian load, xor and store
	// into one read-modify-write instruction.
	for len(b) >= 32 {
		v := b[:32:32]
		binary.LittleEndian.PutUint64(v[0:], binary.LittleEndian.Uint64(v[0:])^k)
		binary.LittleEndian.PutUint64(v[8:], binary.LittleEndian.Uint64(v[8:])^k)
		binary.LittleEndian.PutUint64(v[16:], binary.LittleEndian.Uint64(v[16:])^k)
		binary.LittleEndian.PutUint64(v[24:], binary.LittleEndian.Uint64(v[24:])^k)
		b = b[32:]
	}
	if len(b) == 0 {
		return
	}
	// The last 1-31 bytes in straight-line steps of 16, 8, 4, 2 and 1
	// rather than loops: frames of a few bytes are frequent, and the
	// steps cost a predictable branch each. The key repeats every 4
	// bytes, so only the 2-byte step leaves it to be shifted.
	if len(b) >= 16 {
		v := b[:16:16]
		binary.LittleEndian.PutUint64(v[0:], binary.LittleEndian.Uint64(v[0:])^k)
		binary.LittleEndian.PutUint64(v[8:], binary.LittleEndian.Uint64(v[8:])^k)
		b = b[16:]
	}
	if len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k)
		b = b[8:]
	}
	if len(b) >= 4 {
		binary.LittleEndian.PutUint32(b, binary.LittleEndian.Uint32(b)^uint32(k))
		b = b[4:]
	}
	if len(b) >= 2 {
		binary.LittleEndian.PutUint16(b, binary.LittleEndian.Uint16(b)^uint16(k))
		b = b[2:]
		k >>= 16
	}
	if len(b) == 1 {
		b[0] ^= byte(k)
	}
}

// asciiBits has the high bit of each byte of a word set: a byte is ASCII
// when its high bit is clear.
const asciiBits = 0x8080808080808080

// XORCopy sets dst[i] = src[i] ^ byte(key >> (8 * (i % 4))) for every i
// below len(src), as XOR does in place, and reports whether every byte
// it wrote is ASCII (below 0x80). Unmasking a text payload and finding
// out that it needs no UTF-8 validation then take one pass over it, not
// two: the test costs an OR per word that was loaded anyway.
//
// dst must be at least as long as src, and either begin where src begins
// (unmasking in place) or not overlap it at all.
func XORCopy(dst, src []byte, key uint32) (ascii bool) {
	k := uint64(key)<<32 | uint64(key)
	if hasBulk && len(src) >= bulkMin {
		return xorCopyBulk(dst[:len(src)], src, k)
	}
	return xorCopyWords(dst, src, k)
}

// xorCopyWords is XORCopy in portable Go, 8 bytes per load, with the
// straight-line tail of XOR.
func xorCopyWords(dst, src []byte, k uint64) bool {
	dst = dst[:len(src)]
	var acc uint64
	for len(src) >= 32 {
		s, d := src[:32:32], dst[:32:32]
		w0 := binary.LittleEndian.Uint64(s[0:]) ^ k
		w1 := binary.LittleEndian.Uint64(s[8:]) ^ k
		w2 := binary.LittleEndian.Uint64(s[16:]) ^ k
		w3 := binary.LittleEndian.Uint64(s[24:]) ^ k
		binary.LittleEndian.PutUint64(d[0:], w0)
		binary.LittleEndian.PutUint64(d[8:], w1)
		binary.LittleEndian.PutUint64(d[16:], w2)
		binary.LittleEndian.PutUint64(d[24:], w3)
		acc |= w0 | w1 | w2 | w3
		src, dst = src[32:], dst[32:]
	}
	if len(src) >= 16 {
		w0 := binary.LittleEndian.Uint64(src[0:]) ^ k
		w1 := binary.LittleEndian.Uint64(src[8:16]) ^ k
		binary.LittleEndian.PutUint64(dst[0:], w0)
		binary.LittleEndian.PutUint64(dst[8:16], w1)
		acc |= w0 | w1
		src, dst = src[16:], dst[16:]
	}
	if len(src) >= 8 {
		w := binary.LittleEndian.Uint64(src) ^ k
		binary.LittleEndian.PutUint64(dst, w)
		acc |= w
		src, dst = src[8:], dst[8:]
	}
	if len(src) >= 4 {
		w := binary.LittleEndian.Uint32(src) ^ uint32(k)
		binary.LittleEndian.PutUint32(dst, w)
		acc |= uint64(w)
		src, dst = src[4:], dst[4:]
	}
	if len(src) >= 2 {
		w := binary.LittleEndian.Uint16(src) ^ uint16(k)
		binary.LittleEndian.PutUint16(dst, w)
		acc |= uint64(w)
		src, dst = src[2:], dst[2:]
		k >>= 16
	}
	if len(src) == 1 {
		w := src[0] ^ byte(k)
		dst[0] = w
		acc |= uint64(w)
	}
	return acc&asciiBits == 0
}
