package spamrun_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
)

func TestTextLinesSeesTheTemplate(t *testing.T) {
	form := func(name, msg, link string) string {
		return fmt.Sprintf("Hi there,\n\nYour friend %s thinks you will like this page:\n%s\n\nPersonal message: %s\n\n-- \nSent by the form of shop 12 on 2026-11-%02d\n", name, link, msg, len(name))
	}
	a := spamrun.TextLines(form("Anna", "look!", "https://shop.example/a"))
	b := spamrun.TextLines(form("Best Casino Bonus", "WIN BIG", "http://spin.top/x?u=1"))
	if len(a) != 4 || len(b) != 4 {
		t.Fatalf("lines: %d and %d, want 4 each (the link alone and the separator have no letter)", len(a), len(b))
	}
	shared := 0
	for _, h := range a {
		if slices.Contains(b, h) {
			shared++
		}
	}
	// The greeting and the footer (whose digits differ) are shared; the
	// lines with the name and the message are not.
	if shared != 2 {
		t.Errorf("%d lines shared, want 2: %v %v", shared, a, b)
	}
	if got := spamrun.TextLines("SAME line\n  same   LINE \n\nsame line\n"); len(got) != 1 {
		t.Errorf("case and spacing variants of one line: %d hashes", len(got))
	}
	var long string
	for i := range 100 {
		long += fmt.Sprintf("line %c%c\n", 'a'+i%26, 'a'+i/26)
	}
	if got := spamrun.TextLines(long); len(got) != spamrun.MaxEventLines {
		t.Errorf("%d hashes of 100 lines, want the bound %d", len(got), spamrun.MaxEventLines)
	}
}

func TestLinkHostsAndDomains(t *testing.T) {
	raw := "From: a@shop.example\r\nTo: b@example.org\r\nSubject: x\r\nContent-Type: text/html\r\n\r\n" +
		`<p>Visit <a href="HTTPS://Casino.Example.top/win?x=1">us</a>, www.pills.example.com. or http://user@evil.example:8080/p and https://casino.example.top/again</p>`
	m, err := spamrun.ParseMessage([]byte(raw), "a@shop.example", []string{"b@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	got := spamrun.LinkHosts(m)
	want := []string{"casino.example.top", "www.pills.example.com", "evil.example"}
	if !slices.Equal(got, want) {
		t.Errorf("LinkHosts = %q, want %q", got, want)
	}
	doms := spamrun.RecipientDomains([]string{"a@X.example", "b@x.example", "c@y.example", "d@z.example"}, 2)
	if !slices.Equal(doms, []string{"x.example", "y.example"}) {
		t.Errorf("RecipientDomains = %q", doms)
	}
}

// The incident of a trip carries what the store knew of the site's scripts
// and traffic, the fingerprints of its messages, and the enforcer's
// outcome.
func TestTripSnapshotsHistory(t *testing.T) {
	ctx := context.Background()
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("enforcer fails %v", fail), func(t *testing.T) {
			f := newFixture(t, spamrun.Policy{SpamScore: 5, MaxSpam: 2, Window: time.Hour}, nil)
			enforced := errors.New("panel: site not found")
			det, err := spamrun.NewDetector(&spamrun.DetectorOptions{Store: f.store, Scorer: f.scorer, Now: f.clock.Now,
				Policy: spamrun.Policy{SpamScore: 5, MaxSpam: 2, Window: time.Hour},
				Enforcer: spamrun.EnforcerFuncs{OnDisable: func(context.Context, string, *spamrun.Incident) error {
					if fail {
						return enforced
					}
					return nil
				}}})
			if err != nil {
				t.Fatal(err)
			}
			record := func(at time.Time, script string, spam bool) {
				t.Helper()
				if err := f.store.RecordScript(ctx, "shop1", spamrun.Submission{Time: at, Script: script, Cwd: "/var/www/shop1", Spam: spam}); err != nil {
					t.Fatal(err)
				}
			}
			now := f.clock.Now()
			record(now.Add(-30*24*time.Hour), "1001:contact.php", false) // too old for the incident
			record(now.Add(-30*time.Minute), "1001:checkout.php", false)
			var v spamrun.Verdict
			for i := range 3 {
				at := now.Add(time.Duration(i) * time.Minute)
				v, err = det.CheckAt(ctx, "shop1", testMessage(t, 9, "win"), at)
				if err != nil {
					t.Fatal(err)
				}
				if v.Action != spamrun.Refuse {
					record(at, "1001:guestbook.php", true)
				}
			}
			inc := v.Incident
			if !v.Tripped || inc == nil {
				t.Fatalf("not tripped: %+v", v)
			}
			if len(inc.Scripts) != 2 || inc.Scripts[0].Script != "1001:guestbook.php" || inc.Scripts[0].Spam != 2 || inc.Scripts[1].Script != "1001:checkout.php" {
				t.Errorf("Scripts = %+v, want guestbook.php (2 spam) and checkout.php", inc.Scripts)
			}
			var legit, spam int
			for _, m := range inc.Activity {
				legit += m.Legit
				spam += m.Spam
			}
			if legit != 1 || spam != 2 {
				t.Errorf("Activity counts %d legitimate, %d spam: %+v", legit, spam, inc.Activity)
			}
			ev := inc.Messages[len(inc.Messages)-1]
			if len(ev.Lines) == 0 || !slices.Equal(ev.Domains, []string{"example.org"}) {
				t.Errorf("event fingerprint: lines %v domains %v", ev.Lines, ev.Domains)
			}
			e := inc.Enforced
			if e == nil || (e.Err != "") != fail || e.Time.IsZero() {
				t.Fatalf("Enforced = %+v", e)
			}
			if fail && (!errors.Is(v.EnforcerErr, enforced) || e.Err != enforced.Error()) {
				t.Errorf("enforcer error: %v / %q", v.EnforcerErr, e.Err)
			}
			got, err := f.store.Incidents(ctx, "shop1")
			if err != nil || len(got) != 1 || got[0].Enforced == nil || *got[0].Enforced != *e {
				t.Errorf("the store's incident: %+v, %v; want Enforced %+v", got, err, e)
			}
		})
	}
}
