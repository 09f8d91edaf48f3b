// Package chatserver is the chat room of examples/chat: one route that
// serves a web page to a plain GET and joins the room on a WebSocket
// upgrade, at the same path, through [lariat.Upgrader.Wrap].
//
// The room relays every data message a member sends, as it came (text as
// text, binary as binary), to every other member. Members live on their
// own goroutines, so the relay goes through [lariat.Conn.Post]: the
// sender's goroutine posts the message to each other member, whose Info
// callback sends it. Post never blocks; a member whose mailbox is full is
// not keeping up and is dropped rather than waited for.
//
// The only message the room writes itself is a greeting to each newcomer,
// {"system":"welcome","members":N}, which tells it that it is in the room
// and how many members it counts, itself included.
package chatserver

import (
	_ "embed"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/lariat-ws/lariat"
)

//go:embed index.html
var page []byte

// Page serves the chat's web page: one HTML file with its script and
// styles inline, no other assets. It answers only "/"; other paths get 404.
var Page http.Handler = http.HandlerFunc(servePage)

func servePage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(page)))
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodGet {
		w.Write(page)
	}
}

// Handler returns the chat's one route, "/": the page for a plain GET, the
// room for a WebSocket upgrade. opts are the options of every connection
// (set opts.MailboxSize to choose how far behind a member may fall before
// it is dropped). Upgrades are accepted from the page's own origin only,
// lariat's default.
func Handler(rm *Room, opts lariat.Options) http.Handler {
	up := &lariat.Upgrader{New: rm.New, Options: opts}
	mux := http.NewServeMux()
	mux.Handle("/{$}", up.Wrap(Page))
	return mux
}

// Room is the set of connected members. The zero value is an empty room,
// ready to use; a Room must not be copied after first use.
type Room struct {
	// OnLeave, when set, is called once for each member that leaves, with
	// the Reason its connection ended with, on that member's goroutine.
	OnLeave func(c *lariat.Conn, r lariat.Reason)

	mu      sync.Mutex
	members map[*lariat.Conn]*member // guarded by mu
}

// New is the room's lariat.Upgrader.New function: every upgrade becomes a
// member. It joins the room in Init, once the connection exists.
func (rm *Room) New(*http.Request, *lariat.Handshake) (lariat.Handler, error) {
	return &member{room: rm}, nil
}

// Len returns the number of members in the room.
func (rm *Room) Len() int {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return len(rm.members)
}

// join adds c to the room and returns the number of members with it.
func (rm *Room) join(c *lariat.Conn, m *member) int {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.members == nil {
		rm.members = make(map[*lariat.Conn]*member)
	}
	rm.members[c] = m
	return len(rm.members)
}

// leave removes c from the room; it may have been dropped already.
func (rm *Room) leave(c *lariat.Conn) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	delete(rm.members, c)
}

// broadcast posts f to every member but the sender. f must not alias the
// sender's read buffer: all the members read the same copy, and none
// writes to it. Post does not block, so holding mu across the loop costs
// only the loop; and Post never takes mu, so the lock order is simple.
func (rm *Room) broadcast(from *lariat.Conn, f lariat.Frame) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	for c, m := range rm.members {
		if c == from {
			continue
		}
		switch err := c.Post(f); {
		case err == nil:
		case errors.Is(err, lariat.ErrMailboxFull):
			// The member has Options.MailboxSize messages waiting: its
			// reader is slower than the room. Waiting would stall the
			// sender and, through it, everyone; queueing without bound
			// would move the problem to memory. It leaves the room now
			// and is told why when its goroutine next runs.
			m.dropped.Store(true)
			delete(rm.members, c)
		default:
			// lariat.ErrClosed: the connection has ended and its
			// Terminate is about to remove it, or has.
			delete(rm.members, c)
		}
	}
}

// member is the Handler of one connection.
type member struct {
	room *Room
	// dropped is set by another member's goroutine when this member fell
	// too far behind.
	dropped atomic.Bool
}

func (m *member) Init(c *lariat.Conn) error {
	n := m.room.join(c, m)
	return c.SendText(`{"system":"welcome","members":` + strconv.Itoa(n) + `}`)
}

func (m *member) Handle(c *lariat.Conn, f lariat.Frame) error {
	if f.Op.IsControl() {
		return nil // lariat answers pings itself
	}
	// f.Payload is valid only until Handle returns; the other members
	// send it later, from their own goroutines.
	m.room.broadcast(c, f.Clone())
	return nil
}

func (m *member) Info(c *lariat.Conn, msg any) error {
	if m.dropped.Load() {
		// RFC 6455 §7.4.1: 1008 is for a message that "violates its
		// policy"; here the policy is keeping up with the room.
		return c.Close(lariat.StatusPolicyViolation, "too slow: fell behind the room")
	}
	f, ok := msg.(lariat.Frame)
	if !ok {
		return nil
	}
	return c.Send(f)
}

func (m *member) Terminate(c *lariat.Conn, r lariat.Reason) {
	if m.room.OnLeave != nil {
		m.room.OnLeave(c, r) // first, so that an empty room means all were told
	}
	m.room.leave(c)
}
