package lariat_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/lariat-ws/lariat"
)

// transportTeller tells the peer what its connection runs on.
type transportTeller struct{ lariat.Base }

func (transportTeller) Init(c *lariat.Conn) error { return c.SendText(c.Transport()) }

// A handler can tell what a connection runs on, for logs and metrics:
// "http/1.1" here, "h2" for a WebSocket on a stream of an HTTP/2
// connection.
func ExampleConn_Transport() {
	up := &lariat.Upgrader{New: func(*http.Request, *lariat.Handshake) (lariat.Handler, error) {
		return transportTeller{}, nil
	}}
	srv := httptest.NewServer(up)
	defer srv.Close()

	nc, br := dial(srv)
	defer nc.Close()
	msg := make([]byte, 2+len("http/1.1"))
	io.ReadFull(br, msg)
	fmt.Printf("%s\n", msg[2:])
	// Output:
	// 101 Switching Protocols s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
	// http/1.1
}

// Serving WebSockets over HTTP/2 (RFC 8441) as well as HTTP/1.1. An
// http.Server with TLS certificates speaks HTTP/2 by default; net/http
// advertises extended CONNECT only when the process starts with
// GODEBUG=http2xconnect=1 in its environment:
//
//	GODEBUG=http2xconnect=1 ./server
//
// Without it the same code serves every WebSocket over HTTP/1.1.
// Protocols enables cleartext HTTP/2 (h2c) as well, for tests and for
// proxies that speak it to the server.
func Example_http2() {
	up := &lariat.Upgrader{
		New: func(r *http.Request, hs *lariat.Handshake) (lariat.Handler, error) {
			return echo{}, nil
		},
		Logger: slog.Default(), // logs once whether HTTP/2 WebSockets are on
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", up)
	srv := &http.Server{
		Addr:              ":8443",
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		Protocols:         new(http.Protocols),
	}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetHTTP2(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	// The WebSockets on HTTP/2 streams are not hijacked: Server.Shutdown
	// waits for them, and the Upgrader closes them with 1001.
	srv.RegisterOnShutdown(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		up.Shutdown(ctx)
	})
	log.Fatal(srv.ListenAndServeTLS("cert.pem", "key.pem"))
}
