package queue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jhillyerd/enmime/v2"
	"github.com/jhillyerd/enmime/v2/dsn"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/queue"
	"github.com/spamrun/spamrun/relay"
	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

const (
	hostname   = "web1.example.net"
	articleURL = "https://support.example.com/spam-run"
	// spamBodyLine is in the body of every GuestbookSpam: a DSN that
	// contains it resent the spam.
	spamBodyLine = "This is a copy of your entry."
)

// sites are the hosted sites of every test: shop1 and blog2 own their
// domains and their default senders.
var sites = map[string]spamrun.Site{
	"shop1": {Name: "shop1", UID: 1001, Domains: []string{"shop1.example"}, DefaultSender: "shop1@web1.example.net"},
	"blog2": {Name: "blog2", UID: 1002, Domains: []string{"blog2.example"}, DefaultSender: "blog2@web1.example.net"},
}

func siteOf(e *spool.Entry) spamrun.Site { return sites[e.Site] }

// policy trips a site on its fourth spam-marked message within an hour and
// holds spam-marked messages for 15 minutes.
func policy() spamrun.Policy {
	return spamrun.Policy{SpamScore: 5, MaxSpam: 3, Window: time.Hour, HoldFor: 15 * time.Minute}
}

// env is one host: a spool, a detector with its store, and a clock shared
// by the detector and every runner.
type env struct {
	t     *testing.T
	ctx   context.Context
	clock *spamruntest.Clock
	spool *spool.Spool
	det   *spamrun.PolicyDetector
	seq   int
}

func newEnv(t *testing.T, p spamrun.Policy) *env {
	t.Helper()
	return newEnvStore(t, p, spamrun.NewMemoryStore())
}

// newEnvStore is newEnv with the detector's state in store.
func newEnvStore(t *testing.T, p spamrun.Policy, store spamrun.Store) *env {
	t.Helper()
	sp, err := spool.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	clock := spamruntest.NewClock(spamruntest.T0)
	det, err := spamrun.NewDetector(&spamrun.DetectorOptions{
		Scorer: spamrun.NewBuiltinScorer(),
		Store:  store,
		Policy: p,
		Now:    clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: context.Background(), clock: clock, spool: sp, det: det}
}

// runner returns a Runner of the env's spool relaying to rl.
func (v *env) runner(rl relay.Relay) *queue.Runner {
	return &queue.Runner{
		Spool:      v.spool,
		Relay:      rl,
		Detector:   v.det,
		Site:       siteOf,
		Hostname:   hostname,
		ArticleURL: articleURL,
		Now:        v.clock.Now,
		Logf:       v.t.Logf,
	}
}

// smtpRelay relays to the sink, as to the host's MTA on loopback.
func smtpRelay(sink *spamruntest.SMTPSink) relay.Relay {
	return &relay.SMTP{Addr: sink.Addr(), Helo: hostname, StartTLS: relay.StartTLSOff, Timeout: 30 * time.Second}
}

// deadRelay relays to a loopback port nobody listens on: the MTA is down.
func deadRelay(t *testing.T) relay.Relay {
	t.Helper()
	return &relay.SMTP{Addr: spamruntest.FreeAddr(t), Helo: hostname, StartTLS: relay.StartTLSOff, Timeout: 10 * time.Second}
}

// splitRelay sends DSNs (the null sender) to dsns and everything else to
// orig, so that a relay refusing the originals still takes the DSNs.
func splitRelay(orig, dsns relay.Relay) relay.Relay {
	return relay.DeliverFunc(func(ctx context.Context, env relay.Envelope, data io.Reader) error {
		if env.From == "" {
			return dsns.Deliver(ctx, env, data)
		}
		return orig.Deliver(ctx, env, data)
	})
}

// nextID is an ID in the spool's format whose order is the order of
// submission even at one clock instant, so that List's order is known.
func (v *env) nextID(t time.Time) string {
	v.seq++
	return fmt.Sprintf("%s-%010d", t.UTC().Format("20060102T150405.000000"), v.seq)
}

// submit does what sendmail does with a message: asks the detector at the
// clock's time and spools it, queued or held as the verdict says. A refused
// message is not spooled: the entry is nil.
func (v *env) submit(site, sender string, rcpts []string, raw []byte) (*spool.Entry, spamrun.Verdict) {
	v.t.Helper()
	now := v.clock.Now()
	msg, err := spamrun.ParseMessage(raw, sender, rcpts)
	if err != nil {
		v.t.Fatal(err)
	}
	verdict, err := v.det.CheckAt(v.ctx, site, msg, now)
	if err != nil {
		v.t.Fatal(err)
	}
	e := &spool.Entry{
		ID: v.nextID(now), Site: site, UID: sites[site].UID, Sender: sender, Recipients: rcpts,
		Received: now, Score: verdict.Score, Spam: verdict.Spam,
	}
	switch verdict.Action {
	case spamrun.Refuse:
		return nil, verdict
	case spamrun.Hold:
		e.State, e.HoldUntil = spool.Held, verdict.HoldUntil
	default:
		e.State = spool.Queued
	}
	if err := v.spool.Add(e, raw); err != nil {
		v.t.Fatal(err)
	}
	return e, verdict
}

// add spools a message as it is, without asking the detector: mail
// accepted while the store was down (Undecided), or a state set by hand.
func (v *env) add(e *spool.Entry, raw []byte) *spool.Entry {
	v.t.Helper()
	if e.ID == "" {
		e.ID = v.nextID(v.clock.Now())
	}
	if e.Received.IsZero() {
		e.Received = v.clock.Now()
	}
	if e.UID == 0 {
		e.UID = sites[e.Site].UID
	}
	if err := v.spool.Add(e, raw); err != nil {
		v.t.Fatal(err)
	}
	return e
}

func spam(site string, i int) []byte { return spamruntest.GuestbookSpam(site+".example", i) }
func ham(site string, i int) []byte  { return spamruntest.OrderConfirmation(site+".example", i) }

func victim(i int) []string { return []string{fmt.Sprintf("victim%d@example.org", i)} }

// trip drives the detector with spam from noreply@SITE.example until it
// disables the site, and returns the incident. The run's messages are
// refused or asked about only, never spooled, so that a test's queue holds
// just the messages it put there.
func (v *env) trip(site string) *spamrun.Incident {
	v.t.Helper()
	for i := 1000; i < 1100; i++ {
		msg, err := spamrun.ParseMessage(spam(site, i), "noreply@"+site+".example", victim(i))
		if err != nil {
			v.t.Fatal(err)
		}
		verdict, err := v.det.CheckAt(v.ctx, site, msg, v.clock.Now())
		if err != nil {
			v.t.Fatal(err)
		}
		if verdict.Tripped {
			return verdict.Incident
		}
		if verdict.Action == spamrun.Refuse {
			v.t.Fatalf("site %s refused before it tripped", site)
		}
	}
	v.t.Fatalf("site %s never tripped", site)
	return nil
}

// queued returns the messages in the queue by ID.
func (v *env) queued() map[string]*spool.Entry {
	v.t.Helper()
	l, err := v.spool.List()
	if err != nil {
		v.t.Fatal(err)
	}
	return byID(l)
}

// quarantined returns the messages in quarantine by ID.
func (v *env) quarantined() map[string]*spool.Entry {
	v.t.Helper()
	l, err := v.spool.Quarantine()
	if err != nil {
		v.t.Fatal(err)
	}
	return byID(l)
}

func byID(l []*spool.Entry) map[string]*spool.Entry {
	m := make(map[string]*spool.Entry, len(l))
	for _, e := range l {
		m[e.ID] = e
	}
	return m
}

// in reports which of the spool's directories holds the file of id.
func (v *env) in(id string) string {
	var dirs []string
	for _, d := range []string{"queue", "quarantine"} {
		if _, err := os.Stat(filepath.Join(v.spool.Dir(), d, id)); err == nil {
			dirs = append(dirs, d)
		}
	}
	return strings.Join(dirs, "+")
}

func (v *env) pass(r *queue.Runner) queue.Stats {
	v.t.Helper()
	s, err := r.Pass(v.ctx)
	if err != nil {
		v.t.Fatalf("Pass: %v", err)
	}
	return s
}

// counts shows the counters of s, which tests compare whole.
func counts(s queue.Stats) string {
	return fmt.Sprintf("relayed=%d deferred=%d decided=%d bounced=%d quarantined=%d expired=%d failed=%d",
		s.Relayed, s.Deferred, s.Decided, s.Bounced, s.Quarantined, s.Expired, s.Failed)
}

func wantCounts(t *testing.T, what string, got queue.Stats, want string) {
	t.Helper()
	if c := counts(got); c != want {
		t.Errorf("%s: %s\n\twant %s", what, c, want)
	}
}

// split splits what the sink accepted into originals and DSNs.
func split(msgs []spamruntest.SinkMessage) (orig, dsns []spamruntest.SinkMessage) {
	for _, m := range msgs {
		if m.From == "" {
			dsns = append(dsns, m)
		} else {
			orig = append(orig, m)
		}
	}
	return orig, dsns
}

// dsnRecipient is one per-recipient block of a DSN.
type dsnRecipient struct{ rcpt, status, diagnostic, action string }

func recipients(rep *dsn.Report) []dsnRecipient {
	var out []dsnRecipient
	for _, r := range rep.DeliveryStatus.RecipientDSNs {
		out = append(out, dsnRecipient{
			rcpt:       strings.TrimPrefix(r.Get("Final-Recipient"), "rfc822; "),
			status:     r.Get("Status"),
			diagnostic: r.Get("Diagnostic-Code"),
			action:     r.Get("Action"),
		})
	}
	return out
}

// checkHeadersOnly fails when the DSN carries the spam's body in any form:
// raw or in a decoded part.
func checkHeadersOnly(t *testing.T, data []byte, env *enmime.Envelope) {
	t.Helper()
	if bytes.Contains(data, []byte(spamBodyLine)) {
		t.Errorf("DSN carries the original's body:\n%s", data)
	}
	var walk func(p *enmime.Part)
	walk = func(p *enmime.Part) {
		for ; p != nil; p = p.NextSibling {
			if bytes.Contains(p.Content, []byte(spamBodyLine)) {
				t.Errorf("DSN part %s carries the original's body", p.ContentType)
			}
			walk(p.FirstChild)
		}
	}
	walk(env.Root)
	var types []string
	for p := env.Root.FirstChild; p != nil; p = p.NextSibling {
		types = append(types, p.ContentType)
	}
	if len(types) != 3 || types[2] != "text/rfc822-headers" {
		t.Errorf("DSN parts %q, want the third text/rfc822-headers", types)
	}
}

// ---- retries ----

func TestRetryDelay(t *testing.T) {
	tests := []struct {
		attempts int
		want     time.Duration
	}{
		{0, time.Minute},
		{1, time.Minute},
		{2, 2 * time.Minute},
		{3, 4 * time.Minute},
		{4, 8 * time.Minute},
		{5, 16 * time.Minute},
		{6, 32 * time.Minute},
		{7, time.Hour},
		{8, time.Hour},
		{100, time.Hour},
		{1 << 30, time.Hour},
	}
	for _, tt := range tests {
		if got := queue.RetryDelay(tt.attempts); got != tt.want {
			t.Errorf("RetryDelay(%d) = %v, want %v", tt.attempts, got, tt.want)
		}
	}
}

// TestRelayDownThenBack: mail waits for a relay that is down, with backoff,
// and goes exactly once when it is back.
func TestRelayDownThenBack(t *testing.T) {
	v := newEnv(t, policy())
	e, _ := v.submit("shop1", "shop@shop1.example", victim(1), ham("shop1", 1))
	down := v.runner(deadRelay(t))

	wantCounts(t, "pass with the relay down", v.pass(down), "relayed=0 deferred=1 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
	got, _, err := v.spool.Read(e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Attempts != 1 {
		t.Errorf("Attempts = %d, want 1", got.Attempts)
	}
	if want := spamruntest.T0.Add(queue.RetryDelay(1)); !got.NextAttempt.Equal(want) {
		t.Errorf("NextAttempt = %v, want %v", got.NextAttempt, want)
	}
	if got.LastError == "" {
		t.Error("LastError is empty")
	}
	if got.State != spool.Queued || v.in(e.ID) != "queue" {
		t.Errorf("state %s in %q, want queued in queue", got.State, v.in(e.ID))
	}

	sink := spamruntest.NewSMTPSink(t)
	up := v.runner(smtpRelay(sink))
	v.clock.Advance(queue.RetryDelay(1) - time.Second)
	s := v.pass(up)
	wantCounts(t, "pass before the next attempt is due", s, "relayed=0 deferred=0 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
	if want := spamruntest.T0.Add(queue.RetryDelay(1)); !s.Next.Equal(want) {
		t.Errorf("Stats.Next = %v, want %v", s.Next, want)
	}
	if n := len(sink.Messages()); n != 0 {
		t.Fatalf("relayed %d messages before the next attempt was due", n)
	}

	v.clock.Advance(time.Second)
	wantCounts(t, "pass when due", v.pass(up), "relayed=1 deferred=0 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
	wantCounts(t, "one more pass", v.pass(up), "relayed=0 deferred=0 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
	msgs := sink.Messages()
	if len(msgs) != 1 {
		t.Fatalf("sink got %d messages, want 1", len(msgs))
	}
	if msgs[0].From != "shop@shop1.example" || !slices.Equal(msgs[0].To, victim(1)) {
		t.Errorf("relayed from <%s> to %q", msgs[0].From, msgs[0].To)
	}
	if where := v.in(e.ID); where != "" {
		t.Errorf("relayed message still in %s", where)
	}
}

// TestRelayDownBacksOff: each failed attempt doubles the wait.
func TestRelayDownBacksOff(t *testing.T) {
	v := newEnv(t, policy())
	e, _ := v.submit("shop1", "shop@shop1.example", victim(1), ham("shop1", 1))
	r := v.runner(deadRelay(t))
	for attempt := 1; attempt <= 4; attempt++ {
		wantCounts(t, fmt.Sprintf("attempt %d", attempt), v.pass(r), "relayed=0 deferred=1 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
		got, _, err := v.spool.Read(e.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := v.clock.Now().Add(queue.RetryDelay(attempt))
		if got.Attempts != attempt || !got.NextAttempt.Equal(want) {
			t.Fatalf("after attempt %d: Attempts %d, NextAttempt %v; want %d, %v", attempt, got.Attempts, got.NextAttempt, attempt, want)
		}
		v.clock.Set(got.NextAttempt)
	}
}

// ---- refusals by the relay ----

// TestRelayRefusedReturnsDSN: a message the relay refuses for good goes back
// to its sender with a DSN sent in the same pass, and the original is kept.
func TestRelayRefusedReturnsDSN(t *testing.T) {
	for _, tt := range []struct {
		name string
		opt  spamruntest.SinkOption
	}{
		{"at DATA", spamruntest.SinkRejectData(550, "5.7.1", "Message rejected: policy violation (hostile content)")},
		{"at MAIL", spamruntest.SinkRejectMail(550, "5.7.1", "Message rejected: policy violation (hostile content)")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := newEnv(t, policy())
			refusing := spamruntest.NewSMTPSink(t, tt.opt)
			dsnSink := spamruntest.NewSMTPSink(t)
			r := v.runner(splitRelay(smtpRelay(refusing), smtpRelay(dsnSink)))
			e, _ := v.submit("shop1", "shop@shop1.example", victim(1), ham("shop1", 7))

			wantCounts(t, "pass", v.pass(r), "relayed=1 deferred=0 decided=0 bounced=1 quarantined=0 expired=0 failed=0")
			if n := len(refusing.Messages()); n != 0 {
				t.Errorf("refusing relay accepted %d messages", n)
			}
			if len(v.queued()) != 0 {
				t.Errorf("queue not empty: %v", v.queued())
			}
			q := v.quarantined()
			orig := q[e.ID]
			if orig == nil || len(q) != 1 {
				t.Fatalf("quarantine %v, want only the original", q)
			}
			if orig.State != spool.Bounced || orig.DSN != e.ID+"-dsn" || orig.Reason == "" {
				t.Errorf("original: state %s, DSN %q, reason %q", orig.State, orig.DSN, orig.Reason)
			}
			if want := v.clock.Now().Add(queue.DefaultQuarantineFor); !orig.Until.Equal(want) {
				t.Errorf("Until = %v, want %v", orig.Until, want)
			}

			msgs := dsnSink.Messages()
			if len(msgs) != 1 {
				t.Fatalf("%d DSNs relayed, want 1", len(msgs))
			}
			m := msgs[0]
			if m.From != "" || !slices.Equal(m.To, []string{"shop@shop1.example"}) {
				t.Errorf("DSN envelope from <%s> to %q", m.From, m.To)
			}
			env, rep := spamruntest.ParseDSN(t, m.Data)
			got := recipients(rep)
			if len(got) != 1 || got[0].rcpt != victim(1)[0] || got[0].status != "5.7.1" || !dsn.IsFailed(rep.DeliveryStatus.RecipientDSNs[0]) {
				t.Errorf("DSN recipients %+v", got)
			}
			if len(got) == 1 && !strings.Contains(got[0].diagnostic, "550 5.7.1 Message rejected: policy violation (hostile content)") {
				t.Errorf("Diagnostic-Code %q lacks the relay's reply", got[0].diagnostic)
			}
			if env.GetHeader("Auto-Submitted") != "auto-replied" {
				t.Errorf("Auto-Submitted = %q", env.GetHeader("Auto-Submitted"))
			}
			spamruntest.CheckSisimai(t, spamruntest.SisimaiWant{Recipients: victim(1), Status: "5.7.1", Reasons: []string{"securityerror", "policyviolation", "spamdetected"}, Sender: "shop@shop1.example"}, m.Data)
		})
	}
}

// TestRelayRefusedSomeRecipients: the relay took the message for one
// recipient and refused the other; only a permanent refusal is returned,
// and only for that recipient, and a temporary one is tried again.
func TestRelayRefusedSomeRecipients(t *testing.T) {
	const good, bad = "good@example.org", "bad@example.net"
	rcpts := []string{good, bad}

	t.Run("550", func(t *testing.T) {
		v := newEnv(t, policy())
		sink := spamruntest.NewSMTPSink(t, spamruntest.SinkRejectRcpt(bad, 550, "5.1.1", "No such user here"))
		r := v.runner(smtpRelay(sink))
		e, _ := v.submit("shop1", "shop@shop1.example", rcpts, ham("shop1", 2))

		wantCounts(t, "pass", v.pass(r), "relayed=2 deferred=0 decided=0 bounced=1 quarantined=0 expired=0 failed=0")
		orig, dsns := split(sink.Messages())
		if len(orig) != 1 || !slices.Equal(orig[0].To, []string{good}) {
			t.Fatalf("originals relayed: %+v", orig)
		}
		if len(dsns) != 1 {
			t.Fatalf("%d DSNs, want 1", len(dsns))
		}
		if !slices.Equal(dsns[0].To, []string{"shop@shop1.example"}) {
			t.Errorf("DSN to %q", dsns[0].To)
		}
		_, rep := spamruntest.ParseDSN(t, dsns[0].Data)
		got := recipients(rep)
		if len(got) != 1 || got[0].rcpt != bad || got[0].status != "5.1.1" || !strings.Contains(got[0].diagnostic, "550 5.1.1 No such user here") {
			t.Errorf("DSN reports %+v, want only %s with 5.1.1", got, bad)
		}
		spamruntest.CheckSisimai(t, spamruntest.SisimaiWant{Recipients: []string{bad}, Status: "5.1.1", Reasons: []string{"userunknown"}, Sender: "shop@shop1.example"}, dsns[0].Data)
		if where := v.in(e.ID); where != "" {
			t.Errorf("delivered message still in %s", where)
		}
		if n := len(v.queued()) + len(v.quarantined()); n != 0 {
			t.Errorf("%d messages left in the spool", n)
		}
	})

	t.Run("450", func(t *testing.T) {
		v := newEnv(t, policy())
		sink := spamruntest.NewSMTPSink(t, spamruntest.SinkRejectRcpt(bad, 450, "4.2.1", "Mailbox busy, try later"))
		r := v.runner(smtpRelay(sink))
		e, _ := v.submit("shop1", "shop@shop1.example", rcpts, ham("shop1", 2))

		wantCounts(t, "pass", v.pass(r), "relayed=1 deferred=1 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
		orig, dsns := split(sink.Messages())
		if len(orig) != 1 || !slices.Equal(orig[0].To, []string{good}) || len(dsns) != 0 {
			t.Fatalf("relayed %+v and %d DSNs", orig, len(dsns))
		}
		got, _, err := v.spool.Read(e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Recipients, []string{bad}) || got.Attempts != 1 || got.State != spool.Queued ||
			!got.NextAttempt.Equal(v.clock.Now().Add(queue.RetryDelay(1))) || !strings.Contains(got.LastError, "450") {
			t.Errorf("kept: rcpts %q attempts %d state %s next %v error %q", got.Recipients, got.Attempts, got.State, got.NextAttempt, got.LastError)
		}

		// The mailbox is free again: the second attempt goes to bad alone.
		later := spamruntest.NewSMTPSink(t)
		v.clock.Advance(queue.RetryDelay(1))
		wantCounts(t, "second pass", v.pass(v.runner(smtpRelay(later))), "relayed=1 deferred=0 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
		if m := later.Messages(); len(m) != 1 || !slices.Equal(m[0].To, []string{bad}) {
			t.Errorf("second attempt relayed %+v, want one message to %s", m, bad)
		}
		if where := v.in(e.ID); where != "" {
			t.Errorf("delivered message still in %s", where)
		}
	})

	t.Run("550 and 450", func(t *testing.T) {
		v := newEnv(t, policy())
		third := "third@example.com"
		sink := spamruntest.NewSMTPSink(t,
			spamruntest.SinkRejectRcpt(bad, 550, "5.1.1", "No such user here"),
			spamruntest.SinkRejectRcpt(third, 450, "4.2.1", "Mailbox busy"))
		r := v.runner(smtpRelay(sink))
		e, _ := v.submit("shop1", "shop@shop1.example", []string{good, bad, third}, ham("shop1", 3))

		wantCounts(t, "pass", v.pass(r), "relayed=2 deferred=1 decided=0 bounced=1 quarantined=0 expired=0 failed=0")
		orig, dsns := split(sink.Messages())
		if len(orig) != 1 || !slices.Equal(orig[0].To, []string{good}) || len(dsns) != 1 {
			t.Fatalf("relayed %+v and %d DSNs", orig, len(dsns))
		}
		_, rep := spamruntest.ParseDSN(t, dsns[0].Data)
		if got := recipients(rep); len(got) != 1 || got[0].rcpt != bad {
			t.Errorf("DSN reports %+v, want only %s", got, bad)
		}
		got, _, err := v.spool.Read(e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Recipients, []string{third}) || got.Attempts != 1 {
			t.Errorf("kept for %q after %d attempts, want %s after 1", got.Recipients, got.Attempts, third)
		}
	})
}

// TestRelayRefusedEveryRecipientAtRcptKeepsOriginal: a relay that refuses the only
// recipient at RCPT TO took the message for nobody. It must be counted as
// returned, not relayed, and the original kept in quarantine as when the
// relay refuses it at DATA.
func TestRelayRefusedEveryRecipientAtRcptKeepsOriginal(t *testing.T) {
	v := newEnv(t, policy())
	sink := spamruntest.NewSMTPSink(t, spamruntest.SinkRejectRcpt(victim(1)[0], 550, "5.1.1", "No such user here"))
	r := v.runner(smtpRelay(sink))
	e, _ := v.submit("shop1", "shop@shop1.example", victim(1), ham("shop1", 4))

	s := v.pass(r)
	orig, dsns := split(sink.Messages())
	if len(orig) != 0 || len(dsns) != 1 {
		t.Fatalf("sink got %d originals and %d DSNs, want 0 and 1", len(orig), len(dsns))
	}
	// One relayed: the DSN. The original was relayed to nobody.
	wantCounts(t, "pass", s, "relayed=1 deferred=0 decided=0 bounced=1 quarantined=0 expired=0 failed=0")
	if got := v.quarantined()[e.ID]; got == nil || got.State != spool.Bounced || got.DSN == "" {
		t.Errorf("original not kept in quarantine as bounced (in %q)", v.in(e.ID))
	}
	if !slices.Equal(dsns[0].To, []string{"shop@shop1.example"}) {
		t.Errorf("DSN to %q", dsns[0].To)
	}
	_, rep := spamruntest.ParseDSN(t, dsns[0].Data)
	if got := recipients(rep); len(got) != 1 || got[0].rcpt != victim(1)[0] || got[0].status != "5.1.1" || !strings.Contains(got[0].diagnostic, "550 5.1.1 No such user here") {
		t.Errorf("DSN reports %+v", got)
	}
}

// TestRelayRefusedEveryRecipientAtRcptMixed: one recipient refused for
// good and the other for now, none delivered: a DSN for the first, another
// attempt for the second, and nothing counted as relayed but the DSN.
func TestRelayRefusedEveryRecipientAtRcptMixed(t *testing.T) {
	const bad, busy = "bad@example.net", "busy@example.org"
	v := newEnv(t, policy())
	sink := spamruntest.NewSMTPSink(t,
		spamruntest.SinkRejectRcpt(bad, 550, "5.1.1", "No such user here"),
		spamruntest.SinkRejectRcpt(busy, 450, "4.2.1", "Mailbox busy"))
	r := v.runner(smtpRelay(sink))
	e, _ := v.submit("shop1", "shop@shop1.example", []string{bad, busy}, ham("shop1", 4))

	wantCounts(t, "pass", v.pass(r), "relayed=1 deferred=1 decided=0 bounced=1 quarantined=0 expired=0 failed=0")
	orig, dsns := split(sink.Messages())
	if len(orig) != 0 || len(dsns) != 1 {
		t.Fatalf("sink got %d originals and %d DSNs, want 0 and 1", len(orig), len(dsns))
	}
	_, rep := spamruntest.ParseDSN(t, dsns[0].Data)
	if got := recipients(rep); len(got) != 1 || got[0].rcpt != bad {
		t.Errorf("DSN reports %+v, want only %s", got, bad)
	}
	got := v.queued()[e.ID]
	if got == nil || !slices.Equal(got.Recipients, []string{busy}) || got.Attempts != 1 {
		t.Errorf("kept for another attempt: %+v", got)
	}
}

// TestRelayRefusedEveryRecipientAtRcptNoDSNKeepsOriginal: a message that may not be
// returned (here a null sender) and that the relay refused at RCPT TO for
// every recipient must be kept, not deleted: every accepted message ends
// relayed, bounced or kept.
func TestRelayRefusedEveryRecipientAtRcptNoDSNKeepsOriginal(t *testing.T) {
	v := newEnv(t, policy())
	sink := spamruntest.NewSMTPSink(t, spamruntest.SinkRejectRcpt(victim(1)[0], 550, "5.1.1", "No such user here"))
	r := v.runner(smtpRelay(sink))
	e, _ := v.submit("shop1", "", victim(1), ham("shop1", 4))

	s := v.pass(r)
	if n := len(sink.Messages()); n != 0 {
		t.Fatalf("sink got %d messages, want none", n)
	}
	wantCounts(t, "pass", s, "relayed=0 deferred=0 decided=0 bounced=0 quarantined=1 expired=0 failed=0")
	if got := v.quarantined()[e.ID]; got == nil || got.State != spool.Quarantined {
		t.Errorf("message refused by the relay and not returnable was not kept (in %q)", v.in(e.ID))
	}
}

// TestRelayRefusedNoDSN: nobody to return the message to (null sender) or
// automatic mail (never answered, to avoid loops): kept, no DSN.
func TestRelayRefusedNoDSN(t *testing.T) {
	auto := []byte("From: WordPress <wordpress@shop1.example>\r\n" +
		"To: victim1@example.org\r\n" +
		"Subject: Out of office\r\n" +
		"Auto-Submitted: auto-replied\r\n" +
		"Message-ID: <auto.1@shop1.example>\r\n" +
		"\r\n" +
		"I am away until Monday.\r\n")
	for _, tt := range []struct {
		name, sender string
		raw          []byte
		reason       string
	}{
		{"null sender", "", ham("shop1", 5), "null"},
		{"auto-submitted", "wordpress@shop1.example", auto, "auto-submitted"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := newEnv(t, policy())
			sink := spamruntest.NewSMTPSink(t, spamruntest.SinkRejectData(550, "5.7.1", "Rejected"))
			r := v.runner(smtpRelay(sink))
			e, _ := v.submit("shop1", tt.sender, victim(1), tt.raw)

			wantCounts(t, "pass", v.pass(r), "relayed=0 deferred=0 decided=0 bounced=0 quarantined=1 expired=0 failed=0")
			if len(v.queued()) != 0 {
				t.Errorf("queue holds %v, want no DSN", v.queued())
			}
			got := v.quarantined()[e.ID]
			if got == nil || got.State != spool.Quarantined || got.DSN != "" || !strings.Contains(got.Reason, tt.reason) {
				t.Fatalf("kept as %+v", got)
			}
			if n := len(sink.Messages()); n != 0 {
				t.Errorf("sink accepted %d messages", n)
			}
			if rej := sink.Rejections(); len(rej) != 1 {
				t.Errorf("relay saw %d attempts, want 1", len(rej))
			}
		})
	}
}

// TestRelayRefusedSpamForgedSender: spam whose sender the site does not own
// is not returned when the relay refuses it: that would be backscatter.
func TestRelayRefusedSpamForgedSender(t *testing.T) {
	p := policy()
	p.HoldFor = 0
	v := newEnv(t, p)
	sink := spamruntest.NewSMTPSink(t, spamruntest.SinkRejectData(550, "5.7.1", "Spam not accepted"))
	r := v.runner(smtpRelay(sink))
	e, verdict := v.submit("shop1", "victim@gmail.example", victim(1), spam("shop1", 1))
	if !verdict.Spam || e.State != spool.Queued {
		t.Fatalf("verdict %+v, want spam-marked and queued", verdict)
	}

	wantCounts(t, "pass", v.pass(r), "relayed=0 deferred=0 decided=0 bounced=0 quarantined=1 expired=0 failed=0")
	got := v.quarantined()[e.ID]
	if got == nil || got.State != spool.Quarantined || got.DSN != "" || !strings.Contains(got.Reason, "backscatter") {
		t.Fatalf("kept as %+v", got)
	}
	if len(v.queued()) != 0 {
		t.Errorf("queue holds %v, want no DSN", v.queued())
	}
	if n := len(sink.Messages()); n != 0 {
		t.Errorf("sink accepted %d messages", n)
	}
}

// TestRelayRefusedSpamOwnSender: spam from an address the site owns is
// returned when the relay refuses it.
func TestRelayRefusedSpamOwnSender(t *testing.T) {
	p := policy()
	p.HoldFor = 0
	v := newEnv(t, p)
	refusing := spamruntest.NewSMTPSink(t, spamruntest.SinkRejectData(550, "5.7.1", "Spam not accepted"))
	dsnSink := spamruntest.NewSMTPSink(t)
	r := v.runner(splitRelay(smtpRelay(refusing), smtpRelay(dsnSink)))
	e, _ := v.submit("shop1", "noreply@shop1.example", victim(1), spam("shop1", 1))

	wantCounts(t, "pass", v.pass(r), "relayed=1 deferred=0 decided=0 bounced=1 quarantined=0 expired=0 failed=0")
	if got := v.quarantined()[e.ID]; got == nil || got.State != spool.Bounced {
		t.Fatalf("original in %q", v.in(e.ID))
	}
	m := dsnSink.Messages()
	if len(m) != 1 || !slices.Equal(m[0].To, []string{"noreply@shop1.example"}) {
		t.Fatalf("DSNs %+v", m)
	}
	env, _ := spamruntest.ParseDSN(t, m[0].Data)
	checkHeadersOnly(t, m[0].Data, env)
}

// ---- queue lifetime ----

func TestLifetimeExpires(t *testing.T) {
	v := newEnv(t, policy())
	e, _ := v.submit("shop1", "shop@shop1.example", victim(1), ham("shop1", 1))
	down := v.runner(deadRelay(t))
	down.Lifetime = time.Hour
	wantCounts(t, "relay down", v.pass(down), "relayed=0 deferred=1 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
	v.clock.Set(spamruntest.T0.Add(time.Hour - time.Second))
	wantCounts(t, "just before the end of the lifetime", v.pass(down), "relayed=0 deferred=1 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
	lastErr := v.queued()[e.ID].LastError

	// At the end of the lifetime the relay is back, but too late: the
	// message is returned, not relayed.
	sink := spamruntest.NewSMTPSink(t)
	r := v.runner(smtpRelay(sink))
	r.Lifetime = time.Hour
	v.clock.Set(spamruntest.T0.Add(time.Hour))
	wantCounts(t, "at the end of the lifetime", v.pass(r), "relayed=1 deferred=0 decided=0 bounced=1 quarantined=0 expired=0 failed=0")
	orig, dsns := split(sink.Messages())
	if len(orig) != 0 || len(dsns) != 1 {
		t.Fatalf("relayed %d originals and %d DSNs, want 0 and 1", len(orig), len(dsns))
	}
	got := v.quarantined()[e.ID]
	if got == nil || got.State != spool.Bounced || got.DSN != e.ID+"-dsn" {
		t.Fatalf("original in %q: %+v", v.in(e.ID), got)
	}
	_, rep := spamruntest.ParseDSN(t, dsns[0].Data)
	rs := recipients(rep)
	if len(rs) != 1 || rs[0].status != "4.4.7" || rs[0].action != "failed" {
		t.Errorf("DSN recipients %+v, want one failed 4.4.7", rs)
	}
	// The DSN says why: the relay's last answer.
	if lastErr == "" || len(rs) != 1 || !strings.Contains(rs[0].diagnostic, firstWords(lastErr)) {
		t.Errorf("Diagnostic-Code %q does not carry the last error %q", rs, lastErr)
	}
	spamruntest.CheckSisimai(t, spamruntest.SisimaiWant{Recipients: victim(1), Status: "4.4.7", Reasons: []string{"expired"}, Sender: "shop@shop1.example"}, dsns[0].Data)
}

// TestLifetimeEndsBeforeNextAttempt: a pass plans its next wake-up for
// the end of a message's lifetime when that comes before its next attempt,
// so that it is returned then.
func TestLifetimeEndsBeforeNextAttempt(t *testing.T) {
	v := newEnv(t, policy())
	e, _ := v.submit("shop1", "shop@shop1.example", victim(1), ham("shop1", 1))
	down := v.runner(deadRelay(t))
	down.Lifetime = 20 * time.Second
	s := v.pass(down)
	wantCounts(t, "relay down", s, "relayed=0 deferred=1 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
	end := spamruntest.T0.Add(down.Lifetime)
	if !s.Next.Equal(end) {
		t.Errorf("after the deferral Stats.Next = %v, want the end of the lifetime %v (next attempt %v)", s.Next, end, v.queued()[e.ID].NextAttempt)
	}
	v.clock.Set(spamruntest.T0.Add(10 * time.Second))
	if s := v.pass(down); !s.Next.Equal(end) {
		t.Errorf("a later pass: Stats.Next = %v, want %v", s.Next, end)
	}
	// The original is returned; its DSN waits for the relay in turn.
	v.clock.Set(end)
	wantCounts(t, "at the end of the lifetime", v.pass(down), "relayed=0 deferred=1 decided=0 bounced=1 quarantined=0 expired=0 failed=0")
}

func firstWords(s string) string {
	f := strings.Fields(s)
	return strings.Join(f[:min(3, len(f))], " ")
}

// TestLifetimeUndecidedKept: a message whose score was never known may be
// spam: at the end of its lifetime it is kept, not returned.
func TestLifetimeUndecidedKept(t *testing.T) {
	v := newEnv(t, policy())
	e := v.add(&spool.Entry{Site: "shop1", Sender: "noreply@shop1.example", Recipients: victim(1), State: spool.Undecided}, spam("shop1", 1))
	sink := spamruntest.NewSMTPSink(t)
	r := v.runner(smtpRelay(sink))
	r.Lifetime = time.Hour
	v.clock.Advance(time.Hour)

	wantCounts(t, "pass", v.pass(r), "relayed=0 deferred=0 decided=0 bounced=0 quarantined=1 expired=0 failed=0")
	got := v.quarantined()[e.ID]
	if got == nil || got.State != spool.Quarantined || got.DSN != "" || got.Reason == "" {
		t.Fatalf("kept as %+v (in %q)", got, v.in(e.ID))
	}
	if n := len(sink.Messages()); n != 0 || len(v.queued()) != 0 {
		t.Errorf("relayed %d messages, queue %v", n, v.queued())
	}
}

// TestDSNNeverAnswered: a DSN that cannot be delivered is kept, never
// answered with another DSN.
func TestDSNNeverAnswered(t *testing.T) {
	dsnRaw := func(t *testing.T) []byte {
		t.Helper()
		m, err := spamrun.ParseMessage(ham("shop1", 1), "shop@shop1.example", victim(1))
		if err != nil {
			t.Fatal(err)
		}
		b := spamrun.Bounce{Original: m, Reason: spamrun.BounceRelayRefused, ReportingMTA: hostname, Status: "5.1.1", Diagnostic: "550 5.1.1 No such user"}
		raw, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	t.Run("refused", func(t *testing.T) {
		v := newEnv(t, policy())
		sink := spamruntest.NewSMTPSink(t, spamruntest.SinkRejectRcpt("shop@shop1.example", 550, "5.1.1", "No such user"))
		r := v.runner(smtpRelay(sink))
		d := v.add(&spool.Entry{Site: "shop1", Kind: spool.KindDSN, Original: "x", Recipients: []string{"shop@shop1.example"}, State: spool.Queued}, dsnRaw(t))

		wantCounts(t, "pass", v.pass(r), "relayed=0 deferred=0 decided=0 bounced=0 quarantined=1 expired=0 failed=0")
		got := v.quarantined()[d.ID]
		if got == nil || got.State != spool.Quarantined || got.Kind != spool.KindDSN {
			t.Fatalf("DSN in %q: %+v", v.in(d.ID), got)
		}
		if len(v.queued()) != 0 || len(sink.Messages()) != 0 {
			t.Errorf("queue %v, sink %d messages: a DSN was answered", v.queued(), len(sink.Messages()))
		}
	})
	t.Run("outlived the queue", func(t *testing.T) {
		v := newEnv(t, policy())
		down := v.runner(deadRelay(t))
		down.Lifetime = time.Hour
		d := v.add(&spool.Entry{Site: "shop1", Kind: spool.KindDSN, Original: "x", Recipients: []string{"shop@shop1.example"}, State: spool.Queued}, dsnRaw(t))
		wantCounts(t, "relay down", v.pass(down), "relayed=0 deferred=1 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
		v.clock.Advance(time.Hour)
		wantCounts(t, "past the lifetime", v.pass(down), "relayed=0 deferred=0 decided=0 bounced=0 quarantined=1 expired=0 failed=0")
		got := v.quarantined()[d.ID]
		if got == nil || got.State != spool.Quarantined || !strings.Contains(got.Reason, "outlived") {
			t.Fatalf("DSN in %q: %+v", v.in(d.ID), got)
		}
		if len(v.queued()) != 0 {
			t.Errorf("queue %v: a DSN was answered", v.queued())
		}
	})
}

// ---- hold mode ----

func TestHoldReleasedAfterHoldUntil(t *testing.T) {
	v := newEnv(t, policy())
	sink := spamruntest.NewSMTPSink(t)
	r := v.runner(smtpRelay(sink))
	e, verdict := v.submit("shop1", "noreply@shop1.example", victim(1), spam("shop1", 1))
	if e == nil || e.State != spool.Held || !e.HoldUntil.Equal(spamruntest.T0.Add(15*time.Minute)) {
		t.Fatalf("verdict %+v", verdict)
	}
	v.clock.Advance(15*time.Minute - time.Second)
	s := v.pass(r)
	wantCounts(t, "during the hold", s, "relayed=0 deferred=0 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
	if !s.Next.Equal(e.HoldUntil) {
		t.Errorf("Stats.Next = %v, want HoldUntil %v", s.Next, e.HoldUntil)
	}
	if n := len(sink.Messages()); n != 0 {
		t.Fatalf("held message relayed during the hold")
	}
	v.clock.Advance(time.Second)
	wantCounts(t, "after the hold", v.pass(r), "relayed=1 deferred=0 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
	if m := sink.Messages(); len(m) != 1 || m[0].From != "noreply@shop1.example" {
		t.Fatalf("sink got %+v", m)
	}
}

// TestHoldSiteTripsDuringHold: spam held while the site was still enabled
// is never relayed once the site trips; the pass returns it.
func TestHoldSiteTripsDuringHold(t *testing.T) {
	v := newEnv(t, policy())
	sink := spamruntest.NewSMTPSink(t)
	r := v.runner(smtpRelay(sink))
	var held []*spool.Entry
	for i := range 3 {
		e, _ := v.submit("shop1", "noreply@shop1.example", victim(i), spam("shop1", i))
		if e == nil || e.State != spool.Held {
			t.Fatalf("message %d not held", i)
		}
		held = append(held, e)
		v.clock.Advance(time.Minute)
	}
	inc := v.trip("shop1")
	v.clock.Advance(time.Hour) // long past every HoldUntil

	wantCounts(t, "pass", v.pass(r), "relayed=3 deferred=0 decided=0 bounced=3 quarantined=0 expired=0 failed=0")
	orig, dsns := split(sink.Messages())
	if len(orig) != 0 {
		t.Fatalf("relayed %d held messages of a disabled site", len(orig))
	}
	if len(dsns) != 3 {
		t.Fatalf("%d DSNs, want 3", len(dsns))
	}
	q := v.quarantined()
	for _, e := range held {
		if got := q[e.ID]; got == nil || got.State != spool.Bounced || got.Incident != inc.ID {
			t.Errorf("%s: %+v", e.ID, got)
		}
	}
}

// ---- a site's queue bounced ----

// TestBounceSite: the queue of a tripped site goes back to its senders:
// queued, held and undecided messages alike, one DSN each, headers only.
func TestBounceSite(t *testing.T) {
	v := newEnv(t, policy())
	queued, _ := v.submit("shop1", "shop@shop1.example", victim(1), ham("shop1", 1))
	held, _ := v.submit("shop1", "noreply@shop1.example", victim(2), spam("shop1", 2))
	undecided := v.add(&spool.Entry{Site: "shop1", Sender: "shop1@web1.example.net", Recipients: victim(3), State: spool.Undecided}, spam("shop1", 3))
	if queued.State != spool.Queued || held.State != spool.Held {
		t.Fatalf("states %s, %s", queued.State, held.State)
	}
	v.clock.Advance(time.Minute)
	inc := v.trip("shop1")
	v.clock.Advance(time.Minute)

	sink := spamruntest.NewSMTPSink(t)
	r := v.runner(smtpRelay(sink))
	r.QuarantineFor = 7 * 24 * time.Hour
	s, err := r.BounceSite(v.ctx, "shop1", inc)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, "BounceSite", s, "relayed=0 deferred=0 decided=0 bounced=3 quarantined=0 expired=0 failed=0")
	if n := len(sink.Messages()); n != 0 {
		t.Errorf("BounceSite relayed %d messages itself", n)
	}

	q := v.quarantined()
	want := map[string]string{queued.ID: "shop@shop1.example", held.ID: "noreply@shop1.example", undecided.ID: "shop1@web1.example.net"}
	for id := range want {
		got := q[id]
		if got == nil {
			t.Errorf("%s not in quarantine (in %q)", id, v.in(id))
			continue
		}
		if got.State != spool.Bounced || got.Incident != inc.ID || got.DSN != id+"-dsn" ||
			!got.Until.Equal(v.clock.Now().Add(7*24*time.Hour)) || !strings.Contains(got.Reason, inc.ID) {
			t.Errorf("%s: state %s incident %q dsn %q until %v reason %q", id, got.State, got.Incident, got.DSN, got.Until, got.Reason)
		}
	}
	qd := v.queued()
	if len(qd) != 3 {
		t.Fatalf("queue holds %d entries, want the 3 DSNs", len(qd))
	}
	for id, sender := range want {
		d := qd[id+"-dsn"]
		if d == nil || d.Kind != spool.KindDSN || d.Sender != "" || d.Original != id || !slices.Equal(d.Recipients, []string{sender}) {
			t.Errorf("DSN of %s: %+v", id, d)
		}
	}

	wantCounts(t, "pass", v.pass(r), "relayed=3 deferred=0 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
	orig, dsns := split(sink.Messages())
	if len(orig) != 0 || len(dsns) != 3 {
		t.Fatalf("relayed %d originals and %d DSNs", len(orig), len(dsns))
	}
	var to []string
	for _, m := range dsns {
		to = append(to, m.To...)
		env, rep := spamruntest.ParseDSN(t, m.Data)
		for _, rc := range recipients(rep) {
			if rc.status != "5.7.1" || rc.action != "failed" {
				t.Errorf("DSN to %q: recipient %+v", m.To, rc)
			}
		}
		if !strings.Contains(rep.Explanation.Text, articleURL) {
			t.Errorf("DSN to %q does not link %s:\n%s", m.To, articleURL, rep.Explanation.Text)
		}
		if env.GetHeader("Auto-Submitted") != "auto-replied" {
			t.Errorf("DSN to %q: Auto-Submitted %q", m.To, env.GetHeader("Auto-Submitted"))
		}
		checkHeadersOnly(t, m.Data, env)
	}
	slices.Sort(to)
	if w := []string{"noreply@shop1.example", "shop1@web1.example.net", "shop@shop1.example"}; !slices.Equal(to, w) {
		t.Errorf("DSNs to %q, want %q", to, w)
	}
	// Status 5.7.1 alone reads as "securityerror", which senders retry:
	// the reason must say spam.
	spamruntest.CheckSisimai(t, spamruntest.SisimaiWant{Recipients: dsnRcpts(t, dsns[0].Data), Status: "5.7.1", Reasons: []string{"spamdetected", "policyviolation"}, Sender: dsns[0].To[0]}, dsns[0].Data)
	if len(v.queued()) != 0 {
		t.Errorf("queue not empty after the pass: %v", v.queued())
	}
}

func dsnRcpts(t *testing.T, data []byte) []string {
	_, rep := spamruntest.ParseDSN(t, data)
	var out []string
	for _, r := range recipients(rep) {
		out = append(out, r.rcpt)
	}
	return out
}

// TestBounceSiteNoBackscatter: a forged foreign sender and the null sender
// get nothing; their messages are kept with the reason.
func TestBounceSiteNoBackscatter(t *testing.T) {
	v := newEnv(t, policy())
	forged, _ := v.submit("shop1", "victim@gmail.example", victim(1), spam("shop1", 1))
	null, _ := v.submit("shop1", "", victim(2), spam("shop1", 2))
	inc := v.trip("shop1")
	r := v.runner(deadRelay(t))

	s, err := r.BounceSite(v.ctx, "shop1", inc)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, "BounceSite", s, "relayed=0 deferred=0 decided=0 bounced=0 quarantined=2 expired=0 failed=0")
	q := v.quarantined()
	for _, c := range []struct {
		e      *spool.Entry
		reason string
	}{{forged, "backscatter"}, {null, "null sender"}} {
		got := q[c.e.ID]
		if got == nil || got.State != spool.Quarantined || got.Incident != inc.ID || got.DSN != "" || !strings.Contains(got.Reason, c.reason) {
			t.Errorf("<%s> kept as %+v, want a reason naming %q", c.e.Sender, got, c.reason)
		}
	}
	if len(v.queued()) != 0 {
		t.Errorf("DSNs queued: %v", v.queued())
	}
}

// TestBounceSiteMaxBounces: one sender gets at most MaxBounces DSNs for an
// incident, counted from quarantine so that a second BounceSite (another
// process, or after a restart) does not start afresh.
func TestBounceSiteMaxBounces(t *testing.T) {
	p := policy()
	p.HoldFor = 0
	v := newEnv(t, p)
	var ids []string
	for i := range 5 {
		e, _ := v.submit("shop1", "Shop@Shop1.example", victim(i), ham("shop1", i))
		ids = append(ids, e.ID)
		v.clock.Advance(time.Second)
	}
	inc := v.trip("shop1")
	r := v.runner(deadRelay(t))
	r.MaxBounces = 3

	s, err := r.BounceSite(v.ctx, "shop1", inc)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, "BounceSite", s, "relayed=0 deferred=0 decided=0 bounced=3 quarantined=2 expired=0 failed=0")
	q := v.quarantined()
	for i, id := range ids {
		got := q[id]
		switch {
		case got == nil:
			t.Errorf("%s not in quarantine", id)
		case i < 3 && got.State != spool.Bounced:
			t.Errorf("message %d: %s, want bounced", i, got.State)
		case i >= 3 && (got.State != spool.Quarantined || !strings.Contains(got.Reason, "got 3 DSNs")):
			t.Errorf("message %d: %s %q, want kept for the limit", i, got.State, got.Reason)
		}
	}
	if n := len(v.queued()); n != 3 {
		t.Errorf("%d DSNs queued, want 3", n)
	}

	// Two more arrive undecided (the store was down) and are bounced by
	// another runner: the sender has had its three.
	var late []string
	for i := 5; i < 7; i++ {
		late = append(late, v.add(&spool.Entry{Site: "shop1", Sender: "shop@shop1.example", Recipients: victim(i), State: spool.Undecided}, ham("shop1", i)).ID)
	}
	r2 := v.runner(deadRelay(t))
	r2.MaxBounces = 3
	s, err = r2.BounceSite(v.ctx, "shop1", inc)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, "second BounceSite", s, "relayed=0 deferred=0 decided=0 bounced=0 quarantined=2 expired=0 failed=0")
	q = v.quarantined()
	for _, id := range late {
		if got := q[id]; got == nil || got.State != spool.Quarantined || !strings.Contains(got.Reason, "got 3 DSNs") {
			t.Errorf("late %s kept as %+v", id, got)
		}
	}
	if n := len(v.queued()); n != 3 {
		t.Errorf("%d DSNs queued, want still 3", n)
	}
}

// TestBounceSiteTouchesOnlyTheSitesMail: other sites' mail, DSNs already
// written and messages the operator released stay in the queue; a second
// BounceSite sends no second DSN.
func TestBounceSiteTouchesOnlyTheSitesMail(t *testing.T) {
	v := newEnv(t, policy())
	mine, _ := v.submit("shop1", "shop@shop1.example", victim(1), ham("shop1", 1))
	other, _ := v.submit("blog2", "news@blog2.example", victim(2), ham("blog2", 2))
	otherHeld, _ := v.submit("blog2", "noreply@blog2.example", victim(3), spam("blog2", 3))
	oldDSN := v.add(&spool.Entry{Site: "shop1", Kind: spool.KindDSN, Original: "gone", Recipients: []string{"shop@shop1.example"}, State: spool.Queued}, ham("shop1", 9))
	released, _ := v.submit("shop1", "noreply@shop1.example", victim(4), spam("shop1", 4))
	r := v.runner(deadRelay(t))
	if _, err := r.Release(released.ID); err != nil {
		t.Fatal(err)
	}
	inc := v.trip("shop1")

	s, err := r.BounceSite(v.ctx, "shop1", inc)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, "BounceSite", s, "relayed=0 deferred=0 decided=0 bounced=1 quarantined=0 expired=0 failed=0")
	before := v.queued()
	for _, e := range []*spool.Entry{other, otherHeld, oldDSN} {
		got := before[e.ID]
		if got == nil || got.State != e.State || got.Incident != "" {
			t.Errorf("%s of %s touched: %+v", e.ID, e.Site, got)
		}
	}
	if got := before[released.ID]; got == nil || got.State != spool.Queued || !got.Released {
		t.Errorf("released message touched: %+v", got)
	}
	if got := v.quarantined()[mine.ID]; got == nil || got.State != spool.Bounced {
		t.Errorf("%s not bounced", mine.ID)
	}
	if len(before) != 5 { // other, otherHeld, oldDSN, released, the new DSN
		t.Errorf("queue holds %d entries, want 5", len(before))
	}

	s, err = r.BounceSite(v.ctx, "shop1", inc)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, "second BounceSite", s, "relayed=0 deferred=0 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
	if after := v.queued(); len(after) != len(before) {
		t.Errorf("second BounceSite changed the queue from %d to %d entries", len(before), len(after))
	}
}

// TestPassBouncesDisabledSiteOnce: a pass returns the queue of a site
// disabled meanwhile, relays the DSNs, and the next pass does nothing.
func TestPassBouncesDisabledSiteOnce(t *testing.T) {
	v := newEnv(t, policy())
	e, _ := v.submit("shop1", "shop@shop1.example", victim(1), ham("shop1", 1))
	inc := v.trip("shop1")
	sink := spamruntest.NewSMTPSink(t)
	r := v.runner(smtpRelay(sink))
	wantCounts(t, "first pass", v.pass(r), "relayed=1 deferred=0 decided=0 bounced=1 quarantined=0 expired=0 failed=0")
	wantCounts(t, "second pass", v.pass(r), "relayed=0 deferred=0 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
	if _, dsns := split(sink.Messages()); len(dsns) != 1 || len(sink.Messages()) != 1 {
		t.Errorf("sink got %d messages, %d DSNs; want the one DSN", len(sink.Messages()), len(dsns))
	}
	if got := v.quarantined()[e.ID]; got == nil || got.Incident != inc.ID {
		t.Errorf("original: %+v", got)
	}
}

// ---- crash recovery ----

// TestCrashHalfMoved: a crash after the state was written and before the
// rename leaves a bounced message in queue/; whoever locks it next moves
// it, and it is never relayed.
func TestCrashHalfMoved(t *testing.T) {
	setState := func(t *testing.T, v *env, id string, st spool.State) {
		t.Helper()
		path := filepath.Join(v.spool.Dir(), "queue", id)
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		edited := bytes.Replace(raw, []byte(`"state":"queued"`), []byte(`"state":"`+string(st)+`"`), 1)
		if bytes.Equal(edited, raw) {
			t.Fatal("no state in the header line")
		}
		if err := os.WriteFile(path, edited, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("Lock", func(t *testing.T) {
		v := newEnv(t, policy())
		e, _ := v.submit("shop1", "shop@shop1.example", victim(1), ham("shop1", 1))
		setState(t, v, e.ID, spool.Bounced)
		unlock, err := v.spool.Lock(e.ID)
		if err != nil {
			t.Fatal(err)
		}
		unlock()
		if where := v.in(e.ID); where != "quarantine" {
			t.Errorf("after Lock in %q, want quarantine", where)
		}
	})
	t.Run("Pass", func(t *testing.T) {
		v := newEnv(t, policy())
		e, _ := v.submit("shop1", "shop@shop1.example", victim(1), ham("shop1", 1))
		setState(t, v, e.ID, spool.Bounced)
		sink := spamruntest.NewSMTPSink(t)
		wantCounts(t, "pass", v.pass(v.runner(smtpRelay(sink))), "relayed=0 deferred=0 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
		if where := v.in(e.ID); where != "quarantine" {
			t.Errorf("after Pass in %q, want quarantine", where)
		}
		if n := len(sink.Messages()); n != 0 {
			t.Errorf("relayed %d messages", n)
		}
	})
}

// TestCrashReleaseHalfMovedIsRelayed: a crash in the middle of a release leaves a
// released, queued message in quarantine/. The spool promises the next
// process that locks it finishes the move; a pass must get there, or the
// message the operator released is never relayed.
func TestCrashReleaseHalfMovedIsRelayed(t *testing.T) {
	v := newEnv(t, policy())
	sink := spamruntest.NewSMTPSink(t)
	r := v.runner(smtpRelay(sink))
	e := v.add(&spool.Entry{Site: "shop1", Sender: "victim@gmail.example", Recipients: victim(1), State: spool.Quarantined,
		Reason: "backscatter", Until: v.clock.Now().Add(30 * 24 * time.Hour)}, ham("shop1", 1))
	// What Release writes before its rename: the new state, in place.
	path := filepath.Join(v.spool.Dir(), "quarantine", e.ID)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	nl := bytes.IndexByte(raw, '\n')
	e.State, e.Released, e.Until, e.Reason = spool.Queued, true, time.Time{}, ""
	meta, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(append(meta, '\n'), raw[nl+1:]...), 0o640); err != nil {
		t.Fatal(err)
	}

	v.pass(r)
	v.pass(r)
	if m := sink.Messages(); len(m) != 1 {
		t.Errorf("released message relayed %d times after two passes, want 1 (in %q)", len(m), v.in(e.ID))
	}
}

// TestCrashDSNWrittenOnce: a DSN written before a crash, with its original
// still queued, is not written a second time, whether the next to see the
// disabled site is a sendmail (BounceSite) or a pass, which meets the DSN
// in the queue before it bounces the site.
func TestCrashDSNWrittenOnce(t *testing.T) {
	for _, how := range []string{"BounceSite", "Pass"} {
		t.Run(how, func(t *testing.T) { testCrashDSNWrittenOnce(t, how == "Pass") })
	}
}

func testCrashDSNWrittenOnce(t *testing.T, byPass bool) {
	v := newEnv(t, policy())
	e, _ := v.submit("shop1", "shop@shop1.example", victim(1), ham("shop1", 1))
	inc := v.trip("shop1")
	m, err := spamrun.ParseMessage(ham("shop1", 1), e.Sender, e.Recipients)
	if err != nil {
		t.Fatal(err)
	}
	b := spamrun.Bounce{Original: m, Reason: spamrun.BounceSpamRun, ReportingMTA: hostname, ArticleURL: articleURL, Site: "shop1", MessageID: "before-the-crash@" + hostname}
	raw, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	v.add(&spool.Entry{ID: e.ID + "-dsn", Site: "shop1", Kind: spool.KindDSN, Original: e.ID, Recipients: []string{e.Sender}, State: spool.Queued}, raw)

	sink := spamruntest.NewSMTPSink(t)
	r := v.runner(smtpRelay(sink))
	if byPass {
		wantCounts(t, "pass", v.pass(r), "relayed=1 deferred=0 decided=0 bounced=1 quarantined=0 expired=0 failed=0")
	} else {
		s, err := r.BounceSite(v.ctx, "shop1", inc)
		if err != nil {
			t.Fatal(err)
		}
		wantCounts(t, "BounceSite", s, "relayed=0 deferred=0 decided=0 bounced=1 quarantined=0 expired=0 failed=0")
		if q := v.queued(); len(q) != 1 || q[e.ID+"-dsn"] == nil {
			t.Errorf("queue %v, want only the one DSN", q)
		}
		v.pass(r)
	}
	if got := v.quarantined()[e.ID]; got == nil || got.DSN != e.ID+"-dsn" || got.Incident != inc.ID {
		t.Errorf("original: %+v", got)
	}
	v.pass(r)
	if q := v.queued(); len(q) != 0 {
		t.Errorf("queue %v, want empty", q)
	}
	msgs := sink.Messages()
	if len(msgs) != 1 || !bytes.Contains(msgs[0].Data, []byte("before-the-crash@")) {
		t.Errorf("relayed %d messages, want the one DSN written before the crash", len(msgs))
	}
}

// ---- pacing ----

// TestPacing: each site has its own budget of Rate messages a second with
// bursts of Burst; what is over it waits, and nothing is disabled.
func TestPacing(t *testing.T) {
	v := newEnv(t, policy())
	for i := range 10 {
		v.submit("shop1", "shop@shop1.example", victim(i), ham("shop1", i))
	}
	for i := range 3 {
		v.submit("blog2", "news@blog2.example", victim(i), ham("blog2", i))
	}
	sink := spamruntest.NewSMTPSink(t)
	r := v.runner(smtpRelay(sink))
	r.Rate, r.Burst = 2, 2

	perSite := func() map[string]int {
		n := map[string]int{}
		for _, m := range sink.Messages() {
			n[m.From]++
		}
		return n
	}
	s := v.pass(r)
	wantCounts(t, "first pass", s, "relayed=4 deferred=0 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
	if want := v.clock.Now().Add(500 * time.Millisecond); !s.Next.Equal(want) {
		t.Errorf("Stats.Next = %v, want %v", s.Next, want)
	}
	if got := perSite(); got["shop@shop1.example"] != 2 || got["news@blog2.example"] != 2 {
		t.Errorf("first pass relayed %v, want 2 of each site", got)
	}
	if n := len(v.queued()); n != 9 {
		t.Errorf("%d left in the queue, want 9", n)
	}
	wantCounts(t, "second pass at the same instant", v.pass(r), "relayed=0 deferred=0 decided=0 bounced=0 quarantined=0 expired=0 failed=0")

	v.clock.Advance(time.Second)
	wantCounts(t, "a second later", v.pass(r), "relayed=3 deferred=0 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
	if got := perSite(); got["shop@shop1.example"] != 4 || got["news@blog2.example"] != 3 {
		t.Errorf("after a second relayed %v, want 4 and 3", got)
	}
	for range 3 {
		v.clock.Advance(time.Second)
		v.pass(r)
	}
	if got := perSite(); got["shop@shop1.example"] != 10 {
		t.Errorf("relayed %v, want all 10 of shop1", got)
	}
	for _, site := range []string{"shop1", "blog2"} {
		if inc, err := v.det.Disabled(v.ctx, site); err != nil || inc != nil {
			t.Errorf("%s disabled by volume: %v %v", site, inc, err)
		}
	}
}

// ---- the operator ----

func TestReleaseHeldOfDisabledSite(t *testing.T) {
	v := newEnv(t, policy())
	e, _ := v.submit("shop1", "noreply@shop1.example", victim(1), spam("shop1", 1))
	other, _ := v.submit("shop1", "noreply@shop1.example", victim(2), spam("shop1", 2))
	r := v.runner(nil)
	got, err := r.Release(e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != spool.Queued || !got.Released || !got.HoldUntil.IsZero() {
		t.Errorf("released: %+v", got)
	}
	inc := v.trip("shop1")
	sink := spamruntest.NewSMTPSink(t)
	r = v.runner(smtpRelay(sink))
	wantCounts(t, "pass", v.pass(r), "relayed=2 deferred=0 decided=0 bounced=1 quarantined=0 expired=0 failed=0")
	orig, dsns := split(sink.Messages())
	if len(orig) != 1 || !slices.Equal(orig[0].To, victim(1)) || len(dsns) != 1 {
		t.Errorf("relayed %+v and %d DSNs; want the released message and one DSN", orig, len(dsns))
	}
	if q := v.quarantined()[other.ID]; q == nil || q.Incident != inc.ID {
		t.Errorf("the other held message: %+v", q)
	}
}

func TestReleaseFromQuarantine(t *testing.T) {
	v := newEnv(t, policy())
	forged, _ := v.submit("shop1", "victim@gmail.example", victim(1), spam("shop1", 1))
	bounced, _ := v.submit("shop1", "noreply@shop1.example", victim(2), spam("shop1", 2))
	inc := v.trip("shop1")
	r := v.runner(deadRelay(t))
	if _, err := r.BounceSite(v.ctx, "shop1", inc); err != nil {
		t.Fatal(err)
	}
	if v.in(forged.ID) != "quarantine" || v.in(bounced.ID) != "quarantine" {
		t.Fatal("not in quarantine")
	}

	if _, err := r.Release(bounced.ID); err == nil {
		t.Error("Release of a bounced message succeeded")
	}
	if got := v.quarantined()[bounced.ID]; got == nil || got.State != spool.Bounced {
		t.Errorf("bounced message after a refused release: %+v", got)
	}

	got, err := r.Release(forged.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != spool.Queued || !got.Released || !got.Until.IsZero() || got.Reason != "" || v.in(forged.ID) != "queue" {
		t.Errorf("released: %+v in %q", got, v.in(forged.ID))
	}
	sink := spamruntest.NewSMTPSink(t)
	v.pass(v.runner(smtpRelay(sink)))
	orig, _ := split(sink.Messages())
	if len(orig) != 1 || orig[0].From != "victim@gmail.example" {
		t.Errorf("relayed %+v, want the released message", orig)
	}
	if where := v.in(forged.ID); where != "" {
		t.Errorf("relayed message still in %q", where)
	}
}

// TestReleaseAfterLifetimeIsRelayed: the operator looks at kept mail days later;
// releasing an old message is the decision to relay it, not to return it
// as expired.
func TestReleaseAfterLifetimeIsRelayed(t *testing.T) {
	v := newEnv(t, policy())
	e := v.add(&spool.Entry{Site: "shop1", Sender: "shop@shop1.example", Recipients: victim(1), State: spool.Undecided}, ham("shop1", 1))
	sink := spamruntest.NewSMTPSink(t)
	r := v.runner(smtpRelay(sink))
	r.Lifetime = time.Hour
	v.clock.Advance(time.Hour)
	wantCounts(t, "expiry", v.pass(r), "relayed=0 deferred=0 decided=0 bounced=0 quarantined=1 expired=0 failed=0")

	v.clock.Advance(24 * time.Hour)
	if _, err := r.Release(e.ID); err != nil {
		t.Fatal(err)
	}
	s := v.pass(r)
	orig, dsns := split(sink.Messages())
	if len(orig) != 1 || len(dsns) != 0 {
		t.Errorf("after release: relayed %d, DSNs %d (stats %s); want the message relayed and no DSN", len(orig), len(dsns), counts(s))
	}
}

func TestPurge(t *testing.T) {
	v := newEnv(t, policy())
	queued, _ := v.submit("shop1", "shop@shop1.example", victim(1), ham("shop1", 1))
	kept, _ := v.submit("shop1", "", victim(2), spam("shop1", 2))
	inc := v.trip("shop1")
	r := v.runner(deadRelay(t))
	r.Filter = func(e *spool.Entry) bool { return e.ID == kept.ID }
	if _, err := r.BounceSite(v.ctx, "shop1", inc); err != nil {
		t.Fatal(err)
	}
	if v.in(queued.ID) != "queue" || v.in(kept.ID) != "quarantine" {
		t.Fatalf("in %q and %q", v.in(queued.ID), v.in(kept.ID))
	}
	for _, id := range []string{queued.ID, kept.ID} {
		got, err := r.Purge(id)
		if err != nil || got.ID != id {
			t.Errorf("Purge(%s) = %v, %v", id, got, err)
		}
		if where := v.in(id); where != "" {
			t.Errorf("purged %s still in %q", id, where)
		}
		if _, err := r.Purge(id); !errors.Is(err, spool.ErrNotFound) {
			t.Errorf("second Purge(%s): %v, want ErrNotFound", id, err)
		}
	}
	if _, err := r.Release("no-such-id"); !errors.Is(err, spool.ErrNotFound) {
		t.Errorf("Release of a missing message: %v", err)
	}
}

func TestQuarantineExpires(t *testing.T) {
	v := newEnv(t, policy())
	kept, _ := v.submit("shop1", "victim@gmail.example", victim(1), spam("shop1", 1))
	bounced, _ := v.submit("shop1", "noreply@shop1.example", victim(2), spam("shop1", 2))
	inc := v.trip("shop1")
	r := v.runner(deadRelay(t))
	r.QuarantineFor = 24 * time.Hour
	if _, err := r.BounceSite(v.ctx, "shop1", inc); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{bounced.ID + "-dsn"} {
		if _, err := r.Purge(id); err != nil { // the relay is down; the DSN is not the point here
			t.Fatal(err)
		}
	}
	v.clock.Advance(24*time.Hour - time.Second)
	wantCounts(t, "before Until", v.pass(r), "relayed=0 deferred=0 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
	if len(v.quarantined()) != 2 {
		t.Fatalf("quarantine %v", v.quarantined())
	}
	v.clock.Advance(time.Second)
	wantCounts(t, "at Until", v.pass(r), "relayed=0 deferred=0 decided=0 bounced=0 quarantined=0 expired=2 failed=0")
	for _, id := range []string{kept.ID, bounced.ID} {
		if where := v.in(id); where != "" {
			t.Errorf("%s still in %q", id, where)
		}
	}
}

// ---- undecided mail ----

// TestUndecidedDecidedInOrder: mail accepted while the store was down is
// decided in arrival order at its arrival time; the message that trips the
// site and everything after it are returned, not relayed.
func TestUndecidedDecidedInOrder(t *testing.T) {
	p := policy()
	p.HoldFor = 0
	v := newEnv(t, p)
	type sent struct {
		e    *spool.Entry
		spam bool
	}
	var all []sent
	// ham, spam, spam, ham, spam, spam (trips: the 4th spam), ham, spam
	for i, isSpam := range []bool{false, true, true, false, true, true, false, true} {
		raw, sender := ham("shop1", i), "shop@shop1.example"
		if isSpam {
			raw, sender = spam("shop1", i), "noreply@shop1.example"
		}
		all = append(all, sent{v.add(&spool.Entry{Site: "shop1", Sender: sender, Recipients: victim(i), State: spool.Undecided}, raw), isSpam})
		v.clock.Advance(time.Minute)
	}
	v.clock.Advance(time.Hour) // the store is back long after: the window is of the arrival times
	sink := spamruntest.NewSMTPSink(t)
	r := v.runner(smtpRelay(sink))

	// 5 relayed before the trip, then 3 DSNs for the tripping message and
	// the two after it. Decided is checked in
	// TestUndecidedCountsEveryDecision.
	s := v.pass(r)
	if s.Relayed != 8 || s.Bounced != 3 || s.Deferred+s.Quarantined+s.Failed != 0 {
		t.Errorf("pass: %s, want 8 relayed and 3 bounced", counts(s))
	}
	orig, dsns := split(sink.Messages())
	var relayed []string
	for _, m := range orig {
		relayed = append(relayed, m.To[0])
	}
	if want := []string{victim(0)[0], victim(1)[0], victim(2)[0], victim(3)[0], victim(4)[0]}; !slices.Equal(relayed, want) {
		t.Errorf("relayed to %q, want %q in order", relayed, want)
	}
	if len(dsns) != 3 {
		t.Errorf("%d DSNs, want 3", len(dsns))
	}
	inc, err := v.det.Disabled(v.ctx, "shop1")
	if err != nil || inc == nil {
		t.Fatalf("site not disabled: %v", err)
	}
	if want := all[5].e.Received; !inc.Time.Equal(want) {
		t.Errorf("tripped at %v, want the arrival of the 4th spam, %v", inc.Time, want)
	}
	q := v.quarantined()
	for _, s := range all[5:] {
		if got := q[s.e.ID]; got == nil || got.State != spool.Bounced || got.Incident != inc.ID {
			t.Errorf("%s: %+v", s.e.ID, got)
		}
	}
}

// TestUndecidedCountsEveryDecision: Stats.Decided counts every undecided
// message the pass decided, also those it then relayed at once.
func TestUndecidedCountsEveryDecision(t *testing.T) {
	v := newEnv(t, policy())
	for i := range 3 {
		v.add(&spool.Entry{Site: "shop1", Sender: "shop@shop1.example", Recipients: victim(i), State: spool.Undecided}, ham("shop1", i))
		v.clock.Advance(time.Minute)
	}
	held := v.add(&spool.Entry{Site: "shop1", Sender: "noreply@shop1.example", Recipients: victim(9), State: spool.Undecided}, spam("shop1", 9))
	sink := spamruntest.NewSMTPSink(t)
	// Three ham decided and relayed, one spam decided and held.
	wantCounts(t, "pass", v.pass(v.runner(smtpRelay(sink))), "relayed=3 deferred=0 decided=4 bounced=0 quarantined=0 expired=0 failed=0")
	if got := v.queued()[held.ID]; got == nil || got.State != spool.Held {
		t.Errorf("spam: %+v, want held", got)
	}
}

// TestUndecidedWithoutDetector: without a detector nothing is known, so
// nothing but DSNs and released mail leaves.
func TestUndecidedWithoutDetector(t *testing.T) {
	v := newEnv(t, policy())
	undecided := v.add(&spool.Entry{Site: "shop1", Sender: "shop@shop1.example", Recipients: victim(1), State: spool.Undecided}, ham("shop1", 1))
	queued := v.add(&spool.Entry{Site: "shop1", Sender: "shop@shop1.example", Recipients: victim(2), State: spool.Queued}, ham("shop1", 2))
	d := v.add(&spool.Entry{Site: "shop1", Kind: spool.KindDSN, Original: "x", Recipients: []string{"shop@shop1.example"}, State: spool.Queued}, ham("shop1", 3))
	sink := spamruntest.NewSMTPSink(t)
	r := v.runner(smtpRelay(sink))
	r.Detector = nil
	wantCounts(t, "pass", v.pass(r), "relayed=1 deferred=0 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
	if m := sink.Messages(); len(m) != 1 || m[0].From != "" {
		t.Errorf("relayed %+v, want only the DSN", m)
	}
	for _, e := range []*spool.Entry{undecided, queued} {
		if v.in(e.ID) != "queue" {
			t.Errorf("%s in %q", e.ID, v.in(e.ID))
		}
	}
	if v.in(d.ID) != "" {
		t.Errorf("DSN still in %q", v.in(d.ID))
	}
	if _, err := r.Release(queued.ID); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, "after release", v.pass(r), "relayed=1 deferred=0 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
}

// ---- Filter ----

func TestFilter(t *testing.T) {
	v := newEnv(t, policy())
	shop, _ := v.submit("shop1", "shop@shop1.example", victim(1), ham("shop1", 1))
	blog, _ := v.submit("blog2", "news@blog2.example", victim(2), ham("blog2", 2))
	blogKept := v.add(&spool.Entry{Site: "blog2", Sender: "x@gmail.example", Recipients: victim(3), State: spool.Quarantined, Until: v.clock.Now().Add(time.Hour)}, ham("blog2", 3))
	shopKept := v.add(&spool.Entry{Site: "shop1", Sender: "x@gmail.example", Recipients: victim(4), State: spool.Quarantined, Until: v.clock.Now().Add(time.Hour)}, ham("shop1", 4))
	v.clock.Advance(time.Hour)
	sink := spamruntest.NewSMTPSink(t)
	r := v.runner(smtpRelay(sink))
	r.Filter = func(e *spool.Entry) bool { return e.UID == sites["blog2"].UID }

	wantCounts(t, "pass", v.pass(r), "relayed=1 deferred=0 decided=0 bounced=0 quarantined=0 expired=1 failed=0")
	if m := sink.Messages(); len(m) != 1 || m[0].From != "news@blog2.example" {
		t.Errorf("relayed %+v, want blog2's message only", m)
	}
	if v.in(shop.ID) != "queue" || v.in(blog.ID) != "" || v.in(blogKept.ID) != "" || v.in(shopKept.ID) != "quarantine" {
		t.Errorf("shop %q blog %q blogKept %q shopKept %q", v.in(shop.ID), v.in(blog.ID), v.in(blogKept.ID), v.in(shopKept.ID))
	}

	// BounceSite with a filter returns only the filtered messages.
	inc := v.trip("shop1")
	s, err := r.BounceSite(v.ctx, "shop1", inc)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, "filtered BounceSite", s, "relayed=0 deferred=0 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
	if v.in(shop.ID) != "queue" {
		t.Errorf("shop1's message in %q", v.in(shop.ID))
	}
}

// ---- Deliver ----

func TestDeliver(t *testing.T) {
	v := newEnv(t, policy())
	sink := spamruntest.NewSMTPSink(t)
	r := v.runner(smtpRelay(sink))
	e, _ := v.submit("shop1", "shop@shop1.example", victim(1), ham("shop1", 1))
	if got, err := r.Deliver(v.ctx, e.ID); err != nil || got != "relayed" {
		t.Errorf("Deliver = %q, %v", got, err)
	}
	held, _ := v.submit("shop1", "noreply@shop1.example", victim(2), spam("shop1", 2))
	if got, err := r.Deliver(v.ctx, held.ID); err != nil || got != "held" {
		t.Errorf("Deliver of a held message = %q, %v", got, err)
	}
	down, _ := v.submit("shop1", "shop@shop1.example", victim(3), ham("shop1", 3))
	if got, err := v.runner(deadRelay(t)).Deliver(v.ctx, down.ID); err != nil || !strings.HasPrefix(got, "deferred (") {
		t.Errorf("Deliver with the relay down = %q, %v", got, err)
	}
	if n := len(sink.Messages()); n != 1 {
		t.Errorf("sink got %d messages, want 1", n)
	}
	unlock, err := v.spool.Lock(down.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := r.Deliver(v.ctx, down.ID); !errors.Is(err, spool.ErrLocked) {
		t.Errorf("Deliver of a locked message: %v, want ErrLocked", err)
	}
	// A pass leaves a message another process holds for later.
	wantCounts(t, "pass while locked", v.pass(r), "relayed=0 deferred=0 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
}

// TestRelayRefusedDSNEntry: the DSN of a refused message waits in the
// queue like any message when it cannot go at once, as a DSN of its
// original from the null sender to the original's sender.
func TestRelayRefusedDSNEntry(t *testing.T) {
	v := newEnv(t, policy())
	refusing := spamruntest.NewSMTPSink(t, spamruntest.SinkRejectData(554, "5.6.0", "Malformed message"))
	r := v.runner(splitRelay(smtpRelay(refusing), deadRelay(t)))
	e, _ := v.submit("shop1", "shop@shop1.example", victim(1), ham("shop1", 1))

	wantCounts(t, "pass", v.pass(r), "relayed=0 deferred=1 decided=0 bounced=1 quarantined=0 expired=0 failed=0")
	q := v.queued()
	d := q[e.ID+"-dsn"]
	if len(q) != 1 || d == nil {
		t.Fatalf("queue %v, want the DSN alone", q)
	}
	if d.Kind != spool.KindDSN || d.Sender != "" || !slices.Equal(d.Recipients, []string{"shop@shop1.example"}) ||
		d.Original != e.ID || d.Site != "shop1" || d.Attempts != 1 {
		t.Errorf("DSN entry %+v", d)
	}
	_, raw, err := v.spool.Read(d.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, rep := spamruntest.ParseDSN(t, raw)
	if got := recipients(rep); len(got) != 1 || got[0].status != "5.6.0" || !strings.Contains(got[0].diagnostic, "554 5.6.0 Malformed message") {
		t.Errorf("DSN reports %+v", got)
	}
}

// TestDeliverRefused: sendmail relaying at once reports a refusal as
// bounced, and the DSN goes out too.
func TestDeliverRefused(t *testing.T) {
	v := newEnv(t, policy())
	refusing := spamruntest.NewSMTPSink(t, spamruntest.SinkRejectData(550, "5.7.1", "No"))
	dsnSink := spamruntest.NewSMTPSink(t)
	r := v.runner(splitRelay(smtpRelay(refusing), smtpRelay(dsnSink)))
	e, _ := v.submit("shop1", "shop@shop1.example", victim(1), ham("shop1", 1))
	if got, err := r.Deliver(v.ctx, e.ID); err != nil || got != "bounced" {
		t.Errorf("Deliver = %q, %v; want bounced", got, err)
	}
	if m := dsnSink.Messages(); len(m) != 1 || m[0].From != "" {
		t.Errorf("DSNs relayed: %d", len(m))
	}
	// The split relay would take the null sender for a DSN's.
	kept, _ := v.submit("shop1", "", victim(2), ham("shop1", 2))
	if got, err := v.runner(smtpRelay(refusing)).Deliver(v.ctx, kept.ID); err != nil || got != "quarantined" {
		t.Errorf("Deliver of a null sender's refused message = %q, %v; want quarantined", got, err)
	}
}
