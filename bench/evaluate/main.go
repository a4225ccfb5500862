// Command evaluate scores the held-out SpamAssassin corpus groups
// (easy-ham-2, hard-ham-1, spam-2), which the text model never trained
// on, and prints a Markdown table per scorer:
//
//	go run ./bench/evaluate [-corpus DIR] [-spamd ADDR] [-rspamd URL]
//
// The builtin scorer runs without and with the embedded text model; -spamd
// and -rspamd add SpamAssassin and rspamd. Messages are parsed before the
// clock starts, so messages/s is the scorer's own rate on one goroutine.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/internal/textmodel"
	"github.com/spamrun/spamrun/internal/textmodel/corpus"
	"github.com/spamrun/spamrun/rspamd"
	"github.com/spamrun/spamrun/spamassassin"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("evaluate", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dir := fl.String("corpus", "", "corpus directory (default $SPAMRUN_CORPUS, else a cached copy, else npm pack)")
	spamd := fl.String("spamd", "", "also score with SpamAssassin's spamd at `host:port`")
	rspamdURL := fl.String("rspamd", "", "also score with rspamd at `URL`")
	timeout := fl.Duration("timeout", 30*time.Second, "per-message timeout of external scorers")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	data, err := corpus.Resolve(*dir)
	if err != nil {
		fmt.Fprintln(stderr, "evaluate:", err)
		return 1
	}
	type group struct {
		name string
		spam bool
		msgs []*spamrun.Message
	}
	var groups []group
	for _, g := range corpus.EvalGroups {
		items, err := corpus.ReadGroup(data, g.Name)
		if err != nil {
			fmt.Fprintln(stderr, "evaluate:", err)
			return 1
		}
		gr := group{name: g.Name, spam: g.Spam}
		for _, it := range items {
			gr.msgs = append(gr.msgs, corpus.Parse(it.Raw))
		}
		groups = append(groups, gr)
	}

	scorers := []struct {
		name string
		s    spamrun.Scorer
	}{
		{"builtin (rules only)", spamrun.NewBuiltinScorer()},
		{"builtin + text model", spamrun.NewBuiltinScorerWithOptions(&spamrun.BuiltinOptions{TextModel: textmodel.Default()})},
	}
	if *spamd != "" {
		scorers = append(scorers, struct {
			name string
			s    spamrun.Scorer
		}{"SpamAssassin", &spamassassin.Scorer{Addr: *spamd, Timeout: *timeout}})
	}
	if *rspamdURL != "" {
		scorers = append(scorers, struct {
			name string
			s    spamrun.Scorer
		}{"rspamd", &rspamd.Scorer{URL: *rspamdURL, Timeout: *timeout}})
	}

	fmt.Fprintln(stdout, "| scorer | group | messages | spam-marked | precision | recall | FP rate | errors | messages/s |")
	fmt.Fprintln(stdout, "|---|---|---:|---:|---:|---:|---:|---:|---:|")
	ctx := context.Background()
	for _, sc := range scorers {
		marked := make([]int, len(groups))
		for gi, g := range groups {
			errs := 0
			start := time.Now()
			for _, m := range g.msgs {
				s, err := sc.s.Score(ctx, m)
				if err != nil {
					errs++
					continue
				}
				if s.Value >= 5 {
					marked[gi]++
				}
			}
			rate := float64(len(g.msgs)) / time.Since(start).Seconds()
			n := len(g.msgs)
			precision, recall, fpRate := "", "", ""
			if g.spam {
				// Precision against all the held-out ham, as a filter
				// sees spam among mixed mail.
				var fp int
				for hi, h := range groups {
					if !h.spam {
						fp += marked[hi]
					}
				}
				if marked[gi]+fp > 0 {
					precision = fmt.Sprintf("%.4f", float64(marked[gi])/float64(marked[gi]+fp))
				}
				recall = fmt.Sprintf("%.4f", float64(marked[gi])/float64(n))
			} else {
				fpRate = fmt.Sprintf("%.2f %%", 100*float64(marked[gi])/float64(n))
			}
			fmt.Fprintf(stdout, "| %s | %s | %d | %d | %s | %s | %s | %d | %.0f |\n",
				sc.name, g.name, n, marked[gi], precision, recall, fpRate, errs, rate)
		}
	}
	return 0
}
