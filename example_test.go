package lariat_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/lariat-ws/lariat"
)

// echo sends every data message back as it came.
type echo struct{ lariat.Base }

func (echo) Handle(c *lariat.Conn, f lariat.Frame) error {
	return c.Send(f) // pings were answered already; Handle sees data only
}

// dial opens a raw client connection and performs the handshake with the
// key of RFC 6455 §1.3.
func dial(srv *httptest.Server) (net.Conn, *bufio.Reader) {
	nc, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		panic(err)
	}
	fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", srv.Listener.Addr())
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.Status, resp.Header.Get("Sec-WebSocket-Accept"))
	return nc, br
}

// An echo server, and the bytes of RFC 6455 §5.7 on the wire: the client
// sends "Hello" masked, the server answers unmasked.
func Example_echo() {
	up := &lariat.Upgrader{New: func(*http.Request, *lariat.Handshake) (lariat.Handler, error) {
		return echo{}, nil
	}}
	srv := httptest.NewServer(up)
	defer srv.Close()

	nc, br := dial(srv)
	defer nc.Close()
	nc.Write([]byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58})
	reply := make([]byte, 7)
	io.ReadFull(br, reply)
	fmt.Printf("% x\n", reply)
	// Output:
	// 101 Switching Protocols s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
	// 81 05 48 65 6c 6c 6f
}

// ticker forwards what other goroutines post to its client.
type ticker struct {
	lariat.Base
	conns chan<- *lariat.Conn
}

func (t ticker) Init(c *lariat.Conn) error {
	t.conns <- c // hand the connection to the rest of the program
	return nil
}

func (ticker) Info(c *lariat.Conn, msg any) error {
	if msg == "bye" {
		return lariat.Stop
	}
	return c.SendText(msg.(string))
}

// Other goroutines reach a connection through Post; Info runs on the
// connection's goroutine, in posting order.
func ExampleConn_Post() {
	conns := make(chan *lariat.Conn, 1)
	up := &lariat.Upgrader{New: func(*http.Request, *lariat.Handshake) (lariat.Handler, error) {
		return ticker{conns: conns}, nil
	}}
	srv := httptest.NewServer(up)
	defer srv.Close()

	nc, br := dial(srv)
	defer nc.Close()
	c := <-conns
	c.Post("tick")
	c.Post("tock")
	c.Post("bye")
	frames := make([]byte, 2+4+2+4+2+2)
	io.ReadFull(br, frames)
	fmt.Printf("%q\n", frames)
	// Output:
	// 101 Switching Protocols s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
	// "\x81\x04tick\x81\x04tock\x88\x02\x03\xe8"
}

// A WebSocket endpoint added to a route that already serves a page.
func ExampleUpgrader_Wrap() {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<!doctype html><title>chat</title>")
	})
	up := &lariat.Upgrader{New: func(*http.Request, *lariat.Handshake) (lariat.Handler, error) {
		return echo{}, nil
	}}
	mux := http.NewServeMux()
	mux.Handle("/chat", up.Wrap(page))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/chat")
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(body))
	// Output:
	// <!doctype html><title>chat</title>
}

// sleepy hibernates after every message, as a Cowboy handler that
// returns hibernate does.
type sleepy struct{ lariat.Base }

func (sleepy) Handle(c *lariat.Conn, f lariat.Frame) error {
	c.Hibernate()
	return c.Send(f)
}

// Between messages a hibernating connection holds no buffers and, on
// Linux over a plain socket, no goroutine; it wakes when the next one
// comes. Handlers that never call Hibernate get the same after a quiet
// spell, chosen with Options.HibernateAfter.
func ExampleConn_Hibernate() {
	up := &lariat.Upgrader{New: func(*http.Request, *lariat.Handshake) (lariat.Handler, error) {
		return sleepy{}, nil
	}}
	up.Options.HibernateAfter = 30 * time.Second // 10 s by default; negative disables it
	srv := httptest.NewServer(up)
	defer srv.Close()

	nc, br := dial(srv)
	defer nc.Close()
	for _, msg := range []string{"one", "two"} {
		// A text frame masked with the key 0, which leaves it as it is.
		nc.Write(append([]byte{0x81, 0x80 | byte(len(msg)), 0, 0, 0, 0}, msg...))
		reply := make([]byte, 2+len(msg))
		io.ReadFull(br, reply)
		fmt.Printf("%q\n", reply[2:])
	}
	// Output:
	// 101 Switching Protocols s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
	// "one"
	// "two"
}
