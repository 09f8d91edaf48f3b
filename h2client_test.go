package lariat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// h2Client is a scripted HTTP/2 client, over prior-knowledge cleartext
// HTTP/2, that opens WebSocket streams with extended CONNECT (RFC 8441)
// and writes exactly the frames a test asks for. One goroutine reads the
// connection and hands each stream its response headers, data and end;
// writes may come from any goroutine.
//
// It advertises windows large enough that the server is never held back
// by flow control unless the test asks (h2Window), and does not itself
// respect the server's windows: a test keeps what it sends on a stream
// below net/http's 1 MiB default.
type h2Client struct {
	t      testing.TB
	nc     net.Conn
	fr     *http2.Framer
	host   string
	scheme string

	wmu    sync.Mutex // the Framer's writing side, enc, hbuf, nextID
	enc    *hpack.Encoder
	hbuf   bytes.Buffer
	nextID uint32

	settings chan map[http2.SettingID]uint32 // the server's first SETTINGS

	mu      sync.Mutex
	streams map[uint32]*h2ClientStream
	gone    error // why the connection ended, once it has

	readDone chan struct{}
}

// h2ClientOption changes how dialH2 sets up the connection.
type h2ClientOption func(*[]http2.Setting)

// h2Window advertises this initial stream window instead of 1 GiB; 0
// keeps the server from sending any DATA.
func h2Window(n uint32) h2ClientOption {
	return func(s *[]http2.Setting) {
		for i := range *s {
			if (*s)[i].ID == http2.SettingInitialWindowSize {
				(*s)[i].Val = n
			}
		}
	}
}

// dialH2 connects to addr, exchanges the connection prefaces and SETTINGS,
// and returns once the server's SETTINGS have arrived. The connection is
// closed, and its reader gone, when the test ends.
func dialH2(t testing.TB, addr string, opts ...h2ClientOption) *h2Client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return newH2Client(t, nc, "http", addr, opts...)
}

// newH2Client runs HTTP/2 on nc, a connection to host, whose requests
// carry :scheme scheme.
func newH2Client(t testing.TB, nc net.Conn, scheme, host string, opts ...h2ClientOption) *h2Client {
	t.Helper()
	c := &h2Client{
		t:        t,
		nc:       nc,
		host:     host,
		scheme:   scheme,
		fr:       http2.NewFramer(nc, nc),
		nextID:   1,
		settings: make(chan map[http2.SettingID]uint32, 1),
		streams:  map[uint32]*h2ClientStream{},
		readDone: make(chan struct{}),
	}
	c.enc = hpack.NewEncoder(&c.hbuf)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(64<<10, nil)
	settings := []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 1 << 30}}
	for _, o := range opts {
		o(&settings)
	}
	if _, err := io.WriteString(nc, http2.ClientPreface); err != nil {
		t.Fatalf("preface: %v", err)
	}
	if err := c.fr.WriteSettings(settings...); err != nil {
		t.Fatalf("settings: %v", err)
	}
	if err := c.fr.WriteWindowUpdate(0, 1<<30); err != nil {
		t.Fatalf("window update: %v", err)
	}
	go c.readLoop()
	t.Cleanup(c.close)
	return c
}

// serverSettings returns the server's first SETTINGS frame.
func (c *h2Client) serverSettings() map[http2.SettingID]uint32 {
	c.t.Helper()
	select {
	case s := <-c.settings:
		c.settings <- s
		return s
	case <-time.After(10 * time.Second):
		c.t.Fatal("no SETTINGS from the server")
		return nil
	}
}

// close closes the TCP connection and waits for the reader.
func (c *h2Client) close() {
	c.nc.Close()
	<-c.readDone
}

func (c *h2Client) readLoop() {
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
				st.end(h2RST{f.ErrCode})
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

func (c *h2Client) stream(id uint32) *h2ClientStream {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.streams[id]
}

// write runs one Framer write under the write lock.
func (c *h2Client) write(f func() error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return f()
}

// h2RST is a stream's end by RST_STREAM.
type h2RST struct{ code http2.ErrCode }

func (e h2RST) Error() string { return "RST_STREAM " + e.code.String() }

// connectFields are the HEADERS of a valid extended CONNECT for path,
// followed by extra.
func (c *h2Client) connectFields(path string, extra ...string) []hpack.HeaderField {
	f := []hpack.HeaderField{
		{Name: ":method", Value: "CONNECT"},
		{Name: ":protocol", Value: "websocket"},
		{Name: ":scheme", Value: c.scheme},
		{Name: ":path", Value: path},
		{Name: ":authority", Value: c.host},
		{Name: "sec-websocket-version", Value: "13"},
	}
	return append(f, pairs(extra...)...)
}

// pairs turns "name", "value", ... into header fields.
func pairs(kv ...string) []hpack.HeaderField {
	var f []hpack.HeaderField
	for i := 0; i+1 < len(kv); i += 2 {
		f = append(f, hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return f
}

// open starts a stream with a HEADERS frame of these fields.
func (c *h2Client) open(fields []hpack.HeaderField, endStream bool) *h2ClientStream {
	c.t.Helper()
	st := &h2ClientStream{c: c, headers: make(chan http.Header, 2), notify: make(chan struct{}, 1), timeout: 10 * time.Second}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	st.id = c.nextID
	c.nextID += 2
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
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: st.id, BlockFragment: c.hbuf.Bytes(), EndHeaders: true, EndStream: endStream}); err != nil {
		c.t.Errorf("writing HEADERS: %v", err)
	}
	return st
}

// connect opens a WebSocket stream on path and fails the test unless the
// server answers 200. It returns the stream and the response headers.
func (c *h2Client) connect(path string, extra ...string) (*h2ClientStream, http.Header) {
	c.t.Helper()
	st := c.open(c.connectFields(path, extra...), false)
	h, err := st.response()
	if err != nil {
		c.t.Fatalf("CONNECT %s: %v", path, err)
	}
	if got := h.Get(":status"); got != "200" {
		c.t.Fatalf("CONNECT %s: status %s, want 200; headers %v", path, got, h)
	}
	if ext := h.Values("Sec-Websocket-Extensions"); len(ext) > 0 {
		p, ok, err := wstest.ParseDeflateResponse(ext, strings.Contains(strings.Join(extraValues(extra, "sec-websocket-extensions"), ","), "client_max_window_bits"))
		if err != nil {
			c.t.Fatalf("CONNECT %s: %v", path, err)
		}
		if ok {
			st.deflate = wstest.NewDeflater(p)
		}
	}
	return st, h
}

func extraValues(kv []string, name string) []string {
	var v []string
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == name {
			v = append(v, kv[i+1])
		}
	}
	return v
}

// h2ClientStream is one stream of an h2Client: an io.Reader of the DATA
// the server sent, with methods that speak WebSocket on it.
type h2ClientStream struct {
	c       *h2Client
	id      uint32
	headers chan http.Header
	timeout time.Duration
	deflate *wstest.Deflater

	mu     sync.Mutex
	queue  [][]byte
	err    error // io.EOF after END_STREAM, h2RST after RST_STREAM
	notify chan struct{}

	buf []byte // reader side
}

func (st *h2ClientStream) push(p []byte) {
	st.mu.Lock()
	st.queue = append(st.queue, p)
	st.mu.Unlock()
	st.signal()
}

func (st *h2ClientStream) end(err error) {
	st.mu.Lock()
	if st.err == nil {
		st.err = err
	}
	st.mu.Unlock()
	st.signal()
}

func (st *h2ClientStream) signal() {
	select {
	case st.notify <- struct{}{}:
	default:
	}
}

// response waits for the response HEADERS, or the stream's end.
func (st *h2ClientStream) response() (http.Header, error) {
	timer := time.NewTimer(st.timeout)
	defer timer.Stop()
	for {
		select {
		case h := <-st.headers:
			return h, nil
		case <-st.notify:
			st.mu.Lock()
			err := st.err
			st.mu.Unlock()
			if err != nil {
				select {
				case h := <-st.headers:
					return h, nil
				default:
				}
				return nil, err
			}
		case <-timer.C:
			return nil, fmt.Errorf("no response within %v", st.timeout)
		}
	}
}

// Read returns the DATA the server sent, in order, then the stream's end:
// io.EOF after END_STREAM, an h2RST after RST_STREAM. It waits at most
// st.timeout for more, then fails with os.ErrDeadlineExceeded.
func (st *h2ClientStream) Read(p []byte) (int, error) {
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
			timer = time.NewTimer(st.timeout)
		}
		select {
		case <-st.notify:
		case <-timer.C:
			return 0, fmt.Errorf("stream %d: nothing within %v: %w", st.id, st.timeout, os.ErrDeadlineExceeded)
		}
	}
}

// data sends p in DATA frames of at most 16 KiB.
func (st *h2ClientStream) data(p []byte, endStream bool) error {
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

// reset sends RST_STREAM with code.
func (st *h2ClientStream) reset(code http2.ErrCode) error {
	return st.c.write(func() error { return st.c.fr.WriteRSTStream(st.id, code) })
}

// frame returns the wire form of one masked WebSocket frame.
func frame(fin bool, rsv, op byte, p []byte) []byte {
	f := wstest.Frame{Fin: fin, Rsv: rsv, Op: op, Payload: p, Masked: true}
	binary.LittleEndian.PutUint32(f.Mask[:], rand.Uint32())
	return wstest.AppendFrame(nil, f)
}

// sendMessage sends a data message in frames of at most fragment bytes
// (0: one frame), compressed when permessage-deflate was negotiated.
func (st *h2ClientStream) sendMessage(op byte, p []byte, fragment int) error {
	var rsv byte
	if st.deflate != nil {
		p, rsv = st.deflate.Compress(p), wstest.RSV1
	}
	if fragment <= 0 {
		fragment = max(len(p), 1)
	}
	var b []byte
	for first := true; first || len(p) > 0; first = false {
		n := min(fragment, len(p))
		o, r := op, rsv
		if !first {
			o, r = wstest.OpContinuation, 0
		}
		b = append(b, frame(n == len(p), r, o, p[:n])...)
		p = p[n:]
	}
	return st.data(b, false)
}

// readMessage returns the next control frame or whole data message,
// reassembled and inflated.
func (st *h2ClientStream) readMessage() (op byte, p []byte, err error) {
	var msg []byte
	var msgOp, msgRsv byte
	for {
		f, err := wstest.ReadFrameFrom(st, 16<<20)
		if err != nil {
			return 0, nil, err
		}
		if f.Masked {
			return 0, nil, fmt.Errorf("server sent a masked frame %v", f)
		}
		if f.Op >= wstest.OpClose {
			return f.Op, f.Payload, nil
		}
		if f.Op != wstest.OpContinuation {
			msgOp, msgRsv = f.Op, f.Rsv
		}
		msg = append(msg, f.Payload...)
		if !f.Fin {
			continue
		}
		if msgRsv == wstest.RSV1 {
			if st.deflate == nil {
				return 0, nil, fmt.Errorf("compressed message without permessage-deflate")
			}
			if msg, err = st.deflate.Decompress(msg, 16<<20); err != nil {
				return 0, nil, err
			}
		}
		return msgOp, msg, nil
	}
}

// expect reads the next message and reports a mismatch with op and want.
func (st *h2ClientStream) expect(op byte, want []byte) error {
	gotOp, got, err := st.readMessage()
	switch {
	case err != nil:
		return fmt.Errorf("stream %d: want %s of %d bytes: %w", st.id, wstest.OpName(op), len(want), err)
	case gotOp != op || !bytes.Equal(got, want):
		return fmt.Errorf("stream %d: got %s %.40q (%d bytes), want %s %.40q (%d bytes)", st.id, wstest.OpName(gotOp), got, len(got), wstest.OpName(op), want, len(want))
	}
	return nil
}

// expectClose reads the next message and reports anything but a close
// frame with code.
func (st *h2ClientStream) expectClose(code uint16) error {
	op, p, err := st.readMessage()
	switch {
	case err != nil:
		return fmt.Errorf("stream %d: want close %d: %w", st.id, code, err)
	case op != wstest.OpClose || len(p) < 2 || binary.BigEndian.Uint16(p) != code:
		return fmt.Errorf("stream %d: got %s %q, want close %d", st.id, wstest.OpName(op), p, code)
	}
	return nil
}

// expectEnd reports anything but the end of the stream: END_STREAM, or
// RST_STREAM with NO_ERROR, which net/http sends after its END_STREAM
// when the client has not ended its side.
func (st *h2ClientStream) expectEnd() error {
	var sink [512]byte
	n, err := io.ReadFull(st, sink[:])
	var rst h2RST
	switch {
	case n > 0:
		return fmt.Errorf("stream %d: want its end, got %d more bytes %q", st.id, n, sink[:n])
	case errors.Is(err, io.EOF), errors.As(err, &rst) && rst.code == http2.ErrCodeNo:
		return nil
	}
	return fmt.Errorf("stream %d: want its end: %w", st.id, err)
}

// The want* methods fail the test; they belong to the test's goroutine.

func (st *h2ClientStream) wantText(s string) {
	st.c.t.Helper()
	if err := st.expect(wstest.OpText, []byte(s)); err != nil {
		st.c.t.Fatal(err)
	}
}

func (st *h2ClientStream) wantClose(code uint16) {
	st.c.t.Helper()
	if err := st.expectClose(code); err != nil {
		st.c.t.Fatal(err)
	}
}

func (st *h2ClientStream) wantEnd() {
	st.c.t.Helper()
	if err := st.expectEnd(); err != nil {
		st.c.t.Fatal(err)
	}
}

func (st *h2ClientStream) send(b []byte) {
	st.c.t.Helper()
	if err := st.data(b, false); err != nil {
		st.c.t.Fatal(err)
	}
}

func (st *h2ClientStream) sendText(s string) {
	st.c.t.Helper()
	if err := st.sendMessage(wstest.OpText, []byte(s), 0); err != nil {
		st.c.t.Fatal(err)
	}
}

func (st *h2ClientStream) sendClose(code uint16) {
	st.c.t.Helper()
	st.send(frame(true, 0, wstest.OpClose, wstest.ClosePayload(code, "")))
}
