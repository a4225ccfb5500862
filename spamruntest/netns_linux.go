package spamruntest

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// netnsEnv names the test that runs inside its own network namespace.
const netnsEnv = "SPAMRUNTEST_NETNS"

// InNetNS runs the calling test again, alone, in a process of its own
// inside a new network namespace whose loopback interface is up, and
// reports whether the caller is that run:
//
//	func TestDoors(t *testing.T) {
//		if !spamruntest.InNetNS(t) {
//			return // the run in the namespace has passed or failed
//		}
//		// here: own loopback, own nftables ruleset, own addresses
//	}
//
// Outside, it waits for the inner run and fails t with its output when it
// fails. Inside, nftables rules and addresses touch only the namespace,
// and go with it when the process exits. It needs root and unshare; in CI
// their absence fails the test.
func InNetNS(t *testing.T) bool {
	t.Helper()
	if os.Getenv(netnsEnv) == t.Name() {
		if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			t.Fatalf("bringing up the namespace's loopback: %v: %s", err, out)
		}
		return true
	}
	if os.Geteuid() != 0 {
		Missing(t, "root (the test makes a network namespace of its own)")
	}
	NeedCommand(t, "unshare", "util-linux")
	NeedCommand(t, "ip", "iproute2")
	var pattern []string
	for _, part := range strings.Split(t.Name(), "/") {
		pattern = append(pattern, "^"+regexp.QuoteMeta(part)+"$")
	}
	args := []string{"-n", "--", os.Args[0], "-test.run=" + strings.Join(pattern, "/"), "-test.v", "-test.count=1"}
	if d, ok := t.Deadline(); ok {
		args = append(args, "-test.timeout="+strings.TrimSpace(timeUntil(d)))
	}
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), netnsEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the run in its network namespace failed: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "--- SKIP: "+t.Name()) {
		t.Skipf("skipped in its network namespace:\n%s", out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("the run in its network namespace did not pass %s:\n%s", t.Name(), out)
	}
	if testing.Verbose() {
		t.Logf("in its network namespace:\n%s", out)
	}
	return false
}

// timeUntil is the time left before d, as -test.timeout takes it.
func timeUntil(d time.Time) string { return time.Until(d).Round(time.Second).String() }
