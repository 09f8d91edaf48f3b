// Package chatserver is the chat room of examples/chat: one route that
// serves a web page to a plain GET and joins the room on a WebSocket
// upgrade, at the same path, through [lariat.Upgrader.Wrap].
//
// # Wire format
//
// A member's data messages reach every other member as they were sent:
// text as text, binary as binary, byte for byte. The page sends text as
// JSON ({"name":…,"text":…}, or {"name":…,"file":…,"size":n} before a
// file's bytes as one binary message), but the room reads none of it.
//
// The room's own messages, notices, are text messages whose first byte is
// 0x01 (U+0001, START OF HEADING), followed by a JSON object:
//
//	\x01{"system":"welcome","members":N,"maxMessage":L,"transport":T}  to a newcomer, first
//	\x01{"system":"join","name":"…","members":N}                       to the others when a member joins
//	\x01{"system":"leave","name":"…","members":N}                      to the others when a member leaves
//
// members counts the room after the change, the newcomer included;
// maxMessage is the largest message, in bytes, that the room accepts
// (Options.MaxMessageSize): a larger one is refused with close 1009, which
// the page then marks as undelivered. transport is what the newcomer's
// WebSocket runs on, as [lariat.Conn.Transport] tells it: "h2" for a
// stream of the page's HTTP/2 connection (RFC 8441), "http/1.1" for a
// connection of its own. No text the page sends starts with
// 0x01, so notices cannot be mistaken for members' messages; and so that
// a member cannot forge one, a text message starting with 0x01 is refused
// with close 1008 (policy violation) and reaches no one.
//
// A member's name is the name parameter of its WebSocket URL
// (ws://host/?name=Alice), kept as it was at joining: at most 40
// characters, control characters removed, "guest" when empty.
//
// # Fan-out
//
// Members live on their own goroutines, so the room reaches them through
// [lariat.Conn.Post]: the sender's goroutine posts the message to each
// other member, whose Info callback sends it. Post never blocks; a member
// whose mailbox is full is not keeping up and is dropped (close 1008)
// rather than waited for. All of it is one function, broadcastLocked,
// which relayed messages and notices alike go through; a topics hub can
// take its place without the rest changing.
package chatserver

import (
	_ "embed"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"

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
// room for a WebSocket upgrade through up, whose New must be a Room's
// [Room.New]. The caller keeps up to shut it down ([lariat.Upgrader.Shutdown]).
// Upgrades are accepted from the page's own origin only, unless
// up.CheckOrigin says otherwise.
func Handler(up *lariat.Upgrader) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/{$}", up.Wrap(Page))
	return mux
}

// Room is the set of connected members. The zero value is an empty room,
// ready to use; a Room must not be copied after first use. Its methods are
// safe for concurrent use.
type Room struct {
	// OnJoin, when set, is called once for each member that joins, on that
	// member's goroutine, before the others are told.
	OnJoin func(c *lariat.Conn)

	// OnLeave, when set, is called once for each member that leaves, with
	// the Reason its connection ended with, on that member's goroutine,
	// before the others are told.
	OnLeave func(c *lariat.Conn, r lariat.Reason)

	mu      sync.Mutex
	members map[*lariat.Conn]*member // guarded by mu
}

// New is the room's lariat.Upgrader.New function: every upgrade becomes a
// member, named by the request's name parameter. It joins the room in
// Init, once the connection exists.
func (rm *Room) New(r *http.Request, hs *lariat.Handshake) (lariat.Handler, error) {
	return &member{
		room:       rm,
		name:       memberName(r.URL.Query().Get("name")),
		maxMessage: hs.Options.MaxMessageSize,
	}, nil
}

// Len returns the number of members in the room.
func (rm *Room) Len() int {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return len(rm.members)
}

// join adds m to the room, tells the others, and returns the number of
// members with m. The change and its notice go under one lock, so that
// every member sees the room's changes in the order they happened.
func (rm *Room) join(c *lariat.Conn, m *member) int {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.members == nil {
		rm.members = make(map[*lariat.Conn]*member)
	}
	rm.members[c] = m
	rm.broadcastLocked(c, notice{System: "join", Name: m.name, Members: len(rm.members)}.frame())
	return len(rm.members)
}

// leave removes m, which may have been dropped already, and tells the
// others.
func (rm *Room) leave(c *lariat.Conn, m *member) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	delete(rm.members, c)
	rm.broadcastLocked(c, notice{System: "leave", Name: m.name, Members: len(rm.members)}.frame())
}

// relay sends a member's message to all the others.
func (rm *Room) relay(from *lariat.Conn, f lariat.Frame) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	rm.broadcastLocked(from, f)
}

// broadcastLocked posts f to every member but from; rm.mu must be held.
// f must not alias a connection's read buffer: all the members read the
// same copy, and none writes to it. Post does not block, so holding mu
// across the loop costs only the loop; and Post never takes mu, so the
// lock order is simple.
func (rm *Room) broadcastLocked(from *lariat.Conn, f lariat.Frame) {
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

// noticePrefix starts every message the room writes itself; see the
// package documentation.
const noticePrefix = 0x01

// notice is a message of the room's own.
type notice struct {
	System     string `json:"system"` // welcome, join or leave
	Name       string `json:"name,omitempty"`
	Members    int    `json:"members"`
	MaxMessage int64  `json:"maxMessage,omitempty"`
	Transport  string `json:"transport,omitempty"` // welcome: "h2" or "http/1.1"
}

func (n notice) frame() lariat.Frame {
	js, err := json.Marshal(n)
	if err != nil {
		panic(err) // strings and integers always marshal
	}
	return lariat.Frame{Op: lariat.OpText, Payload: append([]byte{noticePrefix}, js...)}
}

// maxName bounds a member's name, in characters.
const maxName = 40

// memberName makes the name a page asked for fit to show to others.
// (strings.Map turns invalid UTF-8 into U+FFFD.)
func memberName(s string) string {
	s = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s))
	if r := []rune(s); len(r) > maxName {
		s = strings.TrimSpace(string(r[:maxName]))
	}
	if s == "" {
		return "guest"
	}
	return s
}

// member is the Handler of one connection.
type member struct {
	lariat.Base
	room       *Room
	name       string
	maxMessage int64
	joined     bool // Init ran: the others were told, and will be told of the leave
	// dropped is set by another member's goroutine when this member fell
	// too far behind.
	dropped atomic.Bool
}

func (m *member) Init(c *lariat.Conn) error {
	if m.room.OnJoin != nil {
		m.room.OnJoin(c)
	}
	n := m.room.join(c, m)
	m.joined = true
	return c.Send(notice{System: "welcome", Members: n, MaxMessage: m.maxMessage, Transport: c.Transport()}.frame())
}

func (m *member) Handle(c *lariat.Conn, f lariat.Frame) error {
	switch f.Op {
	case lariat.OpText:
		if len(f.Payload) > 0 && f.Payload[0] == noticePrefix {
			return c.Close(lariat.StatusPolicyViolation, "text starting with U+0001 is reserved for the room")
		}
	case lariat.OpBinary:
	default:
		return nil // pings and pongs; lariat answered the pings
	}
	// f.Payload is valid only until Handle returns; the other members
	// send it later, from their own goroutines.
	m.room.relay(c, f.Clone())
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
	if m.joined {
		m.room.leave(c, m)
	}
}
