package deflate_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing/iotest"
	"unicode/utf8"

	"github.com/lariat-ws/lariat/internal/deflate"
)

// A server negotiates with a browser's offer, then compresses what it
// sends and inflates what it receives. Here the client is played by the
// same package, seen from the other side with Params.Peer.
func Example() {
	offers := []string{"permessage-deflate; client_max_window_bits"}
	resp, p, ok := deflate.Negotiate(offers, deflate.Config{ClientMaxWindowBits: 12, MinSize: 1})
	fmt.Println(ok, resp)

	server := deflate.NewCompressor(p)
	client := deflate.NewDecompressor(p.Peer())

	msg := []byte(`{"op":"update","items":[{"id":1,"state":"ready"},{"id":2,"state":"ready"},{"id":3,"state":"ready"},{"id":4,"state":"ready"},{"id":5,"state":"ready"}],"note":"all items are ready"}`)
	wire, compressed, err := server.Compress(nil, msg)
	if err != nil {
		panic(err)
	}
	if !compressed {
		return // send msg as it is, RSV1 clear
	}
	// Send wire with RSV1 set on the message's first frame.
	fmt.Println(len(msg), "->", len(wire))

	got, err := client.Inflate(nil, wire, 1<<20)
	fmt.Println(string(got) == string(msg), err)
	// Output:
	// true permessage-deflate; client_max_window_bits=12
	// 179 -> 90
	// true <nil>
}

// A connection inflates a compressed message as its frames arrive:
// InflateStream pulls their payloads from a reader that yields one frame
// after another and io.EOF after the last, and emit sees the text as it
// is inflated (to validate it as UTF-8, say), so bad data ends the
// message without waiting for its last frame.
func ExampleDecompressor_InflateStream() {
	p := deflate.Params{Kind: deflate.PerMessage, MinSize: 1}
	client := deflate.NewCompressor(p.Peer())
	server := deflate.NewDecompressor(p)

	msg := strings.Repeat(`{"op":"say","text":"hello"} `, 40)
	wire, _, err := client.Compress(nil, []byte(msg))
	if err != nil {
		panic(err)
	}
	// The payloads of three frames, as the socket delivers them.
	third := len(wire) / 3
	frames := io.MultiReader(
		bytes.NewReader(wire[:third]),
		bytes.NewReader(wire[third:2*third]),
		bytes.NewReader(wire[2*third:]),
	)
	seen := 0
	emit := func(p []byte) error {
		if !utf8.Valid(p) { // a connection keeps state across pieces
			return errors.New("invalid UTF-8")
		}
		seen += len(p)
		return nil
	}
	got, err := server.InflateStream(nil, frames, 1<<20, emit)
	fmt.Println(len(wire), "->", len(got), seen, string(got) == msg, err)

	// A read that fails is told apart from corrupt data.
	failing := io.MultiReader(bytes.NewReader(wire[:third]), iotest.ErrReader(net.ErrClosed))
	_, err = server.InflateStream(nil, failing, 1<<20, emit)
	fmt.Println(errors.Is(err, net.ErrClosed), errors.Is(err, deflate.ErrCorrupt))
	// Output:
	// 40 -> 1120 1120 true <nil>
	// true false
}
