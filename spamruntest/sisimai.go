package spamruntest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// SisimaiResult is one recipient of a DSN as Sisimai reads it. Sisimai is
// the bounce parser senders run to act on bounces automatically, so what
// it reads is what a sender's software learns from a DSN.
type SisimaiResult struct {
	Recipient string `json:"recipient"`
	// Addresser is the sender of the bounced message.
	Addresser      string `json:"addresser"`
	DeliveryStatus string `json:"deliverystatus"`
	// Reason is Sisimai's verdict, such as "spamdetected", "userunknown"
	// or "expired"; it is what a sender acts on.
	Reason         string `json:"reason"`
	Action         string `json:"action"`
	DiagnosticCode string `json:"diagnosticcode"`
}

// ReadSisimai hands dsns to Sisimai (Debian's libsisimai-perl) in one run
// and returns what it reads, one result a recipient, in the order of dsns.
// A machine without Sisimai fails the test in CI and skips it elsewhere.
func ReadSisimai(tb testing.TB, dsns ...[]byte) []SisimaiResult {
	tb.Helper()
	perl := NeedCommand(tb, "perl", "perl")
	if err := exec.Command(perl, "-MSisimai", "-e", "1").Run(); err != nil {
		Missing(tb, "Sisimai (apt-get install libsisimai-perl)")
	}
	dir := tb.TempDir()
	// dump prints one JSON array a file, in the order of the arguments.
	args := []string{"-MSisimai", "-e", `print Sisimai->dump($_) for @ARGV`}
	for i, data := range dsns {
		path := filepath.Join(dir, fmt.Sprintf("dsn%04d.eml", i))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			tb.Fatal(err)
		}
		args = append(args, path)
	}
	cmd := exec.Command(perl, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("sisimai: %v\n%s", err, stderr.Bytes())
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	var all []SisimaiResult
	for range dsns {
		var got []SisimaiResult
		if err := dec.Decode(&got); err != nil {
			tb.Fatalf("sisimai output %q: %v", out, err)
		}
		all = append(all, got...)
	}
	if dec.More() {
		tb.Fatalf("sisimai output %q: more than %d reports", out, len(dsns))
	}
	return all
}

// SisimaiWant is what Sisimai should read from DSNs: every recipient
// failed, with Status and one of Reasons.
type SisimaiWant struct {
	// Recipients are the recipients it finds, in the order of the DSNs
	// and, within one, in the order the DSN lists them.
	Recipients []string
	Status     string
	// Reasons are the verdicts accepted. Status 5.7.1 alone reads as
	// "securityerror", which senders count as worth retrying: a DSN for
	// spam must make Sisimai say "spamdetected" or "policyviolation".
	Reasons []string
	// Sender, when set, is the sender of every bounced message; DSNs for
	// several senders leave it empty.
	Sender string
}

// CheckSisimai fails the test unless Sisimai reads dsns as want says. It
// runs as the subtest "sisimai", so that outside CI a machine without
// Sisimai skips this check alone and the rest of the test goes on.
func CheckSisimai(t *testing.T, want SisimaiWant, dsns ...[]byte) {
	t.Helper()
	t.Run("sisimai", func(t *testing.T) {
		var found []string
		for _, r := range ReadSisimai(t, dsns...) {
			t.Logf("sisimai: %s status %s reason %s (%s)", r.Recipient, r.DeliveryStatus, r.Reason, r.DiagnosticCode)
			found = append(found, r.Recipient)
			if r.DeliveryStatus != want.Status || r.Action != "failed" {
				t.Errorf("sisimai: %s status %q action %q, want %s failed", r.Recipient, r.DeliveryStatus, r.Action, want.Status)
			}
			if !slices.Contains(want.Reasons, r.Reason) {
				t.Errorf("sisimai: %s reason %q, want one of %q", r.Recipient, r.Reason, want.Reasons)
			}
			if want.Sender != "" && r.Addresser != want.Sender {
				t.Errorf("sisimai: %s addresser %q, want the original sender %s", r.Recipient, r.Addresser, want.Sender)
			}
		}
		if !slices.Equal(found, want.Recipients) {
			t.Errorf("sisimai found recipients %q in %d DSNs, want %q", found, len(dsns), want.Recipients)
		}
	})
}
