package lariat

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/lariat-ws/lariat/internal/deflate"
	"github.com/lariat-ws/lariat/internal/hixie"
)

// Version is the protocol generation a connection speaks.
type Version uint8

// The generations lariat speaks. The values of the RFC and the hybi drafts
// are their Sec-WebSocket-Version numbers.
const (
	VersionHybi07   Version = 7
	VersionHybi08   Version = 8
	VersionRFC6455  Version = 13
	VersionHixie75  Version = 75
	VersionHixie76  Version = 76
	supportedHeader         = "13, 8, 7"
)

// String names the generation, as in "RFC 6455" or "hixie-76".
func (v Version) String() string {
	switch v {
	case VersionHybi07:
		return "hybi-07"
	case VersionHybi08:
		return "hybi-08"
	case VersionRFC6455:
		return "RFC 6455"
	case VersionHixie75:
		return "hixie-75"
	case VersionHixie76:
		return "hixie-76"
	}
	return "Version(" + itoa(int(v)) + ")"
}

// Options are the settings of one connection. The zero value of every
// field means its safe default, so Options{} is a sound configuration.
type Options struct {
	// IdleTimeout closes a connection that receives nothing for this long
	// (with 1000), checked without reading the clock per frame: the close
	// comes between 1 and 1.25 IdleTimeouts after the last data. Zero
	// means 60 s; a negative value disables it.
	IdleTimeout time.Duration

	// WriteTimeout bounds every write to the socket; a peer that does not
	// read for this long is disconnected. Zero means 30 s; a negative
	// value disables it.
	WriteTimeout time.Duration

	// CloseTimeout bounds the wait for the peer's close frame after the
	// server sent its own. Zero means 3 s.
	CloseTimeout time.Duration

	// MaxMessageSize is the largest message accepted, after reassembly
	// (and inflation, with compression); a larger one closes the
	// connection with 1009 before its payload is read. Zero means 1 MiB.
	MaxMessageSize int64

	// SkipUTF8Validation turns off the validation of text messages. By
	// default invalid UTF-8 closes the connection with 1007, as RFC 6455
	// §8.1 requires.
	SkipUTF8Validation bool

	// ReadBufferSize and WriteBufferSize size the pooled buffers a
	// connection holds while it is not hibernating. Zero means 4096.
	// Messages up to half the read buffer are handed to Handle without a
	// copy; larger ones are read into a pooled buffer of their own size.
	ReadBufferSize, WriteBufferSize int

	// MailboxSize bounds the messages Post may queue for one connection
	// before it returns ErrMailboxFull. Zero means 1024.
	MailboxSize int

	// FragmentSize, when positive, splits each message the server sends
	// into frames of at most this many payload bytes (after compression,
	// for permessage-deflate). Zero sends every message in one frame.
	FragmentSize int

	// PingInterval, when positive, makes lariat ping the peer this often,
	// and PongTimeout bounds the wait for its pong (zero means
	// PingInterval); a peer that does not answer in time is closed with
	// 1000 and Terminate gets ReasonTimeout. Pings are off by default:
	// like Cowboy, lariat leaves them to the handler unless asked.
	PingInterval, PongTimeout time.Duration

	// Compress negotiates compression when the client offers it:
	// permessage-deflate, or x-webkit-deflate-frame from older browsers.
	// Off by default. (Cowboy: compress.)
	Compress bool

	// Deflate shapes the compression that Compress negotiates: context
	// takeover, window sizes, level and the smallest message compressed.
	Deflate DeflateOptions
}

const (
	defaultIdleTimeout    = 60 * time.Second
	defaultWriteTimeout   = 30 * time.Second
	defaultCloseTimeout   = 3 * time.Second
	defaultMaxMessageSize = 1 << 20
	defaultBufferSize     = 4096
	minBufferSize         = 256
	defaultMailboxSize    = 1024
)

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() Options {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.IdleTimeout, defaultIdleTimeout)
	def(&o.WriteTimeout, defaultWriteTimeout)
	def(&o.CloseTimeout, defaultCloseTimeout)
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = defaultMaxMessageSize
	}
	if o.ReadBufferSize <= 0 {
		o.ReadBufferSize = defaultBufferSize
	}
	if o.WriteBufferSize <= 0 {
		o.WriteBufferSize = defaultBufferSize
	}
	o.ReadBufferSize = max(o.ReadBufferSize, minBufferSize)
	o.WriteBufferSize = max(o.WriteBufferSize, minBufferSize)
	if o.MailboxSize <= 0 {
		o.MailboxSize = defaultMailboxSize
	}
	if o.PingInterval > 0 && o.PongTimeout <= 0 {
		o.PongTimeout = o.PingInterval
	}
	return o
}

// Upgrader is an http.Handler that upgrades requests to WebSocket
// connections and runs each with a Handler made by New. ServeHTTP returns
// once the 101 response is written; the connection then runs on a
// goroutine of its own, so that net/http can free what it held for the
// request (some 10 KB of buffers and a deep stack).
//
// An Upgrader must not be changed or copied after its first use; it is
// then safe for concurrent use, as net/http requires of a Handler.
type Upgrader struct {
	// New makes the Handler for one connection (Cowboy's init/2). It runs
	// on the HTTP request, before the 101 response: it may read headers
	// and cookies, choose a subprotocol from hs.Protocols, add response
	// headers and change the connection's options through hs. An error
	// refuses the upgrade: an *HTTPError chooses the status and body;
	// any other error is answered 403 Forbidden.
	New func(r *http.Request, hs *Handshake) (Handler, error)

	// Options are the defaults of every connection; New may change them
	// for one connection through hs.Options.
	Options

	// CheckOrigin decides whether a browser's request from another origin
	// may connect. When nil, only requests whose Origin (or
	// Sec-WebSocket-Origin, for versions 7 and 8) names the request's
	// Host are accepted, and requests without an origin, which browsers
	// always send, are accepted too. A refused origin gets 403; this
	// stops cross-site WebSocket hijacking.
	CheckOrigin func(r *http.Request) bool

	// Fallback serves requests that are not WebSocket upgrades, so that
	// an existing route can keep working at the same path. When nil, they
	// get 426 Upgrade Required.
	Fallback http.Handler

	// Legacy accepts the hixie-75 and hixie-76 drafts of 2010 that old
	// browsers and some devices still speak. It is off by default: those
	// drafts predate the masking that keeps WebSocket traffic from
	// poisoning the caches of transparent proxies, and some proxies
	// mangle their handshake. When off, such requests get 426 and a body
	// that says why.
	Legacy bool

	// HandshakeTimeout bounds the wait for the 8 bytes a hixie-76 client
	// sends after its request header. Zero means 10 s. (net/http's
	// Server.ReadHeaderTimeout bounds the request itself.)
	HandshakeTimeout time.Duration

	// MaxConnections, when positive, bounds the connections served at
	// once; upgrade requests past it get 503 with Retry-After.
	MaxConnections int

	// Logger, when set, receives refused handshakes and handler panics.
	// Nothing is logged per message.
	Logger *slog.Logger

	mu      sync.Mutex
	active  int // admitted requests: handshakes and connections
	conns   map[*Conn]struct{}
	closing bool
	drained chan struct{} // closed when active drops to 0 while closing
	h2log   sync.Once     // h2: logs once whether WebSockets run over HTTP/2 (h2handshake.go)
}

// Handshake is what New sees of, and may change in, the upgrade. It is
// valid only during New, on the request's goroutine; lariat reads it once
// New returns.
type Handshake struct {
	// Version is the protocol generation the client asked for.
	Version Version

	// Protocols are the subprotocols the client offered, in its order of
	// preference.
	Protocols []string

	// Protocol is the subprotocol New chose. It must be "" or one of
	// Protocols: the upgrade fails with 500 otherwise, since RFC 6455
	// forbids answering with a protocol the client did not offer.
	Protocol string

	// Header holds extra headers for the 101 response, such as
	// Set-Cookie.
	Header http.Header

	// Options start as the Upgrader's, with defaults filled in.
	Options Options
}

// HTTPError refuses an upgrade with a status code and a short plain-text
// message. New returns it.
type HTTPError struct {
	Status  int
	Message string
}

// Error describes the refusal.
func (e *HTTPError) Error() string {
	return "lariat: refused with " + itoa(e.Status) + ": " + e.Message
}

// Wrap returns an http.Handler that upgrades WebSocket requests as u does
// and passes every other request to fallback: the way to add a WebSocket
// endpoint to a route that already serves a page.
//
//	mux.Handle("/chat", up.Wrap(chatPage))
func (u *Upgrader) Wrap(fallback http.Handler) http.Handler {
	return &wrapped{u: u, fallback: fallback}
}

// wrapped shares its Upgrader, so that Shutdown and MaxConnections see
// every connection whichever route it came by.
type wrapped struct {
	u        *Upgrader
	fallback http.Handler
}

func (h *wrapped) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.u.serve(w, r, h.fallback) }

// The GUID of RFC 6455 §1.3, appended to the client's key.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// acceptKey computes Sec-WebSocket-Accept for a Sec-WebSocket-Key.
func acceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(acceptGUID))
	var sum [sha1.Size]byte
	return base64.StdEncoding.EncodeToString(h.Sum(sum[:0]))
}

// isUpgrade reports whether r asks for a WebSocket upgrade at all. Other
// requests belong to the fallback.
func isUpgrade(r *http.Request) bool {
	return httpguts.HeaderValuesContainsToken(r.Header["Upgrade"], "websocket")
}

// ServeHTTP performs the handshake and, when it succeeds, runs the
// connection until it ends.
func (u *Upgrader) ServeHTTP(w http.ResponseWriter, r *http.Request) { u.serve(w, r, u.Fallback) }

func (u *Upgrader) serve(w http.ResponseWriter, r *http.Request, fallback http.Handler) {
	if u.serveConnect(w, r) { // h2: every CONNECT, RFC 8441 over HTTP/2 (h2handshake.go)
		return // h2:
	} // h2:
	if !isUpgrade(r) {
		if fallback != nil {
			fallback.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Sec-WebSocket-Version", supportedHeader)
		u.refuse(w, r, http.StatusUpgradeRequired, "this endpoint speaks WebSocket only")
		return
	}
	if r.Header.Get("Sec-Websocket-Version") == "" && (hixie.IsHixie76(r.Header) || hixie.IsHixie75(r.Header)) && r.Method == http.MethodGet {
		if !u.Legacy {
			w.Header().Set("Sec-WebSocket-Version", supportedHeader)
			u.refuse(w, r, http.StatusUpgradeRequired, "this server does not accept the hixie-75/76 drafts (Upgrader.Legacy is off); use RFC 6455")
			return
		}
		if !u.admit(w, r) {
			return
		}
		if !u.serveLegacy(w, r) {
			u.release()
		}
		return
	}
	v, status, problem := checkRequest(r)
	if status != 0 {
		if status == http.StatusUpgradeRequired {
			w.Header().Set("Sec-WebSocket-Version", supportedHeader)
		}
		if status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", http.MethodGet)
		}
		u.refuse(w, r, status, problem)
		return
	}
	if !u.originAllowed(r, v) {
		u.refuse(w, r, http.StatusForbidden, "origin not allowed")
		return
	}
	if !u.admit(w, r) {
		return
	}
	// From here the slot is the connection's, released when it ends,
	// unless the upgrade fails first.
	started := false
	defer func() {
		if !started {
			u.release()
		}
	}()
	hs := &Handshake{
		Version:   v,
		Protocols: headerTokens(r.Header["Sec-Websocket-Protocol"]),
		Header:    http.Header{},
		Options:   u.Options.withDefaults(),
	}
	h, ok := u.newHandler(w, r, hs)
	if !ok {
		return
	}
	hs.Options = hs.Options.withDefaults()
	var ext extension
	if hs.Options.Compress {
		cfg := hs.Options.Deflate.config()
		if err := cfg.Validate(); err != nil {
			u.logError("invalid DeflateOptions", "err", err)
			u.abandon(h, hs, err)
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
			return
		}
		ext.header, ext.params, _ = deflate.Negotiate(r.Header["Sec-Websocket-Extensions"], cfg)
	}
	started = u.upgrade(w, r, h, hs, ext, acceptKey(r.Header.Get("Sec-Websocket-Key")))
}

// extension is the compression extension accepted for a connection.
type extension struct {
	header string // the Sec-WebSocket-Extensions response value, or ""
	params deflate.Params
}

// newHandler calls New and answers the request itself when New refuses or
// breaks its contract.
func (u *Upgrader) newHandler(w http.ResponseWriter, r *http.Request, hs *Handshake) (Handler, bool) {
	if u.New == nil {
		u.refuse(w, r, http.StatusInternalServerError, "no handler")
		return nil, false
	}
	h, err := u.New(r, hs)
	if err != nil || h == nil {
		var he *HTTPError
		if errors.As(err, &he) {
			u.refuse(w, r, he.Status, he.Message)
		} else {
			u.refuse(w, r, http.StatusForbidden, http.StatusText(http.StatusForbidden))
		}
		return nil, false
	}
	if hs.Protocol != "" && !contains(hs.Protocols, hs.Protocol) {
		u.logError("New chose a subprotocol the client did not offer", "protocol", hs.Protocol)
		u.abandon(h, hs, errors.New("lariat: New chose a subprotocol that was not offered"))
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return nil, false
	}
	return h, true
}

// checkRequest validates an upgrade request (RFC 6455 §4.2.1) and returns
// its version, or the status and text of the refusal.
func checkRequest(r *http.Request) (v Version, status int, problem string) {
	if r.Method != http.MethodGet {
		return 0, http.StatusMethodNotAllowed, "WebSocket upgrades use GET"
	}
	if !r.ProtoAtLeast(1, 1) {
		return 0, http.StatusBadRequest, "WebSocket needs HTTP/1.1 or later"
	}
	if !httpguts.HeaderValuesContainsToken(r.Header["Connection"], "upgrade") {
		return 0, http.StatusBadRequest, "Connection header lacks the upgrade token"
	}
	switch r.Header.Get("Sec-Websocket-Version") {
	case "13":
		v = VersionRFC6455
	case "8":
		v = VersionHybi08
	case "7":
		v = VersionHybi07
	default:
		return 0, http.StatusUpgradeRequired, "unsupported Sec-WebSocket-Version"
	}
	keys := r.Header["Sec-Websocket-Key"]
	if len(keys) != 1 {
		return 0, http.StatusBadRequest, "need exactly one Sec-WebSocket-Key"
	}
	// RFC 6455 §4.1: the key "MUST be a nonce consisting of a randomly
	// selected 16-byte value that has been base64-encoded".
	var raw [18]byte
	if n, err := base64.StdEncoding.Decode(raw[:], []byte(strings.TrimSpace(keys[0]))); err != nil || n != 16 || len(strings.TrimSpace(keys[0])) != 24 {
		return 0, http.StatusBadRequest, "Sec-WebSocket-Key is not 16 bytes in base64"
	}
	return v, 0, ""
}

// originAllowed applies CheckOrigin, or the same-origin default.
func (u *Upgrader) originAllowed(r *http.Request, v Version) bool {
	if u.CheckOrigin != nil {
		return u.CheckOrigin(r)
	}
	origin := r.Header.Get("Origin")
	if v == VersionHybi07 || v == VersionHybi08 {
		if o := r.Header.Get("Sec-Websocket-Origin"); o != "" {
			origin = o
		}
	}
	if origin == "" {
		return true
	}
	o, err := url.Parse(origin)
	if err != nil || o.Host == "" {
		return false
	}
	return strings.EqualFold(o.Host, r.Host)
}

// headerTokens splits comma-separated header values into trimmed,
// non-empty elements.
func headerTokens(values []string) []string {
	var out []string
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// upgrade hijacks the connection, writes the 101 response and starts the
// connection, reporting whether it did.
func (u *Upgrader) upgrade(w http.ResponseWriter, r *http.Request, h Handler, hs *Handshake, ext extension, accept string) bool {
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		u.hijackFailed(w, h, hs, err)
		return false
	}
	// Whatever the client sent after its request is already in the
	// server's buffer: those bytes are the connection's first frames.
	var buffered []byte
	if n := brw.Reader.Buffered(); n > 0 {
		buffered, _ = brw.Reader.Peek(n)
	}
	// net/http may have set deadlines for the request; the connection
	// keeps its own.
	nc.SetDeadline(time.Time{})
	c := newConn(u, nc, h, hs.Options, hs.Version, hs.Protocol, buffered)
	if ext.params.Kind != deflate.None {
		c.ext = ext.params.Kind
		c.comp = deflate.NewCompressor(ext.params)
		c.decomp = deflate.NewDecompressor(ext.params)
	}

	var resp bytes.Buffer
	resp.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ")
	resp.WriteString(accept)
	resp.WriteString("\r\n")
	if hs.Protocol != "" {
		resp.WriteString("Sec-WebSocket-Protocol: " + hs.Protocol + "\r\n")
	}
	if ext.header != "" {
		resp.WriteString("Sec-WebSocket-Extensions: " + ext.header + "\r\n")
	}
	hs.Header.Write(&resp)
	resp.WriteString("\r\n")
	return c.start(resp.Bytes())
}

// hijackFailed answers a request whose connection could not be taken
// over: HTTP/2 and some ResponseWriter wrappers cannot hand it over.
func (u *Upgrader) hijackFailed(w http.ResponseWriter, h Handler, hs *Handshake, err error) {
	u.logError("hijack failed", "err", err)
	http.Error(w, "WebSocket upgrade not possible on this connection", http.StatusInternalServerError)
	u.abandon(h, hs, err)
}

// abandon terminates a handler whose connection never upgraded. Its Conn
// can send nothing and has no addresses.
func (u *Upgrader) abandon(h Handler, hs *Handshake, err error) {
	c := &Conn{h: h, srv: u, version: hs.Version, protocol: hs.Protocol, opts: hs.Options, closeSent: true, dead: true}
	c.terminate(Reason{Kind: ReasonHandshake, Code: StatusAbnormalClosure, Err: err})
}

// refuse answers a request that will not be upgraded.
func (u *Upgrader) refuse(w http.ResponseWriter, r *http.Request, status int, problem string) {
	if u.Logger != nil {
		u.Logger.Info("lariat: handshake refused", "status", status, "problem", problem, "remote", r.RemoteAddr, "path", r.URL.Path)
	}
	http.Error(w, problem, status)
}

func (u *Upgrader) logError(msg string, args ...any) {
	if u != nil && u.Logger != nil {
		u.Logger.Error("lariat: "+msg, args...)
	}
}
