//go:build interop

package interop

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// clusterDir is examples/chat/cluster, the chat on NATS: a module of its
// own, which this package, in the lariat module, builds and runs but
// cannot import.
const clusterDir = "../examples/chat/cluster"

// TestChromiumTwoNodes runs the chat on two nodes joined by a real NATS
// server, both built from this tree: the NATS server at the version
// examples/chat/cluster's go.mod requires, which its documentation
// tells newcomers to run, and the cluster command itself, node 0
// compressing and node 1 not. node/twonode.mjs then opens a page on each
// node and checks that what each says reaches the other, byte for byte
// and never back to itself, and that joins and leaves cross nodes.
// Last, SIGTERM to each node must close it cleanly.
func TestChromiumTwoNodes(t *testing.T) {
	node := needNode(t, "playwright-core")
	dir := t.TempDir()
	natsServer := buildInCluster(t, dir, "nats-server", "github.com/nats-io/nats-server/v2")
	chat := buildInCluster(t, dir, "chat", ".")

	// Random ports, read back from the server's log; the monitoring
	// port tells the script when a node's subscription has reached the
	// server.
	ns := startClusterProc(t, natsServer, []string{"-a", "127.0.0.1", "-p", "-1", "-m", "-1"},
		regexp.MustCompile(`Listening for client connections on (127\.0\.0\.1:\d+)`),
		regexp.MustCompile(`Starting http monitor on (127\.0\.0\.1:\d+)`))
	natsURL := "nats://" + ns.addrs[0]
	var nodes [2]*clusterProc
	for i, extra := range [][]string{{"-compress"}, nil} {
		args := append([]string{"-addr", "127.0.0.1:0", "-nats", natsURL}, extra...)
		nodes[i] = startClusterProc(t, chat, args, regexp.MustCompile(`chat: open http://(127\.0\.0\.1:\d+)/`))
	}
	url0, url1 := "http://"+nodes[0].addrs[0]+"/", "http://"+nodes[1].addrs[0]+"/"

	cfg := chromiumConfig(t, url0)
	cfg.MaxMessage = announcedLimit(t, nodes[0].addrs[0])
	runClient(t, cfg, node, filepath.Join("node", "twonode.mjs"), url0, url1, "http://"+ns.addrs[1])

	// The oversized message went to node 1, which says why its sender
	// left.
	for i, n := range nodes {
		if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		n.wait(t)
		if n.err != nil || !strings.Contains(n.log(), "chat: shut down") {
			t.Errorf("node %d exited with %v; its log:\n%s", i, n.err, n.log())
		}
	}
	if !strings.Contains(nodes[1].log(), "(close 1009)") {
		t.Errorf("node 1's log does not show a member leaving with 1009:\n%s", nodes[1].log())
	}
}

// buildInCluster builds pkg in examples/chat/cluster's module, at the
// versions its go.mod and go.sum pin, into dir/name.
func buildInCluster(t *testing.T, dir, name, pkg string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	build := exec.Command("go", "build", "-o", bin, pkg)
	build.Dir = clusterDir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %s in %s: %v\n%s", pkg, clusterDir, err, out)
	}
	return bin
}

// announcedLimit joins a room of its own on the node at addr and returns the
// largest message its welcome announces: 1 MiB less what the Broker and
// the room add, so that a message fits the NATS server's default limit.
func announcedLimit(t *testing.T, addr string) int {
	t.Helper()
	c := wstest.Dial(t, "ws://"+addr+"/?name=probe&room=probe")
	defer c.Close()
	op, p, err := c.ReadMessage()
	if err != nil || op != wstest.OpText || !strings.HasPrefix(string(p), "\x01") {
		t.Fatalf("want the welcome, got %s %q (err %v)", wstest.OpName(op), p, err)
	}
	var w struct {
		System     string `json:"system"`
		Members    *int   `json:"members"`
		MaxMessage int    `json:"maxMessage"`
	}
	if err := json.Unmarshal(p[1:], &w); err != nil || w.System != "welcome" {
		t.Fatalf("want the welcome, got %q (%v)", p, err)
	}
	if w.Members != nil {
		t.Errorf("the welcome counts %d members: a node of a cluster cannot know", *w.Members)
	}
	if w.MaxMessage <= 0 || w.MaxMessage > 1<<20 {
		t.Fatalf("the welcome announces a limit of %d bytes", w.MaxMessage)
	}
	c.WriteClose(1000, "")
	c.WantClose(1000)
	return w.MaxMessage
}

// clusterProc is a program of the two-node test, running until the test
// ends.
type clusterProc struct {
	addrs  []string // what its log said, one per pattern
	cmd    *exec.Cmd
	exited chan struct{} // closed when it has exited with err
	err    error
	logged []string // read only after exited
}

// startClusterProc runs bin with args and returns once its log (stderr)
// has matched each of patterns, whose first groups it keeps in addrs.
func startClusterProc(t *testing.T, bin string, args []string, patterns ...*regexp.Regexp) *clusterProc {
	t.Helper()
	p := &clusterProc{cmd: exec.Command(bin, args...), exited: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan []string, 1)
	go func() {
		addrs := make([]string, len(patterns))
		left := len(patterns)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			for i, re := range patterns {
				if m := re.FindStringSubmatch(sc.Text()); m != nil && addrs[i] == "" {
					addrs[i] = m[1]
					if left--; left == 0 {
						found <- addrs
					}
				}
			}
			p.logged = append(p.logged, sc.Text())
		}
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	select {
	case p.addrs = <-found:
	case <-p.exited:
		t.Fatalf("%s exited (%v) before it listened; its log:\n%s", filepath.Base(bin), p.err, p.log())
	case <-time.After(stopWait):
		t.Fatalf("%s did not log where it listens within %v", filepath.Base(bin), stopWait)
	}
	return p
}

// wait waits, within stopWait, for the program to exit.
func (p *clusterProc) wait(t *testing.T) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(stopWait):
		t.Fatalf("%s still runs %v after SIGTERM", p.cmd.Path, stopWait)
	}
}

func (p *clusterProc) log() string {
	select {
	case <-p.exited:
		return strings.Join(p.logged, "\n")
	default:
		return "(still running)"
	}
}
