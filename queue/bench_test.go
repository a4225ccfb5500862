package queue_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/queue"
	"github.com/spamrun/spamrun/relay"
	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

// fill spools n messages of shop1 in state st, each from an owned sender.
func fill(b *testing.B, sp *spool.Spool, n int, st spool.State, raw func(i int) []byte) {
	b.Helper()
	for i := range n {
		e := &spool.Entry{
			Site: "shop1", UID: 1001, Sender: "noreply@shop1.example", Recipients: []string{fmt.Sprintf("r%d@example.org", i)},
			Received: time.Now(), State: st, Spam: st == spool.Held,
			// Without a detector the runner relays nothing but DSNs and
			// what the operator released.
			Released: st == spool.Queued,
		}
		if err := sp.Add(e, raw(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPassRelay is the runner relaying queued messages to an MTA on
// loopback, one SMTP session each, with every spool write synced.
func BenchmarkPassRelay(b *testing.B) {
	sink := spamruntest.NewSMTPSink(b)
	sp, err := spool.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	r := &queue.Runner{Spool: sp, Relay: &relay.SMTP{Addr: sink.Addr(), StartTLS: relay.StartTLSOff}, Site: siteOf, Hostname: hostname}
	fill(b, sp, b.N, spool.Queued, func(i int) []byte { return spamruntest.OrderConfirmation("shop1.example", i) })
	b.ResetTimer()
	stats, err := r.Pass(context.Background())
	if err != nil || stats.Relayed != b.N {
		b.Fatalf("relayed %d of %d: %v", stats.Relayed, b.N, err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkBounceSite is the sweep of a tripped site's queue: a DSN
// written for each held message and the original moved to quarantine.
func BenchmarkBounceSite(b *testing.B) {
	sp, err := spool.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	r := &queue.Runner{Spool: sp, Site: siteOf, Hostname: hostname, ArticleURL: articleURL, MaxBounces: 1 << 30}
	fill(b, sp, b.N, spool.Held, func(i int) []byte { return spamruntest.GuestbookSpam("shop1.example", i) })
	inc := &spamrun.Incident{ID: "bench", Site: "shop1", Time: time.Now()}
	b.ResetTimer()
	stats, err := r.BounceSite(context.Background(), "shop1", inc)
	if err != nil || stats.Bounced != b.N {
		b.Fatalf("bounced %d of %d: %v", stats.Bounced, b.N, err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
