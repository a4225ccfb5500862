package queue_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun/notify"
	"github.com/spamrun/spamrun/queue"
	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

func notifier() *notify.Notifier {
	return &notify.Notifier{
		Operator: []string{"ops@example.net"},
		Contacts: func(_ context.Context, site string) ([]string, error) {
			return []string{"owner@" + site + ".example"}, nil
		},
		Hostname: hostname, ArticleURL: articleURL,
	}
}

// A site tripped by a message a pass decides (accepted while the store was
// down) is returned by that pass, which writes and relays the notices with
// the fate of the queue; a second pass writes none.
func TestPassTripNotices(t *testing.T) {
	v := newEnv(t, policy())
	sink := spamruntest.NewSMTPSink(t)
	r := v.runner(smtpRelay(sink))
	r.Notifier = notifier()
	for i := range 4 {
		v.add(&spool.Entry{Site: "shop1", Sender: "noreply@shop1.example", Recipients: victim(i), State: spool.Undecided}, spam("shop1", i))
	}
	s := v.pass(r)
	// Three held, the fourth trips, and all four are returned: four DSNs
	// and two notices relayed.
	if s.Decided != 4 || s.Bounced != 4 || s.Relayed != 6 {
		t.Errorf("pass: %s", counts(s))
	}
	var notices []spamruntest.SinkMessage
	for _, m := range sink.Messages() {
		if strings.Contains(string(m.Data), "X-Spamrun-Incident: ") {
			notices = append(notices, m)
		}
	}
	if len(notices) != 2 || notices[0].From != "" || notices[1].From != "" {
		t.Fatalf("%d notices relayed: %+v", len(notices), notices)
	}
	for _, m := range notices {
		if m.To[0] == "owner@shop1.example" && !strings.Contains(string(m.Data), "4 message(s) were returned") {
			t.Errorf("the owner's notice lacks the fate of the queue:\n%s", m.Data)
		}
	}
	v.clock.Advance(time.Hour)
	v.pass(r)
	if n := len(sink.Messages()); n != 6 {
		t.Errorf("after another pass the relay has %d messages, want 6", n)
	}
}

// A notice the relay defers waits with backoff; one it refuses is kept in
// quarantine, never answered with a DSN; one written again after a crash
// is the same file.
func TestNoticeRelayed(t *testing.T) {
	v := newEnv(t, policy())
	inc := v.trip("shop1")
	r := v.runner(deadRelay(t))
	r.Notifier = notifier()
	if _, err := r.Tripped(v.ctx, "shop1", inc); err != nil {
		t.Fatal(err)
	}
	site, op := notify.NoticeID(inc.ID, "", notify.RoleSite), notify.NoticeID(inc.ID, "", notify.RoleOperator)
	q := v.queued()
	if len(q) != 2 || q[site] == nil || q[op] == nil || q[site].Kind != spool.KindNotice || q[site].Sender != "" || q[site].Incident != inc.ID {
		t.Fatalf("queue after the trip: %+v", q)
	}
	// Written again, as by a process that crashed and tripped again.
	if _, err := r.Tripped(v.ctx, "shop1", inc); err != nil {
		t.Fatal(err)
	}
	if n := len(v.queued()); n != 2 {
		t.Errorf("%d messages in the queue after a second Tripped, want 2", n)
	}

	wantCounts(t, "relay down", v.pass(r), "relayed=0 deferred=2 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
	if e := v.queued()[site]; e.Attempts != 1 || !e.NextAttempt.Equal(v.clock.Now().Add(queue.RetryDelay(1))) {
		t.Errorf("deferred notice: %d attempts, next %v", e.Attempts, e.NextAttempt)
	}

	v.clock.Advance(time.Hour)
	refusing := spamruntest.NewSMTPSink(t, spamruntest.SinkRejectRcpt("ops@example.net", 550, "5.1.1", "No such user"))
	r = v.runner(smtpRelay(refusing))
	wantCounts(t, "one refused", v.pass(r), "relayed=1 deferred=0 decided=0 bounced=0 quarantined=1 expired=0 failed=0")
	kept := v.quarantined()[op]
	if kept == nil || kept.State != spool.Quarantined || !strings.Contains(kept.Reason, "notice refused by the relay") {
		t.Errorf("refused notice: %+v", kept)
	}
	if len(v.queued()) != 0 {
		t.Errorf("queue: %v", v.queued())
	}
	for _, m := range refusing.Messages() {
		if m.To[0] != "owner@shop1.example" {
			t.Errorf("relayed to %v", m.To)
		}
	}
}
