package metrics_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/internal/journal"
	"github.com/spamrun/spamrun/internal/metrics"
	"github.com/spamrun/spamrun/queue"
	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

type fixture struct {
	t     *testing.T
	spool *spool.Spool
	url   string
	now   time.Time
}

func newFixture(t *testing.T, maxSites int) *fixture {
	t.Helper()
	sp, err := spool.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	store := spamrun.NewMemoryStore()
	det, err := spamrun.NewDetector(&spamrun.DetectorOptions{
		Scorer: spamrun.ScorerFunc(func(context.Context, *spamrun.Message) (spamrun.Score, error) { return spamrun.Score{}, nil }),
		Store:  store,
	})
	if err != nil {
		t.Fatal(err)
	}
	now := spamruntest.T0
	for _, site := range []string{"tripped", "also-tripped"} {
		if _, _, err := store.SetDisabled(context.Background(), site, &spamrun.Incident{ID: site + "-1", Site: site, Time: now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Enable(context.Background(), "also-tripped"); err != nil {
		t.Fatal(err)
	}
	r, err := journal.NewReader(sp.Dir())
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(r, metrics.Options{
		Spool: sp, Detector: det, Store: store, Sites: []string{"tripped", "also-tripped", "quiet"},
		MaxSites: maxSites, Now: func() time.Time { return now },
	})
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	return &fixture{t: t, spool: sp, url: srv.URL, now: now}
}

func (f *fixture) append(evs ...queue.Event) {
	f.t.Helper()
	for _, ev := range evs {
		if err := journal.Append(f.spool.Dir(), ev); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) scrape() spamruntest.Metrics {
	f.t.Helper()
	m, err := spamruntest.ScrapeMetrics(f.url)
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

// check compares samples with their wanted values; labels names each
// sample: the metric, then its labels as "name=value".
func check(t *testing.T, m spamruntest.Metrics, want map[string]float64, labels map[string][]string) {
	t.Helper()
	for key, v := range want {
		sample := labels[key]
		if got, ok := m.Has(sample[0], sample[1:]...); !ok || got != v {
			t.Errorf("%s: %s%v = %v (present %v), want %v", key, sample[0], sample[1:], got, ok, v)
		}
	}
}

func TestCountersExact(t *testing.T) {
	f := newFixture(t, 2)
	at := f.now
	scored := func(site, id, door, action string, score float64, spam bool) queue.Event {
		return queue.Event{Time: at, Action: action, Site: site, ID: id, Door: door, Recipients: 1,
			Scored: true, Score: score, Spam: spam, ScoreTime: 2 * time.Millisecond, StoreTime: 300 * time.Microsecond}
	}
	f.append(
		scored("a", "1", "", queue.ActionQueued, 0.5, false),
		queue.Event{Time: at, Action: queue.ActionRelayed, Site: "a", ID: "1", Recipients: 1},
		scored("a", "2", "smtp-local", queue.ActionHeld, 9, true),
		scored("b", "3", "smtp-redirected to 192.0.2.7:25", queue.ActionHeld, 12, true),
		scored("c", "4", "", queue.ActionRefused, 14, true), // the third site with spam: "_other"
		queue.Event{Time: at, Action: queue.ActionTripped, Site: "c", ID: "4", Incident: "c-1"},
		queue.Event{Time: at, Action: queue.ActionUndecided, Site: "a", ID: "5"},
		queue.Event{Time: at, Action: queue.ActionRelayError, Site: "a", ID: "1", Failure: queue.FailureConnection},
		queue.Event{Time: at, Action: queue.ActionRelayError, Site: "a", ID: "1", Failure: queue.FailureTemporary},
		queue.Event{Time: at, Action: queue.ActionDeferred, Site: "a", ID: "1"},
		queue.Event{Time: at, Action: queue.ActionBounced, Site: "b", ID: "3", Incident: "b-1"},
		queue.Event{Time: at, Action: queue.ActionKept, Site: "b", ID: "6", Incident: "b-1"},
		queue.Event{Time: at, Action: queue.ActionRelayed, Site: "b", ID: "3-dsn", Kind: spool.KindDSN, Recipients: 1},
		queue.Event{Time: at, Action: queue.ActionDamaged, ID: "7"},
	)
	m := f.scrape()
	labels := map[string][]string{
		"queued sendmail":   {"spamrun_messages_total", "door=sendmail", "action=queued"},
		"relayed sendmail":  {"spamrun_messages_total", "door=sendmail", "action=relayed"},
		"held local":        {"spamrun_messages_total", "door=smtp-local", "action=held"},
		"held redirected":   {"spamrun_messages_total", "door=smtp-redirected", "action=held"},
		"refused sendmail":  {"spamrun_messages_total", "door=sendmail", "action=refused"},
		"undecided":         {"spamrun_messages_total", "door=sendmail", "action=undecided"},
		"deferred":          {"spamrun_messages_total", "door=sendmail", "action=deferred"},
		"bounced":           {"spamrun_messages_total", "door=sendmail", "action=bounced"},
		"kept":              {"spamrun_messages_total", "door=sendmail", "action=kept"},
		"damaged":           {"spamrun_messages_total", "door=unknown", "action=damaged"},
		"spam a":            {"spamrun_spam_marked_total", "site=a"},
		"spam b":            {"spamrun_spam_marked_total", "site=b"},
		"spam other":        {"spamrun_spam_marked_total", "site=" + metrics.OtherSites},
		"relay connection":  {"spamrun_relay_failures_total", "class=connection"},
		"relay temporary":   {"spamrun_relay_failures_total", "class=temporary"},
		"dsn relayed":       {"spamrun_generated_messages_total", "kind=dsn", "action=relayed"},
		"disabled":          {"spamrun_disabled_sites"},
		"store up":          {"spamrun_store_up"},
		"spool up":          {"spamrun_spool_up"},
		"trips":             {"spamrun_trips_total"},
		"score count":       {"spamrun_score"},
		"scorer time count": {"spamrun_scorer_duration_seconds"},
	}
	check(t, m, map[string]float64{
		"queued sendmail": 1, "relayed sendmail": 1, "held local": 1, "held redirected": 1,
		"refused sendmail": 1, "undecided": 1, "deferred": 1, "bounced": 1, "kept": 1, "damaged": 1,
		"spam a": 1, "spam b": 1, "spam other": 1, "relay connection": 1, "relay temporary": 1,
		"dsn relayed": 1, "disabled": 1, "store up": 1, "spool up": 1, "trips": 1,
		"score count": 4, "scorer time count": 4,
	}, labels)
	if got := m.Total("spamrun_messages_total"); got != 10 {
		t.Errorf("spamrun_messages_total sums to %v, want 10", got)
	}
	if got := m.Sum("spamrun_score"); got != 0.5+9+12+14 {
		t.Errorf("spamrun_score sum %v, want %v", got, 0.5+9+12+14)
	}
	if got := m.Sum("spamrun_scorer_duration_seconds"); got < 0.0079 || got > 0.0081 {
		t.Errorf("scorer seconds sum %v, want 0.008", got)
	}

	// A second scrape counts only what came since.
	f.append(scored("a", "8", "", queue.ActionHeld, 6, true))
	m = f.scrape()
	check(t, m, map[string]float64{"held sendmail": 1, "spam a": 2, "held local": 1, "trips": 1},
		map[string][]string{
			"held sendmail": {"spamrun_messages_total", "door=sendmail", "action=held"},
			"spam a":        {"spamrun_spam_marked_total", "site=a"},
			"held local":    {"spamrun_messages_total", "door=smtp-local", "action=held"},
			"trips":         {"spamrun_trips_total"},
		})
}

func TestQueueGauges(t *testing.T) {
	f := newFixture(t, 0)
	add := func(id string, state spool.State, age time.Duration) *spool.Entry {
		e := &spool.Entry{ID: id, Site: "a", Sender: "a@a.example", Recipients: []string{"x@example.org"},
			Received: f.now.Add(-age), State: state}
		if err := f.spool.Add(e, []byte("Subject: x\r\n\r\nx\r\n")); err != nil {
			t.Fatal(err)
		}
		return e
	}
	add("q1", spool.Queued, time.Hour)
	add("q2", spool.Queued, time.Minute)
	add("h1", spool.Held, 10*time.Minute)
	b := add("b1", spool.Held, 2*time.Hour)
	b.State, b.Until = spool.Bounced, f.now.Add(time.Hour)
	if err := f.spool.Update(b); err != nil {
		t.Fatal(err)
	}
	m := f.scrape()
	for state, want := range map[string]float64{"queued": 2, "held": 1, "undecided": 0, "bounced": 1, "quarantined": 0} {
		if got, ok := m.Has("spamrun_queue_messages", "state="+state); !ok || got != want {
			t.Errorf("spamrun_queue_messages{state=%q} = %v (present %v), want %v", state, got, ok, want)
		}
	}
	for state, want := range map[string]float64{"queued": 3600, "held": 600, "undecided": 0} {
		if got := m.Value("spamrun_queue_oldest_seconds", "state="+state); got != want {
			t.Errorf("spamrun_queue_oldest_seconds{state=%q} = %v, want %v", state, got, want)
		}
	}
}
