package hixie

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"golang.org/x/net/http/httpguts"
	"io"
	"math"
	"net/http"
	"net/textproto"
	"slices"
)

// Request header names of the two drafts, in canonical form.
const (
	headerKey1     = "Sec-Websocket-Key1"
	headerKey2     = "Sec-Websocket-Key2"
	headerKey      = "Sec-Websocket-Key"     // hybi-04 and later
	headerVersion  = "Sec-Websocket-Version" // hybi-04 and later
	statusLine75   = "HTTP/1.1 101 Web Socket Protocol Handshake\r\n"
	statusLine76   = "HTTP/1.1 101 WebSocket Protocol Handshake\r\n"
	upgradeHeaders = "Upgrade: WebSocket\r\nConnection: Upgrade\r\n"
)

// IsHixie76 reports whether h, the header of a WebSocket upgrade request
// (Upgrade and Connection already checked by the caller), is a hixie-76
// (hybi-00) opening handshake: it carries Sec-WebSocket-Key1 and
// Sec-WebSocket-Key2 and no Sec-WebSocket-Version, which every later draft
// sends.
func IsHixie76(h http.Header) bool {
	return len(h[headerVersion]) == 0 && len(h[headerKey1]) > 0 && len(h[headerKey2]) > 0
}

// IsHixie75 reports whether h, the header of a WebSocket upgrade request
// (Upgrade and Connection already checked by the caller), is a hixie-75
// opening handshake: it carries none of Sec-WebSocket-Version,
// Sec-WebSocket-Key, Sec-WebSocket-Key1 and Sec-WebSocket-Key2. A request
// with only one of Key1 and Key2 is neither 75 nor 76: it is malformed.
func IsHixie75(h http.Header) bool {
	return len(h[headerVersion]) == 0 && len(h[headerKey]) == 0 &&
		len(h[headerKey1]) == 0 && len(h[headerKey2]) == 0
}

// ParseKey returns the 32-bit number that a Sec-WebSocket-Key1 or
// Sec-WebSocket-Key2 value encodes: the value's digits, read as one decimal
// number, divided by the number of U+0020 SPACE characters in the value.
// All other characters are noise the client inserted.
//
// Draft-76 (section 5.2) makes the server abort the connection when there
// are no spaces ("a symptom of a cross-protocol attack") or when the number
// is not an integral multiple of the spaces. ParseKey also refuses a value
// without digits and a number above 2^32-1: the draft has the client build
// the number as a 32-bit value times the spaces, chosen so that the product
// still fits in 32 bits. The errors wrap ErrKey.
//
// net/http trims spaces at both ends of a header value; that loses nothing
// here, since the draft forbids the client to put spaces there.
func ParseKey(s string) (uint32, error) {
	n, why := parseKey(s)
	if why != "" {
		return 0, fmt.Errorf("%w: key %s", ErrKey, why)
	}
	return n, nil
}

// parseKey is ParseKey with the failure as a phrase, so that callers can
// say which header was wrong without repeating the prefix.
func parseKey(s string) (uint32, string) {
	var number uint64
	digits, spaces := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			number = number*10 + uint64(c-'0')
			if number > math.MaxUint32 {
				return 0, "number exceeds 32 bits"
			}
			digits++
		case c == ' ':
			spaces++
		}
	}
	switch {
	case digits == 0:
		return 0, "has no digits"
	case spaces == 0:
		return 0, "has no spaces"
	case number%uint64(spaces) != 0:
		return 0, fmt.Sprintf("number %d is not a multiple of its %d spaces", number, spaces)
	}
	return uint32(number / uint64(spaces)), ""
}

// ParseKeys parses the Sec-WebSocket-Key1 and Sec-WebSocket-Key2 fields of
// a hixie-76 request with ParseKey. Each must appear exactly once. The
// errors wrap ErrKey and name the field.
func ParseKeys(h http.Header) (key1, key2 uint32, err error) {
	if key1, err = headerKeyValue(h, headerKey1); err != nil {
		return 0, 0, err
	}
	if key2, err = headerKeyValue(h, headerKey2); err != nil {
		return 0, 0, err
	}
	return key1, key2, nil
}

func headerKeyValue(h http.Header, name string) (uint32, error) {
	v := h[name]
	switch len(v) {
	case 0:
		return 0, fmt.Errorf("%w: %s is missing", ErrKey, displayName(name))
	case 1:
	default:
		return 0, fmt.Errorf("%w: %s appears %d times", ErrKey, displayName(name), len(v))
	}
	n, why := parseKey(v[0])
	if why != "" {
		return 0, fmt.Errorf("%w: %s %s", ErrKey, displayName(name), why)
	}
	return n, nil
}

// displayName spells a header the way the draft does.
func displayName(canonical string) string {
	switch canonical {
	case headerKey1:
		return "Sec-WebSocket-Key1"
	case headerKey2:
		return "Sec-WebSocket-Key2"
	}
	return canonical
}

// ReadKey3 reads key3, the 8 bytes a hixie-76 client sends right after its
// request header. net/http does not see them (the request declares no
// body), so after Hijack they are in the returned bufio.Reader, or still on
// the wire: pass the bufio.Reader, with a read deadline set on the net.Conn
// since a client that never sends them would otherwise hold the handshake
// forever. The error wraps ErrKey and the reader's error (io.EOF,
// io.ErrUnexpectedEOF, os.ErrDeadlineExceeded, ...).
func ReadKey3(r io.Reader) (key3 [8]byte, err error) {
	if _, err := io.ReadFull(r, key3[:]); err != nil {
		return key3, fmt.Errorf("%w: reading key3: %w", ErrKey, err)
	}
	return key3, nil
}

// Challenge returns the 16-byte body of the hixie-76 response: the MD5 sum
// of key1 and key2 (big-endian, 4 bytes each) followed by key3.
func Challenge(key1, key2 uint32, key3 [8]byte) [16]byte {
	var b [16]byte
	binary.BigEndian.PutUint32(b[0:4], key1)
	binary.BigEndian.PutUint32(b[4:8], key2)
	copy(b[8:], key3[:])
	return md5.Sum(b[:])
}

// Location returns the WebSocket URL the response must echo in
// Sec-WebSocket-Location (76) or WebSocket-Location (75): ws:// or, when
// the connection is secure, wss://, then host and requestURI. Pass them as
// the client sent them (r.Host and r.RequestURI): the client compares the
// whole string with the URL it opened and fails on any difference, so the
// Host field, which it built from that URL, is the right host, port
// included. An empty requestURI is written as "/". When TLS ends at a
// proxy in front of the server, tls must still be true.
func Location(tls bool, host, requestURI string) string {
	scheme := "ws://"
	if tls {
		scheme = "wss://"
	}
	if requestURI == "" {
		requestURI = "/"
	}
	return scheme + host + requestURI
}

// AppendResponse76 appends the hixie-76 (hybi-00) response to dst: the 101
// status line and header that AppendResponse76Header writes, then the
// 16-byte challenge as body, which the client reads as part of the
// handshake. Bad header values or fields yield dst unchanged and an error
// that wraps ErrHeaderValue.
func AppendResponse76(dst []byte, origin, location, protocol string, challenge [16]byte, extra http.Header) ([]byte, error) {
	dst, err := AppendResponse76Header(dst, origin, location, protocol, extra)
	if err != nil {
		return dst, err
	}
	return append(dst, challenge[:]...), nil
}

// AppendResponse76Header appends the hixie-76 response without its body:
// the status line "HTTP/1.1 101 WebSocket Protocol Handshake", Upgrade,
// Connection, Sec-WebSocket-Origin, Sec-WebSocket-Location and, when
// protocol is not empty, Sec-WebSocket-Protocol, then the fields of extra
// (such as Set-Cookie; nil for none) sorted by name, then the empty line.
// origin is the request's Origin value, location comes from Location, and
// protocol is the request's Sec-WebSocket-Protocol value, echoed verbatim
// (in this draft it names one protocol, not a list).
//
// A value holding a control character (CR, LF, NUL, ...; HTAB is allowed),
// an extra field name that is not an HTTP token, or an extra field that
// the handshake itself writes (Upgrade, Connection, and the Origin,
// Location and Protocol fields of either draft: clients fail on
// duplicates) yields dst unchanged and an error that wraps ErrHeaderValue.
//
// It exists for servers behind proxies that forward key3 only once they
// have seen the 101 response (HAProxy does, to protect servers that do not
// speak WebSocket): write this header, flush, read key3, then write the
// 16-byte challenge. The client reads the header and then waits for the
// body, so the split costs nothing when there is no such proxy.
func AppendResponse76Header(dst []byte, origin, location, protocol string, extra http.Header) ([]byte, error) {
	return appendHead(dst, statusLine76, "Sec-", origin, location, protocol, extra)
}

// AppendResponse75 appends the hixie-75 response to dst: the 101 status
// line, Upgrade, Connection, WebSocket-Origin, WebSocket-Location and, when
// protocol is not empty, WebSocket-Protocol, then the fields of extra, then
// the empty line; there is no body. The arguments and errors are as for
// AppendResponse76Header, protocol being the request's WebSocket-Protocol
// value.
//
// The status line is draft-75's "HTTP/1.1 101 Web Socket Protocol
// Handshake" (with a space in "Web Socket"; draft-76 removed it). Clients
// of that era compare the first 85 bytes of the response, up to and with
// "Connection: Upgrade", with the draft's text byte for byte.
func AppendResponse75(dst []byte, origin, location, protocol string, extra http.Header) ([]byte, error) {
	return appendHead(dst, statusLine75, "", origin, location, protocol, extra)
}

// appendHead appends a response head: the status line, Upgrade and
// Connection, the origin, location and protocol fields (named
// Sec-WebSocket-* in draft-76 and WebSocket-* in draft-75), the fields of
// extra and the empty line.
func appendHead(dst []byte, status, prefix, origin, location, protocol string, extra http.Header) ([]byte, error) {
	if err := checkFields(origin, location, protocol, extra); err != nil {
		return dst, err
	}
	dst = append(dst, status...)
	dst = append(dst, upgradeHeaders...)
	dst = appendField(dst, prefix+"WebSocket-Origin: ", origin)
	dst = appendField(dst, prefix+"WebSocket-Location: ", location)
	if protocol != "" {
		dst = appendField(dst, prefix+"WebSocket-Protocol: ", protocol)
	}
	dst = appendExtra(dst, extra)
	return append(dst, "\r\n"...), nil
}

func appendField(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// appendExtra appends the fields of h, which checkFields accepted, sorted
// by name so that responses are reproducible.
func appendExtra(dst []byte, h http.Header) []byte {
	if len(h) == 0 {
		return dst
	}
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, v := range h[name] {
			dst = append(dst, name...)
			dst = append(dst, ": "...)
			dst = append(dst, v...)
			dst = append(dst, "\r\n"...)
		}
	}
	return dst
}

// ownFields are the fields the responses of the two drafts write
// themselves, in canonical form.
var ownFields = [...]string{
	"Upgrade", "Connection",
	"Sec-Websocket-Origin", "Sec-Websocket-Location", "Sec-Websocket-Protocol",
	"Websocket-Origin", "Websocket-Location", "Websocket-Protocol",
}

func checkFields(origin, location, protocol string, extra http.Header) error {
	for _, f := range [...]struct{ name, value string }{
		{"origin", origin},
		{"location", location},
		{"protocol", protocol},
	} {
		if err := checkValue(f.name, f.value); err != nil {
			return err
		}
	}
	for name, values := range extra {
		if !httpguts.ValidHeaderFieldName(name) {
			return fmt.Errorf("%w: field name %q is not a token", ErrHeaderValue, name)
		}
		if slices.Contains(ownFields[:], textproto.CanonicalMIMEHeaderKey(name)) {
			return fmt.Errorf("%w: field %s is written by the handshake itself", ErrHeaderValue, name)
		}
		for _, v := range values {
			if err := checkValue(name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkValue(name, value string) error {
	for i := 0; i < len(value); i++ {
		if c := value[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return fmt.Errorf("%w: %s holds control character %#02x at offset %d", ErrHeaderValue, name, c, i)
		}
	}
	return nil
}
