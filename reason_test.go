package lariat

import (
	"errors"
	"io"
	"testing"
)

// TestReasonText pins what a Reason says in a log line: each thing
// once, the close code only when a close frame went over the wire.
func TestReasonText(t *testing.T) {
	for _, tt := range []struct {
		r    Reason
		want string
	}{
		{Reason{Kind: ReasonTooBig, Code: 1009, Text: "message too big"}, "lariat: message too big (close 1009)"},
		{Reason{Kind: ReasonRemote, Code: 1001}, "lariat: peer closed (close 1001)"},
		{Reason{Kind: ReasonRemote, Code: 4000, Text: "bye"}, `lariat: peer closed (close 4000): "bye"`},
		{Reason{Kind: ReasonRemote, Code: 1005}, "lariat: peer closed"},
		{Reason{Kind: ReasonClosed, Code: 1006, Err: io.EOF}, "lariat: connection lost: EOF"},
		{Reason{Kind: ReasonTimeout, Code: 1000, Text: "idle timeout"}, "lariat: idle timeout (close 1000)"},
		{Reason{Kind: ReasonBadFrame, Code: 1002, Text: "reserved bits set"}, "lariat: bad frame: reserved bits set (close 1002)"},
		{Reason{Kind: ReasonBadEncoding, Code: 1007, Text: "invalid UTF-8"}, "lariat: bad encoding: invalid UTF-8 (close 1007)"},
		{Reason{Kind: ReasonHandlerError, Code: 1011, Text: "internal error", Err: errors.New("db down")}, "lariat: handler error: internal error (close 1011): db down"},
		{Reason{Kind: ReasonCrash, Code: 1011, Text: "internal error", Err: &PanicError{Value: "boom"}}, "lariat: crashed: internal error (close 1011): panic: boom"},
		{Reason{Kind: ReasonStop, Code: 1000}, "lariat: stopped (close 1000)"},
		{Reason{Kind: ReasonShutdown, Code: 1001, Text: "going away"}, "lariat: server shutting down: going away (close 1001)"},
		{Reason{Kind: ReasonShutdown, Code: 1006}, "lariat: server shutting down"},
		{Reason{Kind: ReasonTimeout, Code: 1006, Text: "write timeout", Err: errors.New("i/o timeout")}, "lariat: write timeout: i/o timeout"},
		{Reason{}, "lariat: ReasonKind(0)"},
	} {
		if got := tt.r.Error(); got != tt.want {
			t.Errorf("%+v:\n got %s\nwant %s", tt.r, got, tt.want)
		}
	}
}
