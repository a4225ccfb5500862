package spamrun_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
)

func fixedScorer(v float64, calls *atomic.Int64) spamrun.Scorer {
	return spamrun.ScorerFunc(func(context.Context, *spamrun.Message) (spamrun.Score, error) {
		if calls != nil {
			calls.Add(1)
		}
		var s spamrun.Score
		s.Add("FIXED", v, "fixed")
		return s, nil
	})
}

func TestCombinedScorer(t *testing.T) {
	msg := testMessage(t, 0, "x")
	hang := spamrun.ScorerFunc(func(ctx context.Context, _ *spamrun.Message) (spamrun.Score, error) {
		<-ctx.Done()
		return spamrun.Score{}, ctx.Err()
	})
	failing := spamrun.ScorerFunc(func(context.Context, *spamrun.Message) (spamrun.Score, error) {
		return spamrun.Score{}, errors.New("connection refused")
	})
	for _, tc := range []struct {
		name      string
		first     float64
		external  spamrun.Scorer
		want      float64
		asked     bool
		wantRules []string
	}{
		{name: "clear ham is not sent out", first: 1, want: 1, wantRules: []string{"FIXED"}},
		{name: "clear spam is not sent out", first: 9, want: 9, wantRules: []string{"FIXED"}},
		{name: "at the band's top edge it is clear", first: 7, want: 7, wantRules: []string{"FIXED"}},
		{name: "close below: the filter decides", first: 3, want: 6.5, asked: true, wantRules: []string{"FIXED", "BUILTIN_SCORE"}},
		{name: "close above: the filter decides", first: 5.5, want: 6.5, asked: true, wantRules: []string{"FIXED", "BUILTIN_SCORE"}},
		{name: "a dead filter leaves the builtin score", first: 4, external: failing, want: 4, wantRules: []string{"FIXED", "SPAMD_UNAVAILABLE"}},
		{name: "a hanging filter times out", first: 4, external: hang, want: 4, wantRules: []string{"FIXED", "SPAMD_UNAVAILABLE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			ext := tc.external
			if ext == nil {
				ext = fixedScorer(6.5, &calls)
			}
			c := &spamrun.CombinedScorer{First: fixedScorer(tc.first, nil), External: ext, Threshold: 5, Band: 2, Timeout: 50 * time.Millisecond, Name: "SPAMD"}
			start := time.Now()
			s, err := c.Score(context.Background(), msg)
			if err != nil {
				t.Fatal(err)
			}
			if time.Since(start) > 2*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
			if s.Value != tc.want || (calls.Load() > 0) != tc.asked && tc.external == nil {
				t.Errorf("value %v (want %v), filter asked %d times", s.Value, tc.want, calls.Load())
			}
			var names []string
			sum := 0.0
			for _, r := range s.Rules {
				names = append(names, r.Name)
				sum += r.Points
			}
			if len(names) != len(tc.wantRules) {
				t.Fatalf("rules %v, want %v", names, tc.wantRules)
			}
			for i := range names {
				if names[i] != tc.wantRules[i] {
					t.Errorf("rules %v, want %v", names, tc.wantRules)
				}
			}
			if sum != s.Value {
				t.Errorf("points add up to %v, value %v", sum, s.Value)
			}
		})
	}
	c := &spamrun.CombinedScorer{First: failingFirst(), External: fixedScorer(1, nil), Threshold: 5, Band: 2}
	if _, err := c.Score(context.Background(), msg); err == nil {
		t.Error("an error of the first scorer was swallowed")
	}
}

func failingFirst() spamrun.Scorer {
	return spamrun.ScorerFunc(func(context.Context, *spamrun.Message) (spamrun.Score, error) {
		return spamrun.Score{}, errors.New("broken")
	})
}
