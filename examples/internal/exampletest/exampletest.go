// Package exampletest runs an example's main in a child process, so that
// its tests see it as an operator does: its flags, its log, its answer to
// signals and its exit status. The child is the test binary itself, run
// again with an environment variable that makes [Main] call the example's
// main instead of the tests.
package exampletest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// Bound bounds every wait on the child. It is not a measurement: only a
// hung child comes near it.
const Bound = 10 * time.Second

const childEnv = "LARIAT_EXAMPLE_MAIN"

// Main is the TestMain of an example's tests: in the child started by
// [Start] it runs main and exits 0 when main returns; otherwise it runs
// the tests.
func Main(m *testing.M, main func()) {
	if os.Getenv(childEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Process is an example running in a child process.
type Process struct {
	// Addr is the address it listens on, host:port, from its log.
	Addr string

	cmd    *exec.Cmd
	exited chan struct{} // closed once the child has exited and its log is read
	err    error         // of cmd.Wait, once exited

	mu     sync.Mutex
	log    strings.Builder
	logged chan struct{} // closed, and replaced, when a line is added to log
}

// listening finds the address in the example's first log line, such as
// "echo: listening on ws://127.0.0.1:40123/ws".
var listening = regexp.MustCompile(`//(127\.0\.0\.1:\d+)/`)

// Start runs the example with args, which should include -addr
// 127.0.0.1:0, and returns once its log has said where it listens. The
// child is killed, if it still runs, when the test ends.
func Start(t testing.TB, args ...string) *Process {
	t.Helper()
	return StartEnv(t, nil, args...)
}

// StartEnv is Start with env, entries of the form KEY=value that take the
// place of the test's own values of those keys in the child's
// environment; "KEY=" leaves KEY empty. Settings that a program reads as
// it starts, such as GODEBUG, can only be given this way.
func StartEnv(t testing.TB, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{exited: make(chan struct{}), logged: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], args...)
	// os/exec keeps the last of duplicate keys.
	p.cmd.Env = append(append(os.Environ(), env...), childEnv+"=1")
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		found := false
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			close(p.logged)
			p.logged = make(chan struct{})
			p.mu.Unlock()
			if m := listening.FindStringSubmatch(sc.Text()); m != nil && !found {
				found = true
				addr <- m[1]
			}
		}
		io.Copy(io.Discard, stderr)
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	select {
	case p.Addr = <-addr:
	case <-p.exited:
		t.Fatalf("%v exited (%v) before it listened; its log:\n%s", args, p.err, p.Log())
	case <-time.After(Bound):
		t.Fatalf("%v did not log an address on 127.0.0.1 within %v; its log:\n%s", args, Bound, p.Log())
	}
	return p
}

// Log returns what the child has logged so far.
func (p *Process) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// WantLog waits, at most Bound, until the child has logged a line that
// contains s, and fails the test if it does not. The child logs on its
// own goroutines, and this process reads the log on one of its own, so a
// line the example writes before it answers a request may still be on its
// way when the answer has arrived.
func (p *Process) WantLog(t testing.TB, s string) {
	t.Helper()
	timeout := time.After(Bound)
	for {
		p.mu.Lock()
		found, logged := strings.Contains(p.log.String(), s), p.logged
		p.mu.Unlock()
		if found {
			return
		}
		select {
		case <-logged:
		case <-p.exited:
			if !strings.Contains(p.Log(), s) {
				t.Fatalf("exited (%v) without logging %q; its log:\n%s", p.err, s, p.Log())
			}
			return
		case <-timeout:
			t.Fatalf("no line with %q logged within %v; its log:\n%s", s, Bound, p.Log())
		}
	}
}

// Signal sends sig to the child; the test is skipped where the system
// cannot send it.
func (p *Process) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Skipf("cannot send %v to a child process here: %v", sig, err)
	}
}

// WantExit fails the test unless the child exits with status 0 within
// Bound.
func (p *Process) WantExit(t testing.TB) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(Bound):
		t.Fatalf("still running %v later; its log:\n%s", Bound, p.Log())
	}
	if p.err != nil {
		t.Fatalf("exited with %v; its log:\n%s", p.err, p.Log())
	}
}

// WantCut writes request to a new connection to addr, reads the response
// when wantStatus is not 0 and fails the test unless it has that status,
// then fails it unless the server closes the connection (the end of the
// stream, nothing more before it) within Bound. The wait ends on the
// server's close, not on a timer.
func WantCut(t testing.TB, addr, request string, wantStatus int) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(Bound))
	if _, err := io.WriteString(nc, request); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	if wantStatus != 0 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading the response: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != wantStatus {
			t.Fatalf("status %s, want %d", resp.Status, wantStatus)
		}
	}
	rest, err := io.ReadAll(br)
	switch {
	case len(rest) > 0:
		t.Fatalf("got %q, want the end of the stream", rest)
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Fatalf("connection still open after %v", Bound)
	case err != nil:
		t.Fatalf("want the end of the stream, got %v", err)
	}
}

// CheckHTTPLimits checks the limits the examples set on their
// http.Server: a client that does not finish its request head within
// -header-timeout is cut off, so is one that sends nothing for -http-idle
// after the response to plain (a whole request whose response has the
// status want), and a head over 16 KiB gets 431. Each case starts the
// example with only the limit it exercises shortened, so only that limit
// can end the connection.
func CheckHTTPLimits(t *testing.T, plain string, want int) {
	tests := []struct {
		name       string
		flags      []string
		request    string
		wantStatus int // 0: no response at all
	}{
		{"partial request head", []string{"-header-timeout", "200ms", "-http-idle", "1h"},
			"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n", 0},
		{"idle after a response", []string{"-header-timeout", "1h", "-http-idle", "200ms"},
			plain, want},
		{"head over 16 KiB", []string{"-header-timeout", "1h", "-http-idle", "1h"},
			"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: " + strings.Repeat("a", 32<<10) + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Start(t, append([]string{"-addr", "127.0.0.1:0"}, tt.flags...)...)
			WantCut(t, p.Addr, tt.request, tt.wantStatus)
		})
	}
}

// WantGoingAway reads c's messages until a close frame and fails the test
// unless it is 1001 (going away); it then answers the close and waits for
// the server to close the TCP connection.
func WantGoingAway(t testing.TB, c *wstest.Conn) {
	t.Helper()
	wantGoingAway(t, c)
	c.WantTCPClosed(Bound)
}

// WantGoingAwayH2 is WantGoingAway for a WebSocket on an HTTP/2 stream:
// after the close handshake the stream, not the connection, ends.
func WantGoingAwayH2(t testing.TB, st *wstest.H2Stream) {
	t.Helper()
	wantGoingAway(t, st)
	st.WantEnd()
}

// closer is a WebSocket of wstest, on a connection or a stream.
type closer interface {
	ReadMessage() (op byte, payload []byte, err error)
	WriteClose(code uint16, reason string)
}

func wantGoingAway(t testing.TB, c closer) {
	t.Helper()
	for {
		op, payload, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("want close 1001: %v", err)
		}
		if op != wstest.OpClose {
			continue
		}
		if len(payload) < 2 || binary.BigEndian.Uint16(payload) != 1001 {
			t.Fatalf("got close %q, want 1001", payload)
		}
		break
	}
	c.WriteClose(1001, "")
}
