//go:build unix

package lariat

import (
	"io"
	"net"
	"os"
	"syscall"
)

// A connection on a plain socket reads through the socket's descriptor
// (syscall.RawConn.Read) rather than through net.Conn.Read, with the
// same system calls and the same wait in the runtime's network poller,
// for one difference: when the socket has nothing to read it gives back
// its read buffer before it waits, and takes one again when data comes.
// So an idle connection holds no read buffer, hibernating or not; and a
// hibernating one may park instead of waiting (see park.go).

// socketOf returns the descriptor access of a plain TCP or Unix socket,
// whose Read is the descriptor's read, or nil for any other transport:
// a TLS connection, or a wrapper that may buffer or transform bytes.
func socketOf(nc net.Conn) syscall.RawConn {
	var sc syscall.Conn
	switch t := nc.(type) {
	case *net.TCPConn:
		sc = t
	case *net.UnixConn:
		sc = t
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// readSocket is what c.sock.Read calls with the descriptor: it reads
// into the read buffer, taking one from the pool if the connection holds
// none, and reports in sockN and sockErr. When the socket is empty and
// nothing is unread it gives the buffer back, and then either parks the
// connection (sockErr is errParked) or returns false, so that the
// runtime waits for the socket.
func (c *Conn) readSocket(fd uintptr) bool {
	// Back from a wake-up that was not the socket's, with the socket's
	// registration still armed: park again without reading.
	if c.rbuf == nil && c.pkept && c.mayPark() && parker.rearm(c) {
		c.sockErr = errParked
		return true
	}
	if c.rbuf == nil {
		c.setReadBuf(getBuf(c.rsize.size(c.opts.ReadBufferSize)))
		c.r, c.w = 0, 0
	}
	for {
		n, err := syscall.Read(int(fd), c.rbuf[c.w:])
		switch err {
		case nil:
			if n == 0 {
				c.sockErr = io.EOF
			}
			c.sockN = n
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if c.r != c.w {
				return false
			}
			putBuf(c.rbp)
			c.rbp, c.rbuf, c.r, c.w = nil, nil, 0, 0
			if !c.mayPark() {
				return false
			}
			// Parked, or refused: either way the caller looks at the
			// mailbox again before it waits.
			if parker.arm(c, fd) {
				c.sockErr = errParked
			}
			return true
		}
		addr := c.nc.LocalAddr()
		c.sockErr = &net.OpError{Op: "read", Net: addr.Network(), Source: addr, Addr: c.nc.RemoteAddr(), Err: os.NewSyscallError("read", err)}
		return true
	}
}
