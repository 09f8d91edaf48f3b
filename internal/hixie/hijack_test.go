package hixie

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

const request76 = "GET /demo HTTP/1.1\r\n" +
	"Host: example.com\r\n" +
	"Connection: Upgrade\r\n" +
	"Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n" +
	"Sec-WebSocket-Protocol: sample\r\n" +
	"Upgrade: WebSocket\r\n" +
	"Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n" +
	"Origin: http://example.com\r\n" +
	"\r\n"

const response76Header = "HTTP/1.1 101 WebSocket Protocol Handshake\r\n" +
	"Upgrade: WebSocket\r\n" +
	"Connection: Upgrade\r\n" +
	"Sec-WebSocket-Origin: http://example.com\r\n" +
	"Sec-WebSocket-Location: ws://example.com/demo\r\n" +
	"Sec-WebSocket-Protocol: sample\r\n" +
	"\r\n"

// hixie76Server is the upgrade path the package documents, on a real
// net/http server: check and parse the keys, hijack, write the header,
// read key3 under a deadline, write the challenge, then echo text messages
// until the closing frame. Errors go to errc.
func hixie76Server(t *testing.T, key3Timeout time.Duration, errc chan<- error) *httptest.Server {
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		errc <- func() error {
			if !IsHixie76(r.Header) {
				return errors.New("not hixie-76")
			}
			key1, key2, err := ParseKeys(r.Header)
			if err != nil {
				return err
			}
			head, err := AppendResponse76Header(nil, r.Header.Get("Origin"),
				Location(r.TLS != nil, r.Host, r.RequestURI), r.Header.Get("Sec-WebSocket-Protocol"), nil)
			if err != nil {
				return err
			}
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return err
			}
			defer conn.Close()
			if _, err := conn.Write(head); err != nil {
				return err
			}
			conn.SetReadDeadline(time.Now().Add(key3Timeout))
			key3, err := ReadKey3(brw.Reader)
			if err != nil {
				return err
			}
			conn.SetReadDeadline(time.Time{})
			sum := Challenge(key1, key2, key3)
			if _, err := conn.Write(sum[:]); err != nil {
				return err
			}

			var d Decoder
			var msg, out []byte
			for {
				if _, err := brw.Reader.Peek(1); err != nil {
					return err
				}
				p, _ := brw.Reader.Peek(brw.Reader.Buffered())
				n, ev, data, err := d.Decode(p)
				msg = append(msg, data...)
				brw.Reader.Discard(n)
				if err != nil {
					return err
				}
				switch ev {
				case EventTextEnd:
					if out, err = AppendText(out[:0], msg); err != nil {
						return err
					}
					msg = msg[:0]
					if _, err := conn.Write(out); err != nil {
						return err
					}
				case EventClose:
					_, err := io.WriteString(conn, CloseFrame)
					return err
				}
			}
		}()
	}))
	t.Cleanup(func() {
		srv.Close()
		wg.Wait() // Close does not wait for hijacked connections
	})
	return srv
}

func TestHijackedHandshake76(t *testing.T) {
	for _, tt := range []struct {
		name string
		// key3AfterHeader makes the client hold key3 back until it has
		// read the response header, as proxies such as HAProxy do.
		key3AfterHeader bool
	}{
		{"key3 with request", false},
		{"key3 after response header", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			errc := make(chan error, 1)
			srv := hixie76Server(t, 5*time.Second, errc)
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))

			req := request76
			if !tt.key3AfterHeader {
				req += "^n:ds[4U"
			}
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			head := make([]byte, len(response76Header))
			if _, err := io.ReadFull(br, head); err != nil {
				t.Fatal(err)
			}
			if string(head) != response76Header {
				t.Fatalf("header\n%q\nwant\n%q", head, response76Header)
			}
			if tt.key3AfterHeader {
				io.WriteString(conn, "^n:ds[4U")
			}
			body := make([]byte, 16)
			if _, err := io.ReadFull(br, body); err != nil {
				t.Fatal(err)
			}
			if string(body) != "8jKS'y:G*Co,Wxa-" {
				t.Fatalf("challenge %q", body)
			}

			// Frames written cut mid-message and mid-rune (the reads
			// may or may not see the cuts), then the closing handshake.
			for _, w := range []string{"\x00Hel", "lo\xff\x00\xe2\x82", "\xac\xff" + CloseFrame} {
				if _, err := io.WriteString(conn, w); err != nil {
					t.Fatal(err)
				}
			}
			const want = "\x00Hello\xff\x00\xe2\x82\xac\xff" + CloseFrame
			got := make([]byte, len(want))
			if _, err := io.ReadFull(br, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, []byte(want)) {
				t.Errorf("echo %q; want %q", got, want)
			}
			if err := <-errc; err != nil {
				t.Errorf("server: %v", err)
			}
		})
	}
}

// A client that never sends key3 holds the server only until its deadline.
func TestHijackedHandshake76Key3Timeout(t *testing.T) {
	errc := make(chan error, 1)
	srv := hixie76Server(t, 50*time.Millisecond, errc)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, request76+"^n:d") // half of key3
	select {
	case err := <-errc:
		if !errors.Is(err, ErrKey) || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("server: %v; want ErrKey and os.ErrDeadlineExceeded", err)
		}
		if !strings.Contains(err.Error(), "reading key3") {
			t.Errorf("error %q does not say what was read", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server still waiting for key3")
	}
}
