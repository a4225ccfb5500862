package spamruntest

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestSamplesLoad(t *testing.T) {
	all, ham, spam := Samples(), HamSamples(), SpamSamples()
	if len(ham) < 14 || len(spam) < 14 {
		t.Fatalf("%d ham and %d spam samples, want at least 14 of each", len(ham), len(spam))
	}
	if len(all) != len(ham)+len(spam) {
		t.Fatalf("%d samples, but %d ham + %d spam", len(all), len(ham), len(spam))
	}
	if !slices.IsSortedFunc(all, func(a, b Sample) int { return strings.Compare(a.Name, b.Name) }) {
		t.Error("Samples are not sorted by name")
	}
	for _, s := range all {
		if want := strings.HasPrefix(s.Name, "spam-"); s.Spam != want || (!s.Spam && !strings.HasPrefix(s.Name, "ham-")) {
			t.Errorf("%s: Spam = %v; names start with ham- or spam-", s.Name, s.Spam)
		}
		if strings.HasSuffix(s.Name, ".eml") || len(s.Raw) < 100 {
			t.Errorf("%s: name %q, %d bytes", s.Name, s.Name, len(s.Raw))
		}
	}
	for _, s := range ham {
		if s.Spam {
			t.Errorf("HamSamples has %s", s.Name)
		}
	}
	for _, s := range spam {
		if !s.Spam {
			t.Errorf("SpamSamples has %s", s.Name)
		}
	}
	// The caller's copy is its own.
	all[0].Name = "changed"
	if Samples()[0].Name == "changed" {
		t.Error("Samples returns the package's own slice")
	}
}

func TestSamplesParse(t *testing.T) {
	crlf := 0
	for _, s := range Samples() {
		m := s.Message(t)
		if m.Sender == "" {
			t.Errorf("%s: no envelope sender", s.Name)
		}
		if len(m.Recipients) == 0 {
			t.Errorf("%s: no envelope recipients", s.Name)
		}
		if m.Subject == "" || (m.Text == "" && m.HTML == "") {
			t.Errorf("%s: subject %q, %d bytes of text, %d of HTML", s.Name, m.Subject, len(m.Text), len(m.HTML))
		}
		if m.Evidence.Script == "" && s.Name != "ham-cron-output" {
			t.Errorf("%s: no X-PHP-Originating-Script, which every PHP site's mail has", s.Name)
		}
		if bytes.Contains(s.Raw, []byte("\r\n")) {
			crlf++
		}
	}
	if crlf == 0 || crlf == len(Samples()) {
		t.Errorf("%d of %d samples use CRLF; want a mix of CRLF and LF", crlf, len(Samples()))
	}
}

func TestSampleEnvelope(t *testing.T) {
	raw := []byte("Return-Path: <bounce@shop1.example>\nFrom: Shop <shop@shop1.example>\n" +
		"To: a@example.com, B <b@example.net>\nCc: c@example.org\nBcc: d@example.com\nSubject: x\n\nhi\n")
	m := Sample{Name: "envelope", Raw: raw}.Message(t)
	if m.Sender != "bounce@shop1.example" {
		t.Errorf("sender %q, want the Return-Path", m.Sender)
	}
	if want := []string{"a@example.com", "b@example.net", "c@example.org", "d@example.com"}; !slices.Equal(m.Recipients, want) {
		t.Errorf("recipients %q, want %q", m.Recipients, want)
	}
	m = Sample{Name: "from", Raw: raw[bytes.IndexByte(raw, '\n')+1:]}.Message(t)
	if m.Sender != "shop@shop1.example" {
		t.Errorf("sender %q, want the From address", m.Sender)
	}
	if _, err := ParseSample([]byte("From: bad address@x y\nTo: a@example.com\n\nhi\n")); err == nil {
		t.Error("an envelope sender with white space was accepted")
	}
}

func TestGenerators(t *testing.T) {
	for name, gen := range map[string]func(string, int) []byte{
		"OrderConfirmation": OrderConfirmation,
		"GuestbookSpam":     GuestbookSpam,
		"ShopNewsletter":    ShopNewsletter,
		"AccountNotice":     AccountNotice,
	} {
		seen := map[string]bool{}
		for i := range 50 {
			raw := gen("shop1.example", i)
			if !bytes.Equal(raw, gen("shop1.example", i)) {
				t.Fatalf("%s(%d) differs between calls", name, i)
			}
			if seen[string(raw)] {
				t.Fatalf("%s(%d) repeats an earlier message", name, i)
			}
			seen[string(raw)] = true
			m := Sample{Name: name, Raw: raw}.Message(t)
			if len(m.Warnings) > 0 {
				t.Errorf("%s(%d): parse warnings %q", name, i, m.Warnings)
			}
			if !strings.Contains(m.Text, "shop1.example") {
				t.Errorf("%s(%d) does not mention the site", name, i)
			}
			if strings.Contains(m.Text, "%!") || strings.Contains(m.HTML, "%!") {
				t.Errorf("%s(%d) has a formatting error: %s", name, i, m.Text)
			}
		}
		if bytes.Equal(gen("shop1.example", 1), gen("shop2.example", 1)) {
			t.Errorf("%s ignores the site", name)
		}
	}
}
