package lariat

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/lariat-ws/lariat/internal/deflate"
	"github.com/lariat-ws/lariat/internal/hixie"
)

// Upgrader is an http.Handler that upgrades requests to WebSocket
// connections and runs each with a Handler made by New. ServeHTTP returns
// once the handshake response is written; the connection then runs on a
// goroutine of its own, so that net/http can free what it held for the
// request (some 10 KB of buffers and a deep stack).
//
// Requests that are not WebSocket upgrades get 426 Upgrade Required; to
// serve a page on the same route, use Wrap.
//
// An Upgrader must not be changed or copied after its first use; it is
// then safe for concurrent use, as net/http requires of a Handler.
type Upgrader struct {
	// New makes the Handler for one connection (Cowboy's init/2). It runs
	// on the HTTP request, before the handshake response: it may read
	// headers and cookies, choose a subprotocol from hs.Protocols, add
	// response headers and change the connection's options through hs.
	// An error refuses the upgrade: an *HTTPError chooses the status and
	// body; any other error is answered 403 Forbidden.
	New func(r *http.Request, hs *Handshake) (Handler, error)

	// Options are the settings of every connection; New may change them
	// for one connection through hs.Options.
	Options Options

	// CheckOrigin decides whether a browser's request may connect. When
	// nil, a request is accepted when it carries no Origin (browsers
	// always send one; other clients need not), or when its Origin is an
	// http or https URL whose host and port are the request's Host, a
	// default port (80, 443) being the same as none, and whose scheme is
	// https when the request came over TLS. Origin is preferred to the
	// Sec-WebSocket-Origin of the hybi-07/08 drafts. A refused origin
	// gets 403; this stops cross-site WebSocket hijacking.
	//
	// Comparing with Host cannot stop DNS rebinding, where an attacker's
	// name resolves to your server and the browser sends the attacker's
	// Host and Origin alike: a server on a private address, or one that
	// trusts cookies, should list its own origins:
	//
	//	allowed := map[string]bool{"https://example.com": true}
	//	up.CheckOrigin = func(r *http.Request) bool {
	//		return allowed[r.Header.Get("Origin")] && r.Host == "example.com"
	//	}
	CheckOrigin func(r *http.Request) bool

	// Legacy accepts the hixie-75 and hixie-76 drafts of 2010 that old
	// browsers and some devices still speak. It is off by default: those
	// drafts predate the masking that keeps WebSocket traffic from
	// poisoning the caches of transparent proxies, and some proxies
	// mangle their handshake. When off, such requests get 426 and a body
	// that says why.
	Legacy bool

	// MaxConnections, when positive, bounds the connections served at
	// once; upgrade requests past it get 503 with Retry-After.
	MaxConnections int

	// Logger, when set, receives refused handshakes at Info and panics at
	// Error. Nothing is logged per message.
	Logger *slog.Logger

	mu      sync.Mutex
	active  int // admitted requests: handshakes and connections
	conns   map[*Conn]struct{}
	closing bool
	drained chan struct{} // closed when active drops to 0 while closing
	h2log   sync.Once     // logs once whether WebSockets run over HTTP/2
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

	// Header holds extra headers for the handshake response, such as
	// Set-Cookie.
	Header http.Header

	// Options start as the Upgrader's, with defaults filled in.
	Options Options
}

// HTTPError refuses an upgrade with a status code and a short plain-text
// message. New returns it. It is a plain value.
type HTTPError struct {
	Status  int
	Message string
}

// Error describes the refusal.
func (e *HTTPError) Error() string {
	return "lariat: refused with " + strconv.Itoa(e.Status) + ": " + e.Message
}

// Wrap returns an http.Handler that upgrades WebSocket requests as u does
// and passes every other request to page: the way to serve a WebSocket
// endpoint and a page on one route. Every handler Wrap returns shares u,
// so Shutdown and MaxConnections see every connection whichever route it
// came by.
//
//	mux.Handle("/chat", up.Wrap(chatPage))
//
// A CONNECT request never reaches page: it is a WebSocket request over
// HTTP/2 or nothing lariat serves.
func (u *Upgrader) Wrap(page http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { u.serve(w, r, page) })
}

// ServeHTTP upgrades the request and starts the connection, or answers
// with the status that says why not. It returns once the handshake
// response is written.
func (u *Upgrader) ServeHTTP(w http.ResponseWriter, r *http.Request) { u.serve(w, r, nil) }

// serve answers one request: a CONNECT, a page request (page, or 426
// when there is none), or an upgrade of one of the generations.
func (u *Upgrader) serve(w http.ResponseWriter, r *http.Request, page http.Handler) {
	if u.serveConnect(w, r) {
		return // every CONNECT is answered here, never by page
	}
	if !isUpgrade(r) {
		if page != nil {
			page.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Sec-WebSocket-Version", supportedVersions)
		u.refuse(w, r, http.StatusUpgradeRequired, "this endpoint speaks WebSocket only")
		return
	}
	var g generation
	if r.Header.Get("Sec-Websocket-Version") == "" && r.Method == http.MethodGet && (hixie.IsHixie76(r.Header) || hixie.IsHixie75(r.Header)) {
		if !u.Legacy {
			w.Header().Set("Sec-WebSocket-Version", supportedVersions)
			u.refuse(w, r, http.StatusUpgradeRequired, "this server does not accept the hixie-75/76 drafts (Upgrader.Legacy is off); use RFC 6455")
			return
		}
		g = parseHixie(r)
	} else {
		g = parseRFC6455(r)
	}
	if g.status != 0 {
		for k, v := range g.header {
			w.Header()[k] = v
		}
		u.refuse(w, r, g.status, g.problem)
		return
	}
	u.upgrade(w, r, &g)
}

// isUpgrade reports whether r asks for a WebSocket upgrade at all. Other
// requests belong to the page handler.
func isUpgrade(r *http.Request) bool {
	return httpguts.HeaderValuesContainsToken(r.Header["Upgrade"], "websocket")
}

// A generation is what differs between the handshakes of the protocol
// generations: how the request is judged, how the response is built, and
// what the response needs once the connection is hijacked. Everything
// else, from the origin check to the start of the connection, is
// upgrade's, for all of them.
type generation struct {
	version   Version
	protocols []string
	status    int // the refusal, when not 0
	problem   string
	header    http.Header // headers for the refusal

	// response returns the handshake response head for the chosen
	// protocol and extension.
	response func(hs *Handshake, ext string) ([]byte, error)

	// hijacked completes the response once the connection is taken
	// over: hixie-76 needs the 8 bytes that follow the request.
	hijacked func(u *Upgrader, nc net.Conn, br *bufio.Reader, head []byte) ([]byte, error)

	// stream: the request is an extended CONNECT on an HTTP/2 stream
	// (RFC 8441), answered 200 and served in place, not hijacked.
	stream bool
}

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

// parseRFC6455 judges an RFC 6455 or hybi-07/08 upgrade request (RFC 6455
// §4.2.1).
func parseRFC6455(r *http.Request) generation {
	refuse := func(status int, problem string) generation {
		return generation{status: status, problem: problem}
	}
	if r.Method != http.MethodGet {
		return generation{status: http.StatusMethodNotAllowed, problem: "WebSocket upgrades use GET",
			header: http.Header{"Allow": {http.MethodGet}}}
	}
	if !r.ProtoAtLeast(1, 1) {
		return refuse(http.StatusBadRequest, "WebSocket needs HTTP/1.1 or later")
	}
	if !httpguts.HeaderValuesContainsToken(r.Header["Connection"], "upgrade") {
		return refuse(http.StatusBadRequest, "Connection header lacks the upgrade token")
	}
	var v Version
	switch r.Header.Get("Sec-Websocket-Version") {
	case "13":
		v = VersionRFC6455
	case "8":
		v = VersionHybi08
	case "7":
		v = VersionHybi07
	default:
		return generation{status: http.StatusUpgradeRequired, problem: "unsupported Sec-WebSocket-Version",
			header: http.Header{"Sec-Websocket-Version": {supportedVersions}}}
	}
	keys := r.Header["Sec-Websocket-Key"]
	if len(keys) != 1 || !validKey(keys[0]) {
		return refuse(http.StatusBadRequest, "Sec-WebSocket-Key is not one key of 16 bytes in base64")
	}
	accept := acceptKey(strings.TrimSpace(keys[0]))
	return generation{
		version:   v,
		protocols: headerTokens(r.Header["Sec-Websocket-Protocol"]),
		response: func(hs *Handshake, ext string) ([]byte, error) {
			var b bytes.Buffer
			b.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ")
			b.WriteString(accept)
			b.WriteString("\r\n")
			if hs.Protocol != "" {
				b.WriteString("Sec-WebSocket-Protocol: " + hs.Protocol + "\r\n")
			}
			if ext != "" {
				b.WriteString("Sec-WebSocket-Extensions: " + ext + "\r\n")
			}
			if err := hs.Header.Write(&b); err != nil {
				return nil, err
			}
			b.WriteString("\r\n")
			return b.Bytes(), nil
		},
	}
}

// validKey reports whether key is the base64 form of 16 bytes (RFC 6455
// §4.1: "a randomly selected 16-byte value that has been
// base64-encoded"). The length is checked before anything is decoded.
func validKey(key string) bool {
	key = strings.TrimSpace(key)
	if len(key) != 24 {
		return false
	}
	var raw [18]byte
	n, err := base64.StdEncoding.Decode(raw[:], []byte(key))
	return err == nil && n == 16
}

// originAllowed applies CheckOrigin, or the same-origin default.
func (u *Upgrader) originAllowed(r *http.Request) bool {
	if u.CheckOrigin != nil {
		return u.CheckOrigin(r)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		origin = r.Header.Get("Sec-Websocket-Origin") // hybi-07/08
	}
	if origin == "" {
		return true
	}
	return sameOrigin(origin, r.Host, r.TLS != nil)
}

// sameOrigin reports whether a browser's origin, an http or https URL
// (RFC 6454 serialises it as scheme "://" host [":" port]), names the
// request's host (its Host field): the same name and the same port, a
// missing port being the scheme's default. A TLS request needs an https
// origin. A request that came in the clear may still have come through a
// proxy that ended TLS, so when its Host has no port either default port
// matches.
func sameOrigin(origin, host string, tls bool) bool {
	scheme, rest, ok := strings.Cut(origin, "://")
	if !ok {
		return false
	}
	var port string
	switch strings.ToLower(scheme) {
	case "https":
		port = "443"
	case "http":
		if tls {
			return false // a page sent in the clear may not open wss
		}
		port = "80"
	default:
		return false
	}
	oName, oPort := splitHostPort(rest, port)
	hName, hPort := splitHostPort(host, "")
	if !strings.EqualFold(oName, hName) {
		return false
	}
	switch {
	case hPort != "":
		return oPort == hPort
	case tls:
		return oPort == "443"
	}
	return oPort == "80" || oPort == "443"
}

// splitHostPort splits host[:port], IPv6 literals in brackets included,
// giving port def when there is none.
func splitHostPort(hostport, def string) (host, port string) {
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		return h, p
	}
	return strings.Trim(hostport, "[]"), def
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

// upgrade is the handshake's ending, the same for every generation: the
// origin check, admission, New, the options, the extension, the hijack
// and the start of the connection, with the admission slot given back on
// every path that does not start one, a panic in New included.
func (u *Upgrader) upgrade(w http.ResponseWriter, r *http.Request, g *generation) {
	if !u.originAllowed(r) {
		u.refuse(w, r, http.StatusForbidden, "origin not allowed")
		return
	}
	if !u.admit(w, r) {
		return
	}
	started := false
	defer func() {
		if !started {
			u.release()
		}
	}()
	hs := &Handshake{
		Version:   g.version,
		Protocols: g.protocols,
		Header:    http.Header{},
		Options:   u.Options.withDefaults(),
	}
	h, ok := u.newHandler(w, r, hs)
	if !ok {
		return
	}
	hs.Options = hs.Options.withDefaults()
	var ext extension
	if hs.Options.Compression != nil && !g.version.isHixie() {
		cfg := hs.Options.Compression.config()
		if err := cfg.Validate(); err != nil {
			u.logError("invalid CompressionOptions", "err", err)
			u.abandon(h, hs, err)
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
			return
		}
		ext.header, ext.params, _ = deflate.Negotiate(r.Header["Sec-Websocket-Extensions"], cfg)
	}
	if g.stream {
		started = true // the stream gives the slot back when it ends
		if !u.serveStream(w, r, h, hs, ext) {
			u.release()
		}
		return
	}
	head, err := g.response(hs, ext.header)
	if err != nil {
		u.abandon(h, hs, err)
		u.refuse(w, r, http.StatusBadRequest, err.Error())
		return
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		u.logError("hijack failed", "err", err)
		http.Error(w, "WebSocket upgrade not possible on this connection", http.StatusInternalServerError)
		u.abandon(h, hs, err)
		return
	}
	// net/http may have set deadlines for the request; the connection
	// keeps its own.
	nc.SetDeadline(time.Time{})
	if g.hijacked != nil {
		if head, err = g.hijacked(u, nc, brw.Reader, head); err != nil {
			nc.Close()
			u.abandon(h, hs, err)
			return
		}
	}
	// Whatever the client sent after its request is already in the
	// server's buffer: those bytes are the connection's first frames.
	var buffered []byte
	if n := brw.Reader.Buffered(); n > 0 {
		buffered, _ = brw.Reader.Peek(n)
	}
	c := newConn(u, nc, h, hs, buffered)
	c.negotiated(ext)
	started = c.start(head)
}

// negotiated sets up the compression extension accepted for c.
func (c *Conn) negotiated(ext extension) {
	if ext.params.Kind != deflate.None {
		c.ext = ext.params.Kind
		c.comp = deflate.NewCompressor(ext.params)
		c.decomp = deflate.NewDecompressor(ext.params)
	}
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
	if hs.Protocol != "" && !slices.Contains(hs.Protocols, hs.Protocol) {
		u.logError("New chose a subprotocol the client did not offer", "protocol", hs.Protocol)
		u.abandon(h, hs, errors.New("lariat: New chose a subprotocol that was not offered"))
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return nil, false
	}
	return h, true
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

// logError logs at Error, when there is a Logger.
func (u *Upgrader) logError(msg string, args ...any) {
	if u != nil && u.Logger != nil {
		u.Logger.Error("lariat: "+msg, args...)
	}
}
