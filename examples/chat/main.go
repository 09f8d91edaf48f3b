// Command chat serves a browser chat room on one route, "/": a plain GET
// gets the page, and the page's WebSocket, opened on the same URL, joins
// the room. Every message a member sends is relayed to all the others
// through Conn.Post (see package chatserver).
//
//	go run ./examples/chat -addr 127.0.0.1:8080
//
// then open http://127.0.0.1:8080/ in two browser windows.
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/lariat-ws/lariat"
	"github.com/lariat-ws/lariat/examples/chat/chatserver"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	compress := flag.Bool("compress", false, "negotiate permessage-deflate with clients that offer it")
	mailbox := flag.Int("mailbox", 256, "messages a member may fall behind before it is dropped")
	flag.Parse()

	var opts lariat.Options
	if *compress {
		opts.Compression = &lariat.CompressionOptions{}
	}
	opts.MailboxSize = *mailbox

	room := &chatserver.Room{
		OnLeave: func(c *lariat.Conn, r lariat.Reason) {
			log.Printf("chat: %v left: %v", c.RemoteAddr(), r)
		},
	}
	log.Printf("chat: open http://%s/", *addr)
	log.Fatal(http.ListenAndServe(*addr, chatserver.Handler(room, opts)))
}
