//go:build interop

package interop

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// needPython returns a Python 3 that can import websockets: $LARIAT_PYTHON,
// Debian's /usr/bin/python3 (where python3-websockets installs), or the
// python3 on PATH, in that order.
func needPython(t *testing.T) string {
	t.Helper()
	var cands []string
	if p := os.Getenv("LARIAT_PYTHON"); p != "" {
		cands = append(cands, p)
	}
	cands = append(cands, "/usr/bin/python3")
	if p, err := exec.LookPath("python3"); err == nil {
		cands = append(cands, p)
	}
	for _, p := range cands {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := exec.CommandContext(ctx, p, "-c", "import websockets").Run()
		cancel()
		if err == nil {
			return p
		}
	}
	t.Fatalf("no Python 3 with the websockets module among %v: run interop/run.sh, which installs python3-websockets", cands)
	return ""
}

func TestPythonWebsockets(t *testing.T) {
	py := needPython(t)
	s := startEcho(t)
	cfg := echoConfig(s, "python-websockets", 4002)
	runClient(t, cfg, py, filepath.Join("python", "websockets_client.py"))
	checkEndings(t, s.endings(), echoEndings(cfg))
}
