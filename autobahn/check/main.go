// Command check reads the index.json of an Autobahn fuzzingclient report
// and fails unless every case passed strictly:
//
//	go run ./autobahn/check autobahn/reports/servers/index.json
//
// A case passes when both its "behavior" and its "behaviorClose" are OK or
// INFORMATIONAL. NON-STRICT (for example a UTF-8 error caught only at the
// end of a message), UNIMPLEMENTED (for example compression not
// negotiated) and FAILED all fail, as in gobwas/ws's CI. The offending
// case ids are printed in case order; the exit status is 1 when any case
// fails and 2 when the report cannot be read.
package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: check reports/servers/index.json")
		return 2
	}
	f, err := os.Open(args[0])
	if err != nil {
		fmt.Fprintln(stderr, "check:", err)
		return 2
	}
	defer f.Close()
	r, err := check(f)
	if err != nil {
		fmt.Fprintf(stderr, "check: %s: %v\n", args[0], err)
		return 2
	}
	for _, o := range r.offenses {
		fmt.Fprintf(stdout, "FAIL %s %s: behavior %s, behaviorClose %s\n", o.agent, o.id, o.behavior, o.behaviorClose)
	}
	if len(r.offenses) > 0 {
		fmt.Fprintf(stdout, "%d of %d cases are not OK or INFORMATIONAL\n", len(r.offenses), r.cases)
		return 1
	}
	fmt.Fprintf(stdout, "all %d cases OK or INFORMATIONAL\n", r.cases)
	return 0
}

// caseResult is what index.json says about one case.
type caseResult struct {
	Behavior      string `json:"behavior"`
	BehaviorClose string `json:"behaviorClose"`
}

// offense is a case that did not pass.
type offense struct {
	agent, id               string
	behavior, behaviorClose string
}

type result struct {
	cases    int
	offenses []offense
}

// check judges a report index: an object of agents, each an object of
// case ids. A report with no agent or no case is an error, not a pass.
func check(r io.Reader) (result, error) {
	var index map[string]map[string]caseResult
	if err := json.NewDecoder(r).Decode(&index); err != nil {
		return result{}, fmt.Errorf("not a fuzzingclient index: %w", err)
	}
	if len(index) == 0 {
		return result{}, fmt.Errorf("the report names no agent")
	}
	var res result
	for _, agent := range slices.Sorted(mapKeys(index)) {
		cases := index[agent]
		if len(cases) == 0 {
			return result{}, fmt.Errorf("agent %q has no cases", agent)
		}
		for _, id := range slices.SortedFunc(mapKeys(cases), compareIDs) {
			res.cases++
			c := cases[id]
			if !passes(c.Behavior) || !passes(c.BehaviorClose) {
				res.offenses = append(res.offenses, offense{agent, id, orMissing(c.Behavior), orMissing(c.BehaviorClose)})
			}
		}
	}
	return res, nil
}

func passes(behavior string) bool { return behavior == "OK" || behavior == "INFORMATIONAL" }

func orMissing(s string) string {
	if s == "" {
		return "(missing)"
	}
	return s
}

// compareIDs orders case ids numerically, field by field, so that 1.1.10
// follows 1.1.9 and 9.1.1 precedes 12.1.1.
func compareIDs(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, errx := strconv.Atoi(as[i])
		y, erry := strconv.Atoi(bs[i])
		if errx != nil || erry != nil {
			if c := strings.Compare(as[i], bs[i]); c != 0 {
				return c
			}
			continue
		}
		if c := cmp.Compare(x, y); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(as), len(bs))
}

func mapKeys[V any](m map[string]V) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
