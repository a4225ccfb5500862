package spamrun_test

import (
	"bytes"
	"errors"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/spamrun/spamrun"
)

const multipartMessage = "From: Shop <orders@shop1.example>\r\n" +
	"To: customer@example.org\r\n" +
	"Subject: =?UTF-8?Q?Bestelling_ontvangen_=E2=9C=93?=\r\n" +
	"X-PHP-Originating-Script: 1001:checkout.php\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: multipart/alternative; boundary=\"b2\"\r\n" +
	"\r\n" +
	"--b2\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Bedankt voor uw bestelling.\r\n" +
	"--b2\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"\r\n" +
	"<p>Bedankt voor uw <b>bestelling</b>.</p>\r\n" +
	"--b2--\r\n" +
	"--b1\r\n" +
	"Content-Type: application/pdf; name=\"factuur.pdf\"\r\n" +
	"Content-Disposition: attachment; filename=\"factuur.pdf\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"JVBERi0xLjQK\r\n" +
	"--b1--\r\n"

func TestParseMessage(t *testing.T) {
	m, err := spamrun.ParseMessage([]byte(multipartMessage), "orders@shop1.example", []string{"customer@example.org", "<copy@example.net>"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Sender != "orders@shop1.example" || !slices.Equal(m.Recipients, []string{"customer@example.org", "copy@example.net"}) {
		t.Errorf("envelope: %q %q", m.Sender, m.Recipients)
	}
	if m.Subject != "Bestelling ontvangen ✓" {
		t.Errorf("Subject = %q", m.Subject)
	}
	if strings.TrimSpace(m.Text) != "Bedankt voor uw bestelling." || !strings.Contains(m.HTML, "<b>bestelling</b>") {
		t.Errorf("Text %q HTML %q", m.Text, m.HTML)
	}
	want := []spamrun.Attachment{{Name: "factuur.pdf", ContentType: "application/pdf", Size: 9}}
	if !slices.Equal(m.Attachments, want) {
		t.Errorf("Attachments = %+v, want %+v", m.Attachments, want)
	}
	if m.Evidence.Script != "1001:checkout.php" {
		t.Errorf("Evidence.Script = %q", m.Evidence.Script)
	}
	if len(m.Warnings) != 0 {
		t.Errorf("Warnings = %q", m.Warnings)
	}
	if got := m.Addresses("From"); len(got) != 1 || got[0].Address != "orders@shop1.example" || got[0].Name != "Shop" {
		t.Errorf("From = %v", got)
	}
	if !bytes.HasSuffix(m.RawHeader(), []byte("boundary=\"b1\"\r\n")) {
		t.Errorf("RawHeader ends %q", m.RawHeader()[len(m.RawHeader())-20:])
	}
}

func TestParseMessageMalformed(t *testing.T) {
	const head = "Subject: Cheap pills\r\nMessage-ID: <run1@shop1.example>\r\n"
	for _, tc := range []struct {
		name, raw string
		text      string // expected in Text
		subject   string // expected Subject and, when set, Message-ID <run1@shop1.example>
	}{
		{"no header at all", "just a line of text\n", "just a line", ""},
		{"LF only, no MIME", "Subject: hi\nFrom: a@b.example\n\nhello there\n", "hello there", "hi"},
		{"missing boundary", head + "Content-Type: multipart/mixed\r\n\r\nbody without parts\r\n", "body without parts", "Cheap pills"},
		{"empty boundary", head + "Content-Type: multipart/alternative; boundary=\"\"\r\n\r\nbody without parts\r\n", "body without parts", "Cheap pills"},
		{"boundary never occurs", head + "Content-Type: multipart/mixed; boundary=zz\r\n\r\nbody without parts\r\n", "body without parts", "Cheap pills"},
		{"part reuses its parent's boundary", head + "Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n" +
			"Content-Type: multipart/alternative; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\nbuy pills\r\n--zz--\r\n", "buy pills", "Cheap pills"},
		{"unreadable part beside a good one", head + "Content-Type: multipart/alternative; boundary=zz\r\n\r\n--zz\r\n" +
			"Content-Type: text/plain\r\nno field here\r\n\r\nplain\r\n--zz\r\nContent-Type: text/html\r\n\r\n<b>buy pills</b>\r\n--zz--\r\n", "buy pills", "Cheap pills"},
		{"bad base64", head + "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n", "", "Cheap pills"},
		{"NUL bytes", "Subject: x\r\n\r\nnul\x00here\r\n", "nul", "x"},
		{"8-bit header", "Subject: caf\xe9 cr\xe8me\r\n\r\nbody\r\n", "body", "caf\ufffd cr\ufffdme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := spamrun.ParseMessage([]byte(tc.raw), "a@shop1.example", []string{"b@example.org"})
			if err != nil {
				t.Fatalf("malformed content must not fail: %v", err)
			}
			if !strings.Contains(m.Text, tc.text) {
				t.Errorf("Text = %q, want it to contain %q", m.Text, tc.text)
			}
			if m.Subject != tc.subject {
				t.Errorf("Subject = %q, want %q", m.Subject, tc.subject)
			}
			if strings.HasPrefix(tc.raw, head) && m.Header("Message-ID") != "<run1@shop1.example>" {
				t.Errorf("Message-ID = %q: the header was lost", m.Header("Message-ID"))
			}
			if string(m.Raw) != tc.raw {
				t.Errorf("Raw was changed")
			}
		})
	}
	m, _ := spamrun.ParseMessage([]byte("Subject: x\r\n\r\nnul\x00here\r\n"), "", nil)
	if !slices.ContainsFunc(m.Warnings, func(w string) bool { return strings.Contains(w, "NUL") }) {
		t.Errorf("NUL bytes not warned about: %q", m.Warnings)
	}
}

func TestParseMessageRejectsBadEnvelope(t *testing.T) {
	if _, err := spamrun.ParseMessage([]byte("Subject: x\r\n\r\n"), "a@b.example\r\nBcc: x@y.example", nil); !errors.Is(err, spamrun.ErrBadAddress) {
		t.Errorf("sender with CRLF: %v", err)
	}
	if _, err := spamrun.ParseMessage([]byte("Subject: x\r\n\r\n"), "a@b.example", []string{"<>"}); !errors.Is(err, spamrun.ErrBadAddress) {
		t.Errorf("null recipient: %v", err)
	}
}

func TestRawHeader(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"A: 1\r\nB: 2\r\n\r\nbody\r\n", "A: 1\r\nB: 2\r\n"},
		{"A: 1\nB: 2\n\nbody\n", "A: 1\nB: 2\n"},
		{"A: 1\r\n", "A: 1\r\n"},
		{"A: 1", "A: 1"},
		{"\r\nbody", ""},
	} {
		m, _ := spamrun.ParseMessage([]byte(tc.raw), "", nil)
		if got := string(m.RawHeader()); got != tc.want {
			t.Errorf("RawHeader(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}

func TestIsAutomatic(t *testing.T) {
	for _, tc := range []struct {
		sender, header string
		want           bool
	}{
		{"a@shop1.example", "Subject: order\r\n", false},
		{"", "Subject: order\r\n", true},
		{"a@shop1.example", "Auto-Submitted: auto-replied\r\n", true},
		{"a@shop1.example", "Auto-Submitted: auto-generated\r\n", true},
		{"a@shop1.example", "Auto-Submitted: no\r\n", false},
		{"a@shop1.example", "Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n", true},
		{"a@shop1.example", "Precedence: bulk\r\n", false}, // newsletters are bounced like other mail
	} {
		m, _ := spamrun.ParseMessage([]byte(tc.header+"\r\nbody\r\n"), tc.sender, []string{"b@example.org"})
		if got := m.IsAutomatic(); got != tc.want {
			t.Errorf("sender %q header %q: IsAutomatic = %v", tc.sender, tc.header, got)
		}
	}
}

// FuzzParseMessage: whatever bytes come in, parsing keeps them unchanged,
// never panics, and yields valid UTF-8 for the scorer.
func FuzzParseMessage(f *testing.F) {
	f.Add([]byte(multipartMessage))
	f.Add([]byte("Subject: x\r\n\r\nnul\x00here\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n"))
	f.Add([]byte("Subject: =?koi8-r?B?8NLJ18XU?=\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n\xf0\xd2\xc9\xd7\xc5\xd4\r\n"))
	f.Add([]byte("Content-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<a href=3D\"http://x.top\">=E2=82=AC</a>=\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		orig := bytes.Clone(raw)
		m, err := spamrun.ParseMessage(raw, "a@shop1.example", []string{"b@example.org"})
		if err != nil {
			t.Fatalf("content error: %v", err)
		}
		if !bytes.Equal(m.Raw, orig) {
			t.Fatal("Raw differs from the input")
		}
		if !bytes.HasPrefix(orig, m.RawHeader()) {
			t.Fatal("RawHeader is not a prefix of the message")
		}
		for name, s := range map[string]string{"Subject": m.Subject, "Text": m.Text, "HTML": m.HTML} {
			if !utf8.ValidString(s) {
				t.Fatalf("%s is not valid UTF-8: %q", name, s)
			}
		}
	})
}

func TestSiteOwns(t *testing.T) {
	s := spamrun.Site{Name: "shop1", Domains: []string{"shop1.example", "www.shop1.example"}, DefaultSender: "shop1@web1.example.net"}
	for addr, want := range map[string]bool{
		"orders@shop1.example":       true,
		"Orders@SHOP1.example":       true,
		"info@www.shop1.example":     true,
		"shop1@web1.example.net":     true,
		"other@web1.example.net":     false,
		"x@evil.example":             false,
		"x@shop1.example.evil.test":  false,
		"x@sub.shop1.example":        false,
		"":                           false,
		"shop1.example":              false,
		"spoofed@notshop1.example":   false,
		"shop1@web1.example.net.org": false,
	} {
		if got := s.Owns(addr); got != want {
			t.Errorf("Owns(%q) = %v", addr, got)
		}
	}
}

func TestSiteForUID(t *testing.T) {
	configured := []spamrun.Site{{Name: "shop1", UID: 4242, Domains: []string{"shop1.example"}}}
	s, err := spamrun.SiteForUID(4242, configured, "web1.example.net")
	if err != nil || s.Name != "shop1" {
		t.Fatalf("configured: %+v, %v", s, err)
	}
	me, err := user.Current()
	if err != nil {
		t.Skip(err)
	}
	uid, _ := strconv.Atoi(me.Uid)
	s, err = spamrun.SiteForUID(uid, configured, "web1.example.net")
	if err != nil || s.Name != me.Username || s.DefaultSender != me.Username+"@web1.example.net" {
		t.Errorf("login name: %+v, %v", s, err)
	}
	if _, err := spamrun.SiteForUID(1<<30, nil, "h"); !errors.Is(err, spamrun.ErrUnknownUID) {
		t.Errorf("unknown uid: %v", err)
	}
}

func TestValidSiteName(t *testing.T) {
	for _, ok := range []string{"shop1", "www.shop1.example", "user_42", "a-b"} {
		if err := spamrun.ValidSiteName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-rf", ".hidden", "a b", "a/b", "x;id", "$(id)", "a\x00", strings.Repeat("a", 254)} {
		if err := spamrun.ValidSiteName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
