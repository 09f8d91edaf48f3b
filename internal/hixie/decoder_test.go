package hixie

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// outcome is what a Decoder made of a whole stream, independent of how the
// stream was cut: one entry per complete message ("text:" and its payload)
// and per closing frame ("close"), then the payload of a message the stream
// ended in ("partial:"), the error, and the bytes consumed in all.
type outcome struct {
	events   []string
	err      error
	consumed int
}

func (o outcome) String() string {
	return fmt.Sprintf("events %q, err %v, consumed %d", o.events, o.err, o.consumed)
}

// feed runs d over pieces, the way a read loop does, checks the contract
// of every Decode call, and returns the outcome.
func feed(t testing.TB, d *Decoder, pieces [][]byte) outcome {
	t.Helper()
	var o outcome
	var msg []byte
	max := d.limit()
	finish := func() outcome {
		if len(msg) > 0 {
			o.events = append(o.events, "partial:"+string(msg))
		}
		return o
	}
	for _, p := range pieces {
		for {
			n, ev, data, err := d.Decode(p)
			if n < 0 || n > len(p) {
				t.Fatalf("Decode(%q) consumed %d bytes", p, n)
			}
			if err == nil && ev == EventNone && n != len(p) {
				t.Fatalf("Decode(%q) = %d, EventNone: must consume all", p, n)
			}
			if len(data) > 0 && (cap(data) != len(data) || !within(data, p[:n])) {
				t.Fatalf("Decode(%q): data %q is not a capped slice of the consumed input", p, data)
			}
			if (ev != EventText && ev != EventTextEnd && data != nil) || (ev == EventText && len(data) == 0) {
				t.Fatalf("Decode(%q) = %v with data %q", p, ev, data)
			}
			o.consumed += n
			p = p[n:]
			switch ev {
			case EventText:
				msg = append(msg, data...)
			case EventTextEnd:
				msg = append(msg, data...)
				o.events = append(o.events, "text:"+string(msg))
				msg = msg[:0]
			case EventClose:
				o.events = append(o.events, "close")
			}
			if int64(len(msg)) > max {
				t.Fatalf("message of %d bytes passed MaxMessage %d", len(msg), max)
			}
			if err != nil {
				if ev != EventNone {
					t.Fatalf("Decode returned %v with error %v", ev, err)
				}
				o.err = err
				// Errors are final.
				if n, ev, _, err2 := d.Decode([]byte("\x00ok\xff")); n != 0 || ev != EventNone || err2 != err {
					t.Fatalf("after error %v: Decode = %d, %v, %v", err, n, ev, err2)
				}
				return finish()
			}
			if ev == EventNone {
				break
			}
		}
	}
	return finish()
}

// within reports whether sub lies inside p's memory.
func within(sub, p []byte) bool {
	if len(p) == 0 {
		return false
	}
	for i := range p {
		if &p[i] == &sub[0] {
			return i+len(sub) <= len(p)
		}
	}
	return false
}

func readAllPieces(t testing.TB, r io.Reader) [][]byte {
	t.Helper()
	var pieces [][]byte
	for {
		buf := make([]byte, 64)
		n, err := r.Read(buf)
		if n > 0 {
			pieces = append(pieces, buf[:n])
		}
		if err == io.EOF {
			return pieces
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

var decoderTests = []struct {
	name    string
	in      string
	max     int64
	events  []string
	err     error // sentinel
	consume int   // -1: all
}{
	{name: "empty", in: "", consume: -1},
	{name: "empty text", in: "\x00\xff", events: []string{"text:"}, consume: -1},
	{name: "text", in: "\x00Hello\xff", events: []string{"text:Hello"}, consume: -1},
	{name: "two texts", in: "\x00a\xff\x00bc\xff", events: []string{"text:a", "text:bc"}, consume: -1},
	{name: "utf-8 text", in: "\x00h\xc3\xa9llo \xf0\x9f\x8c\x8d\xff", events: []string{"text:h\xc3\xa9llo \xf0\x9f\x8c\x8d"}, consume: -1},
	{name: "NUL in text", in: "\x00a\x00b\xff", events: []string{"text:a\x00b"}, consume: -1},
	{name: "unfinished text", in: "\x00Hel", events: []string{"partial:Hel"}, consume: -1},
	{name: "type byte only", in: "\x00", consume: -1},
	{name: "close", in: "\xff\x00", events: []string{"close"}, consume: -1},
	{name: "text then close", in: "\x00bye\xff\xff\x00", events: []string{"text:bye", "close"}, consume: -1},
	{name: "close then data", in: "\xff\x00\x00x\xff", events: []string{"close"}, err: ErrFrame, consume: 2},
	{name: "close with non-minimal length", in: "\xff\x80\x80\x00", events: []string{"close"}, consume: -1},

	// Frames that carry no message are skipped.
	{name: "binary", in: "\x80\x03abc\x00ok\xff", events: []string{"text:ok"}, consume: -1},
	{name: "binary 0xFF payload", in: "\x81\x02\xff\xff\x00ok\xff", events: []string{"text:ok"}, consume: -1},
	{name: "empty binary", in: "\x80\x00\x00ok\xff", events: []string{"text:ok"}, consume: -1},
	{name: "binary two-byte length", in: "\xfe\x81\x00" + strings.Repeat("\xffz", 64) + "\x00ok\xff", events: []string{"text:ok"}, consume: -1},
	{name: "0xFF with length", in: "\xff\x01\x00\x00ok\xff", events: []string{"text:ok"}, consume: -1},
	{name: "unfinished binary", in: "\x80\x05ab", consume: -1},
	{name: "unfinished length", in: "\x80\x85", consume: -1},
	{name: "text type 0x01", in: "\x01junk\xff\x00ok\xff", events: []string{"text:ok"}, consume: -1},
	{name: "text type 0x7F", in: "\x7f\xff\x7fjunk", consume: -1},
	{name: "length prefix of 10 bytes", in: "\x80" + strings.Repeat("\x80", 9) + "\x00\x00ok\xff", events: []string{"text:ok"}, consume: -1},
	{name: "length prefix of 11 bytes", in: "\x80" + strings.Repeat("\x80", 10) + "\x00", err: ErrFrame, consume: 11},

	// Limits.
	{name: "text at limit", max: 5, in: "\x00Hello\xff\x00!\xff", events: []string{"text:Hello", "text:!"}, consume: -1},
	{name: "text past limit", max: 5, in: "\x00Hello!\xff", events: []string{"partial:Hello"}, err: ErrTooBig, consume: 6},
	{name: "text past limit, unfinished", max: 5, in: "\x00Hello!", events: []string{"partial:Hello"}, err: ErrTooBig, consume: 6},
	{name: "text past limit of 1", max: 1, in: "\x00ab", events: []string{"partial:a"}, err: ErrTooBig, consume: 2},
	{name: "binary at limit", max: 5, in: "\x80\x05abcde\x00x\xff", events: []string{"text:x"}, consume: -1},
	{name: "binary past limit", max: 5, in: "\x80\x06abcdef", err: ErrTooBig, consume: 1},
	{name: "binary past limit, long prefix", max: 200, in: "\x80\x81\x80\x00", err: ErrTooBig, consume: 3},
	{name: "binary past default limit", in: "\x80\xc0\x80\x01", err: ErrTooBig, consume: 3},
	{name: "binary at default limit", in: "\x80\xc0\x80\x00", consume: -1},
	{name: "discarded text at limit", max: 5, in: "\x01Hello\xff\x00x\xff", events: []string{"text:x"}, consume: -1},
	{name: "discarded text past limit", max: 5, in: "\x01Hello!\xff", err: ErrTooBig, consume: 6},
	{name: "length of 2^63-1", max: math.MaxInt64, in: "\x80" + strings.Repeat("\xff", 8) + "\x7f", consume: -1},
	{name: "length past 2^63-1", max: math.MaxInt64, in: "\x80" + strings.Repeat("\xff", 9) + "\x7f", err: ErrTooBig, consume: 10},
	{name: "length past 64 bits", max: math.MaxInt64, in: "\x80\x81" + strings.Repeat("\xff", 8) + "\x7f", err: ErrTooBig, consume: 10},
}

// splitters cut a stream into the pieces a read loop could see.
var splitters = []struct {
	name  string
	split func(t testing.TB, in []byte) [][]byte
}{
	{"whole", func(_ testing.TB, in []byte) [][]byte { return [][]byte{in} }},
	{"OneByteReader", func(t testing.TB, in []byte) [][]byte {
		return readAllPieces(t, iotest.OneByteReader(bytes.NewReader(in)))
	}},
	{"HalfReader", func(t testing.TB, in []byte) [][]byte {
		return readAllPieces(t, iotest.HalfReader(bytes.NewReader(in)))
	}},
	{"DataErrReader", func(t testing.TB, in []byte) [][]byte {
		return readAllPieces(t, iotest.DataErrReader(bytes.NewReader(in)))
	}},
}

func TestDecoder(t *testing.T) {
	for _, tt := range decoderTests {
		t.Run(tt.name, func(t *testing.T) {
			want := outcome{events: tt.events, consumed: tt.consume}
			if tt.consume < 0 {
				want.consumed = len(tt.in)
			}
			check := func(how string, got outcome) {
				t.Helper()
				if !slices.Equal(got.events, want.events) || got.consumed != want.consumed ||
					(tt.err == nil) != (got.err == nil) || (tt.err != nil && !errors.Is(got.err, tt.err)) {
					t.Errorf("%s:\ngot  %v\nwant %v", how, got, outcome{want.events, tt.err, want.consumed})
				}
				if got.err != nil && !strings.HasPrefix(got.err.Error(), "hixie: ") {
					t.Errorf("%s: error %q lacks the package prefix", how, got.err)
				}
			}
			for _, s := range splitters {
				d := &Decoder{MaxMessage: tt.max}
				check(s.name, feed(t, d, s.split(t, []byte(tt.in))))
			}
			// Every split point, and a copy of each piece so that
			// aliasing mistakes show.
			for i := 0; i <= len(tt.in); i++ {
				d := &Decoder{MaxMessage: tt.max}
				a, b := []byte(tt.in[:i]), []byte(tt.in[i:])
				check(fmt.Sprintf("split at %d", i), feed(t, d, [][]byte{a, b}))
			}
		})
	}
}

// The events of one whole feed, exactly: one event per call, in order.
func TestDecoderEvents(t *testing.T) {
	type call struct {
		n    int
		ev   Event
		data string
	}
	for _, tt := range []struct {
		in    string
		max   int64
		calls []call
	}{
		{"\x00Hello\xff", 0, []call{{7, EventTextEnd, "Hello"}, {0, EventNone, ""}}},
		{"\x00Hel", 0, []call{{4, EventText, "Hel"}}},
		{"\x00\xff\xff\x00", 0, []call{{2, EventTextEnd, ""}, {2, EventClose, ""}, {0, EventNone, ""}}},
		{"\x80\x01x\x01y\xff\x00z\xff", 0, []call{{9, EventTextEnd, "z"}, {0, EventNone, ""}}},
		{"\x00Hello!", 5, []call{{6, EventText, "Hello"}}}, // then ErrTooBig
	} {
		var d Decoder
		d.MaxMessage = tt.max
		p := []byte(tt.in)
		for i, want := range tt.calls {
			n, ev, data, err := d.Decode(p)
			if err != nil || n != want.n || ev != want.ev || string(data) != want.data {
				t.Errorf("%q call %d: Decode = %d, %v, %q, %v; want %d, %v, %q", tt.in, i, n, ev, data, err, want.n, want.ev, want.data)
			}
			p = p[n:]
		}
	}
}

func TestDecoderLimitLoweredMidMessage(t *testing.T) {
	d := Decoder{MaxMessage: 10}
	if _, _, _, err := d.Decode([]byte("\x00abcd\xff\x00abcdef")); err != nil {
		t.Fatal(err)
	}
	n, ev, data, err := d.Decode([]byte("\x00abcdef"))
	if n != 7 || ev != EventText || string(data) != "abcdef" || err != nil {
		t.Fatalf("Decode = %d, %v, %q, %v", n, ev, data, err)
	}
	// The message in progress is already longer than the new limit: its
	// next byte fails it, even if that byte ends it.
	d.MaxMessage = 4
	if n, ev, _, err = d.Decode([]byte("\xff")); n != 0 || ev != EventNone || !errors.Is(err, ErrTooBig) {
		t.Fatalf("after lowering the limit: Decode = %d, %v, %v; want ErrTooBig", n, ev, err)
	}
}

func TestDecoderInFrameAndReset(t *testing.T) {
	steps := []struct {
		in      string
		inFrame bool
	}{
		{"", false},
		{"\x00", true},
		{"ab\xff", false},
		{"\x80", true},
		{"\x81", true},
		{"\x00", true},
		{strings.Repeat("x", 127), true},
		{"x", false},
		{"\x01", true},
		{"\xff", false},
		{"\xff\x00", false},
	}
	d := Decoder{MaxMessage: 1000}
	for _, s := range steps {
		feed(t, &d, [][]byte{[]byte(s.in)})
		if got := d.InFrame(); got != s.inFrame {
			t.Errorf("after %q: InFrame = %v", s.in, got)
		}
	}
	// Closed; more data is an error, until Reset.
	if _, _, _, err := d.Decode([]byte("x")); !errors.Is(err, ErrFrame) {
		t.Fatalf("after close: %v", err)
	}
	d.Reset()
	if d.MaxMessage != 1000 {
		t.Errorf("Reset lost MaxMessage")
	}
	if got := feed(t, &d, [][]byte{[]byte("\x00ok\xff")}); !slices.Equal(got.events, []string{"text:ok"}) || got.err != nil {
		t.Errorf("after Reset: %v", got)
	}
}

func TestDecoderAllocs(t *testing.T) {
	stream := []byte("\x00Hello\xff\x80\x03abc\x01x\xff\x00" + strings.Repeat("w", 300) + "\xff\xff\x00")
	var d Decoder
	allocs := testing.AllocsPerRun(100, func() {
		d.Reset()
		for p := stream; ; {
			n, ev, _, err := d.Decode(p)
			if err != nil {
				panic(err)
			}
			p = p[n:]
			if ev == EventClose || len(p) == 0 {
				break
			}
		}
	})
	if allocs != 0 {
		t.Errorf("Decode: %v allocations; want 0", allocs)
	}
}

func TestEventString(t *testing.T) {
	for ev, want := range map[Event]string{
		EventNone: "EventNone", EventText: "EventText", EventTextEnd: "EventTextEnd",
		EventClose: "EventClose", Event(9): "Event(9)",
	} {
		if got := ev.String(); got != want {
			t.Errorf("Event(%d).String() = %q; want %q", uint8(ev), got, want)
		}
	}
}
