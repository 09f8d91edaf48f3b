// Package lariat is an embeddable, server-side WebSocket library for
// net/http servers, with the handler model of Erlang's Cowboy.
//
// # Overview
//
// An [Upgrader] is an http.Handler. For each upgrade request it calls its
// New function, which inspects the request, may choose a subprotocol and
// returns a [Handler]; the Upgrader then answers the handshake and runs
// the connection. A Handler is a small actor: lariat calls Init once,
// Handle for every message, Info for every value another goroutine
// posted, and Terminate once at the end, all on the connection's
// goroutine, so a handler's state needs no locks.
//
//	type echo struct{ lariat.Base }
//
//	func (echo) Handle(c *lariat.Conn, f lariat.Frame) error {
//		return c.Send(f)
//	}
//
//	up := &lariat.Upgrader{New: func(*http.Request, *lariat.Handshake) (lariat.Handler, error) {
//		return echo{}, nil
//	}}
//	http.Handle("/ws", up)
//
// # Messages
//
// Handle receives whole data messages: fragments are reassembled,
// compressed messages inflated as their frames arrive, and text validated
// as UTF-8 as it arrives (invalid text closes with 1007 at the first bad
// byte, compressed or not). A message larger than Options.MaxMessageSize
// (1 MiB by default) closes with 1009 as soon as its size is known; memory
// for a message grows with the bytes that arrive (at most 32 KiB ahead of
// them), never with the length a header declares.
//
// # Control frames and timeouts
//
// Pings are answered with a pong automatically; a Handler that wants to
// see pings and pongs implements [ControlHandler]. A connection that has
// received nothing for half of Options.IdleTimeout (60 s) is pinged, and
// one that has received nothing, not even the pong, for the whole of it is
// closed: a quiet browser tab stays, a dead peer goes. The close handshake
// is lariat's: a peer's close is echoed and reaches Terminate as a
// [Reason]; a handler closes with [Conn.Close] or by returning [Stop].
//
// # Concurrency
//
// Conn's methods are for use inside callbacks. Other goroutines reach a
// connection only through [Conn.Post], which is safe for concurrent use,
// never blocks, and is bounded by Options.MailboxSize and MailboxBytes.
// Every post Post accepts reaches Info exactly once. A connection costs
// one goroutine, started when the upgrade succeeds: ServeHTTP returns
// then, so that net/http frees the buffers it held for the request. On
// Linux, a hibernating connection over a plain socket parks without one,
// and resumes on a new goroutine: callbacks never overlap either way.
//
// # Topics
//
// A [Hub] delivers messages published to a named topic to every
// connection subscribed to it. A connection subscribes and unsubscribes
// inside its callbacks and leaves its topics by itself when it ends; any
// goroutine may publish, and is never blocked by a slow recipient: each
// connection has a bounded backlog (1 MiB by default), and one that
// overflows is closed with 1013 (or, with Hub.DropWhenFull, loses the
// message). A message is copied once and compressed once per compression
// setting whatever the number of recipients ([PreparedMessage]); each
// connection writes what waits for it in one write, with no callback
// unless its Handler implements [TopicHandler]. The zero Hub works in one
// process; a [Broker] spreads topics across nodes, and the module
// github.com/lariat-ws/lariat/nats provides one for NATS.
//
// # Origins
//
// By default a browser request whose Origin is not the request's Host
// (scheme, name and port) is refused with 403, which stops cross-site
// WebSocket hijacking. Set Upgrader.CheckOrigin to allow other origins,
// or to pin your own, which a Host comparison cannot do against DNS
// rebinding.
//
// # WebSocket over HTTP/2
//
// Browsers on an HTTP/2 connection open WebSockets as streams of it
// (RFC 8441) when the server advertises extended CONNECT. An Upgrader
// answers such a CONNECT with 200 and runs the connection on the stream,
// with the same Handler, options, compression and limits as on HTTP/1.1;
// [Conn.Transport] reports "h2". The connection then runs inside
// ServeHTTP, since a stream ends when its handler returns. Every CONNECT
// is answered by the Upgrader, never by a page it wraps.
//
// Go's HTTP/2 server advertises extended CONNECT only when the process
// starts with GODEBUG=http2xconnect=1 in its environment (golang/go#71128);
// the setting then holds for every HTTP/2 connection of the process, so
// browsers use it for every WebSocket endpoint the process serves. Turn it
// on only when all of them are served by lariat. docs/h2.md has the rest.
//
// # Buffers
//
// A Frame's payload aliases the connection's buffers and is valid until the
// callback returns; [Frame.Clone] copies it. A connection takes a 4 KiB
// read buffer and its write buffer from shared pools while it uses them:
// the write buffer goes back once the frames in it are written, and over a
// plain TCP or Unix socket the read buffer goes back whenever the socket
// has nothing to read. Under load both grow, up to 32 KiB, and shrink
// back when the load falls (see Options.ReadBufferSize). Frames sent in
// callbacks leave together when the connection is about to wait for the
// peer.
//
// # Idle connections
//
// Measured on Linux with 10,000 and 19,000 idle connections (see
// TestParkMemory), an idle connection costs the server about 6.1 KB
// (heap and goroutine stack; 7.1 KB resident), 10.1 KB over a transport
// that is not a plain socket, such as TLS, where it keeps its read
// buffer. A hibernating one ([Conn.Hibernate]) gives back its buffers
// and compression context; on Linux over a plain socket it also parks,
// with no goroutine, and costs about 1.6 KB (2.5 KB resident). By
// default a connection that has received nothing for 10 to 20 s
// hibernates by itself (Options.HibernateAfter).
package lariat
