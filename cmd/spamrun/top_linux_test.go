package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun/spamruntest"
)

// tmux is a tmux server of the test's own, on its own socket, killed when
// the test ends.
type tmux struct {
	t      *testing.T
	path   string
	socket string
}

func newTmux(t *testing.T) *tmux {
	t.Helper()
	tm := &tmux{t: t, path: spamruntest.NeedCommand(t, "tmux", "tmux"), socket: fmt.Sprintf("spamrun-top-%d", os.Getpid())}
	t.Cleanup(func() {
		// The server is gone already when its last session ended.
		exec.Command(tm.path, "-L", tm.socket, "kill-server").Run()
	})
	return tm
}

// run runs a tmux command and returns its output.
func (tm *tmux) run(args ...string) string {
	tm.t.Helper()
	out, err := exec.Command(tm.path, append([]string{"-L", tm.socket, "-f", "/dev/null"}, args...)...).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// waitScreen captures the pane until ok accepts the screen, for at most
// ten seconds, and returns the last screen captured.
func (tm *tmux) waitScreen(what string, ok func(screen string) bool) string {
	tm.t.Helper()
	var screen string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		screen = strings.TrimRight(tm.run("capture-pane", "-p", "-t", "top"), "\n")
		if ok(screen) {
			return screen
		}
	}
	tm.t.Fatalf("the view never showed %s; it shows:\n%s", what, screen)
	return ""
}

// topRowFields returns the fields of site's row on the screen, or nil: the
// site, its state, spam/max, window, bar, held, queued, mail/min and last
// script.
func topRowFields(screen, site string) []string {
	for _, l := range strings.Split(screen, "\n") {
		if f := strings.Fields(l); len(f) == 9 && f[0] == site {
			return f
		}
	}
	return nil
}

// TestTopTmux runs the built spamrun top in a terminal, tmux's, while mail
// is submitted: the view shows a site's spam against max_spam with its bar
// and held mail, follows the next spam message, and quits on q.
func TestTopTmux(t *testing.T) {
	tm := newTmux(t)
	bin := buildSpamrun(t)
	in := newInstall(t)
	h := in.open()
	uid := os.Getuid()
	spam := func(site string, uid, i int, at time.Time) {
		in.submit(h, site, uid, spamruntest.GuestbookSpam(site+".example", i), "noreply@"+site+".example",
			[]string{fmt.Sprintf("victim%d@example.com", i)}, at)
	}
	// A minute ago, which is in the last full minute: shop2 tripped on its
	// fourth spam message, and shop1 sent two.
	ago := time.Now().Add(-time.Minute)
	for i := range testMaxSpam + 1 {
		spam("shop2", 4200000, i, ago)
	}
	for i := range 2 {
		spam("shop1", uid, i, ago)
	}

	status := filepath.Join(t.TempDir(), "status")
	tm.run("new-session", "-d", "-s", "top", "-x", "120", "-y", "30", "-e", "SPAMRUN_CONFIG="+in.config,
		"sh", "-c", `"$0" top; echo $? >"$1"`, bin, status)
	shop1 := func(spam, held string, full int) func(string) bool {
		return func(screen string) bool {
			f := topRowFields(screen, "shop1")
			return f != nil && f[2] == spam && f[5] == held &&
				strings.Count(f[4], "█") == full && strings.Count(f[4], "░") == topBarWidth-full
		}
	}
	screen := tm.waitScreen("shop1 at 2/3 with 2 held", shop1("2/3", "2", 13))
	t.Logf("spamrun top:\n%s", screen)
	if !strings.Contains(screen, "sites 2, disabled 1, queued 0, held 5") {
		t.Errorf("header: the totals are wrong:\n%s", screen)
	}
	if f := topRowFields(screen, "shop2"); f == nil || f[1] != "disabled" || f[2] != "4/3" || f[5] != "3" || strings.Count(f[4], "█") != topBarWidth {
		t.Errorf("shop2's row: %q", f)
	}
	if i, j := strings.Index(screen, "\nshop2 "), strings.Index(screen, "\nshop1 "); i < 0 || j < i {
		t.Errorf("the disabled site is not first:\n%s", screen)
	}

	spam("shop1", uid, 2, time.Now())
	screen = tm.waitScreen("shop1 at 3/3 with 3 held", shop1("3/3", "3", topBarWidth))
	t.Logf("spamrun top after one more spam message:\n%s", screen)

	tm.run("send-keys", "-t", "top", "q")
	var code []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if b, err := os.ReadFile(status); err == nil && strings.HasSuffix(string(b), "\n") {
			code = b
			break
		}
	}
	if string(code) != "0\n" {
		t.Errorf("spamrun top after q: exit status %q, want 0", code)
	}
}
