package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/spamrun/spamrun/spamruntest"
)

func intp(n int) *int { return &n }

func TestTopSortRows(t *testing.T) {
	t.Parallel()
	rows := []*topRow{
		{Site: "quiet", MaxSpam: 10, MailPerMin: intp(0)},
		{Site: "busy", MaxSpam: 10, MailPerMin: intp(40)},
		{Site: "near", Spam: 9, MaxSpam: 10, MailPerMin: intp(1)},
		{Site: "tripped", Disabled: true, Spam: 1, MaxSpam: 10},
		{Site: "strict", Spam: 1, MaxSpam: 0},
		{Site: "half", Spam: 5, MaxSpam: 10, MailPerMin: intp(3)},
		{Site: "half2", Spam: 1, MaxSpam: 2, MailPerMin: intp(7)},
		{Site: "alsoquiet", MaxSpam: 10},
	}
	sortTopRows(rows)
	var got []string
	for _, r := range rows {
		got = append(got, r.Site)
	}
	want := "tripped strict near half2 half busy alsoquiet quiet"
	if strings.Join(got, " ") != want {
		t.Errorf("order: %s, want %s", strings.Join(got, " "), want)
	}
}

func TestTopShortScript(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		key  string
		want string
	}{
		{"1008:guestbook.php", "1008:guestbook.php"},
		{"", "-"},
		{"1001:/var/www/shop1/wp-content/plugins/contact-form/includes/send.php", "1001:…/contact-form/includes/send.php"},
		{"cwd:/var/www/shop1/wp-content/uploads/2026/11/cache/tmp", "cwd:…/uploads/2026/11/cache/tmp"},
		{"/home/shop1/public_html/a/b/c/d/e/f/g/mailer.php", "…/public_html/a/b/c/d/e/f/g/mailer.php"},
		{"1008:" + strings.Repeat("x", 50) + ".php", "…" + strings.Repeat("x", 35) + ".php"},
		{"1008:evil\nscript.php", "1008:evil script.php"},
	} {
		got := shortScript(c.key, 40)
		if got != c.want {
			t.Errorf("shortScript(%q) = %q, want %q", c.key, got, c.want)
		}
		if n := len([]rune(got)); n > 40 {
			t.Errorf("shortScript(%q) is %d wide", c.key, n)
		}
	}
}

// topRun is the spam run of newSpamRun and one order confirmation of
// shop2's in the last full minute before testNow.
func newTopRun(t *testing.T) *spamRun {
	t.Helper()
	r := newSpamRun(t)
	h := r.in.open()
	r.in.submit(h, "shop2", 4200000, spamruntest.OrderConfirmation("shop2.example", 9), "orders@shop2.example",
		[]string{"buyer2@example.org"}, testNow.Add(-30*time.Second))
	return r
}

func TestTopPlain(t *testing.T) {
	t.Parallel()
	r := newTopRun(t)
	out := r.in.mustRun("top", "-n", "1")
	t.Logf("spamrun top -n 1:\n%s", out)
	minute := testNow.Add(-time.Minute).Local()
	want := fmt.Sprintf(`spamrun top - %s - sites 3, disabled 1, queued 5, held 3
MAIL/MIN: accepted in the last full minute, %s-%s; SPAM: spam-marked in the window against max_spam
SITE   STATE     SPAM  WINDOW  BAR           HELD  QUEUED  MAIL/MIN  LAST SCRIPT
shop1  disabled  4/3   1h      [##########]  3     2       0         1008:guestbook.php
shop2  enabled   0/3   1h      [..........]  0     2       1         1001:class-wp-phpmailer.php
blog   enabled   0/3   1h      [..........]  0     1       0         1001:class-wp-phpmailer.php
`, fmtTime(testNow), minute.Format("15:04"), testNow.Local().Format("15:04"))
	if out != want {
		t.Errorf("top -n 1:\n%s\nwant:\n%s", out, want)
	}

	// One site, and the bar of a site part of the way.
	in := newInstall(t)
	h := in.open()
	for i := range 2 {
		in.submit(h, "shop1", os.Getuid(), spamruntest.GuestbookSpam("shop1.example", i), "noreply@shop1.example",
			[]string{fmt.Sprintf("victim%d@example.com", i)}, testNow.Add(-50*time.Second+time.Duration(i)*time.Second))
	}
	out = in.mustRun("top", "--site", "shop1", "-n", "1")
	want = "shop1  enabled  2/3   1h      [#######...]  2     0       2         1008:guestbook.php\n"
	if !strings.HasSuffix(out, want) || !strings.Contains(out, "sites 1, disabled 0, queued 0, held 2") {
		t.Errorf("top --site shop1:\n%s\nwant the row\n%s", out, want)
	}
}

func TestTopJSON(t *testing.T) {
	t.Parallel()
	r := newTopRun(t)
	v := decode[topView](t, r.in.mustRun("top", "--json"))
	if !v.Time.Equal(testNow) || !v.Minute.Equal(testNow.Add(-time.Minute)) || v.Error != "" {
		t.Errorf("top --json: time %s, minute %s, error %q", v.Time, v.Minute, v.Error)
	}
	if v.Sites != 3 || v.Disabled != 1 || v.Queued != 5 || v.Held != 3 || len(v.Rows) != 3 {
		t.Fatalf("top --json totals: %+v", v)
	}
	shop1, shop2 := v.Rows[0], v.Rows[1]
	if shop1.Site != "shop1" || !shop1.Disabled || shop1.Spam != 4 || shop1.MaxSpam != 3 || shop1.Window != "1h" ||
		shop1.Held != 3 || shop1.Queued != 2 || shop1.MailPerMin == nil || *shop1.MailPerMin != 0 ||
		shop1.LastScript != "1008:guestbook.php" || shop1.LastSeen.IsZero() {
		t.Errorf("shop1: %+v", shop1)
	}
	if shop2.Site != "shop2" || shop2.MailPerMin == nil || *shop2.MailPerMin != 1 || shop2.Queued != 2 {
		t.Errorf("shop2: %+v", shop2)
	}
	raw := r.in.mustRun("top", "--json", "--site", "shop2")
	for _, key := range []string{`"sites": 1`, `"site": "shop2"`, `"mail_per_min": 1`, `"max_spam": 3`, `"last_script": "1001:class-wp-phpmailer.php"`} {
		if !strings.Contains(raw, key) {
			t.Errorf("top --json --site shop2 lacks %s:\n%s", key, raw)
		}
	}
}

func TestTopUsage(t *testing.T) {
	t.Parallel()
	in := newInstall(t)
	for _, args := range [][]string{
		{"top", "shop1"},
		{"top", "--site", "../etc"},
		{"top", "--interval", "0s"},
		{"top", "-n", "-1"},
		{"top", "--frobnicate"},
	} {
		if _, errOut, code := in.run(args...); code != exitUsage || !strings.Contains(errOut, "usage: spamrun top") {
			t.Errorf("%q: exit %d\n%s", args, code, errOut)
		}
	}
	if out := in.mustRun("top", "-n", "1", "--site", "shop2"); !strings.Contains(out, "shop2  enabled  0/3") {
		t.Errorf("top of a quiet site:\n%s", out)
	}
}

// TestTopStoreDown shows a Redis that is down in the view, and the sites
// again once it is back.
func TestTopStoreDown(t *testing.T) {
	t.Parallel()
	redis := spamruntest.StartRedis(t)
	in := newInstall(t)
	cfg, err := os.ReadFile(in.config)
	if err != nil {
		t.Fatal(err)
	}
	in.write(strings.Replace(string(cfg), `kind = "sqlite"`, fmt.Sprintf("kind = \"redis\"\nurl = %q", redis.URL()), 1))
	if out := in.mustRun("top", "-n", "1"); !strings.Contains(out, "shop1  enabled  0/3") {
		t.Fatalf("top with Redis up:\n%s", out)
	}
	redis.Kill()
	out, errOut, code := in.run("top", "-n", "1")
	if code != exitTempErr || !strings.Contains(out, "\nerror: ") || !strings.Contains(out, "sites 0,") || !strings.Contains(errOut, "spamrun: ") {
		t.Errorf("top with Redis down: exit %d\n%s\n%s", code, out, errOut)
	}
	v := decode[topView](t, in.mustRunCode(exitTempErr, "top", "--json"))
	if v.Error == "" || len(v.Rows) != 0 {
		t.Errorf("top --json with Redis down: %+v", v)
	}
	redis.Start()
	if out := in.mustRun("top", "-n", "1"); !strings.Contains(out, "shop1  enabled  0/3") || strings.Contains(out, "error:") {
		t.Errorf("top with Redis back:\n%s", out)
	}
}

// mustRunCode runs the command and fails the test unless it exits code;
// it returns what the command wrote on standard output.
func (c *cli) mustRunCode(code int, args ...string) string {
	c.t.Helper()
	out, errOut, got := c.run(args...)
	if got != code {
		c.t.Fatalf("spamrun %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), got, code, out, errOut)
	}
	return out
}

// TestTopTerminalView draws the full-screen view of more sites than the
// terminal has lines for: the header and the error stay, and the rows that
// come first.
func TestTopTerminalView(t *testing.T) {
	t.Parallel()
	v := &topView{Time: testNow, Minute: testNow.Add(-time.Minute), Error: "spamrun: spam log of site \"shop9\": connection refused"}
	for i := range 12 {
		v.Rows = append(v.Rows, &topRow{Site: fmt.Sprintf("shop%02d", i), Spam: 12 - i, MaxSpam: 20, Window: "1h", MailPerMin: intp(i)})
	}
	v.Rows[0].Disabled = true
	v.total()
	m := &topModel{interval: time.Second, view: v, bar: newTopBar()}
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 10})
	screen := m.View()
	t.Logf("the view:\n%s", screen)
	lines := strings.Split(screen, "\n")
	if len(lines) != 10 {
		t.Errorf("%d lines on a terminal of 10", len(lines))
	}
	if !strings.HasPrefix(lines[0], "spamrun top - ") || !strings.Contains(lines[0], "sites 12, disabled 1") ||
		!strings.HasPrefix(lines[2], "error: spamrun: spam log") || !strings.HasPrefix(lines[3], "SITE ") {
		t.Errorf("the view's top:\n%s", screen)
	}
	for i, l := range lines[4:9] {
		f := strings.Fields(l)
		if want := fmt.Sprintf("shop%02d", i); len(f) != 9 || f[0] != want || f[2] != fmt.Sprintf("%d/20", 12-i) {
			t.Errorf("row %d: %q, want %s", i, l, want)
		}
	}
	if !strings.HasPrefix(lines[9], "7 more sites below") {
		t.Errorf("footer: %q", lines[9])
	}
	// The bar of 12/20 is 12 of 20 full.
	if f := strings.Fields(lines[4]); strings.Count(f[4], "█") != 12 || strings.Count(f[4], "░") != 8 {
		t.Errorf("bar of 12/20: %q", f[4])
	}
	if _, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")}); cmd == nil {
		t.Error("q does not quit")
	} else if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Error("q does not quit")
	}
}
