package lariat

import (
	"net"
	"runtime"
	"testing"
	"time"
)

// Hooks into the connection engine that only tests use.

// newTestConn makes a connection over nc as a completed handshake would,
// without an Upgrader.
func newTestConn(nc net.Conn, h Handler, opts Options, v Version) *Conn {
	return newConn(nil, nc, h, &Handshake{Version: v, Options: opts.withDefaults()}, nil)
}

// step reads and dispatches one event, as the run loop does.
func (c *Conn) step() error {
	ev, err := c.codec.next(c)
	if err != nil {
		return err
	}
	return c.dispatch(ev)
}

// funcs adapts functions to a Handler, for tests that need a closure or
// two; a nil function behaves as Base.
type funcs struct {
	Base
	onInit      func(c *Conn) error
	onHandle    func(c *Conn, f Frame) error
	onInfo      func(c *Conn, msg any) error
	onTerminate func(c *Conn, r Reason)
}

func (h *funcs) Init(c *Conn) error {
	if h.onInit == nil {
		return nil
	}
	return h.onInit(c)
}

func (h *funcs) Info(c *Conn, msg any) error {
	if h.onInfo == nil {
		return nil
	}
	return h.onInfo(c, msg)
}

func (h *funcs) Handle(c *Conn, f Frame) error {
	if h.onHandle == nil {
		return nil
	}
	return h.onHandle(c, f)
}

func (h *funcs) Terminate(c *Conn, r Reason) {
	if h.onTerminate != nil {
		h.onTerminate(c, r)
	}
}

// waitReading waits until the connection's goroutine is blocked reading
// the transport, the state Post's wake-up must handle.
func waitReading(t *testing.T, c *Conn) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); c.state.Load() != connReading; runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatal("the connection never blocked in Read")
		}
	}
}

// bufSizes reports the length of the read buffer the connection holds (0
// when none) and the sizes it will take its next read and write buffers
// at.
func (c *Conn) bufSizes() (held, read, write int) {
	return len(c.rbuf), c.rsize.size(c.opts.ReadBufferSize), c.wsize.size(c.opts.WriteBufferSize)
}
