package autobahn_test

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lariat-ws/lariat"
	"github.com/lariat-ws/lariat/autobahn/echoserver"
	"github.com/lariat-ws/lariat/internal/wstest"
)

// A row is one case of the suite: what the client sends, and what RFC 6455
// (or RFC 7692) requires the server to answer. Ids follow the fuzzingclient
// where a case has a counterpart there ("5.3"); an "L" in an id marks a
// case the fuzzingclient does not have ("5.L1"), and ids in family 0 and H
// are handshakes and hixie framing, which it does not test.
type row struct {
	id   string
	desc string
	want string // the outcome the RFC requires, as printed in the summary
	need need
	opts []wstest.Option // handshake options; the runner adds the case header
	// wait is Conn.Timeout for the case; zero keeps wstest's default.
	wait time.Duration
	run  func(c *wstest.Conn)
}

// need names what the server must offer for a row to run.
type need int

const (
	needNothing need = iota
	// needDeflate rows are skipped, with the reason, if the server does
	// not accept a plain permessage-deflate offer.
	needDeflate
	// needLegacy rows run against the server with Upgrader.Legacy on.
	needLegacy
)

// caseHeader carries the row id in each handshake, so the server side can
// be followed per case.
const caseHeader = "X-Lariat-Case"

var (
	srv    server // echoserver.New()
	legacy server // echoserver.NewLegacy()
)

// server is one echo server on loopback, with its bookkeeping.
type server struct {
	url string
	hs  *http.Server
	tr  *tracker
}

func startServer(up *lariat.Upgrader) server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	tr := newTracker(up)
	hs := &http.Server{Handler: tr, ReadHeaderTimeout: wstest.DefaultTimeout}
	go hs.Serve(ln)
	return server{url: "ws://" + ln.Addr().String() + "/", hs: hs, tr: tr}
}

func TestMain(m *testing.M) {
	flag.Parse()
	srv = startServer(echoserver.New())
	legacy = startServer(echoserver.NewLegacy())
	code := m.Run()
	srv.hs.Close()
	legacy.hs.Close()
	if leak := leftovers(); leak != "" {
		fmt.Fprintf(os.Stderr, "goroutines left behind by the suite:\n%s\n", leak)
		code = 1
	}
	os.Exit(code)
}

// leftovers waits (at most ten seconds) for every goroutine of lariat or of
// net/http to end, and returns the stacks of those that did not.
func leftovers() string {
	var stacks string
	for range 100 {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var left []string
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "github.com/lariat-ws/lariat.") || strings.Contains(g, "net/http.(*conn).serve") {
				left = append(left, g)
			}
		}
		if len(left) == 0 {
			return ""
		}
		stacks = strings.Join(left, "\n\n")
		time.Sleep(100 * time.Millisecond)
	}
	return stacks
}

// tracker follows the server side of each case: how many of its
// connections are live, from New to the end of Terminate (ServeHTTP
// returns once the handshake is done, long before), and the Reason each
// ended with.
type tracker struct {
	up *lariat.Upgrader

	mu      sync.Mutex
	active  map[string]int
	reasons map[string][]string
	changed chan struct{} // closed and replaced whenever active changes
}

func newTracker(up *lariat.Upgrader) *tracker {
	tr := &tracker{active: map[string]int{}, reasons: map[string][]string{}, changed: make(chan struct{})}
	inner := up.New
	up.New = func(r *http.Request, hs *lariat.Handshake) (lariat.Handler, error) {
		h, err := inner(r, hs)
		if err != nil {
			return h, err
		}
		id := r.Header.Get(caseHeader)
		tr.mu.Lock()
		tr.active[id]++
		tr.changedLocked()
		tr.mu.Unlock()
		return &recorder{Handler: h, tr: tr, id: id}, nil
	}
	tr.up = up
	return tr
}

func (tr *tracker) changedLocked() {
	close(tr.changed)
	tr.changed = make(chan struct{})
}

// ServeHTTP serves the request with the tracked Upgrader.
func (tr *tracker) ServeHTTP(w http.ResponseWriter, r *http.Request) { tr.up.ServeHTTP(w, r) }

// settle waits (bounded by wstest.DefaultTimeout) until no connection of
// case id is live, Terminate included, and returns the reasons its
// connections ended with.
func (tr *tracker) settle(t *testing.T, id string) []string {
	t.Helper()
	timeout := time.NewTimer(wstest.DefaultTimeout)
	defer timeout.Stop()
	for {
		tr.mu.Lock()
		n, reasons, changed := tr.active[id], slices.Clone(tr.reasons[id]), tr.changed
		tr.mu.Unlock()
		if n == 0 {
			return reasons
		}
		select {
		case <-changed:
		case <-timeout.C:
			t.Errorf("server: %d connection(s) of this case still live %v after the client closed", n, wstest.DefaultTimeout)
			return reasons
		}
	}
}

// recorder notes the Reason a connection ended with, and that Terminate
// runs exactly once.
type recorder struct {
	lariat.Handler
	tr    *tracker
	id    string
	calls int
}

func (h *recorder) Terminate(c *lariat.Conn, r lariat.Reason) {
	h.calls++
	note := r.Error()
	if h.calls > 1 {
		note = fmt.Sprintf("Terminate called %d times! %s", h.calls, note)
	}
	h.Handler.Terminate(c, r)
	h.tr.mu.Lock()
	h.tr.reasons[h.id] = append(h.tr.reasons[h.id], note)
	h.tr.active[h.id]--
	h.tr.changedLocked()
	h.tr.mu.Unlock()
}

// dial opens a connection for row id, with the case header added.
func dial(t testing.TB, s server, id string, opts ...wstest.Option) *wstest.Conn {
	t.Helper()
	return wstest.Dial(t, s.url, append([]wstest.Option{wstest.Header(caseHeader, id)}, opts...)...)
}

// deflateNegotiated reports whether the server answers a plain
// permessage-deflate offer: compression rows are skipped until it does.
func deflateNegotiated(t *testing.T) bool {
	c := dial(t, srv, "probe", wstest.Extensions("permessage-deflate"))
	defer closeClean(c)
	return c.Deflater() != nil
}

// TestAutobahn runs every row against echoserver and prints a summary
// table (with -v, or when a case fails).
func TestAutobahn(t *testing.T) {
	rows := allRows()
	seen := map[string]bool{}
	for _, r := range rows {
		if seen[r.id] {
			t.Fatalf("duplicate case id %s", r.id)
		}
		seen[r.id] = true
	}
	deflateOK := deflateNegotiated(t)
	srv.tr.settle(t, "probe")

	type outcome struct{ result, server string }
	results := make([]outcome, len(rows))
	t.Run("case", func(t *testing.T) {
		for i, r := range rows {
			t.Run(r.id, func(t *testing.T) {
				t.Parallel()
				var skip string
				var c *wstest.Conn
				s := srv
				if r.need == needLegacy {
					s = legacy
				}
				defer func() {
					if c != nil {
						c.Close() // a failed case stops before it closes
					}
					reasons := s.tr.settle(t, r.id)
					res := "ok"
					switch {
					case t.Failed():
						res = "FAIL"
					case t.Skipped():
						res = "skip: " + skip
					}
					results[i] = outcome{res, strings.Join(reasons, "; ")}
				}()
				switch {
				case r.need == needDeflate && !deflateOK:
					skip = "the server does not negotiate permessage-deflate (Options.Compress)"
					t.Skip(skip)
				}
				t.Logf("%s: %s; want %s", r.id, r.desc, r.want)
				c = dial(t, s, r.id, r.opts...)
				if r.wait > 0 {
					c.Timeout = r.wait
				}
				r.run(c)
			})
		}
	})

	var b strings.Builder
	counts := map[string]int{}
	fmt.Fprintf(&b, "\n%-10s %-5s %-58s %s\n", "case", "result", "expected", "server's Reason")
	ran := 0
	for i, r := range rows {
		res := results[i]
		if res.result == "" {
			continue // not selected by -run
		}
		ran++
		counts[strings.SplitN(res.result, ":", 2)[0]]++
		fmt.Fprintf(&b, "%-10s %-5s %-58s %s\n", r.id, res.result, trim(r.want, 58), res.server)
	}
	fmt.Fprintf(&b, "%d cases: %d ok, %d FAIL, %d skipped\n", ran, counts["ok"], counts["FAIL"], counts["skip"])
	t.Log(b.String())
}

func trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// allRows lists every case, family by family.
func allRows() []row {
	return slices.Concat(
		handshakeRows(),
		framingRows(),
		pingRows(),
		reservedBitRows(),
		opcodeRows(),
		fragmentationRows(),
		utf8Rows(),
		closeRows(),
		limitRows(),
		autoFragmentRows(),
		compressionRows(),
		legacyRows(),
	)
}

// Outcomes, as the summary prints them.
const (
	wantEcho      = "echo, byte-exact; clean close"
	wantPong      = "pong with the ping's payload; clean close"
	wantFail1002  = "close 1002, then TCP dropped by the server"
	wantFail1007  = "close 1007, then TCP dropped by the server"
	wantEchoFirst = "echo of what came before, then close 1002 and TCP dropped"
)

// tcpWait bounds the wait for the server to drop TCP.
const tcpWait = wstest.DefaultTimeout

// closeClean ends a case as the fuzzingclient does: the client sends close
// 1000, the server answers 1000 and then closes TCP first (RFC 6455 §7.1.1:
// the server SHOULD close the TCP connection first).
func closeClean(c *wstest.Conn) {
	c.TB().Helper()
	c.WriteClose(1000, "")
	c.WantClose(1000)
	c.WantTCPClosed(tcpWait)
}

// failsWith expects the server to fail the connection (RFC 6455 §7.1.7):
// a close frame with code, and the TCP connection closed after the client
// answers the close.
func failsWith(c *wstest.Conn, codes ...uint16) {
	c.TB().Helper()
	code, _ := c.WantClose(codes...)
	c.WriteClose(code, "")
	c.WantTCPClosed(tcpWait)
}

// echo sends one message and wants it back, then closes cleanly.
func echo(op byte, p []byte, fragment int) func(c *wstest.Conn) {
	return func(c *wstest.Conn) {
		c.TB().Helper()
		c.WriteMessage(op, p, fragment)
		c.WantMessage(op, p)
		closeClean(c)
	}
}

// text returns n bytes of ASCII text (the fuzzingclient's pattern).
func text(n int) []byte {
	return bytes.Repeat([]byte("BAsd7&jh23"), n/10+1)[:n]
}

// binary returns n bytes using every byte value.
func binary(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*31 + i>>8)
	}
	return p
}
