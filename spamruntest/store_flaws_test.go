package spamruntest_test

import (
	"context"
	"time"

	"github.com/spamrun/spamrun"
)

// The flaws a store's history of scripts, activity and incidents might
// have, each with the subtest of TestStore that must catch it.
func init() {
	addBroken("enforce-any-disabled", func() spamrun.Store { return enforceAnyDisabled{spamrun.NewMemoryStore()} }, "IncidentLogEnforcedAfterRetrip")
	addBroken("activity-closed-range", func() spamrun.Store { return activityClosedRange{spamrun.NewMemoryStore()} }, "ActivityBounds")
	addBroken("lost-spam", func() spamrun.Store { return lostSpam{spamrun.NewMemoryStore()} }, "ScriptsSpam")
	addBroken("no-submissions", func() spamrun.Store { return noSubmissions{spamrun.NewMemoryStore()} }, "SubmissionCountsOnce")
}

func addBroken(name string, open func() spamrun.Store, catches string) {
	b := brokenStores[name]
	b.open, b.catches = open, catches
	brokenStores[name] = b
}

// enforceAnyDisabled records the enforcement on whatever incident is in
// force, as a store that forgets to compare IDs would.
type enforceAnyDisabled struct{ *spamrun.MemoryStore }

func (s enforceAnyDisabled) SetEnforced(ctx context.Context, site, id string, e spamrun.Enforcement) error {
	if cur, err := s.Disabled(ctx, site); err == nil && cur != nil {
		id = cur.ID
	}
	return s.MemoryStore.SetEnforced(ctx, site, id, e)
}

// activityClosedRange includes the minute that starts at the end.
type activityClosedRange struct{ *spamrun.MemoryStore }

func (s activityClosedRange) Activity(ctx context.Context, site string, from, to time.Time) ([]spamrun.Minute, error) {
	return s.MemoryStore.Activity(ctx, site, from, to.Add(time.Nanosecond))
}

// lostSpam keeps no spam count in the history.
type lostSpam struct{ *spamrun.MemoryStore }

func (s lostSpam) Scripts(ctx context.Context, site string) ([]spamrun.ScriptSeen, error) {
	l, err := s.MemoryStore.Scripts(ctx, site)
	for i := range l {
		l[i].Spam = 0
	}
	return l, err
}

// noSubmissions records every decision as new, as a store without the
// submission key would: a decision made again counts twice.
type noSubmissions struct{ *spamrun.MemoryStore }

func (s noSubmissions) RecordSpam(ctx context.Context, site string, ev spamrun.SpamEvent, max int, window time.Duration) (int, error) {
	ev.Submission = ""
	return s.MemoryStore.RecordSpam(ctx, site, ev, max, window)
}
