package wstest

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// DefaultTimeout bounds the handshake and every read of a Conn unless its
// Timeout field is changed: a server that never answers fails the test
// instead of hanging it.
const DefaultTimeout = 10 * time.Second

// DefaultMaxPayload is the largest frame or message a Conn accepts from the
// server unless its MaxPayload field is changed.
const DefaultMaxPayload = 64 << 20

// Conn is a scripted WebSocket client, in the style of x/net's http2
// testConnFramer: its Write methods send exactly the bytes a test asks for,
// valid or not, and its Want methods read what the server sent and fail the
// test, with a message that says what came instead, on any mismatch.
//
// Its methods for messages (WriteMessage, ReadMessage, WantClose and the
// like) are those of [H2Stream] too, which carries the same WebSocket on an
// HTTP/2 stream.
//
// A Conn belongs to one test goroutine. It starts no goroutines; its TCP
// connection is closed when the test ends.
type Conn struct {
	// Response is the server's handshake response. Its Body has been read
	// into ResponseBody and closed.
	Response     *http.Response
	ResponseBody []byte

	// Timeout bounds each read from the server (and each write to it).
	Timeout time.Duration
	// MaxPayload bounds each frame and each reassembled message.
	MaxPayload int64

	nc          net.Conn
	br          *bufio.Reader
	readTimeout time.Duration // deadline of the next network read

	chopN     int
	chopDelay time.Duration

	writeErr error // first write that failed because the server had gone

	endpoint // masking, compression, and the messages read and written
}

// Option configures [Dial].
type Option func(*config)

type config struct {
	header     http.Header
	raw        []byte
	wantStatus []int
}

// Header sets a request header, replacing the value Dial would send (so
// Header("Sec-WebSocket-Key", "x") sends a bad key); an empty value removes
// the header.
func Header(key, value string) Option {
	return func(c *config) {
		if value == "" {
			c.header.Del(key)
		} else {
			c.header.Set(key, value)
		}
	}
}

// Version sets Sec-WebSocket-Version (13 by default); "" omits it.
func Version(v string) Option { return Header("Sec-WebSocket-Version", v) }

// Protocols offers subprotocols in Sec-WebSocket-Protocol, in this order.
func Protocols(p ...string) Option {
	return Header("Sec-WebSocket-Protocol", strings.Join(p, ", "))
}

// Extensions sends offer as the Sec-WebSocket-Extensions header, verbatim,
// for example "permessage-deflate; client_max_window_bits". When the server
// accepts permessage-deflate, the Conn compresses and inflates accordingly.
func Extensions(offer string) Option { return Header("Sec-WebSocket-Extensions", offer) }

// RawRequest sends req verbatim instead of building the opening handshake,
// for malformed or legacy requests. The response is parsed and its status
// checked, but not judged as an RFC 6455 response.
func RawRequest(req string) Option { return func(c *config) { c.raw = []byte(req) } }

// WantStatus makes Dial expect one of these response statuses instead of
// 101.
func WantStatus(codes ...int) Option { return func(c *config) { c.wantStatus = codes } }

// Dial connects to url (ws:// or http://, host and port required), sends the
// opening handshake of RFC 6455 §4.1 and reads the response. Unless
// WantStatus says otherwise it fails the test when the server does not
// switch protocols or when its 101 response is not valid: the Upgrade and
// Connection headers, Sec-WebSocket-Accept computed from the key,
// Sec-WebSocket-Protocol one of those offered, and Sec-WebSocket-Extensions
// a valid permessage-deflate acceptance of what was offered, if anything.
func Dial(t testing.TB, rawURL string, opts ...Option) *Conn {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		t.Fatalf("wstest.Dial: bad url %q: %v", rawURL, err)
	}
	path := u.RequestURI()
	var keyBytes [16]byte
	for i := range keyBytes {
		keyBytes[i] = byte(rand.Uint32())
	}
	cfg := config{header: http.Header{}, wantStatus: []int{http.StatusSwitchingProtocols}}
	cfg.header.Set("Host", u.Host)
	cfg.header.Set("Upgrade", "websocket")
	cfg.header.Set("Connection", "Upgrade")
	cfg.header.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString(keyBytes[:]))
	cfg.header.Set("Sec-WebSocket-Version", "13")
	for _, o := range opts {
		o(&cfg)
	}

	nc, err := net.DialTimeout("tcp", u.Host, DefaultTimeout)
	if err != nil {
		t.Fatalf("wstest.Dial: %v", err)
	}
	c := &Conn{
		Timeout:    DefaultTimeout,
		MaxPayload: DefaultMaxPayload,
		nc:         nc,
	}
	c.endpoint = newEndpoint(t, c)
	c.br = bufio.NewReaderSize(deadlineReader{c}, 64<<10)
	t.Cleanup(c.Close)

	req := cfg.raw
	if req == nil {
		req = buildRequest(path, cfg.header)
	}
	if err := c.write(req); err != nil {
		t.Fatalf("wstest.Dial: writing the request: %v", err)
	}
	c.readTimeout = c.Timeout
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("wstest.Dial: reading the response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		c.ResponseBody, err = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if err != nil {
			t.Fatalf("wstest.Dial: reading the %s response body: %v", resp.Status, err)
		}
	}
	resp.Body.Close()
	c.Response = resp
	if !slices.Contains(cfg.wantStatus, resp.StatusCode) {
		t.Fatalf("wstest.Dial: got status %q, want %v; headers %v; body %q",
			resp.Status, cfg.wantStatus, resp.Header, c.ResponseBody)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || cfg.raw != nil {
		return c
	}
	if err := c.checkUpgrade(cfg.header); err != nil {
		t.Fatalf("wstest.Dial: invalid 101 response: %v; headers %v", err, resp.Header)
	}
	return c
}

// buildRequest writes the GET request with Host first and the other headers
// in sorted order, so that requests are reproducible.
func buildRequest(path string, h http.Header) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\n", path)
	if host := h.Get("Host"); host != "" {
		fmt.Fprintf(&b, "Host: %s\r\n", host)
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range h {
			if k != "Host" && !yield(k) {
				return
			}
		}
	}) {
		for _, v := range h[k] {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// AcceptKey computes Sec-WebSocket-Accept for a Sec-WebSocket-Key
// (RFC 6455 §4.2.2 step 5.4).
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// checkUpgrade judges a 101 response as RFC 6455 §4.1 asks the client to
// (items 2-6 of the list after "the client MUST validate the server's
// response") and sets up permessage-deflate when it was accepted.
func (c *Conn) checkUpgrade(req http.Header) error {
	h := c.Response.Header
	if !strings.EqualFold(h.Get("Upgrade"), "websocket") {
		return fmt.Errorf("Upgrade is %q, want websocket", h.Get("Upgrade"))
	}
	if !hasToken(h.Values("Connection"), "upgrade") {
		return fmt.Errorf("Connection is %q, want a list with Upgrade", h.Values("Connection"))
	}
	if got, want := h.Get("Sec-WebSocket-Accept"), AcceptKey(req.Get("Sec-WebSocket-Key")); got != want {
		return fmt.Errorf("Sec-WebSocket-Accept is %q, want %q", got, want)
	}
	return c.checkAccepted(req, h)
}

// hasToken reports whether a comma-separated header list holds tok,
// ignoring case.
func hasToken(values []string, tok string) bool {
	for _, v := range values {
		for s := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(s), tok) {
				return true
			}
		}
	}
	return false
}

// Close closes the TCP connection. It is safe to call more than once, and
// Dial arranges for it to run when the test ends.
func (c *Conn) Close() { c.nc.Close() }

// SetChop makes later writes go out in pieces of n bytes, pausing delay
// between pieces, so that the server sees frames arrive in fragments of
// TCP data. n <= 0 restores whole writes.
func (c *Conn) SetChop(n int, delay time.Duration) { c.chopN, c.chopDelay = n, delay }

// WriteRaw sends b as it is. A write that fails because the server already
// closed the connection does not fail the test: servers may close after a
// protocol error while the client is still sending. The next Want call
// reports such a failure if it matters. Any other write error fails the
// test.
func (c *Conn) WriteRaw(b []byte) {
	c.t.Helper()
	if err := c.write(b); err != nil {
		if isPeerGone(err) {
			if c.writeErr == nil {
				c.writeErr = err
			}
			return
		}
		c.t.Fatalf("wstest: write: %v", err)
	}
}

func (c *Conn) write(b []byte) error {
	n := c.chopN
	if n <= 0 {
		n = len(b)
	}
	for first := true; len(b) > 0; first = false {
		if !first && c.chopDelay > 0 {
			time.Sleep(c.chopDelay)
		}
		piece := b[:min(n, len(b))]
		c.nc.SetWriteDeadline(time.Now().Add(c.timeout()))
		if _, err := c.nc.Write(piece); err != nil {
			return err
		}
		b = b[len(piece):]
	}
	return nil
}

func (c *Conn) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

// isPeerGone reports whether err means the server closed the connection.
func isPeerGone(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)
}

// deadlineReader reads from the connection with a fresh deadline on every
// read, so a long transfer that makes progress never times out but a
// stalled one does.
type deadlineReader struct{ c *Conn }

func (r deadlineReader) Read(p []byte) (int, error) {
	d := r.c.readTimeout
	if d <= 0 {
		d = r.c.timeout()
	}
	r.c.nc.SetReadDeadline(time.Now().Add(d))
	return r.c.nc.Read(p)
}

// ReadFrame reads the next frame from the server, waiting at most Timeout
// for each piece of it. It fails (with an error, not the test) on a masked
// frame, which RFC 6455 §5.1 forbids a server to send.
func (c *Conn) ReadFrame() (Frame, error) {
	c.readTimeout = c.timeout()
	f, err := ReadFrameFrom(c.br, c.MaxPayload)
	if err != nil {
		return f, c.explain(err)
	}
	if f.Masked {
		return f, fmt.Errorf("server sent a masked frame %v (RFC 6455 §5.1: a server MUST NOT mask)", f)
	}
	return f, nil
}

func (c *Conn) limit() int64 { return c.MaxPayload }

// explain adds to a read error what a test author needs to know: that the
// server closed the connection, or that an earlier write had failed.
func (c *Conn) explain(err error) error {
	switch {
	case errors.Is(err, io.EOF):
		err = fmt.Errorf("%w (the server closed the TCP connection)", err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("nothing from the server within %v: %w", c.readTimeout, err)
	}
	if c.writeErr != nil {
		err = fmt.Errorf("%w; an earlier write had failed: %v", err, c.writeErr)
	}
	return err
}

// WantNoFrame fails the test if the server sends anything, or closes the
// connection, within d.
func (c *Conn) WantNoFrame(d time.Duration) {
	c.t.Helper()
	c.readTimeout = d
	_, err := c.br.Peek(1)
	c.readTimeout = c.timeout()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return
	}
	if err != nil {
		c.t.Fatalf("want no frame for %v: %v", d, c.explain(err))
	}
	f, err := c.ReadFrame()
	c.t.Fatalf("want no frame for %v, got %v (err %v)", d, f, err)
}

// WantTCPClosed fails the test unless the server closes the TCP connection
// (end of stream or reset) within d, without sending anything more.
func (c *Conn) WantTCPClosed(d time.Duration) {
	c.t.Helper()
	c.readTimeout = d
	defer func() { c.readTimeout = c.timeout() }()
	_, err := c.br.Peek(1)
	switch {
	case err == nil:
		f, err := ReadFrameFrom(c.br, c.MaxPayload)
		c.t.Fatalf("want the server to close the TCP connection, got frame %v (err %v)", f, err)
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.t.Fatalf("want the server to close the TCP connection: still open after %v", d)
	default:
		c.t.Fatalf("want the server to close the TCP connection: %v", err)
	}
}

// WantBytes reads len(want) bytes and fails the test unless they are want.
// It serves protocols that are not framed as RFC 6455 (hixie-76).
func (c *Conn) WantBytes(want []byte) {
	c.t.Helper()
	c.readTimeout = c.timeout()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c.br, got); err != nil {
		c.t.Fatalf("want %d bytes %q: %v (got %q)", len(want), abbrev(want), c.explain(err), got)
	}
	if !bytes.Equal(got, want) {
		c.t.Fatalf("bytes differ: %s", diff(got, want))
	}
}

// abbrev shortens p for a failure message.
func abbrev(p []byte) []byte {
	if len(p) > 64 {
		return append(p[:60:60], "..."...)
	}
	return p
}

// diff describes how got differs from want without printing megabytes.
func diff(got, want []byte) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	s := fmt.Sprintf("got %d bytes, want %d; first difference at offset %d", len(got), len(want), i)
	if len(got) <= 64 && len(want) <= 64 {
		return s + fmt.Sprintf(": got %q, want %q", got, want)
	}
	return s + fmt.Sprintf(": got %q, want %q", abbrev(got[i:]), abbrev(want[i:]))
}
