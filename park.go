package lariat

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Parking. A hibernating connection on a plain socket, on Linux, gives up
// its goroutine as well as its buffers: when its goroutine finds the
// socket empty, with no message or frame in progress, nothing unread and
// nothing left to write, it registers the connection with the poller
// (park_linux.go) and returns. The connection is then a struct in
// memory, its socket watched by one epoll instance for the whole process
// and its next deadline by one timer. Whichever comes first of data from
// the peer (or its FIN or RST), a Post, Shutdown or the deadline runs
// serve again on a new goroutine, which re-enters the run loop where it
// left it: it reads what came, delivers the mailbox or runs the timers,
// and parks again if the connection is still quiet and hibernating.
//
// A connection that a Hub delivery woke parks the same way, hibernating
// or not, until its peer sends something (Conn.listener): a connection
// that only listens to topics then costs a delivery no goroutine to keep
// and no read deadline to move, which would make net allocate an error
// for the interrupted read.
//
// A wake-up that is not the socket's (a post, a delivery, a deadline)
// leaves the socket's registration in place, armed: the poller marks a
// connection whose event it takes (pfired), so one whose registration
// has not fired parks again without a system call (poller.rearm), since
// anything its socket received meanwhile is an event still to come.
//
// Exactly one waker starts the goroutine: the state goes from
// connParking (the goroutine is on its way out) to connParked once the
// goroutine is done with the connection, and the first waker to move it
// from connParked to connBusy starts the next one. A wake-up that comes
// while the goroutine is still on its way out (connParking) turns the
// state into connStaying, and that goroutine carries on instead of
// leaving. So callbacks never run concurrently, and messages, read by
// one goroutine at a time from one socket, stay in order.
//
// Elsewhere (another OS, a transport that is not a plain socket,
// TLS among them, or a connection paused with SetActive(false)),
// hibernation keeps the goroutine and gives back the buffers only. A TLS
// connection cannot be parked safely: crypto/tls may hold records it
// has read from the socket but not yet returned, which the socket's
// readiness does not show, and nothing in its API tells; and its own
// buffers stay allocated anyway, so parking would save only the stack.
// A wrapped net.Conn may buffer bytes just as well.

// errParked comes up the read path when the connection is to park: the
// codecs return it as they return a read error, and the run loop stops.
var errParked = errors.New("lariat: parked")

// mayPark reports whether the connection, whose socket was found empty
// or not read, with nothing unread, may park: it hibernates or listens
// to the Hub, it is between messages and frames, the poller has not
// refused it, and its next deadline has not passed (that one is the
// runtime's to deliver, as a timeout).
func (c *Conn) mayPark() bool {
	return canPark && (c.hibernate || c.listener) && c.cur.op == 0 && c.remaining == 0 && !c.noPark &&
		(c.rdl.IsZero() || time.Now().Before(c.rdl))
}

// park parks the connection once its goroutine has left the run loop
// with errParked, registered with the poller in state connParking. It
// reports whether it did: then the goroutine must return without
// touching c again. Otherwise a post, Shutdown or another wake-up came
// meanwhile, and the goroutine goes on.
func (c *Conn) park() bool {
	// A post that came before connParking was stored is seen here; one
	// that comes after finds connParking and leaves connStaying.
	if !c.hasMail.Load() && !c.goingAway.Load() && c.state.CompareAndSwap(connParking, connParked) {
		if h := testHookParked.Load(); h != nil {
			(*h)(c)
		}
		return true
	}
	parker.forget(c)
	c.state.Store(connBusy)
	return false
}

// unpark wakes the connection if it is parked or parking, and reports
// whether the caller is to run it: then the connection was parked, and
// the caller must call c.serve, on a goroutine of its choosing, as nobody
// else will. It is safe for concurrent use.
func (c *Conn) unpark() bool {
	for {
		switch s := c.state.Load(); s {
		case connParking:
			if c.state.CompareAndSwap(s, connStaying) {
				return false
			}
		case connParked:
			if c.state.CompareAndSwap(s, connBusy) {
				parker.woke(c)
				return true
			}
		default:
			return false
		}
	}
}

// wakeParked wakes the connection if it is parked or parking, on a new
// goroutine.
func (c *Conn) wakeParked() {
	if c.unpark() {
		goServe(c)
	}
}

// goServe runs c.serve on a new goroutine without allocating: `go
// c.serve()` would allocate the closure that carries c (16 B), once per
// wake-up. c goes through runq instead, and the goroutine started for it,
// which captures nothing, takes one connection from there; any one will
// do, since each goroutine serves the connection it took to its end or
// its next parking.
func goServe(c *Conn) {
	runq.mu.Lock()
	runq.conns = append(runq.conns, c)
	runq.mu.Unlock()
	go serveQueued()
}

var runq struct {
	mu    sync.Mutex
	conns []*Conn // woken, waiting for the goroutine started for each
}

func serveQueued() {
	runq.mu.Lock()
	n := len(runq.conns) - 1
	c := runq.conns[n]
	runq.conns[n] = nil
	runq.conns = runq.conns[:n]
	runq.mu.Unlock()
	c.serve()
}

// testHookParked, when tests set it, is called with every connection that
// parks, just after.
var testHookParked atomic.Pointer[func(*Conn)]
