package spamrun

import (
	"bytes"
	"fmt"
	"iter"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jhillyerd/enmime/v2"
)

// Message is one submitted message, parsed once and handed to every stage.
// Make one with ParseMessage: the header lookups and IsAutomatic read what
// it parsed, and a Message put together by hand has no header.
type Message struct {
	// Sender is the envelope sender (sendmail -f, SMTP MAIL FROM). The empty
	// string is the null sender <>.
	Sender string
	// Recipients are the envelope recipients.
	Recipients []string
	// Raw is the message as submitted, header and body, with its line endings.
	Raw []byte

	// Subject is the decoded Subject header.
	Subject string
	// Text and HTML are the decoded body parts; Text is derived from HTML when
	// the message has no text part. Parts yields the content of the others.
	Text string
	HTML string
	// Attachments lists the parts that are not body text.
	Attachments []Attachment
	// Warnings says what was malformed. A message with warnings is still
	// delivered, scored and counted like any other.
	Warnings []string

	// Evidence is what the submitting process said about itself. It is
	// recorded, never trusted.
	Evidence Evidence

	// SubmissionID names the submission across the attempts to decide it;
	// sendmail and the queue runner use the spool ID. A decision can be
	// made twice: the runner decides a message, the store counts it, and
	// the spool update that would record the decision fails; or a store
	// answers too late for sendmail, which accepts the message undecided,
	// but records it all the same. Deciding a submission again counts it
	// once (see Store.RecordSpam). Empty means no key: every decision of
	// the message counts.
	SubmissionID string

	// SiteDomains are the domains the sending site owns, from the
	// configuration (spamrun.Site.Domains), set by the submission path;
	// nil when the site is not known. They are the only domains the
	// scorer trusts to be the site's own: the From and envelope domains
	// are whatever the sender chose.
	SiteDomains []string

	env *enmime.Envelope
}

// Attachment describes one non-text part of a message.
type Attachment struct {
	Name        string // file name from Content-Disposition or Content-Type
	ContentType string // media type without parameters, lower case
	Size        int    // decoded size in bytes
}

// Part is one part of a message's content beyond Text and HTML, as Parts
// yields it: a second text or HTML part, an attachment, a part of a
// forwarded message.
type Part struct {
	// MediaType is the media type without parameters, in lower case.
	MediaType string
	// Name is the file name from Content-Disposition or Content-Type, ""
	// if the part has none.
	Name string
	// Content is the decoded content, converted to UTF-8 where a text
	// part declared its charset. It shares memory with the message: it is
	// read-only, and is the whole part however large; the reader bounds
	// what it reads.
	Content []byte
	// Depth is the number of forwarded messages (message/rfc822 parts)
	// the part is inside: 0 for the message's own parts.
	Depth int
	// Subject is the decoded Subject of a forwarded message, for a
	// message/rfc822 part that could be read; "" for any other part.
	Subject string
}

// Bounds on Parts.
const (
	// maxParts is the most parts Parts yields for one message.
	maxParts = 100
	// maxForwardDepth is how deep Parts follows forwarded messages.
	maxForwardDepth = 3
	// maxForwardedBytes is how much of a forwarded message Parts parses:
	// its header and first parts, which is where its text is.
	maxForwardedBytes = 1 << 20
	// maxForwardedTotal is how much of all forwarded messages together
	// Parts parses.
	maxForwardedTotal = 4 << 20
)

// Parts yields the parts of the message that Text and HTML do not hold,
// in the order they occur: text and HTML parts after the first,
// attachments and inline parts of every type, and for a forwarded message
// (message/rfc822) first the part itself, with the forwarded Subject, and
// then the forwarded message's text, its HTML and its own parts, one
// level deeper, down to maxForwardDepth. It yields at most maxParts parts.
//
// Parts copies nothing from the message: each Part's Content is the
// parsed part. Only a forwarded message is parsed again, at most its
// first maxForwardedBytes bytes and maxForwardedTotal for all of them,
// when the sequence reaches it. A Message put together by hand has no
// parts.
func (m *Message) Parts() iter.Seq[Part] {
	return func(yield func(Part) bool) {
		if m.env == nil || m.env.Root == nil {
			return
		}
		w := partWalk{yield: yield}
		w.walk(m.env, 0)
	}
}

// partWalk is the state of one iteration of Parts.
type partWalk struct {
	yield  func(Part) bool
	n      int // parts yielded
	parsed int // bytes of forwarded messages parsed
}

// walk yields the parts of env that are not its Text or HTML, at depth;
// it reports false when the walk is to stop.
func (w *partWalk) walk(env *enmime.Envelope, depth int) bool {
	n, yield := &w.n, w.yield
	body := bodyParts(env)
	return eachLeaf(env.Root, func(p *enmime.Part) bool {
		if slices.Contains(body, p) {
			return true
		}
		if *n >= maxParts {
			return false
		}
		*n++
		part := Part{
			MediaType: strings.ToLower(p.ContentType),
			Name:      validUTF8(p.FileName),
			Content:   p.Content,
			Depth:     depth,
		}
		if part.MediaType != "message/rfc822" && part.MediaType != "message/global" || depth >= maxForwardDepth {
			return yield(part)
		}
		raw := p.Content[:min(len(p.Content), maxForwardedBytes, maxForwardedTotal-w.parsed)]
		if len(raw) == 0 {
			return yield(part)
		}
		w.parsed += len(raw)
		fwd, err := parser.ReadEnvelope(bytes.NewReader(raw))
		if err != nil || fwd.Root == nil {
			return yield(part)
		}
		part.Subject = validUTF8(fwd.GetHeader("Subject"))
		if !yield(part) {
			return false
		}
		for _, body := range []Part{
			{MediaType: "text/plain", Content: []byte(validUTF8(fwd.Text)), Depth: depth + 1},
			{MediaType: "text/html", Content: []byte(validUTF8(fwd.HTML)), Depth: depth + 1},
		} {
			if len(body.Content) == 0 {
				continue
			}
			if *n >= maxParts {
				return false
			}
			*n++
			if !yield(body) {
				return false
			}
		}
		return w.walk(fwd, depth+1)
	})
}

// bodyParts returns the parts of a parsed tree that enmime made Text and
// HTML of: in a multipart/alternative the first text/plain part, in any
// other multipart every text/plain part, and the first text/html part;
// none of them an attachment. A single part is the body, unless enmime
// took it for an attachment.
func bodyParts(env *enmime.Envelope) []*enmime.Part {
	root := env.Root
	if root.FirstChild == nil {
		if slices.Contains(env.Attachments, root) || slices.Contains(env.Inlines, root) {
			return nil
		}
		return []*enmime.Part{root}
	}
	plain := func(p *enmime.Part) bool { return p.ContentType == "text/plain" && p.Disposition != "attachment" }
	var body []*enmime.Part
	if root.ContentType == "multipart/alternative" {
		if p := root.BreadthMatchFirst(plain); p != nil {
			body = append(body, p)
		}
	} else {
		body = root.DepthMatchAll(plain)
	}
	if p := root.DepthMatchFirst(func(p *enmime.Part) bool {
		return p.ContentType == "text/html" && p.Disposition != "attachment"
	}); p != nil {
		body = append(body, p)
	}
	return body
}

// eachLeaf calls f on every part of the tree under p that has no
// children, depth first, until f returns false; it reports whether f
// never did.
func eachLeaf(p *enmime.Part, f func(*enmime.Part) bool) bool {
	for ; p != nil; p = p.NextSibling {
		if p.FirstChild == nil {
			if !f(p) {
				return false
			}
		} else if !eachLeaf(p.FirstChild, f) {
			return false
		}
	}
	return true
}

// Evidence is what a submission says about where it came from. It is written
// by the site, so it can be forged; it is kept for the incident report and
// never used to identify the site.
type Evidence struct {
	// Script is the X-PHP-Originating-Script header PHP adds with
	// mail.add_x_header: "UID:script.php".
	Script string `json:"script,omitempty"`
	// Cwd is the working directory of the process that ran sendmail.
	Cwd string `json:"cwd,omitempty"`
	// Command is the command line of that process.
	Command []string `json:"command,omitempty"`
	// UID is the real UID sendmail ran as.
	UID int `json:"uid"`
	// File is what the file system said of the script that sent the
	// message, when its path could be found and read; nil otherwise.
	File *ScriptFile `json:"file,omitempty"`
	// Door is how the message reached spamrun: "sendmail", "smtp-local"
	// (the SMTP listener, connected to directly) or "smtp-redirected" (the
	// listener, by the egress lock); "" in messages from before doors
	// were recorded, which came through sendmail.
	Door string `json:"door,omitempty"`
	// Destination is where a redirected connection was going, as
	// "address:port": the mail server the site meant to reach.
	Destination string `json:"destination,omitempty"`
}

// ScriptFile is the stat of a script that sent mail, taken when the message
// was submitted: an uploaded mailer is typically a file changed minutes
// before the run, owned by the site's user, in an upload directory.
type ScriptFile struct {
	// Path is the absolute path of the script.
	Path string `json:"path"`
	// Size is in bytes.
	Size int64 `json:"size"`
	// ModTime is the file's mtime, which the site can set; ChangeTime is
	// its ctime, which only the kernel sets.
	ModTime    time.Time `json:"mtime"`
	ChangeTime time.Time `json:"ctime"`
	// UID is the file's owner.
	UID int `json:"uid"`
}

// Domain returns the domain of an address in lower case, or "" if it has none.
func Domain(addr string) string {
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		return strings.ToLower(addr[at+1:])
	}
	return ""
}

// ParseMessage parses raw into a Message with the given envelope. The
// envelope addresses are checked with ParseAddress; that is the only error.
// Malformed content never fails: it yields whatever could be read, with
// Warnings saying what was wrong.
func ParseMessage(raw []byte, sender string, recipients []string) (*Message, error) {
	s, err := ParseAddress(sender)
	if err != nil {
		return nil, fmt.Errorf("envelope sender: %w", err)
	}
	m := &Message{Sender: s, Raw: raw}
	for _, r := range recipients {
		a, err := ParseAddress(r)
		if err != nil {
			return nil, fmt.Errorf("envelope recipient: %w", err)
		}
		if a == "" {
			return nil, fmt.Errorf("envelope recipient: %w: empty", ErrBadAddress)
		}
		m.Recipients = append(m.Recipients, a)
	}
	m.parse()
	return m, nil
}

// parser trusts a part's declared charset and guesses only where none is
// declared. Guessing on every part costs most of the parse time, and a
// wrong declaration is worth seeing as such: it shows up as mojibake, which
// the scorer notices. A multipart type without a boundary is read as one
// part, and a part that cannot be read is skipped with an error, so that
// one broken part costs that part and never the header or its siblings.
var parser = enmime.NewParser(
	enmime.DisableCharacterDetection(true),
	enmime.MultipartWOBoundaryAsSinglePart(true),
	enmime.SkipMalformedParts(true),
)

func (m *Message) parse() {
	if bytes.IndexByte(m.Raw, 0) >= 0 {
		m.Warnings = append(m.Warnings, "message contains NUL bytes")
	}
	env, err := parser.ReadEnvelope(bytes.NewReader(m.Raw))
	if err != nil {
		// enmime gives up only on a header it cannot read at all, whose
		// first line is no field; what remains is still mail that
		// somebody wants sent, so score the bytes as text.
		m.Warnings = append(m.Warnings, "unreadable header: "+err.Error())
		m.Text = validUTF8(string(m.Raw))
		return
	}
	m.env = env
	m.Subject = validUTF8(env.GetHeader("Subject"))
	m.Text = validUTF8(env.Text)
	m.HTML = validUTF8(env.HTML)
	for _, list := range [][]*enmime.Part{env.Attachments, env.Inlines, env.OtherParts} {
		for _, p := range list {
			m.Attachments = append(m.Attachments, Attachment{
				Name:        validUTF8(p.FileName),
				ContentType: strings.ToLower(p.ContentType),
				Size:        len(p.Content),
			})
		}
	}
	for _, e := range env.Errors {
		m.Warnings = append(m.Warnings, e.Error())
	}
	if m.Text == "" && m.HTML == "" && unparted(env) {
		// A multipart body without a boundary, or whose boundary never
		// occurs, has no parts, yet a mail client may still show its
		// bytes.
		body := bytes.TrimPrefix(bytes.TrimPrefix(m.Raw[len(m.RawHeader()):], []byte("\r")), []byte("\n"))
		if len(bytes.TrimSpace(body)) > 0 {
			m.Warnings = append(m.Warnings, "multipart body without parts")
			m.Text = validUTF8(string(body))
		}
	}
	if m.Evidence.Script == "" {
		m.Evidence.Script = env.GetHeader("X-PHP-Originating-Script")
	}
}

// Header returns the first value of the named header field, with RFC 2047
// encoded words decoded, or "" when the field is absent.
func (m *Message) Header(name string) string {
	if m.env == nil {
		return ""
	}
	return m.env.GetHeader(name)
}

// HeaderValues returns every value of the named header field, decoded.
func (m *Message) HeaderValues(name string) []string {
	if m.env == nil {
		return nil
	}
	return m.env.GetHeaderValues(name)
}

// HasHeader reports whether the named header field is present at all.
func (m *Message) HasHeader(name string) bool {
	return len(m.HeaderValues(name)) > 0
}

// Addresses returns the addresses in the named header field (To, Cc, From,
// ...). Unparseable lists give what could be read.
func (m *Message) Addresses(name string) []*mail.Address {
	if m.env == nil {
		return nil
	}
	list, _ := m.env.AddressList(name)
	return list
}

// RawHeader returns the header section of Raw, as submitted, up to and not
// including the empty line that ends it.
func (m *Message) RawHeader() []byte {
	raw := m.Raw
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\n')
		if j < 0 {
			return raw
		}
		line := raw[i : i+j]
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return raw[:i]
		}
		i += j + 1
	}
	return raw
}

// IsAutomatic reports whether the message is itself a bounce or an automatic
// reply, to which no bounce may ever be sent: a null sender, an
// Auto-Submitted value other than "no" (RFC 3834), or a multipart/report.
func (m *Message) IsAutomatic() bool {
	if m.Sender == "" {
		return true
	}
	if v := strings.ToLower(strings.TrimSpace(m.Header("Auto-Submitted"))); v != "" && v != "no" {
		return true
	}
	if strings.HasPrefix(strings.ToLower(m.Header("Content-Type")), "multipart/report") {
		return true
	}
	return false
}

// unparted reports whether env is a multipart message whose body yielded
// no part: none at all, or one that is itself of a multipart type.
func unparted(env *enmime.Envelope) bool {
	if !strings.HasPrefix(strings.ToLower(env.GetHeader("Content-Type")), "multipart/") {
		return false
	}
	parts := slices.Concat(env.Attachments, env.Inlines, env.OtherParts)
	return len(parts) == 0 || len(parts) == 1 && strings.HasPrefix(strings.ToLower(parts[0].ContentType), "multipart/")
}

// validUTF8 replaces what is not UTF-8: a part whose charset could not be
// converted keeps its bytes, and every later stage works on text.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
