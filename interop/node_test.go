//go:build interop

package interop

import (
	"path/filepath"
	"testing"
)

func TestNodeWS(t *testing.T) {
	node := needNode(t, "ws")
	s := startEcho(t)
	cfg := echoConfig(s, "node-ws", 4001)
	runClient(t, cfg, node, filepath.Join("node", "ws_client.mjs"))
	checkEndings(t, s.endings(), echoEndings(cfg))
}
