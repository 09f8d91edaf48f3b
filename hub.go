package lariat

// Topics: connections subscribe to named topics, any goroutine publishes
// to them, and each connection receives through a bounded backlog that a
// slow peer cannot grow.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Hub delivers the messages published to a topic to every connection
// subscribed to it: on this node, and, with a Broker, on every node that
// shares the Broker. The zero Hub is ready to use and works within one
// process; set Broker before first use to spread topics across nodes.
//
// Hub is safe for concurrent use: Publish, Stats and Close may be called
// from any goroutine. Subscribe and Unsubscribe act on a connection and
// belong, like the Conn's own methods, inside its Handler's callbacks.
// Do not change a Hub's fields after first use.
//
// # Delivery
//
// Publish copies the payload once into a [PreparedMessage] and queues a
// pointer to it on each subscriber's backlog; it never waits for a
// connection. Each connection then writes what is waiting for it from its
// own goroutine, all of it at once, in one write, compressed as
// PreparedMessage describes. By default a published message reaches the
// peer without any callback; a Handler that implements [TopicHandler]
// sees each one first and decides what to send.
//
// Every subscriber on this node receives the messages of one topic in the
// same order, and the messages of one publisher (one goroutine calling
// Publish, or one node's Broker) in the order they were published, across
// topics too. A subscription takes effect when Subscribe returns;
// messages already waiting in a backlog are still delivered after
// Unsubscribe.
//
// A connection that a delivery woke waits for the next one parked, as a
// hibernating connection does (see Conn.Hibernate): on Linux over a
// plain socket it then holds no goroutine, and the next delivery wakes
// it without allocating. Once its peer sends something it waits on its
// goroutine again, which suits a connection that talks as much as it
// listens, until the next delivery. Elsewhere, TLS among them, a
// delivery wakes the connection's goroutine by moving its read deadline,
// which costs the runtime's error value for the interrupted read: one
// allocation per wake-up, not per message, since one wake-up writes all
// that is waiting.
//
// # Backlogs
//
// Each connection's backlog is bounded by BacklogBytes: a waiting message
// counts its payload size plus 32 bytes, until it has been written to the
// socket. A message that does not fit is never queued. By default the
// connection is then closed with 1013 (try again later: RFC 6455 §7.4.1
// has it for a server "casting off some of its clients"): the messages
// queued before are written first, then the close frame; a connection
// that is writing its backlog when it overflows, which is where a peer
// that has stopped reading keeps it blocked, is cut at once, since no
// close frame could get through. Its Terminate gets a Reason of
// kind ReasonBacklogFull. With DropWhenFull the
// message is dropped for that connection instead, which suits feeds where
// the next message supersedes the last; the connection then ends only if
// its write stays blocked for Options.WriteTimeout.
//
// The memory a backlog holds is a 32-byte entry per waiting message; the
// messages themselves are shared by all their recipients, so a stuck
// connection keeps alive at most BacklogBytes of messages that others may
// have long received.
//
// # Brokers
//
// With a Broker, Publish delivers to this node's subscribers at once and
// hands the message to the Broker, which carries it to the other nodes
// and must not bring it back to this one: each subscriber receives every
// message exactly once, and this node's subscribers keep receiving this
// node's messages while the Broker is unreachable. The Broker subscribes
// only to topics that have a subscriber on this node. See the Broker
// interface, and the NATS adapter in github.com/lariat-ws/lariat/nats.
type Hub struct {
	// Broker carries messages between nodes; nil keeps them in this
	// process. The Hub starts it on first use and closes it in Close.
	Broker Broker

	// BacklogBytes bounds the messages waiting for one connection. Zero
	// means 1 MiB.
	BacklogBytes int

	// DropWhenFull drops a message that does not fit in a connection's
	// backlog, for that connection only, instead of closing the
	// connection with 1013.
	DropWhenFull bool

	once     sync.Once
	startErr error

	// mu orders the changes of membership, and with them the Broker's
	// interest in each topic. Lock order: mu, tmu, topic.mu,
	// subscriber.mu.
	mu      sync.Mutex
	closed  bool // under mu
	closing atomic.Bool

	// topics maps names to the topics with a subscriber on this node:
	// written under mu and tmu, read under either.
	tmu    sync.RWMutex
	topics map[string]*hubTopic

	nTopics, nSubs                 atomic.Int64
	published, received, delivered atomic.Uint64
	dropped, skipped, evicted      atomic.Uint64
	busy                           atomic.Int64 // subscribers with messages waiting or being written
}

const defaultBacklogBytes = 1 << 20

// HubStats are a Hub's counters, for export to monitoring. Each message
// published to a topic with n subscribers on a node adds n to the sum of
// that node's Delivered, Dropped and Skipped, once it has been written or
// given up. HubStats is a plain value, a snapshot taken by Hub.Stats.
type HubStats struct {
	Topics        int    // topics with a subscriber on this node
	Subscriptions int    // pairs of a connection and a topic it subscribed to
	Published     uint64 // messages published on this node
	Received      uint64 // messages from other nodes, through the Broker
	Delivered     uint64 // messages written to a connection, or handed to its TopicHandler
	Dropped       uint64 // messages a subscriber did not get: backlog full, or the connection ended first
	Skipped       uint64 // messages a connection's protocol cannot carry: binary, or text holding 0xFF, to hixie
	Evicted       uint64 // connections closed because their backlog was full
}

// TopicHandler is an optional interface for a Handler. When a
// connection's Handler implements it, each message published to a topic
// the connection subscribed to is handed to HandleTopic, on the
// connection's goroutine, instead of being sent to the peer: HandleTopic
// may send it with c.SendPrepared(m), send something else in its place,
// or nothing. Its result is treated as that of the other callbacks (Stop
// closes with 1000, another error with 1011), and so is a panic. What it
// sends for the messages waiting at one time is flushed once, and leaves
// in one write when it takes no more room than those messages.
type TopicHandler interface {
	HandleTopic(c *Conn, topic string, m *PreparedMessage) error
}

var (
	errHubClosed = fmt.Errorf("lariat: hub closed: %w", net.ErrClosed)
	errOtherHub  = errors.New("lariat: connection already subscribed through another Hub")
	errPublishOp = errors.New("lariat: Publish takes text or binary")
)

// hubTopic is one topic with subscribers on this node.
type hubTopic struct {
	name string
	mu   sync.Mutex
	subs []*subscriber
}

// subscriber is a connection's side of the Hub: its memberships and its
// backlog. The Conn holds it in its topics field.
type subscriber struct {
	c     *Conn
	h     *Hub
	th    TopicHandler // nil unless the Handler opted in
	limit int
	drop  bool

	// member maps each topic the connection subscribed to to its index
	// in that topic's subs: under h.mu.
	member map[string]int

	mu       sync.Mutex
	queue    *[]delivery // nil when nothing waits: see deliveryPool
	bytes    int         // backlog cost of the queue and of the batch being written
	busy     bool        // messages are waiting or being written
	writing  bool        // the connection is writing a batch
	overflow bool        // a message did not fit: close once the backlog is written
	gone     bool        // the connection ended
}

// delivery is one message waiting in a backlog. Once drain has sent it,
// pm and topic are cleared and end is where its last byte lies in the
// connection's output (Conn.wrote plus what is buffered), so that a
// write that fails part way counts the messages that left whole.
type delivery struct {
	pm    *PreparedMessage
	topic string
	end   int64
}

func (h *Hub) start() error {
	h.once.Do(func() {
		h.topics = make(map[string]*hubTopic)
		if h.Broker != nil {
			h.startErr = h.Broker.Start(h.deliverRemote)
		}
	})
	return h.startErr
}

// Subscribe subscribes c to topic. It is for use inside c's Handler
// callbacks, and does nothing if c is subscribed already. The
// subscription ends with Unsubscribe or, by itself, when the connection
// ends. A connection subscribes through one Hub only. With a Broker, the
// first subscriber of a topic on this node subscribes the Broker, and an
// error from it is returned.
func (h *Hub) Subscribe(c *Conn, topic string) error {
	if err := h.start(); err != nil {
		return err
	}
	s := c.topics
	if s == nil {
		c.mu.Lock()
		dead := c.dead
		c.mu.Unlock()
		if dead {
			return ErrClosed
		}
		s = h.newSubscriber(c)
	} else if s.h != h {
		return errOtherHub
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return errHubClosed
	case s.gone:
		return ErrClosed
	}
	if _, ok := s.member[topic]; ok {
		return nil
	}
	t := h.topics[topic]
	if t == nil {
		if h.Broker != nil {
			if err := h.Broker.Subscribe(topic); err != nil {
				return fmt.Errorf("lariat: broker: subscribing to %q: %w", topic, err)
			}
		}
		t = &hubTopic{name: topic}
		h.tmu.Lock()
		h.topics[topic] = t
		h.tmu.Unlock()
		h.nTopics.Add(1)
	}
	t.mu.Lock()
	s.member[topic] = len(t.subs)
	t.subs = append(t.subs, s)
	t.mu.Unlock()
	c.topics = s
	h.nSubs.Add(1)
	return nil
}

func (h *Hub) newSubscriber(c *Conn) *subscriber {
	s := &subscriber{c: c, h: h, limit: h.BacklogBytes, drop: h.DropWhenFull, member: make(map[string]int)}
	if s.limit <= 0 {
		s.limit = defaultBacklogBytes
	}
	s.th, _ = c.h.(TopicHandler)
	return s
}

// Unsubscribe ends c's subscription to topic; messages of the topic
// already waiting for c are still delivered. It is for use inside c's
// Handler callbacks, and does nothing if c is not subscribed.
func (h *Hub) Unsubscribe(c *Conn, topic string) {
	s := c.topics
	if s == nil || s.h != h {
		return
	}
	h.mu.Lock()
	h.removeLocked(s, topic)
	h.mu.Unlock()
}

// removeLocked takes s out of a topic, and the topic out of the Hub and
// its Broker when s was its last subscriber. h.mu must be held.
func (h *Hub) removeLocked(s *subscriber, name string) {
	i, ok := s.member[name]
	if !ok {
		return
	}
	delete(s.member, name)
	t := h.topics[name]
	t.mu.Lock()
	last := len(t.subs) - 1
	if i != last {
		moved := t.subs[last]
		t.subs[i] = moved
		moved.member[name] = i
	}
	t.subs[last] = nil
	t.subs = t.subs[:last]
	t.mu.Unlock()
	h.nSubs.Add(-1)
	if last > 0 {
		return
	}
	h.tmu.Lock()
	delete(h.topics, name)
	h.tmu.Unlock()
	h.nTopics.Add(-1)
	if h.Broker != nil && !h.closed {
		// Nothing to do about a failure: at worst the node receives
		// messages that it then finds no subscriber for.
		h.Broker.Unsubscribe(name)
	}
}

// leave ends every subscription of a connection that has ended, and drops
// what was waiting for it. s may be nil: the connection never subscribed.
func (s *subscriber) leave() {
	if s == nil {
		return
	}
	h := s.h
	h.mu.Lock()
	for name := range s.member {
		h.removeLocked(s, name)
	}
	s.mu.Lock()
	s.gone = true
	n := 0
	if s.queue != nil {
		n = len(*s.queue)
		putDeliveries(s.queue)
		s.queue = nil
	}
	wasBusy := s.busy
	s.busy = false
	s.mu.Unlock()
	h.mu.Unlock()
	if n > 0 {
		h.dropped.Add(uint64(n))
	}
	if wasBusy {
		h.busy.Add(-1)
	}
}

// Publish sends a text or binary message to every subscriber of topic:
// on this node at once, and to the other nodes through the Broker. It is
// safe for concurrent use, copies payload, and never blocks on a
// connection. Publishing to a topic without subscribers is not an error.
//
// A Broker's error is returned wrapped, after this node's subscribers have
// had the message: the other nodes may not get it. Publish fails with an
// error that matches net.ErrClosed once Close has begun.
func (h *Hub) Publish(topic string, op Opcode, payload []byte) error {
	if op != OpText && op != OpBinary {
		return errPublishOp
	}
	if err := h.start(); err != nil {
		return err
	}
	if h.closing.Load() {
		return errHubClosed
	}
	h.published.Add(1)
	h.deliver(topic, op, payload)
	if h.Broker != nil {
		if err := h.Broker.Publish(topic, op, payload); err != nil {
			return fmt.Errorf("lariat: broker: published on this node only: %w", err)
		}
	}
	return nil
}

// deliverRemote is what the Broker calls with messages from other nodes.
func (h *Hub) deliverRemote(topic string, op Opcode, payload []byte) {
	if op != OpText && op != OpBinary {
		return
	}
	h.received.Add(1)
	h.deliver(topic, op, payload)
}

// deliver queues a message for every subscriber of topic on this node.
// The topic's lock is held throughout, so all of them see the topic's
// messages in one order; queueing never blocks.
func (h *Hub) deliver(name string, op Opcode, payload []byte) {
	h.tmu.RLock()
	t := h.topics[name]
	h.tmu.RUnlock()
	if t == nil {
		return
	}
	pm := newPrepared(op, payload)
	cost := pm.backlogCost()
	dropped := 0
	t.mu.Lock()
	for _, s := range t.subs {
		if !s.enqueue(pm, t.name, cost) {
			dropped++
		}
	}
	t.mu.Unlock()
	if dropped > 0 {
		h.dropped.Add(uint64(dropped))
	}
}

// enqueue adds a message to the backlog and wakes the connection when the
// backlog was idle. It reports whether the message was queued.
func (s *subscriber) enqueue(pm *PreparedMessage, topic string, cost int) bool {
	s.mu.Lock()
	if s.gone || s.overflow {
		cut := s.overflow && s.writing
		s.mu.Unlock()
		if cut {
			s.cut()
		}
		return false
	}
	// One message larger than the whole backlog may still go to an idle
	// connection, or it could never be sent at all.
	if s.busy && s.bytes+cost > s.limit {
		if s.drop {
			s.mu.Unlock()
			return false
		}
		s.overflow = true
		cut := s.writing
		s.mu.Unlock()
		s.h.evicted.Add(1)
		if cut {
			s.cut()
		} else {
			s.wake()
		}
		return false
	}
	if s.queue == nil {
		s.queue = deliveryPool.Get().(*[]delivery)
	}
	*s.queue = append(*s.queue, delivery{pm: pm, topic: topic})
	s.bytes += cost
	first := !s.busy
	s.busy = true
	s.mu.Unlock()
	if first {
		s.h.busy.Add(1)
		s.wake()
	}
	return true
}

// wake makes the connection's goroutine drain the backlog, as Post makes
// it read the mailbox: deliverMail drains it after the posted messages.
func (s *subscriber) wake() {
	s.c.hasMail.Store(true)
	s.c.kick()
}

// cut ends a connection that is blocked writing to a peer that does not
// read, by making the write fail now: no close frame can get through.
func (s *subscriber) cut() { s.c.nc.SetWriteDeadline(aLongTimeAgo) }

// drain writes every message waiting in the backlog, then flushes once,
// on the connection's goroutine; deliverMail calls it. s may be nil: the
// connection never subscribed.
func (s *subscriber) drain() (err error) {
	if s == nil {
		return nil
	}
	c := s.c
	s.mu.Lock()
	if s.queue == nil && !s.overflow {
		s.mu.Unlock()
		return nil
	}
	var batch []delivery
	bp := s.queue
	if bp != nil {
		batch = *bp
	}
	s.queue = nil
	cost := s.bytes
	s.writing = len(batch) > 0
	s.mu.Unlock()

	var sent, skipped int
	defer func() { err = s.finish(bp, sent, skipped, cost, err) }()

	// Woken for the Hub: until its peer sends something, the connection
	// waits parked (see park.go), where the next delivery wakes it
	// without moving a read deadline.
	c.listener = true

	if len(batch) > 0 && c.werr == nil && !c.closeSent {
		// Room for the whole batch, so that it leaves in one write.
		c.reserveWrite(min(cost, s.limit))
	}
loop:
	for i := 0; i < len(batch) && err == nil; i++ {
		d := batch[i]
		batch[i] = delivery{}
		if s.th != nil {
			sent++
			c.curTopic = d.topic
			err = c.invoke(callTopic, Frame{}, d.pm)
			c.curTopic = ""
			batch[i].end = c.outputEnd()
			continue
		}
		serr := c.SendPrepared(d.pm)
		switch {
		case serr == nil:
			sent++
			batch[i].end = c.outputEnd()
		case serr == errNotSupported, serr == errUnframeable:
			skipped++
		case c.werr != nil:
			err = c.werr
		case errors.Is(serr, ErrClosed):
			break loop // closing: nothing more can be sent
		default:
			err = fail(ReasonHandlerError, "internal error", serr)
		}
	}
	if err == nil {
		err = c.flush()
	}
	return err
}

// finish accounts for a batch once drain is done with it, gives its
// memory back to the pool, and turns an overflow into the Reason the
// connection ends with once the messages queued before it are written.
func (s *subscriber) finish(bp *[]delivery, sent, skipped, cost int, err error) error {
	c, h := s.c, s.h
	var batch []delivery
	if bp != nil {
		batch = *bp
		defer putDeliveries(bp)
	}
	failed := c.werr != nil
	if failed {
		// Only the messages whose last byte the transport took reached
		// the peer; the write that failed may have taken part of the
		// batch.
		sent = 0
		for _, d := range batch {
			if d.end > 0 && d.end <= c.wrote {
				sent++
			}
		}
	}
	// Counted before the backlog can be seen idle, so that a Close that
	// waited for it sees them.
	if sent > 0 {
		h.delivered.Add(uint64(sent))
	}
	if dropped := len(batch) - sent - skipped; dropped > 0 {
		h.dropped.Add(uint64(dropped))
	}
	if skipped > 0 {
		h.skipped.Add(uint64(skipped))
	}
	s.mu.Lock()
	s.bytes -= cost
	s.writing = false
	overflow := s.overflow
	idle := s.queue == nil
	if idle && s.busy {
		s.busy = false
		h.busy.Add(-1)
	}
	s.mu.Unlock()
	if !idle {
		c.hasMail.Store(true) // more arrived meanwhile: drain again
	}
	switch {
	case overflow && failed:
		return fail(ReasonBacklogFull, "backlog full", c.werr) // cut: no close frame
	case err != nil:
		return err
	case overflow && idle:
		return fail(ReasonBacklogFull, "backlog full", nil)
	}
	return nil
}

// deliveryPool holds the slices that backlogs queue their messages in:
// a connection takes one when a message comes to it and gives it back
// once it has written what was waiting, so an idle subscriber holds none,
// and a busy one allocates none once the pool is warm.
var deliveryPool = sync.Pool{New: func() any {
	q := make([]delivery, 0, 16)
	return &q
}}

// maxPooledDeliveries bounds the slices kept in deliveryPool: 256
// entries of 32 bytes. A longer one, after a burst, is left to the GC.
const maxPooledDeliveries = 256

// putDeliveries gives a queue back to deliveryPool, emptied so that it
// keeps no message alive.
func putDeliveries(q *[]delivery) {
	clear(*q)
	if cap(*q) <= maxPooledDeliveries {
		*q = (*q)[:0]
		deliveryPool.Put(q)
	}
}

// reserveWrite makes room for n more bytes in the write buffer, with a
// larger pooled buffer if need be; flush gives it back to its pool, as it
// does every write buffer, once what it holds is written.
func (c *Conn) reserveWrite(n int) {
	if c.wbp != nil && cap(*c.wbp)-len(*c.wbp) >= n || n <= c.opts.WriteBufferSize && c.wbp == nil {
		return
	}
	var buffered []byte
	if c.wbp != nil {
		buffered = *c.wbp
	}
	nb := getBuf(max(len(buffered)+n, c.opts.WriteBufferSize))
	*nb = append(*nb, buffered...)
	putBuf(c.wbp)
	c.wbp = nb
}

// Stats returns the Hub's counters. It is safe for concurrent use and
// takes no lock.
func (h *Hub) Stats() HubStats {
	return HubStats{
		Topics:        int(h.nTopics.Load()),
		Subscriptions: int(h.nSubs.Load()),
		Published:     h.published.Load(),
		Received:      h.received.Load(),
		Delivered:     h.delivered.Load(),
		Dropped:       h.dropped.Load(),
		Skipped:       h.skipped.Load(),
		Evicted:       h.evicted.Load(),
	}
}

// Close shuts the Hub down: Publish and Subscribe fail from then on, the
// Broker is closed (delivering what it had already received), and Close
// waits until every message waiting in a backlog has been written, or
// ctx ends. It does not close connections; call it before
// Upgrader.Shutdown, whose close frames would otherwise overtake the
// messages still waiting. It returns the Broker's error, or ctx's.
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.closing.Store(true)
	h.mu.Unlock()
	var err error
	if h.Broker != nil {
		err = h.Broker.Close(ctx)
	}
	if h.busy.Load() == 0 {
		return err
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for h.busy.Load() > 0 {
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-tick.C:
		}
	}
	return err
}
