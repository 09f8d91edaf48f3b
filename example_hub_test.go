package lariat_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/lariat-ws/lariat"
)

// chatter joins its connection to the room and publishes what its client
// says there.
type chatter struct {
	lariat.Base
	hub *lariat.Hub
}

func (h chatter) Init(c *lariat.Conn) error {
	if err := h.hub.Subscribe(c, "room"); err != nil {
		return err
	}
	return c.SendText("welcome")
}

func (h chatter) Handle(c *lariat.Conn, f lariat.Frame) error {
	if f.Op != lariat.OpText {
		return nil
	}
	return h.hub.Publish("room", lariat.OpText, f.Payload)
}

// A chat room on an in-process Hub: what one client says reaches every
// subscriber, itself included, without a callback per recipient.
// Connections leave the room by themselves when they end.
func ExampleHub() {
	var hub lariat.Hub // in this process only; set hub.Broker to span nodes
	up := &lariat.Upgrader{New: func(*http.Request, *lariat.Handshake) (lariat.Handler, error) {
		return chatter{hub: &hub}, nil
	}}
	srv := httptest.NewServer(up)
	defer srv.Close()

	alice, bob := dialText(srv), dialText(srv) // each has read "welcome"
	defer alice.Close()
	defer bob.Close()
	alice.send("hello, Bob")
	fmt.Println("alice:", alice.read())
	fmt.Println("bob:", bob.read())

	// Any goroutine may publish.
	hub.Publish("room", lariat.OpText, []byte("the server says hi"))
	fmt.Println("alice:", alice.read())
	fmt.Println("bob:", bob.read())
	s := hub.Stats()
	fmt.Println(s.Topics, "topic,", s.Subscriptions, "subscriptions,", s.Published, "published")
	// Output:
	// alice: hello, Bob
	// bob: hello, Bob
	// alice: the server says hi
	// bob: the server says hi
	// 1 topic, 2 subscriptions, 2 published
}

// shout is a TopicHandler: topic messages reach HandleTopic, which
// decides what the client gets, instead of going straight to the client.
type shout struct {
	chatter
}

func (shout) HandleTopic(c *lariat.Conn, topic string, m *lariat.PreparedMessage) error {
	f := m.Frame() // f.Payload is shared: read it, do not change it
	if strings.HasPrefix(string(f.Payload), "psst") {
		return nil // filtered out
	}
	return c.SendText(topic + ": " + strings.ToUpper(string(f.Payload)))
}

func ExampleTopicHandler() {
	var hub lariat.Hub
	up := &lariat.Upgrader{New: func(*http.Request, *lariat.Handshake) (lariat.Handler, error) {
		return shout{chatter{hub: &hub}}, nil
	}}
	srv := httptest.NewServer(up)
	defer srv.Close()

	c := dialText(srv)
	defer c.Close()
	hub.Publish("room", lariat.OpText, []byte("psst, a secret"))
	hub.Publish("room", lariat.OpText, []byte("hello"))
	fmt.Println(c.read())
	// Output:
	// room: HELLO
}

// poster sends what is posted to it as a prepared message.
type poster struct {
	lariat.Base
	conns chan<- *lariat.Conn
}

func (p poster) Init(c *lariat.Conn) error {
	p.conns <- c
	return c.SendText("welcome")
}

func (poster) Info(c *lariat.Conn, msg any) error {
	return c.SendPrepared(msg.(*lariat.PreparedMessage))
}

// One message prepared once and sent to many connections through their
// mailboxes: the payload is copied once, and compressed once per
// compression setting, not once per connection.
func ExampleConn_SendPrepared() {
	conns := make(chan *lariat.Conn, 2)
	up := &lariat.Upgrader{New: func(*http.Request, *lariat.Handshake) (lariat.Handler, error) {
		return poster{conns: conns}, nil
	}}
	srv := httptest.NewServer(up)
	defer srv.Close()

	a, b := dialText(srv), dialText(srv)
	defer a.Close()
	defer b.Close()
	pm, err := lariat.NewPreparedMessage(lariat.OpText, []byte(`{"price":42}`))
	if err != nil {
		panic(err)
	}
	for range 2 {
		(<-conns).Post(pm)
	}
	fmt.Println(a.read())
	fmt.Println(b.read())
	// Output:
	// {"price":42}
	// {"price":42}
}

// textClient is the least a client needs for these examples: short text
// messages, masked with a zero key.
type textClient struct {
	net.Conn
	br *bufio.Reader
}

// dialText connects to srv and reads the server's "welcome".
func dialText(srv *httptest.Server) *textClient {
	nc, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		panic(err)
	}
	fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", srv.Listener.Addr())
	c := &textClient{Conn: nc, br: bufio.NewReader(nc)}
	if _, err := http.ReadResponse(c.br, nil); err != nil {
		panic(err)
	}
	if w := c.read(); w != "welcome" {
		panic(w)
	}
	return c
}

func (c *textClient) send(s string) {
	c.Write(append([]byte{0x81, 0x80 | byte(len(s)), 0, 0, 0, 0}, s...))
}

func (c *textClient) read() string {
	head := make([]byte, 2)
	if _, err := io.ReadFull(c.br, head); err != nil {
		panic(err)
	}
	p := make([]byte, head[1])
	if _, err := io.ReadFull(c.br, p); err != nil {
		panic(err)
	}
	return string(p)
}
