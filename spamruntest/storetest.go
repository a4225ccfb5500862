package spamruntest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
)

// TestStore checks that a spamrun.Store counts, logs and disables exactly as
// the specification says, which is what spamrun.MemoryStore does: every
// backend is held to the same answers, so a host can move from SQLite to
// Redis without a site tripping sooner or later. Each subtest calls open for
// a new, empty store.
//
// A store that also has an Incidents(ctx, site) method, listing the
// incidents that disabled site (every site for ""), newest first, has that
// checked too, and so have a spamrun.IncidentLog and a
// spamrun.ScriptHistory.
func TestStore(t *testing.T, open func(t *testing.T) spamrun.Store) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, spamrun.Store)
	}{
		{"WindowBoundary", storeWindowBoundary},
		{"OneNanosecondInside", storeOneNanosecondInside},
		{"MaxZero", storeMaxZero},
		{"EqualTimes", storeEqualTimes},
		{"LogKeepsMaxPlusOne", storeLogKeepsMaxPlusOne},
		{"MaxChangeKeepsNewest", storeMaxChangeKeepsNewest},
		{"OutOfOrder", storeOutOfOrder},
		{"OlderThanAllKeptIsDropped", storeOlderThanAllKept},
		{"HeavyEventTrips", storeHeavyEventTrips},
		{"WeightedOlderThanAllKept", storeWeightedOlderThanAllKept},
		{"WeightedMaxChange", storeWeightedMaxChange},
		{"WeightBelowOneCountsOne", storeWeightBelowOne},
		{"SubmissionCountsOnce", storeSubmissionCountsOnce},
		{"SubmissionDroppedFromLog", storeSubmissionDropped},
		{"SubmissionEmptyAlwaysCounts", storeSubmissionEmpty},
		{"SubmissionsDiffer", storeSubmissionsDiffer},
		{"ConcurrentSubmission", storeConcurrentSubmission},
		{"MatchesModel", storeMatchesModel},
		{"SpamLogWindow", storeSpamLogWindow},
		{"SpamLogRoundTrip", storeSpamLogRoundTrip},
		{"SetDisabled", storeSetDisabled},
		{"Enable", storeEnable},
		{"SitesAreIndependent", storeSitesAreIndependent},
		{"ConcurrentRecordSpam", storeConcurrentRecordSpam},
		{"ConcurrentSetDisabled", storeConcurrentSetDisabled},
		{"Incidents", storeIncidents},
		{"ScriptsFirstLastCount", scriptsFirstLastCount},
		{"ScriptsOutOfOrder", scriptsOutOfOrder},
		{"ScriptsCwdFallback", scriptsCwdFallback},
		{"ScriptsSitesAreIndependent", scriptsSitesAreIndependent},
		{"ScriptsOrder", scriptsOrder},
		{"ScriptsBound", scriptsBound},
		{"ScriptsConcurrent", scriptsConcurrent},
		{"ScriptsSpam", scriptsSpam},
		{"ActivityMinutes", activityMinutes},
		{"ActivityBounds", activityBounds},
		{"ActivityOutOfOrder", activityOutOfOrder},
		{"ActivitySitesAreIndependent", activitySitesAreIndependent},
		{"ActivityConcurrent", activityConcurrent},
		{"ActivityRetention", activityRetention},
		{"IncidentLogEnforced", incidentLogEnforced},
		{"IncidentLogEnforcedAfterRetrip", incidentLogEnforcedAfterRetrip},
		{"IncidentLogUnknown", incidentLogUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// storeAt is T0 plus minutes and seconds.
func storeAt(min, sec int) time.Time {
	return T0.Add(time.Duration(min)*time.Minute + time.Duration(sec)*time.Second)
}

// storeRecord records a spam event named id of weight 1 at the given time
// and checks the count.
func storeRecord(t *testing.T, s spamrun.Store, site, id string, at time.Time, max int, window time.Duration, want int) {
	t.Helper()
	storeRecordWeight(t, s, site, id, at, 1, max, window, want)
}

// storeRecordWeight is storeRecord for an event of the given weight.
func storeRecordWeight(t *testing.T, s spamrun.Store, site, id string, at time.Time, weight, max int, window time.Duration, want int) {
	t.Helper()
	storeRecordEvent(t, s, site, storeSubmission(id, "", at, weight), max, window, want)
}

// storeRecordEvent records ev, named by its MessageID, and checks the
// count.
func storeRecordEvent(t *testing.T, s spamrun.Store, site string, ev spamrun.SpamEvent, max int, window time.Duration, want int) {
	t.Helper()
	got, err := s.RecordSpam(context.Background(), site, ev, max, window)
	if err != nil {
		t.Fatalf("RecordSpam(%s at %v): %v", ev.MessageID, ev.Time.Sub(T0), err)
	}
	if got != want {
		t.Errorf("RecordSpam(%s of submission %q weighing %d at %v, max %d, window %v) = %d, want %d",
			ev.MessageID, ev.Submission, ev.Weighs(), ev.Time.Sub(T0), max, window, got, want)
	}
}

// storeLogIDs returns the message IDs of site's spam log in (now−window, now].
func storeLogIDs(t *testing.T, s spamrun.Store, site string, now time.Time, window time.Duration) []string {
	t.Helper()
	evs, err := s.SpamLog(context.Background(), site, now, window)
	if err != nil {
		t.Fatalf("SpamLog: %v", err)
	}
	ids := []string{}
	for _, ev := range evs {
		ids = append(ids, ev.MessageID)
	}
	return ids
}

func storeWantLog(t *testing.T, s spamrun.Store, site string, now time.Time, window time.Duration, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got := storeLogIDs(t, s, site, now, window); !slices.Equal(got, want) {
		t.Errorf("SpamLog(now %v, window %v) = %q, want %q", now.Sub(T0), window, got, want)
	}
}

func storeWindowBoundary(t *testing.T, s spamrun.Store) {
	// The window is open at its old end: an event exactly a window after
	// another does not share a window with it.
	storeRecord(t, s, "site", "a", storeAt(0, 0), 1, time.Hour, 1)
	storeRecord(t, s, "site", "b", storeAt(60, 0), 1, time.Hour, 1)
	storeRecord(t, s, "site", "c", storeAt(119, 59), 1, time.Hour, 2)
	storeWantLog(t, s, "site", storeAt(120, 0), time.Hour, "c")
	storeWantLog(t, s, "site", storeAt(119, 59), time.Hour, "b", "c")
}

func storeOneNanosecondInside(t *testing.T, s spamrun.Store) {
	storeRecord(t, s, "site", "a", storeAt(0, 0), 1, time.Hour, 1)
	storeRecord(t, s, "site", "b", storeAt(60, 0).Add(-time.Nanosecond), 1, time.Hour, 2)
	storeWantLog(t, s, "site", storeAt(60, 0).Add(-time.Nanosecond), time.Hour, "a", "b")
	storeWantLog(t, s, "site", storeAt(60, 0), time.Hour, "b")
}

func storeMaxZero(t *testing.T, s spamrun.Store) {
	storeRecord(t, s, "site", "a", storeAt(0, 0), 0, time.Minute, 1)
	storeRecord(t, s, "site", "b", storeAt(500, 0), 0, time.Minute, 1)
	storeWantLog(t, s, "site", storeAt(500, 0), 24*time.Hour, "b")
}

func storeEqualTimes(t *testing.T, s spamrun.Store) {
	for i, id := range []string{"a", "b", "c"} {
		storeRecord(t, s, "site", id, storeAt(5, 0), 2, time.Second, i+1)
	}
	// The log is full and d is not newer than any of it: it is dropped,
	// and the earlier events of the same instant stay.
	storeRecord(t, s, "site", "d", storeAt(5, 0), 2, time.Second, 3)
	storeWantLog(t, s, "site", storeAt(5, 0), time.Second, "a", "b", "c")
	// A newer event pushes out the first recorded of the oldest instant.
	storeRecord(t, s, "site", "e", storeAt(5, 0).Add(time.Nanosecond), 2, time.Second, 3)
	storeWantLog(t, s, "site", storeAt(6, 0), time.Hour, "b", "c", "e")
}

func storeLogKeepsMaxPlusOne(t *testing.T, s spamrun.Store) {
	var ids []string
	for i := range 10 {
		id := fmt.Sprint("m", i)
		ids = append(ids, id)
		storeRecord(t, s, "site", id, storeAt(i, 0), 3, time.Hour, min(i+1, 4))
	}
	storeWantLog(t, s, "site", storeAt(10, 0), time.Hour, ids[6:]...)
	// A wider window finds nothing older: it was never kept.
	storeWantLog(t, s, "site", storeAt(10, 0), 24*time.Hour, ids[6:]...)
}

func storeMaxChangeKeepsNewest(t *testing.T, s spamrun.Store) {
	for i := range 6 {
		storeRecord(t, s, "site", fmt.Sprint("m", i), storeAt(i, 0), 10, time.Hour, i+1)
	}
	// The operator lowers max_spam to 2: the log shrinks to the newest 3.
	storeRecord(t, s, "site", "m6", storeAt(6, 0), 2, time.Hour, 3)
	storeWantLog(t, s, "site", storeAt(6, 0), time.Hour, "m4", "m5", "m6")
	// And raises it again: what was dropped stays dropped.
	storeRecord(t, s, "site", "m7", storeAt(7, 0), 10, time.Hour, 4)
	storeWantLog(t, s, "site", storeAt(7, 0), time.Hour, "m4", "m5", "m6", "m7")
	// Lowering it with an event older than all that is kept: the log is
	// cut first, and the event dropped.
	storeRecord(t, s, "site", "old", storeAt(1, 0), 1, time.Hour, 2)
	storeWantLog(t, s, "site", storeAt(7, 0), time.Hour, "m6", "m7")
}

func storeOutOfOrder(t *testing.T, s spamrun.Store) {
	storeRecord(t, s, "site", "a", storeAt(30, 0), 2, time.Hour, 1)
	storeRecord(t, s, "site", "b", storeAt(70, 0), 2, time.Hour, 2)
	// Late, and outside the window ending at the newest: kept, not counted.
	storeRecord(t, s, "site", "c", storeAt(5, 0), 2, time.Hour, 2)
	storeWantLog(t, s, "site", storeAt(70, 0), 2*time.Hour, "c", "a", "b")
	storeRecord(t, s, "site", "d", storeAt(71, 0), 2, time.Hour, 3)
	storeWantLog(t, s, "site", storeAt(71, 0), 2*time.Hour, "a", "b", "d")

	// Late, inside the newest window: it trips.
	storeRecord(t, s, "late", "a", storeAt(0, 0), 2, time.Hour, 1)
	storeRecord(t, s, "late", "b", storeAt(50, 0), 2, time.Hour, 2)
	storeRecord(t, s, "late", "c", storeAt(40, 0), 2, time.Hour, 3)
	storeWantLog(t, s, "late", storeAt(50, 0), time.Hour, "a", "c", "b")
}

func storeOlderThanAllKept(t *testing.T, s spamrun.Store) {
	storeRecord(t, s, "site", "a", storeAt(100, 0), 1, time.Hour, 1)
	storeRecord(t, s, "site", "b", storeAt(200, 0), 1, time.Hour, 1)
	storeRecord(t, s, "site", "c", storeAt(5, 0), 1, time.Hour, 1)
	storeWantLog(t, s, "site", storeAt(200, 0), 24*time.Hour, "a", "b")
	storeRecord(t, s, "site", "d", storeAt(230, 0), 1, time.Hour, 2)
	storeWantLog(t, s, "site", storeAt(230, 0), 24*time.Hour, "b", "d")
}

func storeHeavyEventTrips(t *testing.T, s spamrun.Store) {
	storeRecordWeight(t, s, "site", "a", storeAt(0, 0), 1, 5, time.Hour, 1)
	storeRecordWeight(t, s, "site", "b", storeAt(1, 0), 2, 5, time.Hour, 3)
	// 51 recipients with max_spam 5: the message trips on its own, and
	// the older events, no longer needed to know it, are dropped.
	storeRecordWeight(t, s, "site", "heavy", storeAt(2, 0), 51, 5, time.Hour, 51)
	storeWantLog(t, s, "site", storeAt(2, 0), 24*time.Hour, "heavy")
	storeRecordWeight(t, s, "site", "c", storeAt(3, 0), 1, 5, time.Hour, 52)
	// An hour on, the heavy one has left the window.
	storeRecordWeight(t, s, "site", "d", storeAt(62, 30), 3, 5, time.Hour, 4)
	storeWantLog(t, s, "site", storeAt(62, 30), 24*time.Hour, "heavy", "c", "d")
}

func storeWeightedOlderThanAllKept(t *testing.T, s spamrun.Store) {
	storeRecordWeight(t, s, "site", "a", storeAt(100, 0), 3, 5, time.Hour, 3)
	storeRecordWeight(t, s, "site", "b", storeAt(200, 0), 2, 5, time.Hour, 2)
	// The kept events weigh 5, less than max+1: a late one is kept, if
	// not counted in the window of the newest.
	storeRecordWeight(t, s, "site", "c", storeAt(5, 0), 1, 5, time.Hour, 2)
	storeWantLog(t, s, "site", storeAt(200, 0), 24*time.Hour, "c", "a", "b")
	// Now they weigh 6, and one not newer than all of them is dropped,
	// even at the instant of the oldest.
	storeRecordWeight(t, s, "site", "d", storeAt(4, 0), 1, 5, time.Hour, 2)
	storeRecordWeight(t, s, "site", "e", storeAt(5, 0), 4, 5, time.Hour, 2)
	storeWantLog(t, s, "site", storeAt(200, 0), 24*time.Hour, "c", "a", "b")
	// A newer one pushes out what the rest no longer needs: a and b weigh
	// 5 with it, so only c goes.
	storeRecordWeight(t, s, "site", "f", storeAt(210, 0), 1, 5, time.Hour, 3)
	storeWantLog(t, s, "site", storeAt(210, 0), 24*time.Hour, "a", "b", "f")
}

func storeWeightedMaxChange(t *testing.T, s spamrun.Store) {
	for i := range 4 {
		storeRecordWeight(t, s, "site", fmt.Sprint("m", i), storeAt(i, 0), 2, 10, time.Hour, 2*(i+1))
	}
	// max_spam lowered to 2: the log is cut to the newest that weigh 3
	// (m2, m3), and the new event pushes out m2.
	storeRecordWeight(t, s, "site", "m4", storeAt(4, 0), 1, 2, time.Hour, 3)
	storeWantLog(t, s, "site", storeAt(4, 0), time.Hour, "m3", "m4")
	// Raised again: nothing dropped comes back.
	storeRecordWeight(t, s, "site", "m5", storeAt(5, 0), 1, 10, time.Hour, 4)
	storeWantLog(t, s, "site", storeAt(5, 0), time.Hour, "m3", "m4", "m5")
}

func storeWeightBelowOne(t *testing.T, s spamrun.Store) {
	// A zero Weight is an event logged before weights: it counts one, as
	// does a negative one.
	storeRecordWeight(t, s, "site", "a", storeAt(0, 0), 0, 2, time.Hour, 1)
	storeRecordWeight(t, s, "site", "b", storeAt(1, 0), -3, 2, time.Hour, 2)
	storeRecordWeight(t, s, "site", "c", storeAt(2, 0), 0, 2, time.Hour, 3)
	storeWantLog(t, s, "site", storeAt(2, 0), time.Hour, "a", "b", "c")
}

// storeSubmission is a spam event named id of submission sub.
func storeSubmission(id, sub string, at time.Time, weight int) spamrun.SpamEvent {
	return spamrun.SpamEvent{Time: at, MessageID: id, Submission: sub, Recipients: weight, Weight: weight}
}

func storeSubmissionCountsOnce(t *testing.T, s spamrun.Store) {
	// A message decided again, by the queue runner after its spool update
	// failed, or after sendmail's store answered too late but recorded
	// it, counts once: at once, after other events, whatever it weighs
	// the second time (the policy's count may have changed) and whenever.
	rec := func(id, sub string, at time.Time, weight, want int) {
		t.Helper()
		storeRecordEvent(t, s, "site", storeSubmission(id, sub, at, weight), 10, time.Hour, want)
	}
	rec("a", "sub-a", storeAt(0, 0), 3, 3)
	rec("a", "sub-a", storeAt(0, 0), 3, 3)
	rec("b", "sub-b", storeAt(1, 0), 2, 5)
	rec("c", "", storeAt(2, 0), 1, 6)
	rec("a", "sub-a", storeAt(0, 0), 3, 6)
	rec("a", "sub-a", storeAt(0, 0), 1, 6)
	rec("b", "sub-b", storeAt(3, 0), 7, 6)
	storeWantLog(t, s, "site", storeAt(3, 0), time.Hour, "a", "b", "c")
	// The count is that of the log as it stands: in the window ending at
	// its newest entry, which a and b have left.
	rec("d", "sub-d", storeAt(61, 30), 1, 2)
	rec("a", "sub-a", storeAt(0, 0), 3, 2)
	storeWantLog(t, s, "site", storeAt(61, 30), 24*time.Hour, "a", "b", "c", "d")
}

func storeSubmissionDropped(t *testing.T, s spamrun.Store) {
	rec := func(id string, at time.Time, weight, max, want int) {
		t.Helper()
		storeRecordEvent(t, s, "site", storeSubmission(id, "sub-"+id, at, weight), max, time.Hour, want)
	}
	for i, id := range []string{"a", "b", "c", "d"} {
		rec(id, storeAt(i, 0), 1, 2, min(i+1, 3))
	}
	// a left the log when d came, and is not recognised. Recorded again
	// at its time it is older than all the log holds, which weighs max+1,
	// and is dropped: the count is what recognising it would give.
	rec("a", storeAt(0, 0), 1, 2, 3)
	rec("a", storeAt(0, 0), 5, 2, 3)
	storeWantLog(t, s, "site", storeAt(3, 0), time.Hour, "b", "c", "d")
	// With max raised, it goes back into the log, once.
	rec("a", storeAt(0, 0), 1, 10, 4)
	rec("a", storeAt(0, 0), 1, 10, 4)
	storeWantLog(t, s, "site", storeAt(3, 0), time.Hour, "a", "b", "c", "d")
	// Cut again by a lowered max, the log forgets its submission with it.
	rec("e", storeAt(4, 0), 1, 1, 2)
	storeWantLog(t, s, "site", storeAt(4, 0), time.Hour, "d", "e")
	rec("a", storeAt(0, 0), 1, 10, 3)
	storeWantLog(t, s, "site", storeAt(4, 0), time.Hour, "a", "d", "e")
}

func storeSubmissionEmpty(t *testing.T, s spamrun.Store) {
	// No submission is no key, however alike the events.
	for i := range 3 {
		storeRecordEvent(t, s, "site", storeSubmission("a", "", storeAt(0, 0), 2), 10, time.Hour, 2*(i+1))
	}
	storeWantLog(t, s, "site", storeAt(0, 0), time.Hour, "a", "a", "a")
}

func storeSubmissionsDiffer(t *testing.T, s spamrun.Store) {
	// Events alike but for the submission are two submissions; one
	// submission in two sites is one in each.
	storeRecordEvent(t, s, "site", storeSubmission("a", "sub-1", storeAt(0, 0), 1), 10, time.Hour, 1)
	storeRecordEvent(t, s, "site", storeSubmission("a", "sub-2", storeAt(0, 0), 1), 10, time.Hour, 2)
	storeRecordEvent(t, s, "site", storeSubmission("a", "sub-1 ", storeAt(0, 0), 1), 10, time.Hour, 3)
	storeRecordEvent(t, s, "other", storeSubmission("a", "sub-1", storeAt(0, 0), 1), 10, time.Hour, 1)
	storeWantLog(t, s, "site", storeAt(0, 0), time.Hour, "a", "a", "a")
	storeWantLog(t, s, "other", storeAt(0, 0), time.Hour, "a")
}

// storeConcurrentSubmission has writers record one submission at once,
// each between submissions of its own: it is logged once, and every
// writer's count includes it once.
func storeConcurrentSubmission(t *testing.T, s spamrun.Store) {
	const writers, each, dupWeight = 16, 5, 3
	ctx := context.Background()
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			<-start
			for i := range each {
				for _, ev := range []spamrun.SpamEvent{
					storeSubmission("dup", "dup", storeAt(0, 0), dupWeight),
					storeSubmission(fmt.Sprint(g, ".", i), fmt.Sprint("own-", g, ".", i), storeAt(0, 1+g*each+i), 1),
				} {
					n, err := s.RecordSpam(ctx, "site", ev, 10_000, 24*time.Hour)
					if err != nil {
						t.Error(err)
						return
					}
					if n < dupWeight || n > dupWeight+writers*each {
						t.Errorf("RecordSpam(%s) = %d, want the submission's %d and at most %d more", ev.MessageID, n, dupWeight, writers*each)
					}
				}
			}
		})
	}
	close(start)
	wg.Wait()
	evs, err := s.SpamLog(ctx, "site", storeAt(0, 1+writers*each), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dups := 0
	for _, ev := range evs {
		if ev.Submission == "dup" {
			dups++
		}
	}
	if want := dupWeight + writers*each; dups != 1 || len(evs) != 1+writers*each || spamrun.SpamWeight(evs) != want {
		t.Errorf("SpamLog holds %d events weighing %d, %d of them the shared submission; want %d weighing %d, 1 of them",
			len(evs), spamrun.SpamWeight(evs), dups, 1+writers*each, want)
	}
	if n, err := s.RecordSpam(ctx, "site", storeSubmission("dup", "dup", storeAt(0, 0), dupWeight), 10_000, 24*time.Hour); err != nil || n != dupWeight+writers*each {
		t.Errorf("RecordSpam of the shared submission after the writers = %d, %v; want %d", n, err, dupWeight+writers*each)
	}
}

// storeMatchesModel runs random streams of weighted events, weights above
// max among them, in order and with clock skew between writers, and with
// the policy changing on the way, against storeModel; where the policy is
// fixed, also against the definition: the count is the weight of all
// submissions so far in (newest−width, newest] when that is at most max,
// and above max when that is, without exceeding it. One event in five is
// an earlier submission decided again at its time, with a new weight.
func storeMatchesModel(t *testing.T, s spamrun.Store) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 40 {
		site := fmt.Sprint("site", round)
		maxSpam := rng.IntN(6)
		width := time.Duration(1+rng.IntN(120)) * time.Second
		skew := time.Duration(0)
		if round%2 == 1 {
			skew = time.Duration(rng.IntN(30)) * time.Second
		}
		changing := round%4 == 3
		var model, all storeModel
		var earlier []spamrun.SpamEvent
		now := T0
		for i := range 30 {
			now = now.Add(time.Duration(rng.IntN(20)) * time.Second)
			at := now
			if skew > 0 {
				at = now.Add(-time.Duration(rng.Int64N(int64(skew) + 1)))
			}
			id, sub := fmt.Sprint(round, ".", i), fmt.Sprint("sub", round, ".", i)
			switch rng.IntN(10) {
			case 0, 1:
				if len(earlier) > 0 {
					again := earlier[rng.IntN(len(earlier))]
					id, sub, at = again.MessageID, again.Submission, again.Time
				}
			case 2:
				sub = ""
			}
			if changing && rng.IntN(5) == 0 {
				maxSpam = rng.IntN(6)
			}
			weight := 1
			switch rng.IntN(4) {
			case 0:
				weight = 1 + rng.IntN(2*maxSpam+3)
			case 1:
				weight = 1 + rng.IntN(3)
			}
			ev := spamrun.SpamEvent{Time: at, MessageID: id, Submission: sub, Weight: weight}
			if sub != "" {
				earlier = append(earlier, ev)
			}
			got, err := s.RecordSpam(ctx, site, ev, maxSpam, width)
			if err != nil {
				t.Fatal(err)
			}
			want := model.add(at, id, sub, weight, maxSpam, width)
			if got != want {
				t.Fatalf("round %d event %d %q (weight %d, max %d width %v skew %v): count %d, model %d",
					round, i, sub, weight, maxSpam, width, skew, got, want)
			}
			all.add(at, id, sub, weight, spamrun.MaxSpamLimit, width)
			if !changing {
				def := all.count(width)
				if (def <= maxSpam && got != def) || (def > maxSpam && (got <= maxSpam || got > def)) {
					t.Fatalf("round %d event %d (weight %d, max %d width %v skew %v): count %d, by definition %d",
						round, i, weight, maxSpam, width, skew, got, def)
				}
			}
			if i%5 == 4 {
				logNow := now.Add(-time.Duration(rng.IntN(10)) * time.Second)
				logWidth := time.Duration(1+rng.IntN(60)) * time.Second
				if got, want := storeLogIDs(t, s, site, logNow, logWidth), model.log(logNow, logWidth); !slices.Equal(got, want) {
					t.Fatalf("round %d event %d: SpamLog(now %v, window %v) = %q, model %q",
						round, i, logNow.Sub(T0), logWidth, got, want)
				}
			}
		}
	}
}

// storeModel is the bounded log as plainly as it can be said: a slice sorted
// by time, ties in the order recorded.
type storeModel []storeModelEvent

type storeModelEvent struct {
	t       time.Time
	id, sub string
	weight  int
}

// add records an event and returns the count. A changed max cuts the log
// to the newest events that weigh max+1 together; then an event of a
// submission the log holds is dropped, and so is one not newer than all
// of the log when the log weighs max+1 already; else it is inserted, and
// the oldest events the newer ones make redundant go.
func (m *storeModel) add(t time.Time, id, sub string, weight, max int, width time.Duration) int {
	size := max + 1
	l := m.cut(*m, size)
	logged := slices.ContainsFunc(l, func(e storeModelEvent) bool { return sub != "" && e.sub == sub })
	if !logged && (len(l) == 0 || t.After(l[0].t) || storeWeight(l) < size) {
		i := len(l)
		for i > 0 && l[i-1].t.After(t) {
			i--
		}
		l = m.cut(slices.Insert(l, i, storeModelEvent{t, id, sub, weight}), size)
	}
	*m = slices.Clone(l)
	return m.count(width)
}

// cut drops the oldest of l while the rest weigh size.
func (storeModel) cut(l storeModel, size int) storeModel {
	for len(l) > 1 && storeWeight(l[1:]) >= size {
		l = l[1:]
	}
	return l
}

// count is the weight of the events in (newest−width, newest].
func (m storeModel) count(width time.Duration) int {
	newest := m[len(m)-1].t
	for _, e := range m {
		if e.t.After(newest) {
			newest = e.t
		}
	}
	var in storeModel
	for _, e := range m {
		if e.t.After(newest.Add(-width)) {
			in = append(in, e)
		}
	}
	return storeWeight(in)
}

func storeWeight(l storeModel) int {
	n := 0
	for _, e := range l {
		n += max(e.weight, 1)
	}
	return n
}

func (m storeModel) log(now time.Time, width time.Duration) []string {
	ids := []string{}
	for _, e := range m {
		if e.t.After(now.Add(-width)) && !e.t.After(now) {
			ids = append(ids, e.id)
		}
	}
	return ids
}

func storeSpamLogWindow(t *testing.T, s spamrun.Store) {
	for i, m := range []int{0, 10, 20, 30} {
		storeRecord(t, s, "site", fmt.Sprint("m", m), storeAt(m, 0), 10, time.Hour, i+1)
	}
	storeWantLog(t, s, "site", storeAt(30, 0), 30*time.Minute, "m10", "m20", "m30")
	storeWantLog(t, s, "site", storeAt(30, 0), 30*time.Minute+time.Nanosecond, "m0", "m10", "m20", "m30")
	storeWantLog(t, s, "site", storeAt(15, 0), time.Hour, "m0", "m10")
	storeWantLog(t, s, "site", storeAt(0, 0).Add(-time.Nanosecond), time.Hour)
	storeWantLog(t, s, "site", storeAt(90, 0), time.Hour)
	storeWantLog(t, s, "other", storeAt(30, 0), time.Hour)
}

// storeEvent fills every field, with a zone and nanoseconds, so that a
// store that drops or rounds anything is caught.
func storeEvent(i int) spamrun.SpamEvent {
	cet := time.FixedZone("CET", 3600)
	return spamrun.SpamEvent{
		Time:       storeAt(i, 0).In(cet).Add(time.Duration(i*1000+7) * time.Nanosecond),
		MessageID:  fmt.Sprintf("<%d.guestbook@shop1.example>", i),
		Score:      7.25 + float64(i),
		Rules:      []string{"PHARMA_WORDS", "URL_SHORTENER", fmt.Sprint("RULE_", i)},
		Sender:     "www-data@shop1.example",
		Recipients: 40 + i,
		Weight:     40 + i,
		Subject:    fmt.Sprintf("Cheap p1lls — Дешево %d", i),
		Evidence: spamrun.Evidence{
			Script:  "1001:/var/www/shop1/wp-content/uploads/x.php",
			Cwd:     "/var/www/shop1/wp-content/uploads",
			Command: []string{"php-fpm: pool shop1", "-d", fmt.Sprint(i)},
			UID:     1001,
		},
		Submission: fmt.Sprintf("20261102T0900%02d.000000-5A17E0C3%02d", i, i),
	}
}

// storeSameJSON fails unless got and want are deeply equal once both have been
// through JSON, which is how the incident report and every store but the
// in-memory one see them.
func storeSameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	gv, wv := reflect.New(reflect.TypeOf(got)), reflect.New(reflect.TypeOf(want))
	if err := json.Unmarshal(g, gv.Interface()); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(w, wv.Interface()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gv.Interface(), wv.Interface()) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func storeSpamLogRoundTrip(t *testing.T, s spamrun.Store) {
	ctx := context.Background()
	var want []spamrun.SpamEvent
	for i := range 3 {
		ev := storeEvent(i)
		want = append(want, ev)
		if _, err := s.RecordSpam(ctx, "site", ev, spamrun.MaxSpamLimit, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.SpamLog(ctx, "site", want[2].Time, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("SpamLog returned %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if !got[i].Time.Equal(want[i].Time) {
			t.Errorf("event %d: time %v, want %v", i, got[i].Time, want[i].Time)
		}
		storeSameJSON(t, fmt.Sprintf("event %d", i), got[i], want[i])
	}
}

func storeIncident(site string, at time.Time, id string) *spamrun.Incident {
	cet := time.FixedZone("CET", 3600)
	return &spamrun.Incident{
		ID:       id,
		Site:     site,
		Time:     at.In(cet).Add(123 * time.Nanosecond),
		Policy:   spamrun.Policy{SpamScore: 5.5, MaxSpam: 2, Window: time.Hour, HoldFor: 15 * time.Minute},
		Count:    3,
		Messages: []spamrun.SpamEvent{storeEvent(0), storeEvent(1), storeEvent(2)},
	}
}

func storeSetDisabled(t *testing.T, s spamrun.Store) {
	ctx := context.Background()
	if inc, err := s.Disabled(ctx, "shop1"); err != nil || inc != nil {
		t.Fatalf("Disabled of an enabled site = %v, %v; want nil, nil", inc, err)
	}
	first := storeIncident("shop1", storeAt(0, 0), "first")
	cur, changed, err := s.SetDisabled(ctx, "shop1", first)
	if err != nil {
		t.Fatal(err)
	}
	if !changed {
		t.Error("first SetDisabled: changed = false, want true")
	}
	storeSameJSON(t, "first SetDisabled", cur, first)

	second := storeIncident("shop1", storeAt(5, 0), "second")
	cur, changed, err = s.SetDisabled(ctx, "shop1", second)
	if err != nil {
		t.Fatal(err)
	}
	if changed {
		t.Error("second SetDisabled: changed = true, want false")
	}
	storeSameJSON(t, "second SetDisabled returns the first incident", cur, first)

	inc, err := s.Disabled(ctx, "shop1")
	if err != nil {
		t.Fatal(err)
	}
	if inc == nil {
		t.Fatal("Disabled = nil after SetDisabled")
	}
	if !inc.Time.Equal(first.Time) {
		t.Errorf("incident time %v, want %v", inc.Time, first.Time)
	}
	storeSameJSON(t, "Disabled", inc, first)
}

func storeEnable(t *testing.T, s spamrun.Store) {
	ctx := context.Background()
	for i := range 3 {
		storeRecord(t, s, "shop1", fmt.Sprint("m", i), storeAt(i, 0), 1, time.Hour, min(i+1, 2))
	}
	if _, _, err := s.SetDisabled(ctx, "shop1", storeIncident("shop1", storeAt(2, 0), "one")); err != nil {
		t.Fatal(err)
	}
	if err := s.Enable(ctx, "shop1"); err != nil {
		t.Fatal(err)
	}
	if inc, err := s.Disabled(ctx, "shop1"); err != nil || inc != nil {
		t.Errorf("Disabled after Enable = %v, %v; want nil, nil", inc, err)
	}
	storeWantLog(t, s, "shop1", storeAt(3, 0), time.Hour)
	// The window starts empty: the next spam is the first.
	storeRecord(t, s, "shop1", "m3", storeAt(3, 0), 1, time.Hour, 1)
	// And the site can be disabled again, by a new incident.
	second := storeIncident("shop1", storeAt(4, 0), "two")
	cur, changed, err := s.SetDisabled(ctx, "shop1", second)
	if err != nil || !changed {
		t.Fatalf("SetDisabled after Enable: changed %v, %v; want true", changed, err)
	}
	storeSameJSON(t, "SetDisabled after Enable", cur, second)
	if err := s.Enable(ctx, "never-disabled"); err != nil {
		t.Errorf("Enable of a site never disabled: %v", err)
	}
}

func storeSitesAreIndependent(t *testing.T, s spamrun.Store) {
	ctx := context.Background()
	for i := range 3 {
		storeRecord(t, s, "a", fmt.Sprint("a", i), storeAt(i, 0), 5, time.Hour, i+1)
	}
	storeRecord(t, s, "b", "b0", storeAt(1, 30), 5, time.Hour, 1)
	storeWantLog(t, s, "b", storeAt(3, 0), time.Hour, "b0")
	// A prefix of another site's name is another site.
	storeWantLog(t, s, "", storeAt(3, 0), time.Hour)
	storeWantLog(t, s, "a ", storeAt(3, 0), time.Hour)

	if _, _, err := s.SetDisabled(ctx, "a", storeIncident("a", storeAt(3, 0), "a-1")); err != nil {
		t.Fatal(err)
	}
	if inc, err := s.Disabled(ctx, "b"); err != nil || inc != nil {
		t.Errorf("Disabled(b) = %v, %v after disabling a", inc, err)
	}
	if _, changed, err := s.SetDisabled(ctx, "b", storeIncident("b", storeAt(3, 0), "b-1")); err != nil || !changed {
		t.Errorf("SetDisabled(b) after a: changed %v, %v; want true", changed, err)
	}
	if err := s.Enable(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if inc, err := s.Disabled(ctx, "b"); err != nil || inc == nil {
		t.Errorf("Disabled(b) = %v, %v after enabling a; want b's incident", inc, err)
	}
	storeWantLog(t, s, "b", storeAt(3, 0), time.Hour, "b0")
	storeWantLog(t, s, "a", storeAt(3, 0), time.Hour)
}

func storeConcurrentRecordSpam(t *testing.T, s spamrun.Store) {
	const writers, each, maxSpam = 16, 50, 10_000
	ctx := context.Background()
	type result struct{ count, weight int }
	results := make(chan result, writers*each)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				weight := 1 + (g+i)%3
				ev := spamrun.SpamEvent{Time: storeAt(0, g*each+i), MessageID: fmt.Sprint(g, ".", i), Weight: weight}
				n, err := s.RecordSpam(ctx, "site", ev, maxSpam, 24*time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				results <- result{n, weight}
			}
		})
	}
	wg.Wait()
	close(results)
	// Every event lies in one window, so each submission saw the weight
	// of everything recorded before it plus its own: in the order the
	// store serialised them, each count is the previous one plus the
	// submission's weight. A lost update shows as a count seen twice or
	// a gap.
	var seen []result
	for r := range results {
		seen = append(seen, r)
	}
	if len(seen) != writers*each {
		t.Fatalf("%d counts returned, want %d", len(seen), writers*each)
	}
	slices.SortFunc(seen, func(a, b result) int { return a.count - b.count })
	prev := 0
	for i, r := range seen {
		if r.count != prev+r.weight {
			t.Fatalf("counts returned, sorted: position %d holds %d of weight %d after %d; want each the previous plus its weight",
				i, r.count, r.weight, prev)
		}
		prev = r.count
	}
	evs, err := s.SpamLog(ctx, "site", storeAt(0, writers*each), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != writers*each || spamrun.SpamWeight(evs) != prev {
		t.Errorf("SpamLog holds %d events weighing %d, want %d weighing %d", len(evs), spamrun.SpamWeight(evs), writers*each, prev)
	}
	if !slices.IsSortedFunc(evs, func(a, b spamrun.SpamEvent) int { return a.Time.Compare(b.Time) }) {
		t.Error("SpamLog is not oldest first")
	}
}

func storeConcurrentSetDisabled(t *testing.T, s spamrun.Store) {
	const racers = 50
	ctx := context.Background()
	type result struct {
		id      string
		changed bool
	}
	results := make(chan result, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			inc := storeIncident("site", storeAt(0, i), fmt.Sprint("inc", i))
			cur, changed, err := s.SetDisabled(ctx, "site", inc)
			if err != nil {
				t.Error(err)
				return
			}
			results <- result{cur.ID, changed}
		})
	}
	close(start)
	wg.Wait()
	close(results)
	var winners []string
	ids := map[string]bool{}
	for r := range results {
		ids[r.id] = true
		if r.changed {
			winners = append(winners, r.id)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d SetDisabled calls reported changed (%q), want exactly 1", len(winners), winners)
	}
	if len(ids) != 1 || !ids[winners[0]] {
		t.Errorf("the racers were told of incidents %v; want only the winner's, %s", ids, winners[0])
	}
	inc, err := s.Disabled(ctx, "site")
	if err != nil || inc == nil || inc.ID != winners[0] {
		t.Errorf("Disabled = %v, %v; want the winner's incident %s", inc, err, winners[0])
	}
}

func storeIncidents(t *testing.T, s spamrun.Store) {
	l, ok := s.(spamrun.IncidentLog)
	if !ok {
		t.Skipf("%T keeps no incident history", s)
	}
	ctx := context.Background()
	a1 := storeIncident("a", storeAt(0, 0), "a1")
	b1 := storeIncident("b", storeAt(10, 0), "b1")
	a2 := storeIncident("a", storeAt(20, 0), "a2")
	ignored := storeIncident("a", storeAt(15, 0), "ignored")
	mustDisable := func(site string, inc *spamrun.Incident, want bool) {
		t.Helper()
		if _, changed, err := s.SetDisabled(ctx, site, inc); err != nil || changed != want {
			t.Fatalf("SetDisabled(%s, %s): changed %v, %v; want %v", site, inc.ID, changed, err, want)
		}
	}
	mustDisable("a", a1, true)
	mustDisable("b", b1, true)
	mustDisable("a", ignored, false) // a is disabled already: no new incident
	if err := s.Enable(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	mustDisable("a", a2, true)

	for _, tc := range []struct {
		site string
		want []*spamrun.Incident
	}{
		{"", []*spamrun.Incident{a2, b1, a1}},
		{"a", []*spamrun.Incident{a2, a1}},
		{"b", []*spamrun.Incident{b1}},
		{"c", []*spamrun.Incident{}},
	} {
		got, err := l.Incidents(ctx, tc.site)
		if err != nil {
			t.Fatal(err)
		}
		if got == nil {
			got = []*spamrun.Incident{}
		}
		storeSameJSON(t, fmt.Sprintf("Incidents(%q)", tc.site), got, tc.want)
	}
}

// scriptsTest runs fn on s as a spamrun.ScriptHistory, which only stores
// that keep no script history may lack.
func scriptsTest(t *testing.T, s spamrun.Store, fn func(spamrun.ScriptHistory)) {
	t.Helper()
	h, ok := s.(spamrun.ScriptHistory)
	if !ok {
		t.Skipf("%T keeps no script history", s)
	}
	fn(h)
}

// scriptsAt is T0 plus seconds and some nanoseconds, in a zone of its own,
// so that a store that rounds or loses the instant is caught.
func scriptsAt(sec int) time.Time {
	return T0.Add(time.Duration(sec)*time.Second + 123456789).In(time.FixedZone("CEST", 7200))
}

func scriptsRecord(t *testing.T, h spamrun.ScriptHistory, site, script, cwd string, at time.Time) {
	t.Helper()
	scriptsSubmit(t, h, site, spamrun.Submission{Time: at, Script: script, Cwd: cwd})
}

func scriptsSubmit(t *testing.T, h spamrun.ScriptHistory, site string, sub spamrun.Submission) {
	t.Helper()
	if err := h.RecordScript(context.Background(), site, sub); err != nil {
		t.Fatalf("RecordScript(%s, %q, %q, %v, spam %v): %v", site, sub.Script, sub.Cwd, sub.Time.Sub(T0), sub.Spam, err)
	}
}

func scriptsString(l []spamrun.ScriptSeen) string {
	var b []byte
	for _, s := range l {
		b = fmt.Appendf(b, "\n\t{%q %q first %v last %v count %d spam %d}", s.Script, s.Cwd, s.First.Sub(T0), s.Last.Sub(T0), s.Count, s.Spam)
	}
	return string(b)
}

// scriptsWant checks the site's whole history, in order.
func scriptsWant(t *testing.T, h spamrun.ScriptHistory, site string, want ...spamrun.ScriptSeen) {
	t.Helper()
	got, err := h.Scripts(context.Background(), site)
	if err != nil {
		t.Fatalf("Scripts(%q): %v", site, err)
	}
	same := len(got) == len(want)
	for i := 0; same && i < len(got); i++ {
		g, w := got[i], want[i]
		same = g.Script == w.Script && g.Cwd == w.Cwd && g.Count == w.Count && g.Spam == w.Spam &&
			g.First.Equal(w.First) && g.Last.Equal(w.Last)
	}
	if !same {
		t.Errorf("Scripts(%q):%s\nwant:%s", site, scriptsString(got), scriptsString(want))
	}
}

const (
	scriptsContact = "1001:contact.php"
	scriptsMailer  = "1001:wp-content/uploads/2024/x.php"
	scriptsDocroot = "/var/www/shop1"
	scriptsUploads = "/var/www/shop1/wp-content/uploads"
)

func scriptsFirstLastCount(t *testing.T, s spamrun.Store) {
	scriptsTest(t, s, func(h spamrun.ScriptHistory) {
		scriptsWant(t, h, "shop1")
		scriptsRecord(t, h, "shop1", scriptsContact, scriptsDocroot, scriptsAt(0))
		scriptsWant(t, h, "shop1", spamrun.ScriptSeen{Script: scriptsContact, Cwd: scriptsDocroot, First: scriptsAt(0), Last: scriptsAt(0), Count: 1})
		// Space around the header is not part of the name; nothing else
		// is normalised.
		scriptsRecord(t, h, "shop1", " "+scriptsContact+"\t", scriptsDocroot, scriptsAt(60))
		scriptsRecord(t, h, "shop1", scriptsContact, scriptsDocroot+"/forms", scriptsAt(120))
		scriptsRecord(t, h, "shop1", "1001:./contact.php", scriptsDocroot, scriptsAt(90))
		scriptsWant(t, h, "shop1",
			spamrun.ScriptSeen{Script: scriptsContact, Cwd: scriptsDocroot + "/forms", First: scriptsAt(0), Last: scriptsAt(120), Count: 3},
			spamrun.ScriptSeen{Script: "1001:./contact.php", Cwd: scriptsDocroot, First: scriptsAt(90), Last: scriptsAt(90), Count: 1})
		// A spam-marked submission counts in Count too, and moves Last
		// and the directory like any other.
		scriptsSubmit(t, h, "shop1", spamrun.Submission{Time: scriptsAt(180), Script: scriptsContact, Cwd: scriptsDocroot, Spam: true})
		scriptsWant(t, h, "shop1",
			spamrun.ScriptSeen{Script: scriptsContact, Cwd: scriptsDocroot, First: scriptsAt(0), Last: scriptsAt(180), Count: 4, Spam: 1},
			spamrun.ScriptSeen{Script: "1001:./contact.php", Cwd: scriptsDocroot, First: scriptsAt(90), Last: scriptsAt(90), Count: 1})
	})
}

func scriptsOutOfOrder(t *testing.T, s spamrun.Store) {
	scriptsTest(t, s, func(h spamrun.ScriptHistory) {
		scriptsRecord(t, h, "shop1", scriptsContact, "/a", scriptsAt(50))
		scriptsRecord(t, h, "shop1", scriptsContact, "/b", scriptsAt(20))
		scriptsRecord(t, h, "shop1", scriptsContact, "/c", scriptsAt(90))
		// Late: it widens First, and the directory stays the latest one's.
		scriptsRecord(t, h, "shop1", scriptsContact, "/d", scriptsAt(10))
		scriptsRecord(t, h, "shop1", scriptsContact, "/e", scriptsAt(70))
		scriptsWant(t, h, "shop1", spamrun.ScriptSeen{Script: scriptsContact, Cwd: "/c", First: scriptsAt(10), Last: scriptsAt(90), Count: 5})
		// At the same instant as the latest, the later call is the latest.
		scriptsRecord(t, h, "shop1", scriptsContact, "/f", scriptsAt(90))
		scriptsWant(t, h, "shop1", spamrun.ScriptSeen{Script: scriptsContact, Cwd: "/f", First: scriptsAt(10), Last: scriptsAt(90), Count: 6})
		// One nanosecond either side, and times before 1970.
		scriptsRecord(t, h, "shop1", scriptsContact, "/g", scriptsAt(90).Add(time.Nanosecond))
		scriptsRecord(t, h, "shop1", scriptsContact, "/h", scriptsAt(10).Add(-time.Nanosecond))
		old := time.Date(1969, 7, 20, 20, 17, 40, 999999999, time.UTC)
		scriptsRecord(t, h, "old", scriptsContact, "/x", old)
		scriptsRecord(t, h, "old", scriptsContact, "/y", old.Add(-time.Nanosecond))
		scriptsWant(t, h, "shop1", spamrun.ScriptSeen{Script: scriptsContact, Cwd: "/g", First: scriptsAt(10).Add(-time.Nanosecond), Last: scriptsAt(90).Add(time.Nanosecond), Count: 8})
		scriptsWant(t, h, "old", spamrun.ScriptSeen{Script: scriptsContact, Cwd: "/x", First: old.Add(-time.Nanosecond), Last: old, Count: 2})
	})
}

func scriptsCwdFallback(t *testing.T, s spamrun.Store) {
	scriptsTest(t, s, func(h spamrun.ScriptHistory) {
		// Without the PHP header, mail is told apart by its directory.
		scriptsRecord(t, h, "shop1", "", scriptsUploads, scriptsAt(0))
		scriptsRecord(t, h, "shop1", "  ", scriptsUploads, scriptsAt(10))
		scriptsRecord(t, h, "shop1", "", " "+scriptsUploads+"\n", scriptsAt(20))
		scriptsRecord(t, h, "shop1", "", scriptsDocroot, scriptsAt(30))
		// A named script in the same directory is a script of its own.
		scriptsRecord(t, h, "shop1", scriptsMailer, scriptsUploads, scriptsAt(40))
		// With neither there is nothing to recognise it by.
		scriptsRecord(t, h, "shop1", "", "", scriptsAt(50))
		scriptsRecord(t, h, "shop1", " ", "\t", scriptsAt(60))
		scriptsWant(t, h, "shop1",
			spamrun.ScriptSeen{Script: scriptsMailer, Cwd: scriptsUploads, First: scriptsAt(40), Last: scriptsAt(40), Count: 1},
			spamrun.ScriptSeen{Cwd: scriptsDocroot, First: scriptsAt(30), Last: scriptsAt(30), Count: 1},
			spamrun.ScriptSeen{Cwd: scriptsUploads, First: scriptsAt(0), Last: scriptsAt(20), Count: 3})
		for _, tc := range []struct{ script, cwd, want string }{
			{scriptsContact, "/x", scriptsContact},
			{" " + scriptsContact + " ", "", scriptsContact},
			{"", scriptsUploads, "cwd:" + scriptsUploads},
			{" ", " /x ", "cwd:/x"},
			{"", "", ""},
		} {
			if got := spamrun.ScriptKey(tc.script, tc.cwd); got != tc.want {
				t.Errorf("ScriptKey(%q, %q) = %q, want %q", tc.script, tc.cwd, got, tc.want)
			}
		}
	})
}

func scriptsSitesAreIndependent(t *testing.T, s spamrun.Store) {
	scriptsTest(t, s, func(h spamrun.ScriptHistory) {
		scriptsRecord(t, h, "a", scriptsContact, "/a", scriptsAt(0))
		scriptsRecord(t, h, "a", scriptsContact, "/a", scriptsAt(10))
		scriptsRecord(t, h, "b", scriptsContact, "/b", scriptsAt(5))
		scriptsRecord(t, h, "b", "", "/b", scriptsAt(6))
		scriptsWant(t, h, "a", spamrun.ScriptSeen{Script: scriptsContact, Cwd: "/a", First: scriptsAt(0), Last: scriptsAt(10), Count: 2})
		scriptsWant(t, h, "b",
			spamrun.ScriptSeen{Cwd: "/b", First: scriptsAt(6), Last: scriptsAt(6), Count: 1},
			spamrun.ScriptSeen{Script: scriptsContact, Cwd: "/b", First: scriptsAt(5), Last: scriptsAt(5), Count: 1})
		// A prefix of another site's name is another site.
		scriptsWant(t, h, "")
		scriptsWant(t, h, "a ")
		scriptsWant(t, h, "-seen:a")
		// Re-enabling a site keeps its history: it is the evidence for the
		// next incident.
		if err := h.Enable(context.Background(), "a"); err != nil {
			t.Fatal(err)
		}
		scriptsWant(t, h, "a", spamrun.ScriptSeen{Script: scriptsContact, Cwd: "/a", First: scriptsAt(0), Last: scriptsAt(10), Count: 2})
	})
}

func scriptsOrder(t *testing.T, s spamrun.Store) {
	scriptsTest(t, s, func(h spamrun.ScriptHistory) {
		scriptsRecord(t, h, "shop1", "1001:a.php", "/", scriptsAt(10))
		scriptsRecord(t, h, "shop1", "1001:b.php", "/", scriptsAt(20))
		scriptsRecord(t, h, "shop1", "1001:c.php", "/", scriptsAt(30))
		// Ties go to the greater key, whatever the order of the calls.
		scriptsRecord(t, h, "shop1", "1001:e.php", "/", scriptsAt(25))
		scriptsRecord(t, h, "shop1", "1001:d.php", "/", scriptsAt(25))
		// Seen again: it moves to the front; a late record moves nothing.
		scriptsRecord(t, h, "shop1", "1001:a.php", "/", scriptsAt(40))
		scriptsRecord(t, h, "shop1", "1001:b.php", "/", scriptsAt(1))
		seen := func(script string, first, last, count int) spamrun.ScriptSeen {
			return spamrun.ScriptSeen{Script: script, Cwd: "/", First: scriptsAt(first), Last: scriptsAt(last), Count: int64(count)}
		}
		scriptsWant(t, h, "shop1",
			seen("1001:a.php", 10, 40, 2),
			seen("1001:c.php", 30, 30, 1),
			seen("1001:e.php", 25, 25, 1),
			seen("1001:d.php", 25, 25, 1),
			seen("1001:b.php", 1, 20, 2))
	})
}

func scriptsBound(t *testing.T, s spamrun.Store) {
	scriptsTest(t, s, func(h spamrun.ScriptHistory) {
		ctx := context.Background()
		name := func(i int) string { return fmt.Sprintf("1001:s%04d.php", i) }
		for i := range spamrun.MaxScripts {
			scriptsRecord(t, h, "shop1", name(i), "/", scriptsAt(i))
		}
		// The oldest is used again, so it stays; then five new scripts
		// push out the five least recently seen.
		scriptsRecord(t, h, "shop1", name(0), "/", scriptsAt(2*spamrun.MaxScripts))
		for i := spamrun.MaxScripts; i < spamrun.MaxScripts+5; i++ {
			scriptsRecord(t, h, "shop1", name(i), "/", scriptsAt(i))
		}
		// A new script older than all that is kept is forgotten at once.
		scriptsRecord(t, h, "shop1", "1001:ancient.php", "/", scriptsAt(-1))
		got, err := h.Scripts(ctx, "shop1")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != spamrun.MaxScripts {
			t.Fatalf("Scripts holds %d scripts, want %d", len(got), spamrun.MaxScripts)
		}
		want := []string{name(0)}
		for i := spamrun.MaxScripts + 4; i > 5; i-- {
			want = append(want, name(i))
		}
		var names []string
		for _, g := range got {
			names = append(names, g.Script)
		}
		if !slices.Equal(names, want) {
			t.Errorf("Scripts after eviction: %d scripts from %q to %q, want %d from %q to %q",
				len(names), names[0], names[len(names)-1], len(want), want[0], want[len(want)-1])
		}
		if g := got[0]; g.Count != 2 || !g.First.Equal(scriptsAt(0)) || !g.Last.Equal(scriptsAt(2*spamrun.MaxScripts)) {
			t.Errorf("the script used again:%s", scriptsString(got[:1]))
		}
		// The bound is per site.
		scriptsRecord(t, h, "shop2", name(1), "/", scriptsAt(0))
		scriptsWant(t, h, "shop2", spamrun.ScriptSeen{Script: name(1), Cwd: "/", First: scriptsAt(0), Last: scriptsAt(0), Count: 1})
	})
}

func scriptsConcurrent(t *testing.T, s spamrun.Store) {
	scriptsTest(t, s, func(h spamrun.ScriptHistory) {
		const writers, each = 16, 25
		ctx := context.Background()
		var wg sync.WaitGroup
		for g := range writers {
			wg.Go(func() {
				for i := range each {
					// Both scripts, each from every writer, with times
					// interleaved across writers; the mailer's odd
					// submissions are spam.
					for _, script := range []string{scriptsContact, scriptsMailer} {
						sub := spamrun.Submission{Time: scriptsAt(i*writers + g), Script: script, Cwd: "/", Spam: script == scriptsMailer && i%2 == 1}
						if err := h.RecordScript(ctx, "shop1", sub); err != nil {
							t.Error(err)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		// A lost update shows as a smaller count.
		last := scriptsAt(writers*each - 1)
		scriptsWant(t, h, "shop1",
			spamrun.ScriptSeen{Script: scriptsMailer, Cwd: "/", First: scriptsAt(0), Last: last, Count: writers * each, Spam: writers * (each / 2)},
			spamrun.ScriptSeen{Script: scriptsContact, Cwd: "/", First: scriptsAt(0), Last: last, Count: writers * each})
	})
}
