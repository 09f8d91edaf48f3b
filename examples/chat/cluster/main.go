// Command cluster is examples/chat on several nodes: each process serves
// the same page and rooms, and with -nats joins its rooms to those of
// every other process on the same NATS server, so that two members at /
// on two nodes talk to each other. Each node has its own lariat.Hub,
// whose Broker, from github.com/lariat-ws/lariat/nats, carries the rooms'
// messages over NATS; the rooms themselves are package chatserver, as in
// examples/chat. Without -nats it is examples/chat.
//
// From the root of the repository, with Go only:
//
//	go run github.com/nats-io/nats-server/v2@v2.15.2 -a 127.0.0.1 -p 4222 &
//	cd examples/chat/cluster
//	go run . -addr 127.0.0.1:8080 -nats nats://127.0.0.1:4222 &
//	go run . -addr 127.0.0.1:8081 -nats nats://127.0.0.1:4222
//
// then open http://127.0.0.1:8080/ and http://127.0.0.1:8081/: what one
// page says, the other shows, and each tells when someone joins or
// leaves on either node. /?room=NAME joins another room, on any node.
// The first command builds and runs the NATS server (a single binary,
// the version this module's tests run against) on 127.0.0.1 only.
//
// # Why a module of its own
//
// examples/chat belongs to the lariat module, which depends on
// golang.org/x/net and klauspost/compress only: it cannot import the
// NATS client. This module can, and its main is the few lines of NATS
// wiring around the same chatserver; a replace directive builds it
// against the lariat of this repository. The price is that it runs from
// its own directory: go run ./examples/chat/cluster from the root finds
// no such package in the lariat module, but go -C examples/chat/cluster
// run . works. And `go test ./...` at the root does not reach it; CI
// tests it in its own directory, as it does every nested module.
//
// # Flags
//
// -nats is the NATS server's URL; the node keeps reconnecting when the
// connection is lost, and its own members go on talking meanwhile (see
// the nats module's README for what other nodes miss). The other flags
// are examples/chat's: -addr, -compress, -idle, -backlog, -tls,
// -header-timeout, -http-idle.
//
// A NATS server limits the size of a message, 1 MiB by default, and the
// Broker and the room add a few bytes to each: the node lowers
// Options.MaxMessageSize to fit, and the page, told the limit in its
// welcome, marks a larger message as undelivered.
//
// SIGINT or SIGTERM closes every member with 1001 (going away), which
// tells the other nodes that they left; then the Hub and its Broker are
// closed, and the NATS connection last.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"time"

	"github.com/lariat-ws/lariat"
	"github.com/lariat-ws/lariat/examples/chat/chatserver"
	"github.com/lariat-ws/lariat/examples/internal/serve"
	lnats "github.com/lariat-ws/lariat/nats"
	"github.com/nats-io/nats.go"
)

// brokerHeader is what github.com/lariat-ws/lariat/nats adds to each
// message: a format version, the opcode and the node's id (see its
// README). TestTwoNodes checks that a message of the limit this leaves
// still crosses.
const brokerHeader = 10

func main() {
	var sf serve.Flags
	sf.Register("127.0.0.1:8080")
	compress := flag.Bool("compress", false, "negotiate permessage-deflate with clients that offer it")
	idle := flag.Duration("idle", 0, "close a member that receives nothing for this long (0: lariat's default, 60s)")
	backlog := flag.Int("backlog", chatserver.Backlog, "bytes of messages that may wait for a member before it is closed as too slow")
	natsURL := flag.String("nats", "", "NATS server URL, such as nats://127.0.0.1:4222, to share the rooms with the nodes on it")
	flag.Parse()
	if err := run(&sf, *compress, *idle, *backlog, *natsURL); err != nil {
		log.Fatal("chat: ", err)
	}
	log.Print("chat: shut down")
}

func run(sf *serve.Flags, compress bool, idle time.Duration, backlog int, natsURL string) error {
	hub := &lariat.Hub{BacklogBytes: backlog}
	up := &lariat.Upgrader{Logger: slog.Default()}
	up.Options.IdleTimeout = idle
	if compress {
		up.Options.Compression = &lariat.CompressionOptions{}
	}
	if natsURL != "" {
		nc, err := nats.Connect(natsURL,
			nats.Name("lariat chat"),
			nats.MaxReconnects(-1), // keep trying: the node's own members go on meanwhile
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Printf("chat: NATS disconnected: %v", err) }),
			nats.ReconnectHandler(func(nc *nats.Conn) { log.Printf("chat: NATS reconnected to %s", nc.ConnectedUrlRedacted()) }),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { log.Printf("chat: NATS: %v", err) }),
		)
		if err != nil {
			return fmt.Errorf("NATS at %s: %w\n\tstart one with: go run github.com/nats-io/nats-server/v2@v2.15.2 -a 127.0.0.1 -p 4222", natsURL, err)
		}
		defer nc.Close() // last, after the Hub has closed its Broker
		b, err := lnats.New(nc, lnats.Options{})
		if err != nil {
			return err
		}
		hub.Broker = b
		up.Options.MaxMessageSize = min(1<<20, nc.MaxPayload()-brokerHeader-chatserver.Overhead)
	}
	room := &chatserver.Room{
		Hub: hub,
		OnLeave: func(c *lariat.Conn, r lariat.Reason) {
			log.Printf("chat: %v left: %v", c.RemoteAddr(), r)
		},
	}
	up.New = room.New

	err := serve.Run(sf, chatserver.Handler(up), up, func(scheme string, addr net.Addr) {
		nodes := "this process only"
		if natsURL != "" {
			nodes = "NATS " + natsURL
		}
		log.Printf("chat: open %s://%s/ (rooms on %s; compress=%v idle=%v tls=%v)", scheme, addr, nodes, compress, idle, sf.TLS)
		if sf.TLS && !serve.ExtendedConnect() {
			log.Print("chat: WebSockets over HTTP/2 are off: start with GODEBUG=http2xconnect=1 to turn them on")
		}
	})
	// Every member has left by now, and its leave notice is published:
	// closing the Hub flushes them to NATS.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if cerr := hub.Close(ctx); cerr != nil && err == nil {
		err = fmt.Errorf("closing the hub: %w", cerr)
	}
	return err
}
