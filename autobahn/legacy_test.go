package autobahn_test

import (
	"strings"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// legacyRows is family H, which the fuzzingclient does not test: the
// hixie-75 and hixie-76 drafts, served when Upgrader.Legacy is on. Their
// frames are 0x00, UTF-8 text, 0xFF; 0xFF 0x00 closes.
func legacyRows() []row {
	host := hostOf(legacy.url)
	// The example handshake of draft-hixie-thewebsocketprotocol-76 §1.3,
	// with its keys, its 8-byte body and the 16-byte answer it gives.
	hixie76 := func(id string) wstest.Option {
		return wstest.RawRequest(strings.Join([]string{
			"GET /demo HTTP/1.1",
			"Host: " + host,
			"Connection: Upgrade",
			"Sec-WebSocket-Key2: 12998 5 Y3 1  .P00",
			"Sec-WebSocket-Protocol: sample",
			"Upgrade: WebSocket",
			"Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5",
			"Origin: http://" + host,
			caseHeader + ": " + id,
		}, "\r\n") + "\r\n\r\n^n:ds[4U")
	}
	handshake76 := func(c *wstest.Conn) {
		h := c.Response.Header
		if got, want := h.Get("Sec-WebSocket-Location"), "ws://"+host+"/demo"; got != want {
			c.TB().Errorf("Sec-WebSocket-Location %q, want %q", got, want)
		}
		if got, want := h.Get("Sec-WebSocket-Origin"), "http://"+host; got != want {
			c.TB().Errorf("Sec-WebSocket-Origin %q, want %q", got, want)
		}
		c.WantBytes([]byte("8jKS'y:G*Co,Wxa-"))
	}
	closeHixie := func(c *wstest.Conn) {
		c.WriteRaw([]byte{0xff, 0x00})
		c.WantBytes([]byte{0xff, 0x00})
		c.WantTCPClosed(tcpWait)
	}
	hixie75 := wstest.RawRequest(strings.Join([]string{
		"GET /demo HTTP/1.1",
		"Upgrade: WebSocket",
		"Connection: Upgrade",
		"Host: " + host,
		"Origin: http://" + host,
		caseHeader + ": H.4",
	}, "\r\n") + "\r\n\r\n")
	return []row{
		{id: "H.1", desc: "hixie-76 example handshake", want: "101 with the draft's 16-byte answer; clean close", need: needLegacy,
			opts: []wstest.Option{hixie76("H.1")}, run: func(c *wstest.Conn) {
				handshake76(c)
				closeHixie(c)
			}},
		{id: "H.2", desc: "hixie-76 text frames, one with UTF-8", want: "each echoed, byte-exact; clean close", need: needLegacy,
			opts: []wstest.Option{hixie76("H.2")}, run: func(c *wstest.Conn) {
				handshake76(c)
				for _, m := range []string{"Hello", "", kosme} {
					frame := append(append([]byte{0x00}, m...), 0xff)
					c.WriteRaw(frame)
					c.WantBytes(frame)
				}
				closeHixie(c)
			}},
		{id: "H.3", desc: "hixie-76 text frame, 1 byte at a time", want: "echoed; clean close", need: needLegacy,
			opts: []wstest.Option{hixie76("H.3")}, run: func(c *wstest.Conn) {
				handshake76(c)
				c.SetChop(1, 0)
				c.WriteRaw([]byte("\x00Hello\xff"))
				c.SetChop(0, 0)
				c.WantBytes([]byte("\x00Hello\xff"))
				closeHixie(c)
			}},
		{id: "H.4", desc: "hixie-75 handshake and a text frame", want: "101 with WebSocket-Origin and -Location; echo; TCP closed after FF 00", need: needLegacy,
			opts: []wstest.Option{hixie75}, run: func(c *wstest.Conn) {
				h := c.Response.Header
				if got, want := h.Get("WebSocket-Location"), "ws://"+host+"/demo"; got != want {
					c.TB().Errorf("WebSocket-Location %q, want %q", got, want)
				}
				if got, want := h.Get("WebSocket-Origin"), "http://"+host; got != want {
					c.TB().Errorf("WebSocket-Origin %q, want %q", got, want)
				}
				c.WriteRaw([]byte("\x00Hello\xff"))
				c.WantBytes([]byte("\x00Hello\xff"))
				// hixie-75 has no closing handshake: 0xFF 0x00 makes the
				// server close the connection, with nothing in answer.
				c.WriteRaw([]byte{0xff, 0x00})
				c.WantTCPClosed(tcpWait)
			}},
	}
}
