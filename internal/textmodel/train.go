package textmodel

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
)

// Doc is one training message: the tokens the builtin scorer's tokeniser
// yields for it, and its label.
type Doc struct {
	Words []string
	Spam  bool
}

// TrainOptions control training. Zero fields take the defaults.
type TrainOptions struct {
	Generator string   // recorded in the header
	InputHash [32]byte // recorded in the header
	// MinDocs drops tokens seen in fewer messages: one-off words are mostly
	// names and numbers, and their weights are noise.
	MinDocs int // default 3
	// MaxFeatures keeps the most informative tokens only, which bounds the
	// file size and the load time.
	MaxFeatures int // default 20000
	// Folds is the cross-validation that fits the calibration.
	Folds int // default 5
	// MarkAlone, when set, chooses the header's MarkAlone from the
	// calibrated out-of-fold probability of each document, in order.
	MarkAlone func(oof []float64) float64
	// Combine, when set, fits the Combiner from the calibrated
	// out-of-fold probability of each document, in order, and returns it
	// with its own out-of-fold probability of each document.
	Combine func(oof []float64) (Combiner, []float64)
	// Weight, when set, is how much each document counts in the fit,
	// in order; nil counts every document once.
	Weight []float64
}

// Result is a trained model.
type Result struct {
	File []byte // the model file, as Load reads it
	// OutOfFold is, for each training message in order, the calibrated
	// probability from a model that did not see it: what the training data
	// says the model will do on new mail.
	OutOfFold []float64
	// Combiner is the second stage written into File, and
	// CombinerOutOfFold its out-of-fold probability of each message; both
	// are zero without TrainOptions.Combine.
	Combiner          Combiner
	CombinerOutOfFold []float64
}

// Train learns a model from docs. The same docs and options always give
// the same bytes: maps are only ever read through sorted keys and the
// folds are fixed by position.
func Train(docs []Doc, opts TrainOptions) (Result, error) {
	if opts.MinDocs == 0 {
		opts.MinDocs = 3
	}
	if opts.MaxFeatures == 0 {
		opts.MaxFeatures = 20000
	}
	if opts.Folds == 0 {
		opts.Folds = 5
	}
	sets := make([][]string, len(docs))
	var ham, spam int
	for i, d := range docs {
		sets[i] = distinct(d.Words)
		if d.Spam {
			spam++
		} else {
			ham++
		}
	}
	if ham == 0 || spam == 0 {
		return Result{}, errors.New("textmodel: need both ham and spam to train")
	}

	oofScore := make([]float64, len(docs))
	for k := range opts.Folds {
		fs := fit(docs, sets, opts, func(i int) bool { return i%opts.Folds != k })
		for i := k; i < len(docs); i += opts.Folds {
			oofScore[i] = fs.logOdds(sets[i])
		}
	}
	labels := make([]bool, len(docs))
	for i, d := range docs {
		labels[i] = d.Spam
	}
	scale, bias := platt(oofScore, labels)

	fs := fit(docs, sets, opts, func(int) bool { return true })
	h := Header{Generator: opts.Generator, InputHash: opts.InputHash, Ham: ham, Spam: spam}
	cal := &Model{scale: scale, bias: bias}
	oof := make([]float64, len(docs))
	for i, s := range oofScore {
		oof[i] = cal.calibrate(s)
	}
	if opts.MarkAlone != nil {
		h.MarkAlone = opts.MarkAlone(oof)
	}
	var comb Combiner
	var combOOF []float64
	if opts.Combine != nil {
		comb, combOOF = opts.Combine(oof)
	}
	file := fs.encode(h, scale, bias, comb)
	if _, err := Load(file); err != nil {
		return Result{}, err
	}
	return Result{File: file, OutOfFold: oof, Combiner: comb, CombinerOutOfFold: combOOF}, nil
}

func distinct(words []string) []string {
	set := make([]string, 0, len(words))
	for _, w := range words {
		if len(w) <= maxTokenLen {
			set = append(set, w)
		}
	}
	slices.Sort(set)
	return slices.Compact(set)
}

// featureSet is a trained, pruned, quantised set of weights, sorted by
// token.
type featureSet struct {
	tokens  []string
	weights []int64 // · 1/weightScale
	index   map[string]int
}

func (fs *featureSet) logOdds(set []string) float64 {
	var s float64
	for _, w := range set {
		if i, ok := fs.index[w]; ok {
			s += float64(fs.weights[i]) / weightScale
		}
	}
	return s
}

func fit(docs []Doc, sets [][]string, opts TrainOptions, use func(int) bool) *featureSet {
	df := make(map[string]*[2]int)
	var n [2]int
	for i, d := range docs {
		if !use(i) {
			continue
		}
		c := 0
		if d.Spam {
			c = 1
		}
		n[c]++
		for _, w := range sets[i] {
			e := df[w]
			if e == nil {
				e = new([2]int)
				df[w] = e
			}
			e[c]++
		}
	}
	type cand struct {
		tok string
		ig  float64
	}
	var cands []cand
	for tok, e := range df {
		if e[0]+e[1] >= opts.MinDocs {
			cands = append(cands, cand{tok, infoGain(e[1], e[0], n[1], n[0])})
		}
	}
	slices.SortFunc(cands, func(a, b cand) int {
		if c := cmp.Compare(b.ig, a.ig); c != 0 {
			return c
		}
		return strings.Compare(a.tok, b.tok)
	})
	if len(cands) > opts.MaxFeatures {
		cands = cands[:opts.MaxFeatures]
	}
	slices.SortFunc(cands, func(a, b cand) int { return strings.Compare(a.tok, b.tok) })
	fs := &featureSet{index: make(map[string]int, len(cands))}
	for _, c := range cands {
		fs.index[c.tok] = len(fs.tokens)
		fs.tokens = append(fs.tokens, c.tok)
	}
	w := logistic(docs, sets, fs.index, opts.Weight, use)
	for _, x := range w {
		fs.weights = append(fs.weights, int64(math.Round(x*weightScale)))
	}
	return fs
}

// Logistic regression settings. Naive Bayes weights, tried first, ranked
// long ham badly: every mildly spammy word adds up. Regression learns how
// much each word adds given the others.
const (
	epochs       = 30
	learningRate = 0.05
	l2           = 1e-4
	shuffleSeed  = 1
)

// logistic fits weights for presence features by stochastic gradient
// descent in a fixed, seeded order. The intercept is left to the
// calibration, which is fitted out of fold.
func logistic(docs []Doc, sets [][]string, index map[string]int, weight []float64, use func(int) bool) []float64 {
	var rows [][]int32
	var labels, weights []float64
	for i, d := range docs {
		if !use(i) {
			continue
		}
		var row []int32
		for _, w := range sets[i] {
			if j, ok := index[w]; ok {
				row = append(row, int32(j))
			}
		}
		rows = append(rows, row)
		y := 0.0
		if d.Spam {
			y = 1
		}
		labels = append(labels, y)
		wt := 1.0
		if weight != nil {
			wt = weight[i]
		}
		weights = append(weights, wt)
	}
	w := make([]float64, len(index))
	var bias float64
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	state := uint64(shuffleSeed)
	for e := range epochs {
		// Fisher–Yates with a xorshift generator: the same every run.
		for i := len(order) - 1; i > 0; i-- {
			state ^= state << 13
			state ^= state >> 7
			state ^= state << 17
			j := int(state % uint64(i+1))
			order[i], order[j] = order[j], order[i]
		}
		rate := learningRate / (1 + 0.2*float64(e))
		for _, r := range order {
			z := bias
			for _, j := range rows[r] {
				z += w[j]
			}
			g := (1/(1+math.Exp(-z)) - labels[r]) * weights[r]
			bias -= rate * g
			for _, j := range rows[r] {
				w[j] -= rate * (g + l2*w[j])
			}
		}
	}
	return w
}

// infoGain is the information gain of a token's presence about the class,
// given it occurs in s of ns spam and h of nh ham messages.
func infoGain(s, h, ns, nh int) float64 {
	total := float64(ns + nh)
	with, without := float64(s+h), total-float64(s+h)
	ig := entropy(float64(ns), float64(nh))
	ig -= with / total * entropy(float64(s), float64(h))
	ig -= without / total * entropy(float64(ns-s), float64(nh-h))
	return ig
}

func entropy(a, b float64) float64 {
	var e float64
	for _, x := range []float64{a, b} {
		if x > 0 {
			p := x / (a + b)
			e -= p * math.Log2(p)
		}
	}
	return e
}

// platt fits p = σ(a·score + b) by Newton's method on the log loss, with
// Platt's smoothed targets so that separable data does not drive a to
// infinity.
func platt(score []float64, spam []bool) (a, b float64) {
	var np, nn float64
	for _, s := range spam {
		if s {
			np++
		} else {
			nn++
		}
	}
	hi, lo := (np+1)/(np+2), 1/(nn+2)
	a, b = 0.1, math.Log((np+1)/(nn+1))
	for range 100 {
		var g0, g1, h00, h01, h11 float64
		for i, x := range score {
			t := lo
			if spam[i] {
				t = hi
			}
			p := 1 / (1 + math.Exp(-(a*x + b)))
			d := p - t
			w := max(p*(1-p), 1e-12)
			g0 += d * x
			g1 += d
			h00 += w * x * x
			h01 += w * x
			h11 += w
		}
		h00 += 1e-9
		h11 += 1e-9
		det := h00*h11 - h01*h01
		if det == 0 {
			break
		}
		da := (h11*g0 - h01*g1) / det
		db := (h00*g1 - h01*g0) / det
		a, b = a-da, b-db
		if math.Abs(da) < 1e-12 && math.Abs(db) < 1e-12 {
			break
		}
	}
	return a, b
}

func (fs *featureSet) encode(h Header, scale, bias float64, comb Combiner) []byte {
	var buf bytes.Buffer
	buf.WriteString(magic)
	buf.WriteByte(formatVersion)
	putUvarint(&buf, uint64(len(h.Generator)))
	buf.WriteString(h.Generator)
	buf.Write(h.InputHash[:])
	putUvarint(&buf, uint64(h.Ham))
	putUvarint(&buf, uint64(h.Spam))
	buf.Write(binary.LittleEndian.AppendUint64(nil, math.Float64bits(scale)))
	buf.Write(binary.LittleEndian.AppendUint64(nil, math.Float64bits(bias)))
	buf.Write(binary.LittleEndian.AppendUint64(nil, math.Float64bits(h.MarkAlone)))
	for _, x := range []float64{comb.Bias, comb.Model, comb.Threshold} {
		buf.Write(binary.LittleEndian.AppendUint64(nil, math.Float64bits(x)))
	}
	names := slices.Sorted(maps.Keys(comb.Rules))
	putUvarint(&buf, uint64(len(names)))
	for _, n := range names {
		putUvarint(&buf, uint64(len(n)))
		buf.WriteString(n)
		buf.Write(binary.LittleEndian.AppendUint64(nil, math.Float64bits(comb.Rules[n])))
	}
	putUvarint(&buf, uint64(len(fs.tokens)))
	prev := ""
	for i, tok := range fs.tokens {
		shared := 0
		for shared < len(prev) && shared < len(tok) && prev[shared] == tok[shared] {
			shared++
		}
		putUvarint(&buf, uint64(shared))
		putUvarint(&buf, uint64(len(tok)-shared))
		buf.WriteString(tok[shared:])
		buf.Write(binary.AppendVarint(nil, fs.weights[i]))
		prev = tok
	}
	return buf.Bytes()
}

func putUvarint(buf *bytes.Buffer, v uint64) { buf.Write(binary.AppendUvarint(nil, v)) }
