package lariat

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
)

func TestParseClose(t *testing.T) {
	code := func(c uint16, reason string) []byte { return append([]byte{byte(c >> 8), byte(c)}, reason...) }
	tests := []struct {
		name    string
		payload []byte
		code    StatusCode
		reason  string
		err     error
	}{
		{"empty", nil, StatusNoStatusRcvd, "", nil},
		{"one byte", []byte{0x03}, 0, "", errClosePayload1},
		{"1000", code(1000, ""), 1000, "", nil},
		{"1000 with reason", code(1000, "bye"), 1000, "bye", nil},
		{"123-byte reason", code(1001, strings.Repeat("r", 123)), 1001, strings.Repeat("r", 123), nil},
		{"invalid UTF-8 reason", code(1000, "\xce\xba\xed\xa0\x80"), 1000, "", errCloseText},
		{"0", code(0, ""), 0, "", errCloseCode},
		{"999", code(999, ""), 999, "", errCloseCode},
		{"1004", code(1004, ""), 1004, "", errCloseCode},
		{"1005", code(1005, ""), 1005, "", errCloseCode},
		{"1006", code(1006, ""), 1006, "", errCloseCode},
		{"1015", code(1015, ""), 1015, "", errCloseCode},
		{"1016", code(1016, ""), 1016, "", errCloseCode},
		{"2999", code(2999, ""), 2999, "", errCloseCode},
		{"5000", code(5000, ""), 5000, "", errCloseCode},
		{"65535", code(65535, ""), 65535, "", errCloseCode},
	}
	for _, c := range []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		tests = append(tests, struct {
			name    string
			payload []byte
			code    StatusCode
			reason  string
			err     error
		}{fmt.Sprint("valid ", c), code(c, "x"), StatusCode(c), "x", nil})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, reason, err := parseClose(tt.payload)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err == nil && (c != tt.code || reason != tt.reason) {
				t.Fatalf("got %v %q, want %v %q", c, reason, tt.code, tt.reason)
			}
		})
	}
}

func TestAppendClose(t *testing.T) {
	if got := appendClose(nil, 1000, "bye"); string(got) != "\x03\xe8bye" {
		t.Fatalf("% x", got)
	}
	if got := appendClose(nil, StatusNoStatusRcvd, "x"); len(got) != 0 {
		t.Fatalf("no-status close has payload % x", got)
	}
	// A long reason is cut to fit 125 bytes without splitting a character.
	long := strings.Repeat("é", 100)
	got := appendClose(nil, 1000, long)
	if len(got) > maxControlPayload || !validUTF8(got[2:]) {
		t.Fatalf("cut reason: %d bytes, valid %v", len(got), validUTF8(got[2:]))
	}
}

func TestErrors(t *testing.T) {
	if !errors.Is(ErrClosed, net.ErrClosed) {
		t.Error("ErrClosed does not match net.ErrClosed")
	}
	r := Reason{Kind: ReasonRemote, Code: StatusGoingAway, Text: "bye"}
	var got Reason
	if !errors.As(fmt.Errorf("wrapped: %w", r), &got) || got.Code != StatusGoingAway {
		t.Errorf("errors.As to a Reason failed: %v", got)
	}
	pe := &PanicError{Value: net.ErrClosed}
	if !errors.Is(Reason{Kind: ReasonCrash, Err: pe}, net.ErrClosed) {
		t.Error("panic value not reachable with errors.Is")
	}
	for k := ReasonHandshake; k <= ReasonShutdown; k++ {
		if strings.HasPrefix(k.String(), "ReasonKind(") {
			t.Errorf("kind %d has no name", k)
		}
	}
	if s := StatusCode(1009).String(); s != "1009 message too big" {
		t.Errorf("String = %q", s)
	}
}

func FuzzParseClose(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3})
	f.Add([]byte{3, 0xe8, 'o', 'k'})
	f.Add([]byte{3, 0xe8, 0xed, 0xa0, 0x80})
	f.Add([]byte{0x0f, 0xa0})
	f.Fuzz(func(t *testing.T, p []byte) {
		code, reason, err := parseClose(p)
		if err != nil {
			return
		}
		if len(p) == 0 {
			if code != StatusNoStatusRcvd {
				t.Fatal("empty payload gave a code")
			}
			return
		}
		if !code.sendable() || !validUTF8([]byte(reason)) {
			t.Fatalf("accepted %v %q", code, reason)
		}
		if got := appendClose(nil, code, reason); len(p) <= maxControlPayload && string(got) != string(p) {
			t.Fatalf("round trip % x, want % x", got, p)
		}
	})
}
