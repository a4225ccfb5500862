package spamruntest

import (
	"context"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
)

// The spamrun.IncidentLog half of TestStore: recording what the enforcer
// did on the incident in the history and on the one in force.

// incidentLogTest runs fn on s as a spamrun.IncidentLog, which only stores
// that keep no incident history may lack.
func incidentLogTest(t *testing.T, s spamrun.Store, fn func(spamrun.IncidentLog)) {
	t.Helper()
	l, ok := s.(spamrun.IncidentLog)
	if !ok {
		t.Skipf("%T keeps no incident history", s)
	}
	fn(l)
}

// incidentEnforced is a copy of inc as it reads once e is recorded on it.
func incidentEnforced(inc *spamrun.Incident, e spamrun.Enforcement) *spamrun.Incident {
	c := *inc
	c.Enforced = &e
	return &c
}

// incidentEnforcement has nanoseconds and a zone, so that a store that
// rounds or loses the instant is caught.
func incidentEnforcement(sec int, err string) spamrun.Enforcement {
	return spamrun.Enforcement{Time: storeAt(0, sec).In(time.FixedZone("CET", 3600)).Add(789 * time.Nanosecond), Err: err}
}

func incidentSetDisabled(t *testing.T, l spamrun.IncidentLog, inc *spamrun.Incident) {
	t.Helper()
	if _, changed, err := l.SetDisabled(context.Background(), inc.Site, inc); err != nil || !changed {
		t.Fatalf("SetDisabled(%s, %s): changed %v, %v; want true", inc.Site, inc.ID, changed, err)
	}
}

func incidentSetEnforced(t *testing.T, l spamrun.IncidentLog, site, id string, e spamrun.Enforcement) {
	t.Helper()
	if err := l.SetEnforced(context.Background(), site, id, e); err != nil {
		t.Fatalf("SetEnforced(%s, %s): %v", site, id, err)
	}
}

// incidentWant checks the incident in force, nil for none, and the
// site's history.
func incidentWant(t *testing.T, l spamrun.IncidentLog, site string, disabled *spamrun.Incident, history ...*spamrun.Incident) {
	t.Helper()
	ctx := context.Background()
	cur, err := l.Disabled(ctx, site)
	if err != nil {
		t.Fatal(err)
	}
	if (cur == nil) != (disabled == nil) {
		t.Errorf("Disabled(%s) = %v, want %v", site, cur, disabled)
	} else if cur != nil {
		storeSameJSON(t, "Disabled("+site+")", cur, disabled)
	}
	got, err := l.Incidents(ctx, site)
	if err != nil {
		t.Fatal(err)
	}
	if got == nil {
		got = []*spamrun.Incident{}
	}
	if history == nil {
		history = []*spamrun.Incident{}
	}
	storeSameJSON(t, "Incidents("+site+")", got, history)
}

func incidentLogEnforced(t *testing.T, s spamrun.Store) {
	incidentLogTest(t, s, func(l spamrun.IncidentLog) {
		one := storeIncident("shop1", storeAt(0, 0), "one")
		incidentSetDisabled(t, l, one)
		before, err := l.Disabled(context.Background(), "shop1")
		if err != nil {
			t.Fatal(err)
		}
		done := incidentEnforcement(3, "")
		incidentSetEnforced(t, l, "shop1", "one", done)
		incidentWant(t, l, "shop1", incidentEnforced(one, done), incidentEnforced(one, done))
		incidentWant(t, l, "", nil, incidentEnforced(one, done))
		// The store records on its own copies: what callers were given
		// does not change under them.
		if one.Enforced != nil || before == nil || before.Enforced != nil {
			t.Errorf("SetEnforced changed an incident a caller holds: given %v, read before %v", one.Enforced, before)
		}
		// Recorded again, say by an operator's retry: the latest wins.
		failed := incidentEnforcement(9, "suspend shop1: exit status 1")
		incidentSetEnforced(t, l, "shop1", "one", failed)
		incidentWant(t, l, "shop1", incidentEnforced(one, failed), incidentEnforced(one, failed))
	})
}

// incidentLogEnforcedAfterRetrip: an enforcer that returns after the site
// was re-enabled and tripped again records on its own incident, never on
// the one now in force, and never disables a re-enabled site.
func incidentLogEnforcedAfterRetrip(t *testing.T, s spamrun.Store) {
	incidentLogTest(t, s, func(l spamrun.IncidentLog) {
		ctx := context.Background()
		one := storeIncident("shop1", storeAt(0, 0), "one")
		two := storeIncident("shop1", storeAt(30, 0), "two")
		incidentSetDisabled(t, l, one)
		if err := l.Enable(ctx, "shop1"); err != nil {
			t.Fatal(err)
		}
		incidentSetDisabled(t, l, two)
		e1 := incidentEnforcement(5, "slow hook")
		incidentSetEnforced(t, l, "shop1", "one", e1)
		incidentWant(t, l, "shop1", two, two, incidentEnforced(one, e1))

		e2 := incidentEnforcement(40, "")
		incidentSetEnforced(t, l, "shop1", "two", e2)
		incidentWant(t, l, "shop1", incidentEnforced(two, e2), incidentEnforced(two, e2), incidentEnforced(one, e1))

		if err := l.Enable(ctx, "shop1"); err != nil {
			t.Fatal(err)
		}
		e3 := incidentEnforcement(50, "")
		incidentSetEnforced(t, l, "shop1", "two", e3)
		incidentWant(t, l, "shop1", nil, incidentEnforced(two, e3), incidentEnforced(one, e1))
	})
}

// incidentLogUnknown: an ID the store does not know for the site, pruned
// or never there, is no error and changes nothing.
func incidentLogUnknown(t *testing.T, s spamrun.Store) {
	incidentLogTest(t, s, func(l spamrun.IncidentLog) {
		e := incidentEnforcement(1, "")
		incidentSetEnforced(t, l, "shop1", "nope", e)
		incidentWant(t, l, "shop1", nil)
		one := storeIncident("shop1", storeAt(0, 0), "one")
		incidentSetDisabled(t, l, one)
		incidentSetEnforced(t, l, "shop1", "nope", e)
		// The ID is another site's.
		incidentSetEnforced(t, l, "shop2", "one", e)
		incidentWant(t, l, "shop1", one, one)
		incidentWant(t, l, "shop2", nil)
	})
}
