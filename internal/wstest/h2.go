package wstest

// WebSocket over HTTP/2 (RFC 8441): a scripted HTTP/2 client that opens
// WebSocket streams with extended CONNECT.

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// H2Conn is a scripted HTTP/2 client connection that opens WebSocket
// streams with extended CONNECT (RFC 8441) and writes exactly the frames
// a test asks for. It speaks prior-knowledge cleartext HTTP/2 (h2c) or
// HTTP/2 over TLS.
//
// It advertises windows large enough that the server is never held back
// by flow control unless the test asks ([H2Window]), and does not itself
// respect the server's windows: a test keeps what it sends on a stream
// below net/http's 1 MiB default.
//
// One goroutine, started by [NewH2Conn], reads the connection and hands
// each stream its response headers, data and end; it answers the server's
// SETTINGS and PINGs. The methods of H2Conn are safe for concurrent use;
// each [H2Stream] belongs to one goroutine at a time. The connection is
// closed, and its reader gone, when the test ends.
type H2Conn struct {
	t         testing.TB
	nc        net.Conn
	fr        *http2.Framer
	scheme    string
	authority string

	wmu    sync.Mutex // the Framer's writing side, enc, hbuf, nextID
	enc    *hpack.Encoder
	hbuf   bytes.Buffer
	nextID uint32

	settings chan map[http2.SettingID]uint32 // the server's first SETTINGS

	mu      sync.Mutex
	streams map[uint32]*H2Stream
	gone    error // why the connection ended, once it has

	readDone chan struct{}
}

// H2Option changes the SETTINGS an [H2Conn] starts with.
type H2Option func(*[]http2.Setting)

// H2Window advertises this initial stream window instead of 1 GiB; 0
// keeps the server from sending any DATA.
func H2Window(n uint32) H2Option {
	return func(s *[]http2.Setting) {
		for i := range *s {
			if (*s)[i].ID == http2.SettingInitialWindowSize {
				(*s)[i].Val = n
			}
		}
	}
}

// DialH2 connects to the host of rawURL and runs HTTP/2 on the
// connection, returning once the server's SETTINGS have arrived. An
// http:// URL gets prior-knowledge cleartext HTTP/2 (h2c). An https://
// URL gets TLS offering only h2 by ALPN, without verifying the
// certificate (test servers sign their own); it fails the test unless
// the server chose h2.
func DialH2(t testing.TB, rawURL string, opts ...H2Option) *H2Conn {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		t.Fatalf("wstest.DialH2: bad url %q: %v", rawURL, err)
	}
	d := &net.Dialer{Timeout: DefaultTimeout}
	var nc net.Conn
	switch u.Scheme {
	case "http":
		nc, err = d.Dial("tcp", u.Host)
	case "https":
		var tc *tls.Conn
		tc, err = tls.DialWithDialer(d, "tcp", u.Host, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
		if err == nil {
			nc = tc
			if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
				tc.Close()
				t.Fatalf("wstest.DialH2: ALPN chose %q, want h2", p)
			}
		}
	default:
		t.Fatalf("wstest.DialH2: url %q: want http or https", rawURL)
	}
	if err != nil {
		t.Fatalf("wstest.DialH2: %v", err)
	}
	c := NewH2Conn(t, nc, u.Scheme, u.Host, opts...)
	c.Settings()
	return c
}

// NewH2Conn runs HTTP/2 on nc, a connection to authority whose requests
// carry :scheme scheme: it sends the client preface, its SETTINGS and a
// connection window of 1 GiB, and starts the reader. It does not wait for
// the server's SETTINGS ([H2Conn.Settings] does).
func NewH2Conn(t testing.TB, nc net.Conn, scheme, authority string, opts ...H2Option) *H2Conn {
	t.Helper()
	c := &H2Conn{
		t:         t,
		nc:        nc,
		scheme:    scheme,
		authority: authority,
		fr:        http2.NewFramer(nc, nc),
		nextID:    1,
		settings:  make(chan map[http2.SettingID]uint32, 1),
		streams:   map[uint32]*H2Stream{},
		readDone:  make(chan struct{}),
	}
	c.enc = hpack.NewEncoder(&c.hbuf)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(64<<10, nil)
	settings := []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 1 << 30}}
	for _, o := range opts {
		o(&settings)
	}
	err := c.write(func() error {
		if _, err := io.WriteString(nc, http2.ClientPreface); err != nil {
			return err
		}
		if err := c.fr.WriteSettings(settings...); err != nil {
			return err
		}
		return c.fr.WriteWindowUpdate(0, 1<<30)
	})
	if err != nil {
		nc.Close()
		t.Fatalf("wstest.NewH2Conn: %v", err)
	}
	go c.readLoop()
	t.Cleanup(c.Close)
	return c
}

// Settings returns the server's first SETTINGS frame, waiting for it at
// most [DefaultTimeout].
func (c *H2Conn) Settings() map[http2.SettingID]uint32 {
	c.t.Helper()
	select {
	case s := <-c.settings:
		c.settings <- s
		return s
	case <-time.After(DefaultTimeout):
		c.t.Fatalf("wstest: no SETTINGS from the server within %v", DefaultTimeout)
		return nil
	}
}

// WantSetting fails the test unless the server's first SETTINGS frame set
// id to val.
func (c *H2Conn) WantSetting(id http2.SettingID, val uint32) {
	c.t.Helper()
	if v, ok := c.Settings()[id]; !ok || v != val {
		c.t.Fatalf("server's %v = %d (sent: %t), want %d", id, v, ok, val)
	}
}

// LocalAddr returns the client's end of the connection.
func (c *H2Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr returns the server's end of the connection.
func (c *H2Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// Close closes the connection and waits for its reader. It is safe to
// call more than once; NewH2Conn arranges for it to run when the test
// ends. Every open stream then ends with an error.
func (c *H2Conn) Close() {
	c.nc.Close()
	<-c.readDone
}

func (c *H2Conn) readLoop() {
	defer close(c.readDone)
	var err error
	first := true
	for {
		var f http2.Frame
		if f, err = c.fr.ReadFrame(); err != nil {
			break
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() {
				continue
			}
			if first {
				m := map[http2.SettingID]uint32{}
				f.ForeachSetting(func(s http2.Setting) error { m[s.ID] = s.Val; return nil })
				c.settings <- m
				first = false
			}
			c.write(func() error { return c.fr.WriteSettingsAck() })
		case *http2.PingFrame:
			if !f.IsAck() {
				c.write(func() error { return c.fr.WritePing(true, f.Data) })
			}
		case *http2.MetaHeadersFrame:
			if st := c.stream(f.StreamID); st != nil {
				h := http.Header{}
				for _, hf := range f.Fields {
					h.Add(hf.Name, hf.Value)
				}
				st.headers <- h
				if f.StreamEnded() {
					st.end(io.EOF)
				}
			}
		case *http2.DataFrame:
			if st := c.stream(f.StreamID); st != nil {
				if len(f.Data()) > 0 {
					st.push(bytes.Clone(f.Data()))
				}
				if f.StreamEnded() {
					st.end(io.EOF)
				}
			}
		case *http2.RSTStreamFrame:
			if st := c.stream(f.StreamID); st != nil {
				st.end(ResetError{f.ErrCode})
			}
		}
	}
	c.mu.Lock()
	c.gone = err
	streams := c.streams
	c.mu.Unlock()
	for _, st := range streams {
		st.end(fmt.Errorf("HTTP/2 connection ended: %w", err))
	}
}

func (c *H2Conn) stream(id uint32) *H2Stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.streams[id]
}

// write runs Framer writes under the write lock, with a deadline.
func (c *H2Conn) write(f func() error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(DefaultTimeout))
	return f()
}

// ResetError is how a stream ends when the server resets it: RST_STREAM
// with Code.
type ResetError struct{ Code http2.ErrCode }

func (e ResetError) Error() string { return "RST_STREAM " + e.Code.String() }

// ConnectFields returns the header fields of a valid extended CONNECT for
// path (RFC 8441 §4), followed by the fields of extra, given as name,
// value, name, value...
func (c *H2Conn) ConnectFields(path string, extra ...string) []hpack.HeaderField {
	f := []hpack.HeaderField{
		{Name: ":method", Value: "CONNECT"},
		{Name: ":protocol", Value: "websocket"},
		{Name: ":scheme", Value: c.scheme},
		{Name: ":path", Value: path},
		{Name: ":authority", Value: c.authority},
		{Name: "sec-websocket-version", Value: "13"},
	}
	return append(f, H2Fields(extra...)...)
}

// H2Fields turns name, value, name, value... into header fields; a name
// without a value is dropped.
func H2Fields(kv ...string) []hpack.HeaderField {
	var f []hpack.HeaderField
	for i := 0; i+1 < len(kv); i += 2 {
		f = append(f, hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return f
}

// Open starts a stream with one HEADERS frame of these fields, valid or
// not, ending the stream there when endStream is set. If the frame cannot
// be written, the stream's Response and Read say why.
func (c *H2Conn) Open(fields []hpack.HeaderField, endStream bool) *H2Stream {
	c.t.Helper()
	st := &H2Stream{
		Timeout:    DefaultTimeout,
		MaxPayload: DefaultMaxPayload,
		c:          c,
		headers:    make(chan http.Header, 2),
		notify:     make(chan struct{}, 1),
	}
	st.endpoint = newEndpoint(c.t, st)
	err := c.write(func() error {
		st.id = c.nextID
		c.nextID += 2
		st.label = fmt.Sprintf("stream %d: ", st.id)
		c.mu.Lock()
		c.streams[st.id] = st
		gone := c.gone
		c.mu.Unlock()
		if gone != nil {
			st.end(gone)
		}
		c.hbuf.Reset()
		for _, f := range fields {
			c.enc.WriteField(f)
		}
		return c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: st.id, BlockFragment: c.hbuf.Bytes(), EndHeaders: true, EndStream: endStream})
	})
	if err != nil {
		st.end(fmt.Errorf("writing HEADERS: %w", err)) // Response and Read tell
	}
	return st
}

// Connect opens a WebSocket stream on path, with the header fields of
// extra (name, value, ...), and fails the test unless the server answers
// 200 with a valid response: a subprotocol among those offered, and
// extensions a valid acceptance of the offer, which then turns
// permessage-deflate on. It returns the stream and the response's header
// fields, :status among them.
func (c *H2Conn) Connect(path string, extra ...string) (*H2Stream, http.Header) {
	c.t.Helper()
	st := c.Open(c.ConnectFields(path, extra...), false)
	resp, err := st.Response()
	if err != nil {
		c.t.Fatalf("CONNECT %s: %v", path, err)
	}
	if got := resp.Get(":status"); got != "200" {
		c.t.Fatalf("CONNECT %s: status %s, want 200; header fields %v", path, got, resp)
	}
	req := http.Header{}
	for _, f := range H2Fields(extra...) {
		req.Add(f.Name, f.Value)
	}
	if err := st.checkAccepted(req, resp); err != nil {
		c.t.Fatalf("CONNECT %s: invalid response: %v; header fields %v", path, err, resp)
	}
	return st, resp
}

// H2Stream is one stream of an [H2Conn]. It is an io.Reader of the DATA
// the server sent on it, and carries a WebSocket with the same methods as
// a [Conn]: WriteText, WriteMessage, ReadMessage, WantText, WantClose and
// the like. Their counterparts SendData, SendMessage, Expect, ExpectClose
// and ExpectEnd return errors instead of failing the test, for use on
// goroutines other than the test's.
//
// A stream belongs to one goroutine at a time.
type H2Stream struct {
	// Timeout bounds each wait for the server's data.
	Timeout time.Duration
	// MaxPayload bounds each frame and each reassembled message.
	MaxPayload int64

	c       *H2Conn
	id      uint32
	headers chan http.Header

	mu     sync.Mutex
	queue  [][]byte
	err    error // io.EOF after END_STREAM, ResetError after RST_STREAM
	notify chan struct{}

	buf []byte // the reader's side: the rest of the chunk being read

	endpoint // masking, compression, and the messages read and written
}

// ID returns the stream's identifier.
func (st *H2Stream) ID() uint32 { return st.id }

func (st *H2Stream) push(p []byte) {
	st.mu.Lock()
	st.queue = append(st.queue, p)
	st.mu.Unlock()
	st.signal()
}

func (st *H2Stream) end(err error) {
	st.mu.Lock()
	if st.err == nil {
		st.err = err
	}
	st.mu.Unlock()
	st.signal()
}

func (st *H2Stream) signal() {
	select {
	case st.notify <- struct{}{}:
	default:
	}
}

func (st *H2Stream) ended() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.err
}

// Response waits at most Timeout for the response's header fields, and
// returns an error if the stream ends without them.
func (st *H2Stream) Response() (http.Header, error) {
	timer := time.NewTimer(st.Timeout)
	defer timer.Stop()
	for {
		select {
		case h := <-st.headers:
			return h, nil
		case <-st.notify:
			if err := st.ended(); err != nil {
				select {
				case h := <-st.headers:
					return h, nil
				default:
				}
				return nil, err
			}
		case <-timer.C:
			return nil, fmt.Errorf("%sno response within %v", st.label, st.Timeout)
		}
	}
}

// Read returns the DATA the server sent, in order, then the stream's end:
// io.EOF after END_STREAM, a [ResetError] after RST_STREAM. It waits at
// most Timeout for more, then fails with os.ErrDeadlineExceeded.
func (st *H2Stream) Read(p []byte) (int, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if len(st.buf) > 0 {
			n := copy(p, st.buf)
			st.buf = st.buf[n:]
			return n, nil
		}
		st.mu.Lock()
		if len(st.queue) > 0 {
			st.buf = st.queue[0]
			st.queue[0] = nil
			st.queue = st.queue[1:]
			st.mu.Unlock()
			continue
		}
		err := st.err
		st.mu.Unlock()
		if err != nil {
			return 0, err
		}
		if timer == nil {
			timer = time.NewTimer(st.Timeout)
		}
		select {
		case <-st.notify:
		case <-timer.C:
			return 0, fmt.Errorf("%snothing within %v: %w", st.label, st.Timeout, os.ErrDeadlineExceeded)
		}
	}
}

// ReadFrame reads the next WebSocket frame from the stream. It fails (with
// an error, not the test) on a masked frame, which RFC 6455 §5.1 forbids a
// server to send.
func (st *H2Stream) ReadFrame() (Frame, error) {
	f, err := ReadFrameFrom(st, st.MaxPayload)
	if err != nil {
		return f, err
	}
	if f.Masked {
		return f, fmt.Errorf("%sserver sent a masked frame %v (RFC 6455 §5.1: a server MUST NOT mask)", st.label, f)
	}
	return f, nil
}

func (st *H2Stream) limit() int64 { return st.MaxPayload }

// SendData sends p in DATA frames of at most 16 KiB, the last with
// END_STREAM when endStream is set.
func (st *H2Stream) SendData(p []byte, endStream bool) error {
	return st.c.write(func() error {
		for first := true; first || len(p) > 0; first = false {
			n := min(len(p), 16<<10)
			if err := st.c.fr.WriteData(st.id, endStream && n == len(p), p[:n]); err != nil {
				return err
			}
			p = p[n:]
		}
		return nil
	})
}

// WriteRaw sends b as it is, in DATA frames, and fails the test if it
// cannot.
func (st *H2Stream) WriteRaw(b []byte) {
	st.t.Helper()
	if err := st.SendData(b, false); err != nil {
		st.t.Fatalf("%swrite: %v", st.label, err)
	}
}

// SendMessage sends a data message as WriteMessage does, returning an
// error instead of failing the test.
func (st *H2Stream) SendMessage(op byte, payload []byte, fragment int) error {
	return st.SendData(st.appendMessage(nil, op, payload, fragment), false)
}

// Reset sends RST_STREAM with code.
func (st *H2Stream) Reset(code http2.ErrCode) error {
	return st.c.write(func() error { return st.c.fr.WriteRSTStream(st.id, code) })
}

// ExpectEnd reads the stream and returns an error unless it ends without
// more data: END_STREAM, or RST_STREAM with NO_ERROR, which net/http
// sends after its END_STREAM when the client has not ended its side
// (RFC 9113 §8.1).
func (st *H2Stream) ExpectEnd() error {
	var sink [512]byte
	n, err := io.ReadFull(st, sink[:])
	var rst ResetError
	switch {
	case n > 0:
		return fmt.Errorf("%swant its end, got %d more bytes %q", st.label, n, sink[:n])
	case errors.Is(err, io.EOF), errors.As(err, &rst) && rst.Code == http2.ErrCodeNo:
		return nil
	}
	return fmt.Errorf("%swant its end: %w", st.label, err)
}

// WantEnd fails the test unless the stream ends without more data, as
// ExpectEnd says.
func (st *H2Stream) WantEnd() {
	st.t.Helper()
	if err := st.ExpectEnd(); err != nil {
		st.t.Fatalf("%v", err)
	}
}
