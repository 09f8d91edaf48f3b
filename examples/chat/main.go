// Command chat serves a browser chat room on one route, "/": a plain GET
// gets the page, and the page's WebSocket, opened on the same URL, joins
// the room. Every message a member sends is relayed to all the others
// through Conn.Post, and the room tells who joins and leaves (see package
// chatserver).
//
//	go run ./examples/chat -addr 127.0.0.1:8080 [-compress] [-idle 60s] [-tls]
//
// then open http://127.0.0.1:8080/ in two browser windows. -compress
// negotiates permessage-deflate; -idle sets Options.IdleTimeout, how long
// a member may receive nothing (0 keeps lariat's default of 60 s; lariat
// pings a member that has been quiet for half of it, so an open tab that
// only reads stays); -mailbox sets how far a member may fall behind
// before it is dropped.
//
// -tls serves https:// instead, with HTTP/2, on a self-signed certificate
// made at start-up. Started with GODEBUG=http2xconnect=1 in its
// environment, the chat then carries each page's WebSocket on a stream of
// the page's own HTTP/2 connection (RFC 8441). The log says, as each
// member joins, what its WebSocket runs on ("h2" or "http/1.1"); so does
// the page.
//
// It runs as a server in production should. net/http cuts off a client
// that has not sent its whole request head after -header-timeout (10 s),
// or that sends nothing for -http-idle (1 min) after a response, such as
// the page; a head over 16 KiB gets 431. SIGINT or SIGTERM closes every
// member with 1001 (going away), waits up to 5 s for the close
// handshakes, and exits.
package main

import (
	"flag"
	"log"
	"log/slog"
	"net"

	"github.com/lariat-ws/lariat"
	"github.com/lariat-ws/lariat/examples/chat/chatserver"
	"github.com/lariat-ws/lariat/examples/internal/serve"
)

func main() {
	var sf serve.Flags
	sf.Register("127.0.0.1:8080")
	compress := flag.Bool("compress", false, "negotiate permessage-deflate with clients that offer it")
	idle := flag.Duration("idle", 0, "close a member that receives nothing for this long (0: lariat's default, 60s)")
	mailbox := flag.Int("mailbox", 256, "messages a member may fall behind before it is dropped")
	flag.Parse()

	room := &chatserver.Room{
		OnJoin: func(c *lariat.Conn) {
			log.Printf("chat: %v joined over %s", c.RemoteAddr(), c.Transport())
		},
		OnLeave: func(c *lariat.Conn, r lariat.Reason) {
			log.Printf("chat: %v left: %v", c.RemoteAddr(), r)
		},
	}
	up := &lariat.Upgrader{New: room.New, Logger: slog.Default()}
	if *compress {
		up.Options.Compression = &lariat.CompressionOptions{}
	}
	up.Options.IdleTimeout = *idle
	up.Options.MailboxSize = *mailbox

	err := serve.Run(&sf, chatserver.Handler(up), up, func(scheme string, addr net.Addr) {
		log.Printf("chat: open %s://%s/ (compress=%v idle=%v tls=%v)", scheme, addr, *compress, *idle, sf.TLS)
		if sf.TLS && !serve.ExtendedConnect() {
			log.Print("chat: WebSockets over HTTP/2 are off: start with GODEBUG=http2xconnect=1 to turn them on")
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	log.Print("chat: shut down")
}
