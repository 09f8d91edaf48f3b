package lariat

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lariat-ws/lariat/internal/deflate"
	"github.com/lariat-ws/lariat/internal/wstest"
)

func readMem(m *runtime.MemStats) {
	runtime.GC()
	runtime.ReadMemStats(m)
}

// newFakeDeflateEcho is newFakeEcho with permessage-deflate and no context
// takeover either way: the replayed frame is one compressed message.
func newFakeDeflateEcho(t testing.TB, size int) (*Conn, *fakeConn) {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, 1)
	w.Write(jsonish(size))
	w.Flush()
	payload := bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
	frame := wstest.AppendFrame(nil, wstest.Frame{Fin: true, Rsv: wstest.RSV1, Op: wstest.OpText, Payload: payload, Masked: true, Mask: [4]byte{1, 2, 3, 4}})
	fc := &fakeConn{frame: frame}
	c := newTestConn(fc, echoHandler{}, Options{}, VersionRFC6455)
	p := deflate.Params{Kind: deflate.PerMessage, ServerNoContextTakeover: true, ClientNoContextTakeover: true}
	c.ext, c.comp, c.decomp = p.Kind, deflate.NewCompressor(p), deflate.NewDecompressor(p)
	return c, fc
}

func compressed(o ...func(*Upgrader)) func(*Upgrader) {
	return func(u *Upgrader) {
		if u.Options.Compression == nil {
			u.Options.Compression = &CompressionOptions{}
		}
		for _, f := range o {
			f(u)
		}
	}
}

func jsonish(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"id":%d,"user":"user-%d","text":"hello there, how are you today?","tags":["a","b"]},`, i, i%7)
	}
	return b.Bytes()[:n]
}

// TestDeflateNegotiation checks the response header for representative
// offers end to end; internal/deflate tables cover every parameter.
func TestDeflateNegotiation(t *testing.T) {
	tests := []struct {
		offer string
		opts  CompressionOptions
		want  string
	}{
		{"permessage-deflate", CompressionOptions{}, "permessage-deflate"},
		{"permessage-deflate; client_max_window_bits", CompressionOptions{}, "permessage-deflate; client_max_window_bits=13"},
		{"permessage-deflate; client_max_window_bits", CompressionOptions{ClientMaxWindowBits: 15}, "permessage-deflate"},
		{"permessage-deflate; server_max_window_bits=10", CompressionOptions{}, "permessage-deflate; server_max_window_bits=10"},
		{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", CompressionOptions{}, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"permessage-deflate; bogus, permessage-deflate", CompressionOptions{}, "permessage-deflate"},
		{"permessage-deflate", CompressionOptions{ServerNoContextTakeover: true}, "permessage-deflate; server_no_context_takeover"},
		{"permessage-deflate; server_max_window_bits=16", CompressionOptions{}, ""},
		{"x-webkit-deflate-frame", CompressionOptions{}, "x-webkit-deflate-frame"},
		{"foo", CompressionOptions{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.offer, func(t *testing.T) {
			url := serve(t, newRecorder(), compressed(func(u *Upgrader) { o := tt.opts; u.Options.Compression = &o }))
			c := wstest.Dial(t, url, wstest.Header("Sec-WebSocket-Extensions", tt.offer), wstest.RawRequest(rawRequest(url, "Sec-WebSocket-Extensions: "+tt.offer)))
			if got := c.Response.Header.Get("Sec-WebSocket-Extensions"); got != tt.want {
				t.Fatalf("response %q, want %q", got, tt.want)
			}
		})
	}
}

// rawRequest builds an RFC 6455 request with extra header lines.
func rawRequest(url string, extra ...string) string {
	host := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/")
	req := "GET / HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + goodKey + "\r\nSec-WebSocket-Version: 13\r\n"
	for _, e := range extra {
		req += e + "\r\n"
	}
	return req + "\r\n"
}

// TestDeflateRoundTrips sends messages both ways under every parameter
// set; the client compresses and inflates with the standard library's
// compress/flate, independent of lariat's.
func TestDeflateRoundTrips(t *testing.T) {
	offers := []string{
		"permessage-deflate",
		"permessage-deflate; client_max_window_bits",
		"permessage-deflate; server_no_context_takeover",
		"permessage-deflate; client_no_context_takeover",
		"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
		"permessage-deflate; server_max_window_bits=9",
		"permessage-deflate; server_max_window_bits=12",
		"permessage-deflate; client_max_window_bits=9",
		"permessage-deflate; client_max_window_bits=15; server_max_window_bits=15",
	}
	for _, offer := range offers {
		t.Run(offer, func(t *testing.T) {
			c := wstest.Dial(t, serve(t, newRecorder(), compressed()), wstest.Extensions(offer))
			if c.Deflater() == nil {
				t.Fatal("not negotiated")
			}
			// Several messages, so that context takeover is exercised
			// in both directions, including repeats the compressor can
			// refer back to.
			for i, n := range []int{200, 4096, 200, 70000, 4096, 0, 1} {
				p := jsonish(n)
				c.WriteText(string(p))
				c.WantText(string(p))
				c.WriteBinary(p)
				c.WantBinary(p)
				if i == 2 {
					c.WriteMessage(wstest.OpText, p, 7) // fragmented
					c.WantText(string(p))
				}
			}
		})
	}
}

// TestDeflateWire looks at the frames themselves: RSV1 on compressed
// messages only, small messages and SetCompression(false) sent plain, and the
// 00 00 ff ff tail removed.
func TestDeflateWire(t *testing.T) {
	h := newRecorder()
	h.onHandle = func(c *Conn, f Frame) error {
		if string(f.Payload) == "plain please" {
			c.SetCompression(false)
			defer c.SetCompression(true)
			return c.SendText(strings.Repeat("x", 1000))
		}
		return c.Send(f)
	}
	c := wstest.Dial(t, serve(t, h, compressed(func(u *Upgrader) {
		u.Options.Compression = &CompressionOptions{ServerNoContextTakeover: true}
	})), wstest.Extensions("permessage-deflate"))
	c.SetCompress(false)

	c.WriteText("tiny")
	if f, err := c.ReadFrame(); err != nil || f.Rsv != 0 || string(f.Payload) != "tiny" {
		t.Fatalf("small message: %v %v", f, err)
	}
	c.WriteText(strings.Repeat("hello ", 100))
	f, err := c.ReadFrame()
	if err != nil || f.Rsv != wstest.RSV1 || len(f.Payload) >= 600 {
		t.Fatalf("large message: %v %v", f, err)
	}
	if bytes.HasSuffix(f.Payload, []byte{0, 0, 0xff, 0xff}) {
		t.Fatal("00 00 ff ff not removed")
	}
	// Server context is not kept: the same payload compresses the same.
	c.WriteText(strings.Repeat("hello ", 100))
	if g, _ := c.ReadFrame(); !bytes.Equal(g.Payload, f.Payload) {
		t.Fatal("second message compressed differently without context takeover")
	}
	c.WriteText("plain please")
	if f, err := c.ReadFrame(); err != nil || f.Rsv != 0 || len(f.Payload) != 1000 {
		t.Fatalf("SetCompression(false): %v %v", f, err)
	}
}

// TestDeflateRFCExamples sends the compressed frames of RFC 7692 §7.2.3.
func TestDeflateRFCExamples(t *testing.T) {
	c := wstest.Dial(t, serve(t, newRecorder(), compressed()), wstest.Extensions("permessage-deflate"))
	c.SetCompress(false)
	// §7.2.3.1: "Hello" in one compressed frame.
	c.WriteFrame(true, wstest.RSV1, wstest.OpText, []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})
	c.WantText("Hello")
	// §7.2.3.1: the same, fragmented.
	c.WriteFrame(false, wstest.RSV1, wstest.OpText, []byte{0xf2, 0x48, 0xcd})
	c.WriteFrame(true, 0, wstest.OpContinuation, []byte{0xc9, 0xc9, 0x07, 0x00})
	c.WantText("Hello")
	// §7.2.3.3: a stored (uncompressed) block.
	c.WriteFrame(true, wstest.RSV1, wstest.OpText, []byte{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00})
	c.WantText("Hello")
	// §7.2.3.2: with context takeover, the second "Hello" refers back.
	c.WriteFrame(true, wstest.RSV1, wstest.OpText, []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})
	c.WantText("Hello")
	c.WriteFrame(true, wstest.RSV1, wstest.OpText, []byte{0xf2, 0x00, 0x11, 0x00, 0x00})
	c.WantText("Hello")
}

func TestDeflateErrors(t *testing.T) {
	var bomb bytes.Buffer
	w, _ := flate.NewWriter(&bomb, flate.BestCompression)
	w.Write(make([]byte, 10<<20))
	w.Flush()
	bombBytes := bytes.TrimSuffix(bomb.Bytes(), []byte{0, 0, 0xff, 0xff})

	tests := []struct {
		name string
		send func(c *wstest.Conn)
		code uint16
		kind ReasonKind
	}{
		{"decompression bomb", func(c *wstest.Conn) {
			c.WriteFrame(true, wstest.RSV1, wstest.OpBinary, bombBytes)
		}, 1009, ReasonTooBig},
		{"corrupt data", func(c *wstest.Conn) {
			c.WriteFrame(true, wstest.RSV1, wstest.OpBinary, []byte{0xff, 0xff, 0xff, 0xff, 0x00})
		}, 1007, ReasonBadEncoding},
		{"RSV1 on a continuation", func(c *wstest.Conn) {
			c.WriteFrame(false, 0, wstest.OpText, []byte("a"))
			c.WriteFrame(true, wstest.RSV1, wstest.OpContinuation, []byte("b"))
		}, 1002, ReasonBadFrame},
		{"RSV1 on a ping", func(c *wstest.Conn) {
			c.WriteFrame(true, wstest.RSV1, wstest.OpPing, nil)
		}, 1002, ReasonBadFrame},
		{"compressed invalid UTF-8", func(c *wstest.Conn) {
			var b bytes.Buffer
			w, _ := flate.NewWriter(&b, 1)
			w.Write([]byte("ok \xed\xa0\x80"))
			w.Flush()
			c.WriteFrame(true, wstest.RSV1, wstest.OpText, bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff}))
		}, 1007, ReasonBadEncoding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRecorder()
			c := wstest.Dial(t, serve(t, h, compressed()), wstest.Extensions("permessage-deflate"))
			c.SetCompress(false)
			tt.send(c)
			c.WantClose(tt.code)
			c.WantTCPClosed(5 * time.Second)
			if r := h.reason(t); r.Kind != tt.kind {
				t.Fatalf("reason %+v", r)
			}
		})
	}
}

// TestDeflateBombMemory: 10 KiB that inflate to 10 MiB must not make the
// server allocate much past the 1 MiB limit.
func TestDeflateBombMemory(t *testing.T) {
	var bomb bytes.Buffer
	w, _ := flate.NewWriter(&bomb, flate.BestCompression)
	w.Write(make([]byte, 10<<20))
	w.Flush()
	h := newRecorder()
	c := wstest.Dial(t, serve(t, h, compressed()), wstest.Extensions("permessage-deflate; client_no_context_takeover"))
	var before, after runtime.MemStats
	readMem(&before)
	c.WriteFrame(true, wstest.RSV1, wstest.OpBinary, bytes.TrimSuffix(bomb.Bytes(), []byte{0, 0, 0xff, 0xff}))
	c.WantClose(1009)
	h.reason(t)
	readMem(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Fatalf("server allocated %d bytes for a bomb with a 1 MiB limit", grew)
	}
}

// TestWebkitDeflateFrame: x-webkit-deflate-frame compresses each frame on
// its own, RSV1 on every compressed frame, continuations included.
func TestWebkitDeflateFrame(t *testing.T) {
	url := serve(t, newRecorder(), compressed())
	c := wstest.Dial(t, url, wstest.RawRequest(rawRequest(url, "Sec-WebSocket-Extensions: x-webkit-deflate-frame")))
	if got := c.Response.Header.Get("Sec-WebSocket-Extensions"); got != "x-webkit-deflate-frame" {
		t.Fatalf("response %q", got)
	}
	deflateFrame := func(p []byte) []byte {
		var b bytes.Buffer
		w, _ := flate.NewWriter(&b, 1)
		w.Write(p)
		w.Flush()
		return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
	}
	inflate := func(p []byte) []byte {
		r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})))
		out, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	msg := jsonish(3000)
	c.WriteFrame(false, wstest.RSV1, wstest.OpText, deflateFrame(msg[:1000]))
	c.WriteFrame(false, 0, wstest.OpContinuation, msg[1000:2000])
	c.WriteFrame(true, wstest.RSV1, wstest.OpContinuation, deflateFrame(msg[2000:]))
	f, err := c.ReadFrame()
	if err != nil || f.Rsv != wstest.RSV1 || !f.Fin {
		t.Fatalf("reply %v %v", f, err)
	}
	if got := inflate(f.Payload); !bytes.Equal(got, msg) {
		t.Fatalf("reply inflates to %d bytes, want %d", len(got), len(msg))
	}
}

func TestCompressionAccessor(t *testing.T) {
	got := make(chan string, 1)
	h := newRecorder()
	h.onInit = func(c *Conn) error { got <- c.Compression(); return nil }
	wstest.Dial(t, serve(t, h, compressed()), wstest.Extensions("permessage-deflate"))
	if s := <-got; s != "permessage-deflate" {
		t.Fatalf("Compression() = %q", s)
	}
	var _ http.Handler = (*Upgrader)(nil)
}

// TestDeflateEchoAllocs: without context takeover, a compressed echo
// allocates nothing once the pools are warm.
func TestDeflateEchoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	c, fc := newFakeDeflateEcho(t, 4096)
	for range 20 {
		if r := c.step(); r != nil {
			t.Fatal(r)
		}
	}
	if n := testing.AllocsPerRun(200, func() { c.step() }); n != 0 {
		t.Errorf("%v allocations per compressed echo", n)
	}
	if fc.wrote == 0 {
		t.Fatal("nothing echoed")
	}
}

func BenchmarkDeflateEcho(b *testing.B) {
	c, _ := newFakeDeflateEcho(b, 4096)
	b.SetBytes(4096)
	b.ReportAllocs()
	for b.Loop() {
		if r := c.step(); r != nil {
			b.Fatal(r)
		}
	}
}

// TestFragmentedSends: with FragmentSize, messages leave in several
// frames, compressed (RSV1 on the first frame only) or not.
func TestFragmentedSends(t *testing.T) {
	for _, offer := range []string{"", "permessage-deflate", "permessage-deflate; server_no_context_takeover"} {
		t.Run("offer "+offer, func(t *testing.T) {
			opts := []wstest.Option{}
			if offer != "" {
				opts = append(opts, wstest.Extensions(offer))
			}
			c := wstest.Dial(t, serve(t, newRecorder(), compressed(func(u *Upgrader) { u.Options.FragmentSize = 100 })), opts...)
			c.SetCompress(false)
			for range 3 { // context takeover across fragmented messages
				msg := words(5000)
				c.WriteText(string(msg))
				var frames int
				var rsvFirst, rsvLater byte
				for {
					f, err := c.ReadFrame()
					if err != nil {
						t.Fatal(err)
					}
					if frames == 0 {
						rsvFirst = f.Rsv
					} else {
						rsvLater |= f.Rsv
					}
					frames++
					if len(f.Payload) > 100 {
						t.Fatalf("frame of %d bytes", len(f.Payload))
					}
					if f.Fin {
						break
					}
				}
				if frames < 2 || rsvLater != 0 || (offer != "") != (rsvFirst == wstest.RSV1) {
					t.Fatalf("%d frames, RSV first %d, later %d", frames, rsvFirst, rsvLater)
				}
			}
		})
	}
	// And the reassembled, inflated content is right.
	c := wstest.Dial(t, serve(t, newRecorder(), compressed(func(u *Upgrader) { u.Options.FragmentSize = 64 })), wstest.Extensions("permessage-deflate"))
	for _, n := range []int{10, 1000, 20000} {
		msg := jsonish(n)
		c.WriteBinary(msg)
		c.WantBinary(msg)
	}
}

// words returns n bytes of random words: text that compresses, but not
// to nothing even with earlier messages as context.
func words(n int) []byte {
	vocab := strings.Fields("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega")
	var b []byte
	for len(b) < n {
		b = append(b, vocab[rand.IntN(len(vocab))]...)
		b = append(b, ' ')
	}
	return b[:n]
}
