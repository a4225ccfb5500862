package spamrun_test

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/spamrun/spamrun"
)

// spamLines are the text of testdata/parts/spam.pdf, a PDF made with
// FPDF (go-pdf/fpdf, the Go port of the PHP library that shops and
// mailer kits use), with compressed content streams.
var spamLines = []string{
	"Buy cheap viagra online without prescription!",
	"Cialis, levitra and viagra generic pills at the lowest prices, no prescription needed.",
	"Best online pharmacy: order viagra now and get free pills with every order.",
	"Visit https://cheap-pills-rx.top/order and http://bit.ly/rx-pharma now.",
	"Casino bonus: 200 free spins, online casino jackpot, play slots now!",
	"Limited time offer, act now! You have won a prize.",
}

// mimePart is one part of a test message: its header lines and its body,
// base64-encoded when binary.
type mimePart struct {
	header string
	body   []byte
	binary bool
}

func textPart(body string) mimePart {
	return mimePart{header: "Content-Type: text/plain; charset=utf-8", body: []byte(body)}
}

func attachment(typ, name string, body []byte) mimePart {
	return mimePart{
		header: fmt.Sprintf("Content-Type: %s; name=%q\r\nContent-Disposition: attachment; filename=%q", typ, name, name),
		body:   body, binary: true,
	}
}

// mimeMessage makes a message of the given subtype from the site's
// address, with the parts.
func mimeMessage(subtype, subject string, parts ...mimePart) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Shop <info@site7.example>\r\nTo: customer@example.net\r\nSubject: %s\r\n"+
		"Message-ID: <parts.1@site7.example>\r\nDate: Mon, 02 Nov 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/%s; boundary=\"b0\"\r\n\r\n", subject, subtype)
	for _, p := range parts {
		fmt.Fprintf(&b, "--b0\r\n%s\r\n", p.header)
		if p.binary {
			b.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
			enc := base64.StdEncoding.EncodeToString(p.body)
			for len(enc) > 76 {
				b.WriteString(enc[:76] + "\r\n")
				enc = enc[76:]
			}
			b.WriteString(enc + "\r\n")
		} else {
			b.WriteString("\r\n")
			b.Write(p.body)
			b.WriteString("\r\n")
		}
	}
	b.WriteString("--b0--\r\n")
	return b.Bytes()
}

// makeZip returns a zip archive holding the named files.
func makeZip(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		f, err := w.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(files[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/parts/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parse(t *testing.T, raw []byte) *spamrun.Message {
	t.Helper()
	m, err := spamrun.ParseMessage(raw, "info@site7.example", []string{"customer@example.net"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAttachmentEvasions moves spam that scores as spam in the body into
// every kind of part a mail client shows or opens, where it must score as
// spam too.
func TestAttachmentEvasions(t *testing.T) {
	spam := strings.Join(spamLines, "\n")
	spamHTML := "<html><body><h1>Pharmacy</h1>"
	for _, l := range spamLines {
		spamHTML += "<p>" + l + "</p>"
	}
	spamHTML += `<p><a href="https://cheap-pills-rx.top/order">Order now</a></p></body></html>`
	cover := "Hello,\n\nplease find the document attached.\n\nKind regards\n"
	zipped := makeZip(t, map[string][]byte{"rechnung.pdf.exe": []byte("MZ\x90\x00"), "readme.txt": []byte("open the invoice")})
	forwarded := "From: Pharmacy <sales@cheap-pills-rx.top>\r\nSubject: Cheap viagra and cialis, no prescription\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\n" + spam + "\r\n"
	twice := "From: a@example.org\r\nSubject: Fwd: fwd\r\nContent-Type: multipart/mixed; boundary=\"in\"\r\n\r\n" +
		"--in\r\nContent-Type: text/plain\r\n\r\nsee below\r\n--in\r\nContent-Type: message/rfc822\r\n\r\n" + forwarded + "--in--\r\n"

	body := parse(t, mimeMessage("mixed", "Document", textPart(spam)))
	bodyScore := score(t, spamrun.NewBuiltinScorer(), body)
	if bodyScore.Value < 5 {
		t.Fatalf("the spam in the body scores %s, want ≥ 5", describe(bodyScore))
	}
	exeScore := score(t, spamrun.NewBuiltinScorer(), parse(t, mimeMessage("mixed", "Rechnung", textPart(cover), attachment("application/octet-stream", "rechnung.pdf.exe", []byte("MZ\x90\x00")))))
	if exeScore.Value < 5 {
		t.Fatalf("an attached rechnung.pdf.exe scores %s, want ≥ 5", describe(exeScore))
	}

	for _, tt := range []struct {
		name string
		raw  []byte
		want []string // rules that show the part was read
	}{
		{"PDF attachment", mimeMessage("mixed", "Document", textPart(cover), attachment("application/pdf", "document.pdf", readTestdata(t, "spam.pdf"))),
			[]string{"PHARMA_WORDS", "URI_SHORTENER"}},
		{"PDF as octet-stream", mimeMessage("mixed", "Document", textPart(cover), attachment("application/octet-stream", "document.pdf", readTestdata(t, "spam.pdf"))),
			[]string{"PHARMA_WORDS"}},
		{"zip holding a disguised executable", mimeMessage("mixed", "Rechnung", textPart(cover), attachment("application/zip", "rechnung.zip", zipped)),
			[]string{"ATTACH_ARCHIVE_EXECUTABLE", "ATTACH_DOUBLE_EXT"}},
		{"zip inside a zip", mimeMessage("mixed", "Rechnung", textPart(cover), attachment("application/zip", "rechnung.zip", makeZip(t, map[string][]byte{"rechnung.zip": zipped}))),
			[]string{"ATTACH_ARCHIVE_EXECUTABLE", "ATTACH_DOUBLE_EXT"}},
		{"HTML attachment", mimeMessage("mixed", "Document", textPart(cover), attachment("text/html", "document.html", []byte(spamHTML))),
			[]string{"PHARMA_WORDS", "ATTACH_HTML"}},
		{"text attachment", mimeMessage("mixed", "Document", textPart(cover), attachment("text/plain", "document.txt", []byte(spam))),
			[]string{"PHARMA_WORDS", "URI_SHORTENER"}},
		{"forwarded message", mimeMessage("mixed", "Fwd: document", textPart(cover), mimePart{header: "Content-Type: message/rfc822", body: []byte(forwarded)}),
			[]string{"PHARMA_WORDS", "URI_SHORTENER"}},
		{"message forwarded twice", mimeMessage("mixed", "Fwd: document", textPart(cover), mimePart{header: "Content-Type: message/rfc822", body: []byte(twice)}),
			[]string{"PHARMA_WORDS", "URI_SHORTENER"}},
		{"second text part of an alternative", mimeMessage("alternative", "Document", textPart(cover), textPart(spam)),
			[]string{"PHARMA_WORDS", "URI_SHORTENER"}},
		{"second HTML part", mimeMessage("mixed", "Document", mimePart{header: "Content-Type: text/html", body: []byte("<p>" + cover + "</p>")}, mimePart{header: "Content-Type: text/html", body: []byte(spamHTML)}),
			[]string{"PHARMA_WORDS"}},
	} {
		sc := score(t, spamrun.NewBuiltinScorer(), parse(t, tt.raw))
		checkInvariants(t, sc)
		t.Logf("%s: %s", tt.name, describe(sc))
		if sc.Value < 5 {
			t.Errorf("%s: %.1f, want ≥ 5 like the spam in the body (%.1f): %s", tt.name, sc.Value, bodyScore.Value, describe(sc))
		}
		for _, r := range tt.want {
			if !sc.Has(r) {
				t.Errorf("%s: no %s: %s", tt.name, r, describe(sc))
			}
		}
	}
}

// TestInvoicePDF is a shop's order mail with its invoice, a PDF made with
// FPDF, as shop software attaches one: reading the invoice must not make
// it spam.
func TestInvoicePDF(t *testing.T) {
	body := "Sehr geehrte Frau Müller,\n\nvielen Dank für Ihre Bestellung 2026-10482 bei Shop1.\n" +
		"Im Anhang finden Sie Ihre Rechnung als PDF. Ihre Bestellung wird heute mit DHL versandt.\n\n" +
		"Mit freundlichen Grüßen\nIhr Team von Shop1\nhttps://site7.example\n"
	m := parse(t, mimeMessage("mixed", "Ihre Rechnung 2026-10482", textPart(body), attachment("application/pdf", "Rechnung-2026-10482.pdf", readTestdata(t, "invoice.pdf"))))
	var pdf spamrun.Part
	for p := range m.Parts() {
		if p.MediaType == "application/pdf" {
			pdf = p
		}
	}
	if pdf.Name != "Rechnung-2026-10482.pdf" || !bytes.HasPrefix(pdf.Content, []byte("%PDF-")) {
		t.Fatalf("Parts yields no PDF part: %+v", pdf)
	}
	sc := score(t, spamrun.NewBuiltinScorer(), m)
	checkInvariants(t, sc)
	t.Logf("order mail with its invoice: %s", describe(sc))
	if sc.Value >= 3 {
		t.Errorf("the order mail with its invoice scores %s, want < 3", describe(sc))
	}
}

// TestParts checks what Message.Parts yields: the parts Text and HTML do
// not hold, forwarded messages with their subject one level deeper, and
// nothing for a single-part message.
func TestParts(t *testing.T) {
	forwarded := "Subject: Inner\r\nContent-Type: multipart/mixed; boundary=\"in\"\r\n\r\n" +
		"--in\r\nContent-Type: text/plain\r\n\r\ninner text\r\n" +
		"--in\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n\r\n%PDF-1.4\r\n" +
		"--in--\r\n"
	m := parse(t, mimeMessage("mixed", "Outer",
		textPart("first"),
		mimePart{header: "Content-Type: text/html", body: []byte("<p>first html</p>")},
		mimePart{header: "Content-Type: text/html", body: []byte("<p>second html</p>")},
		attachment("text/plain", "notes.txt", []byte("notes")),
		mimePart{header: "Content-Type: message/rfc822", body: []byte(forwarded)},
	))
	if m.Text != "first" || m.HTML != "<p>first html</p>" {
		t.Fatalf("Text %q, HTML %q", m.Text, m.HTML)
	}
	var got []string
	for p := range m.Parts() {
		got = append(got, fmt.Sprintf("%d %s %q %q %q", p.Depth, p.MediaType, p.Name, p.Subject, strings.TrimSpace(string(p.Content))))
	}
	want := []string{
		`0 text/html "" "" "<p>second html</p>"`,
		`0 text/plain "notes.txt" "" "notes"`,
		fmt.Sprintf(`0 message/rfc822 "" "Inner" %q`, strings.TrimSpace(forwarded)),
		`1 text/plain "" "" "inner text"`,
		`1 application/pdf "a.pdf" "" "%PDF-1.4"`,
	}
	for i := range max(len(got), len(want)) {
		g, w := "(none)", "(none)"
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("part %d:\n got %s\nwant %s", i, g, w)
		}
	}
	single := parse(t, []byte("Subject: one\r\n\r\nonly text\r\n"))
	for p := range single.Parts() {
		t.Errorf("a single-part message yields %+v", p)
	}
}

// TestPartsBounded sends a message of many parts and forwarded messages
// nested deeper than are followed: Parts stops at its bounds.
func TestPartsBounded(t *testing.T) {
	msg := "Subject: deepest\r\nContent-Type: text/plain\r\n\r\ndeepest text\r\n"
	for i := range 6 {
		msg = fmt.Sprintf("Subject: level %d\r\nContent-Type: multipart/mixed; boundary=\"l%d\"\r\n\r\n--l%d\r\nContent-Type: message/rfc822\r\n\r\n%s--l%d--\r\n", 5-i, i, i, msg, i)
	}
	maxDepth := 0
	for p := range parse(t, []byte(msg)).Parts() {
		maxDepth = max(maxDepth, p.Depth)
		if strings.Contains(string(p.Content), "deepest text") && p.MediaType == "text/plain" {
			t.Errorf("a message forwarded 6 levels deep was read: %+v", p)
		}
	}
	if maxDepth != 3 {
		t.Errorf("deepest part at depth %d, want 3", maxDepth)
	}

	var parts []mimePart
	for i := range 500 {
		parts = append(parts, attachment("text/plain", fmt.Sprintf("f%d.txt", i), []byte("x")))
	}
	n := 0
	for range parse(t, mimeMessage("mixed", "many", parts...)).Parts() {
		n++
	}
	if n != 100 {
		t.Errorf("Parts yielded %d of 500 parts, want 100", n)
	}
}
