package nats_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/lariat-ws/lariat"
	lnats "github.com/lariat-ws/lariat/nats"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// reader subscribes its connection to "news" and says "welcome".
type reader struct {
	lariat.Base
	hub *lariat.Hub
}

func (r reader) Init(c *lariat.Conn) error {
	if err := r.hub.Subscribe(c, "news"); err != nil {
		return err
	}
	return c.SendText("welcome")
}

// Two nodes, each with its own Hub, Broker and NATS connection: a message
// published on one reaches the subscribers of the other.
func Example() {
	// A NATS server for the example; in production, your cluster.
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		panic(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	ns.ReadyForConnections(10 * time.Second)

	type node struct {
		nc  *nats.Conn
		hub *lariat.Hub
		srv *httptest.Server
	}
	var nodes [2]node
	for i := range nodes {
		nc, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(-1))
		if err != nil {
			panic(err)
		}
		b, err := lnats.New(nc, lnats.Options{})
		if err != nil {
			panic(err)
		}
		hub := &lariat.Hub{Broker: b}
		up := &lariat.Upgrader{New: func(*http.Request, *lariat.Handshake) (lariat.Handler, error) {
			return reader{hub: hub}, nil
		}}
		nodes[i] = node{nc, hub, httptest.NewServer(up)}
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, n := range nodes {
			n.hub.Close(ctx) // closes the Broker, not the NATS connection
			n.srv.Close()
			n.nc.Close()
		}
	}()

	client := dial(nodes[1].srv) // subscribed to "news" on node 1
	defer client.Close()
	nodes[1].nc.Flush() // the NATS server has node 1's subscription

	nodes[0].hub.Publish("news", lariat.OpText, []byte("published on node 0"))
	fmt.Println(client.read())
	// Output:
	// published on node 0
}

// wsClient reads short text messages.
type wsClient struct {
	net.Conn
	br *bufio.Reader
}

func dial(srv *httptest.Server) *wsClient {
	nc, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		panic(err)
	}
	fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", srv.Listener.Addr())
	c := &wsClient{Conn: nc, br: bufio.NewReader(nc)}
	if _, err := http.ReadResponse(c.br, nil); err != nil {
		panic(err)
	}
	if w := c.read(); w != "welcome" {
		panic(w)
	}
	return c
}

func (c *wsClient) read() string {
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
