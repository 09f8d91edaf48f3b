package hixie_test

import (
	"bufio"
	"fmt"
	"net/http"
	"strings"
	"testing/iotest"

	"github.com/lariat-ws/lariat/internal/hixie"
)

// The hixie-76 handshake of the draft, as a server sees it. net/http reads
// the request header and leaves key3 in the bufio.Reader, since the request
// declares no body; after Hijack, that reader is the one to read it from.
func Example_handshake76() {
	const wire = "GET /demo HTTP/1.1\r\n" +
		"Host: example.com\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n" +
		"Sec-WebSocket-Protocol: sample\r\n" +
		"Upgrade: WebSocket\r\n" +
		"Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n" +
		"Origin: http://example.com\r\n" +
		"\r\n" +
		"^n:ds[4U"
	br := bufio.NewReader(strings.NewReader(wire))
	r, err := http.ReadRequest(br)
	if err != nil {
		panic(err)
	}
	fmt.Println("hixie-76:", hixie.IsHixie76(r.Header))

	key1, key2, err := hixie.ParseKeys(r.Header)
	if err != nil {
		panic(err) // 400 Bad Request
	}
	loc := hixie.Location(r.TLS != nil, r.Host, r.RequestURI)
	resp, err := hixie.AppendResponse76Header(nil, r.Header.Get("Origin"), loc,
		r.Header.Get("Sec-WebSocket-Protocol"), http.Header{"Set-Cookie": {"session=1"}})
	if err != nil {
		panic(err)
	}
	// Write resp and flush; set a read deadline; then:
	key3, err := hixie.ReadKey3(br)
	if err != nil {
		panic(err)
	}
	sum := hixie.Challenge(key1, key2, key3)
	resp = append(resp, sum[:]...)

	for line := range strings.SplitAfterSeq(string(resp), "\r\n") {
		fmt.Printf("%q\n", line)
	}
	// Output:
	// hixie-76: true
	// "HTTP/1.1 101 WebSocket Protocol Handshake\r\n"
	// "Upgrade: WebSocket\r\n"
	// "Connection: Upgrade\r\n"
	// "Sec-WebSocket-Origin: http://example.com\r\n"
	// "Sec-WebSocket-Location: ws://example.com/demo\r\n"
	// "Sec-WebSocket-Protocol: sample\r\n"
	// "Set-Cookie: session=1\r\n"
	// "\r\n"
	// "8jKS'y:G*Co,Wxa-"
}

// A read loop over a bufio.Reader: decode what is buffered, discard what
// was consumed, read more only when the Decoder has used everything. The
// reader here hands over half of what it could at each read.
func ExampleDecoder() {
	wire := "\x00Hello\xff\x80\x02\x01\x02\x00, \xe2\x82\xac!\xff" + hixie.CloseFrame
	br := bufio.NewReaderSize(iotest.HalfReader(strings.NewReader(wire)), 16)
	d := hixie.Decoder{MaxMessage: 1 << 20}
	var msg []byte
	for {
		if _, err := br.Peek(1); err != nil {
			fmt.Println("read:", err, "in frame:", d.InFrame())
			return
		}
		p, _ := br.Peek(br.Buffered())
		n, ev, data, err := d.Decode(p)
		br.Discard(n)
		if err != nil {
			fmt.Println(err)
			return
		}
		switch ev {
		case hixie.EventText:
			msg = append(msg, data...) // or validate UTF-8 and hand on
		case hixie.EventTextEnd:
			msg = append(msg, data...)
			fmt.Printf("message %q\n", msg)
			msg = msg[:0]
		case hixie.EventClose:
			fmt.Println("closing frame: answer with hixie.CloseFrame and close")
			return
		}
	}
	// Output:
	// message "Hello"
	// message ", €!"
	// closing frame: answer with hixie.CloseFrame and close
}
