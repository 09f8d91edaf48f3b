package nats

import (
	"context"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lariat-ws/lariat"
	natsgo "github.com/nats-io/nats.go"
)

func TestSubject(t *testing.T) {
	for _, tt := range []struct{ topic, want string }{
		{"news", "lariat.news"},
		{"chat.room-1", "lariat.chat.room-1"},
		{"a.b.c_d", "lariat.a.b.c_d"},
		{"", "lariat.%"},
		{"%", "lariat.%25"},
		{".", "lariat.%2E"},
		{".a", "lariat.%2Ea"},
		{"a.", "lariat.a%2E"},
		{"a..b", "lariat.a%2E%2Eb"},
		{"*", "lariat.%2A"},
		{"a.>", "lariat.a.%3E"},
		{"with space", "lariat.with%20space"},
		{"$SYS", "lariat.%24SYS"},
		{"é", "lariat.%C3%A9"},
	} {
		if got := Subject("lariat", tt.topic); got != tt.want {
			t.Errorf("Subject(%q) = %q, want %q", tt.topic, got, tt.want)
		}
	}
}

// unescape inverts Subject, for FuzzSubject.
func unescape(t *testing.T, subj string) string {
	rest, ok := strings.CutPrefix(subj, "lariat.")
	if !ok {
		t.Fatalf("%q lacks the prefix", subj)
	}
	if rest == "%" {
		return ""
	}
	var b []byte
	for i := 0; i < len(rest); i++ {
		if rest[i] != '%' {
			b = append(b, rest[i])
			continue
		}
		if i+2 >= len(rest) {
			t.Fatalf("%q: escape cut short", subj)
		}
		v, err := strconv.ParseUint(rest[i+1:i+3], 16, 8)
		if err != nil {
			t.Fatalf("%q: %v", subj, err)
		}
		b = append(b, byte(v))
		i += 2
	}
	return string(b)
}

// FuzzSubject: every topic maps to a valid subject without wildcards
// that gives the topic back, so no two topics share a subject.
func FuzzSubject(f *testing.F) {
	for _, s := range []string{"news", "", ".", "a..b", "*", ">", "a.*.b", "% 2E", "\x00", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		subj := Subject("lariat", topic)
		for tok := range strings.SplitSeq(subj, ".") {
			if tok == "" || tok == "*" || tok == ">" {
				t.Fatalf("Subject(%q) = %q has token %q", topic, subj, tok)
			}
			for _, c := range []byte(tok) {
				if c <= ' ' || c >= 0x7f {
					t.Fatalf("Subject(%q) = %q has byte %#x", topic, subj, c)
				}
			}
		}
		if back := unescape(t, subj); back != topic {
			t.Fatalf("Subject(%q) = %q, which reads back as %q", topic, subj, back)
		}
	})
}

// TestForeignMessages: what arrives on a topic's subject without the
// header of a lariat Broker is ignored, a node's own messages are not
// delivered twice, and messages from another node are.
func TestForeignMessages(t *testing.T) {
	checkNoLeaks(t)
	s := runServer(t, -1, nil)
	a := newNode(t, "a", s.ClientURL(), nodeOptions{})
	c := a.dial(t, []string{"t"})
	waitInterest(t, s, "t", 1)
	raw, err := natsgo.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	subj := Subject("lariat", "t")
	other := binary.BigEndian.AppendUint64([]byte{headerVersion, byte(lariat.OpText)}, a.b.id+1)
	for _, p := range [][]byte{
		nil,
		[]byte("plain text"),
		{headerVersion, 1, 2},
		append([]byte{2, byte(lariat.OpText), 0, 0, 0, 0, 0, 0, 0, 0}, "version 2"...),
		append(binary.BigEndian.AppendUint64([]byte{headerVersion, byte(lariat.OpPing)}, 7), "ping"...),
		append(binary.BigEndian.AppendUint64([]byte{headerVersion, byte(lariat.OpText)}, a.b.id), "forged own id"...),
	} {
		raw.Publish(subj, p)
	}
	// The node's own message: delivered once, here; NATS brings it back
	// before the flush returns, and the Broker drops it.
	a.hub.Publish("t", lariat.OpText, []byte("own"))
	if err := a.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	raw.Publish(subj, append(other, "from another node"...))
	raw.Flush()
	c.WantText("own")
	c.WantText("from another node")
	if st := a.hub.Stats(); st.Received != 1 {
		t.Fatalf("%+v", st)
	}
}

func TestBrokerErrors(t *testing.T) {
	checkNoLeaks(t)
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New(nil) succeeded")
	}
	s := runServer(t, -1, nil)
	nc, err := natsgo.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, p := range []string{"a..b", ".a", "a.*", "a b", ">"} {
		if _, err := New(nc, Options{Prefix: p}); err == nil {
			t.Errorf("prefix %q accepted", p)
		}
	}
	b, err := New(nc, Options{Prefix: "app.ws"})
	if err != nil {
		t.Fatal(err)
	}
	deliver := func(string, lariat.Opcode, []byte) {}
	if err := b.Start(deliver); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(deliver); err == nil {
		t.Error("second Start succeeded")
	}
	if err := b.Subscribe("t"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := b.Subscribe("u"); !errors.Is(err, ErrClosed) || !errors.Is(err, natsgo.ErrConnectionClosed) {
		t.Errorf("Subscribe after Close: %v", err)
	}
	if err := b.Publish("t", lariat.OpText, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close: %v", err)
	}
	if !nc.IsConnected() {
		t.Error("Close closed the caller's connection")
	}
	// A Broker closed before it started.
	b2, _ := New(nc, Options{})
	if err := b2.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestTwoBrokersOneConnection: two Hubs may share a NATS connection; the
// node id, not the connection, tells a Broker's own messages apart.
func TestTwoBrokersOneConnection(t *testing.T) {
	checkNoLeaks(t)
	s := runServer(t, -1, nil)
	nc, err := natsgo.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	got := make(chan string, 4)
	var bs [2]*Broker
	for i := range bs {
		bs[i], _ = New(nc, Options{})
		if err := bs[i].Start(func(topic string, op lariat.Opcode, p []byte) { got <- strconv.Itoa(i) + " got " + string(p) }); err != nil {
			t.Fatal(err)
		}
		bs[i].Subscribe("t")
	}
	nc.Flush()
	bs[0].Publish("t", lariat.OpText, []byte("x"))
	select {
	case m := <-got:
		if m != "1 got x" {
			t.Fatalf("%q", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing delivered")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, b := range bs {
		b.Close(ctx) // hands over what had arrived: a second "x" would show
	}
	if len(got) != 0 {
		t.Fatalf("also delivered: %q", <-got)
	}
}

// BenchmarkBrokerPublish: what a Hub's Publish adds for the other nodes,
// 1 KiB per message, to an embedded server.
func BenchmarkBrokerPublish(b *testing.B) {
	s := runServer(b, -1, nil)
	nc, err := natsgo.Connect(s.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	br, _ := New(nc, Options{})
	payload := make([]byte, 1024)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if err := br.Publish("chat.room1", lariat.OpText, payload); err != nil {
			b.Fatal(err)
		}
	}
	nc.Flush()
}

// BenchmarkBrokerDelivery: messages from one node's Broker to another's
// deliver function, through an embedded server, 1 KiB each.
func BenchmarkBrokerDelivery(b *testing.B) {
	s := runServer(b, -1, nil)
	var brs [2]*Broker
	got := make(chan struct{}, 1)
	var n, want atomic.Int64
	for i := range brs {
		nc, err := natsgo.Connect(s.ClientURL())
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		brs[i], _ = New(nc, Options{})
		brs[i].Start(func(string, lariat.Opcode, []byte) {
			if n.Add(1) == want.Load() {
				got <- struct{}{}
			}
		})
		defer brs[i].Close(context.Background())
	}
	brs[1].Subscribe("t")
	brs[1].nc.Flush()
	payload := make([]byte, 1024)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	want.Store(int64(b.N))
	for range b.N {
		brs[0].Publish("t", lariat.OpText, payload)
	}
	brs[0].nc.Flush()
	select {
	case <-got:
	case <-time.After(time.Minute):
		b.Fatalf("%d of %d delivered", n.Load(), b.N)
	}
}
