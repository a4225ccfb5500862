package queue_test

import (
	"testing"
	"time"

	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

// TestUndecidedCountsRecipients: a spam-marked message accepted to 51
// recipients while the store was down weighs its recipients when the
// runner decides it, as it would have at submission: with max_spam 3 it
// trips the site alone, and is returned to its sender, not relayed.
func TestUndecidedCountsRecipients(t *testing.T) {
	v := newEnv(t, policy())
	e := v.add(&spool.Entry{Site: "shop1", Sender: "noreply@shop1.example", Recipients: spamruntest.Recipients(51), State: spool.Undecided}, spam("shop1", 1))
	v.clock.Advance(time.Minute)
	sink := spamruntest.NewSMTPSink(t)
	wantCounts(t, "pass", v.pass(v.runner(smtpRelay(sink))), "relayed=1 deferred=0 decided=1 bounced=1 quarantined=0 expired=0 failed=0")
	orig, dsns := split(sink.Messages())
	if len(orig) != 0 || len(dsns) != 1 {
		t.Errorf("relayed %d originals and %d DSNs, want only the DSN", len(orig), len(dsns))
	}
	inc, err := v.det.Disabled(v.ctx, "shop1")
	if err != nil || inc == nil {
		t.Fatalf("site not disabled: %v, %v", inc, err)
	}
	if inc.Count != 51 || len(inc.Messages) != 1 || inc.Messages[0].Recipients != 51 || !inc.Time.Equal(e.Received) {
		t.Errorf("incident: count %d, %d messages, at %v; want 51, one message, at its arrival %v", inc.Count, len(inc.Messages), inc.Time, e.Received)
	}
	if got := v.quarantined()[e.ID]; got == nil || got.State != spool.Bounced || got.Incident != inc.ID {
		t.Errorf("the message: %+v, want bounced for the incident", got)
	}
}
