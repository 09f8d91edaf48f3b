package lariat

import (
	"context"
	"net/http"
	"time"
)

// An Upgrader keeps count of the connections it serves, because
// http.Server.Shutdown neither sees nor waits for hijacked connections:
// Shutdown here is what closes them gracefully, and MaxConnections is
// enforced against the same count.

// admit reserves a connection slot for a request about to be upgraded, or
// answers 503 when the Upgrader is shutting down or full. The slot is
// held until release, which ServeHTTP defers: the connection runs inside
// ServeHTTP, so the slot lives exactly as long as the connection.
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

func (u *Upgrader) release() {
	u.mu.Lock()
	u.active--
	if u.closing && u.active == 0 && u.drained != nil {
		close(u.drained)
		u.drained = nil
	}
	u.mu.Unlock()
}

// track and untrack keep the set of running connections, for Shutdown.
func (u *Upgrader) track(c *Conn) {
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

func (u *Upgrader) untrack(c *Conn) {
	u.mu.Lock()
	delete(u.conns, c)
	u.mu.Unlock()
}

// Connections reports how many connections the Upgrader is serving,
// handshakes in progress included. It is safe for concurrent use.
func (u *Upgrader) Connections() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.active
}

// Shutdown closes every connection gracefully: each gets a close frame
// with 1001 (going away) after the frames already queued for it, and its
// close handshake is awaited until ctx ends; what remains then is closed
// at once. Every connection's Terminate runs, with ReasonShutdown for
// those that Shutdown closed. Upgrade requests that arrive after Shutdown
// began get 503. It returns nil when every connection ended in time, else
// ctx's error. It is safe for concurrent use.
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
	if drained == nil {
		return nil
	}
	for _, c := range conns {
		c.goAway()
	}
	select {
	case <-drained:
		return nil
	case <-ctx.Done():
	}
	// Out of time: close the sockets; blocked reads and writes fail at
	// once and the connections terminate.
	u.mu.Lock()
	conns = u.snapshotLocked()
	u.mu.Unlock()
	for _, c := range conns {
		c.nc.Close()
	}
	select {
	case <-drained:
	case <-time.After(time.Second): // a Terminate callback that blocks
	}
	return ctx.Err()
}

func (u *Upgrader) snapshotLocked() []*Conn {
	conns := make([]*Conn, 0, len(u.conns))
	for c := range u.conns {
		conns = append(conns, c)
	}
	return conns
}

// goAway asks the connection to close with 1001 as soon as its goroutine
// is free: at once if it is waiting for the peer or parked.
func (c *Conn) goAway() {
	c.goingAway.Store(true)
	c.kick()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}
