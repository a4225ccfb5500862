package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/spamrun/spamrun/report"
)

func TestIncidentShow(t *testing.T) {
	t.Parallel()
	in := newSpamRun(t).in
	list := decode[[]struct{ ID string }](t, in.mustRun("incidents", "--json"))
	if len(list) != 1 {
		t.Fatalf("incidents: %+v", list)
	}
	id := list[0].ID

	text := in.mustRun("incidents", "show", id)
	t.Logf("spamrun incidents show:\n%s", text)
	for _, want := range []string{"Incident " + id, "Likely cause:", "/var/www/shop1/guestbook.php", "The run: 4 spam-marked messages",
		"Scripts:", "Timeline (per 1 minute", "<- trip", "https://support.example.net/spam-run"} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q", want)
		}
	}

	r := decode[report.Report](t, in.mustRun("incidents", "show", "--json", id))
	if r.Incident == nil || r.Incident.ID != id || len(r.Findings) == 0 || r.Summary.Spam != 4 {
		t.Fatalf("show --json: %+v", r)
	}
	// The store's history reached the incident at the trip: the two
	// order confirmations and three held spam messages of shop1.
	legit, spam := 0, 0
	for _, p := range r.Timeline {
		legit += p.Legit
		spam += p.Spam
	}
	if legit != 2 || spam != 3 {
		t.Errorf("timeline counts %d legitimate and %d spam-marked messages, want 2 and 3", legit, spam)
	}
	if len(r.Scripts) != 1 || r.Scripts[0].History == nil || r.Scripts[0].History.Spam != 3 {
		t.Errorf("scripts: %+v", r.Scripts)
	}

	page := filepath.Join(t.TempDir(), "incident.html")
	if out := in.mustRun("incidents", "show", id, "--html", page); !strings.Contains(out, page) {
		t.Errorf("show --html said %q", out)
	}
	html := mustRead(t, page)
	for _, want := range []string{"<svg", id, "guestbook.php"} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML page lacks %q", want)
		}
	}
	if out := in.mustRun("incidents", "show", "--html", "-", id); !strings.HasPrefix(strings.TrimSpace(out), "<!DOCTYPE html>") && !strings.HasPrefix(strings.TrimSpace(out), "<!doctype html>") {
		t.Errorf("show --html - wrote %.80q", out)
	}

	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"incidents", "show"}, exitUsage, "one incident ID"},
		{[]string{"incidents", "show", id, id}, exitUsage, "one incident ID"},
		{[]string{"incidents", "show", "--json", "--html", "x.html", id}, exitUsage, "not both"},
		{[]string{"incidents", "show", "20990101T000000.000000Z-nosuch"}, exitFailed, "no incident"},
	} {
		_, errOut, code := in.run(c.args...)
		if code != c.code || !strings.Contains(errOut, c.msg) {
			t.Errorf("spamrun %s: exit %d, stderr %q; want %d and %q", strings.Join(c.args, " "), code, errOut, c.code, c.msg)
		}
	}
}

func TestScriptMarkers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mailer := filepath.Join(dir, "wp-cache.php")
	code := "<?php\nforeach (explode(\"\\n\", $_POST['to']) as $rcpt) {\n\tmail($rcpt, $_POST['subject'], $_POST['body'], 'From: ' . $_POST['from']);\n}\n"
	if err := os.WriteFile(mailer, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	got := scriptMarkers(mailer)
	if len(got) == 0 || !strings.Contains(strings.Join(got, " "), "(line 3)") {
		t.Errorf("markers of a mailer: %q", got)
	}
	for _, m := range got {
		if strings.Contains(m, "$_POST") {
			t.Errorf("a marker quotes the code: %q", m)
		}
	}
	// A link the site planted to make root read another file, a fifo
	// that would block a reader, and a missing file give nothing.
	link := filepath.Join(dir, "link.php")
	if err := os.Symlink(mailer, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.php")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{link, fifo, filepath.Join(dir, "missing.php")} {
		if got := scriptMarkers(p); got != nil {
			t.Errorf("scriptMarkers(%s) = %q, want nothing", filepath.Base(p), got)
		}
	}
}
