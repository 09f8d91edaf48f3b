//go:build !unix

package lariat

import (
	"net"
	"syscall"
)

// socketOf returns nil: off Unix, connections read through net.Conn.
func socketOf(net.Conn) syscall.RawConn { return nil }

// readSocket is never called off Unix.
func (c *Conn) readSocket(uintptr) bool { return true }
