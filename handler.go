package lariat

import "errors"

// Handler is the per-connection actor, modelled on Erlang Cowboy's
// cowboy_websocket behaviour. The Upgrader's New function creates one
// Handler for each connection; lariat then calls its methods, in order, on
// the connection's own goroutine, never two at once, so a Handler's fields
// need no locking as long as only its callbacks touch them.
//
// Every method except Terminate returns an error. Returning nil keeps the
// connection open; returning [Stop] closes it with 1000 (normal closure);
// returning any other error closes it with 1011 (internal error). A panic in
// a callback is recovered: the peer gets 1011 and Terminate a Reason of
// kind [ReasonCrash] that carries the panic value.
//
// Inside a callback, the Conn's methods send frames and issue commands
// (flow control, hibernation, timeouts). Embed [Base] to write only the
// callbacks that matter.
type Handler interface {
	// Init is called once, first, after the handshake response has been
	// written. It may send frames. (Cowboy: websocket_init.)
	Init(c *Conn) error

	// Handle is called once per complete data message, text or binary:
	// fragments are reassembled, compressed messages inflated, text
	// validated. The payload of f aliases the connection's buffers and
	// is valid only until Handle returns: use [Frame.Clone] to keep it.
	// Pings are answered by lariat; a Handler that wants to see control
	// frames implements [ControlHandler]. (Cowboy: websocket_handle.)
	Handle(c *Conn, f Frame) error

	// Info is called once for each value posted with [Conn.Post], in the
	// order the posts happened. Posts that were accepted but not yet
	// delivered when the connection ended are delivered after the end,
	// before Terminate; sends then return ErrClosed. (Cowboy:
	// websocket_info.)
	Info(c *Conn, msg any) error

	// Terminate is called exactly once, last, whatever ended the
	// connection. Frames can no longer be sent. (Cowboy: terminate.)
	Terminate(c *Conn, r Reason)
}

// ControlHandler is implemented by a Handler that wants to see the pings
// and pongs its peer sends, as Cowboy's websocket_handle does. lariat
// has answered each ping with a pong already when HandleControl sees it.
// The payload is valid only until HandleControl returns. HandleControl
// runs on the connection's goroutine, never beside another callback.
type ControlHandler interface {
	HandleControl(c *Conn, f Frame) error
}

// Stop is the sentinel a callback returns to close the connection normally
// (close code 1000). It is Cowboy's stop command.
var Stop = errors.New("lariat: stop")

// Base implements every Handler method as a no-op. It has no state, so
// one Base may serve any number of connections, from any goroutine.
// Embed it in a handler struct to write only the callbacks that matter:
//
//	type echo struct{ lariat.Base }
//
//	func (echo) Handle(c *lariat.Conn, f lariat.Frame) error {
//		return c.Send(f)
//	}
type Base struct{}

// Init does nothing.
func (Base) Init(*Conn) error { return nil }

// Handle ignores the message.
func (Base) Handle(*Conn, Frame) error { return nil }

// Info ignores the message.
func (Base) Info(*Conn, any) error { return nil }

// Terminate does nothing.
func (Base) Terminate(*Conn, Reason) {}
