package sqlitestore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
)

// The tests in this file run the test binary again as many processes, each
// standing for one sendmail run, against one database file: goroutines in
// one process share a connection pool and writeMu, processes share nothing
// but the file, which is what has to count exactly.

// helperRole names the child's job in its environment; helperEnv is the
// prefix of its arguments.
const (
	helperRole = "SQLITESTORE_HELPER"
	helperEnv  = "SQLITESTORE_HELPER_"
	resultMark = "helper-result: "
)

// recordMax and recordWindow are the policy of the "record" children: no
// trip, every event in one window, so every count is its place in line.
const (
	recordMax    = 1000
	recordWindow = time.Hour
	tripMax      = 10
	// resubmitWeight is what the "resubmit" children's submission weighs.
	resubmitWeight = 7
)

// TestHelperProcess is not a test: it is the child of the tests below.
func TestHelperProcess(t *testing.T) {
	role := os.Getenv(helperRole)
	if role == "" {
		t.Skip("run by the multi-process tests")
	}
	out, err := runHelper(role)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	data, _ := json.Marshal(out)
	fmt.Printf("%s%s\n", resultMark, data)
	os.Exit(0)
}

func helperArg(name string) string { return os.Getenv(helperEnv + name) }

func helperInt(name string) int {
	n, err := strconv.Atoi(helperArg(name))
	if err != nil {
		panic(fmt.Sprintf("helper argument %s: %v", name, err))
	}
	return n
}

// helperResult is what a child reports.
type helperResult struct {
	Counts   []int  `json:"counts,omitempty"`
	Count    int    `json:"count,omitempty"`
	Changed  bool   `json:"changed,omitempty"`
	Incident string `json:"incident,omitempty"`
	Migrated int    `json:"migrated"`
}

// ready tells the parent this child is set up, and waits for the parent to
// close stdin, so that all children start their work at once.
func ready() {
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
}

func runHelper(role string) (*helperResult, error) {
	ctx := context.Background()
	path := helperArg("DB")
	if role == "open" {
		ready()
		s, err := Open(path, nil)
		if err != nil {
			return nil, err
		}
		defer s.Close()
		return &helperResult{Migrated: s.migrated}, nil
	}
	s, err := Open(path, nil)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	index, procs := helperInt("INDEX"), helperInt("PROCS")
	switch role {
	case "record":
		n := helperInt("N")
		ready()
		res := &helperResult{Counts: make([]int, 0, n)}
		for j := range n {
			// Distinct times, interleaved between the children.
			at := t0.Add(time.Duration(j*procs+index) * time.Millisecond)
			ev := spamrun.SpamEvent{Time: at, MessageID: fmt.Sprintf("%d.%d", index, j), Score: 9}
			count, err := s.RecordSpam(ctx, "site", ev, recordMax, recordWindow)
			if err != nil {
				return nil, err
			}
			res.Counts = append(res.Counts, count)
		}
		return res, nil
	case "scripts":
		n := helperInt("N")
		ready()
		for j := range n {
			if err := s.RecordScript(ctx, "site", scriptSubmission(index, j)); err != nil {
				return nil, err
			}
		}
		return &helperResult{}, nil
	case "resubmit":
		ready()
		// Every child decides the same submission again, as a runner and
		// a late sendmail might.
		ev := spamrun.SpamEvent{Time: t0, MessageID: strconv.Itoa(index), Submission: "20261102T090000.000000-5A17E0C3D9", Weight: resubmitWeight}
		count, err := s.RecordSpam(ctx, "site", ev, recordMax, recordWindow)
		if err != nil {
			return nil, err
		}
		return &helperResult{Count: count}, nil
	case "trip":
		ready()
		// What the detector does: record, and disable when over the limit.
		count, err := s.RecordSpam(ctx, "site", spamrun.SpamEvent{Time: t0, MessageID: strconv.Itoa(index)}, tripMax, time.Hour)
		if err != nil {
			return nil, err
		}
		res := &helperResult{Count: count}
		if count > tripMax {
			inc := &spamrun.Incident{ID: fmt.Sprint("inc-", index), Site: "site", Time: t0, Count: count}
			cur, changed, err := s.SetDisabled(ctx, "site", inc)
			if err != nil {
				return nil, err
			}
			res.Changed, res.Incident = changed, cur.ID
		}
		return res, nil
	}
	return nil, fmt.Errorf("unknown role %q", role)
}

type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr bytes.Buffer
}

// startChildren starts n children in role with the given arguments and
// waits until each is ready.
func startChildren(tb testing.TB, n int, role string, args map[string]string) []*child {
	tb.Helper()
	children := make([]*child, n)
	tb.Cleanup(func() {
		for _, c := range children {
			if c != nil && c.cmd.ProcessState == nil {
				c.cmd.Process.Kill()
				c.cmd.Wait()
			}
		}
	})
	for i := range children {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), helperRole+"="+role,
			helperEnv+"INDEX="+strconv.Itoa(i), helperEnv+"PROCS="+strconv.Itoa(n),
			// A race-enabled binary otherwise sleeps a second as it exits.
			"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
		for k, v := range args {
			cmd.Env = append(cmd.Env, helperEnv+k+"="+v)
		}
		c := &child{cmd: cmd}
		cmd.Stderr = &c.stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			tb.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			tb.Fatal(err)
		}
		c.stdin, c.stdout = stdin, bufio.NewReader(stdout)
		if err := cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		children[i] = c
	}
	for i, c := range children {
		line, err := c.stdout.ReadString('\n')
		if strings.TrimSpace(line) != "ready" {
			tb.Fatalf("child %d: got %q, %v instead of ready; stderr: %s", i, line, err, c.stderr.String())
		}
	}
	return children
}

// finish lets the children go and collects their results.
func finish(tb testing.TB, children []*child) []*helperResult {
	tb.Helper()
	for _, c := range children {
		c.stdin.Close()
	}
	results := make([]*helperResult, len(children))
	for i, c := range children {
		out, _ := io.ReadAll(c.stdout)
		if err := c.cmd.Wait(); err != nil {
			tb.Fatalf("child %d: %v; stderr: %s", i, err, c.stderr.String())
		}
		for line := range strings.Lines(string(out)) {
			if data, ok := strings.CutPrefix(line, resultMark); ok {
				results[i] = new(helperResult)
				if err := json.Unmarshal([]byte(data), results[i]); err != nil {
					tb.Fatalf("child %d: %v", i, err)
				}
			}
		}
		if results[i] == nil {
			tb.Fatalf("child %d reported nothing; stdout: %s; stderr: %s", i, out, c.stderr.String())
		}
	}
	return results
}

// checkPlacesInLine checks that the counts the children saw, all events
// lying in one window, are 1, 2, … up to the log's bound, once each, and the
// bound from there on: no two submissions saw the same count below it, so
// none was lost.
func checkPlacesInLine(tb testing.TB, results []*helperResult, total int) {
	tb.Helper()
	var counts []int
	for _, r := range results {
		counts = append(counts, r.Counts...)
	}
	if len(counts) != total {
		tb.Fatalf("%d counts reported, want %d", len(counts), total)
	}
	slices.Sort(counts)
	for i, n := range counts {
		if want := min(i+1, recordMax+1); n != want {
			tb.Fatalf("sorted counts: position %d holds %d, want %d; a count was seen twice, an update lost", i, n, want)
		}
	}
}

func TestMultiProcessExact(t *testing.T) {
	for _, tc := range []struct{ procs, each int }{{8, 100}, {50, 20}} {
		if raceEnabled {
			tc.each /= 4
		}
		t.Run(fmt.Sprintf("%dx%d", tc.procs, tc.each), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			s, err := Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			children := startChildren(t, tc.procs, "record", map[string]string{"DB": path, "N": strconv.Itoa(tc.each)})
			results := finish(t, children)
			total := tc.procs * tc.each
			checkPlacesInLine(t, results, total)

			last := t0.Add(time.Duration(total-1) * time.Millisecond)
			evs, err := s.SpamLog(context.Background(), "site", last, recordWindow)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != total {
				t.Errorf("the log holds %d events, want %d", len(evs), total)
			}
			for i, ev := range evs {
				if want := t0.Add(time.Duration(i) * time.Millisecond); !ev.Time.Equal(want) {
					t.Fatalf("event %d at %v, want %v: the log is not in time order", i, ev.Time.Sub(t0), want.Sub(t0))
				}
			}
		})
	}
}

// TestMultiProcessResubmit: processes that decide one submission at once
// count it once, and each is told the count with it.
func TestMultiProcessResubmit(t *testing.T) {
	const procs = 20
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, r := range finish(t, startChildren(t, procs, "resubmit", map[string]string{"DB": path})) {
		if r.Count != resubmitWeight {
			t.Errorf("child %d: count %d, want %d", i, r.Count, resubmitWeight)
		}
	}
	evs, err := s.SpamLog(context.Background(), "site", t0, recordWindow)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || spamrun.SpamWeight(evs) != resubmitWeight {
		t.Errorf("the log holds %d events weighing %d, want 1 weighing %d", len(evs), spamrun.SpamWeight(evs), resubmitWeight)
	}
}

// scriptSubmission is the jth submission of child index in the "scripts"
// role: two scripts and the nameless, over three minutes, some spam.
func scriptSubmission(index, j int) spamrun.Submission {
	return spamrun.Submission{
		Time:   t0.Add(time.Duration(j%3)*time.Minute + time.Duration(index)*time.Millisecond),
		Script: []string{"1001:contact.php", "", "1001:x.php"}[(index+j)%3],
		Spam:   (index*j)%4 == 1,
	}
}

// TestMultiProcessScripts: many sendmail runs record their submissions at
// once, in the script history and the activity; every one is counted.
func TestMultiProcessScripts(t *testing.T) {
	procs, each := 20, 30
	if raceEnabled {
		each /= 3
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	finish(t, startChildren(t, procs, "scripts", map[string]string{"DB": path, "N": strconv.Itoa(each)}))

	model := spamrun.NewMemoryStore()
	for i := range procs {
		for j := range each {
			model.RecordScript(ctx, "site", scriptSubmission(i, j))
		}
	}
	from, to := t0.Add(-time.Hour), t0.Add(time.Hour)
	for what, read := range map[string]func(spamrun.ScriptHistory) (any, error){
		"Activity": func(h spamrun.ScriptHistory) (any, error) { return h.Activity(ctx, "site", from, to) },
		"Scripts": func(h spamrun.ScriptHistory) (any, error) {
			l, err := h.Scripts(ctx, "site")
			for i := range l {
				l[i].First, l[i].Last = l[i].First.UTC(), l[i].Last.UTC()
			}
			return l, err
		},
	} {
		got, err := read(s)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := read(model)
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if !bytes.Equal(g, w) {
			t.Errorf("%s after %d processes:\n got %s\nwant %s", what, procs, g, w)
		}
	}
}

// TestMultiProcessTrip: 50 sendmail runs of one site submit a spam each at
// the same instant, with max_spam 10. Exactly 10 may pass, the other 40 are
// over the limit, and of those exactly one disables the site and enforces.
func TestMultiProcessTrip(t *testing.T) {
	const procs = 50
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	results := finish(t, startChildren(t, procs, "trip", map[string]string{"DB": path}))

	under, changed := 0, 0
	var winner string
	incidents := map[string]int{}
	for _, r := range results {
		if r.Count <= tripMax {
			under++
			continue
		}
		if r.Count != tripMax+1 {
			t.Errorf("a child saw count %d; over the limit the count is %d", r.Count, tripMax+1)
		}
		incidents[r.Incident]++
		if r.Changed {
			changed++
			winner = r.Incident
		}
	}
	if under != tripMax {
		t.Errorf("%d submissions counted within the limit, want exactly %d", under, tripMax)
	}
	if changed != 1 {
		t.Fatalf("%d processes disabled the site, want exactly 1", changed)
	}
	if len(incidents) != 1 || incidents[winner] != procs-tripMax {
		t.Errorf("processes over the limit were told of incidents %v; want all %d of %s", incidents, procs-tripMax, winner)
	}
	ctx := context.Background()
	if inc, err := s.Disabled(ctx, "site"); err != nil || inc == nil || inc.ID != winner {
		t.Errorf("Disabled = %v, %v; want %s", inc, err, winner)
	}
	if incs, err := s.Incidents(ctx, "site"); err != nil || len(incs) != 1 {
		t.Errorf("Incidents = %d, %v; want exactly one", len(incs), err)
	}
}

// TestMultiProcessOpenFresh: sendmail runs that find no database create it
// at once; each must open it, and the schema must be created once.
func TestMultiProcessOpenFresh(t *testing.T) {
	const procs = 4
	path := filepath.Join(t.TempDir(), "state.db")
	results := finish(t, startChildren(t, procs, "open", map[string]string{"DB": path}))
	migrators := 0
	for i, r := range results {
		switch r.Migrated {
		case 0:
		case len(migrations):
			migrators++
		default:
			t.Errorf("child %d applied %d migrations, want 0 or %d", i, r.Migrated, len(migrations))
		}
	}
	if migrators != 1 {
		t.Errorf("%d processes migrated the new database, want exactly 1", migrators)
	}
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.migrated != 0 {
		t.Errorf("the schema was left at a version that needs %d more migrations", s.migrated)
	}
}

// BenchmarkSQLiteMultiProcess runs b.N submissions for one site split over 8
// processes, as 8 concurrent sendmail runs would, and checks every count.
// It reports submissions per second over all processes, timed from the
// moment all are ready, so process start-up is not counted.
func BenchmarkSQLiteMultiProcess(b *testing.B) {
	const procs = 8
	path := filepath.Join(b.TempDir(), "state.db")
	s, err := Open(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	each := max(1, b.N/procs)
	children := startChildren(b, procs, "record", map[string]string{"DB": path, "N": strconv.Itoa(each)})
	b.ResetTimer()
	start := time.Now()
	results := finish(b, children)
	elapsed := time.Since(start)
	b.StopTimer()
	checkPlacesInLine(b, results, procs*each)
	b.ReportMetric(float64(procs*each)/elapsed.Seconds(), "submissions/s")
}
