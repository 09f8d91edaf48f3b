package deflate_test

import (
	"fmt"

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
