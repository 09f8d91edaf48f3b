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

	fmt.Fprintf(b, "## Goals\n\n")
	fmt.Fprintf(b, "Each ratio is lariat's figure over the other's, taken round by round (lariat and the peer ran next to each other); the table gives the median of those ratios, their range and how many rounds reached the target. A goal is met when the median reaches it.\n\n")
	t.header("goal", "target", "measured", "figures (medians ±spread)", "")
	for _, g := range gs {
		g.row(t)
	}
	fmt.Fprintf(b, "\n")
}
