package spamrun_test

import (
	"bytes"
	"errors"
	"flag"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jhillyerd/enmime/v2"
	"github.com/jhillyerd/enmime/v2/dsn"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamruntest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var (
	dsnArrival = time.Date(2026, 11, 2, 8, 59, 30, 0, time.UTC)
	dsnDate    = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
)

const dsnSpamBody = "CHEAP PILLS!!! Visit http://pills.example.top/buy now, limited offer.\r\n"

// spamRunOriginal is a typical message of a spam run: a contact form abused to
// mail outside recipients.
func spamRunOriginal(t testing.TB, rcpts ...string) *spamrun.Message {
	t.Helper()
	if rcpts == nil {
		rcpts = []string{"victim@example.org"}
	}
	raw := "From: Shop One <info@shop1.example>\r\n" +
		"To: " + strings.Join(rcpts, ", ") + "\r\n" +
		"Subject: Your order is waiting\r\n" +
		"Message-ID: <20261102085930.1234@shop1.example>\r\n" +
		"Date: Mon, 2 Nov 2026 08:59:30 +0000\r\n" +
		"X-PHP-Originating-Script: 1001:contact.php\r\n" +
		"\r\n" + dsnSpamBody
	return parseOriginal(t, raw, "info@shop1.example", rcpts...)
}

func parseOriginal(t testing.TB, raw, sender string, rcpts ...string) *spamrun.Message {
	t.Helper()
	m, err := spamrun.ParseMessage([]byte(raw), sender, rcpts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// seededBounce returns a spam-run bounce with every seam fixed.
func seededBounce(m *spamrun.Message) *spamrun.Bounce {
	return &spamrun.Bounce{
		Original:     m,
		ReportingMTA: "web1.example.net",
		ArticleURL:   "https://support.example.com/spam-run",
		Site:         "shop1",
		Arrival:      dsnArrival,
		Date:         dsnDate,
		MessageID:    "dsn.1@web1.example.net",
		Boundary:     "=_dsn-boundary",
	}
}

func TestBounceGolden(t *testing.T) {
	many := []string{}
	for _, c := range "abcdefghijkl" {
		many = append(many, string(c)+"@example.org")
	}
	tests := []struct {
		name   string
		bounce func(t *testing.T) *spamrun.Bounce
	}{
		{"spamrun-ascii", func(t *testing.T) *spamrun.Bounce {
			return seededBounce(spamRunOriginal(t))
		}},
		{"spamrun-recipients", func(t *testing.T) *spamrun.Bounce {
			return seededBounce(spamRunOriginal(t, many...))
		}},
		{"spamrun-utf8", func(t *testing.T) *spamrun.Bounce {
			raw := "From: Jörg <jörg@bücher.example>\r\n" +
				"To: müller@example.de\r\n" +
				"Subject: Günstige Pillen für Sie\r\n" +
				"Message-ID: <utf8.1@bücher.example>\r\n" +
				"\r\n" + dsnSpamBody
			b := seededBounce(parseOriginal(t, raw, "jörg@bücher.example", "müller@example.de", "plain@example.org"))
			b.Site = "bücher"
			return b
		}},
		{"spamrun-8bit", func(t *testing.T) *spamrun.Bounce {
			// A script that wrote its Latin-1 subject raw, with a NUL
			// from a broken template.
			raw := "From: info@shop1.example\r\n" +
				"To: victim@example.org\r\n" +
				"Subject: Gr\xfc\xdfe aus K\xf6ln\r\n" +
				"X-Template: a\x00b\r\n" +
				"\r\n" + dsnSpamBody
			return seededBounce(parseOriginal(t, raw, "info@shop1.example", "victim@example.org"))
		}},
		{"relay-refused", relayRefusedBounce},
		{"expired", func(t *testing.T) *spamrun.Bounce {
			b := seededBounce(spamRunOriginal(t))
			b.Reason = spamrun.BounceExpired
			b.Diagnostic = "451 4.3.0 Temporary lookup failure"
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.bounce(t).Build()
			if err != nil {
				t.Fatal(err)
			}
			checkDSNWellFormed(t, out)
			goldenDSN(t, filepath.Join("testdata", "dsn", tt.name+".eml"), out)
		})
	}
}

// goldenDSN compares got with the file's bytes, or rewrites the file under
// -update.
func goldenDSN(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d:\n got: %q\nwant: %q\n(run go test -update if the change is intended)", path, i+1, g, w)
			}
		}
		t.Fatalf("%s differs (run go test -update if the change is intended)", path)
	}
}

// checkDSNWellFormed checks what every DSN must be on the wire: CRLF line
// endings only, no line over 998 octets, no NUL, valid UTF-8 throughout.
func checkDSNWellFormed(t testing.TB, out []byte) {
	t.Helper()
	if bytes.IndexByte(out, 0) >= 0 {
		t.Error("DSN contains a NUL byte")
	}
	if !bytes.HasSuffix(out, []byte("\r\n")) {
		t.Error("DSN does not end with CRLF")
	}
	for i, line := range bytes.Split(out, []byte("\r\n")) {
		if bytes.ContainsAny(line, "\r\n") {
			t.Fatalf("line %d has a bare CR or LF: %q", i+1, line)
		}
		if len(line) > 998 {
			t.Fatalf("line %d is %d octets long", i+1, len(line))
		}
	}
	if !utf8.Valid(out) {
		t.Error("DSN is not valid UTF-8")
	}
}

// reportedPart returns the third part of the report, where the original's
// header is quoted.
func reportedPart(t testing.TB, env *enmime.Envelope) *enmime.Part {
	t.Helper()
	p := env.Root.FirstChild
	for i := 0; i < 2 && p != nil; i++ {
		p = p.NextSibling
	}
	if p == nil {
		t.Fatal("DSN has no third part")
	}
	return p
}

func TestBounceRoundTrip(t *testing.T) {
	rcpts := []string{"victim@example.org", "other@example.net"}
	orig := spamRunOriginal(t, rcpts...)
	out, err := seededBounce(orig).Build()
	if err != nil {
		t.Fatal(err)
	}
	env, rep := spamruntest.ParseDSN(t, out)

	if got := env.GetHeader("To"); got != "<info@shop1.example>" {
		t.Errorf("To = %q, want the envelope sender", got)
	}
	if got := env.GetHeader("Auto-Submitted"); got != "auto-replied" {
		t.Errorf("Auto-Submitted = %q", got)
	}
	if got := env.GetHeader("Subject"); got != "Undelivered Mail Returned to Sender: Your order is waiting" {
		t.Errorf("Subject = %q", got)
	}
	if got := env.GetHeader("In-Reply-To"); got != "<20261102085930.1234@shop1.example>" {
		t.Errorf("In-Reply-To = %q", got)
	}
	from, err := mail.ParseAddress(env.GetHeader("From"))
	if err != nil || from.Address != "MAILER-DAEMON@web1.example.net" || from.Name != "Mail Delivery System" {
		t.Errorf("From = %q (%v)", env.GetHeader("From"), err)
	}
	if ct := env.Root.Header.Get("Content-Type"); !strings.Contains(ct, "report-type=delivery-status") {
		t.Errorf("Content-Type = %q, want report-type=delivery-status", ct)
	}

	if len(rep.DeliveryStatus.MessageDSNs) != 1 {
		t.Fatalf("%d per-message blocks, want 1", len(rep.DeliveryStatus.MessageDSNs))
	}
	pm := rep.DeliveryStatus.MessageDSNs[0]
	if got := pm.Get("Reporting-MTA"); got != "dns; web1.example.net" {
		t.Errorf("Reporting-MTA = %q", got)
	}
	if got := pm.Get("Arrival-Date"); got != "Mon, 02 Nov 2026 08:59:30 +0000" {
		t.Errorf("Arrival-Date = %q", got)
	}
	var got []string
	for _, r := range rep.DeliveryStatus.RecipientDSNs {
		got = append(got, strings.TrimPrefix(r.Get("Final-Recipient"), "rfc822; "))
		if !dsn.IsFailed(r) {
			t.Errorf("Action = %q, want failed", r.Get("Action"))
		}
		if s := r.Get("Status"); s != "5.7.1" {
			t.Errorf("Status = %q, want 5.7.1", s)
		}
		if d := r.Get("Diagnostic-Code"); !strings.HasPrefix(d, "smtp; 550 5.7.1 ") || !strings.Contains(d, "spam") {
			t.Errorf("Diagnostic-Code = %q", d)
		}
		if r.Get("Last-Attempt-Date") == "" {
			t.Error("no Last-Attempt-Date")
		}
	}
	if !slices.Equal(got, rcpts) {
		t.Errorf("recipients %q, want %q", got, rcpts)
	}

	text := rep.Explanation.Text
	for _, want := range []string{"https://support.example.com/spam-run", `"shop1"`, "spam run", "Your order is waiting", "Mon, 02 Nov 2026 08:59:30 +0000"} {
		if !strings.Contains(text, want) {
			t.Errorf("explanation lacks %q:\n%s", want, text)
		}
	}

	hp := reportedPart(t, env)
	if hp.ContentType != "text/rfc822-headers" {
		t.Errorf("third part is %s, want text/rfc822-headers", hp.ContentType)
	}
	if !bytes.Equal(hp.Content, orig.RawHeader()) {
		t.Errorf("quoted header:\n%q\nwant:\n%q", hp.Content, orig.RawHeader())
	}
	if bytes.Contains(out, []byte("CHEAP PILLS")) {
		t.Error("the DSN contains the original body")
	}
}

func TestBounceGlobalTypes(t *testing.T) {
	tests := []struct {
		name                   string
		sender, rcpt, subject  string
		statusType, headerType string
		smtputf8               bool
	}{
		{"ascii", "a@example.org", "b@example.org", "hello", "message/delivery-status", "text/rfc822-headers", false},
		{"utf8 header", "a@example.org", "b@example.org", "grüße", "message/delivery-status", "message/global-headers", true},
		{"utf8 recipient", "a@example.org", "bé@example.org", "hello", "message/global-delivery-status", "text/rfc822-headers", true},
		{"utf8 sender", "á@example.org", "b@example.org", "hello", "message/delivery-status", "text/rfc822-headers", true},
		{"8-bit header", "a@example.org", "b@example.org", "gr\xfc\xdfe", "message/delivery-status", "message/global-headers", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := "From: site@example.org\r\nSubject: " + tt.subject + "\r\n\r\nbody\r\n"
			b := seededBounce(parseOriginal(t, raw, tt.sender, tt.rcpt))
			out, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			checkDSNWellFormed(t, out)
			env, rep := spamruntest.ParseDSN(t, out)
			if got := env.Root.FirstChild.NextSibling.ContentType; got != tt.statusType {
				t.Errorf("status part is %s, want %s", got, tt.statusType)
			}
			hp := reportedPart(t, env)
			if hp.ContentType != tt.headerType {
				t.Errorf("header part is %s, want %s", hp.ContentType, tt.headerType)
			}
			if b.SMTPUTF8() != tt.smtputf8 {
				t.Errorf("SMTPUTF8() = %v, want %v", b.SMTPUTF8(), tt.smtputf8)
			}
			if eight := bytes.ContainsFunc(out, func(r rune) bool { return r >= 0x80 }); eight != tt.smtputf8 {
				t.Errorf("DSN has 8-bit bytes: %v, want %v", eight, tt.smtputf8)
			}
			wantType := "rfc822; "
			if tt.statusType == "message/global-delivery-status" {
				wantType = "utf-8; "
			}
			if got := rep.DeliveryStatus.RecipientDSNs[0].Get("Final-Recipient"); got != wantType+tt.rcpt {
				t.Errorf("Final-Recipient = %q, want %q", got, wantType+tt.rcpt)
			}
		})
	}
}

func TestBounceEightBitHeader(t *testing.T) {
	raw := "Subject: K\xf6ln\r\nX-Bad: a\x00b\xff\r\n\r\nbody\r\n"
	out, err := seededBounce(parseOriginal(t, raw, "a@example.org", "b@example.org")).Build()
	if err != nil {
		t.Fatal(err)
	}
	checkDSNWellFormed(t, out)
	env, _ := spamruntest.ParseDSN(t, out)
	got := string(reportedPart(t, env).Content)
	want := "Subject: K\uFFFDln\r\nX-Bad: a\uFFFDb\uFFFD\r\n"
	if got != want {
		t.Errorf("quoted header %q, want %q", got, want)
	}
}

// TestBounceHeaderOnly covers originals whose body a naive split would
// quote: no empty line after the header, old Mac line endings, and an mbox
// separator in front.
func TestBounceHeaderOnly(t *testing.T) {
	tests := []struct{ name, raw, want string }{
		{"no empty line", "Subject: hi\nTo: x@example.org\nBuy pills now\nmore\n", "Subject: hi\r\nTo: x@example.org\r\n"},
		{"bare CR", "Subject: hi\rTo: x@example.org\r\rBuy pills now\r", "Subject: hi\r\nTo: x@example.org\r\n"},
		{"folded", "Subject: hi\n there\nTo: x@example.org\n\nBuy pills now\n", "Subject: hi\r\n there\r\nTo: x@example.org\r\n"},
		{"mbox", "From someone Mon Nov  2 09:00:00 2026\nSubject: hi\n\nBuy pills now\n", "Subject: hi\r\n"},
		{"no header", "Buy pills now\nSubject: hi\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := seededBounce(parseOriginal(t, tt.raw, "a@example.org", "b@example.org")).Build()
			if err != nil {
				t.Fatal(err)
			}
			checkDSNWellFormed(t, out)
			if bytes.Contains(out, []byte("Buy pills")) {
				t.Error("the DSN contains the original body")
			}
			env, _ := spamruntest.ParseDSN(t, out)
			if tt.want == "" {
				if p := env.Root.FirstChild.NextSibling.NextSibling; p != nil {
					t.Errorf("nothing to quote, yet a third part %s: %q", p.ContentType, p.Content)
				}
				return
			}
			if got := string(reportedPart(t, env).Content); got != tt.want {
				t.Errorf("quoted header %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBounceLongHeaderLine(t *testing.T) {
	var rcpts []string
	for i := range 200 {
		rcpts = append(rcpts, "victim"+strings.Repeat("x", i%7)+"@example.org")
	}
	to := "To: " + strings.Join(rcpts, ",")
	raw := "Subject: hi\r\n" + to + "\r\n\r\nbody\r\n"
	out, err := seededBounce(parseOriginal(t, raw, "a@example.org", "b@example.org")).Build()
	if err != nil {
		t.Fatal(err)
	}
	checkDSNWellFormed(t, out)
	if !bytes.Contains(out, []byte("Content-Transfer-Encoding: quoted-printable\r\n\r\nSubject: hi")) {
		t.Error("the quoted header is not quoted-printable")
	}
	env, _ := spamruntest.ParseDSN(t, out)
	if got, want := string(reportedPart(t, env).Content), "Subject: hi\r\n"+to+"\r\n"; got != want {
		t.Errorf("the quoted header does not decode to the original:\n%q", got)
	}
}

func TestBounceRefused(t *testing.T) {
	tests := []struct {
		name string
		msg  func(t *testing.T) *spamrun.Message
		want error
	}{
		{"null sender", func(t *testing.T) *spamrun.Message {
			return parseOriginal(t, "Subject: hi\r\n\r\nbody\r\n", "<>", "b@example.org")
		}, spamrun.ErrNullSender},
		{"auto-replied", func(t *testing.T) *spamrun.Message {
			return parseOriginal(t, "Auto-Submitted: auto-replied\r\nSubject: away\r\n\r\nbody\r\n", "a@example.org", "b@example.org")
		}, spamrun.ErrAutomatic},
		{"auto-generated", func(t *testing.T) *spamrun.Message {
			return parseOriginal(t, "Auto-Submitted: Auto-Generated\r\nSubject: cron\r\n\r\nbody\r\n", "a@example.org", "b@example.org")
		}, spamrun.ErrAutomatic},
		{"a bounce", func(t *testing.T) *spamrun.Message {
			out, err := seededBounce(spamRunOriginal(t)).Build()
			if err != nil {
				t.Fatal(err)
			}
			// A DSN that came back with a sender: still never answered.
			return parseOriginal(t, string(out), "postmaster@example.org", "info@shop1.example")
		}, spamrun.ErrAutomatic},
		{"no recipients", func(t *testing.T) *spamrun.Message {
			return parseOriginal(t, "Subject: hi\r\n\r\nbody\r\n", "a@example.org")
		}, spamrun.ErrNoRecipients},
		{"auto-submitted no", func(t *testing.T) *spamrun.Message {
			return parseOriginal(t, "Auto-Submitted: no\r\nSubject: hi\r\n\r\nbody\r\n", "a@example.org", "b@example.org")
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := seededBounce(tt.msg(t))
			out, err := b.Build()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if out != nil {
				t.Error("a refusal returned a DSN")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !spamrun.IsNoBounce(err) {
				t.Errorf("IsNoBounce(%v) = false", err)
			}
			var nb *spamrun.NoBounceError
			if !errors.As(err, &nb) || nb.Reason == "" {
				t.Errorf("err %v is not a *NoBounceError with a reason", err)
			}
			if !strings.HasPrefix(err.Error(), "spamrun: ") {
				t.Errorf("err %q lacks the package prefix", err)
			}
			if b.SMTPUTF8() {
				t.Error("SMTPUTF8() is true for a refused bounce")
			}
		})
	}
}

func TestBounceBadSettings(t *testing.T) {
	tests := []struct {
		name string
		set  func(b *spamrun.Bounce)
	}{
		{"no original", func(b *spamrun.Bounce) { b.Original = nil }},
		{"no host", func(b *spamrun.Bounce) { b.ReportingMTA = "" }},
		{"host with space", func(b *spamrun.Bounce) { b.ReportingMTA = "web 1" }},
		{"remote MTA", func(b *spamrun.Bounce) { b.RemoteMTA = "relay\r\nX: y" }},
		{"status", func(b *spamrun.Bounce) { b.Status = "5.7" }},
		{"status class", func(b *spamrun.Bounce) { b.Status = "3.0.0" }},
		{"action", func(b *spamrun.Bounce) { b.Action = "bounced" }},
		{"recipient status", func(b *spamrun.Bounce) {
			b.Recipients = []spamrun.BounceRecipient{{Address: "b@example.org", Status: "550"}}
		}},
		{"recipient address", func(b *spamrun.Bounce) {
			b.Recipients = []spamrun.BounceRecipient{{Address: "b@example.org\r\nBcc: x@y"}}
		}},
		{"empty recipient", func(b *spamrun.Bounce) { b.Recipients = []spamrun.BounceRecipient{{}} }},
		{"envelope ID", func(b *spamrun.Bounce) { b.EnvelopeID = "id with space" }},
		{"message ID", func(b *spamrun.Bounce) { b.MessageID = "<x@y>" }},
		{"from", func(b *spamrun.Bounce) { b.From = &mail.Address{Address: "not an address"} }},
		{"boundary", func(b *spamrun.Bounce) { b.Boundary = strings.Repeat("b", 71) }},
		{"boundary in header", func(b *spamrun.Bounce) { b.Boundary = "inside" }},
		{"reason", func(b *spamrun.Bounce) { b.Reason = 99 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := "Subject: hi\r\nX-Trap: --inside\r\n\r\nbody\r\n"
			b := seededBounce(parseOriginal(t, raw, "a@example.org", "b@example.org"))
			tt.set(b)
			_, err := b.Build()
			if !errors.Is(err, spamrun.ErrBadBounce) {
				t.Fatalf("err = %v, want ErrBadBounce", err)
			}
			if spamrun.IsNoBounce(err) {
				t.Errorf("IsNoBounce(%v) = true for a bad setting", err)
			}
		})
	}
}

func TestBounceRecipientOverrides(t *testing.T) {
	b := seededBounce(spamRunOriginal(t, "a@example.org", "b@example.org"))
	b.Reason = spamrun.BounceRelayRefused
	b.Status = "5.0.0"
	b.Diagnostic = "554 5.0.0 \x00Transaction\r\n failed\xff"
	last := dsnDate.Add(-time.Minute)
	b.Recipients = []spamrun.BounceRecipient{
		{Address: "a@example.org"},
		{Address: "<b@example.org>", Status: "5.2.2", Diagnostic: "552 5.2.2 Mailbox full", LastAttempt: last},
	}
	given := slices.Clone(b.Recipients)
	out, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.Recipients, given) {
		t.Errorf("Build changed the caller's recipients: %+v", b.Recipients)
	}
	_, rep := spamruntest.ParseDSN(t, out)
	rs := rep.DeliveryStatus.RecipientDSNs
	if len(rs) != 2 {
		t.Fatalf("%d recipients, want 2", len(rs))
	}
	for i, want := range []struct{ rcpt, status, diag, last string }{
		{"rfc822; a@example.org", "5.0.0", "smtp; 554 5.0.0 ?Transaction failed?", "Mon, 02 Nov 2026 09:00:00 +0000"},
		{"rfc822; b@example.org", "5.2.2", "smtp; 552 5.2.2 Mailbox full", "Mon, 02 Nov 2026 08:59:00 +0000"},
	} {
		r := rs[i]
		if r.Get("Final-Recipient") != want.rcpt || r.Get("Status") != want.status ||
			r.Get("Diagnostic-Code") != want.diag || r.Get("Last-Attempt-Date") != want.last {
			t.Errorf("recipient %d = %v, want %+v", i, r, want)
		}
	}
}

func TestBounceCustomText(t *testing.T) {
	b := seededBounce(spamRunOriginal(t))
	b.Text = "Eigen tekst: uw website is uitgeschakeld.\nZie https://example.nl/spam\n"
	b.From = &mail.Address{Name: "Postmaster", Address: "postmaster@hosting.example"}
	out, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	env, rep := spamruntest.ParseDSN(t, out)
	if got := strings.ReplaceAll(rep.Explanation.Text, "\r\n", "\n"); got != b.Text {
		t.Errorf("explanation %q, want %q", got, b.Text)
	}
	if got := env.GetHeader("From"); got != `"Postmaster" <postmaster@hosting.example>` {
		t.Errorf("From = %q", got)
	}
}

// TestBounceQuotedFrom: a From address with a quoted local part, held as
// net/mail holds it (without the quotes), is taken and written quoted.
func TestBounceQuotedFrom(t *testing.T) {
	b := seededBounce(spamRunOriginal(t))
	b.From = &mail.Address{Name: "Mail Desk", Address: "mail desk@hosting.example"}
	out, err := b.Build()
	if err != nil {
		t.Fatalf("From <\"mail desk\"@hosting.example>: %v", err)
	}
	env, _ := spamruntest.ParseDSN(t, out)
	if got := env.GetHeader("From"); got != `"Mail Desk" <"mail desk"@hosting.example>` {
		t.Errorf("From = %q", got)
	}
	for _, bad := range []string{"mail\rdesk@hosting.example", "desk@", "@hosting.example", "desk@host ing.example"} {
		b.From = &mail.Address{Address: bad}
		if _, err := b.Build(); err == nil {
			t.Errorf("From <%q> was taken", bad)
		}
	}
}

func TestBounceDefaultSeams(t *testing.T) {
	b := seededBounce(spamRunOriginal(t))
	b.Date, b.MessageID, b.Boundary = time.Time{}, "", ""
	before := time.Now().Add(-time.Second)
	out1, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	out2, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	env, _ := spamruntest.ParseDSN(t, out1)
	if !regexp.MustCompile(`^<[^<>@ ]+@web1\.example\.net>$`).MatchString(env.GetHeader("Message-Id")) {
		t.Errorf("Message-ID = %q, want one at the reporting host", env.GetHeader("Message-Id"))
	}
	date, err := mail.ParseDate(env.GetHeader("Date"))
	if err != nil || date.Before(before) || date.After(time.Now().Add(time.Second)) {
		t.Errorf("Date = %q (%v), want now", env.GetHeader("Date"), err)
	}
	env2, _ := spamruntest.ParseDSN(t, out2)
	if env.GetHeader("Message-Id") == env2.GetHeader("Message-Id") {
		t.Error("two DSNs got the same Message-ID")
	}
	if env.Root.Boundary == env2.Root.Boundary {
		t.Error("two DSNs got the same boundary")
	}
}

// relayRefusedBounce is the DSN for a relay that refused one of two
// recipients as unknown.
func relayRefusedBounce(t *testing.T) *spamrun.Bounce {
	b := seededBounce(spamRunOriginal(t, "victim@example.org", "gone@example.net"))
	b.Reason = spamrun.BounceRelayRefused
	b.RemoteMTA = "relay.example.net"
	b.Recipients = []spamrun.BounceRecipient{{
		Address:    "gone@example.net",
		Status:     "5.1.1",
		Diagnostic: "550 5.1.1 <gone@example.net>: Recipient address rejected: User unknown",
	}}
	return b
}
