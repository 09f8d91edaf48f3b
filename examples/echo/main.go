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
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/lariat-ws/lariat"
	"github.com/lariat-ws/lariat/examples/internal/serve"
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
		scheme := "ws"
		if r.TLS != nil {
			scheme = "wss"
		}
		fmt.Fprintf(w, "lariat echo: the WebSocket endpoint is %s://%s/ws; it sends every message back.\n", scheme, r.Host)
	})
	return m
}

func main() {
	var sf serve.Flags
	sf.Register("127.0.0.1:9001")
	compress := flag.Bool("compress", false, "negotiate permessage-deflate")
	legacy := flag.Bool("legacy", false, "accept the hixie-75/76 drafts")
	idle := flag.Duration("idle", 0, "close a WebSocket that receives nothing for this long (0: lariat's default, 60s)")
	flag.Parse()

	up := &lariat.Upgrader{
		New:    func(*http.Request, *lariat.Handshake) (lariat.Handler, error) { return echo{}, nil },
		Legacy: *legacy,
		Logger: slog.Default(),
	}
	if *compress {
		up.Options.Compression = &lariat.CompressionOptions{}
	}
	up.Options.IdleTimeout = *idle

	err := serve.Run(&sf, mux(up), up, func(scheme string, addr net.Addr) {
		ws := strings.Replace(scheme, "http", "ws", 1)
		log.Printf("echo: listening on %s://%s/ws (compress=%v legacy=%v tls=%v)", ws, addr, *compress, *legacy, sf.TLS)
		if sf.TLS && !serve.ExtendedConnect() {
			log.Print("echo: WebSockets over HTTP/2 are off: start with GODEBUG=http2xconnect=1 to turn them on")
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	log.Print("echo: shut down")
}
