package submit

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun/spamruntest"
)

// A caller's command line is evidence, bounded so that a script started
// with a huge argv cannot push its messages over the spool's header limit.
func TestProcessEvidenceBoundsCommand(t *testing.T) {
	perl := spamruntest.NeedCommand(t, "perl", "perl-base")
	big := strings.Repeat("x", 100<<10)
	cmd := exec.Command(perl, "-e", "sleep 30", big, big)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	var ev = ProcessEvidence(cmd.Process.Pid, 1000)
	deadline := time.Now().Add(5 * time.Second)
	for len(ev.Command) < 3 && time.Now().Before(deadline) {
		// Until exec completes, /proc shows the test binary's argv.
		time.Sleep(10 * time.Millisecond)
		ev = ProcessEvidence(cmd.Process.Pid, 1000)
	}
	if len(ev.Command) < 3 || ev.Command[0] != perl || ev.Command[1] != "-e" {
		t.Fatalf("command = %.80q, want perl's argv", ev.Command)
	}
	n := len(strings.Join(ev.Command, "\x00"))
	if n > maxEvidenceCommand {
		t.Errorf("evidence keeps %d bytes of the command line, want at most %d", n, maxEvidenceCommand)
	}
}
