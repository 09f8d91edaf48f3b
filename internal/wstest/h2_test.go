package wstest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Peer is the server side of an HTTP/2 test: it accepts one
// connection, checks the client's preface and reads its SETTINGS, sends
// its own, then runs a script that reads and writes frames.
type h2Peer struct {
	t        *testing.T
	nc       net.Conn
	fr       *http2.Framer
	settings []http2.Setting // the client's first SETTINGS
	hbuf     bytes.Buffer
	enc      *hpack.Encoder
}

// serveH2 starts a one-connection HTTP/2 server on 127.0.0.1 that sends
// settings, and returns its address (see acceptOne).
func serveH2(t *testing.T, settings []http2.Setting, script func(p *h2Peer)) string {
	t.Helper()
	return acceptOne(t, func(nc net.Conn) {
		p := &h2Peer{t: t, nc: nc, fr: http2.NewFramer(nc, nc)}
		p.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
		p.enc = hpack.NewEncoder(&p.hbuf)
		preface := make([]byte, len(http2.ClientPreface))
		if _, err := io.ReadFull(nc, preface); err != nil || string(preface) != http2.ClientPreface {
			t.Errorf("server: client preface %q, %v", preface, err)
			return
		}
		f, err := p.fr.ReadFrame()
		sf, ok := f.(*http2.SettingsFrame)
		if err != nil || !ok || sf.IsAck() {
			t.Errorf("server: first frame %v, %v; want SETTINGS", f, err)
			return
		}
		sf.ForeachSetting(func(s http2.Setting) error { p.settings = append(p.settings, s); return nil })
		p.fr.WriteSettings(settings...)
		script(p)
	})
}

// next returns the next frame of a kind the script cares about, skipping
// SETTINGS acknowledgements and WINDOW_UPDATEs; DATA comes as a
// dataFrame.
func (p *h2Peer) next() any {
	for {
		f, err := p.fr.ReadFrame()
		if err != nil {
			p.t.Errorf("server: reading a frame: %v", err)
			return nil
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				p.t.Errorf("server: a second SETTINGS %v", f)
			}
		case *http2.WindowUpdateFrame:
		case *http2.DataFrame:
			// The Framer reuses its buffer: keep the data.
			return dataFrame(bytes.Clone(f.Data()))
		default:
			return f
		}
	}
}

// dataFrame is the data of a DATA frame, kept beyond the next read.
type dataFrame []byte

// request reads the HEADERS of a new stream.
func (p *h2Peer) request() *http2.MetaHeadersFrame {
	f, ok := p.next().(*http2.MetaHeadersFrame)
	if !ok {
		p.t.Errorf("server: want HEADERS, got %v", f)
		return &http2.MetaHeadersFrame{HeadersFrame: &http2.HeadersFrame{}}
	}
	return f
}

// respond sends a HEADERS frame of name, value... on stream id.
func (p *h2Peer) respond(id uint32, endStream bool, kv ...string) {
	p.hbuf.Reset()
	for _, f := range H2Fields(kv...) {
		p.enc.WriteField(f)
	}
	p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: p.hbuf.Bytes(), EndHeaders: true, EndStream: endStream})
}

// TestH2Connect checks what DialH2 and Connect send, and a WebSocket
// both ways on the stream: the RFC 6455 §5.7 vectors, unmasked from the
// server in two DATA frames, masked with a chosen key from the client.
func TestH2Connect(t *testing.T) {
	got := make(chan []hpack.HeaderField, 1)
	clientData := make(chan []byte, 1)
	settings := make(chan []http2.Setting, 1)
	addr := serveH2(t, []http2.Setting{{ID: http2.SettingEnableConnectProtocol, Val: 1}}, func(p *h2Peer) {
		settings <- p.settings
		req := p.request()
		got <- req.Fields
		p.respond(req.StreamID, false, ":status", "200", "sec-websocket-protocol", "chat")
		hello := unhex(t, "81 05 48 65 6c 6c 6f")
		p.fr.WriteData(req.StreamID, false, hello[:3])
		p.fr.WriteData(req.StreamID, false, hello[3:])
		d, _ := p.next().(dataFrame)
		clientData <- d
		p.fr.WriteData(req.StreamID, true, unhex(t, "88 02 03 e8"))
	})
	c := DialH2(t, "http://"+addr, H2Window(65535))
	c.WantSetting(http2.SettingEnableConnectProtocol, 1)
	st, resp := c.Connect("/chat?x=1", "sec-websocket-protocol", "chat, superchat", "origin", "http://example.com")
	if resp.Get(":status") != "200" || resp.Get("sec-websocket-protocol") != "chat" || st.ID() != 1 {
		t.Errorf("stream %d, response %v", st.ID(), resp)
	}
	want := []hpack.HeaderField{
		{Name: ":method", Value: "CONNECT"},
		{Name: ":protocol", Value: "websocket"},
		{Name: ":scheme", Value: "http"},
		{Name: ":path", Value: "/chat?x=1"},
		{Name: ":authority", Value: addr},
		{Name: "sec-websocket-version", Value: "13"},
		{Name: "sec-websocket-protocol", Value: "chat, superchat"},
		{Name: "origin", Value: "http://example.com"},
	}
	if fields := <-got; len(fields) != len(want) || !equalFields(fields, want) {
		t.Errorf("CONNECT fields\n%v\nwant\n%v", fields, want)
	}
	if s := <-settings; len(s) != 1 || s[0] != (http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65535}) {
		t.Errorf("client SETTINGS %v, want INITIAL_WINDOW_SIZE 65535", s)
	}
	st.WantText("Hello")
	st.SetMaskKey(&[4]byte{0x37, 0xfa, 0x21, 0x3d})
	st.WriteText("Hello")
	if d, want := <-clientData, unhex(t, "81 85 37 fa 21 3d 7f 9f 4d 51 58"); !bytes.Equal(d, want) {
		t.Errorf("client DATA % x, want % x", d, want)
	}
	st.WantClose(1000)
	st.WantEnd()
}

func equalFields(a, b []hpack.HeaderField) bool {
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Value != b[i].Value {
			return false
		}
	}
	return true
}

// TestH2Deflate: a permessage-deflate acceptance turns compression on,
// as over HTTP/1.1 (RFC 7692 §7.2.3.1's "Hello").
func TestH2Deflate(t *testing.T) {
	addr := serveH2(t, nil, func(p *h2Peer) {
		req := p.request()
		p.respond(req.StreamID, false, ":status", "200", "sec-websocket-extensions", "permessage-deflate")
		p.fr.WriteData(req.StreamID, false, unhex(t, "c1 07 f2 48 cd c9 c9 07 00"))
		d, _ := p.next().(dataFrame)
		if f, err := ReadFrameFrom(bytes.NewReader(d), 1<<10); err != nil || f.Rsv != RSV1 {
			t.Errorf("server: client message %v, %v; want it compressed", f, err)
		}
		p.fr.WriteRSTStream(req.StreamID, http2.ErrCodeNo)
	})
	st, _ := DialH2(t, "http://"+addr).Connect("/", "sec-websocket-extensions", "permessage-deflate; client_no_context_takeover")
	if d := st.Deflater(); d == nil {
		t.Fatal("permessage-deflate not on")
	}
	st.WantText("Hello")
	st.WriteText("Hello")
	st.WantEnd() // RST_STREAM NO_ERROR counts as the end
}

// TestH2Failures checks that the helpers fail, and say why, when the
// server does something else.
func TestH2Failures(t *testing.T) {
	tests := []struct {
		name   string
		server func(p *h2Peer, id uint32)
		client func(c *H2Conn)
		msg    string
	}{
		{"refused", func(p *h2Peer, id uint32) { p.respond(id, true, ":status", "400") },
			func(c *H2Conn) { c.Connect("/") }, "status 400"},
		{"protocol not offered", func(p *h2Peer, id uint32) { p.respond(id, false, ":status", "200", "sec-websocket-protocol", "other") },
			func(c *H2Conn) { c.Connect("/", "sec-websocket-protocol", "chat") }, "not offered"},
		{"extension not offered", func(p *h2Peer, id uint32) {
			p.respond(id, false, ":status", "200", "sec-websocket-extensions", "permessage-deflate")
		}, func(c *H2Conn) { c.Connect("/") }, "nothing was offered"},
		{"reset", func(p *h2Peer, id uint32) {
			p.respond(id, false, ":status", "200")
			p.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}, func(c *H2Conn) {
			st, _ := c.Connect("/")
			st.WantText("x")
		}, "RST_STREAM CANCEL"},
		{"masked server frame", func(p *h2Peer, id uint32) {
			p.respond(id, false, ":status", "200")
			p.fr.WriteData(id, false, unhex(t, "81 82 00 00 00 00 68 69"))
		}, func(c *H2Conn) {
			st, _ := c.Connect("/")
			st.WantText("hi")
		}, "stream 1: server sent a masked frame"},
		{"close code", func(p *h2Peer, id uint32) {
			p.respond(id, false, ":status", "200")
			p.fr.WriteData(id, false, unhex(t, "88 02 03 e8"))
		}, func(c *H2Conn) {
			st, _ := c.Connect("/")
			st.WantClose(1001)
		}, "got close 1000"},
		{"data after the close", func(p *h2Peer, id uint32) {
			p.respond(id, false, ":status", "200")
			p.fr.WriteData(id, true, []byte("more"))
		}, func(c *H2Conn) {
			st, _ := c.Connect("/")
			st.WantEnd()
		}, "4 more bytes"},
		{"connection lost", func(p *h2Peer, id uint32) {
			p.respond(id, false, ":status", "200")
			p.nc.Close()
		}, func(c *H2Conn) {
			st, _ := c.Connect("/")
			st.WantText("x")
		}, "HTTP/2 connection ended"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			addr := serveH2(t, nil, func(p *h2Peer) {
				tt.server(p, p.request().StreamID)
				<-release
			})
			msg := fails(t, func(tb testing.TB) { tt.client(DialH2(tb, "http://"+addr)) })
			close(release)
			if !strings.Contains(msg, tt.msg) {
				t.Errorf("failure %q, want it to mention %q", msg, tt.msg)
			}
		})
	}
}

// TestH2Goroutine: the Expect methods report instead of failing the
// test, so a goroutine of the test's may use a stream.
func TestH2Goroutine(t *testing.T) {
	addr := serveH2(t, nil, func(p *h2Peer) {
		req := p.request()
		p.respond(req.StreamID, false, ":status", "200")
		p.fr.WriteData(req.StreamID, false, unhex(t, "82 02 01 02 88 02 03 e8"))
	})
	st, _ := DialH2(t, "http://"+addr).Connect("/")
	errs := make(chan error, 1)
	go func() {
		err := st.Expect(OpBinary, []byte{1, 2})
		if err == nil {
			_, _, err = st.ExpectClose(1001)
		}
		errs <- err
	}()
	if err := <-errs; err == nil || !strings.Contains(err.Error(), "got close 1000") {
		t.Fatalf("Expect, ExpectClose: %v, want the close code reported", err)
	}
}

// TestDialH2TLS: over TLS, DialH2 offers h2 alone by ALPN and fails the
// test unless the server chooses it.
func TestDialH2TLS(t *testing.T) {
	h2 := httptest.NewUnstartedServer(nil)
	h2.EnableHTTP2 = true
	h2.StartTLS()
	defer h2.Close()
	c := DialH2(t, h2.URL)
	if _, ok := c.Settings()[http2.SettingMaxConcurrentStreams]; !ok {
		t.Errorf("net/http's SETTINGS %v lack MAX_CONCURRENT_STREAMS", c.Settings())
	}
	c.Close()

	h1 := httptest.NewTLSServer(nil) // offers http/1.1 only
	defer h1.Close()
	for _, u := range []string{h1.URL, "ws://" + h1.Listener.Addr().String()} {
		if msg := fails(t, func(tb testing.TB) { DialH2(tb, u) }); !strings.HasPrefix(msg, "wstest.DialH2: ") {
			t.Errorf("DialH2(%s) failure %q", u, msg)
		}
	}
}

func TestResetError(t *testing.T) {
	var err error = ResetError{http2.ErrCodeProtocol}
	var rst ResetError
	if !errors.As(err, &rst) || rst.Code != http2.ErrCodeProtocol || err.Error() != "RST_STREAM PROTOCOL_ERROR" {
		t.Fatalf("%v", err)
	}
}
