// Package relay hands a message spamrun has accepted to the host's own MTA,
// which does the real delivery: over SMTP to a local (or smarthost) server
// with SMTP, or by piping it to the MTA's own sendmail program with Command.
//
// Every failure is an *Error that says whether trying again later can
// help (Temporary) and keeps the MTA's reply code, enhanced status code and
// text, because the queue puts them in the DSN it sends when it gives up.
// The rule throughout is that only a definite refusal, or an envelope no
// MTA could ever take, is permanent: a relay that is down, slow,
// misconfigured or gives an answer nobody expected leaves the message in
// the queue for another attempt.
package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Relay delivers one message to the host's MTA.
//
// Deliver reads the message from data: the header and body as submitted,
// with LF or CRLF line endings. data is a reader, not a byte slice, so a
// queue runner can stream a large message from its spool file; when the
// recipients go in several batches, data is read once, and the message
// sent again by seeking back when data is an io.Seeker (as a file or a
// bytes.Reader is), or from a copy of what was read otherwise. If reading
// data fails, the MTA never sees the end of the truncated message, and no
// recipient gets it. Deliver returns nil when the MTA took responsibility
// for the message for every recipient, and an *Error otherwise.
type Relay interface {
	Deliver(ctx context.Context, env Envelope, data io.Reader) error
}

// DeliverFunc adapts a function to a Relay, for tests and for importers
// that deliver some other way.
type DeliverFunc func(ctx context.Context, env Envelope, data io.Reader) error

var _ Relay = DeliverFunc(nil)

// Deliver calls f.
func (f DeliverFunc) Deliver(ctx context.Context, env Envelope, data io.Reader) error {
	return f(ctx, env, data)
}

// DefaultTimeout bounds one delivery when SMTP.Timeout or Command.Timeout
// is zero. It is generous for a local MTA, which answers in milliseconds; a
// relay slower than this is treated as down, and the queue tries again.
const DefaultTimeout = 2 * time.Minute

// Envelope is the SMTP envelope of a message: who bounces go to and who
// gets it, which need not match the From: and To: header fields.
type Envelope struct {
	// From is the reverse-path. "" is the null sender <>, used for
	// bounces, so that a bounce never causes another.
	From string
	// To holds the recipients, at least one.
	To []string
	// SMTPUTF8 asks for RFC 6531 delivery because the header holds UTF-8.
	// It is implied when an address is not ASCII.
	SMTPUTF8 bool
}

func (env Envelope) needsSMTPUTF8() bool {
	if env.SMTPUTF8 || !isASCII(env.From) {
		return true
	}
	for _, to := range env.To {
		if !isASCII(to) {
			return true
		}
	}
	return false
}

// check refuses an envelope no MTA could take as meant. Angle brackets and
// control characters are refused because the address is written between
// brackets on an SMTP command line: "a@b> NOTIFY=NEVER" would add a
// parameter, and a CRLF would add a command.
func (env Envelope) check() *Error {
	if err := checkAddress(env.From); err != nil {
		return &Error{Enhanced: "5.1.7", Message: "bad sender address: " + err.Error(), kind: ErrBadAddress}
	}
	if len(env.To) == 0 {
		return &Error{Enhanced: "5.1.3", Message: "the envelope has no recipients", kind: ErrNoRecipients}
	}
	for _, to := range env.To {
		if to == "" {
			return &Error{Enhanced: "5.1.3", Message: "empty recipient address", kind: ErrBadAddress}
		}
		if err := checkAddress(to); err != nil {
			return &Error{Enhanced: "5.1.3", Message: "bad recipient address: " + err.Error(), kind: ErrBadAddress}
		}
	}
	return nil
}

// checkAddress refuses what would change the meaning of the command an
// address is written into, whoever made the envelope. It checks no more:
// the address syntax is the MTA's to judge, and every address
// spamrun.ParseAddress accepts, quoted local parts and UTF-8 included,
// must pass (FuzzParseAddress holds it to that).
func checkAddress(addr string) error {
	if !utf8.ValidString(addr) {
		return fmt.Errorf("%q is not valid UTF-8", addr)
	}
	for _, r := range addr {
		switch {
		case unicode.IsControl(r):
			return fmt.Errorf("%q contains a control character", addr)
		case r == '<' || r == '>':
			return fmt.Errorf("%q contains an angle bracket", addr)
		}
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Sentinel errors, matched with errors.Is on an *Error, for the failures
// that spamrun detects itself rather than hearing from the MTA.
var (
	// ErrBadAddress: an envelope address cannot be written into an SMTP
	// command or a command line. Permanent.
	ErrBadAddress = errors.New("relay: bad envelope address")
	// ErrNoRecipients: the envelope has no recipients. Permanent.
	ErrNoRecipients = errors.New("relay: no recipients")
	// ErrNoSMTPUTF8: the message needs SMTPUTF8 and the MTA does not offer
	// it. Permanent, as in Postfix: the message cannot be sent as it is.
	ErrNoSMTPUTF8 = errors.New("relay: SMTPUTF8 needed but not offered")
	// ErrNoStartTLS: STARTTLS is required and the MTA does not offer it.
	// Temporary.
	ErrNoStartTLS = errors.New("relay: STARTTLS required but not offered")
	// ErrAuthUnavailable: a username is configured, but the MTA offers no
	// AUTH PLAIN, or the password would cross the network unprotected.
	// Temporary.
	ErrAuthUnavailable = errors.New("relay: cannot authenticate")
	// ErrBadConfig: the relay's own settings are unusable (for a Command,
	// also what ParseCommand refuses). Temporary when Deliver meets it, so
	// that mail waits for the operator's fix instead of bouncing.
	ErrBadConfig = errors.New("relay: bad configuration")
)

// Error is a failed delivery. Code, Enhanced and Message hold the MTA's
// reply when there was one; otherwise Code is 0, Enhanced is a status
// spamrun chose from RFC 3463, and Message or Err says what happened.
//
// When Rcpts is not empty the failure concerns only those recipients: the
// message was delivered to every recipient of the envelope not listed.
// Retry the listed ones whose Refusal is Temporary and bounce the others.
// When Rcpts is empty, no recipient got the message.
type Error struct {
	// Code is the SMTP reply code, such as 550; 0 when there was no reply.
	Code int
	// Enhanced is the RFC 3463 status code, such as "5.1.1": the MTA's own,
	// or one derived from Code when the MTA sent none. It is what a DSN's
	// Status field needs.
	Enhanced string
	// Message is the MTA's reply text; for a Command, the end of what the
	// program wrote to stderr; otherwise a description of the failure.
	Message string
	// Rcpts lists the recipients that did not get the message, each with
	// its own reply, when the MTA took the message for some recipients
	// and not for others.
	Rcpts []Refusal
	// Err is the underlying cause when there was no SMTP reply: a network
	// error, a context error, an *exec.ExitError.
	Err error

	via  string // "smtp 127.0.0.1:25", for the message
	kind error  // one of the sentinels, for errors.Is
	soft bool   // temporary whatever the code: the host's settings are at fault
}

// Refusal is the MTA's answer for one recipient it did not take the
// message for.
type Refusal struct {
	Rcpt     string
	Code     int
	Enhanced string
	Message  string
}

// Temporary reports whether delivering to this recipient later may work.
func (r Refusal) Temporary() bool { return temporary(r.Code, r.Enhanced) }

func (r Refusal) String() string {
	return "<" + r.Rcpt + ">: " + formatReply(r.Code, r.Enhanced, r.Message)
}

// Reply is the MTA's answer for the recipient on one line, code first, as
// a DSN's Diagnostic-Code wants it: "550 5.1.1 no such user".
func (r Refusal) Reply() string { return oneLine(formatReply(r.Code, r.Enhanced, r.Message)) }

// Reply is the MTA's answer on one line, code first ("550 5.7.1 ..."), or
// when there was none, the status and what happened.
func (e *Error) Reply() string {
	msg := e.Message
	if e.Code == 0 && e.Err != nil {
		msg = strings.TrimSpace(e.Err.Error() + " " + msg)
	}
	return oneLine(formatReply(e.Code, e.Enhanced, msg))
}

// Temporary reports whether trying again later may succeed. Only a
// definite refusal of the message is permanent: a 5xx reply, or with no
// reply a 5.x.x status. A refused AUTH (535) is temporary: the host's
// credentials are wrong, not the message. With Rcpts, it reports whether any listed recipient is worth
// retrying.
func (e *Error) Temporary() bool {
	if e.soft {
		return true
	}
	if len(e.Rcpts) > 0 {
		for _, r := range e.Rcpts {
			if r.Temporary() {
				return true
			}
		}
		return false
	}
	return temporary(e.Code, e.Enhanced)
}

func temporary(code int, enhanced string) bool {
	if code != 0 {
		return code/100 != 5
	}
	return !strings.HasPrefix(enhanced, "5.")
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("relay")
	if e.via != "" {
		b.WriteString(": " + e.via)
	}
	if e.Code != 0 {
		b.WriteString(": " + oneLine(formatReply(e.Code, e.Enhanced, e.Message)))
	}
	if e.Code == 0 && e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	if e.Code == 0 && e.Message != "" {
		b.WriteString(": " + oneLine(e.Message))
	}
	if e.Code == 0 && e.Err == nil && e.Message == "" && e.Enhanced != "" && len(e.Rcpts) == 0 {
		b.WriteString(": status " + e.Enhanced)
	}
	if n := len(e.Rcpts); n > 0 {
		fmt.Fprintf(&b, ": %d %s not delivered: ", n, plural(n, "recipient", "recipients"))
		const shown = 3
		for i, r := range e.Rcpts[:min(n, shown)] {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(oneLine(r.String()))
		}
		if n > shown {
			fmt.Fprintf(&b, "; and %d more", n-shown)
		}
	}
	return b.String()
}

// Unwrap gives errors.Is and errors.As the sentinel and the cause.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// IsTemporary reports whether err is or wraps an *Error that is
// temporary. It is false for nil and for errors that are not from this
// package.
func IsTemporary(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Temporary()
}

// IsPermanent reports whether err is or wraps an *Error that is
// permanent: the message must be bounced, not retried. It is false for
// nil and for errors that are not from this package, so a queue that
// bounces only on IsPermanent retries whatever it does not understand.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && !e.Temporary()
}

func formatReply(code int, enhanced, msg string) string {
	var parts []string
	if code != 0 {
		parts = append(parts, strconv.Itoa(code))
	}
	if enhanced != "" {
		parts = append(parts, enhanced)
	}
	if msg != "" {
		parts = append(parts, msg)
	}
	return strings.Join(parts, " ")
}

// oneLine keeps a multi-line reply or stderr tail on one line of a log.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' })
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, " / ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
