// Command chat serves a browser chat room on one route, "/": a plain GET
// gets the page, and the page's WebSocket, opened on the same URL, joins
// the room. Every message a member sends is relayed to all the others
// through Conn.Post, and the room tells who joins and leaves (see package
// chatserver).
//
//	go run ./examples/chat -addr 127.0.0.1:8080 [-compress] [-idle 60s]
//
// then open http://127.0.0.1:8080/ in two browser windows. -compress
// negotiates permessage-deflate; -idle sets Options.IdleTimeout, how long
// a member may receive nothing (0 keeps lariat's default of 60 s; lariat
// pings a member that has been quiet for half of it, so an open tab that
// only reads stays); -mailbox sets how far a member may fall behind
// before it is dropped.
//
// It runs as a server in production should. net/http cuts off a client
// that has not sent its whole request head after -header-timeout (10 s),
// or that sends nothing for -http-idle (1 min) after a response, such as
// the page; a head over 16 KiB gets 431. SIGINT or SIGTERM closes every
// member with 1001 (going away), waits up to 5 s for the close
// handshakes, and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lariat-ws/lariat"
	"github.com/lariat-ws/lariat/examples/chat/chatserver"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	compress := flag.Bool("compress", false, "negotiate permessage-deflate with clients that offer it")
	idle := flag.Duration("idle", 0, "close a member that receives nothing for this long (0: lariat's default, 60s)")
	mailbox := flag.Int("mailbox", 256, "messages a member may fall behind before it is dropped")
	headerTimeout := flag.Duration("header-timeout", 10*time.Second, "cut off a client that takes longer to send its request head")
	httpIdle := flag.Duration("http-idle", time.Minute, "cut off an HTTP connection idle this long between requests")
	flag.Parse()

	room := &chatserver.Room{
		OnLeave: func(c *lariat.Conn, r lariat.Reason) {
			log.Printf("chat: %v left: %v", c.RemoteAddr(), r)
		},
	}
	up := &lariat.Upgrader{New: room.New}
	if *compress {
		up.Options.Compression = &lariat.CompressionOptions{}
	}
	up.Options.IdleTimeout = *idle
	up.Options.MailboxSize = *mailbox

	srv := &http.Server{
		Handler:           chatserver.Handler(up),
		ReadHeaderTimeout: *headerTimeout,
		IdleTimeout:       *httpIdle,
		MaxHeaderBytes:    16 << 10,
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("chat: open http://%s/ (compress=%v idle=%v)", ln.Addr(), *compress, *idle)
	if err := serve(srv, ln, up); err != nil {
		log.Fatal(err)
	}
	log.Print("chat: shut down")
}

// serve runs srv on ln until SIGINT or SIGTERM, then shuts down within
// 5 s: http.Server.Shutdown neither sees nor waits for upgraded
// connections, so up.Shutdown runs beside it and sends every WebSocket
// 1001 (going away), then awaits the close handshakes. A second signal
// kills at once.
func serve(srv *http.Server, ln net.Listener, up *lariat.Upgrader) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
		stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- up.Shutdown(ctx) }()
	return errors.Join(srv.Shutdown(ctx), <-closed)
}
