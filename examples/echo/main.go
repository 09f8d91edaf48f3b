// Command echo serves a WebSocket endpoint at / that sends every text or
// binary message back as it came.
//
//	go run ./examples/echo -addr 127.0.0.1:9001
package main

import (
	"flag"
	"log"
	"net/http"

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
	flag.Parse()
	up := &lariat.Upgrader{
		New: func(*http.Request, *lariat.Handshake) (lariat.Handler, error) { return echo{}, nil },
	}
	log.Printf("echo: listening on ws://%s/", *addr)
	log.Fatal(http.ListenAndServe(*addr, up))
}
