package lariat

import "errors"

// Handler is the per-connection actor, modelled on Erlang Cowboy's
// cowboy_websocket behaviour. The Upgrader's New function creates one
// Handler for each connection; lariat then calls its methods, in order, on
// the connection's own goroutine, so a Handler's fields need no locking as
// long as only its callbacks touch them.
//
// Every method except Terminate returns an error. Returning nil keeps the
// connection open; returning [Stop] closes it with 1000 (normal closure);
// returning any other error closes it with 1011 (internal error). A panic in
// a callback is recovered: the client gets 1011 and Terminate a Reason of
// kind [ReasonCrash] that carries the panic value.
//
// Inside a callback, the Conn's methods send frames and issue commands
// (flow control, hibernation, timeouts). Frames sent in one callback are
// written together when it returns.
type Handler interface {
	// Init is called once, first, after the 101 response has been written.
	// It may send frames. (Cowboy: websocket_init.)
	Init(c *Conn) error

	// Handle is called once per complete message (fragments are
	// reassembled) and once per ping or pong. The payload of f aliases the
	// connection's buffers and is valid only until Handle returns: use
	// [Frame.Clone] to keep it. Pings are answered with a pong
	// automatically before Handle sees them. (Cowboy: websocket_handle.)
	Handle(c *Conn, f Frame) error

	// Info is called once for each value posted with [Conn.Post], in the
	// order the posts happened. (Cowboy: websocket_info.)
	Info(c *Conn, msg any) error

	// Terminate is called exactly once, last, whatever ended the
	// connection. Frames can no longer be sent. (Cowboy: terminate.)
	Terminate(c *Conn, r Reason)
}

// Stop is the sentinel a callback returns to close the connection normally
// (close code 1000). It is Cowboy's stop command.
var Stop = errors.New("lariat: stop")

// Base implements every Handler method as a no-op. It has no state, so
// one Base may serve any number of connections. Embed it in a handler
// struct to write only the callbacks that matter:
//
//	type echo struct{ lariat.Base }
//
//	func (echo) Handle(c *lariat.Conn, f lariat.Frame) error {
//		if f.Op.IsControl() {
//			return nil
//		}
//		return c.Send(f)
//	}
type Base struct{}

// Init does nothing.
func (Base) Init(*Conn) error { return nil }

// Handle ignores the frame.
func (Base) Handle(*Conn, Frame) error { return nil }

// Info ignores the message.
func (Base) Info(*Conn, any) error { return nil }

// Terminate does nothing.
func (Base) Terminate(*Conn, Reason) {}

// Funcs adapts plain functions to a Handler. lariat calls them on each
// connection's goroutine; a Funcs shared by several connections must only
// touch state that is safe for that. A nil field behaves as the
// corresponding method of [Base]. It suits small handlers and tests:
//
//	h := &lariat.Funcs{OnHandle: func(c *lariat.Conn, f lariat.Frame) error {
//		return c.Send(f)
//	}}
type Funcs struct {
	OnInit      func(c *Conn) error
	OnHandle    func(c *Conn, f Frame) error
	OnInfo      func(c *Conn, msg any) error
	OnTerminate func(c *Conn, r Reason)
}

// Init calls OnInit when it is set.
func (h *Funcs) Init(c *Conn) error {
	if h.OnInit == nil {
		return nil
	}
	return h.OnInit(c)
}

// Handle calls OnHandle when it is set.
func (h *Funcs) Handle(c *Conn, f Frame) error {
	if h.OnHandle == nil {
		return nil
	}
	return h.OnHandle(c, f)
}

// Info calls OnInfo when it is set.
func (h *Funcs) Info(c *Conn, msg any) error {
	if h.OnInfo == nil {
		return nil
	}
	return h.OnInfo(c, msg)
}

// Terminate calls OnTerminate when it is set.
func (h *Funcs) Terminate(c *Conn, r Reason) {
	if h.OnTerminate != nil {
		h.OnTerminate(c, r)
	}
}
