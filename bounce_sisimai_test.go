package spamrun_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamruntest"
)

// TestBounceSisimai hands the DSNs to Sisimai, a bounce parser senders use
// to act on bounces automatically, and checks it reads what we meant: who
// failed, with which status, and why. The spam-run reason matters most:
// status 5.7.1 alone makes Sisimai say "securityerror", one of the reasons
// it counts as worth retrying, and the sender would never learn that its
// site was stopped for spam.
//
// UTF-8 addresses are left out: Sisimai 4.25 knows neither
// message/global-delivery-status nor non-ASCII addresses and reports
// nothing for such a DSN, however it is labelled.
func TestBounceSisimai(t *testing.T) {
	perl := spamruntest.NeedCommand(t, "perl", "perl")
	if err := exec.Command(perl, "-MSisimai", "-e", "1").Run(); err != nil {
		spamruntest.Missing(t, "Sisimai (apt-get install libsisimai-perl)")
	}
	spam := []string{"spamdetected", "policyviolation"}
	tests := []struct {
		name    string
		bounce  func(t *testing.T) *spamrun.Bounce
		rcpts   []string
		status  string
		reasons []string
	}{
		{"spam run", func(t *testing.T) *spamrun.Bounce {
			return seededBounce(spamRunOriginal(t, "victim@example.org", "other@example.net"))
		}, []string{"victim@example.org", "other@example.net"}, "5.7.1", spam},
		{"spam run, 8-bit header", func(t *testing.T) *spamrun.Bounce {
			raw := "From: info@shop1.example\r\nSubject: Gr\xfc\xdfe\r\nMessage-ID: <8bit@shop1.example>\r\n\r\n" + dsnSpamBody
			return seededBounce(parseOriginal(t, raw, "info@shop1.example", "victim@example.org"))
		}, []string{"victim@example.org"}, "5.7.1", spam},
		{"relay refused", relayRefusedBounce, []string{"gone@example.net"}, "5.1.1", []string{"userunknown"}},
		{"expired", func(t *testing.T) *spamrun.Bounce {
			b := seededBounce(spamRunOriginal(t))
			b.Reason = spamrun.BounceExpired
			return b
		}, []string{"victim@example.org"}, "4.4.7", []string{"expired"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.bounce(t).Build()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "dsn.eml")
			if err := os.WriteFile(path, out, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(perl, "-MSisimai", "-e", `print Sisimai->dump($ARGV[0])`, path)
			cmd.Stderr = os.Stderr
			js, err := cmd.Output()
			if err != nil {
				t.Fatalf("sisimai: %v", err)
			}
			var got []struct {
				Recipient      string `json:"recipient"`
				Addresser      string `json:"addresser"`
				DeliveryStatus string `json:"deliverystatus"`
				Reason         string `json:"reason"`
				Action         string `json:"action"`
				DiagnosticCode string `json:"diagnosticcode"`
			}
			if err := json.Unmarshal(js, &got); err != nil {
				t.Fatalf("sisimai output %q: %v", js, err)
			}
			var rcpts []string
			for _, r := range got {
				rcpts = append(rcpts, r.Recipient)
				t.Logf("sisimai: %s status %s reason %s (%s)", r.Recipient, r.DeliveryStatus, r.Reason, r.DiagnosticCode)
				if r.DeliveryStatus != tt.status {
					t.Errorf("%s: status %q, want %q", r.Recipient, r.DeliveryStatus, tt.status)
				}
				if !slices.Contains(tt.reasons, r.Reason) {
					t.Errorf("%s: reason %q, want one of %q", r.Recipient, r.Reason, tt.reasons)
				}
				if r.Action != "failed" {
					t.Errorf("%s: action %q, want failed", r.Recipient, r.Action)
				}
				if r.Addresser != "info@shop1.example" {
					t.Errorf("%s: addresser %q, want the original sender", r.Recipient, r.Addresser)
				}
			}
			if !slices.Equal(rcpts, tt.rcpts) {
				t.Errorf("sisimai found recipients %q, want %q", rcpts, tt.rcpts)
			}
		})
	}
}
