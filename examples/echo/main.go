// Command echo serves the README's quick start: a WebSocket endpoint at
// /ws that sends every text or binary message back as it came. GET /
// answers with one line of plain text that names the endpoint; every other
// path is 404, and a plain request to /ws gets 426 Upgrade Required.
//
//	go run ./examples/echo -addr 127.0.0.1:9001 [-compress] [-legacy] [-idle 60s]
//
// -compress negotiates permessage-deflate (or x-webkit-deflate-frame);
// -legacy also accepts the hixie-75 and hixie-76 drafts; -idle sets
// Options.IdleTimeout, how long a connection may receive nothing (0 keeps
// lariat's default of 60 s).
//
// It runs as a server in production should. net/http cuts off a client
// that has not sent its whole request head after -header-timeout (10 s),
// or that sends nothing for -http-idle (1 min) after a response, such as
// the 426 of a plain request to /ws; a head over 16 KiB gets 431. SIGINT
// or SIGTERM closes every WebSocket with 1001 (going away), waits up to
// 5 s for the close handshakes, and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lariat-ws/lariat"
)

// echo sends every data message back.
type echo struct{ lariat.Base }

func (echo) Handle(c *lariat.Conn, f lariat.Frame) error {
	return c.Send(f) // f.Payload is valid until Handle returns
}

// mux is the example's routes: the endpoint, and a page that names it.
func mux(up *lariat.Upgrader) http.Handler {
	m := http.NewServeMux()
	m.Handle("/ws", up)
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		fmt.Fprintf(w, "lariat echo: the WebSocket endpoint is ws://%s/ws; it sends every message back.\n", r.Host)
	})
	return m
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "address to listen on")
	compress := flag.Bool("compress", false, "negotiate permessage-deflate")
	legacy := flag.Bool("legacy", false, "accept the hixie-75/76 drafts")
	idle := flag.Duration("idle", 0, "close a WebSocket that receives nothing for this long (0: lariat's default, 60s)")
	headerTimeout := flag.Duration("header-timeout", 10*time.Second, "cut off a client that takes longer to send its request head")
	httpIdle := flag.Duration("http-idle", time.Minute, "cut off an HTTP connection idle this long between requests")
	flag.Parse()

	up := &lariat.Upgrader{
		New:    func(*http.Request, *lariat.Handshake) (lariat.Handler, error) { return echo{}, nil },
		Legacy: *legacy,
	}
	if *compress {
		up.Options.Compression = &lariat.CompressionOptions{}
	}
	up.Options.IdleTimeout = *idle

	srv := &http.Server{
		Handler:           mux(up),
		ReadHeaderTimeout: *headerTimeout,
		IdleTimeout:       *httpIdle,
		MaxHeaderBytes:    16 << 10,
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("echo: listening on ws://%s/ws (compress=%v legacy=%v)", ln.Addr(), *compress, *legacy)
	if err := serve(srv, ln, up); err != nil {
		log.Fatal(err)
	}
	log.Print("echo: shut down")
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
