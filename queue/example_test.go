package queue_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jhillyerd/enmime/v2"
	"github.com/jhillyerd/enmime/v2/dsn"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/queue"
	"github.com/spamrun/spamrun/relay"
	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

// A shop's guestbook is abused: its spam is held, then the third message
// trips the site. The held messages are never relayed: the one from the
// shop's own address goes back to it as a DSN, the one whose sender the
// spammer forged stays in quarantine, since a DSN to it would be
// backscatter.
func ExampleRunner_BounceSite() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "spool")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	sp, err := spool.Open(dir)
	if err != nil {
		panic(err)
	}
	clock := spamruntest.NewClock(spamruntest.T0)
	det, err := spamrun.NewDetector(&spamrun.DetectorOptions{
		Scorer: spamrun.NewBuiltinScorer(),
		Store:  spamrun.NewMemoryStore(),
		Policy: spamrun.Policy{SpamScore: 5, MaxSpam: 2, Window: time.Hour, HoldFor: 15 * time.Minute},
		Now:    clock.Now,
	})
	if err != nil {
		panic(err)
	}

	// sendmail: score each message and spool it as the verdict says.
	var inc *spamrun.Incident
	for i, sender := range []string{"noreply@shop1.example", "someone@gmail.example", "noreply@shop1.example"} {
		raw := spamruntest.GuestbookSpam("shop1.example", i)
		rcpts := []string{fmt.Sprintf("victim%d@example.org", i)}
		msg, err := spamrun.ParseMessage(raw, sender, rcpts)
		if err != nil {
			panic(err)
		}
		v, err := det.CheckAt(ctx, "shop1", msg, clock.Now())
		if err != nil {
			panic(err)
		}
		fmt.Printf("<%s>: %s\n", sender, v.Action)
		if v.Action == spamrun.Refuse {
			inc = v.Incident
			break
		}
		e := &spool.Entry{
			Site: "shop1", Sender: sender, Recipients: rcpts, Received: clock.Now(),
			State: spool.Held, HoldUntil: v.HoldUntil, Score: v.Score, Spam: v.Spam,
		}
		if err := sp.Add(e, raw); err != nil {
			panic(err)
		}
		clock.Advance(time.Second)
	}

	// The relay prints what it is given instead of sending it.
	printing := relay.DeliverFunc(func(_ context.Context, env relay.Envelope, data io.Reader) error {
		e, err := enmime.ReadEnvelope(data)
		if err != nil {
			return err
		}
		rep, err := dsn.ParseReport(e.Root)
		if err != nil || rep == nil {
			fmt.Printf("relay: MAIL FROM:<%s> RCPT TO:%v, not a DSN\n", env.From, env.To)
			return nil
		}
		fmt.Printf("relay: MAIL FROM:<%s> RCPT TO:%v Status: %s, links the article: %v\n",
			env.From, env.To, rep.DeliveryStatus.RecipientDSNs[0].Get("Status"),
			bytes.Contains([]byte(rep.Explanation.Text), []byte("https://support.example.com/spam-run")))
		return nil
	})
	r := &queue.Runner{
		Spool:    sp,
		Relay:    printing,
		Detector: det,
		Site: func(*spool.Entry) spamrun.Site {
			return spamrun.Site{Name: "shop1", Domains: []string{"shop1.example"}}
		},
		Hostname:   "web1.example.net",
		ArticleURL: "https://support.example.com/spam-run",
		Now:        clock.Now,
	}

	// The sendmail that tripped the site returns its queue at once.
	stats, err := r.BounceSite(ctx, "shop1", inc)
	if err != nil {
		panic(err)
	}
	fmt.Printf("bounced %d, kept %d\n", stats.Bounced, stats.Quarantined)
	// The next pass relays the DSNs.
	stats, err = r.Pass(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Printf("relayed %d\n", stats.Relayed)

	q, err := sp.Quarantine()
	if err != nil {
		panic(err)
	}
	for _, e := range q {
		fmt.Printf("quarantine: <%s> %s, DSN sent: %v\n", e.Sender, e.State, e.DSN != "")
	}
	// Output:
	// <noreply@shop1.example>: hold
	// <someone@gmail.example>: hold
	// <noreply@shop1.example>: refuse
	// bounced 1, kept 1
	// relay: MAIL FROM:<> RCPT TO:[noreply@shop1.example] Status: 5.7.1, links the article: true
	// relayed 1
	// quarantine: <noreply@shop1.example> bounced, DSN sent: true
	// quarantine: <someone@gmail.example> quarantined, DSN sent: false
}
