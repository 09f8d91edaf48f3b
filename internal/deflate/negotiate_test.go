package deflate

import (
	"strings"
	"testing"
)

// want describes the accepted parameters compactly: kind, server and
// client no_context_takeover, server and client window bits.
type want struct {
	kind                     Kind
	serverNoCtx, clientNoCtx bool
	serverBits, clientBits   int
}

func (w want) params(cfg Config) Params {
	cfg = cfg.normalize()
	return Params{
		Kind:                    w.kind,
		ServerNoContextTakeover: w.serverNoCtx,
		ClientNoContextTakeover: w.clientNoCtx,
		ServerMaxWindowBits:     w.serverBits,
		ClientMaxWindowBits:     w.clientBits,
		Level:                   cfg.Level,
		MinSize:                 cfg.MinSize,
	}
}

var pmd = want{kind: PerMessage, serverBits: 15, clientBits: 15}

func (w want) with(f func(*want)) want { f(&w); return w }

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		offers []string
		resp   string // "" means declined
		want   want
	}{
		// Plain offers.
		{"bare", Config{}, []string{"permessage-deflate"}, "permessage-deflate", pmd},
		{"client_max_window_bits without value, default config", Config{}, []string{"permessage-deflate; client_max_window_bits"},
			"permessage-deflate; client_max_window_bits=13", pmd.with(func(w *want) { w.clientBits = 13 })},
		{"client_max_window_bits=10 is not raised to the default", Config{}, []string{"permessage-deflate; client_max_window_bits=10"},
			"permessage-deflate; client_max_window_bits=10", pmd.with(func(w *want) { w.clientBits = 10 })},
		{"client_max_window_bits=10", Config{}, []string{"permessage-deflate; client_max_window_bits=10"},
			"permessage-deflate; client_max_window_bits=10", pmd.with(func(w *want) { w.clientBits = 10 })},
		{"server_max_window_bits=10", Config{}, []string{"permessage-deflate; server_max_window_bits=10"},
			"permessage-deflate; server_max_window_bits=10", pmd.with(func(w *want) { w.serverBits = 10 })},
		{"server_max_window_bits=8 is honoured", Config{}, []string{"permessage-deflate; server_max_window_bits=8"},
			"permessage-deflate; server_max_window_bits=8", pmd.with(func(w *want) { w.serverBits = 8 })},
		{"server_max_window_bits=15", Config{}, []string{"permessage-deflate; server_max_window_bits=15"},
			"permessage-deflate; server_max_window_bits=15", pmd},
		{"both no_context_takeover", Config{}, []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
			pmd.with(func(w *want) { w.serverNoCtx, w.clientNoCtx = true, true })},
		{"every parameter", Config{}, []string{"permessage-deflate; client_max_window_bits=9; server_max_window_bits=12; client_no_context_takeover; server_no_context_takeover"},
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=9",
			want{PerMessage, true, true, 12, 9}},
		{"chrome's offer", Config{}, []string{"permessage-deflate; client_max_window_bits"},
			"permessage-deflate; client_max_window_bits=13", pmd.with(func(w *want) { w.clientBits = 13 })},
		{"chrome's offer, 15 bits configured", Config{ClientMaxWindowBits: 15}, []string{"permessage-deflate; client_max_window_bits"}, "permessage-deflate", pmd},

		// Syntax: case, quotes, whitespace, empty elements.
		{"tokens are case-insensitive", Config{}, []string{"PerMessage-Deflate; Server_Max_Window_Bits=11; CLIENT_NO_CONTEXT_TAKEOVER"},
			"permessage-deflate; client_no_context_takeover; server_max_window_bits=11",
			pmd.with(func(w *want) { w.clientNoCtx, w.serverBits = true, 11 })},
		{"quoted value", Config{}, []string{`permessage-deflate; server_max_window_bits="12"`},
			"permessage-deflate; server_max_window_bits=12", pmd.with(func(w *want) { w.serverBits = 12 })},
		{"quoted value with quoted-pair", Config{}, []string{`permessage-deflate; client_max_window_bits="1\2"`},
			"permessage-deflate; client_max_window_bits=12", pmd.with(func(w *want) { w.clientBits = 12 })},
		{"whitespace everywhere", Config{}, []string{" \tpermessage-deflate ;server_max_window_bits = 12 ;\tclient_max_window_bits\t, "},
			"permessage-deflate; server_max_window_bits=12; client_max_window_bits=13", pmd.with(func(w *want) { w.serverBits, w.clientBits = 12, 13 })},
		{"empty list elements", Config{}, []string{",, ,permessage-deflate,,"}, "permessage-deflate", pmd},

		// Declined offers, and the next one tried.
		{"unknown parameter", Config{}, []string{"permessage-deflate; foo"}, "", want{}},
		{"unknown parameter with value", Config{}, []string{"permessage-deflate; mux=1"}, "", want{}},
		{"duplicate parameter", Config{}, []string{"permessage-deflate; server_no_context_takeover; server_no_context_takeover"}, "", want{}},
		{"duplicate in another case", Config{}, []string{"permessage-deflate; client_max_window_bits; CLIENT_MAX_WINDOW_BITS=9"}, "", want{}},
		{"server_max_window_bits without value", Config{}, []string{"permessage-deflate; server_max_window_bits"}, "", want{}},
		{"server_max_window_bits=7", Config{}, []string{"permessage-deflate; server_max_window_bits=7"}, "", want{}},
		{"server_max_window_bits=16", Config{}, []string{"permessage-deflate; server_max_window_bits=16"}, "", want{}},
		{"leading zero", Config{}, []string{"permessage-deflate; server_max_window_bits=09"}, "", want{}},
		{"sign", Config{}, []string{"permessage-deflate; server_max_window_bits=+9"}, "", want{}},
		{"client_max_window_bits=7", Config{}, []string{"permessage-deflate; client_max_window_bits=7"}, "", want{}},
		{"client_max_window_bits=", Config{}, []string{"permessage-deflate; client_max_window_bits="}, "", want{}},
		{"flag with a value", Config{}, []string{"permessage-deflate; server_no_context_takeover=1"}, "", want{}},
		{"quoted value not a token", Config{}, []string{`permessage-deflate; server_max_window_bits="1 2"`}, "", want{}},
		{"unterminated quote swallows the rest", Config{}, []string{`permessage-deflate; foo="bar, permessage-deflate`}, "", want{}},
		{"value on the extension name", Config{}, []string{"permessage-deflate=1"}, "", want{}},
		{"empty parameter", Config{}, []string{"permessage-deflate; ; client_max_window_bits"}, "", want{}},
		{"too many parameters", Config{}, []string{"permessage-deflate; a; b; c; d; e"}, "", want{}},
		{"nothing offered", Config{}, nil, "", want{}},
		{"empty header", Config{}, []string{""}, "", want{}},
		{"other extension only", Config{}, []string{"foo; bar=1"}, "", want{}},
		{"deflate-frame is not x-webkit-deflate-frame", Config{}, []string{"deflate-frame"}, "", want{}},
		{"second offer after a declined one", Config{}, []string{"permessage-deflate; foo, permessage-deflate; client_max_window_bits=9"},
			"permessage-deflate; client_max_window_bits=9", pmd.with(func(w *want) { w.clientBits = 9 })},
		{"comma inside a quoted value", Config{}, []string{`permessage-deflate; a="b,c", permessage-deflate; server_max_window_bits=9`},
			"permessage-deflate; server_max_window_bits=9", pmd.with(func(w *want) { w.serverBits = 9 })},
		{"second header line", Config{}, []string{"permessage-deflate; server_max_window_bits=16", "permessage-deflate; server_max_window_bits=11"},
			"permessage-deflate; server_max_window_bits=11", pmd.with(func(w *want) { w.serverBits = 11 })},
		{"first acceptable offer wins", Config{}, []string{"foo, permessage-deflate; client_no_context_takeover", "permessage-deflate"},
			"permessage-deflate; client_no_context_takeover", pmd.with(func(w *want) { w.clientNoCtx = true })},

		// The server's configuration shapes the answer.
		{"server refuses its own context takeover", Config{ServerNoContextTakeover: true}, []string{"permessage-deflate"},
			"permessage-deflate; server_no_context_takeover", pmd.with(func(w *want) { w.serverNoCtx = true })},
		{"server asks client_no_context_takeover", Config{ClientNoContextTakeover: true}, []string{"permessage-deflate; client_max_window_bits"},
			"permessage-deflate; client_no_context_takeover", pmd.with(func(w *want) { w.clientNoCtx = true })},
		{"server window capped", Config{ServerMaxWindowBits: 10}, []string{"permessage-deflate"},
			"permessage-deflate; server_max_window_bits=10", pmd.with(func(w *want) { w.serverBits = 10 })},
		{"server window: the smaller of offer and config", Config{ServerMaxWindowBits: 10}, []string{"permessage-deflate; server_max_window_bits=12"},
			"permessage-deflate; server_max_window_bits=10", pmd.with(func(w *want) { w.serverBits = 10 })},
		{"server window: offer below config", Config{ServerMaxWindowBits: 10}, []string{"permessage-deflate; server_max_window_bits=9"},
			"permessage-deflate; server_max_window_bits=9", pmd.with(func(w *want) { w.serverBits = 9 })},
		{"server window 8 from config", Config{ServerMaxWindowBits: 8}, []string{"permessage-deflate"},
			"permessage-deflate; server_max_window_bits=8", pmd.with(func(w *want) { w.serverBits = 8 })},
		{"client window asked when offered without value", Config{ClientMaxWindowBits: 10}, []string{"permessage-deflate; client_max_window_bits"},
			"permessage-deflate; client_max_window_bits=10", pmd.with(func(w *want) { w.clientBits = 10 })},
		{"client window lowered", Config{ClientMaxWindowBits: 10}, []string{"permessage-deflate; client_max_window_bits=12"},
			"permessage-deflate; client_max_window_bits=10", pmd.with(func(w *want) { w.clientBits = 10 })},
		{"client window already lower", Config{ClientMaxWindowBits: 10}, []string{"permessage-deflate; client_max_window_bits=9"},
			"permessage-deflate; client_max_window_bits=9", pmd.with(func(w *want) { w.clientBits = 9 })},
		{"client window 8 is asked as 9", Config{ClientMaxWindowBits: 8}, []string{"permessage-deflate; client_max_window_bits"},
			"permessage-deflate; client_max_window_bits=9", pmd.with(func(w *want) { w.clientBits = 9 })},
		{"client's own promise of 8 stands", Config{ClientMaxWindowBits: 8}, []string{"permessage-deflate; client_max_window_bits=8"},
			"permessage-deflate; client_max_window_bits=8", pmd.with(func(w *want) { w.clientBits = 8 })},
		{"client window cannot be asked: no takeover instead", Config{ClientMaxWindowBits: 10}, []string{"permessage-deflate"},
			"permessage-deflate; client_no_context_takeover", pmd.with(func(w *want) { w.clientNoCtx = true })},
		{"client_max_window_bits only when offered", Config{ClientMaxWindowBits: 10, ClientNoContextTakeover: true}, []string{"permessage-deflate"},
			"permessage-deflate; client_no_context_takeover", pmd.with(func(w *want) { w.clientNoCtx = true })},

		// x-webkit-deflate-frame, when no permessage-deflate offer is acceptable.
		{"x-webkit", Config{}, []string{"x-webkit-deflate-frame"}, "x-webkit-deflate-frame", want{PerFrame, false, false, 15, 15}},
		{"x-webkit with parameters", Config{}, []string{"x-webkit-deflate-frame; max_window_bits=10; no_context_takeover"},
			"x-webkit-deflate-frame", want{PerFrame, true, false, 10, 15}},
		{"x-webkit when permessage-deflate is declined", Config{}, []string{"permessage-deflate; foo, x-webkit-deflate-frame"},
			"x-webkit-deflate-frame", want{PerFrame, false, false, 15, 15}},
		{"permessage-deflate preferred though offered later", Config{}, []string{"x-webkit-deflate-frame", "permessage-deflate"},
			"permessage-deflate", pmd},
		{"x-webkit unknown parameter", Config{}, []string{"x-webkit-deflate-frame; foo"}, "", want{}},
		{"x-webkit max_window_bits without value", Config{}, []string{"x-webkit-deflate-frame; max_window_bits"}, "", want{}},
		{"x-webkit max_window_bits=16", Config{}, []string{"x-webkit-deflate-frame; max_window_bits=16"}, "", want{}},
		{"x-webkit flag with value", Config{}, []string{"x-webkit-deflate-frame; no_context_takeover=1"}, "", want{}},
		{"x-webkit duplicate", Config{}, []string{"x-webkit-deflate-frame; no_context_takeover; no_context_takeover"}, "", want{}},
		{"x-webkit: first acceptable", Config{}, []string{"x-webkit-deflate-frame; foo", "x-webkit-deflate-frame; max_window_bits=12"},
			"x-webkit-deflate-frame", want{PerFrame, false, false, 12, 15}},
		{"x-webkit, server config binds the client", Config{ClientNoContextTakeover: true, ClientMaxWindowBits: 8, ServerMaxWindowBits: 11},
			[]string{"X-WebKit-Deflate-Frame; max_window_bits=13"},
			"x-webkit-deflate-frame; no_context_takeover; max_window_bits=9", want{PerFrame, false, true, 11, 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, p, ok := Negotiate(tt.offers, tt.cfg)
			if resp != tt.resp || ok != (tt.resp != "") {
				t.Fatalf("Negotiate(%q) = %q, %v; want %q", tt.offers, resp, ok, tt.resp)
			}
			var wantP Params
			if ok {
				wantP = tt.want.params(tt.cfg)
			}
			if p != wantP {
				t.Errorf("params = %+v\nwant     %+v", p, wantP)
			}
			if ok {
				checkResponse(t, resp, p, tt.cfg)
			}
		})
	}
}

// checkResponse asserts what every accepted answer must satisfy: one
// well-formed element naming the extension, and an answer that, offered
// back, is accepted unchanged.
func checkResponse(t *testing.T, resp string, p Params, cfg Config) {
	t.Helper()
	var o offer
	l := lexer{s: resp}
	var rest offer
	if !l.next(&o) || o.bad || !strings.EqualFold(o.name, p.Kind.String()) || l.next(&rest) {
		t.Fatalf("response %q is not a single %s element", resp, p.Kind)
	}
	if p.Kind == PerFrame {
		// x-webkit parameters bind whoever receives them, so offering the
		// answer back means something else; it must still be valid.
		if _, _, ok := acceptPerFrame(&o, cfg.normalize()); !ok {
			t.Fatalf("response %q has invalid parameters", resp)
		}
	} else if resp2, p2, ok := Negotiate([]string{resp}, cfg); !ok || resp2 != resp || p2 != p {
		t.Fatalf("response offered back: %q %+v %v; want %q %+v", resp2, p2, ok, resp, p)
	}
	for _, b := range []int{p.ServerMaxWindowBits, p.ClientMaxWindowBits} {
		if b < 8 || b > 15 {
			t.Fatalf("window bits %d out of range in %+v", b, p)
		}
	}
}

func TestNegotiateDefaults(t *testing.T) {
	_, p, _ := Negotiate([]string{"permessage-deflate"}, Config{Level: 0, MinSize: 0})
	if p.Level != DefaultLevel || p.MinSize != DefaultMinSize {
		t.Errorf("zero config gave level %d, min size %d", p.Level, p.MinSize)
	}
	_, p, _ = Negotiate([]string{"permessage-deflate"}, Config{Level: 9, MinSize: 1})
	if p.Level != 9 || p.MinSize != 1 {
		t.Errorf("level %d, min size %d; want 9, 1", p.Level, p.MinSize)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{}, {ServerMaxWindowBits: 8, ClientMaxWindowBits: 15, Level: -2, MinSize: 1}, {Level: 9}} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	for _, c := range []Config{{ServerMaxWindowBits: 7}, {ClientMaxWindowBits: 16}, {Level: 10}, {Level: -3}, {MinSize: -1}} {
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "lariat: deflate: ") {
			t.Errorf("%+v: got %v", c, err)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, s := range map[Kind]string{None: "none", PerMessage: "permessage-deflate", PerFrame: "x-webkit-deflate-frame", 9: "Kind(9)"} {
		if k.String() != s {
			t.Errorf("%d: %q", k, k.String())
		}
	}
}

func TestPeer(t *testing.T) {
	p := Params{Kind: PerMessage, ServerNoContextTakeover: true, ServerMaxWindowBits: 9, ClientMaxWindowBits: 12, Level: 5, MinSize: 1}
	q := p.Peer()
	if !q.ClientNoContextTakeover || q.ServerNoContextTakeover || q.ClientMaxWindowBits != 9 || q.ServerMaxWindowBits != 12 || q.Peer() != p {
		t.Errorf("Peer(%+v) = %+v", p, q)
	}
}

func TestNegotiateAllocs(t *testing.T) {
	offers := []string{"permessage-deflate; client_max_window_bits; server_max_window_bits=10"}
	n := testing.AllocsPerRun(100, func() { Negotiate(offers, Config{}) })
	if n > 1 {
		t.Errorf("Negotiate allocates %v times; want at most 1 (the response)", n)
	}
}
