package report_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/report"
)

// Incidents recorded before the store kept history, or by a store that
// keeps none, have no activity, no scripts and no fingerprints: the report
// says what it can and calls the cause unknown.
func TestBuildWithoutHistory(t *testing.T) {
	for name, inc := range map[string]*spamrun.Incident{
		"empty": {ID: "x", Site: "s", Time: T0},
		"old record": {ID: "y", Site: "s", Time: T0, Count: 3, Policy: spamrun.Policy{SpamScore: 5, MaxSpam: 2, Window: time.Hour},
			Messages: []spamrun.SpamEvent{
				{Time: T0.Add(-2 * time.Minute), Score: 9, Sender: "a@s.example", Recipients: 1, Evidence: spamrun.Evidence{Script: "1:contact.php"}},
				{Time: T0.Add(-time.Minute), Score: 9, Sender: "a@s.example", Recipients: 1, Evidence: spamrun.Evidence{Script: "1:contact.php"}},
				{Time: T0, Score: 9, Sender: "", Recipients: 1, Evidence: spamrun.Evidence{Script: "1:contact.php"}},
			}},
	} {
		t.Run(name, func(t *testing.T) {
			r := report.Build(inc, nil)
			if len(r.Findings) == 0 || r.Findings[0].Cause != report.Unknown {
				t.Fatalf("findings: %+v", r.Findings)
			}
			if len(r.Timeline) != 0 {
				t.Errorf("a timeline without activity: %+v", r.Timeline)
			}
			if r.Summary.Spam != len(inc.Messages) {
				t.Errorf("Summary.Spam = %d", r.Summary.Spam)
			}
			var text, page bytes.Buffer
			if err := r.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if err := r.WriteHTML(&page); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text.String(), "Likely cause: cause unknown") {
				t.Errorf("text:\n%s", text.String())
			}
		})
	}
}

// What the site wrote cannot rewrite the operator's terminal.
func TestWriteTextEscapesControls(t *testing.T) {
	inc := &spamrun.Incident{ID: "z", Site: "s", Time: T0, Count: 1, Messages: []spamrun.SpamEvent{{
		Time: T0, Score: 9, Sender: "a@s.example", Subject: "hi\x1b[2J\x1b]0;owned\x07", Evidence: spamrun.Evidence{Script: "1:x\x1b[31m.php"}}}}
	var text bytes.Buffer
	if err := report.Build(inc, nil).WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(text.String(), "\x1b\x07") {
		t.Errorf("control characters reached the text: %q", text.String())
	}
	if !strings.Contains(text.String(), `hi\x1b[2J`) {
		t.Errorf("the subject is not shown escaped:\n%s", text.String())
	}
}

// BenchmarkBuild explains an incident of 1,000 spam-marked messages from
// three scripts against a day of activity.
func BenchmarkBuild(b *testing.B) {
	inc := &spamrun.Incident{ID: "bench", Site: "s", Time: T0, Count: 1000,
		Policy: spamrun.Policy{SpamScore: 5, MaxSpam: 999, Window: 24 * time.Hour}}
	scripts := []string{"33:contact.php", "33:wp-cache.php", "33:index.php"}
	for i := range 1000 {
		text := "Hello,\nA message from the contact form\nName: n" + strings.Repeat("x", i%7) + "\nBuy now http://spam" + string(rune('a'+i%26)) + ".top/\n"
		inc.Messages = append(inc.Messages, spamrun.SpamEvent{Time: T0.Add(time.Duration(i-1000) * time.Minute), Score: 7,
			Rules: []string{"URI_ODD_TLD", "SPAM_WORDS_WITH_LINKS"}, Sender: "a@s.example", Recipients: 3,
			Domains: []string{"x.example", "y.example"}, Links: []string{"spam.top"}, Lines: spamrun.TextLines(text),
			Evidence: spamrun.Evidence{Script: scripts[i%3], Cwd: "/var/www/s"}})
	}
	for m := range 24 * 60 {
		inc.Activity = append(inc.Activity, spamrun.Minute{Time: T0.Add(time.Duration(m-24*60) * time.Minute), Script: scripts[m%3], Legit: 2, Spam: 1})
	}
	b.ReportAllocs()
	for b.Loop() {
		report.Build(inc, nil)
	}
}

// The report counts the doors a run came through, a redirected
// connection with where it was going, and messages from before doors were
// recorded as sendmail's.
func TestDoors(t *testing.T) {
	ev := func(door, dst string) spamrun.SpamEvent {
		return spamrun.SpamEvent{Time: T0, Score: 9, Recipients: 1, Evidence: spamrun.Evidence{Door: door, Destination: dst}}
	}
	inc := &spamrun.Incident{ID: "d", Site: "s", Time: T0, Messages: []spamrun.SpamEvent{
		ev("smtp-redirected", "203.0.113.7:25"), ev("smtp-redirected", "203.0.113.7:25"),
		ev("smtp-local", ""), ev("", ""), ev("sendmail", ""), ev("smtp-redirected", "[2001:db8::25]:587"),
	}}
	r := report.Build(inc, nil)
	want := []report.Count{
		{Name: "sendmail", N: 2}, {Name: "smtp-redirected to 203.0.113.7:25", N: 2},
		{Name: "smtp-local", N: 1}, {Name: "smtp-redirected to [2001:db8::25]:587", N: 1},
	}
	if len(r.Summary.Doors) != len(want) {
		t.Fatalf("doors %+v, want %+v", r.Summary.Doors, want)
	}
	for _, w := range want {
		found := false
		for _, d := range r.Summary.Doors {
			found = found || d == w
		}
		if !found {
			t.Errorf("doors %+v lack %+v", r.Summary.Doors, w)
		}
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "smtp-redirected to 203.0.113.7:25") {
		t.Errorf("the text shows no door:\n%s", text.String())
	}
}
