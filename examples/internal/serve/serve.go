// Package serve runs the examples' HTTP servers as a server in production
// should: net/http's timeouts and header limit set, optionally HTTPS with
// HTTP/2, and SIGINT or SIGTERM leading to a graceful shutdown in which
// every WebSocket gets 1001 (going away).
package serve

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/lariat-ws/lariat"
)

// Flags are the command-line settings every example shares.
type Flags struct {
	Addr          string
	HeaderTimeout time.Duration
	HTTPIdle      time.Duration
	TLS           bool
}

// Register defines the shared flags on flag.CommandLine, with addr as the
// default listening address.
func (f *Flags) Register(addr string) {
	flag.StringVar(&f.Addr, "addr", addr, "address to listen on")
	flag.DurationVar(&f.HeaderTimeout, "header-timeout", 10*time.Second, "cut off a client that takes longer to send its request head")
	flag.DurationVar(&f.HTTPIdle, "http-idle", time.Minute, "cut off an HTTP connection idle this long between requests")
	flag.BoolVar(&f.TLS, "tls", false, "serve HTTPS, with HTTP/2, on a self-signed certificate made at start-up")
}

// Listening is what Run tells once it accepts connections: the address,
// and "http" or "https".
type Listening func(scheme string, addr net.Addr)

// Run serves h until SIGINT or SIGTERM, then shuts down within 5 s:
// http.Server.Shutdown neither sees nor waits for upgraded connections,
// so up.Shutdown runs beside it and sends every WebSocket 1001, then
// awaits the close handshakes. A second signal kills at once.
func Run(f *Flags, h http.Handler, up *lariat.Upgrader, listening Listening) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: f.HeaderTimeout, // the whole request head
		IdleTimeout:       f.HTTPIdle,      // between requests, e.g. after a 426
		MaxHeaderBytes:    16 << 10,
	}
	ln, err := net.Listen("tcp", f.Addr)
	if err != nil {
		return err
	}
	scheme := "http"
	if f.TLS {
		cert, err := selfSigned(ln.Addr())
		if err != nil {
			return err
		}
		// http.Server offers h2 over TLS by itself; WebSockets ride on
		// its streams (RFC 8441) when extended CONNECT is on.
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		scheme = "https"
	}
	listening(scheme, ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() {
		if f.TLS {
			served <- srv.ServeTLS(ln, "", "")
		} else {
			served <- srv.Serve(ln)
		}
	}()
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

// selfSigned makes a certificate for localhost and the listening address,
// valid for a day: browsers warn about it once.
func selfSigned(addr net.Addr) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "lariat example"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if host, _, err := net.SplitHostPort(addr.String()); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// ExtendedConnect reports whether this process's HTTP/2 server offers
// extended CONNECT (RFC 8441), which WebSockets over HTTP/2 need: Go
// enables it when the process starts with GODEBUG=http2xconnect=1.
func ExtendedConnect() bool {
	return strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1")
}
