package spamruntest

import (
	"context"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
)

// TestStoreAcrossOpens runs a spam run through a PolicyDetector with each
// submission on a Store of its own from open, as every sendmail run opens
// its own: the eleventh spam within the hour trips the site, the incident
// lists the run, later submissions are refused, and re-enabling starts
// afresh. open returns a new Store on the same state each call.
func TestStoreAcrossOpens(t *testing.T, open func(t *testing.T) spamrun.Store) {
	t.Helper()
	ctx := context.Background()
	spam := spamrun.ScorerFunc(func(context.Context, *spamrun.Message) (spamrun.Score, error) {
		var s spamrun.Score
		s.Add("PHARMA", 9, "pharmacy vocabulary")
		return s, nil
	})
	policy := spamrun.Policy{SpamScore: 5, MaxSpam: 10, Window: time.Hour}
	detector := func() *spamrun.PolicyDetector {
		t.Helper()
		det, err := spamrun.NewDetector(&spamrun.DetectorOptions{Scorer: spam, Store: open(t), Policy: policy})
		if err != nil {
			t.Fatal(err)
		}
		return det
	}
	check := func(i int) spamrun.Verdict {
		t.Helper()
		v, err := detector().CheckAt(ctx, "shop1", &spamrun.Message{Sender: "www-data@shop1.example"}, T0.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for i := range 10 {
		if v := check(i); v.Action != spamrun.Deliver || v.Count != i+1 {
			t.Fatalf("submission %d: %v with count %d, want deliver with %d", i, v.Action, v.Count, i+1)
		}
	}
	v := check(10)
	if v.Action != spamrun.Refuse || !v.Tripped || v.Incident == nil {
		t.Fatalf("submission 10: %v, tripped %v; want the trip", v.Action, v.Tripped)
	}
	if n := len(v.Incident.Messages); n != 11 || v.Incident.Count != 11 {
		t.Errorf("incident lists %d messages, count %d; want 11 and 11", n, v.Incident.Count)
	}
	if v := check(11); v.Action != spamrun.Refuse || v.Tripped || v.Incident == nil || v.Incident.Count != 11 {
		t.Errorf("after the trip: %v, tripped %v; want a refusal naming the incident", v.Action, v.Tripped)
	}
	if err := detector().Enable(ctx, "shop1"); err != nil {
		t.Fatal(err)
	}
	if v := check(12); v.Action != spamrun.Deliver || v.Count != 1 {
		t.Errorf("after re-enabling: %v with count %d; want deliver with 1", v.Action, v.Count)
	}
}
