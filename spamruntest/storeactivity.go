package spamruntest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
)

// The activity half of TestStore: what spamrun.ScriptHistory counts
// minute by minute.

// activityAt is T0 plus minutes and seconds, in a zone of its own, so that
// a store that gives minutes in the submission's zone is caught.
func activityAt(min, sec int) time.Time {
	return T0.Add(time.Duration(min)*time.Minute + time.Duration(sec)*time.Second).In(time.FixedZone("CEST", 7200))
}

// activityMinute is the wanted count of the minute T0+min.
func activityMinute(min int, script string, legit, spam int) spamrun.Minute {
	return spamrun.Minute{Time: T0.Add(time.Duration(min) * time.Minute), Script: script, Legit: legit, Spam: spam}
}

func activityString(ms []spamrun.Minute) string {
	var b []byte
	for _, m := range ms {
		b = fmt.Appendf(b, "\n\t{%v %s %q legit %d spam %d}", m.Time.Sub(T0), m.Time.Location(), m.Script, m.Legit, m.Spam)
	}
	return string(b)
}

// activityWant checks the site's activity of [from, to), in order, and that
// each minute is given as its start in UTC.
func activityWant(t *testing.T, h spamrun.ScriptHistory, site string, from, to time.Time, want ...spamrun.Minute) {
	t.Helper()
	got, err := h.Activity(context.Background(), site, from, to)
	if err != nil {
		t.Fatalf("Activity(%q): %v", site, err)
	}
	same := len(got) == len(want)
	for i := 0; same && i < len(got); i++ {
		g, w := got[i], want[i]
		same = g.Time.Equal(w.Time) && g.Time.Location() == time.UTC && g.Script == w.Script && g.Legit == w.Legit && g.Spam == w.Spam
	}
	if !same {
		t.Errorf("Activity(%q, %v, %v):%s\nwant:%s", site, from.Sub(T0), to.Sub(T0), activityString(got), activityString(want))
	}
}

func scriptsSpam(t *testing.T, s spamrun.Store) {
	scriptsTest(t, s, func(h spamrun.ScriptHistory) {
		for i, spam := range []bool{false, true, true, false, true} {
			scriptsSubmit(t, h, "shop1", spamrun.Submission{Time: scriptsAt(i), Script: scriptsMailer, Cwd: scriptsUploads, Spam: spam})
		}
		scriptsSubmit(t, h, "shop1", spamrun.Submission{Time: scriptsAt(10), Script: scriptsContact, Cwd: scriptsDocroot})
		// A late spam counts, though it changes neither Last nor the
		// directory.
		scriptsSubmit(t, h, "shop1", spamrun.Submission{Time: scriptsAt(-10), Cwd: scriptsUploads, Spam: true})
		scriptsSubmit(t, h, "shop1", spamrun.Submission{Time: scriptsAt(-20), Script: scriptsContact, Cwd: "/late", Spam: true})
		// Spam naming neither is in the activity only.
		scriptsSubmit(t, h, "shop1", spamrun.Submission{Time: scriptsAt(20), Spam: true})
		scriptsWant(t, h, "shop1",
			spamrun.ScriptSeen{Script: scriptsContact, Cwd: scriptsDocroot, First: scriptsAt(-20), Last: scriptsAt(10), Count: 2, Spam: 1},
			spamrun.ScriptSeen{Script: scriptsMailer, Cwd: scriptsUploads, First: scriptsAt(0), Last: scriptsAt(4), Count: 5, Spam: 3},
			spamrun.ScriptSeen{Cwd: scriptsUploads, First: scriptsAt(-10), Last: scriptsAt(-10), Count: 1, Spam: 1})
	})
}

func activityMinutes(t *testing.T, s spamrun.Store) {
	scriptsTest(t, s, func(h spamrun.ScriptHistory) {
		activityWant(t, h, "shop1", activityAt(-60, 0), activityAt(60, 0))
		uploads := "cwd:" + scriptsUploads
		for _, sub := range []spamrun.Submission{
			{Time: activityAt(0, 5), Script: scriptsContact, Cwd: scriptsDocroot},
			{Time: activityAt(0, 60).Add(-time.Nanosecond), Script: " " + scriptsContact, Cwd: "/other", Spam: true},
			{Time: activityAt(0, 30), Cwd: scriptsUploads},
			{Time: activityAt(0, 40)},
			{Time: activityAt(0, 41), Script: " ", Cwd: "\t", Spam: true},
			{Time: activityAt(0, 42), Spam: true},
			{Time: activityAt(1, 0), Script: scriptsContact},
			{Time: activityAt(3, 10), Script: scriptsMailer, Spam: true},
			{Time: activityAt(3, 20), Script: scriptsMailer, Spam: true},
		} {
			scriptsSubmit(t, h, "shop1", sub)
		}
		// Within a minute by ScriptKey, "" first.
		activityWant(t, h, "shop1", activityAt(-60, 0), activityAt(60, 0),
			activityMinute(0, "", 1, 2),
			activityMinute(0, scriptsContact, 1, 1),
			activityMinute(0, uploads, 1, 0),
			activityMinute(1, scriptsContact, 1, 0),
			activityMinute(3, scriptsMailer, 0, 2))
		// Submissions naming neither are no script of the history.
		scriptsWant(t, h, "shop1",
			spamrun.ScriptSeen{Script: scriptsMailer, First: activityAt(3, 10), Last: activityAt(3, 20), Count: 2, Spam: 2},
			spamrun.ScriptSeen{Script: scriptsContact, First: activityAt(0, 5), Last: activityAt(1, 0), Count: 3, Spam: 1},
			spamrun.ScriptSeen{Cwd: scriptsUploads, First: activityAt(0, 30), Last: activityAt(0, 30), Count: 1})
	})
}

func activityBounds(t *testing.T, s spamrun.Store) {
	scriptsTest(t, s, func(h spamrun.ScriptHistory) {
		for m := range 4 {
			scriptsSubmit(t, h, "shop1", spamrun.Submission{Time: activityAt(m, 30), Script: scriptsContact})
		}
		m := func(min int) spamrun.Minute { return activityMinute(min, scriptsContact, 1, 0) }
		ns := time.Nanosecond
		for _, tc := range []struct {
			from, to time.Time
			want     []spamrun.Minute
		}{
			{activityAt(1, 0), activityAt(3, 0), []spamrun.Minute{m(1), m(2)}},
			// A minute is in the range when it starts in it, wherever
			// its submissions lie.
			{activityAt(1, 0).Add(ns), activityAt(3, 0), []spamrun.Minute{m(2)}},
			{activityAt(1, 0).Add(-ns), activityAt(3, 0).Add(-ns), []spamrun.Minute{m(1), m(2)}},
			{activityAt(1, 0), activityAt(3, 0).Add(ns), []spamrun.Minute{m(1), m(2), m(3)}},
			{activityAt(0, 31), activityAt(0, 59), nil},
			{activityAt(2, 0), activityAt(2, 0), nil},
			{activityAt(3, 0), activityAt(1, 0), nil},
			{activityAt(-600, 0), activityAt(600, 0), []spamrun.Minute{m(0), m(1), m(2), m(3)}},
			{activityAt(4, 0), activityAt(600, 0), nil},
		} {
			activityWant(t, h, "shop1", tc.from, tc.to, tc.want...)
		}
	})
}

func activityOutOfOrder(t *testing.T, s spamrun.Store) {
	scriptsTest(t, s, func(h spamrun.ScriptHistory) {
		for _, sub := range []spamrun.Submission{
			{Time: activityAt(5, 0), Script: scriptsContact},
			{Time: activityAt(2, 59), Script: scriptsContact},
			{Time: activityAt(5, 59), Script: scriptsContact},
			{Time: activityAt(9, 1), Script: scriptsContact},
			{Time: activityAt(2, 0), Script: scriptsContact, Spam: true},
		} {
			scriptsSubmit(t, h, "shop1", sub)
		}
		activityWant(t, h, "shop1", activityAt(0, 0), activityAt(10, 0),
			activityMinute(2, scriptsContact, 1, 1),
			activityMinute(5, scriptsContact, 2, 0),
			activityMinute(9, scriptsContact, 1, 0))
		// Before 1970, where Unix times are negative.
		old := time.Date(1969, 7, 20, 20, 17, 40, 999999999, time.UTC)
		start := time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC)
		scriptsSubmit(t, h, "old", spamrun.Submission{Time: old, Script: scriptsContact})
		scriptsSubmit(t, h, "old", spamrun.Submission{Time: start.Add(-time.Nanosecond), Script: scriptsContact})
		activityWant(t, h, "old", start, start.Add(time.Minute),
			spamrun.Minute{Time: start, Script: scriptsContact, Legit: 1})
		activityWant(t, h, "old", start.Add(-time.Minute), start,
			spamrun.Minute{Time: start.Add(-time.Minute), Script: scriptsContact, Legit: 1})
	})
}

func activitySitesAreIndependent(t *testing.T, s spamrun.Store) {
	scriptsTest(t, s, func(h spamrun.ScriptHistory) {
		for _, site := range []string{"a", "a:1", "a:1:2"} {
			scriptsSubmit(t, h, site, spamrun.Submission{Time: activityAt(1, 0), Script: site})
		}
		for _, site := range []string{"a", "a:1", "a:1:2"} {
			activityWant(t, h, site, activityAt(0, 0), activityAt(5, 0), activityMinute(1, site, 1, 0))
		}
		activityWant(t, h, "", activityAt(0, 0), activityAt(5, 0))
		activityWant(t, h, "a ", activityAt(0, 0), activityAt(5, 0))
		// Re-enabling a site keeps its activity, like its history.
		if err := h.Enable(context.Background(), "a"); err != nil {
			t.Fatal(err)
		}
		activityWant(t, h, "a", activityAt(0, 0), activityAt(5, 0), activityMinute(1, "a", 1, 0))
	})
}

// activityConcurrent records from many goroutines at once into a few
// minutes and keys; a lost update shows as a smaller count.
func activityConcurrent(t *testing.T, s spamrun.Store) {
	scriptsTest(t, s, func(h spamrun.ScriptHistory) {
		const writers, each = 16, 30
		scripts := []string{scriptsContact, "", scriptsMailer}
		submission := func(g, i int) spamrun.Submission {
			return spamrun.Submission{Time: activityAt(i%4, g), Script: scripts[(g+i)%3], Spam: (g*i)%5 == 1}
		}
		// The model: the same submissions counted one by one.
		model := spamrun.NewMemoryStore()
		for g := range writers {
			for i := range each {
				if err := model.RecordScript(context.Background(), "shop1", submission(g, i)); err != nil {
					t.Fatal(err)
				}
			}
		}
		var wg sync.WaitGroup
		for g := range writers {
			wg.Go(func() {
				for i := range each {
					if err := h.RecordScript(context.Background(), "shop1", submission(g, i)); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		want, err := model.Activity(context.Background(), "shop1", activityAt(0, 0), activityAt(10, 0))
		if err != nil {
			t.Fatal(err)
		}
		if len(want) != 12 {
			t.Fatalf("the model counts %d minute and script pairs, want 12", len(want))
		}
		total := 0
		for _, m := range want {
			total += m.Legit + m.Spam
		}
		if total != writers*each {
			t.Fatalf("the model counts %d submissions, want %d", total, writers*each)
		}
		activityWant(t, h, "shop1", activityAt(0, 0), activityAt(10, 0), want...)
	})
}

// activityRetention: a submission forgets the site's minutes that start
// more than spamrun.ActivityRetention before its own minute, and only those.
func activityRetention(t *testing.T, s spamrun.Store) {
	scriptsTest(t, s, func(h spamrun.ScriptHistory) {
		r := int(spamrun.ActivityRetention / time.Minute)
		record := func(site string, min int) {
			t.Helper()
			scriptsSubmit(t, h, site, spamrun.Submission{Time: activityAt(min, 30), Script: scriptsContact})
		}
		all := func(site string, want ...spamrun.Minute) {
			t.Helper()
			activityWant(t, h, site, activityAt(-r, 0), activityAt(3*r, 0), want...)
		}
		m := func(min int) spamrun.Minute { return activityMinute(min, scriptsContact, 1, 0) }
		record("shop1", 0)
		record("shop1", 1)
		record("other", 0)
		// Exactly the retention later: minute 0 is still kept.
		record("shop1", r)
		all("shop1", m(0), m(1), m(r))
		// A minute more, and it goes; minute 1 stays.
		record("shop1", r+1)
		all("shop1", m(1), m(r), m(r+1))
		// Far later, all but the newest go; other sites keep theirs.
		record("shop1", 3*r-1)
		all("shop1", m(3*r-1))
		all("other", m(0))
	})
}
