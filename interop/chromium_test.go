//go:build interop

package interop

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

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
	up.Options.Compression = &lariat.CompressionOptions{}
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

// chromiumConfig is what chromium.mjs needs to launch Chromium on this
// machine: no sandbox as root, and none of the background traffic a
// closed network refuses. playwright-core adds --headless and a fresh
// --user-data-dir itself.
func chromiumConfig(t *testing.T, url string) config {
	return config{
		URL:        url,
		Client:     "chromium",
		MaxMessage: maxMessage,
		Chromium:   needChromium(t),
		ChromiumArgs: []string{
			"--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
		},
	}
}

func TestChromium(t *testing.T) {
	node := needNode(t, "playwright-core")
	s := startChat(t)
	cfg := chromiumConfig(t, s.http.URL+"/")
	cfg.Deflate = s.deflate
	cfg.CloseCode, cfg.CloseReason = 4003, "chromium says bye"
	runClient(t, cfg, node, filepath.Join("node", "chromium.mjs"))
	// One member closed with a code, one sent a message over the limit;
	// the others leave when their page closes, and Chromium then sends
	// 1001 (going away).
	got := s.endings()["member"]
	closed := ending{lariat.ReasonRemote, lariat.StatusCode(cfg.CloseCode), cfg.CloseReason}
	tooBig := ending{lariat.ReasonTooBig, lariat.StatusMessageTooBig, "message too big"}
	for _, want := range []ending{closed, tooBig} {
		if !slices.Contains(got, want) {
			t.Errorf("no chat member ended with %v; endings %v", want, got)
		}
	}
	for _, e := range got {
		if e != closed && e != tooBig && !(e.Kind == lariat.ReasonRemote && (e.Code == lariat.StatusNormalClosure || e.Code == lariat.StatusGoingAway)) {
			t.Errorf("a chat member ended with %v, want a normal close or going away", e)
		}
	}
}

// idleTimeout is the -idle the example runs with in TestChromiumIdle.
const idleTimeout = 2 * time.Second

// TestChromiumIdle runs the chat example's own binary with -idle 2s: a tab
// that only listens must stay in the room, and still receive, after the
// idle timeout has passed twice, since lariat pings a quiet peer before
// its idle timeout fires and the browser's pongs count. Then the script
// sends SIGTERM to the example: every tab must see 1001, and the example
// must exit 0.
func TestChromiumIdle(t *testing.T) {
	node := needNode(t, "playwright-core")
	chat := startExample(t, nil, "./examples/chat", "-addr", "127.0.0.1:0", "-compress", "-idle", idleTimeout.String())
	cfg := chromiumConfig(t, "http://"+chat.addr+"/")
	cfg.Suite = "idle"
	cfg.IdleMs = int(idleTimeout / time.Millisecond)
	cfg.ServerPid = chat.cmd.Process.Pid
	runClient(t, cfg, node, filepath.Join("node", "chromium.mjs"))
	select {
	case <-chat.exited:
	case <-time.After(stopWait):
		t.Fatalf("the example still runs %v after the script sent SIGTERM; its log:\n%s", stopWait, chat.log())
	}
	if chat.err != nil || !strings.Contains(chat.log(), "chat: shut down") {
		t.Errorf("the example exited with %v; its log:\n%s", chat.err, chat.log())
	}
}

// TestChromiumH2 runs the chat example's own binary with -tls, started
// with GODEBUG=http2xconnect=1, and opens its page over HTTPS: the page
// must come over HTTP/2, and each page's WebSocket must run on a stream
// of that HTTP/2 connection (RFC 8441), which the server tells twice: in
// the welcome it sends each member (its transport, which the page shows)
// and in the line the example logs as each member joins. Messages must
// flow both ways between two tabs.
func TestChromiumH2(t *testing.T) {
	node := needNode(t, "playwright-core")
	chat := startExample(t, []string{"GODEBUG=http2xconnect=1"}, "./examples/chat", "-addr", "127.0.0.1:0", "-tls", "-compress")
	cfg := chromiumConfig(t, "https://"+chat.addr+"/")
	cfg.Suite = "h2"
	cfg.Deflate = true // -compress
	// The example signs its own certificate at start-up.
	cfg.ChromiumArgs = append(cfg.ChromiumArgs, "--ignore-certificate-errors")
	runClient(t, cfg, node, filepath.Join("node", "chromium.mjs"))

	// The example's log is whole once it has exited.
	chat.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-chat.exited:
	case <-time.After(stopWait):
		t.Fatalf("the example still runs %v after SIGTERM", stopWait)
	}
	log := chat.log()
	if chat.err != nil || !strings.Contains(log, "chat: shut down") {
		t.Errorf("the example exited with %v; its log:\n%s", chat.err, log)
	}
	joins := joinedOver.FindAllStringSubmatch(log, -1)
	if len(joins) < 2 {
		t.Errorf("the example logged %d joins, want at least 2 (Alice and Bob); its log:\n%s", len(joins), log)
	}
	for _, j := range joins {
		if j[1] != "h2" {
			t.Errorf("a member joined over %s, want h2: %q", j[1], j[0])
		}
	}
	if strings.Contains(log, "WebSockets over HTTP/2 are off") {
		t.Errorf("the example says WebSockets over HTTP/2 are off; its log:\n%s", log)
	}
}

// joinedOver finds the example's line for a member joining, such as
// "chat: 127.0.0.1:40124 joined over h2".
var joinedOver = regexp.MustCompile(`chat: \S+ joined over (\S+)`)

// example is an example's binary, built from this tree, running.
type example struct {
	addr   string // host:port, from its log
	cmd    *exec.Cmd
	exited chan struct{} // closed when it has exited with err
	err    error

	logLines chan string
	logged   []string // read only after exited
}

func (e *example) log() string {
	select {
	case <-e.exited:
		return strings.Join(e.logged, "\n")
	default:
		return "(still running)"
	}
}

// listening finds the address in an example's startup line, such as
// "chat: open http://127.0.0.1:40123/ (compress=true ...)".
var listening = regexp.MustCompile(`//(127\.0\.0\.1:\d+)/`)

// startExample builds the example in pkg (relative to the module root)
// and runs it with args until the test ends. env holds KEY=value entries
// that take the place of this process's values of those keys in the
// example's environment.
func startExample(t *testing.T, env []string, pkg string, args ...string) *example {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	build := exec.Command("go", "build", "-o", bin, pkg)
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	e := &example{cmd: exec.Command(bin, args...), exited: make(chan struct{})}
	e.cmd.Env = append(os.Environ(), env...) // os/exec keeps the last of duplicate keys
	stderr, err := e.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		found := false
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil && !found {
				found = true
				addr <- m[1]
			}
			e.logged = append(e.logged, sc.Text())
		}
		e.err = e.cmd.Wait()
		close(e.exited)
	}()
	t.Cleanup(func() {
		e.cmd.Process.Kill()
		<-e.exited
	})
	select {
	case e.addr = <-addr:
	case <-e.exited:
		t.Fatalf("%s exited (%v) before it listened; its log:\n%s", pkg, e.err, e.log())
	case <-time.After(stopWait):
		t.Fatalf("%s did not log an address within %v", pkg, stopWait)
	}
	return e
}
