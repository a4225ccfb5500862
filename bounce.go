package spamrun

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// Bounce builds the delivery status notification (DSN) that returns one
// message to its envelope sender: RFC 3464 fields in an RFC 6522
// multipart/report, with a plain explanation for the website's owner and the
// original's header, never its body, which is the spam.
//
// The same builder serves every reason spamrun returns mail (see
// [BounceReason]): the site was disabled for a spam run, the relay refused
// the message, or the message outlived the queue. Zero fields take the
// defaults of the reason. Date, MessageID and Boundary exist so tests can
// make the output repeatable.
//
// The DSN is to be sent with the null reverse path, MAIL FROM:<> (RFC 3464
// §2, RFC 5321 §4.5.5), so that it can never cause another bounce. Bounce does
// not decide whom a site may bounce to: the caller sends DSNs only to
// addresses the site owns and keeps the rest held, or it would be
// backscatter.
type Bounce struct {
	// Original is the message returned, as parsed by ParseMessage: a
	// Message put together by hand has no parsed header, so an
	// Auto-Submitted field in Raw would go unseen. The DSN goes to
	// Original.Sender.
	Original *Message
	// Reason picks the default status, diagnostic and explanation.
	Reason BounceReason
	// ReportingMTA is the host name of this machine; it names the
	// Reporting-MTA and the default From and Message-ID. Required.
	ReportingMTA string
	// From is the DSN's author; nil means "Mail Delivery System"
	// <MAILER-DAEMON@ReportingMTA>.
	From *mail.Address
	// ArticleURL is linked from the explanation: the host's page on what a
	// spam run is and how to get the site enabled again.
	ArticleURL string
	// Site is the name of the website that submitted the original.
	Site string
	// Arrival is when the original was submitted; zero leaves it out.
	Arrival time.Time
	// EnvelopeID is the ENVID (RFC 3461 §4.4) the original was submitted
	// with, as printable ASCII; usually there is none.
	EnvelopeID string
	// RemoteMTA is the host name of the relay whose reply is the diagnostic,
	// for a refusal by the relay.
	RemoteMTA string

	// Action, Status and Diagnostic apply to every recipient that does not
	// override them. Diagnostic is the SMTP reply, code first ("550 5.7.1
	// ..."); it may come from a remote server, so what cannot be carried in
	// a DSN field is replaced rather than refused.
	Action     string
	Status     string
	Diagnostic string
	// Recipients are the recipients to report on; none means every
	// envelope recipient of Original. A relay that refused only some recipients
	// reports only those.
	Recipients []BounceRecipient
	// Text replaces the explanation written for Reason.
	Text string

	// Date of the DSN; zero means now.
	Date time.Time
	// MessageID of the DSN without angle brackets; "" generates one at
	// ReportingMTA.
	MessageID string
	// Boundary of the multipart/report; "" picks a random one. A boundary
	// that occurs in the quoted header is refused, so a fixed boundary is for
	// tests only.
	Boundary string
}

// BounceReason is why a message goes back to its sender.
type BounceReason int

const (
	// BounceSpamRun: the submitting site was disabled for a spam run and
	// the message was still queued. Status 5.7.1.
	BounceSpamRun BounceReason = iota
	// BounceRelayRefused: the relay refused the message for good. Set
	// Diagnostic to the relay's reply and Status to its enhanced code;
	// without them the status is 5.0.0.
	BounceRelayRefused
	// BounceExpired: the message could not be relayed within the queue
	// lifetime. Status 4.4.7 (RFC 3463 §3.5), action failed.
	BounceExpired
)

func (r BounceReason) String() string {
	switch r {
	case BounceSpamRun:
		return "spam run"
	case BounceRelayRefused:
		return "relay refused"
	case BounceExpired:
		return "expired"
	}
	return fmt.Sprintf("BounceReason(%d)", int(r))
}

// BounceRecipient is one recipient reported on in a DSN. Empty fields take
// the values of the Bounce.
type BounceRecipient struct {
	Address     string
	Action      string
	Status      string
	Diagnostic  string
	LastAttempt time.Time // zero means the DSN's Date
}

// Build returns the DSN with CRLF line endings, ready for SMTP DATA.
//
// It refuses with a [NoBounceError] for an original that must not be
// bounced. Its output is 7-bit unless [Bounce.SMTPUTF8] reports otherwise.
func (b *Bounce) Build() ([]byte, error) {
	p, err := b.plan()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	w, err := message.CreateWriter(&out, b.topHeader(p))
	if err != nil {
		return nil, err
	}
	type part struct {
		header message.Header
		body   []byte
	}
	parts := []part{{
		newHeader("Content-Description", "Notification",
			"Content-Type", "text/plain; charset=utf-8",
			"Content-Transfer-Encoding", "quoted-printable"),
		[]byte(b.explanation(p)),
	}, {
		newHeader("Content-Description", "Delivery report",
			"Content-Type", p.statusType,
			"Content-Transfer-Encoding", p.statusEncoding),
		p.status,
	}}
	// RFC 6522 §3 makes the third part optional; an original without a
	// single header field has nothing to quote.
	if len(p.header) > 0 {
		parts = append(parts, part{
			newHeader("Content-Description", "Undelivered message header",
				"Content-Type", p.headerType,
				"Content-Transfer-Encoding", p.headerEncoding),
			p.header,
		})
	}
	for _, part := range parts {
		pw, err := w.CreatePart(part.header)
		if err != nil {
			return nil, err
		}
		if _, err := pw.Write(part.body); err != nil {
			return nil, err
		}
		if err := pw.Close(); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// SMTPUTF8 reports whether the DSN carries UTF-8 outside encoded words,
// because the sender's address, a recipient's or the original header is not
// ASCII: in the To field, or in RFC 6533 global types sent as 8bit. Such a
// DSN must be relayed with the SMTPUTF8 extension (RFC 6531); any other is
// plain 7-bit.
func (b *Bounce) SMTPUTF8() bool {
	p, err := b.plan()
	return err == nil && p.utf8
}

// NoBounceError says that no DSN may be sent for a message at all. It is not
// a failure: the caller drops or keeps the message without returning it.
type NoBounceError struct {
	Reason string
}

func (e *NoBounceError) Error() string { return "spamrun: no bounce: " + e.Reason }

// The reasons Bounce.Build refuses. Match them with errors.Is, or all of them
// with IsNoBounce.
var (
	// ErrNullSender: the original has the null sender, so there is nobody
	// to return it to (RFC 5321 §4.5.5).
	ErrNullSender = &NoBounceError{Reason: "null envelope sender"}
	// ErrAutomatic: the original is itself a bounce or an automatic reply
	// ([Message.IsAutomatic]); answering it risks a mail loop (RFC 3834 §2).
	ErrAutomatic = &NoBounceError{Reason: "the original is a bounce or auto-submitted"}
	// ErrNoRecipients: there is no recipient to report on.
	ErrNoRecipients = &NoBounceError{Reason: "no recipients"}
)

// IsNoBounce reports whether err says that no DSN may be sent for the
// message.
func IsNoBounce(err error) bool {
	var e *NoBounceError
	return errors.As(err, &e)
}

// ErrBadBounce is wrapped by the errors of Bounce.Build that are the
// caller's to fix: a missing host name, a malformed status and the like.
var ErrBadBounce = errors.New("spamrun: bad bounce")

// bouncePlan is everything Build writes, worked out and checked before the
// first byte is written.
type bouncePlan struct {
	sender     string
	recipients []BounceRecipient
	date       time.Time
	messageID  string
	boundary   string
	from       *mail.Address

	status         []byte // the message/delivery-status body
	statusType     string
	statusEncoding string

	header         []byte // the original's header as quoted
	headerType     string
	headerEncoding string

	utf8 bool
}

// rfc5322Date is the date-time format of RFC 5322 §3.3, which RFC 3464 §2.1
// uses for Arrival-Date and Last-Attempt-Date.
const rfc5322Date = "Mon, 02 Jan 2006 15:04:05 -0700"

// maxDiagnostic keeps a Diagnostic-Code within the 998-octet line limit of
// RFC 5322 §2.1.1 even when it cannot be folded.
const maxDiagnostic = 900

var (
	// RFC 3463 §2: class.subject.detail, subject and detail of up to
	// three digits.
	statusCode = regexp.MustCompile(`^[245]\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})$`)
	hostName   = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$`)
)

// validHost reports whether s can stand in a "dns;" field of RFC 3464 §2.1.2.
func validHost(s string) bool { return len(s) <= 253 && hostName.MatchString(s) }

func badBounce(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadBounce}, args...)...)
}

func (b *Bounce) plan() (*bouncePlan, error) {
	m := b.Original
	if m == nil {
		return nil, badBounce("no original message")
	}
	if m.Sender == "" {
		return nil, ErrNullSender
	}
	if m.IsAutomatic() {
		return nil, ErrAutomatic
	}
	if len(m.Recipients) == 0 && len(b.Recipients) == 0 {
		return nil, ErrNoRecipients
	}

	p := &bouncePlan{date: b.Date, messageID: b.MessageID, boundary: b.Boundary, from: b.From}
	sender, err := ParseAddress(m.Sender)
	if err != nil {
		return nil, badBounce("envelope sender: %v", err)
	}
	p.sender = sender
	p.utf8 = !isASCII(sender)
	if !validHost(b.ReportingMTA) {
		return nil, badBounce("reporting MTA %q is not a host name", b.ReportingMTA)
	}
	if b.RemoteMTA != "" && !validHost(b.RemoteMTA) {
		return nil, badBounce("remote MTA %q is not a host name", b.RemoteMTA)
	}
	if !printableASCII(b.EnvelopeID, false) {
		return nil, badBounce("envelope ID %q is not printable ASCII", b.EnvelopeID)
	}
	if p.date.IsZero() {
		p.date = time.Now()
	}
	if p.messageID == "" {
		var h gomail.Header
		if err := h.GenerateMessageIDWithHostname(b.ReportingMTA); err != nil {
			return nil, err
		}
		p.messageID, _ = h.MessageID()
	} else if !printableASCII(p.messageID, true) || strings.ContainsAny(p.messageID, "<>") {
		return nil, badBounce("message ID %q", p.messageID)
	}
	if p.from == nil {
		p.from = &mail.Address{Name: "Mail Delivery System", Address: "MAILER-DAEMON@" + b.ReportingMTA}
	} else if !validMailAddress(p.from.Address) {
		return nil, badBounce("from address %q", p.from.Address)
	}

	if p.recipients, err = b.reportedRecipients(p.date); err != nil {
		return nil, err
	}
	// RFC 6533 §4: the global type is only needed for UTF-8 addresses;
	// everything else in the report is ASCII by construction.
	p.statusType, p.statusEncoding = "message/delivery-status", "7bit"
	for _, r := range p.recipients {
		if !isASCII(r.Address) {
			p.statusType, p.statusEncoding = "message/global-delivery-status", "8bit"
			p.utf8 = true
		}
	}
	p.status = b.statusFields(p)

	header, utf, long := quotedHeader(m.RawHeader())
	p.header = header
	// RFC 6522 §3 made text/rfc822-headers for a header without its body;
	// RFC 6533 §6.3 made message/global-headers for one in UTF-8.
	p.headerType, p.headerEncoding = "text/rfc822-headers", "7bit"
	if utf {
		p.headerType, p.headerEncoding = "message/global-headers", "8bit"
		p.utf8 = true
	}
	if long {
		// A line over 998 octets cannot travel as 7bit or 8bit (RFC 5322
		// §2.1.1); quoted-printable wraps it without changing it, and
		// RFC 6533 §6.3 allows it for message/global-headers too.
		p.headerEncoding = "quoted-printable"
	}

	if p.boundary == "" {
		p.boundary = "=_" + rand.Text()
	} else if err := textproto.NewMultipartWriter(io.Discard).SetBoundary(p.boundary); err != nil {
		return nil, badBounce("boundary %q: %v", p.boundary, err)
	} else if bytes.Contains(p.header, []byte("--"+p.boundary)) {
		return nil, badBounce("boundary %q occurs in the original header", p.boundary)
	}
	return p, nil
}

// reportedRecipients returns the recipients to report on with every field
// filled in and checked.
func (b *Bounce) reportedRecipients(date time.Time) ([]BounceRecipient, error) {
	defaults, ok := reasonDefaults[b.Reason]
	if !ok {
		return nil, badBounce("unknown reason %v", b.Reason)
	}
	def := BounceRecipient{Action: b.Action, Status: b.Status, Diagnostic: b.Diagnostic, LastAttempt: date}
	if def.Action == "" {
		def.Action = "failed"
	}
	if def.Status == "" {
		def.Status = defaults.status
		if def.Diagnostic == "" {
			def.Diagnostic = defaults.diagnostic
		}
	}
	// A copy, as the defaults are written into it.
	rcpts := slices.Clone(b.Recipients)
	if len(rcpts) == 0 {
		for _, addr := range b.Original.Recipients {
			rcpts = append(rcpts, BounceRecipient{Address: addr})
		}
	}
	for i := range rcpts {
		r := &rcpts[i]
		addr, err := ParseAddress(r.Address)
		if err != nil || addr == "" {
			return nil, badBounce("recipient %q", r.Address)
		}
		r.Address = addr
		if r.Action == "" {
			r.Action = def.Action
		}
		if r.Status == "" {
			r.Status = def.Status
		}
		if r.Diagnostic == "" {
			r.Diagnostic = def.Diagnostic
		}
		r.Diagnostic = diagnosticText(r.Diagnostic)
		if r.LastAttempt.IsZero() {
			r.LastAttempt = def.LastAttempt
		}
		switch r.Action {
		case "failed", "delayed", "delivered", "relayed", "expanded": // RFC 3464 §2.3.3
		default:
			return nil, badBounce("action %q", r.Action)
		}
		if !statusCode.MatchString(r.Status) {
			return nil, badBounce("status %q", r.Status)
		}
	}
	return rcpts, nil
}

// reasonDefaults are the status and diagnostic each reason starts from. The
// spam-run diagnostic says "rejected as spam" so that bounce parsers such as
// Sisimai classify the DSN as a spam rejection rather than a generic
// security error, which is what 5.7.1 alone maps to.
var reasonDefaults = map[BounceReason]struct{ status, diagnostic string }{
	BounceSpamRun:      {"5.7.1", "550 5.7.1 Message rejected as spam: the website that sent it was disabled for a spam run"},
	BounceRelayRefused: {"5.0.0", "550 5.0.0 The relay refused the message"},
	BounceExpired:      {"4.4.7", ""},
}

func (b *Bounce) topHeader(p *bouncePlan) message.Header {
	var h gomail.Header
	// go-message writes the field added last first, so the header is
	// built from the bottom up.
	h.Set("Content-Type", "multipart/report; report-type=delivery-status; boundary=\""+p.boundary+"\"")
	h.Set("MIME-Version", "1.0")
	// RFC 3834 §5: a DSN is an automatic response to a message.
	h.Set("Auto-Submitted", "auto-replied")
	if id := originalMessageID(b.Original); id != "" {
		h.SetMsgIDList("References", []string{id})
		h.SetMsgIDList("In-Reply-To", []string{id})
	}
	h.SetMessageID(p.messageID)
	h.SetDate(p.date)
	// The fixed words stay readable for bounce parsers that match on them
	// without decoding; only the original's subject is encoded.
	subject := "Undelivered Mail Returned to Sender"
	if s := originalSubject(b.Original); s != "" {
		subject += ": " + mime.QEncoding.Encode("utf-8", s)
	}
	h.Set("Subject", subject)
	// Written as given: net/mail would quote a quoted local part again.
	h.Set("To", "<"+p.sender+">")
	h.SetAddressList("From", []*mail.Address{p.from})
	return h.Header
}

// validMailAddress reports whether addr, an address as net/mail holds it
// (a quoted local part without its quotes: `a b@x` for "a b"@x), is one
// an SMTP server would take.
func validMailAddress(addr string) bool {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return false
	}
	_, err := JoinAddress(addr[:at], addr[at+1:])
	return err == nil
}

// originalMessageID is the original's Message-ID for threading, or "" when
// it has none usable. A UTF-8 ID is left out: threading is not worth making
// the DSN's own header need SMTPUTF8.
func originalMessageID(m *Message) string {
	v := m.Header("Message-Id")
	if v == "" || strings.ContainsAny(v, "\r\n") {
		return ""
	}
	var h gomail.Header
	h.Set("Message-Id", v)
	id, err := h.MessageID()
	if err != nil || !printableASCII(id, true) || strings.ContainsAny(id, "<>") {
		return ""
	}
	return id
}

// statusFields writes the message/delivery-status body of RFC 3464 §2.1:
// one block of per-message fields, then one block per recipient, each
// ended by an empty line.
func (b *Bounce) statusFields(p *bouncePlan) []byte {
	var s bytes.Buffer
	// §2.2.1: the envelope ID the sender gave, so it can match the DSN to
	// its submission.
	if b.EnvelopeID != "" {
		writeField(&s, "Original-Envelope-Id", b.EnvelopeID)
	}
	// §2.2.2: the MTA that generated the DSN. Required.
	writeField(&s, "Reporting-MTA", "dns; "+b.ReportingMTA)
	// §2.2.5: when the reporting MTA received the message.
	if !b.Arrival.IsZero() {
		writeField(&s, "Arrival-Date", b.Arrival.Format(rfc5322Date))
	}
	for _, r := range p.recipients {
		s.WriteString("\r\n")
		// RFC 6533 §3: "utf-8" is the address type of a non-ASCII address;
		// ASCII ones keep "rfc822" (RFC 3464 §2.1.2).
		typ := "rfc822; "
		if !isASCII(r.Address) {
			typ = "utf-8; "
		}
		// §2.3.1: the recipient as the sender named it. The site gave the
		// addresses itself when it submitted, so they are known.
		writeField(&s, "Original-Recipient", typ+r.Address)
		// §2.3.2: the recipient the report is about. Required.
		writeField(&s, "Final-Recipient", typ+r.Address)
		// §2.3.3: failed, delayed, delivered, relayed or expanded. Required.
		writeField(&s, "Action", r.Action)
		// §2.3.4: the RFC 3463 enhanced status code. Required.
		writeField(&s, "Status", r.Status)
		// §2.3.5: the MTA whose reply is the diagnostic.
		if b.RemoteMTA != "" {
			writeField(&s, "Remote-MTA", "dns; "+b.RemoteMTA)
		}
		// §2.3.6: the reply in SMTP form, which is what bounce parsers
		// classify on.
		if r.Diagnostic != "" {
			writeField(&s, "Diagnostic-Code", "smtp; "+r.Diagnostic)
		}
		// §2.3.7: when delivery was last attempted, or given up.
		writeField(&s, "Last-Attempt-Date", r.LastAttempt.Format(rfc5322Date))
	}
	return s.Bytes()
}

// writeField writes one DSN field, folded at spaces to keep lines near 78
// octets as RFC 5322 §2.1.1 asks; RFC 3464 §2.1 fields follow header syntax.
func writeField(w *bytes.Buffer, name, value string) {
	line := name + ":"
	for i, word := range strings.Split(value, " ") {
		if i > 0 && len(line)+1+len(word) > 78 {
			w.WriteString(line + "\r\n")
			line = ""
		}
		line += " " + word
	}
	w.WriteString(line + "\r\n")
}

// quotedHeader returns the header section of a message as a DSN quotes it:
// the fields up to the first line that is not one, with CRLF line endings.
// Stopping at the first non-field line keeps the body out even when a
// script forgot the empty line before it.
//
// A bare CR ends a line as LF does, so that mail with old Mac line endings
// does not turn its body into one long header line. Bytes that are not
// valid UTF-8 and NUL cannot be carried: each run of them becomes one
// U+FFFD. The choice over '?' or base64: the DSN stays readable by
// the site owner and by bounce parsers, and the replacement character says
// plainly that a byte was lost where '?' would pass for the original. Such a
// header is then UTF-8, so it is quoted as message/global-headers.
func quotedHeader(raw []byte) (header []byte, utf, long bool) {
	var out bytes.Buffer
	inField := false
	raw = bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))
	raw = bytes.ReplaceAll(raw, []byte("\r"), []byte("\n"))
	for i, line := range bytes.Split(raw, []byte("\n")) {
		if i == 0 && bytes.HasPrefix(line, []byte("From ")) {
			continue // an mbox separator, not a field
		}
		if len(line) == 0 {
			break
		}
		switch {
		case line[0] == ' ' || line[0] == '\t':
			if !inField {
				return out.Bytes(), utf, long
			}
		case isFieldStart(line):
			inField = true
		default:
			return out.Bytes(), utf, long
		}
		clean := sanitizeHeaderLine(line)
		if !isASCII(clean) {
			utf = true
		}
		if len(clean) > 998 {
			long = true
		}
		out.WriteString(clean)
		out.WriteString("\r\n")
	}
	return out.Bytes(), utf, long
}

// isFieldStart reports whether line starts a header field: a name of
// printable ASCII other than ':', optional white space (the obsolete
// syntax of RFC 5322 §4.5), then ':'.
func isFieldStart(line []byte) bool {
	n := 0
	for n < len(line) && line[n] > ' ' && line[n] < 0x7f && line[n] != ':' {
		n++
	}
	if n == 0 {
		return false
	}
	rest := bytes.TrimLeft(line[n:], " \t")
	return len(rest) > 0 && rest[0] == ':'
}

func sanitizeHeaderLine(line []byte) string {
	s := strings.ToValidUTF8(string(line), "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r == 0 {
			return utf8.RuneError
		}
		return r
	}, s)
}

// diagnosticText makes a reply fit a Diagnostic-Code field: one line of
// printable ASCII (RFC 3464 §2.3.6), at most maxDiagnostic octets.
func diagnosticText(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return '?'
		}
		return r
	}, s)
	if len(s) > maxDiagnostic {
		s = s[:maxDiagnostic]
	}
	return s
}

// originalSubject is the original's subject up to any CR or LF left after
// unfolding: those are bare line breaks, and what follows them is not the
// subject but, as quotedHeader reads it, further fields or the body.
func originalSubject(m *Message) string {
	s, _, _ := strings.Cut(m.Subject, "\r")
	s, _, _ = strings.Cut(s, "\n")
	return oneLine(s)
}

// oneLine makes text from the original safe to show on one line: valid
// UTF-8 without control characters.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

func printableASCII(s string, nonEmpty bool) bool {
	if nonEmpty && s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// newHeader returns a MIME header with the given name and value pairs, in
// that order.
func newHeader(kv ...string) message.Header {
	var h message.Header
	for i := len(kv) - 2; i >= 0; i -= 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// explanation is the human-readable first part: what happened, in words a
// website owner understands, and what to do about it.
func (b *Bounce) explanation(p *bouncePlan) string {
	if b.Text != "" {
		return strings.ToValidUTF8(b.Text, "\uFFFD")
	}
	var t strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&t, format+"\n", args...) }
	site := "The website that sent it"
	if s := oneLine(b.Site); s != "" {
		site = `The website "` + s + `"`
	}
	line("This is the mail system at host %s.", b.ReportingMTA)
	line("")
	switch b.Reason {
	case BounceSpamRun:
		line("Your message was NOT sent. It was not delivered to anyone.")
		line("")
		line("%s sent many messages that looked like spam", site)
		line("within a short time (a \"spam run\"), so the mail system disabled it")
		line("automatically. Every message the website had written but that was")
		line("not yet sent, like this one, is returned to you.")
		line("")
		line("A spam run almost always means that a form on the website (a contact")
		line("form, a \"tell a friend\" page, a guestbook) is being abused by spammers,")
		line("or that someone uploaded a mail script through a security hole.")
		line("")
		line("What to do:")
		line("  1. Update the website's software and plugins, protect its forms")
		line("     (for example with a CAPTCHA), and remove files you did not put there.")
		line("  2. Then ask your hosting provider to enable mail for the website again.")
	case BounceRelayRefused:
		line("Your message could not be delivered to the recipients listed below.")
		line("The mail server that relays mail for this host refused it for good,")
		line("so it will not be tried again.")
	case BounceExpired:
		line("Your message could not be delivered to the recipients listed below.")
		line("It was tried for as long as the mail system keeps messages, without")
		line("success, and will not be tried again.")
	}
	if b.ArticleURL != "" {
		line("")
		line("More information:")
		line("  %s", oneLine(b.ArticleURL))
	}
	line("")
	line("The returned message:")
	if s := originalSubject(b.Original); s != "" {
		line("  Subject:    %s", s)
	}
	if !b.Arrival.IsZero() {
		line("  Submitted:  %s", b.Arrival.Format(rfc5322Date))
	}
	const listed = 10
	for i, r := range p.recipients {
		if i == listed {
			line("              ... and %d more", len(p.recipients)-listed)
			break
		}
		label := ""
		if i == 0 {
			label = "Recipients:"
		}
		line("  %-11s %s", label, r.Address)
		if b.Reason != BounceSpamRun && r.Diagnostic != "" {
			// Here the reply is the news; in a spam run it only repeats
			// what the text above says.
			line("                reply: %s", r.Diagnostic)
		}
	}
	line("")
	line("The delivery report and the header of your message are attached;")
	line("the message itself is not.")
	return t.String()
}
