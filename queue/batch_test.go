package queue_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/spamrun/spamrun/queue"
	"github.com/spamrun/spamrun/relay"
	"github.com/spamrun/spamrun/spamruntest"
)

func addrs(prefix string, n int) []string {
	to := make([]string, n)
	for i := range to {
		to[i] = fmt.Sprintf("%s%02d@example.org", prefix, i)
	}
	return to
}

// TestRelayBatchesPartialDelivery sends two messages through an MTA that
// takes 7 recipients per transaction, in batches of 10, while it refuses
// some recipients for good and some for now, refuses one batch at DATA,
// crashes in the middle of another, and answers 452 4.5.3 to the first
// recipient of a transaction. The sender gets one DSN naming exactly the
// recipients refused for good; the next attempt delivers the rest; nobody
// gets the message twice.
func TestRelayBatchesPartialDelivery(t *testing.T) {
	v := newEnv(t, policy())
	a, b := addrs("a", 40), addrs("b", 20)
	sink := spamruntest.NewSMTPSink(t,
		spamruntest.SinkRecipientLimit(7),
		spamruntest.SinkRejectRcpt(a[3], 550, "5.1.1", "No such user here"),
		spamruntest.SinkRejectDataFor(a[15], 554, "5.7.1", "Message content rejected"),
		spamruntest.SinkRejectRcpt(a[22], 553, "5.7.1", "Relaying denied"),
		spamruntest.SinkRejectRcpt(a[30], 450, "4.2.1", "Mailbox busy"),
		spamruntest.SinkHangUpAt(a[35]),
		spamruntest.SinkRejectRcpt(b[12], 452, "4.5.3", "Too many recipients"))
	r := v.runner(&relay.SMTP{Addr: sink.Addr(), Helo: hostname, Timeout: 30 * time.Second, MaxRecipients: 10})
	ea, _ := v.submit("shop1", "shop@shop1.example", a, ham("shop1", 1))
	eb, _ := v.submit("shop1", "shop@shop1.example", b, ham("shop1", 2))

	// Message a, 7 to a transaction: a00-a07 less a03 go, then a08-a14;
	// a15-a21 are refused at DATA; a22 is refused, a23-a29 go; a30 is
	// busy, and the MTA crashes at a35 with a31-a34 accepted.
	// Message b: b00-b06 go, then b07-b11 before b12 meets 452 4.5.3;
	// the next transaction begins with b12, which meets it again.
	wantCounts(t, "first pass", v.pass(r), "relayed=3 deferred=2 decided=0 bounced=1 quarantined=0 expired=0 failed=0")
	failed := map[string]string{a[3]: "5.1.1", a[22]: "5.7.1"}
	for _, to := range a[15:22] {
		failed[to] = "5.7.1"
	}
	_, dsns := split(sink.Messages())
	if len(dsns) != 1 {
		t.Fatalf("%d DSNs, want 1", len(dsns))
	}
	_, rep := spamruntest.ParseDSN(t, dsns[0].Data)
	reported := make(map[string]string)
	for _, r := range recipients(rep) {
		if _, twice := reported[r.rcpt]; twice {
			t.Errorf("the DSN reports %s twice", r.rcpt)
		}
		reported[r.rcpt] = r.status
	}
	if !maps.Equal(reported, failed) {
		t.Errorf("the DSN reports %v\nwant %v", reported, failed)
	}

	deferred := map[string][]string{
		ea.ID: a[30:],
		eb.ID: b[12:],
	}
	for id, want := range deferred {
		e, _, err := v.spool.Read(id)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Sorted(slices.Values(e.Recipients)); !slices.Equal(got, want) || e.Attempts != 1 {
			t.Errorf("%s kept for %q after %d attempts, want %q after 1", id, got, e.Attempts, want)
		}
	}

	// The MTA is well again: the second attempt takes the rest, on time.
	if err := sink.Set(); err != nil {
		t.Fatal(err)
	}
	v.clock.Advance(queue.RetryDelay(1))
	wantCounts(t, "second pass", v.pass(r), "relayed=2 deferred=0 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
	if n := len(v.queued()) + len(v.quarantined()); n != 0 {
		t.Errorf("%d messages left in the spool", n)
	}
	orig, dsns := split(sink.Messages())
	if len(dsns) != 1 {
		t.Errorf("%d DSNs after the second pass, want the first alone", len(dsns))
	}
	got := make(map[string]int)
	for _, m := range orig {
		for _, to := range m.To {
			got[to]++
		}
	}
	for _, to := range slices.Concat(a, b) {
		want := 1
		if _, ok := failed[to]; ok {
			want = 0
		}
		if got[to] != want {
			t.Errorf("%s got the message %d times, want %d", to, got[to], want)
		}
	}
}
