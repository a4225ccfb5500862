package notify_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jhillyerd/enmime/v2"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/notify"
	"github.com/spamrun/spamrun/report"
)

const spamSubject = "Cheap Zorblax pills 7731"

var t0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

// incident is a run of twelve spam-marked messages from one form, with a
// subject that must never reach the site's owner.
func incident() *spamrun.Incident {
	inc := &spamrun.Incident{
		ID: spamrun.IncidentID("shop.example", t0), Site: "shop.example", Time: t0,
		Policy: spamrun.Policy{SpamScore: 5, MaxSpam: 10, Window: time.Hour, Count: spamrun.CountRecipients},
		Count:  12,
	}
	for i := range 12 {
		inc.Messages = append(inc.Messages, spamrun.SpamEvent{
			Time: t0.Add(time.Duration(i-12) * time.Minute), Score: 9, Sender: "www@shop.example",
			Recipients: 1, Weight: 1, Domains: []string{"victim.example"}, Subject: spamSubject,
			Links: []string{"zorblax.example"}, Rules: []string{"SPAM_WORDS"},
			Evidence: spamrun.Evidence{Script: "contact.php", Cwd: "/var/www/shop"},
		})
	}
	return inc
}

func notifier() *notify.Notifier {
	return &notify.Notifier{
		Operator: []string{"ops@host.example"},
		Contacts: func(_ context.Context, site string) ([]string, error) {
			return []string{"Owner <owner@" + site + ">"}, nil
		},
		Hostname:   "web1.host.example",
		ArticleURL: "https://help.host.example/spam-run",
		Now:        func() time.Time { return t0.Add(time.Minute) },
	}
}

func byRole(t *testing.T, ns []notify.Notice) map[string]notify.Notice {
	t.Helper()
	m := make(map[string]notify.Notice)
	for _, n := range ns {
		m[n.Role] = n
	}
	if len(m) != 2 || len(ns) != 2 {
		t.Fatalf("want one notice for the site and one for the operator, got %d", len(ns))
	}
	return m
}

func parse(t *testing.T, n notify.Notice) *enmime.Envelope {
	t.Helper()
	env, err := enmime.ReadEnvelope(bytes.NewReader(n.Data))
	if err != nil {
		t.Fatalf("notice %s: %v", n.ID, err)
	}
	for _, e := range env.Errors {
		t.Errorf("notice %s: MIME problem: %v", n.ID, e)
	}
	return env
}

func TestTrippedEnglish(t *testing.T) {
	inc := incident()
	ns, err := notifier().Tripped(context.Background(), inc, notify.Fate{Bounced: 3, Kept: 2})
	if err != nil {
		t.Fatal(err)
	}
	m := byRole(t, ns)
	top := report.Build(inc, nil).Findings[0]

	site := m[notify.RoleSite]
	if site.ID != inc.ID+"-notice-site" || strings.Join(site.To, ",") != "owner@shop.example" {
		t.Errorf("site notice: ID %q, to %v", site.ID, site.To)
	}
	env := parse(t, site)
	if got := env.GetHeader("Subject"); got != "Mail from your website shop.example has been stopped" {
		t.Errorf("subject %q", got)
	}
	if got := env.GetHeader("Auto-Submitted"); got != "auto-generated" {
		t.Errorf("Auto-Submitted %q", got)
	}
	if from, err := env.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != "spamrun" || from[0].Address != "postmaster@web1.host.example" {
		t.Errorf("From %v (%v)", from, err)
	}
	if got := env.GetHeader("Message-Id"); got != "<"+site.ID+"@web1.host.example>" {
		t.Errorf("Message-ID %q", got)
	}
	for _, want := range []string{
		"Your website shop.example sent spam-marked mail to 12 recipients", "within 1h; the limit is 10",
		top.Title, notify.OwnerAdvice(top)[0], "3 message(s) were returned", "2 message(s) are kept",
		"https://help.host.example/spam-run", "then ask us, your hosting", "Incident " + inc.ID,
	} {
		if !strings.Contains(env.Text, want) {
			t.Errorf("site notice lacks %q:\n%s", want, env.Text)
		}
	}
	if len(env.Attachments) != 0 {
		t.Errorf("site notice has %d attachments", len(env.Attachments))
	}
	if strings.Contains(env.Text, "spamrun queue") || strings.Contains(env.Text, "spamrun diff") {
		t.Errorf("the site's owner is told to run spamrun:\n%s", env.Text)
	}
	if bytes.Contains(site.Data, []byte("Zorblax")) || strings.Contains(env.Text, "Zorblax") {
		t.Errorf("the spam's subject is in the site owner's notice:\n%s", site.Data)
	}

	op := parse(t, m[notify.RoleOperator])
	for _, want := range []string{
		"spamrun incidents show " + inc.ID, "spamrun queue list --all shop.example",
		"spamrun status shop.example", "spamrun enable shop.example", "Likely cause: " + top.Title,
		spamSubject, // the report's evidence, which the operator does get
	} {
		if !strings.Contains(op.Text, want) {
			t.Errorf("operator notice lacks %q:\n%s", want, op.Text)
		}
	}
	if len(op.Attachments) != 1 || op.Attachments[0].FileName != "incident-"+inc.ID+".html" ||
		op.Attachments[0].ContentType != "text/html" || !bytes.Contains(op.Attachments[0].Content, []byte("<html")) {
		t.Errorf("operator notice's attachments: %+v", op.Attachments)
	}
}

func TestTrippedDutch(t *testing.T) {
	n := notifier()
	n.Language = func(string) string { return "nl" }
	inc := incident()
	ns, err := n.Tripped(context.Background(), inc, notify.Fate{Bounced: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := byRole(t, ns)
	top := report.Build(inc, nil).Findings[0]
	site := parse(t, m[notify.RoleSite])
	if got := site.GetHeader("Subject"); got != "De e-mail van uw website shop.example is stopgezet" {
		t.Errorf("subject %q", got)
	}
	for _, want := range []string{"Waarschijnlijke oorzaak:", top.Title, notify.OwnerAdvice(top)[0], "1 bericht(en) zijn teruggestuurd", "vraag ons, uw", "Dat valt uit de gegevens niet met zekerheid te zeggen."} {
		if !strings.Contains(site.Text, want) {
			t.Errorf("Dutch notice lacks %q:\n%s", want, site.Text)
		}
	}
	// The operator's language is the host's, not the site's.
	if op := parse(t, m[notify.RoleOperator]); !strings.HasPrefix(op.GetHeader("Subject"), "[spamrun] site shop.example disabled") {
		t.Errorf("operator subject %q", op.GetHeader("Subject"))
	}
}

func TestEnabled(t *testing.T) {
	n := notifier()
	n.DefaultLanguage = "nl"
	ns, err := n.Enabled(context.Background(), incident())
	if err != nil {
		t.Fatal(err)
	}
	m := byRole(t, ns)
	if id := m[notify.RoleSite].ID; id != incident().ID+"-notice-enabled-site" {
		t.Errorf("ID %q", id)
	}
	if got := parse(t, m[notify.RoleSite]).GetHeader("Subject"); got != "De e-mail van uw website shop.example staat weer aan" {
		t.Errorf("site subject %q", got)
	}
	if got := parse(t, m[notify.RoleOperator]).GetHeader("Subject"); got != "[spamrun] site shop.example weer ingeschakeld" {
		t.Errorf("operator subject %q", got)
	}
}

func TestContactsFail(t *testing.T) {
	n := notifier()
	n.Contacts = func(context.Context, string) ([]string, error) { return nil, errors.New("panel down") }
	ns, err := n.Tripped(context.Background(), incident(), notify.Fate{})
	if err == nil || !strings.Contains(err.Error(), "panel down") {
		t.Errorf("error %v", err)
	}
	if len(ns) != 1 || ns[0].Role != notify.RoleOperator {
		t.Errorf("the operator must still be told: %+v", ns)
	}
}

func TestOverride(t *testing.T) {
	dir := t.TempDir()
	tmpl := "Subject: Site {{.Site}} stopped\n\nStopped: {{.Site}}, {{.Bounced}} returned.\n"
	if err := os.WriteFile(filepath.Join(dir, "tripped-site.en.tmpl"), []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	ts, err := notify.LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := notifier()
	n.Templates = ts
	ns, err := n.Tripped(context.Background(), incident(), notify.Fate{Bounced: 4})
	if err != nil {
		t.Fatal(err)
	}
	m := byRole(t, ns)
	site := parse(t, m[notify.RoleSite])
	if site.GetHeader("Subject") != "Site shop.example stopped" || strings.TrimSpace(site.Text) != "Stopped: shop.example, 4 returned." {
		t.Errorf("overridden notice: %q\n%s", site.GetHeader("Subject"), site.Text)
	}
	// The templates not overridden stay.
	if op := parse(t, m[notify.RoleOperator]); !strings.Contains(op.Text, "spamrun enable shop.example") {
		t.Errorf("operator notice:\n%s", op.Text)
	}
	if !ts.Has("en") || !ts.Has("nl") || ts.Has("de") {
		t.Error("Has is wrong")
	}
}

func TestBadTemplates(t *testing.T) {
	for _, c := range []struct{ file, text, want string }{
		{"tripped-site.en.tmpl", "Subject: {{.Site\n\nx", "tripped-site.en.tmpl"},
		{"enabled.nl.tmpl", "Subject: x\n\n{{.NoSuchField}}", "NoSuchField"},
		{"tripped-operator.en.tmpl", "no subject line here", "Subject"},
		{"tripped.en.tmpl", "Subject: x\n\ny", "not a template's name"},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, c.file), []byte(c.text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := notify.LoadTemplates(dir)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.file) {
			t.Errorf("%s: error %v, want one naming the file and %q", c.file, err, c.want)
		}
	}
	if _, err := notify.LoadTemplates(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing directory is no error")
	}
}
