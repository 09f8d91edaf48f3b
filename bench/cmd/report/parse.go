package main

import (
	"bufio"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// results holds every value measured, by benchmark and unit, over all
// rounds, and the reasons of the benchmarks that skipped.
type results struct {
	values map[string]map[string][]float64
	order  []string // the keys of values, in the order they first appeared
	skips  map[string]string
}

var (
	procSuffix  = regexp.MustCompile(`-\d+$`)
	roundSuffix = regexp.MustCompile(`#\d+`)
)

// normalize drops the GOMAXPROCS suffix and the "#01" that testing adds
// to the names repeated by -rounds.
func normalize(name string) string {
	return roundSuffix.ReplaceAllString(procSuffix.ReplaceAllString(name, ""), "")
}

func parse(r io.Reader) *results {
	res := &results{values: map[string]map[string][]float64{}, skips: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	// In -test.v output a benchmark's log lines come before its
	// "--- SKIP" line: the last one is kept as the reason.
	var logged string
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "--- SKIP: "):
			res.skips[normalize(strings.Fields(strings.TrimPrefix(trimmed, "--- SKIP: "))[0])] = logged
			logged = ""
			continue
		case strings.HasPrefix(line, "    "):
			// "    file_test.go:123: reason"
			msg := trimmed
			if i := strings.Index(msg, ": "); i >= 0 && strings.Contains(msg[:i], ".go:") {
				msg = msg[i+2:]
			}
			logged = msg
			continue
		case strings.HasPrefix(trimmed, "--- "):
			logged = ""
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		// name, iterations, then value-unit pairs
		if len(f) < 4 || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		key := normalize(f[0])
		m := res.values[key]
		if m == nil {
			m = map[string][]float64{}
			res.values[key] = m
			res.order = append(res.order, key)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			m[f[i+1]] = append(m[f[i+1]], v)
		}
	}
	return res
}

// stat is the median of a metric over the rounds and its spread, the
// range as a fraction of the median.
type stat struct {
	median, spread float64
	n              int
	ok             bool
	vals           []float64 // one per round, in the order they ran
}

func (r *results) get(key, unit string) stat {
	vs := r.values[key][unit]
	if len(vs) == 0 {
		return stat{}
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	st := stat{median: med, n: len(s), ok: true, vals: vs}
	if med != 0 {
		st.spread = (s[len(s)-1] - s[0]) / med
	}
	return st
}

// skip returns why key was skipped, if it was.
func (r *results) skip(key string) (string, bool) {
	why, ok := r.skips[key]
	return why, ok
}
