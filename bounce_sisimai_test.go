package spamrun_test

import (
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
			spamruntest.CheckSisimai(t, spamruntest.SisimaiWant{
				Recipients: tt.rcpts, Status: tt.status, Reasons: tt.reasons, Sender: "info@shop1.example",
			}, out)
		})
	}
}
