//go:build interop

package interop

import "testing"

// TestHixie76 is the place for a hixie-76 (draft-hixie-thewebsocketprotocol-76)
// client, to be added once the drafts land in the root package
// (Upgrader.Legacy). It should run a real hixie-76 client against an
// Upgrader with Legacy set: the key1/key2 handshake with its 8-byte body
// and MD5 answer, 0x00…0xFF text frames both ways, and the 0xFF 0x00 close.
func TestHixie76(t *testing.T) {
	t.Skip("waits on hixie-76 support (Upgrader.Legacy): a hixie-76 client is added here once the drafts land")
}
