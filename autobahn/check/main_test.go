package main

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	tests := []struct {
		file   string
		status int
		failed []string // offending case ids, in the order printed
	}{
		{"all_ok.json", 0, nil},
		{"non_strict.json", 1, []string{"6.4.1", "6.4.4"}},
		{"failed.json", 1, []string{"5.9", "5.10"}},
		{"unimplemented.json", 1, []string{"12.1.1", "13.7.18"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			status := run([]string{filepath.Join("testdata", tt.file)}, &stdout, &stderr)
			if status != tt.status {
				t.Errorf("status %d, want %d; stdout:\n%s\nstderr:\n%s", status, tt.status, &stdout, &stderr)
			}
			var failed []string
			for line := range strings.Lines(stdout.String()) {
				if f := strings.Fields(line); len(f) > 2 && f[0] == "FAIL" {
					failed = append(failed, strings.TrimSuffix(f[2], ":"))
				}
			}
			if !slices.Equal(failed, tt.failed) {
				t.Errorf("offending cases %q, want %q; stdout:\n%s", failed, tt.failed, &stdout)
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"a", "b"}, {"testdata/missing.json"}} {
		var out bytes.Buffer
		if status := run(args, &out, &out); status != 2 {
			t.Errorf("run(%q) = %d, want 2; output %q", args, status, &out)
		}
	}
}

func TestCheckMalformed(t *testing.T) {
	for _, input := range []string{
		"",
		"[]",
		"{}",
		`{"lariat": {}}`,
		`{"lariat": {"1.1.1": "OK"}}`,
	} {
		if _, err := check(strings.NewReader(input)); err == nil {
			t.Errorf("check(%q) passed, want an error", input)
		}
	}
}

func TestCheckMissingBehavior(t *testing.T) {
	r, err := check(strings.NewReader(`{"lariat": {"1.1.1": {"behavior": "OK"}}}`))
	if err != nil || len(r.offenses) != 1 || r.offenses[0].behaviorClose != "(missing)" {
		t.Errorf("check = %+v, %v; want one offense with behaviorClose missing", r, err)
	}
}

func TestCompareIDs(t *testing.T) {
	ids := []string{"12.1.1", "9.1.1", "1.1.10", "1.1.9", "1.2.1", "1.1", "2.10", "2.9"}
	slices.SortFunc(ids, compareIDs)
	want := []string{"1.1", "1.1.9", "1.1.10", "1.2.1", "2.9", "2.10", "9.1.1", "12.1.1"}
	if !slices.Equal(ids, want) {
		t.Errorf("sorted %q, want %q", ids, want)
	}
}
