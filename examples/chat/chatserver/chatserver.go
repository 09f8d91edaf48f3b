// Package chatserver is the chat of examples/chat: one route that serves
// a web page to a plain GET and joins a room on a WebSocket upgrade, at
// the same path, through [lariat.Upgrader.Wrap]. Rooms are topics of a
// [lariat.Hub], so with a Broker they span every node that shares it
// (examples/chat/cluster runs it on NATS).
//
// # Rooms
//
// The page at / joins the room "lobby"; /?room=NAME joins NAME instead
// (at most 40 characters, control characters removed). A room exists
// while it has members, and the members of one room hear nothing of the
// others.
//
// # Wire format
//
// A member's data messages reach every other member of its room as they
// were sent: text as text, binary as binary, byte for byte, and never
// back to their sender. The page sends text as JSON
// ({"name":…,"text":…}, or {"name":…,"file":…,"size":n} before a file's
// bytes as one binary message), but the room reads none of it.
//
// The room's own messages, notices, are text messages whose first byte is
// 0x01 (U+0001, START OF HEADING), followed by a JSON object:
//
//	\x01{"system":"welcome","room":"…","members":N,"maxMessage":L,"transport":T}  to a newcomer, first
//	\x01{"system":"join","name":"…","members":N}                    to the others when a member joins
//	\x01{"system":"leave","name":"…","members":N}                   to the others when a member leaves
//
// members counts the room after the change, the newcomer included. Only
// a Room whose Hub has no Broker knows that number, since all the
// members are its own; across nodes, counting would take a presence
// protocol (who is on which node, and which nodes are still alive) that
// this example leaves out, so there the notices have no members field.
// maxMessage is the largest message, in bytes, that the room accepts
// (Options.MaxMessageSize): a larger one is refused with close 1009,
// which the page then marks as undelivered. transport is what the
// newcomer's WebSocket runs on, as [lariat.Conn.Transport] tells it: "h2"
// for a stream of the page's HTTP/2 connection (RFC 8441), "http/1.1" for
// a connection of its own. No text the page sends
// starts with 0x01, so notices cannot be mistaken for members' messages;
// and so that a member cannot forge one, a text message starting with
// 0x01 is refused with close 1008 (policy violation) and reaches no one.
//
// A member's name is the name parameter of its WebSocket URL
// (ws://host/?name=Alice&room=lobby), kept as it was at joining: at most
// 40 characters, control characters removed, "guest" when empty.
//
// # Fan-out
//
// A member's Handle publishes what it receives to its room's topic,
// "chat." followed by the room's name, with [lariat.Hub.Publish], which
// copies it once and queues it for every subscriber of the topic, on
// this node and, through the Broker, on the others; it never waits for a
// member. Each member then sends what is waiting for it from its own
// goroutine.
//
// A member must not get its own messages back, but the Hub delivers to
// every subscriber, the publisher included. So the room publishes each
// message behind the 8-byte id of the member that sent it ([Overhead]
// bytes, random, unique across nodes), and each member, a
// [lariat.TopicHandler], sends the message without the id, unless the
// id is its own. What reaches the others is what was sent, byte for
// byte. The cost: each member frames, and compresses if it negotiated
// compression, what it sends, as it would with Conn.Send, instead of
// sharing the Hub's compressed form of the message.
//
// A member whose backlog of messages waiting to be sent passes the
// Hub's BacklogBytes ([Backlog] is what this package suggests) is not
// keeping up: the Hub closes it with 1013 (try again later), or cuts its
// connection if it has stopped reading, rather than making anyone wait
// or letting memory grow.
package chatserver

import (
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
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

// Handler returns the chat's one route, "/": the page for a plain GET, a
// room for a WebSocket upgrade through up, whose New must be a Room's
// [Room.New]. The caller keeps up to shut it down ([lariat.Upgrader.Shutdown]).
// Upgrades are accepted from the page's own origin only, unless
// up.CheckOrigin says otherwise.
func Handler(up *lariat.Upgrader) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/{$}", up.Wrap(Page))
	return mux
}

// DefaultRoom is the room of a page opened without a room parameter.
const DefaultRoom = "lobby"

// Overhead is the number of bytes the room adds to each message it
// publishes: the sender's id, before the message. A Broker carries
// them too, so a node whose Broker limits the size of a message keeps
// Options.MaxMessageSize at that limit less Overhead (and less the
// Broker's own header).
const Overhead = 8

// Backlog is the BacklogBytes this package suggests for a chat's Hub,
// and that a Room's own Hub has: 16 MiB, so that a member may fall
// behind by several files of lariat's default MaxMessageSize (1 MiB)
// before it is closed as too slow. The Hub's default, 1 MiB, would close
// a member as soon as two such files came in a row. What it costs: a
// waiting message takes a 24-byte entry in each backlog and is itself
// shared by all its recipients, so a member that stops reading keeps
// at most 16 MiB of messages alive, until the Hub or Options.WriteTimeout
// closes it.
const Backlog = 16 << 20

// Room is the chat on one node: its members, in the rooms they joined,
// each room a topic of Hub. The zero value is ready to use and keeps
// the rooms in this process; a Room must not be copied after first use,
// nor its fields changed. Its methods are safe for concurrent use.
type Room struct {
	// Hub carries the rooms' messages. Nil means a Hub of the Room's own,
	// without a Broker, whose BacklogBytes is Backlog. A Hub with a
	// Broker joins the rooms of every node that shares it; closing it
	// is the caller's, after Upgrader.Shutdown so that the members'
	// leave notices still reach the other nodes.
	Hub *lariat.Hub

	// OnJoin, when set, is called once for each member that joins, on that
	// member's goroutine, before the others are told.
	OnJoin func(c *lariat.Conn)

	// OnLeave, when set, is called once for each member that leaves, with
	// the Reason its connection ended with, on that member's goroutine,
	// before the others are told.
	OnLeave func(c *lariat.Conn, r lariat.Reason)

	own     lariat.Hub // when Hub is nil
	ownOnce sync.Once

	mu      sync.Mutex
	members map[string]int // members on this node, by topic: guarded by mu
	total   int            // guarded by mu
}

func (rm *Room) hub() *lariat.Hub {
	if rm.Hub != nil {
		return rm.Hub
	}
	rm.ownOnce.Do(func() { rm.own.BacklogBytes = Backlog })
	return &rm.own
}

// New is the room's lariat.Upgrader.New function: every upgrade becomes a
// member, named by the request's name parameter, of the room its room
// parameter names. It joins the room in Init, once the connection exists.
func (rm *Room) New(r *http.Request, hs *lariat.Handshake) (lariat.Handler, error) {
	q := r.URL.Query()
	room := roomName(q.Get("room"))
	return &member{
		room:       rm,
		hub:        rm.hub(),
		id:         rand.Uint64(),
		name:       memberName(q.Get("name")),
		roomName:   room,
		topic:      topicPrefix + room,
		maxMessage: hs.Options.MaxMessageSize,
	}, nil
}

// Len returns the number of members on this node, in all rooms.
func (rm *Room) Len() int {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return rm.total
}

// join subscribes m to its room, counts it in and tells the room's
// other members, on every node; it returns the number of members of the
// room on this node. Subscription, count and notice go under one lock,
// and so does every leave's count and notice, so that every member of
// this node sees its room's changes in the order they happened, each
// counted after the one before: Publish never waits for a connection,
// and a Broker's Publish does not wait for the other nodes.
func (rm *Room) join(c *lariat.Conn, m *member) (int, error) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if err := m.hub.Subscribe(c, m.topic); err != nil {
		return 0, err
	}
	return rm.countLocked(m, "join", 1), nil
}

// leave counts m out of its room, which lariat unsubscribed it from
// before Terminate, and tells the others.
func (rm *Room) leave(m *member) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	rm.countLocked(m, "leave", -1)
}

// countLocked adds delta to the members of m's room on this node and
// publishes the notice system; rm.mu must be held.
func (rm *Room) countLocked(m *member, system string, delta int) int {
	if rm.members == nil {
		rm.members = make(map[string]int)
	}
	n := rm.members[m.topic] + delta
	if n == 0 {
		delete(rm.members, m.topic)
	} else {
		rm.members[m.topic] = n
	}
	rm.total += delta
	nt := notice{System: system, Name: m.name}
	if m.counted() {
		nt.Members = &n
	}
	// An error means the Hub is closed (the node is shutting down) or
	// the Broker could not take the notice: the members of this node
	// have it, the other nodes may not, and nothing here can do better.
	m.publish(lariat.OpText, nt.payload())
	return n
}

// topicPrefix starts the topic of every room, so that a Hub can carry
// other topics beside the chat's.
const topicPrefix = "chat."

// noticePrefix starts every message the room writes itself; see the
// package documentation.
const noticePrefix = 0x01

// notice is a message of the room's own.
type notice struct {
	System     string `json:"system"` // welcome, join or leave
	Room       string `json:"room,omitempty"`
	Name       string `json:"name,omitempty"`
	Members    *int   `json:"members,omitempty"` // nil when the Room cannot count
	MaxMessage int64  `json:"maxMessage,omitempty"`
	Transport  string `json:"transport,omitempty"` // welcome: "h2" or "http/1.1"
}

func (n notice) payload() []byte {
	js, err := json.Marshal(n)
	if err != nil {
		panic(err) // strings and integers always marshal
	}
	return append([]byte{noticePrefix}, js...)
}

// maxName bounds a member's name, and a room's, in characters.
const maxName = 40

// clean makes a name a page asked for fit to show to others: control
// characters removed, spaces trimmed, at most maxName characters, or def
// when nothing is left. (strings.Map turns invalid UTF-8 into U+FFFD.)
func clean(s, def string) string {
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
		return def
	}
	return s
}

func memberName(s string) string { return clean(s, "guest") }
func roomName(s string) string   { return clean(s, DefaultRoom) }

// wrap appends to dst the message p as the room publishes it: behind the
// id of the member that sent it.
func wrap(dst []byte, from uint64, p []byte) []byte {
	return append(binary.BigEndian.AppendUint64(dst, from), p...)
}

// unwrap splits a published message into its sender's id and the
// message as it was sent; ok is false for a message too short to come
// from a Room.
func unwrap(p []byte) (from uint64, msg []byte, ok bool) {
	if len(p) < Overhead {
		return 0, nil, false
	}
	return binary.BigEndian.Uint64(p), p[Overhead:], true
}

// maxScratch bounds the buffer a member keeps between the messages it
// publishes; a larger message gets a buffer of its own.
const maxScratch = 4 << 10

// member is the Handler of one connection. Its methods, and the Room's
// join and leave of it, run on the connection's goroutine.
type member struct {
	lariat.Base
	room       *Room
	hub        *lariat.Hub
	id         uint64 // random: what the member publishes carries it
	name       string
	roomName   string
	topic      string
	maxMessage int64
	joined     bool   // Init ran: the others were told, and will be told of the leave
	scratch    []byte // for wrap
}

var _ lariat.TopicHandler = (*member)(nil)

// counted reports whether the Room knows how many members its rooms
// have: when they are all on this node.
func (m *member) counted() bool { return m.hub.Broker == nil }

// publish sends p, sent by this member, to its room.
func (m *member) publish(op lariat.Opcode, p []byte) error {
	buf := wrap(m.scratch[:0], m.id, p)
	err := m.hub.Publish(m.topic, op, buf) // copies buf
	if cap(buf) <= maxScratch {
		m.scratch = buf[:0]
	}
	return err
}

func (m *member) Init(c *lariat.Conn) error {
	if m.room.OnJoin != nil {
		m.room.OnJoin(c)
	}
	// Every message published from now on reaches the newcomer, after
	// the welcome sent here.
	n, err := m.room.join(c, m)
	if err != nil {
		return err
	}
	m.joined = true
	w := notice{System: "welcome", Room: m.roomName, MaxMessage: m.maxMessage, Transport: c.Transport()}
	if m.counted() {
		w.Members = &n
	}
	return c.Send(lariat.Frame{Op: lariat.OpText, Payload: w.payload()})
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
	// Publish copies f.Payload, which is valid only until Handle
	// returns. An error is the Broker's, after this node's members had
	// the message, or the Hub's, closed during a shutdown: neither is
	// this member's fault, so it stays.
	m.publish(f.Op, f.Payload)
	return nil
}

// HandleTopic sends a message of the member's room to its peer, without
// the sender's id, unless the member sent it itself.
func (m *member) HandleTopic(c *lariat.Conn, _ string, pm *lariat.PreparedMessage) error {
	f := pm.Frame()
	from, msg, ok := unwrap(f.Payload)
	if !ok || from == m.id {
		return nil
	}
	err := c.Send(lariat.Frame{Op: f.Op, Payload: msg})
	if errors.Is(err, lariat.ErrClosed) {
		return nil // closing already: its own reason stands
	}
	return err
}

func (m *member) Terminate(c *lariat.Conn, r lariat.Reason) {
	if m.room.OnLeave != nil {
		m.room.OnLeave(c, r) // first, so that an empty room means all were told
	}
	if m.joined {
		m.room.leave(m)
	}
}
