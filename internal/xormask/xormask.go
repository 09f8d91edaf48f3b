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
