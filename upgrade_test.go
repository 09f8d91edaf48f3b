package lariat

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lariat-ws/lariat/internal/wstest"
)

const goodKey = "dGhlIHNhbXBsZSBub25jZQ=="

func upgradeRequest(mod func(r *http.Request)) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://example.com/chat", nil)
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Connection", "keep-alive, Upgrade")
	r.Header.Set("Sec-WebSocket-Key", goodKey)
	r.Header.Set("Sec-WebSocket-Version", "13")
	if mod != nil {
		mod(r)
	}
	return r
}

// TestHandshakeRefusals covers every way a request is refused before the
// connection is hijacked, with its status and the header that must come
// with it.
func TestHandshakeRefusals(t *testing.T) {
	refuse := errors.New("no")
	tests := []struct {
		name   string
		mod    func(r *http.Request)
		up     func(u *Upgrader)
		status int
		header string // "Name: value" that must be in the response
		body   string // substring of the body
	}{
		{"POST", func(r *http.Request) { r.Method = http.MethodPost }, nil, 405, "Allow: GET", "GET"},
		{"HTTP/1.0", func(r *http.Request) { r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.0", 1, 0 }, nil, 400, "", "HTTP/1.1"},
		{"no Connection upgrade", func(r *http.Request) { r.Header.Set("Connection", "keep-alive") }, nil, 400, "", "Connection"},
		{"no key", func(r *http.Request) { r.Header.Del("Sec-WebSocket-Key") }, nil, 400, "", "Sec-WebSocket-Key"},
		{"two keys", func(r *http.Request) { r.Header.Add("Sec-WebSocket-Key", goodKey) }, nil, 400, "", "Sec-WebSocket-Key"},
		{"key not base64", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "not base64 at all!!!!!!!") }, nil, 400, "", "Sec-WebSocket-Key"},
		{"key of 15 bytes", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA") }, nil, 400, "", "16 bytes"},
		{"key of 17 bytes", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAAA=") }, nil, 400, "", "16 bytes"},
		// A key of 28 or more base64 characters once overran the
		// decode buffer and panicked.
		{"key of 28 characters", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", strings.Repeat("A", 28)) }, nil, 400, "", "16 bytes"},
		{"key of 4 KiB", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", strings.Repeat("QUFB", 1024)) }, nil, 400, "", "16 bytes"},
		{"version 12", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Version", "12") }, nil, 426, "Sec-Websocket-Version: 13, 8, 7", "Sec-WebSocket-Version"},
		{"no version", func(r *http.Request) { r.Header.Del("Sec-WebSocket-Version") }, nil, 426, "Sec-Websocket-Version: 13, 8, 7", "Sec-WebSocket-Version"},
		{"cross-origin", func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }, nil, 403, "", "origin"},
		{"cross-origin hybi-08", func(r *http.Request) {
			r.Header.Set("Sec-WebSocket-Version", "8")
			r.Header.Set("Sec-WebSocket-Origin", "http://evil.example")
		}, nil, 403, "", "origin"},
		{"origin refused by hook", func(r *http.Request) { r.Header.Set("Origin", "http://example.com") },
			func(u *Upgrader) { u.CheckOrigin = func(*http.Request) bool { return false } }, 403, "", "origin"},
		{"New refuses", nil, func(u *Upgrader) {
			u.New = func(*http.Request, *Handshake) (Handler, error) { return nil, refuse }
		}, 403, "", "Forbidden"},
		{"New refuses with HTTPError", nil, func(u *Upgrader) {
			u.New = func(*http.Request, *Handshake) (Handler, error) {
				return nil, &HTTPError{Status: http.StatusUnauthorized, Message: "log in first"}
			}
		}, 401, "", "log in first"},
		{"New picks a protocol not offered", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Protocol", "chat") }, func(u *Upgrader) {
			u.New = func(_ *http.Request, hs *Handshake) (Handler, error) { hs.Protocol = "superchat"; return Base{}, nil }
		}, 500, "", ""},
		{"plain GET without fallback", func(r *http.Request) {
			r.Header.Del("Upgrade")
			r.Header.Del("Connection")
		}, nil, 426, "Upgrade: websocket", "WebSocket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &Upgrader{New: func(*http.Request, *Handshake) (Handler, error) {
				t.Error("New called for a request that must be refused")
				return Base{}, nil
			}}
			if tt.up != nil {
				tt.up(u)
			}
			w := httptest.NewRecorder()
			u.ServeHTTP(w, upgradeRequest(tt.mod))
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %q", w.Code, tt.status, w.Body)
			}
			if tt.header != "" {
				name, value, _ := strings.Cut(tt.header, ": ")
				if got := w.Header().Get(name); got != value {
					t.Fatalf("%s: %q, want %q", name, got, value)
				}
			}
			if !strings.Contains(w.Body.String(), tt.body) {
				t.Fatalf("body %q lacks %q", w.Body, tt.body)
			}
		})
	}
}

func TestOriginAllowed(t *testing.T) {
	u := &Upgrader{}
	for _, tt := range []struct {
		origin, sideOrigin, host string
		tls                      bool
		ok                       bool
	}{
		{origin: "", ok: true},
		{origin: "http://example.com", ok: true},
		{origin: "https://EXAMPLE.com", ok: true}, // TLS may end at a proxy
		{origin: "http://example.com:8080", ok: false},
		{origin: "http://evil.com", ok: false},
		{origin: "null", ok: false},
		{origin: "chrome-extension://example.com", ok: false},
		{origin: "ws://example.com", ok: false},
		// A default port is the same as none, on either side.
		{origin: "http://example.com", host: "example.com:80", ok: true},
		{origin: "http://example.com:80", host: "example.com", ok: true},
		{origin: "https://example.com", host: "example.com:443", ok: true},
		{origin: "http://example.com", host: "example.com:443", ok: false},
		{origin: "http://example.com:8080", host: "example.com:8080", ok: true},
		{origin: "http://[::1]:8080", host: "[::1]:8080", ok: true},
		// Over TLS only an https page may connect.
		{origin: "https://example.com", tls: true, ok: true},
		{origin: "http://example.com", tls: true, ok: false},
		{origin: "https://example.com:8443", host: "example.com:8443", tls: true, ok: true},
		// hybi-07/08: Origin is preferred to Sec-WebSocket-Origin.
		{origin: "http://example.com", sideOrigin: "http://evil.com", ok: true},
		{origin: "http://evil.com", sideOrigin: "http://example.com", ok: false},
		{sideOrigin: "http://evil.com", ok: false},
		{sideOrigin: "http://example.com", ok: true},
	} {
		r := upgradeRequest(func(r *http.Request) {
			r.Header.Set("Origin", tt.origin)
			if tt.sideOrigin != "" {
				r.Header.Set("Sec-WebSocket-Version", "8")
				r.Header.Set("Sec-WebSocket-Origin", tt.sideOrigin)
			}
			if tt.host != "" {
				r.Host = tt.host
			}
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
		})
		if got := u.originAllowed(r); got != tt.ok {
			t.Errorf("origin %q (side %q) host %q tls %v: %v, want %v", tt.origin, tt.sideOrigin, r.Host, tt.tls, got, tt.ok)
		}
	}
}

func TestHandshakeResponse(t *testing.T) {
	var seen *Handshake
	h := newRecorder()
	url := serve(t, h, func(u *Upgrader) {
		u.New = func(r *http.Request, hs *Handshake) (Handler, error) {
			seen = hs
			hs.Protocol = hs.Protocols[1]
			hs.Header.Set("Set-Cookie", "session=1")
			return h, nil
		}
	})
	c := wstest.Dial(t, url, wstest.Protocols("v1.chat", "v2.chat"), wstest.Header("Sec-WebSocket-Key", goodKey))
	resp := c.Response
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("accept %q", got)
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "v2.chat" {
		t.Errorf("protocol %q", got)
	}
	if got := resp.Header.Get("Set-Cookie"); got != "session=1" {
		t.Errorf("cookie %q", got)
	}
	if resp.Header.Get("Sec-WebSocket-Extensions") != "" {
		t.Error("extension accepted though none was configured")
	}
	if seen.Version != VersionRFC6455 || len(seen.Protocols) != 2 {
		t.Errorf("handshake %+v", seen)
	}
	c.WriteText("hi")
	c.WantText("hi")
}

func TestHybiVersions(t *testing.T) {
	for _, v := range []string{"7", "8"} {
		t.Run(v, func(t *testing.T) {
			versions := make(chan Version, 1)
			h := newRecorder()
			h.onInit = func(c *Conn) error { versions <- c.Version(); return nil }
			url := serve(t, h)
			c := wstest.Dial(t, url, wstest.Version(v), wstest.Header("Sec-WebSocket-Origin", "http://"+strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/")))
			c.WriteText("old")
			c.WantText("old")
			if got := <-versions; got.String() != "hybi-0"+v {
				t.Fatalf("version %v", got)
			}
		})
	}
}

func TestFallbackAndWrap(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>chat</html>") })
	u := &Upgrader{New: func(*http.Request, *Handshake) (Handler, error) { return newRecorder(), nil }}
	mux := http.NewServeMux()
	mux.Handle("/chat", u.Wrap(page))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); waitNoConnGoroutines(t) })

	resp, err := http.Get(srv.URL + "/chat")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "<html>chat</html>" {
		t.Fatalf("fallback body %q", body)
	}
	c := wstest.Dial(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/chat")
	c.WriteText("both")
	c.WantText("both")
}

// FuzzHandshake feeds raw requests through net/http's parser and the
// Upgrader, with the hixie drafts on, refusing every upgrade in New: whatever the bytes, the answer is
// a well-formed status and nothing panics.
func FuzzHandshake(f *testing.F) {
	f.Add("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + goodKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n")
	f.Add("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n\r\n^n:ds[4U")
	f.Add("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket, h2c\r\nConnection: keep-alive,upgrade\r\nSec-WebSocket-Key: AAAA\r\nSec-WebSocket-Version: 8\r\nOrigin: http://a\r\n\r\n")
	f.Add("POST / HTTP/1.0\r\nUpgrade: websocket\r\n\r\n")
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		called := false
		var version Version
		u := &Upgrader{Legacy: true, New: func(_ *http.Request, hs *Handshake) (Handler, error) {
			called, version = true, hs.Version
			return nil, &HTTPError{Status: 418, Message: "test"}
		}}
		w := httptest.NewRecorder()
		u.ServeHTTP(w, r)
		if w.Code < 100 || w.Code > 599 {
			t.Fatalf("status %d", w.Code)
		}
		if called && w.Code != 418 {
			t.Fatalf("New refused but status %d", w.Code)
		}
		if called && version < VersionHixie75 {
			if parseRFC6455(r).status != 0 {
				t.Fatal("New called for an invalid request")
			}
		}
	})
}
