package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spamrun/spamrun/spamruntest"
)

// config points SPAMRUN_CONFIG at a file with text.
func (c *cli) config(text string) {
	c.t.Helper()
	path := filepath.Join(c.t.TempDir(), "spamrun.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		c.t.Fatal(err)
	}
	c.vars["SPAMRUN_CONFIG"] = path
}

func TestEgressUsage(t *testing.T) {
	c := newCLI(t)
	c.emptyConfig()
	for _, args := range [][]string{
		{"egress"},
		{"egress", "lock"},
		{"egress", "apply", "remove"},
		{"egress", "show", "--dry-run"},
	} {
		_, errOut, code := c.run(args...)
		if code != exitUsage || !strings.Contains(errOut, "usage: spamrun egress apply [--dry-run] | remove | show") {
			t.Errorf("spamrun %s: exit %d, %q; want %d and the usage", strings.Join(args, " "), code, errOut, exitUsage)
		}
	}
}

// TestEgressDryRun prints the script the configuration makes, which
// needs no root and loads nothing.
func TestEgressDryRun(t *testing.T) {
	c := newCLI(t)
	c.config(`egress = "reject"
[smtpd]
trusted_users = ["root", "spamrun-no-such-user"]
[sites.shop1]
uid = 4242
smtp_allow = ["198.51.100.30:587", "[2001:db8::30]:2525"]
`)
	out, errOut, code := c.run("egress", "apply", "--dry-run")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"table inet spamrun\ndelete table inet spamrun\n",
		"4242 . 198.51.100.30 . 587",
		"4242 . 2001:db8::30 . 2525",
		"meta nfproto ipv4 tcp dport { 25, 465, 587 } meta skuid != @exempt reject with tcp reset",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the script lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "redirect") && !strings.Contains(out, "mode reject") {
		t.Errorf("reject mode redirects:\n%s", out)
	}
	if !strings.Contains(errOut, `spamrun: note: exempt user left out: user: unknown user spamrun-no-such-user`) {
		t.Errorf("stderr %q does not note the missing trusted user", errOut)
	}

	c.config("egress = \"lock\"\n")
	if _, errOut, code := c.run("egress", "apply", "--dry-run"); code != exitConfig || !strings.Contains(errOut, `egress: "lock" is not`) {
		t.Errorf("a bad mode: exit %d, %q", code, errOut)
	}
}

// TestEgressCommand applies, shows and removes the lock of a
// configuration in a namespace of the test's own.
func TestEgressCommand(t *testing.T) {
	if !spamruntest.InNetNS(t) {
		return
	}
	spamruntest.NeedCommand(t, "nft", "nftables")
	c := newCLI(t)
	c.config("[smtpd]\nlisten = [\"127.0.0.1:2525\"]\n")
	if _, errOut, code := c.run("egress", "show"); code != exitFailed || !strings.Contains(errOut, "spamrun: egress: the lock is not loaded (no table inet spamrun); spamrun egress apply loads it") {
		t.Errorf("show before apply: exit %d, %q", code, errOut)
	}
	out := c.mustRun("egress", "apply")
	if want := "egress lock applied: site users' SMTP (ports 25, 587) redirected to 127.0.0.1:2525, 465 reset, and all three reset on the family without a listener"; !strings.HasPrefix(out, want) {
		t.Errorf("apply said %q, want %q", out, want)
	}
	shown := c.mustRun("egress", "show")
	for _, want := range []string{"table inet spamrun", "redirect to :2525", `tcp dport { 25, 465, 587 } meta skuid != @exempt reject with tcp reset comment "IPv6 SMTP and SMTPS of site users: no listener on ::1"`} {
		if !strings.Contains(shown, want) {
			t.Errorf("show lacks %q:\n%s", want, shown)
		}
	}
	c.config("egress = \"off\"\n")
	if out := c.mustRun("egress", "apply"); !strings.Contains(out, "no lock") {
		t.Errorf("apply with egress = off said %q", out)
	}
	if _, _, code := c.run("egress", "show"); code != exitFailed {
		t.Errorf("show after egress = off: exit %d", code)
	}
	c.mustRun("egress", "remove")
}
