// Package lariat is an embeddable, server-side WebSocket library for
// net/http servers, with the handler model of Erlang's Cowboy.
//
// # Overview
//
// An [Upgrader] is an http.Handler. For each upgrade request it calls its
// New function, which inspects the request, may choose a subprotocol and
// returns a [Handler]; the Upgrader then answers 101 and runs the
// connection. A Handler is a small actor: lariat calls Init once, Handle
// for every message, Info for every value another goroutine posted, and
// Terminate once at the end, all on the connection's goroutine, so a
// handler's state needs no locks.
//
//	type echo struct{ lariat.Base }
//
//	func (echo) Handle(c *lariat.Conn, f lariat.Frame) error {
//		if f.Op.IsControl() {
//			return nil
//		}
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
// Handle receives whole messages: fragments are reassembled, text is
// validated as UTF-8 as it arrives (invalid text closes with 1007 at the
// first bad byte), and a message larger than Options.MaxMessageSize
// (1 MiB by default) closes with 1009 before its payload is read.
//
// # Control frames
//
// Pings are answered with a pong automatically, and Handle sees the ping
// and pong frames too. The close handshake is lariat's: a peer's close is
// echoed and reaches Terminate as a [Reason]; a handler closes with
// [Conn.Close] or by returning [Stop].
//
// # Concurrency
//
// Conn's methods are for use inside callbacks. Other goroutines reach a
// connection only through [Conn.Post], which is safe for concurrent use,
// never blocks, and is bounded by Options.MailboxSize. A connection costs
// one goroutine, started when the upgrade succeeds: ServeHTTP returns then,
// so that net/http frees the buffers it held for the request. On Linux, a
// hibernating connection over a plain socket parks without one, and
// resumes on a new goroutine: callbacks never overlap either way.
//
// # Origins
//
// By default a browser request whose Origin is not the request's Host is
// refused with 403, which stops cross-site WebSocket hijacking. Set
// Upgrader.CheckOrigin to allow other origins.
//
// # Buffers
//
// A Frame's payload aliases the connection's buffers and is valid until the
// callback returns; [Frame.Clone] copies it. A connection takes a 4 KiB
// read buffer and a 4 KiB write buffer from shared pools while it uses
// them, plus, while a message larger than half the read buffer is
// arriving, a pooled buffer of that message's size. The write buffer goes
// back once the frames in it are written; over a plain TCP or Unix socket
// the read buffer goes back whenever the socket has nothing to read.
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
