package main

import (
	"fmt"
	"strings"
)

// A goal is a ratio lariat is to reach: lariat's figure over a peer's or
// over a reference's, taken round by round.
type goal struct {
	what   string
	target float64
	atMost bool // the ratio must be at most target, not at least
	num    stat // lariat's figure
	den    stat // the peer's or the reference's
	// figures says what was measured, in words, for the table.
	figures string
}

// perRound returns num/den for every round both have, in order.
func perRound(num, den stat) []float64 {
	if len(num.vals) != len(den.vals) {
		if den.median == 0 {
			return nil
		}
		return []float64{num.median / den.median}
	}
	var rs []float64
	for i, d := range den.vals {
		if d != 0 {
			rs = append(rs, num.vals[i]/d)
		}
	}
	return rs
}

func (g goal) met(r float64) bool {
	if g.atMost {
		return r <= g.target
	}
	return r >= g.target
}

func (g goal) row(t table) {
	rs := perRound(g.num, g.den)
	if !g.num.ok || !g.den.ok || len(rs) == 0 {
		t.row(g.what, g.targetText(), "not measured", "", "")
		return
	}
	r := median(rs)
	lo, hi := rs[0], rs[0]
	k := 0
	for _, x := range rs {
		lo, hi = min(lo, x), max(hi, x)
		if g.met(x) {
			k++
		}
	}
	verdict := "**missed**"
	if g.met(r) {
		verdict = "met"
	}
	measured := times2(r)
	if len(rs) > 1 {
		measured += fmt.Sprintf(" (rounds %s–%s; at target in %d of %d)", times2(lo), times2(hi), k, len(rs))
	}
	t.row(g.what, g.targetText(), measured, g.figures, verdict)
}

func (g goal) targetText() string {
	if g.atMost {
		return fmt.Sprintf("≤ ×%.2f", g.target)
	}
	return fmt.Sprintf("≥ ×%.2f", g.target)
}

// bestPeer returns the peer with the highest median of unit under
// prefix+name, and its stat.
func bestPeer(res *results, key func(lib string) string, unit string, peers []string) (string, stat) {
	var best string
	var bs stat
	for _, lib := range peers {
		if s := res.get(key(lib), unit); s.ok && (!bs.ok || s.median > bs.median) {
			best, bs = lib, s
		}
	}
	return best, bs
}

// goals writes the table of lariat's goals, each with the measured
// ratio, the figures behind it and whether it was met.
func goals(b *strings.Builder, res *results) {
	t := table{b}
	var gs []goal
	us := func(s stat) string { return withSpread(scaled(s, 1e-3)) }

	pk := func(lib string) string { return pipelinedKey + lib }
	if peer, pms := bestPeer(res, pk, "msgs/s", libs[1:]); peer != "" {
		lms, lcpu, pcpu := res.get(pk("lariat"), "msgs/s"), res.get(pk("lariat"), "cpu-ns/msg"), res.get(pk(peer), "cpu-ns/msg")
		gs = append(gs,
			goal{what: "Pipelined echo (16 × 32 × 1 KiB), msgs/s against the best peer (" + peer + ")", target: 1.3, num: lms, den: pms,
				figures: fmt.Sprintf("lariat %s, %s %s msgs/s", withSpread(lms), peer, withSpread(pms))},
			goal{what: "Pipelined echo, server CPU per message against " + peer, target: 0.7, atMost: true, num: lcpu, den: pcpu,
				figures: fmt.Sprintf("lariat %s, %s %s µs", us(lcpu), peer, us(pcpu))})
	}
	dk := func(mode string) func(string) string {
		return func(lib string) string { return fmt.Sprintf(deflateKey, mode, lib) }
	}
	nt := dk("notakeover")
	lnt, gnt := res.get(nt("lariat"), "msgs/s"), res.get(nt("gws"), "msgs/s")
	gs = append(gs, goal{what: "Compressed echo without context takeover, msgs/s against gws", target: 1.2, num: lnt, den: gnt,
		figures: fmt.Sprintf("lariat %s, gws %s msgs/s", withSpread(lnt), withSpread(gnt))})
	if peer, pms := bestPeer(res, dk("takeover"), "msgs/s", deflateLibs[1:]); peer != "" {
		lto := res.get(dk("takeover")("lariat"), "msgs/s")
		gs = append(gs, goal{what: "Compressed echo with context takeover (browser's offer), msgs/s against the best peer (" + peer + ")", target: 1, num: lto, den: pms,
			figures: fmt.Sprintf("lariat %s, %s %s msgs/s", withSpread(lto), peer, withSpread(pms))})
	}
	cp := res.get(copyKey, "cpu-ns/msg")
	for _, msg := range []string{"json", "utf8"} {
		l := res.get(fmt.Sprintf(readKey, msg, "lariat"), "cpu-ns/msg")
		// Bandwidth over copy()'s is copy's time over lariat's.
		gs = append(gs, goal{what: "Reading a masked 16 KiB text frame (" + msg + "), validated, as a fraction of copy() bandwidth (CPU time)", target: 0.25, num: cp, den: l,
			figures: fmt.Sprintf("lariat %s ns, copy() %s ns", withSpread(l), withSpread(cp))})
	}

	cq := func(lib string) string { return closedKey + lib }
	if peer, pms := bestPeer(res, cq, "msgs/s", libs[1:]); peer != "" {
		lms, lcpu, pcpu := res.get(cq("lariat"), "msgs/s"), res.get(cq("lariat"), "cpu-ns/msg"), res.get(cq(peer), "cpu-ns/msg")
		gs = append(gs,
			goal{what: "Closed-loop echo (64 × 1 × 1 KiB), msgs/s against the best peer (" + peer + "): no worse", target: 1, num: lms, den: pms,
				figures: fmt.Sprintf("lariat %s, %s %s msgs/s", withSpread(lms), peer, withSpread(pms))},
			goal{what: "Closed-loop echo, server CPU per message against " + peer + ": no worse", target: 1, atMost: true, num: lcpu, den: pcpu,
				figures: fmt.Sprintf("lariat %s, %s %s µs", us(lcpu), peer, us(pcpu))})
	}

	fmt.Fprintf(b, "## Goals\n\n")
	fmt.Fprintf(b, "Each ratio is lariat's figure over the other's, taken round by round (lariat and the peer ran next to each other); the table gives the median of those ratios, their range and how many rounds reached the target. A goal is met when the median reaches it. The idle rows bound lariat's own figures, from one measurement at the largest number of connections (section 5).\n\n")
	t.header("goal", "target", "measured", "figures (medians ±spread)", "")
	for _, g := range gs {
		g.row(t)
	}
	for _, l := range idleLimits(res) {
		l.row(t)
	}
	fmt.Fprintf(b, "\n")
}

// A limit is an upper bound on one of lariat's own figures, measured
// once (the idle benchmark), not against a peer.
type limit struct {
	what    string
	target  float64
	unit    string // how target and the figure are written: "B" or ""
	s       stat
	figures string
}

func (l limit) row(t table) {
	tt := "≤ " + num(l.target)
	if l.unit != "" {
		tt += " " + l.unit
	}
	if !l.s.ok {
		t.row(l.what, tt, "not measured", "", "")
		return
	}
	verdict := "**missed**"
	if l.s.median <= l.target {
		verdict = "met"
	}
	m := num(l.s.median)
	if l.unit != "" {
		m += " " + l.unit
	}
	t.row(l.what, tt, m, l.figures, verdict)
}

// idleLimits returns the idle-memory goals, read at the largest number of
// plain connections the run measured: a hibernated connection (both
// ways of getting one) holds at most 2 KiB of heap and stack, 3 KiB of
// RSS and no goroutine; an awake one at most 8 KiB of heap and stack.
func idleLimits(res *results) []limit {
	ks, _ := idleShape(res)
	var k string
	for _, c := range ks {
		if k == "" || atoi(c) > atoi(k) {
			k = c
		}
	}
	if k == "" {
		return nil
	}
	at := fmt.Sprintf(", %s connections", num(float64(atoi(k))))
	get := func(lib, unit string) stat { return res.get(fmt.Sprintf(idleKey, k, "plain", lib), unit) }
	figs := func(lib string) string {
		return fmt.Sprintf("heap %s + stack %s B, RSS %s B, %s goroutines per connection",
			num(get(lib, "heap-B/conn").median), num(get(lib, "stack-B/conn").median),
			num(get(lib, "rss-B/conn").median), num(get(lib, "goroutines/conn").median))
	}
	var ls []limit
	for _, v := range []string{"lariat+hibernated", "lariat+parked"} {
		ls = append(ls,
			limit{what: "Idle " + v + ", heap+stack per connection" + at, target: 2048, unit: "B", s: get(v, "total-B/conn"), figures: figs(v)},
			limit{what: "Idle " + v + ", RSS per connection" + at, target: 3072, unit: "B", s: get(v, "rss-B/conn"), figures: figs(v)},
			// The poller's goroutines are shared by every parked
			// connection: "none" is below one per thousand connections.
			limit{what: "Idle " + v + ", goroutines per connection (none: the shared poller's aside)" + at, target: 0.001, s: get(v, "goroutines/conn"), figures: figs(v)})
	}
	ls = append(ls, limit{what: "Idle lariat, awake (HibernateAfter -1), heap+stack per connection" + at, target: 8192, unit: "B", s: get("lariat", "total-B/conn"), figures: figs("lariat")})
	return ls
}
