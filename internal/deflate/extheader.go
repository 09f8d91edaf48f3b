package deflate

import (
	"strings"

	"golang.org/x/net/http/httpguts"
)

// This file reads Sec-WebSocket-Extensions header values (RFC 6455 §9.1):
//
//	extension-list = 1#extension
//	extension      = extension-token *( ";" extension-param )
//	extension-param = token [ "=" (token | quoted-string) ]
//
// with optional whitespace around the separators (RFC 9110 §5.6.1 lists
// tolerate empty elements, so ",," is skipped). "When using the
// quoted-string syntax variant, the value after quoted-string unescaping
// MUST conform to the 'token' ABNF" (RFC 6455 §9.1); a value that does not
// makes its offer malformed.

// maxParams bounds the parameters kept per offer. Each extension we accept
// defines at most four distinct parameters, so an offer with more must
// repeat or invent one and is declined anyway.
const maxParams = 4

type param struct {
	name     string
	value    string
	hasValue bool
}

// offer is one element of an extension list.
type offer struct {
	name   string
	params [maxParams]param
	n      int
	// bad is set when the element is malformed or has too many
	// parameters; it is then declined whatever its name.
	bad bool
}

// lexer walks one header value, offer by offer.
type lexer struct {
	s string
	i int
}

// next parses the next offer into o. It returns false at the end of the
// value. A malformed offer comes back with o.bad set, and the lexer resumes
// after the next comma that is not inside a quoted string.
func (l *lexer) next(o *offer) bool {
	for {
		l.skipOWS()
		if l.i >= len(l.s) {
			return false
		}
		if l.s[l.i] != ',' {
			break
		}
		l.i++ // empty list element
	}
	*o = offer{name: l.token()}
	if o.name == "" {
		return l.fail(o)
	}
	for {
		l.skipOWS()
		if l.i >= len(l.s) {
			return true
		}
		switch l.s[l.i] {
		case ',':
			l.i++
			return true
		case ';':
			l.i++
			l.skipOWS()
			p := param{name: l.token()}
			if p.name == "" {
				return l.fail(o)
			}
			l.skipOWS()
			if l.i < len(l.s) && l.s[l.i] == '=' {
				l.i++
				l.skipOWS()
				v, ok := l.value()
				if !ok {
					return l.fail(o)
				}
				p.value, p.hasValue = v, true
			}
			if o.n == len(o.params) {
				o.bad = true
				continue
			}
			o.params[o.n] = p
			o.n++
		default:
			return l.fail(o)
		}
	}
}

// fail marks o malformed and skips the rest of its element.
func (l *lexer) fail(o *offer) bool {
	o.bad = true
	for l.i < len(l.s) {
		switch l.s[l.i] {
		case ',':
			l.i++
			return true
		case '"':
			l.i++
			for l.i < len(l.s) && l.s[l.i] != '"' {
				if l.s[l.i] == '\\' {
					l.i++
				}
				l.i++
			}
		}
		l.i++
	}
	return true
}

func (l *lexer) skipOWS() {
	for l.i < len(l.s) && (l.s[l.i] == ' ' || l.s[l.i] == '\t') {
		l.i++
	}
}

// token returns the token at the cursor, or "" if there is none.
func (l *lexer) token() string {
	j := l.i
	for j < len(l.s) && isTokenChar(l.s[j]) {
		j++
	}
	t := l.s[l.i:j]
	l.i = j
	return t
}

// value reads a parameter value: a token, or a quoted-string whose
// unescaped content is a token.
func (l *lexer) value() (string, bool) {
	if l.i >= len(l.s) || l.s[l.i] != '"' {
		t := l.token()
		return t, t != ""
	}
	l.i++
	start, escaped := l.i, false
	for l.i < len(l.s) {
		switch c := l.s[l.i]; c {
		case '"':
			v := l.s[start:l.i]
			l.i++
			if escaped {
				v = unescape(v)
			}
			return v, isToken(v)
		case '\\':
			escaped = true
			l.i += 2
		default:
			l.i++
		}
	}
	return "", false // unterminated
}

// unescape removes the backslashes of quoted-pairs. It is only called on
// the rare values that contain one.
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isToken(s string) bool { return httpguts.ValidHeaderFieldName(s) }

// isTokenChar reports whether c is a tchar (RFC 9110 §5.6.2).
func isTokenChar(c byte) bool { return httpguts.IsTokenRune(rune(c)) }
