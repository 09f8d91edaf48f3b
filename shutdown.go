package lariat

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
)

// An Upgrader keeps count of the connections it serves, because
// http.Server.Shutdown neither sees nor waits for hijacked connections:
// Shutdown here is what closes them gracefully, and MaxConnections is
// enforced against the same count.

// admit reserves a connection slot for a request about to be upgraded, or
// answers 503 when the Upgrader is shutting down or full. The slot is
// held until release: by the handshake if it fails, else by the
// connection, which gives it back when it ends (done).
func (u *Upgrader) admit(w http.ResponseWriter, r *http.Request) bool {
	u.mu.Lock()
	closing := u.closing
	full := u.MaxConnections > 0 && u.active >= u.MaxConnections
	if !closing && !full {
		u.active++
	}
	u.mu.Unlock()
	switch {
	case closing:
		u.refuse(w, r, http.StatusServiceUnavailable, "server shutting down")
		return false
	case full:
		w.Header().Set("Retry-After", "5")
		u.refuse(w, r, http.StatusServiceUnavailable, "too many connections")
		return false
	}
	return true
}

// release gives back a slot taken by admit.
func (u *Upgrader) release() {
	u.mu.Lock()
	u.active--
	if u.closing && u.active == 0 && u.drained != nil {
		close(u.drained)
		u.drained = nil
	}
	u.mu.Unlock()
}

// track adds a started connection to the set Shutdown closes.
func (u *Upgrader) track(c *Conn) {
	if u == nil {
		return
	}
	u.mu.Lock()
	if u.conns == nil {
		u.conns = make(map[*Conn]struct{})
	}
	u.conns[c] = struct{}{}
	closing := u.closing
	u.mu.Unlock()
	if closing {
		c.goAway()
	}
}

// done removes a connection that has ended, Terminate included, and
// gives back its slot.
func (u *Upgrader) done(c *Conn) {
	if u == nil {
		return
	}
	u.mu.Lock()
	delete(u.conns, c)
	u.mu.Unlock()
	u.release()
}

// Connections reports how many connections the Upgrader is serving,
// handshakes in progress included. It is safe for concurrent use.
func (u *Upgrader) Connections() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.active
}

// errShutdownInCallback is what Shutdown returns when a connection's own
// callback calls it: waiting there for every connection to end would wait
// for that connection too, forever.
var errShutdownInCallback = errors.New("lariat: Shutdown called from a connection's callback, which would wait for itself; call it from another goroutine")

// Shutdown closes every connection gracefully: each gets a close frame
// with 1001 (going away) after the frames already queued for it, its
// close handshake is awaited, and its Terminate runs with
// ReasonShutdown. Upgrade requests that arrive after Shutdown began get
// 503.
//
// Shutdown returns nil once every connection has ended, Terminate
// included. If ctx ends first, it closes the sockets of the connections
// still open, which then end at once with ReasonShutdown and Code 1006,
// and returns ctx's error without waiting for their Terminate calls: a
// Terminate that blocks would otherwise hold Shutdown past its deadline.
// Called from inside a callback, it returns an error at once instead of
// waiting for its own connection. It is safe for concurrent use.
//
// net/http's Server.Shutdown does not see hijacked connections; hook this
// to it:
//
//	srv.RegisterOnShutdown(func() {
//		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
//		defer cancel()
//		up.Shutdown(ctx)
//	})
func (u *Upgrader) Shutdown(ctx context.Context) error {
	u.mu.Lock()
	u.closing = true
	var drained chan struct{}
	if u.active > 0 {
		if u.drained == nil {
			u.drained = make(chan struct{})
		}
		drained = u.drained
	}
	conns := u.snapshotLocked()
	u.mu.Unlock()
	for _, c := range conns {
		c.goAway()
	}
	if drained == nil {
		return nil
	}
	if inCallback() {
		return errShutdownInCallback
	}
	select {
	case <-drained:
		return nil
	case <-ctx.Done():
	}
	// Out of time: close the sockets; blocked reads and writes fail at
	// once and the connections end.
	u.mu.Lock()
	conns = u.snapshotLocked()
	u.mu.Unlock()
	for _, c := range conns {
		c.cut.Store(true)
		c.nc.Close()
		c.kick() // a parked connection has no read to fail
	}
	return ctx.Err()
}

// inCallback reports whether the calling goroutine is running one of a
// connection's callbacks.
func inCallback() bool {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, "lariat.(*Conn).invoke") {
			return true
		}
		if !more {
			return false
		}
	}
}

// snapshotLocked lists the connections; u.mu must be held.
func (u *Upgrader) snapshotLocked() []*Conn {
	conns := make([]*Conn, 0, len(u.conns))
	for c := range u.conns {
		conns = append(conns, c)
	}
	return conns
}

// goAway asks the connection to close with 1001 as soon as its goroutine
// is free: at once if it is waiting for the peer, paused or parked.
func (c *Conn) goAway() {
	c.goingAway.Store(true)
	c.kick()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}
