// Package notify tells people that a site tripped, and that it was
// re-enabled: the site's owner, in plain words, and the host's operator,
// with the incident report and the commands to run next.
//
// A Notifier builds the messages; it sends nothing. The queue runner writes
// them into the spool as notices (spool.KindNotice) and relays them from the
// null sender, as it does DSNs, so that a relay that is down delays a notice
// but never loses it. Every notice has an ID derived from its incident, so a
// process that crashes after writing one and trips again does not write a
// second.
//
// The words come from text/template files, embedded in English ("en") and
// Dutch ("nl"), that an operator can replace one by one (see
// LoadTemplates). The site's owner gets what happened, the likely cause and
// the advice of the report's top finding, what became of the queued mail,
// the article and how to get re-enabled; never the spam's subjects or
// text, nor anything of another site. The operator gets the same, the full
// text report, the commands to run and the HTML report as an attachment.
package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/report"
)

// Roles of the people a notice goes to, as the last word of its ID says.
const (
	RoleSite     = "site"     // the site's contacts
	RoleOperator = "operator" // the host's operators
)

// Notice is one message built for the spool.
type Notice struct {
	// ID is the notice's spool ID, derived from the incident: the same
	// notice of the same incident always has the same ID.
	ID string
	// Role is RoleSite or RoleOperator.
	Role string
	// To are the envelope recipients, bare addresses.
	To []string
	// Data is the message, header and body, with CRLF line endings.
	Data []byte
}

// Fate is what became of a tripped site's queued mail.
type Fate struct {
	Bounced int // returned to the sender with a DSN
	Kept    int // kept in quarantine for the operator
}

// Notifier builds the notices of a host. Its fields are set before first
// use and not changed after.
type Notifier struct {
	// Operator are the addresses of the host's operators; none means the
	// operators get no notice.
	Operator []string
	// Contacts returns the addresses of a site's owners; nil, or none,
	// means the site's owners get no notice. A control panel may look
	// them up in its own database.
	Contacts func(ctx context.Context, site string) ([]string, error)
	// Language returns the language of a site's notices, "" for
	// DefaultLanguage; nil means DefaultLanguage for every site.
	Language func(site string) string
	// DefaultLanguage is the language of the operator's notices and of
	// sites without one; "" means "en".
	DefaultLanguage string
	// From is the From field, such as "spamrun <postmaster@example.net>";
	// "" means spamrun <postmaster@Hostname>.
	From string
	// Hostname goes into Message-IDs and the default From; "" means
	// "localhost".
	Hostname string
	// ArticleURL is the article that tells a site's owner what to do.
	ArticleURL string
	// Templates are the words; nil means the embedded ones.
	Templates *Templates
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (n *Notifier) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

func (n *Notifier) hostname() string {
	if n.Hostname != "" {
		return n.Hostname
	}
	return "localhost"
}

func (n *Notifier) templates() *Templates {
	if n.Templates != nil {
		return n.Templates
	}
	return Embedded()
}

func (n *Notifier) language(site string) string {
	if site != "" && n.Language != nil {
		if l := n.Language(site); l != "" {
			return l
		}
	}
	if n.DefaultLanguage != "" {
		return n.DefaultLanguage
	}
	return DefaultLanguage
}

func (n *Notifier) from() (*mail.Address, error) {
	if n.From == "" {
		return &mail.Address{Name: "spamrun", Address: "postmaster@" + n.hostname()}, nil
	}
	a, err := mail.ParseAddress(n.From)
	if err != nil {
		return nil, fmt.Errorf("notify: From %q: %w", n.From, err)
	}
	return a, nil
}

// NoticeID is the spool ID of the notice of an incident for role; event is
// "" for the trip and "enabled" for the re-enabling.
func NoticeID(incident, event, role string) string {
	id := spoolSafe(incident) + "-notice"
	if event != "" {
		id += "-" + event
	}
	return id + "-" + role
}

// spoolSafe keeps an incident ID to what a file name may hold. Incident
// IDs are a time and a site name, which are safe already; this is for an
// importer's own.
func spoolSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.", r) {
			return r
		}
		return '_'
	}, s)
}

// Tripped builds the notices of an incident: one to the site's contacts,
// one to the operators, each only when there is someone to send it to. A
// failure to find the contacts costs their notice only: the operators'
// is returned with the error.
func (n *Notifier) Tripped(ctx context.Context, inc *spamrun.Incident, fate Fate) ([]Notice, error) {
	if len(n.Operator) == 0 && n.Contacts == nil {
		return nil, nil // no one to tell: no report to build
	}
	now := n.now()
	rep := report.Build(inc, &report.Options{Now: func() time.Time { return now }, ArticleURL: n.ArticleURL})
	data := n.data(inc, rep, fate)
	var (
		notices []Notice
		errs    []error
	)
	contacts, err := n.contacts(ctx, inc.Site)
	if err != nil {
		errs = append(errs, err)
	}
	if len(contacts) > 0 {
		sd := *data
		if len(rep.Findings) > 0 {
			sd.Advice = OwnerAdvice(rep.Findings[0])
		}
		nt, err := n.build(inc.ID, "", RoleSite, TemplateTrippedSite, n.language(inc.Site), contacts, &sd, now, nil)
		notices, errs = appendNotice(notices, errs, nt, err)
	}
	if len(n.Operator) > 0 {
		od := *data
		od.Operator = true
		var text, html bytes.Buffer
		if err := rep.WriteText(&text); err != nil {
			return notices, fmt.Errorf("notify: writing the report of incident %s: %w", inc.ID, err)
		}
		if err := rep.WriteHTML(&html); err != nil {
			return notices, fmt.Errorf("notify: writing the HTML report of incident %s: %w", inc.ID, err)
		}
		od.Report = text.String()
		od.Commands = commands(inc)
		att := &attachment{name: "incident-" + spoolSafe(inc.ID) + ".html", data: html.Bytes()}
		nt, err := n.build(inc.ID, "", RoleOperator, TemplateTrippedOperator, n.language(""), n.Operator, &od, now, att)
		notices, errs = appendNotice(notices, errs, nt, err)
	}
	return notices, errors.Join(errs...)
}

// Enabled builds the short notices that a site may send mail again, to its
// contacts and to the operators. inc is the incident that had disabled
// it.
func (n *Notifier) Enabled(ctx context.Context, inc *spamrun.Incident) ([]Notice, error) {
	now := n.now()
	data := &Data{
		Site: inc.Site, Incident: inc.ID, Time: inc.Time.UTC(), Now: now.UTC(),
		Hostname: n.hostname(), ArticleURL: n.ArticleURL,
	}
	var (
		notices []Notice
		errs    []error
	)
	contacts, err := n.contacts(ctx, inc.Site)
	if err != nil {
		errs = append(errs, err)
	}
	if len(contacts) > 0 {
		nt, err := n.build(inc.ID, "enabled", RoleSite, TemplateEnabled, n.language(inc.Site), contacts, data, now, nil)
		notices, errs = appendNotice(notices, errs, nt, err)
	}
	if len(n.Operator) > 0 {
		od := *data
		od.Operator = true
		nt, err := n.build(inc.ID, "enabled", RoleOperator, TemplateEnabled, n.language(""), n.Operator, &od, now, nil)
		notices, errs = appendNotice(notices, errs, nt, err)
	}
	return notices, errors.Join(errs...)
}

func appendNotice(notices []Notice, errs []error, nt Notice, err error) ([]Notice, []error) {
	if err != nil {
		return notices, append(errs, err)
	}
	return append(notices, nt), errs
}

func (n *Notifier) contacts(ctx context.Context, site string) ([]string, error) {
	if n.Contacts == nil {
		return nil, nil
	}
	c, err := n.Contacts(ctx, site)
	if err != nil {
		return nil, fmt.Errorf("notify: the contacts of site %s: %w", site, err)
	}
	return c, nil
}

// data is what the templates of a trip are given, without the operator's
// part.
func (n *Notifier) data(inc *spamrun.Incident, rep *report.Report, fate Fate) *Data {
	d := &Data{
		Site: inc.Site, Incident: inc.ID, Time: inc.Time.UTC(), Now: n.now().UTC(),
		Count: inc.Count, MaxSpam: inc.Policy.MaxSpam, Recipients: inc.Policy.Count != spamrun.CountMessages,
		Window: report.ShortDuration(inc.Policy.Window), Bounced: fate.Bounced, Kept: fate.Kept,
		Hostname: n.hostname(), ArticleURL: n.ArticleURL,
	}
	if len(rep.Findings) > 0 {
		f := rep.Findings[0]
		d.Cause, d.Title, d.Advice = string(f.Cause), f.Title, f.Advice
	}
	return d
}

// OwnerAdvice is a finding's advice for the site's owner: without the
// lines that name spamrun's commands, which only the operator can run.
func OwnerAdvice(f report.Finding) []string {
	var out []string
	for _, a := range f.Advice {
		if !strings.Contains(a, "spamrun ") {
			out = append(out, a)
		}
	}
	return out
}

// commands are what the operator runs next, with the real names of
// spamrun's commands.
func commands(inc *spamrun.Incident) []string {
	return []string{
		"spamrun incidents show " + inc.ID,
		"spamrun queue list --all " + inc.Site,
		"spamrun status " + inc.Site,
		"spamrun enable " + inc.Site,
	}
}

type attachment struct {
	name string
	data []byte
}

// build renders one notice and writes it as a message: text/plain, or
// multipart/mixed with the attachment.
func (n *Notifier) build(incident, event, role, name, lang string, to []string, d *Data, now time.Time, att *attachment) (Notice, error) {
	id := NoticeID(incident, event, role)
	subject, body, err := n.templates().Render(name, lang, d)
	if err != nil {
		return Notice{}, err
	}
	from, err := n.from()
	if err != nil {
		return Notice{}, err
	}
	rcpts := make([]*mail.Address, 0, len(to))
	bare := make([]string, 0, len(to))
	for _, t := range to {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return Notice{}, fmt.Errorf("notify: address %q: %w", t, err)
		}
		rcpts = append(rcpts, a)
		bare = append(bare, a.Address)
	}
	// go-message writes the field added last first, so the header is
	// built from the bottom up.
	var h gomail.Header
	if att == nil {
		h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
		h.Set("Content-Transfer-Encoding", "quoted-printable")
	}
	h.Set("X-Spamrun-Incident", incident)
	// RFC 3834 §5: made by a program, not in reply to anything; no
	// vacation responder answers it.
	h.Set("Auto-Submitted", "auto-generated")
	h.SetMessageID(id + "@" + n.hostname())
	h.SetDate(now)
	h.SetSubject(subject)
	h.SetAddressList("To", rcpts)
	h.SetAddressList("From", []*mail.Address{from})
	var buf bytes.Buffer
	if err := writeMessage(&buf, h, body, att); err != nil {
		return Notice{}, fmt.Errorf("notify: writing notice %s: %w", id, err)
	}
	return Notice{ID: id, Role: role, To: bare, Data: buf.Bytes()}, nil
}

func writeMessage(buf *bytes.Buffer, h gomail.Header, body string, att *attachment) error {
	text := func(ih *gomail.InlineHeader) {
		ih.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
		ih.Set("Content-Transfer-Encoding", "quoted-printable")
	}
	body = strings.ReplaceAll(body, "\n", "\r\n")
	if att == nil {
		w, err := gomail.CreateSingleInlineWriter(buf, h)
		if err != nil {
			return err
		}
		if _, err := w.Write([]byte(body)); err != nil {
			return err
		}
		return w.Close()
	}
	h.Set("MIME-Version", "1.0")
	mw, err := gomail.CreateWriter(buf, h)
	if err != nil {
		return err
	}
	var ih gomail.InlineHeader
	text(&ih)
	tw, err := mw.CreateSingleInline(ih)
	if err != nil {
		return err
	}
	if _, err := tw.Write([]byte(body)); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	var ah gomail.AttachmentHeader
	ah.SetContentType("text/html", map[string]string{"charset": "utf-8"})
	ah.SetFilename(att.name)
	ah.Set("Content-Transfer-Encoding", "base64")
	aw, err := mw.CreateAttachment(ah)
	if err != nil {
		return err
	}
	if _, err := aw.Write(att.data); err != nil {
		return err
	}
	if err := aw.Close(); err != nil {
		return err
	}
	return mw.Close()
}
