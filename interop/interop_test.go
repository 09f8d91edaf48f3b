//go:build interop

package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lariat-ws/lariat"
	"github.com/lariat-ws/lariat/internal/wstest"
)

// Bounds on waits. They are not measurements: a healthy run stays far
// below them, and they only turn a hang into a failure that says where.
const (
	clientTimeout = 2 * time.Minute  // one client script, from start to exit
	stopWait      = 10 * time.Second // server connections ending after their clients exited
)

// What every client does the same way. The scripts read these from the
// config they are given, so the expectations live in one place.
const (
	// The echo server's subprotocols, in its order of preference.
	protoV2 = "lariat.v2"
	protoV1 = "lariat.v1"

	// Text commands the echo server obeys instead of echoing them.
	cmdClose    = "lariat-interop:close"    // close with serverCloseCode
	cmdProtocol = "lariat-interop:protocol" // answer with the chosen subprotocol

	serverCloseCode   = 4100
	serverCloseReason = "server says bye"

	maxMessage = 1 << 20 // lariat's default MaxMessageSize
)

// tightDeflate is the server-side compression policy of connections that
// ask for it with ?deflate=tight: no context kept on either side, small
// windows.
var tightDeflate = lariat.CompressionOptions{
	ServerNoContextTakeover: true,
	ClientNoContextTakeover: true,
	ServerMaxWindowBits:     10,
	ClientMaxWindowBits:     10,
}

// ending is how the server saw one connection end.
type ending struct {
	Kind lariat.ReasonKind
	Code lariat.StatusCode
	Text string
}

func (e ending) String() string { return fmt.Sprintf("%v %d %q", e.Kind, e.Code, e.Text) }

// server is a lariat server on a loopback port that records how each
// connection ended, under the name its client gave it.
type server struct {
	t    *testing.T
	http *httptest.Server
	// deflate is whether the server answers a permessage-deflate offer.
	deflate bool

	mu       sync.Mutex
	ends     map[string][]ending
	versions map[string][]lariat.Version // what each connection spoke, as New saw it
	stopped  bool
}

// start serves h on 127.0.0.1 until the test ends.
func start(t *testing.T, h http.Handler) *server {
	t.Helper()
	s := &server{t: t, ends: map[string][]ending{}, versions: map[string][]lariat.Version{}}
	s.http = httptest.NewServer(h)
	t.Cleanup(s.stop)
	return s
}

func (s *server) record(name string, r lariat.Reason) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ends[name] = append(s.ends[name], ending{r.Kind, r.Code, r.Text})
}

func (s *server) recordVersion(name string, v lariat.Version) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.versions[name] = append(s.versions[name], v)
}

// stop closes the listener and waits for every connection to end:
// httptest.Server.Close does not wait for hijacked connections, which
// lariat runs on goroutines of their own, and a connection still running
// after the test would be a leak.
func (s *server) stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	s.http.Close()
	for deadline := time.Now().Add(stopWait); ; {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		if !bytes.Contains(buf, []byte("lariat.(*Conn).serve")) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Errorf("server connections still running %v after their clients exited", stopWait)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// endings stops the server and returns how its connections ended.
func (s *server) endings() map[string][]ending {
	s.stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ends
}

// startEcho starts the echo server: it sends back every data message,
// chooses the first of its subprotocols the client offers, obeys the
// cmd* commands, negotiates compression (tightDeflate with ?deflate=tight)
// and records each connection's end under the name in ?case=. Each of opts
// may change the Upgrader before it serves.
func startEcho(t *testing.T, opts ...func(*lariat.Upgrader)) *server {
	var s *server
	up := &lariat.Upgrader{
		New: func(r *http.Request, hs *lariat.Handshake) (lariat.Handler, error) {
			for _, p := range []string{protoV2, protoV1} {
				if slices.Contains(hs.Protocols, p) {
					hs.Protocol = p
					break
				}
			}
			if r.URL.Query().Get("deflate") == "tight" {
				o := tightDeflate
				hs.Options.Compression = &o
			}
			name := r.URL.Query().Get("case")
			s.recordVersion(name, hs.Version)
			return &echoHandler{name: name, s: s}, nil
		},
	}
	up.Options.Compression = &lariat.CompressionOptions{}
	for _, o := range opts {
		o(up)
	}
	s = start(t, up)
	s.deflate = probeDeflate(t, s.wsURL("/echo?case=probe"))
	return s
}

// echoHandler is the echo server's Handler for one connection.
type echoHandler struct {
	lariat.Base
	name string // the case, from ?case=
	s    *server
}

func (h *echoHandler) Handle(c *lariat.Conn, f lariat.Frame) error {
	switch {
	case f.Op == lariat.OpText && string(f.Payload) == cmdClose:
		return c.Close(serverCloseCode, serverCloseReason)
	case f.Op == lariat.OpText && string(f.Payload) == cmdProtocol:
		return c.SendText(c.Protocol())
	}
	return c.Send(f)
}

func (h *echoHandler) Terminate(_ *lariat.Conn, r lariat.Reason) { h.s.record(h.name, r) }

func (s *server) wsURL(path string) string {
	return "ws" + strings.TrimPrefix(s.http.URL, "http") + path
}

// probeDeflate reports whether the server at url answers a plain
// permessage-deflate offer. Until it does, the clients' compression checks
// report a skip instead of a failure.
func probeDeflate(t *testing.T, url string) bool {
	t.Helper()
	c := wstest.Dial(t, url, wstest.Extensions("permessage-deflate; client_max_window_bits"))
	defer c.Close()
	ok := c.Deflater() != nil
	c.WriteClose(1000, "")
	for {
		op, _, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("deflate probe: %v", err)
		}
		if op == wstest.OpClose {
			break
		}
	}
	if !ok {
		t.Logf("the server at %s does not answer permessage-deflate yet: compression checks will be skipped", url)
	}
	return ok
}

// config is what a client script is told, as one JSON argument.
type config struct {
	URL          string   `json:"url"`     // echo: ws://host:port/echo; chat: http://host:port/
	Deflate      bool     `json:"deflate"` // the server negotiates permessage-deflate
	Client       string   `json:"client"`  // the client's name, in close reasons
	CloseCode    int      `json:"closeCode"`
	CloseReason  string   `json:"closeReason"`
	ServerClose  closeCfg `json:"serverClose"`
	Commands     cmds     `json:"commands"`
	Protocols    []string `json:"protocols"` // offered, in this order
	WantProtocol string   `json:"wantProtocol"`
	MaxMessage   int      `json:"maxMessage"`
	TightDeflate bool     `json:"tightDeflate"` // ?deflate=tight is honoured
	Chromium     string   `json:"chromium,omitempty"`
	ChromiumArgs []string `json:"chromiumArgs,omitempty"`
	Draft        int      `json:"draft,omitempty"`     // hixie client: 75 or 76
	Suite        string   `json:"suite,omitempty"`     // chromium: "chat" (default) or "idle"
	IdleMs       int      `json:"idleMs,omitempty"`    // chromium idle suite: the server's idle timeout
	ServerPid    int      `json:"serverPid,omitempty"` // chromium idle suite: the process to send SIGTERM
}

type closeCfg struct {
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

type cmds struct {
	Close    string `json:"close"`
	Protocol string `json:"protocol"`
}

func echoConfig(s *server, client string, closeCode int) config {
	return config{
		URL:          s.wsURL("/echo"),
		Deflate:      s.deflate,
		Client:       client,
		CloseCode:    closeCode,
		CloseReason:  client + " says bye",
		ServerClose:  closeCfg{serverCloseCode, serverCloseReason},
		Commands:     cmds{cmdClose, cmdProtocol},
		Protocols:    []string{protoV1, "no-such-protocol", protoV2},
		WantProtocol: protoV2,
		MaxMessage:   maxMessage,
		TightDeflate: true,
	}
}

// A result line of a client script: "PASS name", "FAIL name: why",
// "SKIP name: why".
var resultLine = regexp.MustCompile(`^(PASS|FAIL|SKIP) ([^:]+?)(?:: (.*))?$`)

// runClient runs a client script with cfg as its last argument, then
// reports each of its result lines as a subtest.
func runClient(t *testing.T, cfg config, argv ...string) {
	t.Helper()
	runClientWithin(t, clientTimeout, cfg, argv...)
}

// runClientWithin is runClient with its own bound on the script.
func runClientWithin(t *testing.T, timeout time.Duration, cfg config, argv ...string) {
	t.Helper()
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], string(js))...)
	cmd.Env = append(os.Environ(), "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1", "PYTHONUNBUFFERED=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second // the pipes close even if a grandchild lingers
	runErr := cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("%s did not finish within %v; it printed:\n%s", strings.Join(argv, " "), timeout, out.String())
	}

	type result struct{ status, name, detail string }
	var results []result
	var other []string
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if m := resultLine.FindStringSubmatch(sc.Text()); m != nil {
			results = append(results, result{m[1], m[2], m[3]})
		} else if strings.TrimSpace(sc.Text()) != "" {
			other = append(other, sc.Text())
		}
	}
	if len(other) > 0 {
		t.Logf("%s printed:\n%s", filepath.Base(argv[len(argv)-1]), strings.Join(other, "\n"))
	}
	failed := false
	for _, r := range results {
		t.Run(r.name, func(t *testing.T) {
			switch r.status {
			case "PASS":
				if r.detail != "" {
					t.Log(r.detail)
				}
			case "SKIP":
				t.Skip(r.detail)
			default:
				failed = true
				t.Error(r.detail)
			}
		})
	}
	switch {
	case runErr != nil && !failed:
		t.Errorf("%s: %v, with no failed check", strings.Join(argv, " "), runErr)
	case runErr == nil && failed:
		t.Errorf("%s reported a failed check but exited 0", strings.Join(argv, " "))
	case len(results) == 0:
		t.Errorf("%s reported no checks", strings.Join(argv, " "))
	}
}

// checkEndings fails the test unless every connection ended as want says
// (one of the endings listed under its name) or, for names want does not
// list, with a normal close from the client. Every name in want must have
// been seen.
func checkEndings(t *testing.T, got map[string][]ending, want map[string][]ending) {
	t.Helper()
	for name, ends := range got {
		for _, e := range ends {
			w, ok := want[name]
			switch {
			case ok && !slices.Contains(w, e):
				t.Errorf("server saw connection %q end with %v, want %v", name, e, w)
			case !ok && e != normalClose:
				t.Errorf("server saw connection %q end with %v, want a normal close (%v)", name, e, normalClose)
			}
		}
	}
	for name, w := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("server never saw connection %q, which should end with %v", name, w)
		}
	}
	if t.Failed() {
		t.Logf("all endings: %v", got)
	}
}

var normalClose = ending{lariat.ReasonRemote, lariat.StatusNormalClosure, ""}

// interopDir is the directory of this file, where the scripts are.
func interopDir(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

// needNode returns the node binary, after checking that interop/node's
// package pkg is installed (pkg "" for a script that uses none).
func needNode(t *testing.T, pkg string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not found: run interop/run.sh, which installs nodejs and npm")
	}
	if pkg == "" {
		return node
	}
	if _, err := os.Stat(filepath.Join(interopDir(t), "node", "node_modules", pkg, "package.json")); err != nil {
		t.Fatalf("interop/node/node_modules/%s missing: run interop/run.sh, or npm ci in interop/node", pkg)
	}
	return node
}

// echoEndings is how the echo server must see the special connections of
// a client configured with cfg; every other one ends with the client's
// normal close.
func echoEndings(cfg config) map[string][]ending {
	tooBig := ending{lariat.ReasonTooBig, lariat.StatusMessageTooBig, "message too big"}
	return map[string][]ending{
		"close":             {{lariat.ReasonRemote, lariat.StatusCode(cfg.CloseCode), cfg.CloseReason}},
		"server-close":      {{lariat.ReasonStop, serverCloseCode, serverCloseReason}},
		"too-big":           {tooBig},
		"too-big-fragments": {tooBig},
	}
}
