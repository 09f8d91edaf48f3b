//go:build interop

package interop

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lariat-ws/lariat"
	"github.com/lariat-ws/lariat/examples/chat/chatserver"
)

// startChat starts examples/chat's handler, compressing, and records each
// member's end under the name "member".
func startChat(t *testing.T) *server {
	var s *server
	room := &chatserver.Room{
		OnLeave: func(_ *lariat.Conn, r lariat.Reason) { s.record("member", r) },
	}
	up := &lariat.Upgrader{New: room.New}
	up.Compress = true
	s = start(t, chatserver.Handler(up))
	s.deflate = probeDeflate(t, s.wsURL("/"))
	return s
}

// needChromium returns Debian's Chromium, or $LARIAT_CHROMIUM.
func needChromium(t *testing.T) string {
	t.Helper()
	p := os.Getenv("LARIAT_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s not found: run interop/run.sh, which installs Debian's chromium (no browser is ever downloaded)", p)
	}
	return p
}

func TestChromium(t *testing.T) {
	node := needNode(t, "playwright-core")
	chromium := needChromium(t)
	s := startChat(t)
	cfg := config{
		URL:         s.http.URL + "/",
		Deflate:     s.deflate,
		Client:      "chromium",
		CloseCode:   4003,
		CloseReason: "chromium says bye",
		MaxMessage:  maxMessage,
		Chromium:    chromium,
		// What this machine needs: no sandbox as root, and none of the
		// background traffic a closed network refuses. playwright-core
		// adds --headless and a fresh --user-data-dir itself.
		ChromiumArgs: []string{
			"--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
		},
	}
	runClient(t, cfg, node, filepath.Join("node", "chromium.mjs"))
	// Members other than the one closed with a code leave when their page
	// closes: Chromium then sends 1001 (going away).
	got := s.endings()["member"]
	want := ending{lariat.ReasonRemote, lariat.StatusCode(cfg.CloseCode), cfg.CloseReason}
	if !slices.Contains(got, want) {
		t.Errorf("no chat member ended with %v; endings %v", want, got)
	}
	for _, e := range got {
		if e != want && !(e.Kind == lariat.ReasonRemote && (e.Code == lariat.StatusNormalClosure || e.Code == lariat.StatusGoingAway)) {
			t.Errorf("a chat member ended with %v, want a normal close or going away", e)
		}
	}
}
