package main

import (
	"os"
	"os/exec"
	"os/user"
	"strings"
	"testing"

	"github.com/spamrun/spamrun/spamruntest"
)

// TestInstallEgress installs into a prefix with --egress, in a network
// namespace of the test's own: install.sh loads the lock its configuration
// describes, exempting the installation's user, loads it again as the
// changed configuration says on the next run, and --uninstall lifts it.
func TestInstallEgress(t *testing.T) {
	if !spamruntest.InNetNS(t) {
		return
	}
	nft := spamruntest.NeedCommand(t, "nft", "nftables")
	spamruntest.NeedCommand(t, "useradd", "passwd")
	spamruntest.NeedCommand(t, "groupadd", "passwd")
	prefix, err := os.MkdirTemp("/tmp", "spamrun-egress-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(prefix) })
	if err := os.Chmod(prefix, 0o755); err != nil {
		t.Fatal(err)
	}
	h := &hostInstall{t: t, group: randomName("spamrun-e"), prefix: prefix, config: prefix + "/etc/spamrun/spamrun.toml"}
	t.Cleanup(func() {
		if _, err := user.Lookup(h.group); err == nil {
			if out, err := exec.Command("userdel", h.group).CombinedOutput(); err != nil {
				t.Errorf("userdel %s: %v: %s", h.group, err, out)
			}
		}
		if _, err := user.LookupGroup(h.group); err == nil {
			if out, err := exec.Command("groupdel", h.group).CombinedOutput(); err != nil {
				t.Errorf("groupdel %s: %v: %s", h.group, err, out)
			}
		}
	})
	table := func() string {
		t.Helper()
		out, err := exec.Command(nft, "list", "table", "inet", "spamrun").CombinedOutput()
		if err != nil {
			t.Fatalf("nft list table inet spamrun: %v: %s", err, out)
		}
		return string(out)
	}

	out := h.install("--no-divert", "--egress")
	if !strings.Contains(out, "egress lock applied: site users' SMTP (ports 25, 587) redirected to 127.0.0.1:10025 and [::1]:10025, 465 reset") {
		t.Fatalf("install.sh did not say it applied the lock:\n%s", out)
	}
	u, err := user.Lookup(h.group)
	if err != nil {
		t.Fatal(err)
	}
	rules := table()
	for _, want := range []string{"elements = { 0, ", ", " + u.Uid, "redirect to :10025"} {
		if !strings.Contains(rules, want) {
			t.Errorf("the lock lacks %q (the installation's user is UID %s):\n%s", want, u.Uid, rules)
		}
	}

	cfg, err := os.ReadFile(h.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), `egress = "redirect"`, `egress = "reject"`, 1))
	if err := os.WriteFile(h.config, cfg, 0o640); err != nil {
		t.Fatal(err)
	}
	h.install("--no-divert", "--egress")
	if rules := table(); strings.Contains(rules, "redirect") && !strings.Contains(rules, "mode reject") || !strings.Contains(rules, "tcp dport { 25, 465, 587 }") {
		t.Errorf("after egress = \"reject\", the lock is:\n%s", rules)
	}

	out = h.install("--egress", "--uninstall")
	if !strings.Contains(out, "removed the egress lock") {
		t.Errorf("--uninstall --egress said:\n%s", out)
	}
	if out, err := exec.Command(nft, "list", "tables").CombinedOutput(); err != nil || strings.Contains(string(out), "spamrun") {
		t.Errorf("after --uninstall: %v\n%s", err, out)
	}
}
