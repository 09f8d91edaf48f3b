// Package nats spreads the topics of lariat Hubs across the nodes of a
// cluster through NATS (https://nats.io), core NATS only.
//
// Each node runs its own lariat.Hub with a Broker from New on its own
// NATS connection:
//
//	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
//	b, err := lnats.New(nc, lnats.Options{})
//	hub := &lariat.Hub{Broker: b}
//
// A node subscribes on NATS to the subject of a topic only while it has a
// subscriber for that topic. Publish delivers to the node's own
// subscribers at once and publishes on NATS, tagged with a random node
// id; the node drops its own messages when NATS brings them back, so each
// subscriber receives each message exactly once. All the subscriptions of
// one Broker feed one channel read by one goroutine, in the order NATS
// delivered them, so the messages of one publisher reach a connection in
// the order they were published, across topics too.
//
// # Outages
//
// Delivery between nodes is core NATS: at most once. While a node's
// connection is down its own subscribers keep receiving its own messages;
// nats.go buffers what it publishes (nats.ReconnectBufSize, 8 MiB by
// default; past it Publish returns an error and only the local
// subscribers get the message) and sends it after reconnecting, and
// re-sends its subscriptions by itself. Messages other nodes published
// while the node was disconnected, or before the server had its
// subscriptions again, are lost for its subscribers: never duplicated,
// never reordered. The README of this module has the details.
//
// The connection belongs to the caller, who chooses its reconnection
// policy (nats.MaxReconnects(-1) keeps reconnecting for ever) and closes
// it after the Hub.
package nats

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lariat-ws/lariat"
	natsgo "github.com/nats-io/nats.go"
)

// Options configure a Broker. Zero values are the defaults.
type Options struct {
	// Prefix is the first token or tokens of every subject the Broker
	// uses: a topic T travels on "Prefix.T" (see Subject). Zero means
	// "lariat". Nodes that share topics must share the Prefix.
	Prefix string

	// Pending bounds the messages received from NATS and not yet handed
	// to the Hub. Past it nats.go drops messages and reports
	// nats.ErrSlowConsumer to the connection's error handler. Handing a
	// message to the Hub never waits for a connection, so this fills
	// only when a node receives faster than it can queue. Zero means
	// 65536 (512 KiB of pointers).
	Pending int
}

// Broker is a lariat.Broker on a NATS connection. Its methods are safe
// for concurrent use; the Hub calls them.
type Broker struct {
	nc     *natsgo.Conn
	prefix string
	id     uint64
	ch     chan *natsgo.Msg

	mu      sync.RWMutex
	subs    map[string]*natsgo.Subscription // topic -> subscription
	topics  map[*natsgo.Subscription]string
	started bool
	closed  bool
	gone    atomic.Bool // closed, for Publish, which takes no lock
	deliver func(topic string, op lariat.Opcode, payload []byte)
	stop    chan struct{}
	done    chan struct{}
}

var _ lariat.Broker = (*Broker)(nil)

// ErrClosed is returned by a Broker's methods after Close. It matches
// nats.ErrConnectionClosed too, so code that checks for that keeps
// working.
var ErrClosed = fmt.Errorf("lariat/nats: broker closed: %w", natsgo.ErrConnectionClosed)

// New returns a Broker on nc, for one Hub. nc stays the caller's: the
// Broker never closes it.
func New(nc *natsgo.Conn, o Options) (*Broker, error) {
	if nc == nil {
		return nil, errors.New("lariat/nats: nil connection")
	}
	if o.Prefix == "" {
		o.Prefix = "lariat"
	}
	if !validPrefix(o.Prefix) {
		return nil, fmt.Errorf("lariat/nats: prefix %q is not a subject without wildcards", o.Prefix)
	}
	if o.Pending <= 0 {
		o.Pending = 1 << 16
	}
	return &Broker{
		nc:     nc,
		prefix: o.Prefix,
		id:     rand.Uint64(),
		ch:     make(chan *natsgo.Msg, o.Pending),
		subs:   make(map[string]*natsgo.Subscription),
		topics: make(map[*natsgo.Subscription]string),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}, nil
}

// Start starts the goroutine that hands messages from NATS to deliver.
// The Hub calls it once.
func (b *Broker) Start(deliver func(topic string, op lariat.Opcode, payload []byte)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return ErrClosed
	case b.started:
		return errors.New("lariat/nats: broker already started: one Broker per Hub")
	}
	b.started, b.deliver = true, deliver
	go b.run()
	return nil
}

// Subscribe subscribes to the subject of topic. It does not wait for the
// server: while the connection is down, nats.go subscribes once it is
// back.
func (b *Broker) Subscribe(topic string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.subs[topic] != nil {
		return nil
	}
	sub, err := b.nc.ChanSubscribe(Subject(b.prefix, topic), b.ch)
	if err != nil {
		return fmt.Errorf("lariat/nats: %w", err)
	}
	b.subs[topic], b.topics[sub] = sub, topic
	return nil
}

// Unsubscribe ends the subscription to the subject of topic.
func (b *Broker) Unsubscribe(topic string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	sub := b.subs[topic]
	if sub == nil {
		return nil
	}
	delete(b.subs, topic)
	delete(b.topics, sub)
	if err := sub.Unsubscribe(); err != nil && !errors.Is(err, natsgo.ErrConnectionClosed) {
		return fmt.Errorf("lariat/nats: %w", err)
	}
	return nil
}

// The header before each payload on the wire: a format version, the
// opcode, and the id of the node that published.
const (
	headerVersion = 1
	headerSize    = 2 + 8
)

var bufPool = sync.Pool{New: func() any { return new([]byte) }}

// Publish publishes a message on the subject of topic. It does not wait
// for the server; while the connection is down nats.go buffers it, and an
// error says the buffer is full.
func (b *Broker) Publish(topic string, op lariat.Opcode, payload []byte) error {
	if b.gone.Load() {
		return ErrClosed
	}
	bp := bufPool.Get().(*[]byte)
	buf := append((*bp)[:0], headerVersion, byte(op))
	buf = binary.BigEndian.AppendUint64(buf, b.id)
	buf = append(buf, payload...)
	err := b.nc.Publish(Subject(b.prefix, topic), buf) // copies buf
	if cap(buf) <= 64<<10 {
		*bp = buf
		bufPool.Put(bp)
	}
	if err != nil {
		return fmt.Errorf("lariat/nats: %w", err)
	}
	return nil
}

// run hands each message from NATS to the Hub, in arrival order, until
// Close; then it hands over what had arrived already.
func (b *Broker) run() {
	defer close(b.done)
	for {
		select {
		case m := <-b.ch:
			b.handle(m)
		case <-b.stop:
			for {
				select {
				case m := <-b.ch:
					b.handle(m)
				default:
					return
				}
			}
		}
	}
}

func (b *Broker) handle(m *natsgo.Msg) {
	d := m.Data
	if len(d) < headerSize || d[0] != headerVersion {
		return // not from a lariat Broker
	}
	op := lariat.Opcode(d[1])
	if op != lariat.OpText && op != lariat.OpBinary {
		return
	}
	if binary.BigEndian.Uint64(d[2:]) == b.id {
		return // this node's own message: its subscribers have it already
	}
	b.mu.RLock()
	topic, ok := b.topics[m.Sub]
	b.mu.RUnlock()
	if ok {
		b.deliver(topic, op, d[headerSize:])
	}
}

// Close stops the Broker: it waits until the server has answered a flush,
// so that every message the server sent before has been read, then
// unsubscribes from every subject, hands the messages read to the Hub
// and stops; or it gives up when ctx ends. The Hub calls it from its own
// Close. It does not close the connection.
func (b *Broker) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.gone.Store(true)
	started := b.started
	b.mu.Unlock()
	var err error
	if started && b.nc.IsConnected() {
		// Unsubscribing first would make nats.go drop what is still on
		// its way.
		fctx := ctx
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			fctx, cancel = context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
		}
		if ferr := b.nc.FlushWithContext(fctx); ferr != nil {
			err = fmt.Errorf("lariat/nats: flushing on close: %w", ferr)
		}
	}
	b.mu.Lock()
	subs := make([]*natsgo.Subscription, 0, len(b.subs))
	for _, s := range b.subs {
		subs = append(subs, s)
	}
	clear(b.subs)
	b.mu.Unlock()
	for _, s := range subs {
		s.Unsubscribe()
	}
	if !started {
		return err
	}
	close(b.stop)
	select {
	case <-b.done:
		return err
	case <-ctx.Done():
		return errors.Join(err, ctx.Err())
	}
}

// Subject returns the NATS subject on which the topic travels with this
// prefix: "prefix." followed by the topic, where every byte other than
// ASCII letters, digits, '-' and '_' is written %XX (upper-case hex),
// except a '.' between two non-empty tokens; the empty topic is "%". So
// every topic has its own subject, of one token or more, never a
// wildcard, and a topic like "chat.room1" stays readable.
func Subject(prefix, topic string) string {
	if topic == "" {
		return prefix + ".%"
	}
	var b strings.Builder
	b.Grow(len(prefix) + 1 + len(topic))
	b.WriteString(prefix)
	b.WriteByte('.')
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		case c == '.' && i > 0 && i < len(topic)-1 && topic[i-1] != '.' && topic[i+1] != '.':
			b.WriteByte(c)
		default:
			const hex = "0123456789ABCDEF"
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// validPrefix reports whether p is a subject of non-empty tokens without
// wildcards or white space.
func validPrefix(p string) bool {
	for tok := range strings.SplitSeq(p, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n\x00") {
			return false
		}
	}
	return true
}
