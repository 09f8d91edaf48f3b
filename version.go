package lariat

import "strconv"

// Version is the protocol generation a connection speaks; a plain value.
type Version uint8

// The generations lariat speaks. The values of the RFC and the hybi drafts
// are their Sec-WebSocket-Version numbers.
const (
	VersionHybi07  Version = 7
	VersionHybi08  Version = 8
	VersionRFC6455 Version = 13
	VersionHixie75 Version = 75
	VersionHixie76 Version = 76
)

// supportedVersions answers a request for a version lariat does not speak
// (RFC 6455 §4.4).
const supportedVersions = "13, 8, 7"

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
	return "Version(" + strconv.Itoa(int(v)) + ")"
}

// isHixie reports whether v is one of the 2010 drafts, with their own
// framing.
func (v Version) isHixie() bool { return v == VersionHixie75 || v == VersionHixie76 }
