// Command server runs the echo server that the Autobahn testsuite's
// fuzzingclient targets (see autobahn/README.md):
//
//	go run ./autobahn/server -addr 127.0.0.1:9001
//
// It echoes every text and binary message at /, with permessage-deflate
// enabled and a 16 MiB message limit, until interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lariat-ws/lariat/autobahn/echoserver"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "address to listen on")
	flag.Parse()

	srv := &http.Server{
		Addr:              *addr,
		Handler:           echoserver.New(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		// Shutdown does not wait for hijacked connections; the
		// fuzzingclient has finished with them by the time it is stopped.
		srv.Shutdown(context.Background())
	}()
	log.Printf("autobahn echo server: listening on ws://%s/", *addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
