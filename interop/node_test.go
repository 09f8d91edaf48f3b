//go:build interop

package interop

import (
	"path/filepath"
	"testing"

	"github.com/lariat-ws/lariat"
)

func TestNodeWS(t *testing.T) {
	node := needNode(t, "ws")
	s := startEcho(t)
	cfg := echoConfig(s, "node-ws", 4001)
	runClient(t, cfg, node, filepath.Join("node", "ws_client.mjs"))
	want := echoEndings(cfg)
	// 1 MiB of noise, compressed: the server should echo it, and
	// refuses it for now (a known issue: see README.md).
	want["deflate-at-limit"] = []ending{normalClose, {lariat.ReasonTooBig, lariat.StatusMessageTooBig, "message too big"}}
	checkEndings(t, s.endings(), want)
}
