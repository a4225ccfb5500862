// Command demo plays a spam run through spamrun on embedded defaults.
//
// A web shop, shop1.example, sends its order confirmations as usual while
// a spammer abuses its unprotected guestbook to send pharma and casino links
// to strangers. A second site, blog2.example, sends legitimate mail
// throughout. The demo runs spamrun's default detector with the builtin
// scorer and the default policy (spam score 5, more than 10 spam-marked
// messages per hour trips, spam-marked messages held 15 minutes) on a
// simulated clock, and shows every decision, the trip, the disable, the
// bounces of what was still held, one DSN in full, and the accounting.
//
//	go run ./examples/demo
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamruntest"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const (
	hostname = "web1.example.net"
	article  = "https://support.example.net/spam-run"
)

// queued is a message waiting in the demo's queue.
type queued struct {
	site  spamrun.Site
	msg   *spamrun.Message
	until time.Time
}

type tally struct{ submitted, delivered, held, refused, bounced, kept int }

type demo struct {
	out      io.Writer
	ctx      context.Context
	clock    *spamruntest.Clock
	det      *spamrun.PolicyDetector
	queue    []queued
	counts   map[string]*tally
	spamSent int // spam-marked messages that reached the relay
	dsns     [][]byte
	showDSN  bool
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	showDSN := fs.Bool("dsn", true, "print the first DSN in full")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	d := &demo{
		out:     stdout,
		ctx:     context.Background(),
		clock:   spamruntest.NewClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)),
		counts:  map[string]*tally{},
		showDSN: *showDSN,
	}
	var err error
	d.det, err = spamrun.NewDetector(&spamrun.DetectorOptions{
		Now: d.clock.Now,
		Enforcer: spamrun.EnforcerFuncs{OnDisable: func(_ context.Context, site string, inc *spamrun.Incident) error {
			fmt.Fprintf(d.out, "\n  >>> %s TRIPS: %d spam-marked messages within %v (max %d). Site disabled; the panel is told.\n",
				site, inc.Count, inc.Policy.Window, inc.Policy.MaxSpam)
			return nil
		}},
	})
	if err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	}
	if err := d.play(); err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	}
	return 0
}

func (d *demo) play() error {
	shop := spamrun.Site{Name: "shop1", UID: 1001, Domains: []string{"shop1.example"}, DefaultSender: "shop1@" + hostname}
	blog := spamrun.Site{Name: "blog2", UID: 1002, Domains: []string{"blog2.example"}, DefaultSender: "blog2@" + hostname}
	p := d.det.Policy(shop.Name)
	fmt.Fprintf(d.out, "spamrun demo: policy spam_score=%g max_spam=%d window=%v hold_for=%v\n\n",
		p.SpamScore, p.MaxSpam, p.Window, p.HoldFor)
	fmt.Fprintf(d.out, "%-8s %-6s %-26s %6s  %-8s %s\n", "time", "site", "message", "score", "action", "top rules")

	start := d.clock.Now()
	order, spam, post := 0, 0, 0
	for tick := 0; tick <= 40; tick++ {
		now := start.Add(time.Duration(tick) * 30 * time.Second)
		d.clock.Set(now)
		d.release()
		if tick%4 == 0 {
			if err := d.submit(shop, "order confirmation", "orders@shop1.example", spamruntest.OrderConfirmation("shop1.example", order)); err != nil {
				return err
			}
			order++
		}
		if tick%10 == 5 {
			if err := d.submit(blog, "comment notification", "", blogNotification(post)); err != nil {
				return err
			}
			post++
		}
		// The run starts at 09:03 and sends a message every 30 seconds.
		if tick >= 6 && tick < 6+16 {
			// The guestbook script sends with -f noreply@shop1.example, but
			// one message of the run has a sender the spammer injected: a
			// bounce to that address would be backscatter, so it stays held.
			sender := "noreply@shop1.example"
			if spam == 7 {
				sender = "victim@elsewhere.example"
			}
			if err := d.submit(shop, "guestbook entry", sender, spamruntest.GuestbookSpam("shop1.example", spam)); err != nil {
				return err
			}
			spam++
		}
	}
	d.summary()
	return nil
}

// submit plays one sendmail run: parse, check, act. An empty sender is
// what a script gets that passes no -f: the site's default sender.
func (d *demo) submit(site spamrun.Site, what, sender string, raw []byte) error {
	if sender == "" {
		sender = site.DefaultSender
	}
	msg, err := spamrun.ParseMessage(raw, sender, nil)
	if err != nil {
		return err
	}
	// As sendmail -t does: the recipients are in the header.
	for _, h := range []string{"To", "Cc", "Bcc"} {
		for _, a := range msg.Addresses(h) {
			msg.Recipients = append(msg.Recipients, a.Address)
		}
	}
	msg.Evidence.UID = site.UID
	t := d.count(site.Name)
	t.submitted++
	v, err := d.det.Check(d.ctx, site.Name, msg)
	if err != nil {
		return err
	}
	var rules []string
	for _, r := range v.Score.Top(3) {
		rules = append(rules, r.Name)
	}
	now := d.clock.Now()
	if v.Action == spamrun.Refuse && !v.Tripped {
		fmt.Fprintf(d.out, "%-8s %-6s %-26s %6s  %-8s sendmail exits 69: website disabled, see %s\n",
			now.Format("15:04:05"), site.Name, what, "-", "refuse", article)
	} else {
		fmt.Fprintf(d.out, "%-8s %-6s %-26s %6.1f  %-8s %s\n",
			now.Format("15:04:05"), site.Name, what, v.Score.Value, v.Action, strings.Join(rules, ","))
	}
	switch v.Action {
	case spamrun.Deliver:
		t.delivered++
		if v.Spam {
			d.spamSent++
		}
	case spamrun.Hold:
		t.held++
		d.queue = append(d.queue, queued{site: site, msg: msg, until: v.HoldUntil})
	case spamrun.Refuse:
		t.refused++
		if v.Tripped {
			return d.bounceQueue(site, v.Incident)
		}
	}
	return nil
}

// release relays held messages whose hold has ended.
func (d *demo) release() {
	now := d.clock.Now()
	kept := d.queue[:0]
	for _, q := range d.queue {
		if now.Before(q.until) {
			kept = append(kept, q)
			continue
		}
		t := d.count(q.site.Name)
		t.held--
		t.delivered++
		d.spamSent++
		fmt.Fprintf(d.out, "%-8s %-6s %-26s %6s  released after hold\n", now.Format("15:04:05"), q.site.Name, q.msg.Subject, "")
	}
	d.queue = kept
}

// bounceQueue returns every message the tripped site still has queued to
// its sender, when the sender is the site's own; the rest stay held.
func (d *demo) bounceQueue(site spamrun.Site, inc *spamrun.Incident) error {
	fmt.Fprintf(d.out, "  >>> bouncing what %s still has queued (incident %s):\n", site.Name, inc.ID)
	kept := d.queue[:0]
	for _, q := range d.queue {
		if q.site.Name != site.Name {
			kept = append(kept, q)
			continue
		}
		t := d.count(site.Name)
		if !site.Owns(q.msg.Sender) {
			fmt.Fprintf(d.out, "      kept held: sender <%s> is not %s's own; a bounce would be backscatter\n", q.msg.Sender, site.Name)
			t.held--
			t.kept++
			continue
		}
		b := spamrun.Bounce{
			Original:     q.msg,
			ReportingMTA: hostname,
			ArticleURL:   article,
			Site:         site.Name,
			Arrival:      q.until.Add(-inc.Policy.HoldFor),
			Date:         d.clock.Now(),
		}
		dsn, err := b.Build()
		if spamrun.IsNoBounce(err) {
			fmt.Fprintf(d.out, "      kept held: %v\n", err)
			t.held--
			t.kept++
			continue
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(d.out, "      DSN 5.7.1 to <%s> for %q (%d recipients)\n", q.msg.Sender, q.msg.Subject, len(q.msg.Recipients))
		t.held--
		t.bounced++
		d.dsns = append(d.dsns, dsn)
	}
	d.queue = kept
	fmt.Fprintln(d.out)
	return nil
}

func (d *demo) summary() {
	if d.showDSN && len(d.dsns) > 0 {
		fmt.Fprintf(d.out, "\nThe first DSN, as the site owner receives it (MAIL FROM:<>):\n\n%s\n", d.dsns[0])
	}
	fmt.Fprintf(d.out, "\n%-6s %9s %9s %5s %7s %7s %10s\n", "site", "submitted", "delivered", "held", "bounced", "refused", "kept held")
	for _, name := range []string{"shop1", "blog2"} {
		t := d.count(name)
		fmt.Fprintf(d.out, "%-6s %9d %9d %5d %7d %7d %10d\n", name, t.submitted, t.delivered, t.held, t.bounced, t.refused, t.kept)
	}
	fmt.Fprintf(d.out, "\nspam-marked messages that reached the relay: %d\n", d.spamSent)
	for _, name := range []string{"shop1", "blog2"} {
		st, _ := d.det.Status(d.ctx, name, d.clock.Now())
		state := "enabled"
		if st.Incident != nil {
			state = "DISABLED since " + st.Incident.Time.Format("15:04:05") + " (incident " + st.Incident.ID + ")"
			scripts := map[string]int{}
			for _, m := range st.Incident.Messages {
				scripts[m.Evidence.Script]++
			}
			for s, n := range scripts {
				state += fmt.Sprintf("\n        %d of the spam came from %s", n, s)
			}
		}
		fmt.Fprintf(d.out, "%s: %s\n", name, state)
	}
}

func (d *demo) count(site string) *tally {
	if d.counts[site] == nil {
		d.counts[site] = &tally{}
	}
	return d.counts[site]
}

func blogNotification(i int) []byte {
	return []byte(fmt.Sprintf("From: WordPress <wordpress@blog2.example>\r\n"+
		"To: author@blog2.example\r\n"+
		"Subject: [Blog2] New comment on \"Spring garden notes\" (#%d)\r\n"+
		"X-PHP-Originating-Script: 1002:class-wp-comment.php\r\n"+
		"Content-Type: text/plain; charset=UTF-8\r\n"+
		"\r\n"+
		"A new comment on the post \"Spring garden notes\" is waiting for your approval.\r\n\r\n"+
		"Author: Maria (IP address: 203.0.113.%d)\r\n"+
		"Comment: The tomatoes did well here too, thanks for the tip about the mulch.\r\n\r\n"+
		"Approve it: https://blog2.example/wp-admin/comment.php?action=approve&c=%d\r\n", i, 10+i, 100+i))
}
