package deflate

// Sharing compressed messages between connections. A Compressor without
// context takeover produces, for a given message, bytes that depend only
// on the message and on its Setting, so a message sent to many such
// connections needs compressing once per Setting, not once per
// connection: the model is uWebSockets' shared compressor. A Compressor
// with context takeover refers to what its own connection sent before
// and must compress every message itself.

// Setting is what decides the output of a Compressor that keeps no
// context: its level, its window and the smallest message it compresses.
// Settings are comparable, so they can key a cache.
type Setting struct {
	Level, Bits, MinSize int
}

// Shared reports c's Setting and whether c keeps no context, so that its
// output for a message may be shared with every connection of the same
// Setting. ok is false for a Compressor with context takeover.
func (c *Compressor) Shared() (s Setting, ok bool) {
	return Setting{Level: c.level, Bits: c.bits, MinSize: c.minSize}, !c.takeover
}

// CompressShared compresses src exactly as every Compressor with Setting
// s and no context takeover does, with the same results as
// [Compressor.Compress]. It is safe for concurrent use.
func CompressShared(dst, src []byte, s Setting) (out []byte, compressed bool, err error) {
	c := Compressor{level: s.Level, bits: s.Bits, minSize: s.MinSize}
	return c.Compress(dst, src)
}
