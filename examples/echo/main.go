// Command echo serves a WebSocket endpoint at / that sends every text or
// binary message back as it came.
//
//	go run ./examples/echo -addr 127.0.0.1:9001 [-compress] [-legacy]
//
// -compress negotiates permessage-deflate (or x-webkit-deflate-frame);
// -legacy also accepts the hixie-75 and hixie-76 drafts.
package main

import (
	"flag"
	"log"
	"net/http"
	"time"

	"github.com/lariat-ws/lariat"
)

// echo sends every data message back; pings are answered by lariat.
type echo struct{ lariat.Base }

func (echo) Handle(c *lariat.Conn, f lariat.Frame) error {
	if f.Op.IsControl() {
		return nil
	}
	return c.Send(f)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "address to listen on")
	compress := flag.Bool("compress", false, "negotiate permessage-deflate")
	legacy := flag.Bool("legacy", false, "accept the hixie-75/76 drafts")
	flag.Parse()
	up := &lariat.Upgrader{
		New:    func(*http.Request, *lariat.Handshake) (lariat.Handler, error) { return echo{}, nil },
		Legacy: *legacy,
	}
	if *compress {
		up.Options.Compression = &lariat.CompressionOptions{}
	}
	srv := &http.Server{
		Addr:              *addr,
		Handler:           up,
		ReadHeaderTimeout: 10 * time.Second, // a slow or unfinished request is cut off
		MaxHeaderBytes:    16 << 10,
	}
	log.Printf("echo: listening on ws://%s/ (compress=%v legacy=%v)", *addr, *compress, *legacy)
	log.Fatal(srv.ListenAndServe())
}
