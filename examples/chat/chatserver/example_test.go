package chatserver_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/lariat-ws/lariat"
	"github.com/lariat-ws/lariat/examples/chat/chatserver"
)

// The chat on two nodes: each has its own Hub and Room, and the Hubs
// share a Broker (here pipeNet, which joins Hubs in one process, where
// examples/chat/cluster has NATS). Members on either node are in the
// same lobby: each hears the others, never itself, and the notices cross
// too, without a count of the members, which neither node knows.
func Example_twoNodes() {
	var pn pipeNet
	var urls []string
	var hubs []*lariat.Hub
	for range 2 {
		hub := &lariat.Hub{Broker: pn.node(), BacklogBytes: chatserver.Backlog}
		room := &chatserver.Room{Hub: hub}
		srv := httptest.NewServer(chatserver.Handler(&lariat.Upgrader{New: room.New}))
		defer srv.Close()
		urls = append(urls, srv.Listener.Addr().String())
		hubs = append(hubs, hub)
	}

	alice := dialChat(urls[0], "alice")
	fmt.Println("alice:", alice.read())
	bob := dialChat(urls[1], "bob")
	fmt.Println("bob:", bob.read())
	fmt.Println("alice:", alice.read())
	alice.send(`{"name":"alice","text":"hello from node 0"}`)
	fmt.Println("bob:", bob.read())
	bob.close()
	fmt.Println("alice:", alice.read())
	alice.close()

	for _, h := range hubs {
		h.Close(context.Background())
	}
	// Output:
	// alice: notice {"system":"welcome","room":"lobby","maxMessage":1048576,"transport":"http/1.1"}
	// bob: notice {"system":"welcome","room":"lobby","maxMessage":1048576,"transport":"http/1.1"}
	// alice: notice {"system":"join","name":"bob"}
	// bob: {"name":"alice","text":"hello from node 0"}
	// alice: notice {"system":"leave","name":"bob"}
}

// chatClient is the least a member needs for the example: short text
// messages, masked with a zero key.
type chatClient struct {
	net.Conn
	br *bufio.Reader
}

// dialChat joins the lobby at addr as name.
func dialChat(addr, name string) *chatClient {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		panic(err)
	}
	fmt.Fprintf(nc, "GET /?name=%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", name, addr)
	c := &chatClient{Conn: nc, br: bufio.NewReader(nc)}
	if resp, err := http.ReadResponse(c.br, nil); err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		panic(fmt.Sprint(resp.Status, err))
	}
	return c
}

func (c *chatClient) send(s string) {
	c.Write(append([]byte{0x81, 0x80 | byte(len(s)), 0, 0, 0, 0}, s...))
}

// read returns the next message, a notice marked as such.
func (c *chatClient) read() string {
	head := make([]byte, 2)
	if _, err := io.ReadFull(c.br, head); err != nil {
		panic(err)
	}
	p := make([]byte, head[1])
	if _, err := io.ReadFull(c.br, p); err != nil {
		panic(err)
	}
	if s, ok := strings.CutPrefix(string(p), "\x01"); ok {
		return "notice " + s
	}
	return string(p)
}

// close closes normally and waits for the server's answer.
func (c *chatClient) close() {
	c.Write([]byte{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8})
	c.read()
	c.Conn.Close()
}
