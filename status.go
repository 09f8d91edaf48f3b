package lariat

import (
	"encoding/binary"
	"errors"
	"strconv"
)

// StatusCode is a close status code (RFC 6455 §7.4); a plain value.
type StatusCode uint16

// The close codes of RFC 6455 §7.4.1 and the IANA registry that a server
// sends or reads. Codes 1005 and 1006 are never sent on the wire: they
// only report what happened. The registry's others, which only clients
// (1010), gateways (1014) or nobody on the wire (1015) use, are written
// as numbers: StatusCode(1014); String still names them.
const (
	StatusNormalClosure   StatusCode = 1000
	StatusGoingAway       StatusCode = 1001
	StatusProtocolError   StatusCode = 1002
	StatusUnsupportedData StatusCode = 1003
	StatusNoStatusRcvd    StatusCode = 1005
	StatusAbnormalClosure StatusCode = 1006
	StatusInvalidPayload  StatusCode = 1007
	StatusPolicyViolation StatusCode = 1008
	StatusMessageTooBig   StatusCode = 1009
	StatusInternalError   StatusCode = 1011
	StatusServiceRestart  StatusCode = 1012
	StatusTryAgainLater   StatusCode = 1013
)

var statusNames = map[StatusCode]string{
	StatusNormalClosure:   "normal closure",
	StatusGoingAway:       "going away",
	StatusProtocolError:   "protocol error",
	StatusUnsupportedData: "unsupported data",
	StatusNoStatusRcvd:    "no status received",
	StatusAbnormalClosure: "abnormal closure",
	StatusInvalidPayload:  "invalid payload data",
	StatusPolicyViolation: "policy violation",
	StatusMessageTooBig:   "message too big",
	1010:                  "mandatory extension",
	StatusInternalError:   "internal error",
	StatusServiceRestart:  "service restart",
	StatusTryAgainLater:   "try again later",
	1014:                  "bad gateway",
	1015:                  "TLS handshake",
}

// String returns the code and its registered name, as in "1000 normal closure".
func (c StatusCode) String() string {
	if s, ok := statusNames[c]; ok {
		return strconv.Itoa(int(c)) + " " + s
	}
	return strconv.Itoa(int(c))
}

// sendable reports whether c may appear in a close frame on the wire
// (RFC 6455 §7.4.1 and §7.4.2): the registered codes 1000–1003 and
// 1007–1014, and 3000–4999 for libraries and applications. 1004 is
// reserved, 1005, 1006 and 1015 "MUST NOT be set as a status code in a
// Close control frame", and everything below 1000 or from 5000 up is
// undefined.
func (c StatusCode) sendable() bool {
	switch {
	case c >= 1000 && c <= 1003, c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// The ways a received close payload can be bad: a frameError means 1002,
// errCloseText 1007.
var (
	errClosePayload1 = frameError("close payload of 1 byte")
	errCloseCode     = frameError("invalid close code")
	errCloseText     = errors.New("lariat: close reason is not UTF-8")
)

// parseClose judges a received close payload (RFC 6455 §5.5.1): empty is
// allowed and means no status (1005); otherwise a 2-byte code that may be
// sent on the wire, then a UTF-8 reason. The error tells which close code
// to answer with: a frameError means 1002, errCloseText 1007.
func parseClose(p []byte) (code StatusCode, text string, err error) {
	switch {
	case len(p) == 0:
		return StatusNoStatusRcvd, "", nil
	case len(p) == 1:
		return 0, "", errClosePayload1
	}
	code = StatusCode(binary.BigEndian.Uint16(p))
	if !code.sendable() {
		return code, "", errCloseCode
	}
	if !validUTF8(p[2:]) {
		return code, "", errCloseText
	}
	return code, string(p[2:]), nil
}

// appendClose appends a close payload. A reason is cut to fit the 125-byte
// control frame limit, on a character boundary.
func appendClose(dst []byte, code StatusCode, text string) []byte {
	if code == StatusNoStatusRcvd {
		return dst // "no status" is sent as an empty payload
	}
	if len(text) > maxControlPayload-2 {
		text = text[:maxControlPayload-2]
		for len(text) > 0 && !validUTF8([]byte(text)) {
			text = text[:len(text)-1]
		}
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(dst, text...)
}
