package autobahn_test

import (
	"net/url"
	"strings"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// handshakeRows is family 0, which the fuzzingclient does not test: the
// opening handshake of RFC 6455 §4.2 and of the hybi drafts 7 and 8. A
// request the server cannot accept gets an HTTP error ("such as 400 Bad
// Request", §4.2.2); an unsupported version gets 426 with the versions the
// server speaks (§4.4).
func handshakeRows() []row {
	host := hostOf(srv.url)
	refused := func(c *wstest.Conn) {}
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	// raw builds a valid request with this request line and extra header
	// lines, for requests wstest.Dial would not make.
	raw := func(id, requestLine string, extra ...string) string {
		lines := append([]string{requestLine, "Host: " + host, "Upgrade: websocket", "Connection: Upgrade",
			"Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13", caseHeader + ": " + id}, extra...)
		return strings.Join(lines, "\r\n") + "\r\n\r\n"
	}
	return []row{
		{id: "0.1", desc: "RFC 6455 handshake, version 13", want: "101; echo", run: echo(opText, []byte("Hello"), 0)},
		{id: "0.2", desc: "hybi-08 handshake, version 8 with Sec-WebSocket-Origin", want: "101; echo",
			opts: []wstest.Option{wstest.Version("8"), wstest.Header("Sec-WebSocket-Origin", "http://"+host)}, run: echo(opText, []byte("Hello"), 0)},
		{id: "0.3", desc: "hybi-07 handshake, version 7", want: "101; echo",
			opts: []wstest.Option{wstest.Version("7")}, run: echo(opText, []byte("Hello"), 0)},
		{id: "0.4", desc: "unsupported version 12", want: "426 with Sec-WebSocket-Version naming 13",
			opts: []wstest.Option{wstest.Version("12"), wstest.WantStatus(426)}, run: func(c *wstest.Conn) {
				if v := c.Response.Header.Values("Sec-WebSocket-Version"); !strings.Contains(strings.Join(v, ","), "13") {
					c.TB().Errorf("Sec-WebSocket-Version %q does not name 13", v)
				}
			}},
		{id: "0.5", desc: "no Sec-WebSocket-Version", want: "400 or 426",
			opts: []wstest.Option{wstest.Version(""), wstest.WantStatus(400, 426)}, run: refused},
		{id: "0.6", desc: "no Sec-WebSocket-Key", want: "400",
			opts: []wstest.Option{wstest.Header("Sec-WebSocket-Key", ""), wstest.WantStatus(400)}, run: refused},
		{id: "0.7", desc: "Sec-WebSocket-Key of 15 bytes", want: "400",
			opts: []wstest.Option{wstest.Header("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA"), wstest.WantStatus(400)}, run: refused},
		{id: "0.8", desc: "two Sec-WebSocket-Key headers", want: "400",
			opts: []wstest.Option{wstest.RawRequest(raw("0.8", "GET / HTTP/1.1", "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==")), wstest.WantStatus(400)}, run: refused},
		{id: "0.9", desc: "POST instead of GET", want: "400 or 405",
			opts: []wstest.Option{wstest.RawRequest(raw("0.9", "POST / HTTP/1.1")), wstest.WantStatus(400, 405)}, run: refused},
		{id: "0.10", desc: "HTTP/1.0", want: "400, 426 or 505",
			opts: []wstest.Option{wstest.RawRequest(raw("0.10", "GET / HTTP/1.0")), wstest.WantStatus(400, 426, 505)}, run: refused},
		{id: "0.11", desc: "Connection header without the upgrade token", want: "400",
			opts: []wstest.Option{wstest.Header("Connection", "keep-alive"), wstest.WantStatus(400)}, run: refused},
		{id: "0.12", desc: "no Upgrade header (plain HTTP)", want: "not 101 (426 without a fallback)",
			opts: []wstest.Option{wstest.Header("Upgrade", ""), wstest.WantStatus(400, 426)}, run: refused},
		{id: "0.13", desc: "Upgrade and Connection in other cases, Connection a token list", want: "101; echo",
			opts: []wstest.Option{wstest.Header("Upgrade", "WebSocket"), wstest.Header("Connection", "keep-alive, UPGRADE")}, run: echo(opText, []byte("Hello"), 0)},
		{id: "0.14", desc: "subprotocols offered, none chosen by the server", want: "101 without Sec-WebSocket-Protocol; echo",
			opts: []wstest.Option{wstest.Protocols("chat", "superchat")}, run: func(c *wstest.Conn) {
				if p := c.Response.Header.Get("Sec-WebSocket-Protocol"); p != "" {
					c.TB().Errorf("Sec-WebSocket-Protocol %q: the echo server chooses none", p)
				}
				echo(opText, []byte("Hello"), 0)(c)
			}},
		{id: "0.15", desc: "an unknown extension offered", want: "101 without it; echo",
			opts: []wstest.Option{wstest.Extensions("x-unknown-extension; foo=1")}, run: echo(opText, []byte("Hello"), 0)},
		{id: "0.16", desc: "frames sent in the same write as the request", want: "101, then the frames echoed in order",
			opts: []wstest.Option{wstest.RawRequest(raw("0.16", "GET / HTTP/1.1") + string(wstest.AppendFrame(wstest.AppendFrame(nil,
				wstest.Frame{Fin: true, Op: opText, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Payload: []byte("first")}),
				wstest.Frame{Fin: true, Op: opBinary, Masked: true, Mask: [4]byte{5, 6, 7, 8}, Payload: []byte("second")})))},
			run: func(c *wstest.Conn) {
				if got, want := c.Response.Header.Get("Sec-WebSocket-Accept"), wstest.AcceptKey(key); got != want {
					c.TB().Errorf("Sec-WebSocket-Accept %q, want %q", got, want)
				}
				c.WantText("first")
				c.WantBinary([]byte("second"))
				closeClean(c)
			}},
	}
}

// hostOf returns the host:port of a ws:// URL.
func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		panic(err)
	}
	return p.Host
}
