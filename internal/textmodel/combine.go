package textmodel

import (
	"iter"
	"math"
	"slices"
)

// Combiner is the second stage of the builtin scorer's decision: a
// logistic regression over the text model's log-odds and the points of
// each rule that fired, fitted on out-of-fold predictions of the training
// data. Several weak signs that the rules' sum leaves below the spam score
// (a shortener, two casino words, a model that is fairly sure) can agree
// on a message that is spam, where the same signs apart are what honest
// mail has.
//
// Weights are never negative: no rule and no model verdict makes a
// message less likely spam than it would be without it.
type Combiner struct {
	Bias  float64
	Model float64            // weight of the model's log-odds, clipped to ±maxLogit
	Rules map[string]float64 // weight of a rule's points, by rule name
	// Threshold is the probability at or above which the combination
	// marks a message spam; 0 means it never does.
	Threshold float64
}

// maxLogit bounds the model's log-odds as a feature, so that the model
// alone cannot swamp the rules.
const maxLogit = 8.0

// Probability is the combination's spam probability for a message whose
// text model said p and whose rules gave points.
func (c *Combiner) Probability(p float64, rules iter.Seq2[string, float64]) float64 {
	z := c.Bias + c.Model*logit(p)
	for name, pts := range rules {
		z += c.Rules[name] * pts
	}
	return 1 / (1 + math.Exp(-z))
}

func logit(p float64) float64 {
	p = min(max(p, 1e-9), 1-1e-9)
	return min(max(math.Log(p/(1-p)), -maxLogit), maxLogit)
}

// CombinerInput is one training message for FitCombiner.
type CombinerInput struct {
	P     float64            // the text model's out-of-fold probability
	Rules map[string]float64 // points by rule name
	Spam  bool
	// Weight is how much the message counts; 0 counts as 1.
	Weight float64
}

// Settings of the combiner's fit: plain batch gradient descent, so that
// the same input always gives the same weights.
const (
	combinerSteps = 3000
	combinerRate  = 0.5
	combinerL2    = 1e-3
)

// FitCombiner fits a Combiner on in, and its out-of-fold probability for
// each input over folds folds by position; choose picks the Threshold
// from those.
func FitCombiner(in []CombinerInput, folds int, choose func(oof []float64) float64) (Combiner, []float64) {
	var names []string
	seen := map[string]bool{}
	for _, x := range in {
		for name := range x.Rules {
			if !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	rows := combinerRows(in, names)
	oof := make([]float64, len(in))
	for k := range folds {
		w, bias := fitCombiner(in, rows, len(names), func(i int) bool { return i%folds != k })
		for i := k; i < len(in); i += folds {
			oof[i] = 1 / (1 + math.Exp(-rows[i].z(w, bias)))
		}
	}
	w, bias := fitCombiner(in, rows, len(names), func(int) bool { return true })
	c := Combiner{Bias: bias, Model: w[0], Rules: make(map[string]float64, len(names))}
	for j, n := range names {
		if w[1+j] > 0 {
			c.Rules[n] = w[1+j]
		}
	}
	if choose != nil {
		c.Threshold = choose(oof)
	}
	return c, oof
}

// combinerRow is one input as features: the model's log-odds and each
// rule's points by index into the sorted names, so that every sum is
// taken in the same order and the fit is the same on every run.
type combinerRow struct {
	logit float64
	rule  []int
	pts   []float64
}

func (r *combinerRow) z(w []float64, bias float64) float64 {
	z := bias + w[0]*r.logit
	for k, j := range r.rule {
		z += w[1+j] * r.pts[k]
	}
	return z
}

func combinerRows(in []CombinerInput, names []string) []combinerRow {
	rows := make([]combinerRow, len(in))
	for i, x := range in {
		rows[i].logit = logit(x.P)
		for j, n := range names {
			if pts, ok := x.Rules[n]; ok {
				rows[i].rule = append(rows[i].rule, j)
				rows[i].pts = append(rows[i].pts, pts)
			}
		}
	}
	return rows
}

// fitCombiner returns the weights (the model's first, then each rule's)
// and the bias fitted on the inputs use accepts.
func fitCombiner(in []CombinerInput, rows []combinerRow, nRules int, use func(int) bool) ([]float64, float64) {
	w := make([]float64, 1+nRules)
	var bias, total float64
	for i, x := range in {
		if use(i) {
			total += weightOf(x)
		}
	}
	grad := make([]float64, len(w))
	for range combinerSteps {
		clear(grad)
		var gb float64
		for i, x := range in {
			if !use(i) {
				continue
			}
			r := &rows[i]
			y := 0.0
			if x.Spam {
				y = 1
			}
			g := (1/(1+math.Exp(-r.z(w, bias))) - y) * weightOf(x) / total
			gb += g
			grad[0] += g * r.logit
			for k, j := range r.rule {
				grad[1+j] += g * r.pts[k]
			}
		}
		bias -= combinerRate * gb
		for j := range w {
			w[j] -= combinerRate * (grad[j] + combinerL2*w[j])
			w[j] = max(w[j], 0)
		}
	}
	return w, bias
}

func weightOf(x CombinerInput) float64 {
	if x.Weight == 0 {
		return 1
	}
	return x.Weight
}
