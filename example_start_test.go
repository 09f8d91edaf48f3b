package lariat_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/lariat-ws/lariat"
)

// The README's first program, whole: an echo server that also sends the
// time to every connection once a second.

// clock is the Handler of one connection: it joins the "clock" topic and
// echoes what its client sends.
type clock struct {
	lariat.Base
	hub *lariat.Hub
}

func (h clock) Init(c *lariat.Conn) error {
	if err := h.hub.Subscribe(c, "clock"); err != nil {
		return err
	}
	return c.SendText("welcome") // the topic is left by itself at the end
}

func (clock) Handle(c *lariat.Conn, f lariat.Frame) error {
	return c.Send(f) // f is valid until Handle returns
}

// broadcast publishes the time at every tick; the Hub writes it to each
// subscriber from that connection's own goroutine, never blocking here.
func broadcast(hub *lariat.Hub, ticks <-chan time.Time) {
	for t := range ticks {
		hub.Publish("clock", lariat.OpText, []byte(t.UTC().Format(time.TimeOnly)))
	}
}

// An echo server plus a once-a-second broadcast, as the README's first
// program (which runs broadcast(hub, time.Tick(time.Second)) and
// http.ListenAndServe); here the ticks come from the example.
func Example_echoAndBroadcast() {
	hub := &lariat.Hub{}
	up := &lariat.Upgrader{New: func(*http.Request, *lariat.Handshake) (lariat.Handler, error) {
		return clock{hub: hub}, nil
	}}
	ticks := make(chan time.Time)
	go broadcast(hub, ticks)
	defer close(ticks)
	srv := httptest.NewServer(up)
	defer srv.Close()

	c := dialText(srv) // has read "welcome": it is subscribed
	defer c.Close()
	c.send("hello")
	fmt.Println(c.read())
	ticks <- time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	fmt.Println(c.read())
	// Output:
	// hello
	// 12:00:00
}
