package hixie

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
)

// challengeVectors are complete hixie-76 key sets with their answers.
var challengeVectors = []struct {
	name       string
	key1, key2 string
	n1, n2     uint32
	key3       string
	want       string
}{
	{
		// Draft-76, the handshake of sections 1.2 and 1.3.
		name: "draft-76 handshake",
		key1: "4 @1  46546xW%0l 1 5", n1: 829309203,
		key2: "12998 5 Y3 1  .P00", n2: 259970620,
		key3: "^n:ds[4U",
		want: "8jKS'y:G*Co,Wxa-",
	},
	{
		// Draft-76 section 1.3, the worked example of the challenge:
		// 1868545188 / 12 and 1733470270 / 10.
		name: "draft-76 worked example",
		key1: "18x 6]8vM;54 *(5:  {   U1]8  z [  8", n1: 155712099,
		key2: "1_ tx7X d  <  nw  334J702) 7]o}` 0", n2: 173347027,
		key3: "Tm[K T2u",
		want: "fQJ,fN/4F4!~K~MH",
	},
	{
		// Vectors shared by the test suites of several hixie-76
		// servers; the second has key3 and answer outside ASCII.
		name: "3626341780 / 4",
		key1: "3e6b263  4 17 80", n1: 906585445,
		key2: "17  9 G`ZD9   2 2b 7X 3 /r90", n2: 179922739,
		key3: "WjN}|M(6",
		want: "n`9eBk9z$R8pOtVb",
	},
	{
		name: "binary key3",
		key1: "30  ;- 5=5 u 4 1  7336", n1: 381927167,
		key2: ":2 8 G(  07A 93Ql 3 *20 Ox0G'w", n2: 350991650,
		key3: "\x5d\x9f\xb0\x67\x0f\xe4\xfa\x75",
		want: "\xb6\xbc\x2a\x9e\xa0\x0c\x1c\xb9\x0f\xad\xdc\x97\x90\x60\x17\xa8",
	},
}

func TestChallengeVectors(t *testing.T) {
	for _, v := range challengeVectors {
		t.Run(v.name, func(t *testing.T) {
			n1, err := ParseKey(v.key1)
			if err != nil || n1 != v.n1 {
				t.Errorf("ParseKey(%q) = %d, %v; want %d", v.key1, n1, err, v.n1)
			}
			n2, err := ParseKey(v.key2)
			if err != nil || n2 != v.n2 {
				t.Errorf("ParseKey(%q) = %d, %v; want %d", v.key2, n2, err, v.n2)
			}
			got := Challenge(n1, n2, [8]byte([]byte(v.key3)))
			if string(got[:]) != v.want {
				t.Errorf("Challenge = %q; want %q", got[:], v.want)
			}
		})
	}
}

// The whole response of the draft-76 handshake, byte for byte.
func TestAppendResponse76(t *testing.T) {
	const want = "HTTP/1.1 101 WebSocket Protocol Handshake\r\n" +
		"Upgrade: WebSocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Origin: http://example.com\r\n" +
		"Sec-WebSocket-Location: ws://example.com/demo\r\n" +
		"Sec-WebSocket-Protocol: sample\r\n" +
		"\r\n" +
		"8jKS'y:G*Co,Wxa-"

	h := http.Header{}
	h.Set("Sec-WebSocket-Key1", "4 @1  46546xW%0l 1 5")
	h.Set("Sec-WebSocket-Key2", "12998 5 Y3 1  .P00")
	k1, k2, err := ParseKeys(h)
	if err != nil {
		t.Fatal(err)
	}
	key3, err := ReadKey3(strings.NewReader("^n:ds[4U"))
	if err != nil {
		t.Fatal(err)
	}
	loc := Location(false, "example.com", "/demo")
	prefix := []byte("kept")
	got, err := AppendResponse76(prefix, "http://example.com", loc, "sample", Challenge(k1, k2, key3), nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "kept"+want {
		t.Errorf("got\n%q\nwant\n%q", got, "kept"+want)
	}

	// The header alone is the response without its last 16 bytes.
	head, err := AppendResponse76Header(nil, "http://example.com", loc, "sample", nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(head) != want[:len(want)-16] {
		t.Errorf("header\n%q\nwant\n%q", head, want[:len(want)-16])
	}

	// No protocol, no protocol field.
	got, _ = AppendResponse76(nil, "http://example.com", "wss://example.com:8443/demo?x=1", "", Challenge(k1, k2, key3), nil)
	const wantNoProto = "HTTP/1.1 101 WebSocket Protocol Handshake\r\n" +
		"Upgrade: WebSocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Origin: http://example.com\r\n" +
		"Sec-WebSocket-Location: wss://example.com:8443/demo?x=1\r\n" +
		"\r\n" +
		"8jKS'y:G*Co,Wxa-"
	if string(got) != wantNoProto {
		t.Errorf("got\n%q\nwant\n%q", got, wantNoProto)
	}
}

// The draft-75 response, byte for byte; its first 85 bytes are the ones
// draft-75 clients compare verbatim.
func TestAppendResponse75(t *testing.T) {
	const prefix85 = "HTTP/1.1 101 Web Socket Protocol Handshake\r\n" +
		"Upgrade: WebSocket\r\n" +
		"Connection: Upgrade\r\n"
	if len(prefix85) != 85 {
		t.Fatalf("prefix is %d bytes", len(prefix85))
	}
	for _, tt := range []struct {
		protocol, want string
	}{
		{"", prefix85 +
			"WebSocket-Origin: http://example.com\r\n" +
			"WebSocket-Location: ws://example.com/demo\r\n" +
			"\r\n"},
		{"sample", prefix85 +
			"WebSocket-Origin: http://example.com\r\n" +
			"WebSocket-Location: ws://example.com/demo\r\n" +
			"WebSocket-Protocol: sample\r\n" +
			"\r\n"},
	} {
		got, err := AppendResponse75(nil, "http://example.com", Location(false, "example.com", "/demo"), tt.protocol, nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("protocol %q: got\n%q\nwant\n%q", tt.protocol, got, tt.want)
		}
	}
}

func TestAppendResponseRejectsControlCharacters(t *testing.T) {
	for _, bad := range []struct{ origin, location, protocol string }{
		{"http://a\r\nSet-Cookie: x=1", "ws://a/", ""},
		{"http://a", "ws://a/\n", ""},
		{"http://a", "ws://a/", "chat\rx"},
		{"http://a", "ws://a/", "chat\x00"},
		{"http://a\x7f", "ws://a/", ""},
		{"http://a", "ws://a/\x1b", ""},
	} {
		dst := []byte("dst")
		for name, f := range map[string]func() ([]byte, error){
			"76": func() ([]byte, error) {
				return AppendResponse76(dst, bad.origin, bad.location, bad.protocol, [16]byte{}, nil)
			},
			"76 header": func() ([]byte, error) {
				return AppendResponse76Header(dst, bad.origin, bad.location, bad.protocol, nil)
			},
			"75": func() ([]byte, error) {
				return AppendResponse75(dst, bad.origin, bad.location, bad.protocol, nil)
			},
		} {
			got, err := f()
			if !errors.Is(err, ErrHeaderValue) {
				t.Errorf("%s %q: err = %v; want ErrHeaderValue", name, bad, err)
			}
			if string(got) != "dst" {
				t.Errorf("%s %q: dst changed to %q", name, bad, got)
			}
		}
	}
	// HTAB and bytes above 0x7F are allowed.
	if _, err := AppendResponse75(nil, "http://a\tb", "ws://\xc3\xa9/", "p", nil); err != nil {
		t.Errorf("HTAB, UTF-8: %v", err)
	}
}

func TestAppendResponseExtraFields(t *testing.T) {
	extra := http.Header{
		"Set-Cookie":    {"a=1", "b=2"},
		"X-Served-By":   {"lariat"},
		"Cache-Control": {"no-store"},
	}
	const fields = "Cache-Control: no-store\r\n" +
		"Set-Cookie: a=1\r\n" +
		"Set-Cookie: b=2\r\n" +
		"X-Served-By: lariat\r\n" +
		"\r\n"
	got, err := AppendResponse75(nil, "http://example.com", "ws://example.com/", "", extra)
	if err != nil {
		t.Fatal(err)
	}
	want := "HTTP/1.1 101 Web Socket Protocol Handshake\r\n" +
		"Upgrade: WebSocket\r\n" +
		"Connection: Upgrade\r\n" +
		"WebSocket-Origin: http://example.com\r\n" +
		"WebSocket-Location: ws://example.com/\r\n" + fields
	if string(got) != want {
		t.Errorf("75: got\n%q\nwant\n%q", got, want)
	}
	got, err = AppendResponse76(nil, "http://example.com", "ws://example.com/", "chat", [16]byte{'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'}, extra)
	if err != nil {
		t.Fatal(err)
	}
	want = "HTTP/1.1 101 WebSocket Protocol Handshake\r\n" +
		"Upgrade: WebSocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Origin: http://example.com\r\n" +
		"Sec-WebSocket-Location: ws://example.com/\r\n" +
		"Sec-WebSocket-Protocol: chat\r\n" + fields + "0123456789abcdef"
	if string(got) != want {
		t.Errorf("76: got\n%q\nwant\n%q", got, want)
	}

	for _, bad := range []http.Header{
		{"upgrade": {"h2c"}},
		{"Connection": {"close"}},
		{"Sec-WebSocket-Origin": {"http://evil"}},
		{"sec-websocket-location": {"ws://evil/"}},
		{"Sec-Websocket-Protocol": {"x"}},
		{"WebSocket-Origin": {"http://evil"}},
		{"Websocket-Location": {"ws://evil/"}},
		{"WEBSOCKET-PROTOCOL": {"x"}},
		{"Bad Name": {"x"}},
		{"Bad:Name": {"x"}},
		{"": {"x"}},
		{"X-Ok": {"fine", "split\r\nSet-Cookie: evil=1"}},
		{"X-Ok": {"\x00"}},
	} {
		got, err := AppendResponse76Header([]byte("dst"), "http://a", "ws://a/", "", bad)
		if !errors.Is(err, ErrHeaderValue) || string(got) != "dst" {
			t.Errorf("extra %q: %q, %v; want dst unchanged and ErrHeaderValue", bad, got, err)
		}
		if _, err := AppendResponse75(nil, "http://a", "ws://a/", "", bad); !errors.Is(err, ErrHeaderValue) {
			t.Errorf("75, extra %q: %v; want ErrHeaderValue", bad, err)
		}
	}
}

func TestParseKey(t *testing.T) {
	for _, tt := range []struct {
		key  string
		want uint32
	}{
		{"1 ", 1},
		{"0 ", 0},
		{"0000000000000000000000000000000000042 ", 42}, // leading zeros never overflow
		{"4294967295 ", 4294967295},
		{"4294967294  ", 2147483647},
		{"4 29 49 67 29 5", 858993459}, // 4294967295 / 5
		{"x1\t2 y", 12},                // a tab is not a space
		{"\u0661 7", 7},                // only ASCII digits count
	} {
		got, err := ParseKey(tt.key)
		if err != nil || got != tt.want {
			t.Errorf("ParseKey(%q) = %d, %v; want %d", tt.key, got, err, tt.want)
		}
	}
}

func TestParseKeyErrors(t *testing.T) {
	for _, tt := range []struct {
		key, why string
	}{
		{"", "has no digits"},
		{"   ", "has no digits"},
		{"abc def", "has no digits"},
		{"12345", "has no spaces"},
		{"1\t2\t3", "has no spaces"},
		{"1  ", "not a multiple"},
		{"7 3 ", "not a multiple"}, // 73 / 2
		{"4294967296 ", "exceeds 32 bits"},
		{"99999999999999999999999999 ", "exceeds 32 bits"},
		{"42949672950  ", "exceeds 32 bits"}, // even though / 10 would fit
	} {
		got, err := ParseKey(tt.key)
		if !errors.Is(err, ErrKey) || got != 0 {
			t.Errorf("ParseKey(%q) = %d, %v; want ErrKey", tt.key, got, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.why) || !strings.HasPrefix(err.Error(), "hixie: ") {
			t.Errorf("ParseKey(%q): error %q does not say %q", tt.key, err, tt.why)
		}
	}
}

func TestParseKeysErrors(t *testing.T) {
	mk := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	for _, tt := range []struct {
		h    http.Header
		want string
	}{
		{mk("Sec-WebSocket-Key2", "1 "), "Sec-WebSocket-Key1 is missing"},
		{mk("Sec-WebSocket-Key1", "1 "), "Sec-WebSocket-Key2 is missing"},
		{mk("Sec-WebSocket-Key1", "1 ", "Sec-WebSocket-Key1", "1 ", "Sec-WebSocket-Key2", "1 "), "Sec-WebSocket-Key1 appears 2 times"},
		{mk("Sec-WebSocket-Key1", "1 ", "Sec-WebSocket-Key2", "12"), "Sec-WebSocket-Key2 has no spaces"},
	} {
		_, _, err := ParseKeys(tt.h)
		if !errors.Is(err, ErrKey) || err.Error() != "hixie: bad handshake key: "+tt.want {
			t.Errorf("ParseKeys(%v) = %v; want ErrKey saying %q", tt.h, err, tt.want)
		}
	}
}

func TestReadKey3(t *testing.T) {
	// Part of key3 in the hijacked bufio.Reader, the rest on the wire.
	br := bufio.NewReaderSize(io.MultiReader(strings.NewReader("^n:d"), iotest.OneByteReader(strings.NewReader("s[4Uframes"))), 16)
	if _, err := br.Peek(4); err != nil {
		t.Fatal(err)
	}
	key3, err := ReadKey3(br)
	if err != nil || string(key3[:]) != "^n:ds[4U" {
		t.Fatalf("ReadKey3 = %q, %v", key3[:], err)
	}
	rest, _ := io.ReadAll(br)
	if string(rest) != "frames" {
		t.Errorf("ReadKey3 read past key3: left %q", rest)
	}

	for _, tt := range []struct {
		r    io.Reader
		want error
	}{
		{strings.NewReader(""), io.EOF},
		{strings.NewReader("1234567"), io.ErrUnexpectedEOF},
		{iotest.TimeoutReader(iotest.OneByteReader(strings.NewReader("12345678"))), iotest.ErrTimeout},
	} {
		_, err := ReadKey3(tt.r)
		if !errors.Is(err, ErrKey) || !errors.Is(err, tt.want) {
			t.Errorf("ReadKey3: err = %v; want ErrKey and %v", err, tt.want)
		}
	}
}

func TestLocation(t *testing.T) {
	for _, tt := range []struct {
		tls       bool
		host, uri string
		want      string
	}{
		{false, "example.com", "/demo", "ws://example.com/demo"},
		{true, "example.com", "/demo", "wss://example.com/demo"},
		{false, "example.com:8080", "/a/b?c=d&e", "ws://example.com:8080/a/b?c=d&e"},
		{true, "[::1]:443", "", "wss://[::1]:443/"},
	} {
		if got := Location(tt.tls, tt.host, tt.uri); got != tt.want {
			t.Errorf("Location(%v, %q, %q) = %q; want %q", tt.tls, tt.host, tt.uri, got, tt.want)
		}
	}
}

func TestDetect(t *testing.T) {
	mk := func(names ...string) http.Header {
		h := http.Header{}
		for _, n := range names {
			h.Set(n, "x")
		}
		return h
	}
	for _, tt := range []struct {
		h    http.Header
		is76 bool
		is75 bool
	}{
		{mk("Sec-WebSocket-Key1", "Sec-WebSocket-Key2"), true, false},
		{mk("sec-websocket-key1", "SEC-WEBSOCKET-KEY2", "Sec-WebSocket-Protocol"), true, false},
		{mk(), false, true},
		{mk("WebSocket-Protocol", "Origin"), false, true},
		{mk("Sec-WebSocket-Key1"), false, false},
		{mk("Sec-WebSocket-Key2"), false, false},
		{mk("Sec-WebSocket-Key", "Sec-WebSocket-Version"), false, false},
		{mk("Sec-WebSocket-Key"), false, false},
		{mk("Sec-WebSocket-Key1", "Sec-WebSocket-Key2", "Sec-WebSocket-Version"), false, false},
	} {
		if got := IsHixie76(tt.h); got != tt.is76 {
			t.Errorf("IsHixie76(%v) = %v", tt.h, got)
		}
		if got := IsHixie75(tt.h); got != tt.is75 {
			t.Errorf("IsHixie75(%v) = %v", tt.h, got)
		}
	}
}

func TestHandshakeAllocs(t *testing.T) {
	buf := make([]byte, 0, 512)
	var sink [16]byte
	allocs := testing.AllocsPerRun(100, func() {
		k1, _ := ParseKey("4 @1  46546xW%0l 1 5")
		k2, _ := ParseKey("12998 5 Y3 1  .P00")
		sink = Challenge(k1, k2, [8]byte{'^', 'n', ':', 'd', 's', '[', '4', 'U'})
		buf, _ = AppendResponse76(buf[:0], "http://example.com", "ws://example.com/demo", "sample", sink, nil)
		buf, _ = AppendResponse75(buf[:0], "http://example.com", "ws://example.com/demo", "sample", nil)
	})
	if allocs != 0 {
		t.Errorf("ParseKey, Challenge, AppendResponse: %v allocations; want 0", allocs)
	}
}
