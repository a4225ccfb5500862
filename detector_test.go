package spamrun_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamruntest"
)

// headerScorer scores a message by its X-Test-Score header, so detector
// tests do not depend on the builtin rules. It counts its calls.
type headerScorer struct{ calls atomic.Int64 }

func (s *headerScorer) Score(_ context.Context, m *spamrun.Message) (spamrun.Score, error) {
	s.calls.Add(1)
	var sc spamrun.Score
	v, err := strconv.ParseFloat(m.Header("X-Test-Score"), 64)
	if err != nil {
		return sc, fmt.Errorf("no X-Test-Score: %w", err)
	}
	sc.Add("TEST_SCORE", v, "from the X-Test-Score header")
	return sc, nil
}

func testMessage(t testing.TB, score float64, subject string) *spamrun.Message {
	t.Helper()
	raw := fmt.Sprintf("From: guestbook@shop1.example\r\nTo: victim@example.org\r\nSubject: %s\r\nX-Test-Score: %g\r\nX-PHP-Originating-Script: 1001:guestbook.php\r\n\r\nbody\r\n", subject, score)
	m, err := spamrun.ParseMessage([]byte(raw), "guestbook@shop1.example", []string{"victim@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type fixture struct {
	det      *spamrun.PolicyDetector
	clock    *spamruntest.Clock
	enforcer *spamruntest.Enforcer
	scorer   *headerScorer
	store    *spamrun.MemoryStore
}

func newFixture(t testing.TB, p spamrun.Policy, sites map[string]spamrun.Policy) *fixture {
	t.Helper()
	f := &fixture{
		clock:    spamruntest.NewClock(t0),
		enforcer: &spamruntest.Enforcer{},
		scorer:   &headerScorer{},
		store:    spamrun.NewMemoryStore(),
	}
	var err error
	f.det, err = spamrun.NewDetector(&spamrun.DetectorOptions{
		Scorer: f.scorer, Store: f.store, Enforcer: f.enforcer,
		Policy: p, Sites: sites, Now: f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) check(t testing.TB, site string, score float64) spamrun.Verdict {
	t.Helper()
	v, err := f.det.Check(context.Background(), site, testMessage(t, score, "test"))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDetectorTripsAtMaxSpamPlusOne(t *testing.T) {
	p := spamrun.Policy{SpamScore: 5, MaxSpam: 3, Window: time.Hour, HoldFor: 15 * time.Minute}
	f := newFixture(t, p, nil)

	if v := f.check(t, "shop1", 0.5); v.Action != spamrun.Deliver || v.Spam || v.Count != 0 {
		t.Fatalf("ham: %+v", v)
	}
	// A score exactly at the threshold is spam.
	for i := 1; i <= 3; i++ {
		f.clock.Advance(time.Minute)
		v := f.check(t, "shop1", 5)
		if v.Action != spamrun.Hold || !v.Spam || v.Count != i || v.Tripped {
			t.Fatalf("spam %d: %+v", i, v)
		}
		if want := f.clock.Now().Add(15 * time.Minute); !v.HoldUntil.Equal(want) {
			t.Errorf("spam %d: HoldUntil %v, want %v", i, v.HoldUntil, want)
		}
	}
	if len(f.enforcer.Calls()) != 0 {
		t.Fatalf("enforcer called before the trip: %v", f.enforcer.Calls())
	}

	f.clock.Advance(time.Minute)
	v := f.check(t, "shop1", 9)
	if v.Action != spamrun.Refuse || !v.Tripped || v.Count != 4 || v.Incident == nil {
		t.Fatalf("tripping message: %+v", v)
	}
	inc := v.Incident
	if inc.Site != "shop1" || inc.Count != 4 || len(inc.Messages) != 4 || !inc.Time.Equal(f.clock.Now()) {
		t.Errorf("incident: %+v", inc)
	}
	if inc.Messages[0].Evidence.Script != "1001:guestbook.php" || inc.Messages[3].Score != 9 {
		t.Errorf("incident messages lack evidence: %+v", inc.Messages)
	}
	calls := f.enforcer.Calls()
	if len(calls) != 1 || calls[0].Op != "disable" || calls[0].Incident != inc {
		t.Fatalf("enforcer calls: %+v", calls)
	}

	// Refused from now on, ham included, without being scored.
	scored := f.scorer.calls.Load()
	f.clock.Advance(5 * time.Hour)
	if v := f.check(t, "shop1", 0); v.Action != spamrun.Refuse || v.Tripped || v.Incident == nil || v.Incident.ID != inc.ID || v.Incident.Enforced == nil {
		t.Errorf("after trip: %+v", v)
	}
	if f.scorer.calls.Load() != scored {
		t.Errorf("a disabled site's message was scored")
	}
	if len(f.enforcer.Calls()) != 1 {
		t.Errorf("enforcer called again: %v", f.enforcer.Calls())
	}

	// Other sites are unaffected.
	if v := f.check(t, "shop2", 0); v.Action != spamrun.Deliver {
		t.Errorf("other site: %+v", v)
	}
}

func TestDetectorEnableStartsAFreshWindow(t *testing.T) {
	p := spamrun.Policy{SpamScore: 5, MaxSpam: 1, Window: time.Hour}
	f := newFixture(t, p, nil)
	f.check(t, "blog", 8)
	if v := f.check(t, "blog", 8); !v.Tripped {
		t.Fatalf("no trip: %+v", v)
	}
	if err := f.det.Enable(context.Background(), "blog"); err != nil {
		t.Fatal(err)
	}
	calls := f.enforcer.Calls()
	if len(calls) != 2 || calls[1].Op != "enable" || calls[1].Site != "blog" {
		t.Errorf("enforcer calls: %+v", calls)
	}
	// Hold is off in this policy: spam under the limit is delivered.
	if v := f.check(t, "blog", 8); v.Action != spamrun.Deliver || v.Count != 1 {
		t.Errorf("first spam after enable: %+v", v)
	}
	if v := f.check(t, "blog", 8); !v.Tripped {
		t.Errorf("second spam after enable did not trip: %+v", v)
	}
}

func TestDetectorSitePolicies(t *testing.T) {
	def := spamrun.Policy{SpamScore: 5, MaxSpam: 1, Window: time.Hour}
	f := newFixture(t, def, map[string]spamrun.Policy{
		"newsletter": {SpamScore: 5, MaxSpam: 1, Window: time.Hour, Exempt: true},
		"shop1":      {SpamScore: 8, MaxSpam: 3, Window: time.Hour, HoldFor: time.Minute},
	})
	for i := range 20 {
		if v := f.check(t, "newsletter", 9); v.Action != spamrun.Deliver || !v.Spam {
			t.Fatalf("exempt site, message %d: %+v", i, v)
		}
	}
	if v := f.check(t, "shop1", 7); v.Spam || v.Action != spamrun.Deliver {
		t.Errorf("shop1 threshold 8, score 7: %+v", v)
	}
	for i := 1; i <= 3; i++ {
		if v := f.check(t, "shop1", 8); v.Action != spamrun.Hold || v.Count != i {
			t.Fatalf("shop1 spam %d: %+v", i, v)
		}
	}
	if v := f.check(t, "shop1", 8); !v.Tripped {
		t.Errorf("shop1 did not trip at 4: %+v", v)
	}
	if got := f.enforcer.Disabled(); len(got) != 1 || got[0] != "shop1" {
		t.Errorf("disabled: %v", got)
	}
}

// TestDetectorSimulatedDay runs a day of traffic through a fake clock: a site
// sending spam-scored mail exactly as fast as the policy allows never trips;
// one second faster, it trips at the first window that holds one too many.
func TestDetectorSimulatedDay(t *testing.T) {
	p := spamrun.Policy{SpamScore: 5, MaxSpam: 10, Window: time.Hour}
	for _, tc := range []struct {
		every    time.Duration
		tripsAt  int // index of the tripping message, -1 for never
		messages int
	}{
		{every: 6 * time.Minute, tripsAt: -1, messages: 240},
		{every: 6*time.Minute - time.Second, tripsAt: 10, messages: 240},
	} {
		t.Run(tc.every.String(), func(t *testing.T) {
			f := newFixture(t, p, nil)
			tripped := -1
			for i := range tc.messages {
				if i > 0 {
					f.clock.Advance(tc.every)
				}
				v := f.check(t, "shop1", 6)
				if v.Tripped {
					tripped = i
					break
				}
				if v.Count > 10 || v.Action == spamrun.Refuse {
					t.Fatalf("message %d: %+v", i, v)
				}
			}
			if tripped != tc.tripsAt {
				t.Errorf("tripped at message %d, want %d", tripped, tc.tripsAt)
			}
		})
	}
}

func TestDetectorConcurrentTripIsEnforcedOnce(t *testing.T) {
	p := spamrun.Policy{SpamScore: 5, MaxSpam: 10, Window: time.Hour, HoldFor: time.Minute}
	f := newFixture(t, p, nil)
	const n = 200
	var (
		wg                       sync.WaitGroup
		held, refused, tripCount atomic.Int64
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := f.check(t, "shop1", 7)
			switch v.Action {
			case spamrun.Hold:
				held.Add(1)
			case spamrun.Refuse:
				refused.Add(1)
			}
			if v.Tripped {
				tripCount.Add(1)
			}
		}()
	}
	wg.Wait()
	if held.Load() != 10 || refused.Load() != n-10 || tripCount.Load() != 1 {
		t.Errorf("held %d refused %d tripped %d; want 10, %d, 1", held.Load(), refused.Load(), tripCount.Load(), n-10)
	}
	if got := f.enforcer.Disabled(); len(got) != 1 {
		t.Errorf("enforcer disabled %d times", len(got))
	}
}

func TestDetectorFailures(t *testing.T) {
	p := spamrun.Policy{SpamScore: 5, MaxSpam: 0, Window: time.Hour}

	t.Run("enforcer error still disables", func(t *testing.T) {
		f := newFixture(t, p, nil)
		f.enforcer.Err = errors.New("panel unreachable")
		v := f.check(t, "shop1", 6)
		if !v.Tripped || v.Action != spamrun.Refuse || v.EnforcerErr == nil {
			t.Fatalf("%+v", v)
		}
		if inc, _ := f.store.Disabled(context.Background(), "shop1"); inc == nil {
			t.Error("site not disabled in the store")
		}
	})

	t.Run("scorer error is no decision", func(t *testing.T) {
		f := newFixture(t, p, nil)
		m, _ := spamrun.ParseMessage([]byte("Subject: no score header\r\n\r\nhi\r\n"), "a@shop1.example", []string{"b@example.org"})
		if _, err := f.det.Check(context.Background(), "shop1", m); err == nil {
			t.Fatal("no error for a failing scorer")
		}
	})

	t.Run("scorer panic is no decision", func(t *testing.T) {
		det, err := spamrun.NewDetector(&spamrun.DetectorOptions{
			Scorer: spamrun.ScorerFunc(func(context.Context, *spamrun.Message) (spamrun.Score, error) {
				var rules []spamrun.RuleHit
				return spamrun.Score{Value: rules[3].Points}, nil
			}),
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = det.Check(context.Background(), "shop1", testMessage(t, 1, "x"))
		if err == nil || !strings.Contains(err.Error(), "scorer panicked") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("bad policies are refused", func(t *testing.T) {
		for _, bad := range []spamrun.Policy{
			{SpamScore: 5, MaxSpam: -1, Window: time.Hour},
			{SpamScore: 5, MaxSpam: 1, Window: 0},
			{SpamScore: 5, MaxSpam: 1, Window: time.Hour, HoldFor: -time.Second},
		} {
			_, err := spamrun.NewDetector(&spamrun.DetectorOptions{Sites: map[string]spamrun.Policy{"x": bad}})
			if !errors.Is(err, spamrun.ErrBadPolicy) {
				t.Errorf("%+v: err %v", bad, err)
			}
		}
	})
}

// bccMessage is a spam-marked guestbook message to n envelope recipients,
// as a script sends it with Bcc.
func bccMessage(t testing.TB, n int, score float64) *spamrun.Message {
	t.Helper()
	raw := fmt.Sprintf("From: guestbook@shop1.example\r\nTo: undisclosed-recipients:;\r\nSubject: offer\r\nX-Test-Score: %g\r\nX-PHP-Originating-Script: 1001:guestbook.php\r\n\r\nbody\r\n", score)
	m, err := spamrun.ParseMessage([]byte(raw), "guestbook@shop1.example", spamruntest.Recipients(n))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDetectorCountsRecipients(t *testing.T) {
	p := spamrun.Policy{SpamScore: 5, MaxSpam: 5, Window: time.Hour, HoldFor: 15 * time.Minute}
	ctx := context.Background()

	t.Run("51-recipient spam with max_spam 5 is refused and trips", func(t *testing.T) {
		f := newFixture(t, p, nil)
		v, err := f.det.Check(ctx, "shop1", bccMessage(t, 51, 9))
		if err != nil {
			t.Fatal(err)
		}
		if v.Action != spamrun.Refuse || !v.Tripped || v.Count != 51 || v.Incident == nil {
			t.Fatalf("verdict: %+v", v)
		}
		inc := v.Incident
		if inc.Count != 51 || len(inc.Messages) != 1 || inc.Messages[0].Recipients != 51 || inc.Messages[0].Weight != 51 || inc.Policy.Count != spamrun.CountRecipients {
			t.Errorf("incident: count %d, messages %+v, policy %+v", inc.Count, inc.Messages, inc.Policy)
		}
		if calls := f.enforcer.Calls(); len(calls) != 1 || calls[0].Op != "disable" {
			t.Errorf("enforcer calls: %+v", calls)
		}
		if v := f.check(t, "shop1", 0); v.Action != spamrun.Refuse {
			t.Errorf("ham after the trip: %v, want refuse", v.Action)
		}
	})

	t.Run("recipients add up across messages", func(t *testing.T) {
		f := newFixture(t, p, nil)
		for i, want := range []struct {
			rcpts, count int
			action       spamrun.Action
		}{{2, 2, spamrun.Hold}, {3, 5, spamrun.Hold}, {1, 6, spamrun.Refuse}} {
			v, err := f.det.Check(ctx, "shop1", bccMessage(t, want.rcpts, 9))
			if err != nil {
				t.Fatal(err)
			}
			if v.Action != want.action || v.Count != want.count {
				t.Errorf("message %d to %d: %v with count %d, want %v with %d", i, want.rcpts, v.Action, v.Count, want.action, want.count)
			}
			f.clock.Advance(time.Minute)
		}
	})

	t.Run("ham to many recipients counts nothing", func(t *testing.T) {
		f := newFixture(t, p, nil)
		if v, err := f.det.Check(ctx, "shop1", bccMessage(t, 500, 1)); err != nil || v.Action != spamrun.Deliver || v.Count != 0 {
			t.Errorf("ham to 500: %+v, %v", v, err)
		}
	})

	t.Run("count messages holds the 51-recipient spam as one", func(t *testing.T) {
		messages := p
		messages.Count = spamrun.CountMessages
		f := newFixture(t, p, map[string]spamrun.Policy{"club": messages})
		for i := range 5 {
			v, err := f.det.Check(ctx, "club", bccMessage(t, 51, 9))
			if err != nil {
				t.Fatal(err)
			}
			if v.Action != spamrun.Hold || v.Count != i+1 {
				t.Fatalf("mailing %d: %v with count %d, want hold with %d", i, v.Action, v.Count, i+1)
			}
		}
		st, err := f.det.Status(ctx, "club", f.clock.Now())
		if err != nil || st.Spam != 5 {
			t.Errorf("status of club: %+v, %v; want spam 5", st, err)
		}
		// The other sites count recipients.
		if v, err := f.det.Check(ctx, "shop1", bccMessage(t, 51, 9)); err != nil || v.Action != spamrun.Refuse {
			t.Errorf("shop1 under the default policy: %+v, %v; want refuse", v, err)
		}
	})
}

// TestDetectorSubmissionDecidedAgain: a message decided twice under its
// SubmissionID, as the queue runner does after a spool update failed,
// counts once, and is held both times; one without an ID counts each
// time.
func TestDetectorSubmissionDecidedAgain(t *testing.T) {
	p := spamrun.Policy{SpamScore: 5, MaxSpam: 5, Window: time.Hour, HoldFor: 15 * time.Minute}
	f := newFixture(t, p, nil)
	ctx := context.Background()
	msg := bccMessage(t, 3, 9)
	msg.SubmissionID = "20261102T090000.000000-5A17E0C3D9"
	for i := range 2 {
		v, err := f.det.CheckAt(ctx, "shop1", msg, t0)
		if err != nil {
			t.Fatal(err)
		}
		if v.Count != 3 || v.Action != spamrun.Hold {
			t.Errorf("decision %d: count %d, %v; want 3, hold", i, v.Count, v.Action)
		}
	}
	evs, err := f.store.SpamLog(ctx, "shop1", t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Submission != msg.SubmissionID {
		t.Errorf("spam log %+v, want one event of submission %s", evs, msg.SubmissionID)
	}
	msg.SubmissionID = ""
	if v, err := f.det.CheckAt(ctx, "shop1", msg, t0); err != nil || v.Count != 6 {
		t.Errorf("the message without an ID: count %d, %v; want 6", v.Count, err)
	}
}

func TestPolicyCount(t *testing.T) {
	for _, tc := range []struct {
		count      spamrun.Count
		recipients int
		want       int
	}{
		{spamrun.CountRecipients, 51, 51},
		{spamrun.CountRecipients, 1, 1},
		{spamrun.CountRecipients, 0, 1},
		{spamrun.CountMessages, 51, 1},
		{spamrun.CountMessages, 0, 1},
	} {
		if got := (spamrun.Policy{Count: tc.count}).Weight(tc.recipients); got != tc.want {
			t.Errorf("%v: Weight(%d) = %d, want %d", tc.count, tc.recipients, got, tc.want)
		}
	}
	for _, name := range []string{"recipients", "messages"} {
		c, err := spamrun.ParseCount(name)
		if err != nil || c.String() != name {
			t.Errorf("ParseCount(%q) = %v, %v", name, c, err)
		}
	}
	if _, err := spamrun.ParseCount("Recipients"); !errors.Is(err, spamrun.ErrBadPolicy) {
		t.Errorf("ParseCount(Recipients) = %v, want ErrBadPolicy", err)
	}
	bad := spamrun.DefaultPolicy()
	bad.Count = 7
	if err := bad.Validate(); !errors.Is(err, spamrun.ErrBadPolicy) {
		t.Errorf("Validate of count 7 = %v, want ErrBadPolicy", err)
	}
	// A policy stored before count was counting messages.
	var old spamrun.Policy
	if err := json.Unmarshal([]byte(`{"spam_score":5,"max_spam":10,"window":"1h0m0s","hold_for":"15m0s"}`), &old); err != nil || old.Count != spamrun.CountMessages {
		t.Errorf("policy without count = %+v, %v; want CountMessages", old, err)
	}
	for _, p := range []spamrun.Policy{spamrun.DefaultPolicy(), {SpamScore: 5, MaxSpam: 1, Window: time.Hour, Count: spamrun.CountMessages}} {
		data, err := json.Marshal(p)
		var back spamrun.Policy
		if err == nil {
			err = json.Unmarshal(data, &back)
		}
		if err != nil || back != p {
			t.Errorf("round trip of %+v through %s: %+v, %v", p, data, back, err)
		}
	}
	if err := json.Unmarshal([]byte(`{"window":"1h","hold_for":"0s","count":"bcc"}`), &old); err == nil {
		t.Error("an unknown count was accepted")
	}
}

func TestDetectorStatus(t *testing.T) {
	p := spamrun.Policy{SpamScore: 5, MaxSpam: 5, Window: time.Hour}
	f := newFixture(t, p, nil)
	for range 3 {
		f.check(t, "shop1", 6)
		f.clock.Advance(20 * time.Minute)
	}
	st, err := f.det.Status(context.Background(), "shop1", f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Spam at 0, 20 and 40 minutes; it is now 60: the first is out.
	if st.Spam != 2 || st.Incident != nil || st.Policy != p {
		t.Errorf("status: %+v", st)
	}
	// Spam counts its recipients in the status too.
	if _, err := f.det.Check(context.Background(), "shop1", bccMessage(t, 3, 6)); err != nil {
		t.Fatal(err)
	}
	if st, err := f.det.Status(context.Background(), "shop1", f.clock.Now()); err != nil || st.Spam != 5 {
		t.Errorf("status after spam to 3: %+v, %v; want spam 5", st, err)
	}
}

func ExamplePolicyDetector() {
	clock := spamruntest.NewClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	det, _ := spamrun.NewDetector(&spamrun.DetectorOptions{
		Policy: spamrun.Policy{SpamScore: 5, MaxSpam: 2, Window: time.Hour, HoldFor: 15 * time.Minute},
		Now:    clock.Now,
	})
	spam := func() *spamrun.Message {
		m, _ := spamrun.ParseMessage([]byte("Subject: XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n\r\n"+
			"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n"),
			"guestbook@shop1.example", []string{"someone@example.org"})
		return m
	}
	for range 4 {
		v, _ := det.Check(context.Background(), "shop1", spam())
		fmt.Printf("%s count=%d tripped=%v\n", v.Action, v.Count, v.Tripped)
		clock.Advance(time.Minute)
	}
	// Output:
	// hold count=1 tripped=false
	// hold count=2 tripped=false
	// refuse count=3 tripped=true
	// refuse count=0 tripped=false
}

// BenchmarkDetectorDecide measures decisions on already-scored messages,
// nine ham to one spam, over 10,000 sites, as the queue runner or a
// long-running importer makes them. Simulated time moves a microsecond a
// decision, so each site's log fills and wraps but, with a 50 ms window,
// no site trips and every decision takes the full path.
func BenchmarkDetectorDecide(b *testing.B) {
	det, err := spamrun.NewDetector(&spamrun.DetectorOptions{
		Policy: spamrun.Policy{SpamScore: 5, MaxSpam: 10, Window: 50 * time.Millisecond, HoldFor: time.Minute},
	})
	if err != nil {
		b.Fatal(err)
	}
	msg := testMessage(b, 0, "bench")
	ham, spam := spamrun.Score{Value: 1}, spamrun.Score{Value: 7, Rules: []spamrun.RuleHit{{Name: "A", Points: 4}, {Name: "B", Points: 3}}}
	sites := make([]string, 10000)
	for i := range sites {
		sites[i] = fmt.Sprintf("site%d", i)
	}
	ctx := context.Background()
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(1)) * 7919
		now := t0
		for pb.Next() {
			i++
			now = now.Add(time.Microsecond)
			sc := ham
			if i%10 == 0 {
				sc = spam
			}
			v, err := det.Decide(ctx, sites[i%len(sites)], msg, sc, now)
			if err != nil || v.Action == spamrun.Refuse {
				b.Fatalf("decision %d: %+v, %v", i, v, err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

func TestIncidentJSONRoundTrip(t *testing.T) {
	inc := spamrun.Incident{
		ID: spamrun.IncidentID("shop1", t0), Site: "shop1", Time: t0, Count: 2,
		Policy:   spamrun.Policy{SpamScore: 5.5, MaxSpam: 1, Window: 90 * time.Minute, HoldFor: 15 * time.Minute},
		Messages: []spamrun.SpamEvent{{Time: t0, Score: 7, Rules: []string{"GTUBE"}, Sender: "a@shop1.example", Recipients: 3}},
	}
	data, err := json.Marshal(inc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"policy":{"spam_score":5.5,"max_spam":1,"window":"1h30m0s","hold_for":"15m0s","count":"recipients"}`) {
		t.Errorf("policy JSON: %s", data)
	}
	var back spamrun.Incident
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.Policy != inc.Policy || back.ID != inc.ID || !back.Time.Equal(inc.Time) || len(back.Messages) != 1 || back.Messages[0].Sender != "a@shop1.example" {
		t.Errorf("round trip: %+v", back)
	}
	if err := json.Unmarshal([]byte(`{"policy":{"window":"soon"}}`), &back); err == nil {
		t.Error("a bad duration was accepted")
	}
}
