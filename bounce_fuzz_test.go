package spamrun_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamruntest"
)

// FuzzBounce holds the builder to its promise: whatever a site submitted,
// either Build refuses for one of the documented reasons, or it returns a
// DSN that a parser reads back with the same recipients and status and that
// owes nothing to the original's body.
func FuzzBounce(f *testing.F) {
	const boundary = "=_fuzz-boundary"
	seeds := []struct{ raw, sender, rcpts string }{
		{"From: info@shop1.example\r\nTo: a@example.org\r\nSubject: pills\r\nMessage-ID: <1@shop1.example>\r\n\r\nBuy now\r\n", "info@shop1.example", "a@example.org\nb@example.net"},
		{"Content-Type: multipart/mixed\r\nSubject: no boundary\r\n\r\n--x\r\nbroken\r\n", "a@example.org", "b@example.org"},
		{"Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nunterminated", "a@example.org", "b@example.org"},
		{"Subject: Gr\xfc\xdfe\r\nX-Nul: a\x00b\r\n\r\nK\xf6ln \x00\x01\r\n", "a@example.org", "b@example.org"},
		{"Subject: =?utf-8?b?w7w=?= \xe2\x82\xac\nTo: m\xc3\xbcller@example.de\n\nbody", "j\xc3\xb6rg@example.de", "m\xc3\xbcller@example.de"},
		{"Subject: no empty line\nBuy pills now\n", "a@example.org", "b@example.org"},
		{"Subject: mac\rTo: x@example.org\r\rBuy pills\r", "a@example.org", "b@example.org"},
		{"Auto-Submitted: auto-replied\r\n\r\naway", "a@example.org", "b@example.org"},
		{"Content-Type: multipart/report; report-type=delivery-status\r\n\r\n", "a@example.org", "b@example.org"},
		{"Subject: hi\r\n\r\nbody", "", "b@example.org"},
		{"Subject: hi\r\n\r\nbody", "a@example.org", ""},
		{"To: " + strings.Repeat("v@example.org,", 120) + "\r\n\r\nbody", "a@example.org", "b@example.org"},
		{"", "a@example.org", "b@example.org"},
	}
	for _, s := range seeds {
		f.Add([]byte(s.raw), s.sender, s.rcpts)
	}
	f.Fuzz(func(t *testing.T, raw []byte, sender, rcptList string) {
		if bytes.Contains(raw, []byte(boundary)) {
			return // a fixed boundary is a test seam; real DSNs get a random one
		}
		var rcpts []string
		if rcptList != "" {
			rcpts = strings.Split(rcptList, "\n")
		}
		m, err := spamrun.ParseMessage(raw, sender, rcpts)
		if err != nil {
			return // the builder only ever gets parsed messages
		}
		build := func(m *spamrun.Message) ([]byte, error) {
			b := seededBounce(m)
			b.Boundary = boundary
			return b.Build()
		}
		out, err := build(m)

		var refusal error
		switch {
		case m.Sender == "":
			refusal = spamrun.ErrNullSender
		case m.IsAutomatic():
			refusal = spamrun.ErrAutomatic
		case len(m.Recipients) == 0:
			refusal = spamrun.ErrNoRecipients
		}
		if refusal != nil || err != nil {
			if !errors.Is(err, refusal) || !spamrun.IsNoBounce(err) {
				t.Fatalf("Build error %v, want %v", err, refusal)
			}
			return
		}

		checkDSNWellFormed(t, out)
		_, rep := spamruntest.ParseDSN(t, out)
		var got []string
		for _, r := range rep.DeliveryStatus.RecipientDSNs {
			addr, ok := strings.CutPrefix(r.Get("Final-Recipient"), "rfc822; ")
			if !ok {
				addr, _ = strings.CutPrefix(r.Get("Final-Recipient"), "utf-8; ")
			}
			got = append(got, addr)
			if r.Get("Status") != "5.7.1" || r.Get("Action") != "failed" {
				t.Errorf("%s: status %q action %q", addr, r.Get("Status"), r.Get("Action"))
			}
		}
		if !slices.Equal(got, m.Recipients) {
			t.Fatalf("recipients %q, want %q", got, m.Recipients)
		}

		// The header alone must give the very same DSN: then nothing of the
		// body, the spam, can be in it.
		header := append(bytes.Clone(m.RawHeader()), "\r\n"...)
		hm, err := spamrun.ParseMessage(header, sender, rcpts)
		if err != nil {
			t.Fatal(err)
		}
		hout, err := build(hm)
		if err != nil {
			t.Fatalf("header alone: %v", err)
		}
		if !bytes.Equal(out, hout) {
			t.Fatalf("the DSN depends on the body:\n%s\nheader alone:\n%s", out, hout)
		}
	})
}
