package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"mime"
	"mime/quotedprintable"
	"strings"

	"github.com/spamrun/spamrun/spamruntest"
)

// The soak's mail comes from a generator seeded per message: message i is
// the same whichever worker takes it and whatever happened before, so a
// seed replays a run's mail exactly, if not its timing.

// soakMaxRcpts is the most recipients one message has.
const soakMaxRcpts = 5000

// soakMaxSize is the test installation's max_message_size. A few messages
// are made bigger, to be refused with 65.
const soakMaxSize = 1 << 20

// soakDoor is how a website hands sendmail a message.
type soakDoor int

const (
	// doorArgv: recipients as arguments, sendmail -i -f sender rcpt...,
	// as mail() with additional parameters and cron do.
	doorArgv soakDoor = iota
	// doorHeader: sendmail -t -i, recipients in To, Cc and Bcc, as PHP's
	// mail() does.
	doorHeader
	// doorSMTP: sendmail -bs, an SMTP dialogue on standard input and
	// output, as Symfony Mailer has it.
	doorSMTP
)

var soakDoors = [...]string{"argv", "-t", "-bs"}

func (d soakDoor) String() string { return soakDoors[d] }

// soakSite is one website of the soak and the mail it sends.
type soakSite struct {
	name    string
	user    *siteUser
	maxSpam int
	// spamPercent of its messages are written as spam.
	spamPercent int
}

func (s *soakSite) domain() string { return s.name + ".example" }

// soakMsg is one submission.
type soakMsg struct {
	seq    string
	site   *soakSite
	door   soakDoor
	sender string
	// rcpts is the envelope as sendmail must take it: distinct addresses.
	rcpts []string
	// args are sendmail's arguments; -bs passes the envelope in SMTP.
	args  []string
	data  []byte
	shape string
	spam  bool // written as spam; the scorer decides what it is
}

// soakGen makes the messages of one seed.
type soakGen struct {
	seed  uint64
	sites []*soakSite
}

// message makes message i.
func (g *soakGen) message(i int) *soakMsg {
	rng := rand.New(rand.NewPCG(g.seed, uint64(i)))
	m := &soakMsg{seq: fmt.Sprintf("s%06d", i), site: g.sites[rng.IntN(len(g.sites))], door: soakDoor(rng.IntN(len(soakDoors)))}
	m.spam = rng.IntN(100) < m.site.spamPercent
	switch r := rng.IntN(100); {
	case r < 15:
		// A form that takes the visitor's address as sender.
		m.sender = fmt.Sprintf("visitor%d@forged%d.example", rng.IntN(1000), rng.IntN(5))
	case r < 55:
		m.sender = "noreply@" + m.site.domain()
	default:
		m.sender = m.site.user.Login + "@" + m.site.domain()
	}
	m.rcpts = g.recipients(rng, m)
	m.data, m.shape = g.body(rng, m)
	switch m.door {
	case doorArgv:
		m.args = []string{"-i", "-v", "-f", m.sender}
		if rng.IntN(2) == 0 {
			m.args = append(m.args, "--")
		}
		m.args = append(m.args, m.rcpts...)
	case doorHeader:
		m.args = []string{"-t", "-i", "-v", "-f" + m.sender}
	}
	return m
}

// recipients draws how many recipients a message has, mostly one or a
// few with a long tail to thousands, and makes them: unique to the
// message, so that each delivery can be traced to it.
func (g *soakGen) recipients(rng *rand.Rand, m *soakMsg) []string {
	var n int
	switch r := rng.IntN(100); {
	case r < 60:
		n = 1
	case r < 80:
		n = 2 + rng.IntN(4)
	case r < 92:
		n = 6 + rng.IntN(45)
	case r < 96 || rng.IntN(8) > 0:
		n = 51 + rng.IntN(450)
	default: // one message in 200
		n = 501 + rng.IntN(soakMaxRcpts-500)
	}
	if m.door == doorSMTP {
		// sendmail -bs takes as many recipients in one transaction as
		// Postfix's smtpd does; a client splits longer lists itself.
		n = min(n, bsMaxRecipients)
	}
	// One message in a hundred names a recipient with a quoted local
	// part (RFC 5321 section 4.1.2).
	quoted := m.door == doorArgv && rng.IntN(100) == 0
	rcpts := make([]string, n)
	for j := range rcpts {
		local := fmt.Sprintf("%s.%d", m.seq, j)
		switch {
		case quoted && j == 0:
			local = `"jan de vries ` + local + `"`
		case m.door == doorArgv && rng.IntN(20) == 0:
			local = "jürgen." + local // RFC 6531: the relay needs SMTPUTF8
		}
		rcpts[j] = fmt.Sprintf("%s@d%d.example", local, rng.IntN(8))
	}
	return rcpts
}

const gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

var (
	soakWords = strings.Fields("order shipment invoice account password delivery parcel thank you for your " +
		"bestelling verzonden factuur Grüße Bestellung Rechnung заказ доставка спасибо ご注文 ありがとうございます 발송 " +
		"the of and to in newsletter meeting tomorrow club members agenda minutes café crème naïve façade")
	soakSubjects = []string{
		"Your order %d has shipped", "Agenda for the members' meeting %d", "Password reset for account %d",
		"Ihre Bestellung %d", "Заказ %d отправлен", "ご注文 %d の確認", "Invoice %d – café crème",
	}
	attachmentTypes = []struct{ ctype, name string }{
		{"application/pdf", "invoice.pdf"}, {"image/jpeg", "photo.jpg"}, {"application/zip", "files.zip"},
		{"application/octet-stream", "setup.exe"}, {"text/csv; charset=utf-8", "members.csv"},
	}
)

// text makes a body text: words in several scripts, now and then a long
// line, a NUL or a line that is only a dot.
func text(rng *rand.Rand, spam bool, site string, i int) string {
	var b strings.Builder
	if spam {
		if rng.IntN(2) == 0 {
			b.WriteString(gtube + "\n")
		} else {
			// The guestbook's text without its header.
			guestbook := spamruntest.GuestbookSpam(site, i)
			if k := bytes.Index(guestbook, []byte("\n\n")); k >= 0 {
				guestbook = guestbook[k+2:]
			}
			b.Write(guestbook)
		}
	}
	lines := 1 + rng.IntN(30)
	// Now and then a message has a line of up to 100 KB, far past the
	// 998 octets of RFC 5322, which the relay refuses.
	huge := -1
	if rng.IntN(100) == 0 {
		huge = rng.IntN(lines)
	}
	for l := range lines {
		words := 1 + rng.IntN(15)
		switch {
		case l == huge:
			words = 300 + rng.IntN(10000)
		case rng.IntN(100) < 5:
			words = 60 + rng.IntN(100) // a long line, as an HTML mail on one line
		}
		for w := range words {
			if w > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(soakWords[rng.IntN(len(soakWords))])
		}
		switch rng.IntN(40) {
		case 0:
			b.WriteString("\x00")
		case 1:
			b.WriteString("\n.")
		case 2:
			b.WriteString("\n..")
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// leaf is a body part with a transfer encoding drawn at random.
func leaf(rng *rand.Rand, ctype string, content []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Content-Type: %s\n", ctype)
	switch rng.IntN(4) {
	case 0:
		b.WriteString("Content-Transfer-Encoding: base64\n\n")
		enc := base64.StdEncoding.EncodeToString(content)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\n")
	case 1:
		b.WriteString("Content-Transfer-Encoding: quoted-printable\n\n")
		w := quotedprintable.NewWriter(&b)
		w.Write(content)
		w.Close()
		b.WriteString("\n")
	case 2:
		b.WriteString("Content-Transfer-Encoding: 8bit\n\n")
		b.Write(content)
	default:
		b.WriteString("\n") // none at all, 8-bit regardless
		b.Write(content)
	}
	return b.String()
}

// multipart joins parts; with broken it leaves out the closing delimiter.
func multipart(sub, boundary string, broken bool, parts ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Content-Type: multipart/%s; boundary=%q\n\nThis is a multi-part message in MIME format.\n", sub, boundary)
	for _, p := range parts {
		fmt.Fprintf(&b, "\n--%s\n%s", boundary, p)
	}
	if !broken {
		fmt.Fprintf(&b, "\n--%s--\n", boundary)
	}
	return b.String()
}

func attachment(rng *rand.Rand) string {
	a := attachmentTypes[rng.IntN(len(attachmentTypes))]
	content := make([]byte, 64+rng.IntN(64<<10))
	for i := range content {
		content[i] = byte(rng.Uint32())
	}
	return fmt.Sprintf("Content-Disposition: attachment; filename=%q\n", a.name) + leaf(rng, a.ctype+"; name=\""+a.name+"\"", content)
}

// body makes the whole message, header and body, in one of the shapes
// mail takes: plain, alternative, mixed with attachments, nested, broken
// MIME or no MIME at all. It returns the message and its shape.
func (g *soakGen) body(rng *rand.Rand, m *soakMsg) ([]byte, string) {
	var h strings.Builder
	site := m.site.domain()
	n := rng.IntN(1 << 20)
	fmt.Fprintf(&h, "Message-ID: <%s@soak.test>\n", m.seq)
	switch rng.IntN(3) {
	case 0:
		fmt.Fprintf(&h, "From: %s\n", mime.QEncoding.Encode("utf-8", "Café "+m.site.name)+" <"+m.sender+">")
	case 1:
		fmt.Fprintf(&h, "From: Café %s <%s>\n", m.site.name, m.sender) // raw 8-bit, as PHP scripts write it
	default:
		fmt.Fprintf(&h, "From: %s\n", m.sender)
	}
	subject := fmt.Sprintf(soakSubjects[rng.IntN(len(soakSubjects))], n)
	if rng.IntN(2) == 0 {
		subject = mime.BEncoding.Encode("utf-8", subject)
	}
	fmt.Fprintf(&h, "Subject: %s\n", subject)
	if rng.IntN(4) > 0 {
		h.WriteString("Date: Fri, 04 Dec 2026 10:00:00 +0000\n")
	}
	if m.door == doorHeader {
		writeRecipientFields(rng, &h, m.rcpts)
	} else {
		fmt.Fprintf(&h, "To: %s\n", m.rcpts[0])
	}
	h.WriteString("X-PHP-Originating-Script: 1001:" + []string{"contact.php", "wp-includes/pluggable.php", "uploads/x.php"}[rng.IntN(3)] + "\n")
	// Headers up to the size limit: mostly small, sometimes tens of
	// kilobytes of tracking fields, rarely most of the limit or past it.
	var pad int
	switch r := rng.IntN(200); {
	case r < 20:
		pad = rng.IntN(64 << 10)
	case r < 22:
		pad = soakMaxSize/2 + rng.IntN(soakMaxSize*6/10)
	}
	for k := 0; pad > 0; k++ {
		v := strings.Repeat(fmt.Sprintf("%x", rng.Uint64()), 1+rng.IntN(12))
		if rng.IntN(3) == 0 {
			v += "\n\t" + strings.Repeat("folded ", 1+rng.IntN(20))
		}
		fmt.Fprintf(&h, "X-Tracking-%d: %s\n", k, v)
		pad -= len(v) + 16
	}

	txt := text(rng, m.spam, site, n)
	html := "<html><body><p>" + strings.ReplaceAll(txt, "\n", "</p><p>") + "</p></body></html>\n"
	var shape, mimeBody string
	switch r := rng.IntN(100); {
	case r < 30:
		shape = "plain"
		mimeBody = leaf(rng, "text/plain; charset=utf-8", []byte(txt))
	case r < 50:
		shape = "alternative"
		mimeBody = multipart("alternative", "alt-"+m.seq, false,
			leaf(rng, "text/plain; charset=utf-8", []byte(txt)), leaf(rng, "text/html; charset=utf-8", []byte(html)))
	case r < 70:
		shape = "mixed"
		parts := []string{leaf(rng, "text/plain; charset=utf-8", []byte(txt))}
		for range 1 + rng.IntN(3) {
			parts = append(parts, attachment(rng))
		}
		mimeBody = multipart("mixed", "mix-"+m.seq, false, parts...)
	case r < 82:
		shape = "nested"
		inner := spamruntest.OrderConfirmation(site, n)
		mimeBody = multipart("mixed", "out-"+m.seq, false,
			multipart("alternative", "alt-"+m.seq, false,
				leaf(rng, "text/plain; charset=utf-8", []byte(txt)),
				multipart("related", "rel-"+m.seq, false, leaf(rng, "text/html; charset=utf-8", []byte(html)), attachment(rng))),
			"Content-Type: message/rfc822\n\n"+string(inner),
			attachment(rng))
	case r < 94:
		shape = "broken"
		switch rng.IntN(4) {
		case 0: // the closing delimiter never comes
			mimeBody = multipart("mixed", "cut-"+m.seq, true, leaf(rng, "text/plain", []byte(txt)), attachment(rng))
		case 1: // no boundary parameter at all
			mimeBody = "Content-Type: multipart/mixed\n\n" + txt
		case 2: // base64 that is not
			mimeBody = "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n!!not*base64%%\n" + txt
		default: // a part reuses its parent's boundary
			mimeBody = multipart("mixed", "same-"+m.seq, false,
				multipart("alternative", "same-"+m.seq, false, leaf(rng, "text/plain", []byte(txt))), attachment(rng))
		}
	default:
		shape = "no MIME"
		mimeBody = "\n" + txt
	}
	if shape != "no MIME" {
		h.WriteString("MIME-Version: 1.0\n")
	}
	msg := []byte(h.String() + mimeBody)
	if rng.IntN(2) == 0 {
		msg = bytes.ReplaceAll(msg, []byte("\n"), []byte("\r\n"))
	}
	return tagged(m.seq, msg), shape
}

// writeRecipientFields spreads rcpts over To, Cc and Bcc, folded as
// mail() callers fold them, with now and then an address twice.
func writeRecipientFields(rng *rand.Rand, h *strings.Builder, rcpts []string) {
	fields := map[string][]string{}
	names := []string{"To", "Cc", "Bcc"}
	for _, r := range rcpts {
		f := names[rng.IntN(3)]
		fields[f] = append(fields[f], r)
		if rng.IntN(50) == 0 {
			fields["Bcc"] = append(fields["Bcc"], r)
		}
	}
	for _, f := range names {
		if len(fields[f]) == 0 {
			continue
		}
		fmt.Fprintf(h, "%s: ", f)
		for i, r := range fields[f] {
			if i > 0 {
				h.WriteString(",")
				if i%3 == 0 {
					h.WriteString("\n")
				}
				h.WriteString(" ")
			}
			h.WriteString(r)
		}
		h.WriteString("\n")
	}
}
