// Command evaluate scores the held-out SpamAssassin corpus groups
// (easy-ham-2, hard-ham-1, spam-2), which the text model never trained
// on, and the hosting hold-out set (testdata/hosting), with the builtin
// scorer, SpamAssassin and rspamd side by side, and prints a Markdown
// table of precision, recall, false-positive rate and messages/s per
// scorer and group:
//
//	go run ./bench/evaluate [-sample N] [-workers N] [-hosting DIR] [-readme README.md]
//
// Before it comes the builtin scorer's measures against its goals; after
// it, the hosting set by language and by kind (read from the file names),
// and a run-level figure: for each kind, a run from one site through a
// detector with the default policy and hold mode off, 100 messages of a
// spam kind or 1,000 of a ham kind, and how many it sent before the site
// tripped.
//
// spamd and rspamd are started on loopback ports for the run, with their
// network tests off, when they are installed (-daemons=false leaves them
// out); -spamd ADDR and -rspamd URL ask daemons that are already running
// instead. A scorer calls a message spam at 5 on the SpamAssassin scale.
//
// Messages are parsed before the clock starts. The builtin scorer runs on
// one goroutine, so its messages/s is its own rate on one core; the
// daemons, which take tens of milliseconds a message, are asked by
// -workers goroutines at once, and their rows say how many.
//
// spamd needs some minutes for the whole evaluation set; -sample N scores
// N evenly spaced messages of each group instead. -readme FILE puts the
// table between the lines <!-- evaluate:begin --> and
// <!-- evaluate:end --> of FILE, with a line saying when, where and how
// it was measured.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/internal/filterd"
	"github.com/spamrun/spamrun/internal/host"
	"github.com/spamrun/spamrun/internal/textmodel/corpus"
	"github.com/spamrun/spamrun/rspamd"
	"github.com/spamrun/spamrun/spamassassin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// scorer is one row group of the table.
type scorer struct {
	name      string
	threshold string // what the scorer's 5 means, for the table
	s         spamrun.Scorer
	workers   int
}

// group is one held-out corpus group, parsed.
type group struct {
	name string
	spam bool
	msgs []*spamrun.Message
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("evaluate", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dir := fl.String("corpus", "", "corpus `directory` (default $SPAMRUN_CORPUS, else a cached copy, else downloaded)")
	sample := fl.Int("sample", 0, "score `N` evenly spaced messages of each group; 0 scores all")
	workers := fl.Int("workers", 4, "messages spamd and rspamd are asked at once")
	daemons := fl.Bool("daemons", true, "start spamd and rspamd for the run when they are installed")
	spamdAddr := fl.String("spamd", "", "ask the spamd at `host:port` instead of starting one")
	rspamdURL := fl.String("rspamd", "", "ask the rspamd at `URL` instead of starting one")
	timeout := fl.Duration("timeout", 30*time.Second, "per-message timeout of spamd and rspamd")
	hosting := fl.String("hosting", "testdata/hosting", "the hosting hold-out set's `directory`; \"\" leaves it out")
	readme := fl.String("readme", "", "write the table into `FILE` between its evaluate markers")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() > 0 || *sample < 0 || *workers < 1 {
		fmt.Fprintln(stderr, "evaluate: bad arguments; see -h")
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "evaluate:", err)
		return 1
	}
	if *readme != "" {
		// Find missing markers now, not after the run.
		doc, err := os.ReadFile(*readme)
		if err != nil {
			return fail(err)
		}
		if _, err := replaceBlock(string(doc), ""); err != nil {
			return fail(fmt.Errorf("%s: %w", *readme, err))
		}
	}

	groups, err := loadGroups(*dir, *sample)
	if err != nil {
		return fail(err)
	}
	var hostingSet []hostingMsg
	if *hosting != "" {
		if hostingSet, err = loadHosting(*hosting); err != nil {
			return fail(err)
		}
		groups = append(groups, hostingGroups(hostingSet)...)
	}

	scorers := []scorer{
		{name: "builtin", threshold: "5", s: spamrun.NewBuiltinScorer(), workers: 1},
		{name: "builtin rules only", threshold: "5", s: spamrun.NewBuiltinScorerWithOptions(&spamrun.BuiltinOptions{RulesOnly: true}), workers: 1},
	}
	external, closeDaemons, err := externalScorers(ctx, stderr, *daemons, *spamdAddr, *rspamdURL, *workers, *timeout)
	defer closeDaemons()
	if err != nil {
		return fail(err)
	}
	scorers = append(scorers, external...)
	// What a host that sets [scorer] kind gets: the builtin score, and the
	// filter's only when the builtin is within the band of the threshold.
	for _, e := range external {
		scorers = append(scorers, scorer{
			name:      fmt.Sprintf("builtin, then %s within %g of 5", e.name, host.ExternalBand),
			threshold: "5",
			s:         &spamrun.CombinedScorer{First: spamrun.NewBuiltinScorer(), External: e.s, Threshold: 5, Band: host.ExternalBand, Timeout: *timeout},
			workers:   e.workers,
		})
	}

	var rows []row
	for _, sc := range scorers {
		// A daemon's first requests are slow while it fills its caches;
		// they are scored once before the clock starts.
		if len(groups) > 0 {
			warmUp := groups[0]
			warmUp.msgs = warmUp.msgs[:min(len(warmUp.msgs), 2*sc.workers)]
			scoreGroup(ctx, sc, warmUp)
		}
		for _, g := range groups {
			r, err := scoreGroup(ctx, sc, g)
			if err != nil {
				return fail(err)
			}
			fmt.Fprintf(stderr, "evaluate: %s on %s: %d messages in %v\n", r.scorer, r.group, r.Messages, r.elapsed.Round(time.Millisecond))
			if r.firstErr != nil {
				fmt.Fprintf(stderr, "evaluate: %s on %s: %d errors, the first: %v\n", r.scorer, r.group, r.Errors, r.firstErr)
			}
			rows = append(rows, r)
		}
	}
	table := formatTable(rows)
	if hostingSet != nil {
		detail, err := hostingTables(ctx, spamrun.NewBuiltinScorer(), hostingSet)
		if err != nil {
			return fail(err)
		}
		table = goalsTable(rows, hostingSet) + "\n" + table + detail
	}
	fmt.Fprint(stdout, table)

	if *readme != "" {
		note := measuredLine(time.Now(), args, *sample)
		if err := updateReadme(*readme, table+"\n"+note+"\n"); err != nil {
			return fail(err)
		}
	}
	return 0
}

// loadGroups reads and parses the evaluation groups, or n evenly spaced
// messages of each when n > 0.
func loadGroups(dir string, n int) ([]group, error) {
	data, err := corpus.Resolve(dir)
	if err != nil {
		return nil, err
	}
	var groups []group
	for _, g := range corpus.EvalGroups {
		items, err := corpus.ReadGroup(data, g.Name)
		if err != nil {
			return nil, err
		}
		gr := group{name: g.Name, spam: g.Spam}
		for _, it := range sampleEvenly(items, n) {
			gr.msgs = append(gr.msgs, corpus.Parse(it.Raw))
		}
		groups = append(groups, gr)
	}
	return groups, nil
}

// sampleEvenly returns every k-th of items, from the first, so that there
// are n; all of them when n is 0 or not less than len(items).
func sampleEvenly[T any](items []T, n int) []T {
	if n <= 0 || n >= len(items) {
		return items
	}
	k := len(items) / n
	out := make([]T, n)
	for i := range out {
		out[i] = items[i*k]
	}
	return out
}

// externalScorers returns the SpamAssassin and rspamd scorers: the daemons
// at the given addresses, else, with start, daemons started for the run
// when installed. The returned function stops what was started.
func externalScorers(ctx context.Context, stderr io.Writer, start bool, spamdAddr, rspamdURL string, workers int, timeout time.Duration) ([]scorer, func(), error) {
	var (
		sd       *filterd.Spamd
		rd       *filterd.Rspamd
		sdErr    error
		rdErr    error
		wg       sync.WaitGroup
		spamName = "SpamAssassin"
		rsName   = "rspamd"
	)
	// rspamd takes 10-20 s to start and spamd a few: in parallel.
	if start && spamdAddr == "" {
		wg.Go(func() {
			sd, sdErr = filterd.StartSpamd(ctx, &filterd.SpamdOptions{MaxChildren: workers})
		})
	}
	if start && rspamdURL == "" {
		wg.Go(func() {
			// Each rspamd worker uses one core however many requests it
			// has; more workers than cores would only compete.
			rd, rdErr = filterd.StartRspamd(ctx, &filterd.RspamdOptions{Workers: min(workers, runtime.NumCPU())})
		})
	}
	wg.Wait()
	stop := func() {
		if sd != nil {
			sd.Close()
		}
		if rd != nil {
			rd.Close()
		}
	}
	var errs []error
	for _, d := range []struct {
		name string
		err  error
	}{{"spamd", sdErr}, {"rspamd", rdErr}} {
		switch {
		case d.err == nil:
		case filterd.IsNotInstalled(d.err):
			fmt.Fprintf(stderr, "evaluate: %s is not installed (apt-get install %[1]s), so its rows are left out\n", d.name)
		default:
			errs = append(errs, d.err)
		}
	}
	if len(errs) > 0 {
		return nil, stop, errors.Join(errs...)
	}

	var scorers []scorer
	if sd != nil {
		spamdAddr = sd.Addr
		spamName += " " + sd.Version
	}
	if spamdAddr != "" {
		scorers = append(scorers, scorer{
			name:      fmt.Sprintf("%s (%d workers)", spamName, workers),
			threshold: "5 (required_score)",
			s:         &spamassassin.Scorer{Addr: spamdAddr, Timeout: timeout},
			workers:   workers,
		})
	}
	if rd != nil {
		rspamdURL = rd.URL
		rsName += " " + rd.Version
	}
	if rspamdURL != "" {
		// rspamd.Scorer rescales rspamd's score so that its "add header"
		// action, 6 by default, is 5.
		scorers = append(scorers, scorer{
			name:      fmt.Sprintf("%s (%d workers)", rsName, workers),
			threshold: fmt.Sprintf("%g (add header)", rspamd.DefaultSpamThreshold),
			s:         &rspamd.Scorer{URL: rspamdURL, Timeout: timeout},
			workers:   workers,
		})
	}
	return scorers, stop, nil
}

// scoreGroup scores g's messages with sc.workers goroutines and times it.
func scoreGroup(ctx context.Context, sc scorer, g group) (row, error) {
	var (
		next, marked, errs atomic.Int64
		firstErr           error
		once               sync.Once
		wg                 sync.WaitGroup
	)
	start := time.Now()
	for range sc.workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(g.msgs) {
					return
				}
				s, err := sc.s.Score(ctx, g.msgs[i])
				if err != nil {
					errs.Add(1)
					once.Do(func() { firstErr = err })
					continue
				}
				if s.Value >= 5 {
					marked.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return row{}, err
	}
	return row{
		scorer:    sc.name,
		threshold: sc.threshold,
		group:     g.name,
		spam:      g.spam,
		counts:    counts{Messages: len(g.msgs), Marked: int(marked.Load()), Errors: int(errs.Load())},
		elapsed:   time.Since(start),
		firstErr:  firstErr,
	}, nil
}

// measuredLine says when, where and how the table was made.
func measuredLine(now time.Time, args []string, sample int) string {
	cmd := strings.Join(append([]string{"go run ./bench/evaluate"}, args...), " ")
	what := "every message of each group"
	if sample > 0 {
		what = fmt.Sprintf("%d evenly spaced messages of each group", sample)
	}
	return fmt.Sprintf("Measured %s on %d CPUs (%s) with `%s`: %s.",
		now.UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.GOARCH, cmd, what)
}
