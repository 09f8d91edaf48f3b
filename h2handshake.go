package lariat

// WebSocket over HTTP/2 (RFC 8441): the opening handshake. A browser that
// reaches a server over HTTP/2, and sees the server advertise
// SETTINGS_ENABLE_CONNECT_PROTOCOL, opens a WebSocket as one stream of
// that connection: a CONNECT request with the :protocol pseudo-header
// "websocket", answered 200. The stream then carries the frames of
// RFC 6455 as a TCP connection would (h2conn.go), and the connection runs
// inline in ServeHTTP, since an HTTP/2 stream ends when its handler
// returns.

import (
	"net/http"
	"os"
	"strings"
)

// extendedConnect reports whether net/http's HTTP/2 server advertises
// extended CONNECT. It is off by default (golang/go#71128) and turned on
// only by GODEBUG=http2xconnect=1 in the environment at process start:
// net/http reads the variable once, in an init function, with exactly
// this test. The setting is not a registered GODEBUG, so neither a
// //go:debug directive nor a godebug line in go.mod can set it (the go
// command rejects both), and http.HTTP2Config has no field for it as of
// Go 1.26. golang.org/x/net/http2's server reads the same variable.
// lariat's own init runs after net/http's, so it sees what net/http saw.
var extendedConnect = strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1")

// serveConnect serves the requests that only the HTTP/2 path knows about,
// reporting whether it answered r: every CONNECT request, whether or not
// it is a valid WebSocket handshake, so that none reaches a fallback page
// handler. On the first HTTP/2 request it logs, once, whether WebSockets
// can run over HTTP/2.
func (u *Upgrader) serveConnect(w http.ResponseWriter, r *http.Request) bool {
	if r.ProtoMajor >= 2 && u.Logger != nil {
		u.h2log.Do(u.logExtendedConnect)
	}
	if r.Method != http.MethodConnect {
		return false
	}
	if ref := checkExtendedConnect(r); ref.status != 0 {
		if ref.header != "" {
			w.Header().Set(ref.header, ref.value)
		}
		u.refuse(w, r, ref.status, ref.problem)
		return true
	}
	u.upgrade(w, r, &generation{
		version:   VersionRFC6455,
		protocols: headerTokens(r.Header["Sec-Websocket-Protocol"]),
		stream:    true,
	})
	return true
}

func (u *Upgrader) logExtendedConnect() {
	if extendedConnect {
		u.Logger.Info("lariat: WebSocket over HTTP/2 is on: HTTP/2 connections advertise extended CONNECT (RFC 8441)", "godebug", "http2xconnect=1")
		return
	}
	u.Logger.Info("lariat: WebSocket over HTTP/2 is off: browsers on HTTP/2 open a separate HTTP/1.1 connection for each WebSocket; start the process with GODEBUG=http2xconnect=1 to serve them on the HTTP/2 connection (RFC 8441)")
}

// refusal is the answer to a CONNECT request that is not a WebSocket
// handshake: a status, its text and at most one header.
type refusal struct {
	status        int
	problem       string
	header, value string
}

// checkExtendedConnect validates a CONNECT request as the opening
// handshake of RFC 8441 §4 and §5. net/http's HTTP/2 server has already
// answered PROTOCOL_ERROR to what is malformed at its level (a :protocol
// while extended CONNECT is off, an extended CONNECT without :path,
// connection-specific header fields); the :scheme pseudo-header is not
// shown to handlers, so it cannot be checked here.
func checkExtendedConnect(r *http.Request) refusal {
	protocol, hasProtocol := r.Header[":protocol"]
	switch {
	case r.ProtoMajor < 2:
		// CONNECT asks an HTTP/1.x proxy for a tunnel; a WebSocket
		// over HTTP/1.1 begins with GET.
		return refusal{http.StatusMethodNotAllowed, "WebSocket upgrades over HTTP/1.1 use GET", "Allow", http.MethodGet}
	case !hasProtocol:
		// A CONNECT without :protocol asks for a tunnel (RFC 9113
		// §8.5); this is not a proxy.
		return refusal{http.StatusMethodNotAllowed, "CONNECT without :protocol asks for a tunnel; this endpoint serves WebSockets", "Allow", http.MethodGet}
	case len(protocol) != 1 || !strings.EqualFold(protocol[0], "websocket"):
		// RFC 9220 §3, for HTTP/2 as for HTTP/3: "If a server
		// advertises support for Extended CONNECT but receives an
		// Extended CONNECT request with a ":protocol" value that is
		// unknown or is not supported, the server SHOULD respond to the
		// request with a 501 (Not Implemented) status code". The value
		// is compared without case, as Upgrade tokens are.
		return refusal{status: http.StatusNotImplemented, problem: "unsupported :protocol; this endpoint speaks websocket"}
	case r.Header["Connection"] != nil || r.Header["Upgrade"] != nil:
		// RFC 8441 §5: the Connection and Upgrade header fields of
		// RFC 6455 "MUST NOT be included in the CONNECT request".
		return refusal{status: http.StatusBadRequest, problem: "Connection and Upgrade are not sent with extended CONNECT"}
	case r.Host == "":
		// RFC 8441 §5: ":authority ... MUST be set to the authority part
		// of the target URI"; the origin check needs it.
		return refusal{status: http.StatusBadRequest, problem: "extended CONNECT without :authority"}
	case r.ContentLength != -1:
		// The stream stays open for the connection's frames, with no
		// length: END_STREAM on the request's HEADERS, or a
		// Content-Length, leaves no WebSocket to run.
		return refusal{status: http.StatusBadRequest, problem: "the CONNECT stream must stay open, with no Content-Length"}
	}
	// RFC 8441 §5: "The Origin [RFC6454], Sec-WebSocket-Version,
	// Sec-WebSocket-Protocol, and Sec-WebSocket-Extensions header fields
	// are used in the CONNECT request and response header fields as
	// defined in [RFC6455]"; Sec-WebSocket-Key and -Accept are not, and a
	// key that is sent anyway is ignored. Only version 13 exists over
	// HTTP/2. RFC 6455 §4.2.2 answers an unknown version with "an
	// appropriate HTTP error code (such as 426 Upgrade Required)" and the
	// versions understood; 426 must carry an Upgrade header, which
	// HTTP/2 forbids (RFC 9113 §8.2.2), so it is 400 here, as for a
	// missing version (RFC 6455 §4.2.1).
	switch v := r.Header["Sec-Websocket-Version"]; {
	case len(v) == 0:
		return refusal{http.StatusBadRequest, "missing Sec-WebSocket-Version", "Sec-WebSocket-Version", "13"}
	case len(v) != 1 || strings.TrimSpace(v[0]) != "13":
		return refusal{http.StatusBadRequest, "unsupported Sec-WebSocket-Version; HTTP/2 carries version 13 only", "Sec-WebSocket-Version", "13"}
	}
	return refusal{}
}

// serveStream answers an extended CONNECT that New accepted with 200,
// then runs the connection on the stream, in place, until it ends: an
// HTTP/2 stream ends when its handler returns. It reports whether the
// connection started, and so owns the Upgrader slot.
func (u *Upgrader) serveStream(w http.ResponseWriter, r *http.Request, h Handler, hs *Handshake, ext extension) bool {
	s := newH2Stream(w, r, hs.Options.ReadBufferSize)
	defer s.finish()
	c := newConn(u, s, h, hs, nil)
	c.negotiated(ext)
	rh := w.Header()
	for k, v := range hs.Header {
		if !connectionSpecific(k) {
			rh[k] = append(rh[k], v...)
		}
	}
	if hs.Protocol != "" {
		rh.Set("Sec-WebSocket-Protocol", hs.Protocol)
	}
	if ext.header != "" {
		rh.Set("Sec-WebSocket-Extensions", ext.header)
	}
	// RFC 8441 §5: "If the server agrees to the WebSocket connection, it
	// MUST respond with a 200 (OK) status code". The HEADERS frame leaves
	// now, without END_STREAM; Init runs after it, as after a 101.
	c.armWrite()
	if err := s.writeHeader(http.StatusOK); err != nil {
		c.startFailed(err)
		return false
	}
	u.track(c) // before Init, so that Shutdown sees it
	c.serve()  // gives the slot back when it returns
	return true
}

// connectionSpecific reports whether a header field may not appear in an
// HTTP/2 message (RFC 9113 §8.2.2). net/http's HTTP/2 server would drop
// some of them and, for "Connection: close", shut the whole connection
// down, so Handshake.Header entries with these names are not sent.
func connectionSpecific(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Connection", "Upgrade", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding":
		return true
	}
	return false
}
