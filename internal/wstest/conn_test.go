package wstest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// peer is the server side of a test: it accepts one connection, answers
// the handshake as told, then runs a script.
type peer struct {
	t      *testing.T
	nc     net.Conn
	br     *bufio.Reader
	req    *http.Request
	failed error
}

// serve starts a one-connection server on 127.0.0.1 and returns its URL.
// response builds the handshake response from the request; script then
// runs on the connection. The server's goroutine has ended when the test's
// cleanups are done.
func serve(t *testing.T, response func(r *http.Request) string, script func(p *peer)) string {
	t.Helper()
	addr := acceptOne(t, func(nc net.Conn) {
		p := &peer{t: t, nc: nc, br: bufio.NewReader(nc)}
		var err error
		if p.req, err = http.ReadRequest(p.br); err != nil {
			t.Errorf("server: reading the request: %v", err)
			return
		}
		io.WriteString(nc, response(p.req))
		if script != nil {
			script(p)
		}
	})
	return "ws://" + addr + "/path?q=1"
}

// acceptOne starts a one-connection server on 127.0.0.1 and returns its
// address. handle runs on the connection, which has DefaultTimeout as
// its deadline and is closed when handle returns. The server's goroutine
// has ended when the test's cleanups are done.
func acceptOne(t *testing.T, handle func(nc net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(DefaultTimeout))
		handle(nc)
	})
	return ln.Addr().String()
}

// upgrade answers a valid RFC 6455 handshake, with extra header lines.
func upgrade(extra ...string) func(r *http.Request) string {
	return func(r *http.Request) string {
		return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + AcceptKey(r.Header.Get("Sec-WebSocket-Key")) + "\r\n" +
			strings.Join(extra, "") + "\r\n"
	}
}

// send writes hex-encoded bytes to the client.
func (p *peer) send(hexBytes string) {
	p.nc.Write(unhex(p.t, hexBytes))
}

// recv reads one frame from the client.
func (p *peer) recv() Frame {
	f, err := ReadFrameFrom(p.br, 1<<20)
	if err != nil {
		p.t.Errorf("server: reading a frame: %v", err)
	}
	return f
}

// fakeTB records the failure of a helper under test instead of failing
// the real test.
type fakeTB struct {
	testing.TB
	msg string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fails runs fn with a fakeTB on its own goroutine and returns the failure
// message, "" if fn did not fail.
func fails(t *testing.T, fn func(tb testing.TB)) string {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f.msg
}

func TestDialRequest(t *testing.T) {
	reqs := make(chan *http.Request, 1)
	url := serve(t, upgrade("Sec-WebSocket-Protocol: chat\r\n"), func(p *peer) { reqs <- p.req })
	c := Dial(t, url, Protocols("chat", "superchat"), Header("Origin", "http://example.com"), Extensions("permessage-deflate"))
	got := <-reqs
	if got.URL.RequestURI() != "/path?q=1" || got.Method != "GET" || got.Host == "" {
		t.Errorf("request line: %s %s, host %q", got.Method, got.URL, got.Host)
	}
	for k, want := range map[string]string{
		"Upgrade":                  "websocket",
		"Connection":               "Upgrade",
		"Sec-WebSocket-Version":    "13",
		"Sec-WebSocket-Protocol":   "chat, superchat",
		"Sec-WebSocket-Extensions": "permessage-deflate",
		"Origin":                   "http://example.com",
	} {
		if v := got.Header.Get(k); v != want {
			t.Errorf("%s: %q, want %q", k, v, want)
		}
	}
	if c.Response.StatusCode != 101 || c.Response.Header.Get("Sec-WebSocket-Protocol") != "chat" {
		t.Errorf("response: %v %v", c.Response.Status, c.Response.Header)
	}
	if c.Deflater() != nil {
		t.Errorf("deflate on although the server did not accept it")
	}
}

func TestDialWantStatus(t *testing.T) {
	url := serve(t, func(*http.Request) string {
		return "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 3\r\n\r\nbad"
	}, nil)
	c := Dial(t, url, Version("9"), WantStatus(426))
	if string(c.ResponseBody) != "bad" || c.Response.Header.Get("Sec-WebSocket-Version") != "13" {
		t.Errorf("response %v, body %q", c.Response, c.ResponseBody)
	}
}

func TestDialRawRequest(t *testing.T) {
	reqs := make(chan *http.Request, 1)
	url := serve(t, func(r *http.Request) string {
		reqs <- r
		return "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
	}, nil)
	Dial(t, url, RawRequest("GET /raw HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n"), WantStatus(400))
	got := <-reqs
	if got.URL.Path != "/raw" || got.Header.Get("Sec-WebSocket-Key") != "" {
		t.Errorf("server saw %v %v", got.URL, got.Header)
	}
}

// TestDialRejects checks that Dial fails the test on each kind of invalid
// 101 response.
func TestDialRejects(t *testing.T) {
	tests := []struct {
		name     string
		response func(r *http.Request) string
		opts     []Option
		want     string
	}{
		{"wrong status", func(*http.Request) string { return "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n" }, nil, "403"},
		{"bad accept", func(*http.Request) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: xyz\r\n\r\n"
		}, nil, "Sec-WebSocket-Accept"},
		{"no upgrade", func(r *http.Request) string {
			return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + AcceptKey(r.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"
		}, nil, "Upgrade"},
		{"protocol not offered", upgrade("Sec-WebSocket-Protocol: other\r\n"), []Option{Protocols("chat")}, "not offered"},
		{"extension not offered", upgrade("Sec-WebSocket-Extensions: permessage-deflate\r\n"), nil, "nothing was offered"},
		{"client bits not offered", upgrade("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10\r\n"),
			[]Option{Extensions("permessage-deflate")}, "client_max_window_bits"},
		{"unexpected 101", upgrade(), []Option{WantStatus(400, 426)}, "want [400 426]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := serve(t, tt.response, nil)
			msg := fails(t, func(tb testing.TB) { Dial(tb, url, tt.opts...) })
			if !strings.Contains(msg, tt.want) {
				t.Errorf("Dial failure %q, want it to mention %q", msg, tt.want)
			}
		})
	}
}

// TestWrites checks what reaches the server: the masked vector of
// RFC 6455 §5.7 with a chosen key, an unmasked frame, chopped writes, and
// a fragmented message.
func TestWrites(t *testing.T) {
	got := make(chan Frame, 10)
	raws := make(chan []byte, 1)
	url := serve(t, upgrade(), func(p *peer) {
		var b [11]byte
		io.ReadFull(p.br, b[:])
		raws <- b[:]
		for range 6 {
			got <- p.recv()
		}
	})
	c := Dial(t, url)
	c.SetMaskKey(&[4]byte{0x37, 0xfa, 0x21, 0x3d})
	c.WriteText("Hello")
	c.SetMaskKey(nil)
	c.SetUnmasked(true)
	c.WriteBinary([]byte{1, 2})
	c.SetUnmasked(false)
	c.SetChop(1, time.Millisecond)
	c.WritePing([]byte("ping"))
	c.SetChop(0, 0)
	c.WriteMessage(OpText, []byte("abcde"), 2)
	c.WriteClose(1000, "bye")

	want := []Frame{
		{Fin: true, Op: OpBinary, Payload: []byte{1, 2}},
		{Fin: true, Op: OpPing, Masked: true, Payload: []byte("ping")},
		{Op: OpText, Masked: true, Payload: []byte("ab")},
		{Op: OpContinuation, Masked: true, Payload: []byte("cd")},
		{Fin: true, Op: OpContinuation, Masked: true, Payload: []byte("e")},
		{Fin: true, Op: OpClose, Masked: true, Payload: []byte{0x03, 0xe8, 'b', 'y', 'e'}},
	}
	for i, w := range want {
		f := <-got
		if f.Fin != w.Fin || f.Op != w.Op || f.Masked != w.Masked || f.Rsv != 0 || !bytes.Equal(f.Payload, w.Payload) {
			t.Errorf("frame %d: got %v, want %v", i, f, w)
		}
	}
	if raw, want := <-raws, unhex(t, "81 85 37 fa 21 3d 7f 9f 4d 51 58"); !bytes.Equal(raw, want) {
		t.Errorf("masked text: got % x, want % x", raw, want)
	}
}

// TestWants drives every Want helper against a server that sends the
// RFC 6455 §5.7 vectors and then closes.
func TestWants(t *testing.T) {
	url := serve(t, upgrade(), func(p *peer) {
		p.send("01 03 48 65 6c 89 05 48 65 6c 6c 6f 80 02 6c 6f") // "Hel", ping, "lo"
		p.send("82 03 01 02 03")
		p.send("8a 00")
		p.recv() // wait until the client has checked for silence
		p.send("88 05 03 e8 62 79 65")
		p.recv()
	})
	c := Dial(t, url)
	op, payload, err := c.ReadMessage()
	if err != nil || op != OpPing || string(payload) != "Hello" {
		t.Fatalf("ReadMessage = %s %q %v, want the ping between the fragments", OpName(op), payload, err)
	}
	c.WantText("Hello")
	c.WantBinary([]byte{1, 2, 3})
	c.WantPong(nil)
	c.WantNoFrame(10 * time.Millisecond)
	c.WritePing(nil)
	if code, reason := c.WantClose(1000); code != 1000 || reason != "bye" {
		t.Errorf("WantClose = %d %q", code, reason)
	}
	c.WriteClose(1000, "")
	c.WantTCPClosed(DefaultTimeout)
}

// TestWantFailures checks that each Want helper fails, and says why, when
// the server sends something else.
func TestWantFailures(t *testing.T) {
	tests := []struct {
		name   string
		server string // hex sent by the server after the handshake
		want   func(c *Conn)
		msg    string
	}{
		{"text differs", "81 02 68 69", func(c *Conn) { c.WantText("ho") }, "first difference at offset 1"},
		{"binary not text", "82 02 68 69", func(c *Conn) { c.WantText("hi") }, "got binary message"},
		{"close not pong", "88 02 03 ea", func(c *Conn) { c.WantPong(nil) }, "got close message"},
		{"wrong close code", "88 02 03 e8", func(c *Conn) { c.WantClose(1002) }, "got close 1000"},
		{"empty close not allowed", "88 00", func(c *Conn) { c.WantClose(1000) }, "got close 0"},
		{"1-byte close", "88 01 03", func(c *Conn) { c.WantClose(1002) }, "1-byte payload"},
		{"close 1005 on the wire", "88 02 03 ed", func(c *Conn) { c.WantClose(1005) }, "must not be sent"},
		{"close reason not UTF-8", "88 03 03 e8 ff", func(c *Conn) { c.WantClose(1000) }, "not UTF-8"},
		{"masked server frame", "81 82 00 00 00 00 68 69", func(c *Conn) { c.WantText("hi") }, "MUST NOT mask"},
		{"invalid UTF-8 text", "81 01 ff", func(c *Conn) { c.WantText("\xff") }, "not valid UTF-8"},
		{"RSV without extension", "c1 02 68 69", func(c *Conn) { c.WantText("hi") }, "reserved bits"},
		{"reserved opcode", "83 00", func(c *Conn) { c.WantText("") }, "reserved opcode"},
		{"fragmented ping", "09 00", func(c *Conn) { c.WantPong(nil) }, "invalid control frame"},
		{"lone continuation", "80 00", func(c *Conn) { c.WantText("") }, "no message to continue"},
		{"new message inside one", "01 01 61 81 01 62", func(c *Conn) { c.WantText("ab") }, "inside an unfinished one"},
		{"frame while silence wanted", "81 00", func(c *Conn) { c.WantNoFrame(time.Second) }, "want no frame"},
		{"frame instead of TCP close", "81 00", func(c *Conn) { c.WantTCPClosed(time.Second) }, "got frame"},
		{"silence instead of TCP close", "", func(c *Conn) { c.WantTCPClosed(10 * time.Millisecond) }, "still open"},
		{"TCP closed instead of text", "-", func(c *Conn) { c.WantText("x") }, "closed the TCP connection"},
		{"bytes differ", "00 61 ff", func(c *Conn) { c.WantBytes([]byte{0, 'b', 0xff}) }, "offset 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			url := serve(t, upgrade(), func(p *peer) {
				if tt.server == "-" {
					return
				}
				p.send(tt.server)
				<-release
			})
			msg := fails(t, func(tb testing.TB) { tt.want(Dial(tb, url)) })
			close(release)
			if !strings.Contains(msg, tt.msg) {
				t.Errorf("failure %q, want it to mention %q", msg, tt.msg)
			}
		})
	}
}

// TestDeflate negotiates permessage-deflate with a server that sends the
// RFC 7692 §7.2.3.2 messages and checks what the client compresses.
func TestDeflate(t *testing.T) {
	got := make(chan []byte, 2)
	url := serve(t, upgrade("Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n"), func(p *peer) {
		p.send("c1 07 f2 48 cd c9 c9 07 00") // "Hello", compressed
		p.send("c1 05 f2 00 11 00 00")       // "Hello" again, from the shared window
		p.send("81 02 68 69")                // "hi", not compressed
		d := NewDeflater(DeflateParams{ServerNoContextTakeover: true})
		for range 2 {
			f := p.recv()
			if f.Rsv != RSV1 {
				t.Errorf("server: client frame %v lacks RSV1", f)
			}
			m, err := d.Decompress(f.Payload, 1<<20)
			if err != nil {
				t.Errorf("server: %v", err)
			}
			got <- m
		}
	})
	c := Dial(t, url, Extensions("permessage-deflate; client_max_window_bits"))
	if d := c.Deflater(); d == nil || !d.Params().ClientNoContextTakeover {
		t.Fatalf("Deflater = %v, want client_no_context_takeover", d)
	}
	c.WantText("Hello")
	c.WantText("Hello")
	c.WantText("hi")
	c.WriteText("Hello")
	c.WriteBinary(bytes.Repeat([]byte("Hello"), 100))
	if m := <-got; string(m) != "Hello" {
		t.Errorf("server inflated %q", m)
	}
	if m := <-got; !bytes.Equal(m, bytes.Repeat([]byte("Hello"), 100)) {
		t.Errorf("server inflated %q", abbrev(m))
	}
}

// TestWriteAfterServerClosed checks that writing to a connection the
// server has closed does not fail the test by itself, and that the next
// read reports it.
func TestWriteAfterServerClosed(t *testing.T) {
	url := serve(t, upgrade(), func(p *peer) {})
	msg := fails(t, func(tb testing.TB) {
		c := Dial(tb, url)
		c.WantTCPClosed(DefaultTimeout)
		for range 3 {
			c.WriteBinary(make([]byte, 1<<16))
		}
		c.WantText("x")
	})
	if !strings.Contains(msg, "an earlier write had failed") {
		t.Errorf("failure %q, want it to mention the failed write", msg)
	}
}

// TestDeflateOfferHint checks that a client that offered
// client_no_context_takeover keeps its promise even when the server's
// answer does not repeat the parameter: the same message then compresses
// to the same bytes each time.
func TestDeflateOfferHint(t *testing.T) {
	got := make(chan Frame, 2)
	url := serve(t, upgrade("Sec-WebSocket-Extensions: permessage-deflate\r\n"), func(p *peer) {
		got <- p.recv()
		got <- p.recv()
	})
	c := Dial(t, url, Extensions("permessage-deflate; client_no_context_takeover"))
	c.WriteText("Hello, Hello, Hello")
	c.WriteText("Hello, Hello, Hello")
	first, second := <-got, <-got
	if first.Rsv != RSV1 || !bytes.Equal(first.Payload, second.Payload) {
		t.Errorf("messages compressed to % x and % x; want the same bytes, without shared context", first.Payload, second.Payload)
	}
}
