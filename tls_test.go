package lariat

import (
	"bufio"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lariat-ws/lariat/internal/wstest"
)

// TestTLSPostWake: Post wakes a connection blocked in a TLS read by
// moving its read deadline; the TLS stream must survive that timeout and
// go on with the next frame.
func TestTLSPostWake(t *testing.T) {
	ready := make(chan *Conn, 1)
	h := newRecorder()
	h.onInit = func(c *Conn) error { ready <- c; return nil }
	h.onInfo = func(c *Conn, msg any) error { return c.SendText(msg.(string)) }
	srv := httptest.NewTLSServer(&Upgrader{New: func(*http.Request, *Handshake) (Handler, error) { return h, nil }})
	t.Cleanup(func() { srv.Close(); waitNoConnGoroutines(t) })

	tc, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(tc, rawRequest("ws://"+srv.Listener.Addr().String()+"/"))
	br := bufio.NewReader(tc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	c := <-ready
	expect := func(want string) {
		t.Helper()
		f, err := wstest.ReadFrameFrom(br, 1<<20)
		if err != nil || string(f.Payload) != want {
			t.Fatalf("got %v %v, want %q", f, err, want)
		}
	}
	for _, s := range []string{"one", "two", "three"} {
		waitReading(t, c) // Post must wake a Read blocked in TLS
		c.Post(s)
		expect(s)
	}
	tc.Write(wstest.AppendFrame(nil, wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte("after wakes"), Masked: true, Mask: [4]byte{1, 2, 3, 4}}))
	expect("after wakes")
}
