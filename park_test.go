package lariat

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// Where parking is impossible, hibernation gives back the buffers and
// keeps the goroutine; on a plain socket even a connection that does not
// hibernate waits without a read buffer. The tests of parking itself are
// in park_linux_test.go.

// parkings returns a channel that receives every connection that parks
// until the test ends.
func parkings(t *testing.T) <-chan *Conn {
	t.Helper()
	ch := make(chan *Conn, 1<<16)
	f := func(c *Conn) {
		select {
		case ch <- c:
		default:
			panic("parkings: channel full")
		}
	}
	testHookParked.Store(&f)
	t.Cleanup(func() { testHookParked.Store(nil) })
	return ch
}

// waitParked waits for the next parking.
func waitParked(t *testing.T, ch <-chan *Conn) *Conn {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no connection parked")
		return nil
	}
}

// waitBlockedReading waits until the goroutine of the test's one
// connection waits for the peer in the runtime's poller.
func waitBlockedReading(t *testing.T) {
	t.Helper()
	for range 500 {
		buf := make([]byte, 1<<20)
		for _, g := range bytes.Split(buf[:runtime.Stack(buf, true)], []byte("\n\n")) {
			if bytes.Contains(g, []byte("lariat.(*Conn).serve")) && bytes.Contains(g, []byte("waitRead")) {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the connection never waited for its peer")
}

// hibernating makes a recorder that hibernates after each callback, as
// Cowboy handlers do, echoes messages and answers each post, a string,
// with a text message. A post that is a func(*Conn) is called instead:
// see held.
func hibernating() *recorder {
	h := newRecorder()
	h.onHandle = func(c *Conn, f Frame) error {
		c.Hibernate()
		return c.Send(f)
	}
	h.onInfo = func(c *Conn, msg any) error {
		if f, ok := msg.(func(*Conn)); ok {
			f(c)
			return nil
		}
		c.Hibernate()
		return c.SendText(msg.(string))
	}
	return h
}

// held wakes the idle connection c with a post, and tells what it held
// while it waited, which is what Info sees first: the read, write and
// message buffers and the compression context, in bytes. A post ends
// hibernation: with again set, Info hibernates again.
func held(c *Conn, again bool) string {
	ch := make(chan string, 1)
	c.Post(func(c *Conn) {
		comp := 0
		if c.comp != nil {
			comp = c.comp.Held()
		}
		ch <- fmt.Sprintf("read %d, write %d, message %d, compression %d", cap(c.rbuf), bufCap(c.wbp), bufCap(c.mbp), comp)
		if again {
			c.Hibernate()
		}
	})
	return <-ch
}

func bufCap(p *[]byte) int {
	if p == nil {
		return 0
	}
	return cap(*p)
}

const heldNothing = "read 0, write 0, message 0, compression 0"

// wrappedListener hands out connections that are not plain sockets, as a
// listener that counts bytes or speaks the PROXY protocol would.
type wrappedListener struct{ net.Listener }

type wrappedConn struct{ net.Conn }

func (l wrappedListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return wrappedConn{nc}, nil
}

// TestHibernateTransports: what an idle connection holds, hibernating
// or not, on each kind of transport, and where it parks.
func TestHibernateTransports(t *testing.T) {
	for _, tt := range []struct {
		name  string
		start func(s *httptest.Server)
		sock  bool // a plain socket: waits without a read buffer, and parks on Linux
	}{
		{"tcp", (*httptest.Server).Start, true},
		{"tls", (*httptest.Server).StartTLS, false},
		{"wrapped", func(s *httptest.Server) {
			s.Listener = wrappedListener{s.Listener}
			s.Start()
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			parked := parkings(t)
			h := hibernating()
			h.onHandle = func(c *Conn, f Frame) error {
				if string(f.Payload) == "hibernate" {
					c.Hibernate()
				}
				return c.Send(f)
			}
			conns := make(chan *Conn, 1)
			h.onInitConn = func(c *Conn) { conns <- c }
			u := &Upgrader{New: func(*http.Request, *Handshake) (Handler, error) { return h, nil }}
			u.Options.HibernateAfter = -1
			srv := httptest.NewUnstartedServer(u)
			tt.start(srv)
			t.Cleanup(func() { srv.Close(); waitNoConnGoroutines(t) })

			addr := srv.Listener.Addr().String()
			var nc net.Conn
			var err error
			if tt.name == "tls" {
				nc, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
			} else {
				nc, err = net.Dial("tcp", addr)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(nc, rawRequest("ws://"+addr+"/"))
			br := bufio.NewReader(nc)
			if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("handshake: %v %v", resp, err)
			}
			echo := func(s string) {
				t.Helper()
				nc.Write(wstest.AppendFrame(nil, wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte(s), Masked: true}))
				if f, err := wstest.ReadFrameFrom(br, 1<<10); err != nil || string(f.Payload) != s {
					t.Fatalf("echo of %q: %v %v", s, f, err)
				}
			}
			c := <-conns

			echo("awake")
			waitBlockedReading(t)
			want := "read 4096, write 0, message 0, compression 0"
			if tt.sock {
				want = heldNothing
			}
			if got := held(c, false); got != want {
				t.Fatalf("idle, holding %s; want %s", got, want)
			}

			echo("hibernate")
			if tt.sock && canPark {
				waitParked(t, parked)
			}
			if got := held(c, true); got != heldNothing {
				t.Fatalf("hibernating, holding %s", got)
			}
			if tt.sock && canPark {
				waitParked(t, parked) // Info hibernated again
			}
			if n := len(parked); n != 0 {
				t.Fatalf("%d parkings, want none", n)
			}
			echo("awake again")
		})
	}
}

func TestHibernateAfterDefault(t *testing.T) {
	for _, tt := range []struct{ set, want time.Duration }{
		{0, 10 * time.Second},
		{-1, -1},
		{time.Minute, time.Minute},
	} {
		if got := (Options{HibernateAfter: tt.set}).withDefaults().HibernateAfter; got != tt.want {
			t.Errorf("HibernateAfter %v: in force %v, want %v", tt.set, got, tt.want)
		}
	}
}

// TestHibernateAfterTimers runs a connection over net.Pipe, which cannot
// park, in a synctest bubble, to see when it hibernates: not while its
// peer sends or posts come, and between 1 and 2 HibernateAfters after the
// last of them; the peer's ping wakes it only briefly, its message ends
// the hibernation. Info tells whether the connection holds its read
// buffer, which a hibernating one on this transport gives back.
func TestHibernateAfterTimers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const after = 10 * time.Second
		client, server := net.Pipe()
		holding := make(chan bool)
		h := newRecorder()
		h.onInfo = func(c *Conn, msg any) error {
			holding <- c.rbuf != nil
			return nil
		}
		c := newTestConn(server, h, Options{HibernateAfter: after, IdleTimeout: -1}, VersionRFC6455)
		go c.serve()
		br := bufio.NewReader(client)
		send := func(op byte, p string) {
			t.Helper()
			client.Write(wstest.AppendFrame(nil, wstest.Frame{Fin: true, Op: op, Payload: []byte(p), Masked: true}))
			if f, err := wstest.ReadFrameFrom(br, 1<<10); err != nil || string(f.Payload) != p {
				t.Fatalf("answer to %q: %v %v", p, f, err)
			}
		}
		awake := func() bool { // a post, which counts as activity
			c.Post("look")
			return <-holding
		}
		for range 6 { // a message every 9 s
			send(wstest.OpText, "still here")
			time.Sleep(after - time.Second)
		}
		if !awake() {
			t.Fatal("hibernated while messages came every 9 s")
		}
		for i := range 6 { // then a post every 9 s
			time.Sleep(after - time.Second)
			if !awake() {
				t.Fatalf("hibernated after %d posts 9 s apart", i+1)
			}
		}
		time.Sleep(2*after + time.Second)
		if awake() {
			t.Fatal("awake after 2 HibernateAfters of silence")
		}
		// The post ended the hibernation; silence brings it back. Then a
		// ping wakes it, and it hibernates again at once.
		time.Sleep(2*after + time.Second)
		send(wstest.OpPing, "ping")
		synctest.Wait()
		if awake() {
			t.Fatal("awake after a ping")
		}
		time.Sleep(2*after + time.Second)
		send(wstest.OpText, "message")
		synctest.Wait()
		if !awake() {
			t.Fatal("hibernating after a message")
		}
		client.Close()
		h.reason(t)
	})
}
