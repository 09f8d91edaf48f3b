package bench

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// ReplayConn is an in-memory net.Conn for measuring a server's read path
// without a network: its reads yield one client frame repeated Count
// times, then Tail (a close frame), then io.EOF; its writes are counted
// and dropped. Reads fill the caller's buffer as far as the stream goes,
// as a socket with plenty of data waiting does. Deadlines are accepted
// and ignored: nothing here ever blocks.
type ReplayConn struct {
	Frame []byte
	Count int
	Tail  []byte

	off     int // offset in Frame of the next byte to deliver
	Written int64
}

// Read implements net.Conn.
func (c *ReplayConn) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && c.Count > 0 {
		k := copy(p[n:], c.Frame[c.off:])
		n += k
		c.off += k
		if c.off == len(c.Frame) {
			c.off = 0
			c.Count--
		}
	}
	if n < len(p) && len(c.Tail) > 0 {
		k := copy(p[n:], c.Tail)
		n += k
		c.Tail = c.Tail[k:]
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// Write implements net.Conn.
func (c *ReplayConn) Write(p []byte) (int, error) {
	c.Written += int64(len(p))
	return len(p), nil
}

// Close implements net.Conn.
func (c *ReplayConn) Close() error { return nil }

type memAddr struct{}

func (memAddr) Network() string { return "mem" }
func (memAddr) String() string  { return "mem" }

// LocalAddr implements net.Conn.
func (c *ReplayConn) LocalAddr() net.Addr { return memAddr{} }

// RemoteAddr implements net.Conn.
func (c *ReplayConn) RemoteAddr() net.Addr { return memAddr{} }

// SetDeadline implements net.Conn.
func (c *ReplayConn) SetDeadline(time.Time) error { return nil }

// SetReadDeadline implements net.Conn.
func (c *ReplayConn) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline implements net.Conn.
func (c *ReplayConn) SetWriteDeadline(time.Time) error { return nil }

// hijackWriter is the http.ResponseWriter net/http would pass to a
// handler, reduced to what an upgrade needs: Hijack hands over the
// in-memory connection. This is how every library, lariat included, gets
// the ReplayConn through its ordinary public entry point.
type hijackWriter struct {
	nc     net.Conn
	header http.Header
	status int
}

func (w *hijackWriter) Header() http.Header         { return w.header }
func (w *hijackWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *hijackWriter) WriteHeader(status int)      { w.status = status }

// Hijack returns the connection with 4 KiB buffers, as net/http does.
func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.nc, bufio.NewReadWriter(bufio.NewReaderSize(w.nc, 4096), bufio.NewWriterSize(w.nc, 4096)), nil
}

// ServeConn runs h on nc as if net/http had received an upgrade request
// on it: it returns when the server has served the connection to its end
// and closed it. Some libraries serve the connection inside ServeHTTP;
// lariat returns from ServeHTTP once the connection is upgraded and runs
// it on a goroutine of its own (so that net/http can free what it held
// for the request), hence the wait for Close.
func ServeConn(h http.Handler, nc net.Conn, deflate bool) {
	cn := &closeNotifier{Conn: nc, done: make(chan struct{})}
	nc = cn
	defer func() {
		select {
		case <-cn.done:
		case <-time.After(time.Minute):
			panic("bench: the server never closed the in-memory connection")
		}
	}()
	r, err := http.NewRequest(http.MethodGet, "http://mem/", nil)
	if err != nil {
		panic(err)
	}
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Sec-WebSocket-Key", handshakeKey)
	r.Header.Set("Sec-WebSocket-Version", "13")
	if deflate {
		r.Header.Set("Sec-WebSocket-Extensions", "permessage-deflate")
	}
	r.RemoteAddr = "mem"
	h.ServeHTTP(&hijackWriter{nc: nc, header: http.Header{}}, r)
}

// closeNotifier tells when the server closes the connection.
type closeNotifier struct {
	net.Conn
	once sync.Once
	done chan struct{}
}

func (c *closeNotifier) Close() error {
	c.once.Do(func() { close(c.done) })
	return c.Conn.Close()
}
