package spamrun

import (
	"context"
	"slices"
	"strings"
)

// Scorer rates a message for spam.
//
// Score returns a value on the SpamAssassin scale, where 5 means spam, with
// the rules that fired. An error means the message could not be scored at
// all; a scorer that can fall back to a partial answer should do so and say
// so in a rule hit instead.
type Scorer interface {
	Score(ctx context.Context, msg *Message) (Score, error)
}

// ScorerFunc adapts an ordinary function to the Scorer interface.
type ScorerFunc func(ctx context.Context, msg *Message) (Score, error)

// Score calls f(ctx, msg).
func (f ScorerFunc) Score(ctx context.Context, msg *Message) (Score, error) { return f(ctx, msg) }

var _ Scorer = ScorerFunc(nil)

// Score is a scorer's result.
type Score struct {
	// Value is the total on the SpamAssassin scale.
	Value float64 `json:"score"`
	// Rules are the rules that fired, in the order they were evaluated.
	Rules []RuleHit `json:"rules"`
}

// RuleHit is one rule that contributed to a Score.
type RuleHit struct {
	Name   string  `json:"name"`
	Points float64 `json:"score"`
	// Reason says in a few words what the rule saw, for the operator.
	Reason string `json:"reason,omitempty"`
}

// Add appends a rule hit and adds its points to the total.
func (s *Score) Add(name string, points float64, reason string) {
	s.Rules = append(s.Rules, RuleHit{Name: name, Points: points, Reason: reason})
	s.Value += points
}

// Top returns at most n rule hits with the most points first; the rules
// that explain a verdict best.
func (s Score) Top(n int) []RuleHit {
	top := slices.Clone(s.Rules)
	slices.SortStableFunc(top, func(a, b RuleHit) int {
		switch {
		case a.Points > b.Points:
			return -1
		case a.Points < b.Points:
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	if len(top) > n {
		top = top[:n]
	}
	return top
}

// Has reports whether the named rule fired.
func (s Score) Has(name string) bool {
	return slices.ContainsFunc(s.Rules, func(r RuleHit) bool { return r.Name == name })
}
