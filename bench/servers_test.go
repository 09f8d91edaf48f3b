package bench

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestEcho checks, for every library, that the benchmark server echoes
// what the shared client sends, byte for byte, and answers a ping: the
// benchmarks only count replies, so this is where their content is
// checked.
func TestEcho(t *testing.T) {
	for _, lib := range append(append([]Library(nil), Libraries...), VariantLibraries()...) {
		t.Run(lib.Name, func(t *testing.T) {
			h, err := lib.Handler(Config{})
			if err != nil {
				t.Fatal(err)
			}
			s := startServer(t, h)
			defer s.Close()
			c, err := Dial(s.Addr(), false, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.nc.SetDeadline(time.Now().Add(10 * time.Second))
			for _, size := range []int{0, 16, 125, 126, 1 << 10, 16 << 10} {
				for _, op := range []byte{OpBinary, OpText} {
					msg := JSONText(max(size, 2))[:size]
					if op == OpBinary {
						msg = Binary(size)
					}
					if err := c.Write(MaskedFrame(op, false, msg)); err != nil {
						t.Fatal(err)
					}
					gotOp, compressed, got, err := c.ReadMessage(nil)
					if err != nil {
						t.Fatalf("%d bytes, op %d: %v", size, op, err)
					}
					if gotOp != op || compressed || !bytes.Equal(got, msg) {
						t.Fatalf("%d bytes, op %d: echo has op %d, %d bytes, compressed %t", size, op, gotOp, len(got), compressed)
					}
				}
			}
			if err := c.Write(MaskedFrame(OpPing, false, []byte("hi"))); err != nil {
				t.Fatal(err)
			}
			h2, err := c.SkipFrame()
			if err != nil || h2.Op != OpPong {
				t.Fatalf("ping answered with op %d, %v", h2.Op, err)
			}
		})
	}
}

// TestEchoDeflate checks that every compressing server negotiates
// permessage-deflate and that its compressed echoes inflate to what was
// sent, through one inflater per connection, as context takeover needs.
func TestEchoDeflate(t *testing.T) {
	text := JSONText(4 << 10)
	frame := MaskedFrame(OpText, true, Deflate(text))
	for _, name := range deflateLibraries {
		lib, _ := LibraryByName(name)
		for _, mode := range []Compression{Takeover, NoTakeover} {
			t.Run(name+"/"+mode.String(), func(t *testing.T) {
				h, err := lib.Handler(Config{Compression: mode})
				if errors.Is(err, ErrUnsupported) {
					t.Skip(err)
				}
				if err != nil {
					t.Fatal(err)
				}
				s := startServer(t, h)
				defer s.Close()
				c, err := Dial(s.Addr(), true, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if !c.Compressing() {
					t.Fatalf("no permessage-deflate in %q", c.Extensions)
				}
				if mode == NoTakeover && (!strings.Contains(c.Extensions, "server_no_context_takeover") || !strings.Contains(c.Extensions, "client_no_context_takeover")) {
					t.Fatalf("no takeover asked, and the server answered %q", c.Extensions)
				}
				t.Logf("%s", c.Extensions)
				c.nc.SetDeadline(time.Now().Add(10 * time.Second))
				var stream bytes.Buffer
				fr := flate.NewReader(&stream)
				for i := range 5 {
					if err := c.Write(frame); err != nil {
						t.Fatal(err)
					}
					op, compressed, p, err := c.ReadMessage(nil)
					if err != nil {
						t.Fatal(err)
					}
					if op != OpText {
						t.Fatalf("echo %d has op %d", i, op)
					}
					if !compressed {
						if !bytes.Equal(p, text) {
							t.Fatalf("echo %d differs", i)
						}
						continue
					}
					stream.Write(p)
					stream.Write([]byte{0, 0, 0xff, 0xff})
					got := make([]byte, len(text))
					if _, err := io.ReadFull(fr, got); err != nil {
						t.Fatalf("echo %d: inflating: %v", i, err)
					}
					if !bytes.Equal(got, text) {
						t.Fatalf("echo %d inflates to something else", i)
					}
				}
			})
		}
	}
}

// TestReplay checks the in-memory path: every library upgrades over a
// ReplayConn, echoes every message and stops at the close frame.
func TestReplay(t *testing.T) {
	frame := MaskedFrame(OpBinary, false, Binary(1<<10))
	for _, lib := range Libraries {
		t.Run(lib.Name, func(t *testing.T) {
			n := 0
			h, err := lib.Handler(Config{OnMessage: func() { n++ }})
			if err != nil {
				t.Fatal(err)
			}
			nc := &ReplayConn{Frame: frame, Count: 50, Tail: CloseFrame()}
			ServeConn(h, nc, false)
			if n != 50 || nc.Written < 50*1024 {
				t.Fatalf("handled %d messages, wrote %d bytes", n, nc.Written)
			}
		})
	}
}

// TestPayloads checks the sizes of the generated messages and that the
// text ones are UTF-8, as a validating server demands.
func TestPayloads(t *testing.T) {
	for _, n := range []int{16, 4 << 10, 16 << 10} {
		for name, p := range map[string][]byte{"Binary": Binary(n), "JSONText": JSONText(n), "UTF8Text": UTF8Text(n)} {
			if len(p) != n {
				t.Errorf("%s(%d) has %d bytes", name, n, len(p))
			}
			if name != "Binary" && !utf8.Valid(p) {
				t.Errorf("%s(%d) is not UTF-8", name, n)
			}
		}
	}
	if u := UTF8Text(16 << 10); utf8.RuneCount(u) > len(u)*2/3 {
		t.Errorf("UTF8Text has %d runes in %d bytes: mostly ASCII", utf8.RuneCount(u), len(u))
	}
}
