package nats

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/lariat-ws/lariat"
)

// BenchmarkCrossNodeLatency: the time from Hub.Publish on one node to a
// WebSocket client of another node receiving the message, through one
// NATS server; reports its p50 and p99. One op is one message, sent when
// the one before has arrived.
//
//	go test -run '^$' -bench CrossNodeLatency -benchtime 2000x .
func BenchmarkCrossNodeLatency(b *testing.B) {
	s := runServer(b, -1, nil)
	from := newNode(b, "from", s.ClientURL(), nodeOptions{})
	to := newNode(b, "to", s.ClientURL(), nodeOptions{})
	c := to.dial(b, []string{"lat"})
	waitInterest(b, s, "lat", 1)
	// The first message crosses once the subscription has reached NATS.
	from.hub.Publish("lat", lariat.OpText, []byte("warm"))
	c.WantText("warm")
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		msg := strconv.Itoa(i)
		start := time.Now()
		if err := from.hub.Publish("lat", lariat.OpText, []byte(msg)); err != nil {
			b.Fatal(err)
		}
		c.WantText(msg)
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
}
