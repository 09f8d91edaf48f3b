package lariat

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The example handshake of draft-hixie-thewebsocketprotocol-76.
const (
	hixieKey1 = "4 @1  46546xW%0l 1 5"
	hixieKey2 = "12998 5 Y3 1  .P00"
	hixieKey3 = "^n:ds[4U"
	hixieBody = "8jKS'y:G*Co,Wxa-"
)

func legacyServer(t *testing.T, h Handler, opts ...func(*Upgrader)) string {
	return strings.TrimSuffix(strings.TrimPrefix(serve(t, h, append([]func(*Upgrader){func(u *Upgrader) { u.Legacy = true }}, opts...)...), "ws://"), "/")
}

// hixieConn is a minimal hixie client over TCP.
type hixieConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialHixie(t *testing.T, addr, request string) *hixieConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, request); err != nil {
		t.Fatal(err)
	}
	return &hixieConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func request76(addr, extra string) string {
	return "GET /demo?room=1 HTTP/1.1\r\nHost: " + addr + "\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key2: " + hixieKey2 + "\r\nSec-WebSocket-Protocol: sample\r\nUpgrade: WebSocket\r\n" +
		"Sec-WebSocket-Key1: " + hixieKey1 + "\r\nOrigin: http://" + addr + "\r\n" + extra + "\r\n"
}

// readHead reads the response up to and including the blank line.
func (c *hixieConn) readHead() string {
	c.t.Helper()
	var head strings.Builder
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading response: %v (so far %q)", err, head.String())
		}
		head.WriteString(line)
		if line == "\r\n" {
			return head.String()
		}
	}
}

func (c *hixieConn) readN(n int) []byte {
	c.t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(c.br, b); err != nil {
		c.t.Fatalf("reading %d bytes: %v", n, err)
	}
	return b
}

func (c *hixieConn) send(b string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *hixieConn) wantText(s string) {
	c.t.Helper()
	if got := string(c.readN(len(s) + 2)); got != "\x00"+s+"\xff" {
		c.t.Fatalf("got %q, want text frame %q", got, s)
	}
}

func (c *hixieConn) wantEOF() {
	c.t.Helper()
	if b, err := c.br.ReadByte(); err == nil {
		c.t.Fatalf("got byte %#x, want the connection closed", b)
	}
}

func TestHixie76Handshake(t *testing.T) {
	for _, tt := range []struct {
		name  string
		write func(c *hixieConn, addr string)
	}{
		{"key3 with the request", func(c *hixieConn, addr string) {}},
		{"key3 split and late", func(c *hixieConn, addr string) {}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newRecorder()
			protocols := make(chan *Handshake, 1)
			addr := legacyServer(t, h, func(u *Upgrader) {
				u.New = func(r *http.Request, hs *Handshake) (Handler, error) {
					hs.Protocol = hs.Protocols[0]
					protocols <- hs
					return h, nil
				}
			})
			var c *hixieConn
			var head string
			if tt.name == "key3 with the request" {
				c = dialHixie(t, addr, request76(addr, "")+hixieKey3)
				head = c.readHead()
			} else {
				// Without the whole key3 the server sends the head
				// first and waits: the rest goes once the head is here.
				c = dialHixie(t, addr, request76(addr, "")+hixieKey3[:3])
				head = c.readHead()
				c.send(hixieKey3[3:])
			}
			want := "HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Origin: http://" + addr + "\r\nSec-WebSocket-Location: ws://" + addr + "/demo?room=1\r\n" +
				"Sec-WebSocket-Protocol: sample\r\n\r\n"
			if head != want {
				t.Fatalf("response head\n%q\nwant\n%q", head, want)
			}
			if body := string(c.readN(16)); body != hixieBody {
				t.Fatalf("challenge %q, want %q", body, hixieBody)
			}
			if hs := <-protocols; hs.Version != VersionHixie76 || hs.Protocols[0] != "sample" {
				t.Fatalf("handshake %+v", hs)
			}
			c.send("\x00héllo\xff\x00second\xff")
			c.wantText("héllo")
			c.wantText("second")
			// The client closes: the server answers 0xFF 0x00 and ends.
			c.send("\xff\x00")
			if got := string(c.readN(2)); got != "\xff\x00" {
				t.Fatalf("closing frame %q", got)
			}
			c.wantEOF()
			if r := h.reason(t); r.Kind != ReasonRemote || r.Code != StatusNormalClosure {
				t.Fatalf("reason %+v", r)
			}
		})
	}
}

func TestHixie75(t *testing.T) {
	h := newRecorder()
	addr := legacyServer(t, h)
	c := dialHixie(t, addr, "GET /demo HTTP/1.1\r\nHost: "+addr+"\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\nOrigin: http://"+addr+"\r\n\r\n")
	head := c.readHead()
	want := "HTTP/1.1 101 Web Socket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n" +
		"WebSocket-Origin: http://" + addr + "\r\nWebSocket-Location: ws://" + addr + "/demo\r\n\r\n"
	if head != want {
		t.Fatalf("response head\n%q\nwant\n%q", head, want)
	}
	c.send("\x00hi\xff")
	c.wantText("hi")
	c.nc.(*net.TCPConn).CloseWrite() // hixie-75's close: the stream ends
	c.wantEOF()
	if r := h.reason(t); r.Kind != ReasonRemote {
		t.Fatalf("reason %+v", r)
	}
}

func TestHixieServerCloses(t *testing.T) {
	h := newRecorder()
	h.onHandle = func(c *Conn, f Frame) error {
		if err := c.Send(Frame{Op: OpBinary, Payload: []byte("x")}); err != errNotSupported {
			t.Errorf("SendBinary on hixie = %v", err)
		}
		if err := c.Send(Frame{Op: OpPing, Payload: nil}); err != errNotSupported {
			t.Errorf("Ping on hixie = %v", err)
		}
		c.SendText("last words")
		return Stop
	}
	addr := legacyServer(t, h)
	c := dialHixie(t, addr, request76(addr, "")+hixieKey3)
	c.readHead()
	c.readN(16)
	c.send("\x00bye\xff")
	c.wantText("last words")
	if got := string(c.readN(2)); got != "\xff\x00" {
		t.Fatalf("closing frame %q", got)
	}
	c.send("\xff\x00")
	c.wantEOF()
	if r := h.reason(t); r.Kind != ReasonStop {
		t.Fatalf("reason %+v", r)
	}
}

func TestHixieErrors(t *testing.T) {
	tests := []struct {
		name string
		send string
		kind ReasonKind
	}{
		{"invalid UTF-8, failing fast", "\x00ok\xed\xa0\x80", ReasonBadEncoding},
		{"oversized frame", "\x00" + strings.Repeat("a", 2000), ReasonTooBig},
		{"oversized length-prefixed frame", "\x80\x81\x80\x80\x00", ReasonTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRecorder()
			addr := legacyServer(t, h, func(u *Upgrader) { u.Options.MaxMessageSize = 1000 })
			c := dialHixie(t, addr, request76(addr, "")+hixieKey3)
			c.readHead()
			c.readN(16)
			c.send(tt.send)
			if got := string(c.readN(2)); got != "\xff\x00" {
				t.Fatalf("closing frame %q", got)
			}
			if r := h.reason(t); r.Kind != tt.kind {
				t.Fatalf("reason %+v, want %v", r, tt.kind)
			}
		})
	}
}

func TestHixieRefusals(t *testing.T) {
	tests := []struct {
		name   string
		legacy bool
		req    func(addr string) string
		status string
	}{
		{"drafts off: hixie-76", false, func(a string) string { return request76(a, "") + hixieKey3 }, "426"},
		{"drafts off: hixie-75", false, func(a string) string {
			return "GET / HTTP/1.1\r\nHost: " + a + "\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n\r\n"
		}, "426"},
		{"key without spaces", true, func(a string) string {
			return strings.Replace(request76(a, ""), hixieKey1, "12345", 1) + hixieKey3
		}, "400"},
		{"key not a multiple of its spaces", true, func(a string) string {
			return strings.Replace(request76(a, ""), hixieKey1, "1 2 3", 1) + hixieKey3
		}, "400"},
		{"cross-origin", true, func(a string) string {
			return strings.Replace(request76(a, ""), "Origin: http://"+a, "Origin: http://evil.example", 1) + hixieKey3
		}, "403"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := strings.TrimSuffix(strings.TrimPrefix(serve(t, newRecorder(), func(u *Upgrader) { u.Legacy = tt.legacy }), "ws://"), "/")
			c := dialHixie(t, addr, tt.req(addr))
			resp, err := http.ReadResponse(c.br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if !strings.HasPrefix(resp.Status, tt.status) {
				t.Fatalf("status %q, want %s; body %q", resp.Status, tt.status, body)
			}
			if tt.status == "426" && !bytes.Contains(body, []byte("hixie")) {
				t.Fatalf("refusal does not say why: %q", body)
			}
		})
	}
}

// TestHixieKey3Timeout: a hixie-76 client that never sends key3 is cut
// off after HandshakeTimeout, not held forever.
func TestHixieKey3Timeout(t *testing.T) {
	h := newRecorder()
	addr := legacyServer(t, h)
	defer func(d time.Duration) { hixieKeyTimeout = d }(hixieKeyTimeout)
	hixieKeyTimeout = 100 * time.Millisecond
	c := dialHixie(t, addr, request76(addr, ""))
	c.readHead()
	if _, err := io.ReadAll(c.br); err != nil {
		t.Fatalf("connection not closed cleanly: %v", err)
	}
	if r := h.reason(t); r.Kind != ReasonHandshake {
		t.Fatalf("reason %+v", r)
	}
}

func TestHixieUnframeableText(t *testing.T) {
	h := newRecorder()
	h.onHandle = func(c *Conn, f Frame) error {
		if err := c.SendText("bad \xff byte"); err != errUnframeable {
			t.Errorf("SendText with 0xFF = %v", err)
		}
		big := strings.Repeat("x", 10000) + "\xff"
		if err := c.SendText(big); err != errUnframeable {
			t.Errorf("large SendText with 0xFF = %v", err)
		}
		return c.SendText(strings.Repeat("y", 10000))
	}
	addr := legacyServer(t, h)
	c := dialHixie(t, addr, request76(addr, "")+hixieKey3)
	c.readHead()
	c.readN(16)
	c.send("\x00go\xff")
	c.wantText(strings.Repeat("y", 10000))
}
