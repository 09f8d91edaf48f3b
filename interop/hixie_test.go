//go:build interop

package interop

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/lariat-ws/lariat"
)

// hixieTimeout bounds the hixie client script. A healthy run takes about a
// second; each of its waits gives up after 4 s, so a hang fails with what
// was awaited well before this.
const hixieTimeout = 15 * time.Second

// TestHixie76 runs node/hixie_client.mjs, a hixie-76 client written from
// the draft (no maintained one exists), against the echo server with
// Upgrader.Legacy set.
func TestHixie76(t *testing.T) { testHixie(t, 76) }

// TestHixie75 runs the same client speaking hixie-75.
func TestHixie75(t *testing.T) { testHixie(t, 75) }

func testHixie(t *testing.T, draft int) {
	node := needNode(t, "")
	s := startEcho(t, func(u *lariat.Upgrader) { u.Legacy = true })
	cfg := config{
		URL:         s.wsURL("/echo"),
		Client:      "hixie",
		ServerClose: closeCfg{serverCloseCode, serverCloseReason},
		Commands:    cmds{cmdClose, cmdProtocol},
		// The drafts offer one protocol, not a list: the client offers
		// each of these alone and expects it back.
		Protocols:  []string{protoV1, protoV2},
		MaxMessage: maxMessage,
		Draft:      draft,
	}
	runClientWithin(t, hixieTimeout, cfg, node, filepath.Join("node", "hixie_client.mjs"))
	ends := s.endings()
	checkEndings(t, ends, hixieEndings())

	want := lariat.VersionHixie76
	if draft == 75 {
		want = lariat.VersionHixie75
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, vs := range s.versions {
		for _, v := range vs {
			if name != "probe" && v != want {
				t.Errorf("server served connection %q as %v, want %v", name, v, want)
			}
		}
	}
}

// hixieEndings is how the echo server must see the special connections of
// the hixie client; every other one ends with the client's close, which
// lariat reports as a remote close with 1000: hixie-76's 0xFF 0x00, or
// the end of a hixie-75 stream between messages.
func hixieEndings() map[string][]ending {
	badUTF8 := ending{lariat.ReasonBadEncoding, lariat.StatusInvalidPayload, "invalid UTF-8"}
	return map[string][]ending{
		"close":              {normalClose},
		"server-close":       {{lariat.ReasonStop, serverCloseCode, serverCloseReason}},
		"bad-utf8":           {badUTF8},
		"bad-utf8-early":     {badUTF8},
		"bad-utf8-truncated": {badUTF8},
	}
}
