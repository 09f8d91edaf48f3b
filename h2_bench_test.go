package lariat

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// The benchmarks compare WebSocket over an HTTP/2 stream with WebSocket
// over its own HTTP/1.1 connection. The server runs in a child process
// (this test binary, running TestH2BenchServer with GODEBUG=http2xconnect=1),
// so that extended CONNECT is on there whatever this process's
// environment, its heap holds server state only, and its CPU time can be
// read apart from the client's.
//
//	go test -run '^$' -bench 'H2Echo' -benchtime 20000x .
//	go test -run '^$' -bench 'H2Idle' -benchtime 1000x .

const h2BenchServerEnv = "LARIAT_H2_BENCH_SERVER" // "echo" or "hibernate"

// h2BenchServer is the child process: it serves WebSockets on HTTP/1.1
// and h2c and answers "mem" and "cpu" on its stdin.
type h2BenchServer struct {
	addr string
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
}

func startH2BenchServer(b *testing.B, mode string) *h2BenchServer {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestH2BenchServer$", "-test.count=1")
	godebug := "http2xconnect=1"
	if v := os.Getenv("GODEBUG"); v != "" {
		godebug = v + "," + godebug
	}
	cmd.Env = append(os.Environ(), "GODEBUG="+godebug, h2BenchServerEnv+"="+mode)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	s := &h2BenchServer{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	b.Cleanup(func() {
		in.Close()
		io.Copy(io.Discard, out)
		cmd.Wait()
	})
	s.addr = s.ask(b, "")[0]
	return s
}

// ask sends a command (none: wait for the greeting) and returns the
// fields of the answer line.
func (s *h2BenchServer) ask(b *testing.B, cmd string) []string {
	b.Helper()
	if cmd != "" {
		fmt.Fprintln(s.in, cmd)
	}
	for s.out.Scan() {
		if f := strings.Fields(s.out.Text()); len(f) > 1 && f[0] == "h2bench" {
			return f[1:]
		}
	}
	b.Fatalf("server process: %v", s.out.Err())
	return nil
}

// TestH2BenchServer is the benchmarks' server process; it does nothing
// unless the benchmarks started it.
func TestH2BenchServer(t *testing.T) {
	mode := os.Getenv(h2BenchServerEnv)
	if mode == "" {
		t.Skip("the server process of the HTTP/2 benchmarks")
	}
	if !extendedConnect {
		t.Fatal("extended CONNECT is off")
	}
	u := &Upgrader{New: func(*http.Request, *Handshake) (Handler, error) {
		return &funcs{onHandle: func(c *Conn, f Frame) error {
			if mode == "hibernate" {
				c.Hibernate()
			}
			return c.Send(f)
		}}, nil
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: u, Protocols: new(http.Protocols), HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 1 << 20}}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	go srv.Serve(ln)
	defer srv.Close()
	fmt.Println("h2bench", ln.Addr())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "mem":
			var m runtime.MemStats
			runtime.GC()
			runtime.GC()
			runtime.ReadMemStats(&m)
			fmt.Println("h2bench", m.HeapAlloc, m.StackInuse, runtime.NumGoroutine())
		case "cpu":
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			fmt.Println("h2bench", cpuTime(), m.Mallocs, m.TotalAlloc)
		}
	}
}

// cpuTime returns the process's user and system CPU time, in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkH2Echo: one op is a 1 KiB binary message echoed by the server,
// over an HTTP/2 stream or an HTTP/1.1 connection of its own, on
// loopback. Besides ns/op (a round trip), it reports the CPU time per
// message of the server process and of this, the client's.
func BenchmarkH2Echo(b *testing.B) {
	payload := make([]byte, 1024)
	msg := wstest.MaskedFrame(true, 0, wstest.OpBinary, payload)
	echoLen := 4 + len(payload) // the server's header: 2 bytes and a 16-bit length
	for _, tr := range []string{"h2", "http1.1"} {
		b.Run("transport="+tr, func(b *testing.B) {
			srv := startH2BenchServer(b, "echo")
			var w func([]byte) error
			var r io.Reader
			if tr == "h2" {
				st, _ := wstest.DialH2(b, "http://"+srv.addr).Connect("/")
				w, r = func(p []byte) error { return st.SendData(p, false) }, st
			} else {
				nc, br := dialH1(b, srv.addr)
				w, r = func(p []byte) error { _, err := nc.Write(p); return err }, br
			}
			buf := make([]byte, echoLen)
			round := func() {
				if err := w(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(r, buf); err != nil {
					b.Fatal(err)
				}
			}
			round()
			server0, client0 := srv.ask(b, "cpu"), cpuTime()
			b.SetBytes(int64(len(payload)))
			b.ResetTimer()
			for range b.N {
				round()
			}
			b.StopTimer()
			server := srv.ask(b, "cpu")
			perOp := func(i int) float64 {
				x, _ := strconv.ParseFloat(server0[i], 64)
				y, _ := strconv.ParseFloat(server[i], 64)
				return (y - x) / float64(b.N)
			}
			b.ReportMetric(perOp(0), "server-cpu-ns/op")
			b.ReportMetric(perOp(1), "server-allocs/op")
			b.ReportMetric(perOp(2), "server-B/op")
			b.ReportMetric(float64(cpuTime()-client0)/float64(b.N), "client-cpu-ns/op")
		})
	}
}

// BenchmarkH2Idle measures the server's memory per idle WebSocket: one op
// is one WebSocket (run it with -benchtime=1000x), all of them streams of
// one HTTP/2 connection, or each an HTTP/1.1 connection of its own. Each
// sends one 16-byte message, gets its echo and stays idle; the server
// process's heap after GC and its goroutine stacks are compared with
// those before the first. With mode=hibernate the handler calls
// Conn.Hibernate after each message.
func BenchmarkH2Idle(b *testing.B) {
	for _, mode := range []string{"echo", "hibernate"} {
		for _, tr := range []string{"h2", "http1.1"} {
			b.Run("mode="+mode+"/transport="+tr, func(b *testing.B) {
				srv := startH2BenchServer(b, mode)
				before := srv.ask(b, "mem")
				msg := wstest.MaskedFrame(true, 0, wstest.OpBinary, make([]byte, 16))
				buf := make([]byte, 2+16)
				var h2c *wstest.H2Conn
				if tr == "h2" {
					h2c = wstest.DialH2(b, "http://"+srv.addr)
				}
				b.ResetTimer()
				for range b.N {
					var err error
					if h2c != nil {
						st, _ := h2c.Connect("/")
						if err = st.SendData(msg, false); err == nil {
							_, err = io.ReadFull(st, buf)
						}
					} else {
						nc, br := dialH1(b, srv.addr)
						if _, err = nc.Write(msg); err == nil {
							_, err = io.ReadFull(br, buf)
						}
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				after := srv.ask(b, "mem")
				delta := func(i int) float64 {
					x, _ := strconv.ParseFloat(before[i], 64)
					y, _ := strconv.ParseFloat(after[i], 64)
					return (y - x) / float64(b.N)
				}
				b.ReportMetric(delta(0), "heap-B/conn")
				b.ReportMetric(delta(1), "stack-B/conn")
				b.ReportMetric(delta(0)+delta(1), "total-B/conn")
				b.ReportMetric(delta(2), "goroutines/conn")
			})
		}
	}
}

// dialH1 opens a WebSocket over HTTP/1.1 to addr and returns the
// connection once the 101 has been read. It is closed when b ends.
func dialH1(b *testing.B, addr string) (net.Conn, *bufio.Reader) {
	b.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	io.WriteString(nc, rawRequest("ws://"+addr+"/"))
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		b.Fatalf("handshake: %v %v", resp, err)
	}
	return nc, br
}
