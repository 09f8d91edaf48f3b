// Command report runs the peer comparison and writes bench/README.md:
// tables of absolute numbers and of ratios to lariat.
//
// Run it from the bench directory:
//
//	go run ./cmd/report            # full run, ~9 minutes, writes README.md and results/bench.txt
//	go run ./cmd/report -quick     # smoke run, under a minute, prints the report to stdout
//	go run ./cmd/report -lariat ../../old -lariat .. -o results/compare.md
//	                               # lariat against an older tree (the first, the base): read and allocation benchmarks
//
// It builds the benchmark binaries once and runs them with -rounds, so
// that every library is measured in turn within one run, and reports the
// median of the rounds with their spread.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var (
	quick   = flag.Bool("quick", false, "smoke run: tiny counts, one round, report to stdout unless -o is given")
	out     = flag.String("o", "", `where to write the report ("-" for stdout); default README.md, or stdout with -quick`)
	rawOut  = flag.String("raw", "", "where to write the raw benchmark output; default results/bench.txt, none with -quick")
	roundsN = flag.Int("rounds", 0, "rounds of the interleaved benchmarks; default 10, 1 with -quick")
	only    = flag.String("only", "", "run only the groups whose names contain this (read, mask, tcp, deflate, idle)")
	from    = flag.String("from", "", "render the report from this raw output of an earlier run (results/bench.txt) instead of running")
)

// lariatDirs are the lariat trees given with -lariat: none means ../.
var lariatDirs dirList

func init() {
	flag.Var(&lariatDirs, "lariat", "measure the lariat tree in this directory instead of ../ (e.g. a git worktree of another commit); given twice or more, compare the trees with the first")
}

type dirList []string

func (d *dirList) String() string     { return strings.Join(*d, ",") }
func (d *dirList) Set(v string) error { *d = append(*d, v); return nil }

// lariatDir is the one lariat tree measured, outside comparisons.
func lariatDir() string {
	if len(lariatDirs) == 0 {
		return ""
	}
	return lariatDirs[0]
}

// group is one invocation of a benchmark binary.
type group struct {
	name  string
	bin   string // "bench" or "lariat"
	args  []string
	times int // run the binary this many times (for the single-library mask benchmarks)
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("report: ")
	flag.Parse()
	if _, err := os.Stat("cmd/report/main.go"); err != nil {
		log.Fatal("run me from the bench directory: cd bench && go run ./cmd/report")
	}
	rounds := *roundsN
	if rounds == 0 {
		rounds = 10
		if *quick {
			rounds = 1
		}
	}
	if *out == "" && !*quick {
		*out = "README.md"
	}
	if *out == "" {
		*out = "-"
	}
	if *rawOut == "" && !*quick {
		*rawOut = "results/bench.txt"
	}

	if *from != "" {
		data, err := os.ReadFile(*from)
		if err != nil {
			log.Fatal(err)
		}
		env, rounds := readHeader(data)
		res := parse(bytes.NewReader(data))
		if revs := treesOf(env, res); len(revs) > 1 {
			if *out == "README.md" {
				*out = "-"
			}
			write(renderCompare(env, res, rounds, revs))
			return
		}
		write(render(env, res, rounds, readAnalysis()))
		return
	}

	tmp, err := os.MkdirTemp("", "lariat-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if len(lariatDirs) > 1 {
		compareTrees(tmp, rounds)
		return
	}
	modArgs, err := modfileArgs(tmp, lariatDir())
	if err != nil {
		log.Fatal(err)
	}
	benchBin := filepath.Join(tmp, "bench.test")
	lariatBin := filepath.Join(tmp, "lariat.test")
	build(benchBin, ".", modArgs)
	build(lariatBin, "github.com/lariat-ws/lariat", modArgs)

	// Durations: the full run aims at a few seconds per library and
	// round; the quick one only proves that everything still runs.
	memTime, tcpTime, idlePlain, idleDeflate := "300ms", "500ms", "10000,19000", "2000"
	if *quick {
		memTime, tcpTime, idlePlain, idleDeflate = "2000x", "100ms", "200", "100"
	}
	r := fmt.Sprint(rounds)
	groups := []group{
		{name: "read", bin: "bench", args: []string{"-test.bench=^Benchmark(Read|EchoMem)$", "-test.benchtime=" + memTime, "-rounds=" + r}},
		{name: "mask", bin: "lariat", args: []string{"-test.bench=^Benchmark(Mask|Copy)$/^16384$", "-test.benchtime=" + memTime}, times: rounds},
		{name: "tcp", bin: "bench", args: []string{"-test.bench=^BenchmarkEchoTCP$", "-test.benchtime=" + tcpTime, "-rounds=" + r}},
		{name: "deflate", bin: "bench", args: []string{"-test.bench=^BenchmarkEchoDeflate$", "-test.benchtime=" + tcpTime, "-rounds=" + r}},
		// Memory per connection hardly varies between rounds; one is
		// enough, and ten thousand connections take a while to set up.
		{name: "idle", bin: "bench", args: []string{"-test.bench=^BenchmarkIdle$", "-test.benchtime=1x", "-idle.conns=" + idlePlain, "-idle.deflate.conns=" + idleDeflate, "-rounds=1"}},
	}

	env := describeMachine(lariatDir())
	env.idlePlain, env.idleDeflate = idlePlain, idleDeflate
	env.started = time.Now()
	env.loadBefore = loadavg()
	var raw bytes.Buffer
	for _, g := range groups {
		if *only != "" && !strings.Contains(g.name, *only) {
			continue
		}
		bin := benchBin
		if g.bin == "lariat" {
			bin = lariatBin
		}
		load := loadavg()
		for range max(g.times, 1) {
			raw.Write(runBench(bin, g.args))
		}
		env.groupLoad = append(env.groupLoad, g.name+" "+load+" "+loadavg())
	}
	env.finished = time.Now()
	env.loadAfter = loadavg()

	res := parse(bytes.NewReader(raw.Bytes()))
	if *rawOut != "" {
		os.MkdirAll(filepath.Dir(*rawOut), 0o755)
		data := append(writeHeader(env, rounds), raw.Bytes()...)
		if err := os.WriteFile(*rawOut, data, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	write(render(env, res, rounds, readAnalysis()))
	log.Printf("done in %s", env.finished.Sub(env.started).Round(time.Second))
}

// treesOf returns the lariat trees a raw output compares: from its
// header, or, without one, from the lib=lariat@<rev> names in it, in the
// order they first appear.
func treesOf(m machine, res *results) []string {
	if len(m.trees) > 0 {
		return m.trees
	}
	var revs []string
	for _, key := range res.order {
		_, rev, ok := strings.Cut(key, "lib=lariat@")
		if ok && !slices.Contains(revs, rev) {
			revs = append(revs, rev)
		}
	}
	return revs
}

// build compiles the test binary of pkg.
func build(bin, pkg string, modArgs []string) {
	args := append([]string{"test", "-c", "-o", bin}, modArgs...)
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		log.Fatalf("building %s: %v", pkg, err)
	}
}

// runBench runs a benchmark binary and returns its output.
func runBench(bin string, benchArgs []string) []byte {
	args := append([]string{"-test.run=^$", "-test.benchmem", "-test.v", "-test.timeout=30m"}, benchArgs...)
	log.Printf("%s %s", filepath.Base(bin), strings.Join(benchArgs, " "))
	cmd := exec.Command(bin, args...)
	var buf bytes.Buffer
	cmd.Stdout = io.MultiWriter(&buf, newProgress())
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		os.Stderr.Write(buf.Bytes())
		log.Fatalf("%s: %v", filepath.Base(bin), err)
	}
	return buf.Bytes()
}

// compareTrees measures lariat alone, built from each tree of -lariat,
// with the read and allocation benchmarks (BenchmarkRead, BenchmarkEchoMem),
// and writes a report of the trees against the first. The trees take
// turns within each round, the order rotating from round to round, so
// that they share the machine's slow and fast spells, as the libraries
// of the main report do. Each tree's results are named lib=lariat@<rev>;
// the copy() reference runs next to each tree.
func compareTrees(tmp string, rounds int) {
	memTime := "300ms"
	if *quick {
		memTime = "2000x"
	}
	type tree struct {
		dir, rev, bin string
	}
	var trees []tree
	for i, dir := range lariatDirs {
		t := tree{dir: dir, rev: describeRev(dir), bin: filepath.Join(tmp, fmt.Sprintf("bench%d.test", i))}
		sub := filepath.Join(tmp, fmt.Sprint(i))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			log.Fatal(err)
		}
		modArgs, err := modfileArgs(sub, dir)
		if err != nil {
			log.Fatal(err)
		}
		build(t.bin, ".", modArgs)
		trees = append(trees, t)
	}
	env := describeMachine(lariatDirs[0])
	for _, t := range trees {
		env.trees = append(env.trees, t.rev)
	}
	env.started = time.Now()
	env.loadBefore = loadavg()
	var raw bytes.Buffer
	for r := range rounds {
		for i := range trees {
			t := trees[(i+r)%len(trees)]
			out := runBench(t.bin, []string{"-test.bench=^Benchmark(Read|EchoMem)$", "-test.benchtime=" + memTime, "-rounds=1", "-libs=lariat"})
			// lariat@<rev>: a short hash may be followed by "with
			// uncommitted changes", which a benchmark name cannot hold.
			tag := strings.Fields(t.rev)[0]
			raw.Write(bytes.ReplaceAll(out, []byte("lib=lariat"), []byte("lib=lariat@"+tag)))
		}
	}
	env.finished = time.Now()
	env.loadAfter = loadavg()
	if *rawOut != "" && *rawOut != "results/bench.txt" {
		data := append(writeHeader(env, rounds), raw.Bytes()...)
		if err := os.WriteFile(*rawOut, data, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	var revs []string
	for _, t := range trees {
		revs = append(revs, t.rev)
	}
	if *out == "README.md" {
		*out = "-" // a comparison never replaces the peer report
	}
	write(renderCompare(env, parse(bytes.NewReader(raw.Bytes())), rounds, revs))
}

func write(doc string) {
	if *out == "-" {
		os.Stdout.WriteString(doc)
		return
	}
	if err := os.WriteFile(*out, []byte(doc), 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %s", *out)
}

// readAnalysis returns the hand-written analysis that the report
// embeds, if there is one.
func readAnalysis() []byte {
	b, _ := os.ReadFile("analysis.md")
	return b
}

// writeHeader describes the run in "key: value" lines, the configuration
// lines of the Go benchmark format, so that the raw output says where it
// came from and -from can render it again.
func writeHeader(m machine, rounds int) []byte {
	var b bytes.Buffer
	kv := func(k, v string) { fmt.Fprintf(&b, "report-%s: %s\n", k, v) }
	kv("go", m.goVersion)
	kv("cpu", m.cpu)
	kv("cores", fmt.Sprint(m.cores))
	kv("os", m.kernel)
	kv("lariat", m.lariatRev)
	kv("peers", strings.Join(m.versions, " "))
	kv("started", m.started.UTC().Format(time.RFC3339Nano))
	kv("finished", m.finished.UTC().Format(time.RFC3339Nano))
	kv("load-before", m.loadBefore)
	kv("load-after", m.loadAfter)
	kv("idle-plain", m.idlePlain)
	kv("idle-deflate", m.idleDeflate)
	kv("file-limit", m.fileLimit)
	for _, g := range m.groupLoad {
		kv("group-load", g)
	}
	for _, t := range m.trees {
		kv("tree", t)
	}
	kv("rounds", fmt.Sprint(rounds))
	return b.Bytes()
}

func readHeader(data []byte) (machine, int) {
	var m machine
	rounds := 1
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		k, isHeader := strings.CutPrefix(k, "report-")
		if !ok || !isHeader {
			continue
		}
		switch k {
		case "go":
			m.goVersion = v
		case "cpu":
			m.cpu = v
		case "cores":
			m.cores, _ = strconv.Atoi(v)
		case "os":
			m.kernel = v
		case "lariat":
			m.lariatRev = v
		case "peers":
			m.versions = strings.Fields(v)
		case "started":
			m.started, _ = time.Parse(time.RFC3339Nano, v)
		case "finished":
			m.finished, _ = time.Parse(time.RFC3339Nano, v)
		case "load-before":
			m.loadBefore = v
		case "load-after":
			m.loadAfter = v
		case "idle-plain":
			m.idlePlain = v
		case "idle-deflate":
			m.idleDeflate = v
		case "file-limit":
			m.fileLimit = v
		case "group-load":
			m.groupLoad = append(m.groupLoad, v)
		case "tree":
			m.trees = append(m.trees, v)
		case "rounds":
			rounds, _ = strconv.Atoi(v)
		}
	}
	return m, rounds
}

// progress echoes result lines to stderr, so a long run shows life. A
// benchmark's name and its figures arrive in separate writes, so lines
// are gathered until they end.
type progress struct{ line *[]byte }

func newProgress() progress { return progress{new([]byte)} }

func (pr progress) Write(p []byte) (int, error) {
	*pr.line = append(*pr.line, p...)
	for {
		i := bytes.IndexByte(*pr.line, '\n')
		if i < 0 {
			break
		}
		l := string((*pr.line)[:i])
		*pr.line = (*pr.line)[i+1:]
		if strings.HasPrefix(l, "Benchmark") && strings.Contains(l, "\t") {
			fmt.Fprintln(os.Stderr, "  "+l)
		}
	}
	return len(p), nil
}

// modfileArgs points the build at another lariat tree, when dir is not
// empty, through a temporary copy of go.mod, in tmp, with the replace
// rewritten: the checked-in go.mod stays as it is. The benchmarks build
// against lariat's API from before v1 too (see setLariatCompression).
func modfileArgs(tmp, dir string) ([]string, error) {
	if dir == "" {
		return nil, nil
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	mod := filepath.Join(tmp, "go.mod")
	sum, _ := os.ReadFile("go.sum")
	if err := os.WriteFile(filepath.Join(tmp, "go.sum"), sum, 0o644); err != nil {
		return nil, err
	}
	data, err := os.ReadFile("go.mod")
	if err != nil {
		return nil, err
	}
	data = bytes.Replace(data, []byte("=> ../"), []byte("=> "+dir), 1)
	if err := os.WriteFile(mod, data, 0o644); err != nil {
		return nil, err
	}
	args := []string{"-modfile=" + mod}
	if _, err := os.Stat(filepath.Join(dir, "hub.go")); err != nil {
		args = append(args, "-tags=nohub") // a tree from before topics
	}
	return args, nil
}

// machine describes where and on what the numbers were taken.
type machine struct {
	goVersion, cpu, kernel string
	cores                  int
	lariatRev              string
	versions               []string
	started, finished      time.Time
	loadBefore, loadAfter  string
	idlePlain, idleDeflate string   // connections in the idle-memory runs
	fileLimit              string   // hard limit on open files
	groupLoad              []string // "group load-before(3) load-after(3)"
	trees                  []string // the lariat trees compared, by revision
}

func describeMachine(lariat string) machine {
	m := machine{goVersion: runtime.Version(), cores: runtime.NumCPU(), fileLimit: "?"}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		m.fileLimit = fmt.Sprint(rl.Max)
	}
	if v, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		m.goVersion = strings.TrimSpace(string(v))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if v, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = "Linux " + strings.TrimSpace(string(v))
	}
	m.lariatRev = describeRev(lariat)
	if v, err := exec.Command("go", "list", "-m", "github.com/gorilla/websocket", "github.com/coder/websocket", "github.com/gobwas/ws", "github.com/lxzan/gws", "github.com/klauspost/compress").Output(); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(v)), "\n") {
			m.versions = append(m.versions, strings.Replace(strings.TrimPrefix(line, "github.com/"), " ", "@", 1))
		}
	}
	return m
}

// describeRev returns the short hash of the last commit that changed
// lariat in the tree in dir ("" for ../), bench/ left out: a commit to
// the benchmarks alone does not change what is measured. It says when
// lariat itself has uncommitted changes: the numbers are then those of a
// work in progress.
func describeRev(dir string) string {
	if dir == "" {
		dir = ".."
	}
	v, err := exec.Command("git", "-C", dir, "log", "-1", "--format=%h", "--", ".", ":(exclude)bench").Output()
	if err != nil || len(bytes.TrimSpace(v)) == 0 {
		return "?"
	}
	rev := strings.TrimSpace(string(v))
	if st, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--", ".", ":(exclude)bench").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		rev += " with uncommitted changes"
	}
	return rev
}

func loadavg() string {
	v, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(v))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
