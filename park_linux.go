//go:build linux

package lariat

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"time"
)

// canPark: Linux has the poller below.
const canPark = true

// parker watches the sockets of the parked connections of the whole
// process, with one epoll instance and one timer for their deadlines;
// it starts with the first parking. One goroutine takes the epoll
// events; it waits for them in the runtime's network poller like any
// other reader, since the epoll descriptor is itself pollable (a thread
// blocked in EpollWait would make every wake-up a hand-off between
// threads), and starts a goroutine for each connection an event wakes.
// It ends once no connection has been parked for pollerLinger, so that a
// process, or a test, whose connections have all ended has no goroutine
// of lariat's left.
var parker poller

// pollerLinger is how long the poller's goroutine outlives the last
// parked connection: long enough that a connection that keeps parking
// and waking does not start one each time.
const pollerLinger = time.Second

// The events a parked socket is watched for. EPOLLONESHOT disarms the
// registration once it fires, so a socket wakes its connection once per
// parking; EPOLLRDHUP reports the peer's FIN, and EPOLLERR and EPOLLHUP
// (a reset) are always reported.
const parkEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

type poller struct {
	once sync.Once
	epfd int
	rc   syscall.RawConn
	file *os.File // the epoll descriptor, open for good

	mu        sync.Mutex
	ok        bool    // the epoll instance works
	running   bool    // the goroutine of wait runs
	lingering bool    // no connection is registered, and the linger deadline is set
	count     int     // the connections registered
	conns     []*Conn // by descriptor: the connections registered
	gen       uint32  // the last registration's generation
	heap      []*Conn // the registered connections with a deadline, a min-heap on rdl
	timer     *time.Timer
	at        time.Time // when timer fires; zero when it is stopped
	arms      uint64    // the registrations armed with a system call, for tests
}

// start creates the epoll instance.
func (p *poller) start() {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return
	}
	p.file = os.NewFile(uintptr(fd), "lariat-epoll")
	rc, err := p.file.SyscallConn()
	if err != nil {
		p.file.Close()
		return
	}
	p.epfd, p.rc, p.ok = fd, rc, true
	p.timer = time.AfterFunc(time.Hour, p.fire)
	p.timer.Stop()
}

// arm registers the connection c, whose goroutine is about to leave it,
// watching its socket fd, and puts it in state connParking. It runs
// inside c.sock.Read, so fd cannot be closed and reused meanwhile. It
// reports whether it did; if not, c will not try to park again.
//
// A registration carries a generation, in the event's data, so that an
// event from an earlier registration of the same descriptor, maybe of
// another connection by then, is recognised and ignored.
func (p *poller) arm(c *Conn, fd uintptr) bool {
	p.once.Do(p.start)
	// Before the socket is watched: an event that comes at once must find
	// connParking.
	c.state.Store(connParking)
	p.mu.Lock()
	if !p.ok {
		p.mu.Unlock()
		c.noPark = true
		return false
	}
	if int(fd) >= len(p.conns) {
		conns := make([]*Conn, max(int(fd)+1, 2*len(p.conns), 1024))
		copy(conns, p.conns)
		p.conns = conns
	}
	p.gen++
	p.arms++
	c.pfd, c.pgen, c.pfired, c.pkept = int32(fd), p.gen, false, true
	if p.conns[fd] == nil {
		p.count++
	}
	p.conns[fd] = c
	if !p.running {
		p.running = true
		go p.wait()
	}
	if c.pslot != 0 {
		p.remove(c)
	}
	if !c.rdl.IsZero() {
		p.push(c)
	}
	ev := syscall.EpollEvent{Events: parkEvents, Fd: int32(fd), Pad: int32(p.gen)}
	p.mu.Unlock()
	// A descriptor stays in the epoll set until it is closed, disarmed
	// after its event: the first parking adds it, the next ones re-arm it.
	err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
	if err == syscall.ENOENT {
		err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	}
	if err != nil {
		p.forget(c)
		c.noPark = true
		return false
	}
	return true
}

// rearm parks c again, in state connParking, on the registration its
// last parking left in place, and reports whether it could: without a
// system call, where arm reads the socket and re-arms it. It can when the
// wake-up since was not the socket's (a post, a Hub delivery, a timer):
// then the registration is still armed, so the socket has had nothing to
// read since the read that found it empty before that parking; anything
// that came since is an event still to come, which will wake c. It runs
// on c's goroutine, with nothing unread.
func (p *poller) rearm(c *Conn) bool {
	if !c.pkept {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.ok || c.pfired || p.conns[c.pfd] != c {
		return false
	}
	// Under p.mu, which wait holds as it marks an event's connection
	// fired: an event taken after this finds connParking.
	c.state.Store(connParking)
	if !c.rdl.IsZero() {
		p.push(c)
	}
	return true
}

// woke takes c, which a post, Shutdown or its deadline just woke from
// parking, out of the timer heap, since its goroutine now plans its
// deadlines. Its registration stays, for rearm.
func (p *poller) woke(c *Conn) {
	p.mu.Lock()
	if c.pslot != 0 {
		p.remove(c)
	}
	p.mu.Unlock()
}

// forget unregisters c, if it is registered. Its socket may stay in the
// epoll set, armed: an event from it no longer finds c.
func (p *poller) forget(c *Conn) {
	c.pkept = false
	p.mu.Lock()
	if fd := int(c.pfd); fd < len(p.conns) && p.conns[fd] == c {
		p.conns[fd] = nil
		if p.count--; p.count == 0 && p.running && !p.lingering {
			// The goroutine of wait ends if none parks meanwhile.
			p.lingering = true
			p.file.SetReadDeadline(time.Now().Add(pollerLinger))
		}
	}
	if c.pslot != 0 {
		p.remove(c)
	}
	p.mu.Unlock()
}

// wait takes the epoll events and wakes the connections they are for,
// until no connection has been registered for pollerLinger.
func (p *poller) wait() {
	events := make([]syscall.EpollEvent, 128)
	var woken []*Conn
	var err error
	// take runs inside p.rc.Read: it takes the events there are without
	// blocking, and returns false, to wait in the runtime's poller, once
	// EpollWait returns fewer events than it could: then none is left,
	// and any that comes later reports the descriptor readable again.
	take := func(fd uintptr) bool {
		for {
			var n int
			n, err = syscall.EpollWait(int(fd), events, 0)
			switch {
			case err == syscall.EINTR:
				continue
			case err != nil:
				return true
			}
			p.mu.Lock()
			for _, ev := range events[:n] {
				if fd := int(ev.Fd); fd < len(p.conns) {
					if c := p.conns[fd]; c != nil && c.pgen == uint32(ev.Pad) {
						c.pfired = true // disarmed: only arm re-arms it
						woken = append(woken, c)
					}
				}
			}
			p.mu.Unlock()
			for i, c := range woken {
				woken[i] = nil
				c.wakeParked()
			}
			woken = woken[:0]
			if n < len(events) {
				return false
			}
		}
	}
	for {
		rerr := p.rc.Read(take)
		if err != nil || !errors.Is(rerr, os.ErrDeadlineExceeded) {
			p.fail()
			return
		}
		// The linger deadline.
		p.mu.Lock()
		p.lingering = false
		if p.count == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		p.file.SetReadDeadline(time.Time{})
		p.mu.Unlock()
	}
}

// fail wakes every registered connection, for good: EpollWait failed,
// which it does only if the epoll instance itself is broken.
func (p *poller) fail() {
	p.mu.Lock()
	p.ok, p.running = false, false
	var all []*Conn
	for _, c := range p.conns {
		if c != nil {
			all = append(all, c)
		}
	}
	p.mu.Unlock()
	for _, c := range all {
		c.wakeParked()
	}
}

// fire wakes the connections whose deadline has come, and sets the timer
// for the next one. It runs on a goroutine of its own, which runs the
// first of them.
func (p *poller) fire() {
	now := time.Now()
	var due []*Conn
	p.mu.Lock()
	for len(p.heap) > 0 && !p.heap[0].rdl.After(now) {
		c := p.heap[0]
		p.remove(c)
		due = append(due, c)
	}
	p.at = time.Time{}
	if len(p.heap) > 0 {
		p.at = p.heap[0].rdl
		p.timer.Reset(p.at.Sub(now))
	}
	p.mu.Unlock()
	var first *Conn
	for _, c := range due {
		switch {
		case !c.unpark():
		case first == nil:
			first = c
		default:
			goServe(c)
		}
	}
	if first != nil {
		first.serve()
	}
}

// The timer heap: p.mu must be held. A connection's pslot is its index
// plus one, so that the zero value means "not in the heap".

func (p *poller) push(c *Conn) {
	p.heap = append(p.heap, c)
	c.pslot = int32(len(p.heap))
	p.up(len(p.heap) - 1)
	if c.pslot == 1 && (p.at.IsZero() || c.rdl.Before(p.at)) {
		p.at = c.rdl
		p.timer.Reset(time.Until(c.rdl))
	}
}

func (p *poller) remove(c *Conn) {
	i, last := int(c.pslot)-1, len(p.heap)-1
	c.pslot = 0
	if i != last {
		p.heap[i] = p.heap[last]
		p.heap[i].pslot = int32(i + 1)
	}
	p.heap[last] = nil
	p.heap = p.heap[:last]
	if i != last {
		p.down(i)
		p.up(i)
	}
}

func (p *poller) up(i int) {
	h := p.heap
	for i > 0 {
		parent := (i - 1) / 2
		if !h[i].rdl.Before(h[parent].rdl) {
			break
		}
		p.swap(i, parent)
		i = parent
	}
}

func (p *poller) down(i int) {
	h := p.heap
	for {
		least := i
		for _, k := range [2]int{2*i + 1, 2*i + 2} {
			if k < len(h) && h[k].rdl.Before(h[least].rdl) {
				least = k
			}
		}
		if least == i {
			return
		}
		p.swap(i, least)
		i = least
	}
}

func (p *poller) swap(i, j int) {
	h := p.heap
	h[i], h[j] = h[j], h[i]
	h[i].pslot, h[j].pslot = int32(i+1), int32(j+1)
}
