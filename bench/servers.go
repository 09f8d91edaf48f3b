package bench

import (
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"sync"
	"time"

	coderws "github.com/coder/websocket"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	gorillaws "github.com/gorilla/websocket"
	"github.com/lariat-ws/lariat"
	"github.com/lxzan/gws"
)

// Compression is how a server compresses.
type Compression int

const (
	// Plain servers do not negotiate permessage-deflate.
	Plain Compression = iota
	// Takeover servers compress and keep their compression context from
	// one message to the next, and let the client keep its own (the RFC
	// 7692 default).
	Takeover
	// NoTakeover servers compress each message on its own and ask the
	// client to do the same (server_no_context_takeover and
	// client_no_context_takeover): less memory, larger output.
	NoTakeover
)

func (c Compression) String() string {
	switch c {
	case Takeover:
		return "takeover"
	case NoTakeover:
		return "notakeover"
	}
	return "plain"
}

// Config says what a benchmark server does.
type Config struct {
	Compression Compression

	// ReadOnly servers read messages and drop them; the others echo every
	// data message back as it came.
	ReadOnly bool

	// OnMessage, when set, is called once per data message received,
	// after the echo was sent, on the connection's goroutine.
	OnMessage func()

	// PoolBuffers makes the servers that read messages into a buffer of
	// their own (gorilla, coder, gobwas) take it from a shared pool for
	// each message and return it after the echo, instead of keeping one
	// per connection: less memory while idle, a little more CPU per
	// message. BenchmarkIdle sets it, so that its numbers are each
	// library's own and not this harness's.
	PoolBuffers bool
}

// ErrUnsupported is returned by Library.Handler for a configuration the
// library cannot serve, such as context takeover in gorilla.
var ErrUnsupported = errors.New("not supported by this library")

// Library is a WebSocket server library under comparison.
type Library struct {
	Name string
	// Handler returns an http.Handler that upgrades a request and serves
	// the connection. The peers serve it on the handler's goroutine until
	// it ends, as their documentation shows; lariat's Upgrader returns
	// once the connection is upgraded and serves it on a goroutine of its
	// own, so that net/http frees what it held for the request. Either
	// way each connection costs one goroutine.
	Handler func(cfg Config) (http.Handler, error)
}

// Libraries lists lariat first and then its peers. Each server is written
// as a careful user of that library would write it: its documented public
// API, default options, and no avoidable allocation in the loop (whole
// messages are read into a reused buffer where the API is a reader).
var Libraries = []Library{
	{"lariat", lariatHandler},
	{"gorilla", gorillaHandler},
	{"coder", coderHandler},
	{"gobwas", gobwasHandler},
	{"gws", gwsHandler},
}

// LibraryByName returns the library with that name.
func LibraryByName(name string) (Library, bool) {
	for _, l := range Libraries {
		if l.Name == name {
			return l, true
		}
	}
	return Library{}, false
}

func (cfg Config) onMessage() {
	if cfg.OnMessage != nil {
		cfg.OnMessage()
	}
}

// msgBuf is the buffer a server reads each message into: one per
// connection, or one from msgPool per message with Config.PoolBuffers.
type msgBuf struct {
	pooled bool
	b      *[]byte
}

var msgPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (cfg Config) newMsgBuf() *msgBuf {
	if cfg.PoolBuffers {
		return &msgBuf{pooled: true}
	}
	return &msgBuf{b: new([]byte)}
}

// read reads a whole message from r.
func (m *msgBuf) read(r io.Reader) ([]byte, error) {
	if m.pooled {
		m.b = msgPool.Get().(*[]byte)
	}
	return readAll(r, m.b)
}

// done is called when the message has been handled.
func (m *msgBuf) done() {
	if m.pooled {
		msgPool.Put(m.b)
		m.b = nil
	}
}

// readAll reads r to its end into *buf, reusing its memory, and returns
// the bytes read. Unlike io.ReadAll it allocates only to grow the buffer,
// which stops once the largest message has been seen.
func readAll(r io.Reader, buf *[]byte) ([]byte, error) {
	b := (*buf)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			*buf = b
			return b, nil
		}
		if err != nil {
			*buf = b
			return b, err
		}
	}
}

// ---- lariat ----

// LariatVariant is a lariat server configuration measured beside plain
// lariat where the cost of an idle connection is compared (BenchmarkIdle):
// what it changes in the Upgrader, and what its Handle does after each
// message. Each variant is served as the library "lariat+<Name>".
type LariatVariant struct {
	Name string
	// Upgrader, when set, changes the Upgrader before its first use.
	Upgrader func(*lariat.Upgrader)
	// AfterMessage, when set, is called at the end of every Handle.
	AfterMessage func(*lariat.Conn)
}

// LariatVariants lists the variants, one line each. A variant whose
// connections give up their goroutine while idle shows it in the idle
// table's goroutines per connection. Plain lariat (the library "lariat")
// sets Options.HibernateAfter to -1, so that it measures a connection
// that stays awake; by default an idle connection hibernates by itself
// after 10 s. "hibernated" calls Conn.Hibernate after every message;
// "parked" calls nothing and lets Options.HibernateAfter, shortened to
// 100 ms (idleParkWait waits for it), hibernate the idle connection. On
// Linux over TCP a hibernated connection is parked either way: it holds
// no goroutine and no buffers.
var LariatVariants = []LariatVariant{
	{Name: "hibernated", AfterMessage: (*lariat.Conn).Hibernate},
	{Name: "parked", Upgrader: func(up *lariat.Upgrader) {
		setLariatDuration(&up.Options, "HibernateAfter", parkedHibernateAfter)
	}},
}

// parkedHibernateAfter is Options.HibernateAfter in the "parked" variant.
// A connection hibernates between one and two of these after it last
// received anything.
const parkedHibernateAfter = 100 * time.Millisecond

// setLariatDuration sets the time.Duration field name of o, when o has
// one: by name, so that this module builds against lariat trees from
// before the field existed (cmd/report -lariat).
func setLariatDuration(o *lariat.Options, name string, d time.Duration) {
	f := reflect.ValueOf(o).Elem().FieldByName(name)
	if f.IsValid() && f.Type() == reflect.TypeOf(d) {
		f.Set(reflect.ValueOf(d))
	}
}

// VariantLibraries returns one Library per entry of LariatVariants.
func VariantLibraries() []Library {
	var libs []Library
	for _, v := range LariatVariants {
		libs = append(libs, Library{"lariat+" + v.Name, func(cfg Config) (http.Handler, error) {
			return newLariatHandler(cfg, v)
		}})
	}
	return libs
}

type lariatEcho struct {
	lariat.Base
	cfg   Config
	after func(*lariat.Conn)
}

func (h *lariatEcho) Handle(c *lariat.Conn, f lariat.Frame) error {
	// Since the v1 API Handle sees data messages only. lariat trees from
	// before it (measured with cmd/report -lariat) passed pings and
	// pongs too, which must not be echoed; the test costs a compare.
	if f.Op&0x8 != 0 { // a control opcode, in trees of either API
		return nil
	}
	if !h.cfg.ReadOnly {
		if err := c.Send(f); err != nil {
			return err
		}
	}
	if h.after != nil {
		h.after(c)
	}
	h.cfg.onMessage()
	return nil
}

func lariatHandler(cfg Config) (http.Handler, error) {
	return newLariatHandler(cfg, LariatVariant{})
}

func newLariatHandler(cfg Config, v LariatVariant) (http.Handler, error) {
	up := &lariat.Upgrader{
		New: func(*http.Request, *lariat.Handshake) (lariat.Handler, error) {
			return &lariatEcho{cfg: cfg, after: v.AfterMessage}, nil
		},
	}
	// Idle connections stay awake unless a variant says otherwise.
	setLariatDuration(&up.Options, "HibernateAfter", -1)
	if cfg.Compression != Plain && !setLariatCompression(&up.Options, cfg.Compression) {
		return nil, errLariatNoCompression
	}
	if v.Upgrader != nil {
		v.Upgrader(up)
	}
	return up, nil
}

var errLariatNoCompression = errors.New("lariat.Options has neither Compression nor Compress")

// setLariatCompression turns on lariat's permessage-deflate with its
// default parameters, and with NoTakeover asks for no context takeover
// both ways, as the peers' no-takeover modes do: the client is asked to
// reset its compressor too, so the server keeps no window to inflate
// with. The fields are set by name so that this module builds against
// both of lariat's option APIs, and cmd/report -lariat can measure a tree
// from before the v1 API: since v1, Options.Compression is a
// *CompressionOptions (nil is off); before, Options.Compress was a bool
// and Options.Deflate a DeflateOptions with the same fields.
func setLariatCompression(o *lariat.Options, c Compression) bool {
	v := reflect.ValueOf(o).Elem()
	var params reflect.Value
	if f := v.FieldByName("Compression"); f.IsValid() && f.Kind() == reflect.Pointer && f.Type().Elem().Kind() == reflect.Struct {
		f.Set(reflect.New(f.Type().Elem()))
		params = f.Elem()
	} else if on := v.FieldByName("Compress"); on.IsValid() && on.Kind() == reflect.Bool {
		on.SetBool(true)
		params = v.FieldByName("Deflate")
	}
	if !params.IsValid() || params.Kind() != reflect.Struct {
		return false
	}
	if c == NoTakeover {
		for _, name := range []string{"ServerNoContextTakeover", "ClientNoContextTakeover"} {
			f := params.FieldByName(name)
			if !f.IsValid() || f.Kind() != reflect.Bool {
				return false
			}
			f.SetBool(true)
		}
	}
	return true
}

// ---- gorilla/websocket ----

func gorillaHandler(cfg Config) (http.Handler, error) {
	if cfg.Compression == Takeover {
		// gorilla implements permessage-deflate without context takeover
		// only.
		return nil, ErrUnsupported
	}
	up := &gorillaws.Upgrader{
		CheckOrigin:       func(*http.Request) bool { return true },
		EnableCompression: cfg.Compression != Plain,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		buf := cfg.newMsgBuf()
		for {
			typ, rd, err := c.NextReader()
			if err != nil {
				return
			}
			p, err := buf.read(rd)
			if err != nil {
				return
			}
			if !cfg.ReadOnly {
				if err := c.WriteMessage(typ, p); err != nil {
					return
				}
			}
			buf.done()
			cfg.onMessage()
		}
	}), nil
}

// ---- coder/websocket ----

func coderHandler(cfg Config) (http.Handler, error) {
	opts := &coderws.AcceptOptions{InsecureSkipVerify: true}
	switch cfg.Compression {
	case Takeover:
		opts.CompressionMode = coderws.CompressionContextTakeover
	case NoTakeover:
		opts.CompressionMode = coderws.CompressionNoContextTakeover
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := coderws.Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		// A context that is never done: coder then arms no timer per
		// read or write, which is its fastest path.
		ctx := context.Background()
		buf := cfg.newMsgBuf()
		for {
			typ, rd, err := c.Reader(ctx)
			if err != nil {
				return
			}
			p, err := buf.read(rd)
			if err != nil {
				return
			}
			if !cfg.ReadOnly {
				if err := c.Write(ctx, typ, p); err != nil {
					return
				}
			}
			buf.done()
			cfg.onMessage()
		}
	}), nil
}

// ---- gobwas/ws ----

func gobwasHandler(cfg Config) (http.Handler, error) {
	if cfg.Compression != Plain {
		// gobwas has permessage-deflate in wsflate, but it is left out of
		// the compression comparison, as it was asked to be.
		return nil, ErrUnsupported
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, brw, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		defer nc.Close()
		// wsutil.Reader is gobwas's public message reader; its
		// OnIntermediate handler answers pings and closes. Replies go
		// through the hijacked bufio.Writer so that header and a small
		// payload leave in one write.
		state := ws.StateServerSide
		control := wsutil.ControlFrameHandler(brw.Writer, state)
		rd := &wsutil.Reader{Source: brw.Reader, State: state, OnIntermediate: control}
		buf := cfg.newMsgBuf()
		for {
			h, err := rd.NextFrame()
			if err != nil {
				return
			}
			if h.OpCode.IsControl() {
				if err := control(h, rd); err != nil {
					brw.Writer.Flush()
					return
				}
				brw.Writer.Flush()
				continue
			}
			p, err := buf.read(rd)
			if err != nil {
				return
			}
			if !cfg.ReadOnly {
				if err := ws.WriteFrame(brw.Writer, ws.NewFrame(h.OpCode, true, p)); err != nil {
					return
				}
				if err := brw.Writer.Flush(); err != nil {
					return
				}
			}
			buf.done()
			cfg.onMessage()
		}
	}), nil
}

// ---- lxzan/gws ----

type gwsEcho struct {
	gws.BuiltinEventHandler
	cfg Config
}

func (h *gwsEcho) OnMessage(c *gws.Conn, m *gws.Message) {
	if !h.cfg.ReadOnly {
		c.WriteMessage(m.Opcode, m.Bytes())
	}
	// Close returns the message's buffer to gws's pool.
	m.Close()
	h.cfg.onMessage()
}

func gwsHandler(cfg Config) (http.Handler, error) {
	opt := &gws.ServerOption{}
	if cfg.Compression != Plain {
		opt.PermessageDeflate = gws.PermessageDeflate{
			Enabled:               true,
			ServerContextTakeover: cfg.Compression == Takeover,
			ClientContextTakeover: cfg.Compression == Takeover,
		}
	}
	up := gws.NewUpgrader(&gwsEcho{cfg: cfg}, opt)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		c.ReadLoop()
	}), nil
}
