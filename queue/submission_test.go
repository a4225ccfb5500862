package queue_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
	"github.com/spamrun/spamrun/sqlitestore"
)

// TestDecidedAgainCountsOnce: the runner decides an undecided spam-marked
// message, and the spool update that would record the decision fails, as
// on a full disk: here a directory stands where the spool writes the
// message's new file. The store has counted the message, which is still
// undecided in the spool; the next pass decides it again, and the store
// recognises it by its ID. The site's count is the message's weight once,
// 2 of max_spam 3, and the site does not trip on its own message counted
// twice.
func TestDecidedAgainCountsOnce(t *testing.T) {
	store, err := sqlitestore.Open(filepath.Join(t.TempDir(), "state.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	v := newEnvStore(t, policy(), store)
	e := v.add(&spool.Entry{Site: "shop1", Sender: "noreply@shop1.example", Recipients: spamruntest.Recipients(2), State: spool.Undecided}, spam("shop1", 1))
	v.clock.Advance(time.Minute)
	block := filepath.Join(v.spool.Dir(), "tmp", e.ID)
	if err := os.MkdirAll(filepath.Join(block, "in-the-way"), 0o700); err != nil {
		t.Fatal(err)
	}
	r := v.runner(smtpRelay(spamruntest.NewSMTPSink(t)))

	s, err := r.Pass(v.ctx)
	if err == nil || s.Failed != 1 {
		t.Fatalf("pass with the update failing: %s, %v; want one failure", counts(s), err)
	}
	t.Logf("the failed update: %v", err)
	if got := v.queued()[e.ID]; got == nil || got.State != spool.Undecided {
		t.Fatalf("after the failed update the message is %+v, want still undecided", got)
	}
	if err := os.RemoveAll(block); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, "the next pass", v.pass(r), "relayed=0 deferred=0 decided=1 bounced=0 quarantined=0 expired=0 failed=0")
	if got := v.queued()[e.ID]; got == nil || got.State != spool.Held {
		t.Errorf("decided again, the message is %+v, want held", got)
	}
	st, err := v.det.Status(v.ctx, "shop1", v.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st.Spam != 2 || st.Incident != nil {
		t.Errorf("site status: %d spam, disabled %v; want 2, the message's recipients once, and enabled", st.Spam, st.Incident != nil)
	}
	evs, err := store.SpamLog(v.ctx, "shop1", v.clock.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Submission != e.ID {
		t.Errorf("the spam log holds %d events (%+v), want the message's once, by its ID %s", len(evs), evs, e.ID)
	}
}
