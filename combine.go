package spamrun

import (
	"context"
	"fmt"
	"math"
	"time"
)

// CombinedScorer asks a fast scorer first and an external filter only when
// the fast score is close to the threshold, where a second opinion can
// change the verdict. SpamAssassin manages about ten messages a second; the
// builtin scorer thousands: most messages are clearly ham or clearly spam
// and never wait for the filter.
//
// When the filter is asked and answers, its score is the result, with the
// fast score kept as a rule of zero points for the record. When it fails or
// does not answer within Timeout, the fast score stands, with a rule of
// zero points that says so: a slow or dead filter delays no site's mail.
type CombinedScorer struct {
	// First is the fast scorer, usually the builtin.
	First Scorer
	// External is the filter a host already runs (spamd, rspamd).
	External Scorer
	// Threshold is the score at which a message is spam; Band is how far
	// on either side of it the filter is asked: [Threshold−Band,
	// Threshold+Band). Band 0 asks it never; math.Inf(1) always.
	Threshold, Band float64
	// Timeout bounds the filter's answer; 0 means 10 seconds.
	Timeout time.Duration
	// Name names the filter in the rules it adds, e.g. "SPAMASSASSIN".
	Name string
}

var _ Scorer = (*CombinedScorer)(nil)

// Score implements Scorer.
func (c *CombinedScorer) Score(ctx context.Context, msg *Message) (Score, error) {
	first, err := c.First.Score(ctx, msg)
	if err != nil {
		return Score{}, err
	}
	if first.Value < c.Threshold-c.Band || first.Value >= c.Threshold+c.Band {
		return first, nil
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ectx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ext, err := c.External.Score(ectx, msg)
	name := c.Name
	if name == "" {
		name = "EXTERNAL"
	}
	if err != nil || math.IsNaN(ext.Value) || math.IsInf(ext.Value, 0) {
		if err == nil {
			err = fmt.Errorf("score %v", ext.Value)
		}
		first.Add(name+"_UNAVAILABLE", 0, fmt.Sprintf("no answer from the filter, the builtin score stands: %v", err))
		return first, nil
	}
	ext.Add("BUILTIN_SCORE", 0, fmt.Sprintf("the builtin scorer said %.1f, close to the threshold %.1f, so the filter decided", first.Value, c.Threshold))
	return ext, nil
}
