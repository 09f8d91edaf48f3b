//go:build !linux

package lariat

// canPark: only Linux has a poller; elsewhere hibernating connections
// keep their goroutine.
const canPark = false

var parker poller

type poller struct{}

func (*poller) arm(c *Conn, _ uintptr) bool { c.noPark = true; return false }
func (*poller) rearm(*Conn) bool            { return false }
func (*poller) woke(*Conn)                  {}
func (*poller) forget(*Conn)                {}
