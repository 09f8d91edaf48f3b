// Package echoserver builds the server that conformance tests target: an
// Upgrader that echoes every text and binary message, with compression
// enabled and a 16 MiB message limit, the sizes the Autobahn testsuite's
// largest cases (9.1.6, 9.2.6) send. The command autobahn/server serves it
// for the real fuzzingclient; the Go suite in autobahn tests the same
// value, so the two cannot drift apart.
package echoserver

import (
	"net/http"

	"github.com/lariat-ws/lariat"
)

// MaxMessageSize is the largest message the server accepts: 16 MiB.
const MaxMessageSize = 16 << 20

// New returns the echo Upgrader. It accepts any Origin: the fuzzingclient
// connects from a container whose address the server cannot predict, and
// an echo endpoint has nothing to protect from cross-site requests.
func New() *lariat.Upgrader {
	up := &lariat.Upgrader{
		New: func(*http.Request, *lariat.Handshake) (lariat.Handler, error) {
			return echo{}, nil
		},
		CheckOrigin: func(*http.Request) bool { return true },
	}
	up.Options.MaxMessageSize = MaxMessageSize
	up.Options.Compression = &lariat.CompressionOptions{}
	return up
}

// NewLegacy returns the echo Upgrader with the hixie-75 and hixie-76
// drafts accepted as well. The fuzzingclient never speaks them; the Go
// suite does.
func NewLegacy() *lariat.Upgrader {
	up := New()
	up.Legacy = true
	return up
}

// echo sends every data message back as it came; lariat answers pings.
type echo struct{ lariat.Base }

func (echo) Handle(c *lariat.Conn, f lariat.Frame) error {
	return c.Send(f)
}
