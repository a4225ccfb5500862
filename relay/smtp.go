package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// StartTLSMode says whether SMTP encrypts the connection with STARTTLS.
type StartTLSMode int

const (
	// StartTLSOff sends in plain text. It is the zero value because the
	// default relay is an MTA on the loopback interface, where the
	// traffic never leaves the machine.
	StartTLSOff StartTLSMode = iota
	// StartTLSOpportunistic encrypts when the MTA offers STARTTLS and
	// sends in plain text when it does not. Without a TLSConfig the
	// certificate is not verified: opportunistic TLS only defends against
	// eavesdropping (RFC 7435), since an active attacker can strip the
	// STARTTLS offer anyway. With a TLSConfig, it is verified as that
	// config says, and a failed verification fails the delivery rather
	// than falling back to plain text.
	StartTLSOpportunistic
	// StartTLSRequired fails the delivery (temporarily) unless the MTA
	// offers STARTTLS and its certificate verifies against TLSConfig, or
	// against the system roots when TLSConfig is nil.
	StartTLSRequired
)

var startTLSNames = [...]string{"off", "opportunistic", "required"}

func (m StartTLSMode) String() string {
	if m >= 0 && int(m) < len(startTLSNames) {
		return startTLSNames[m]
	}
	return fmt.Sprintf("StartTLSMode(%d)", int(m))
}

// ParseStartTLSMode parses "off", "opportunistic" or "required", the
// spelling of a config file.
func ParseStartTLSMode(s string) (StartTLSMode, error) {
	for i, name := range startTLSNames {
		if strings.EqualFold(s, name) {
			return StartTLSMode(i), nil
		}
	}
	return 0, fmt.Errorf("%w: STARTTLS mode %q is not off, opportunistic or required", ErrBadConfig, s)
}

// UnmarshalText lets a config decoder fill a StartTLSMode from a string.
func (m *StartTLSMode) UnmarshalText(text []byte) error {
	mode, err := ParseStartTLSMode(string(text))
	if err != nil {
		return err
	}
	*m = mode
	return nil
}

// MarshalText is the inverse of UnmarshalText.
func (m StartTLSMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// SMTP delivers to an MTA over SMTP, one connection per message. The
// message goes out dot-stuffed with CRLF line endings, whatever endings
// data has, and with a final line break added if it lacks one.
//
// Recipients are offered one by one, at most MaxRecipients in one mail
// transaction; the rest follow in further transactions on the same
// connection, each sending the message again. When the MTA answers a
// RCPT with 452 or the status 4.5.3 (too many recipients), that
// transaction goes on to DATA with the recipients it has, and the
// refused one and the rest of the batch are offered in the next, as RFC
// 5321 section 4.5.3.1.10 asks; if the first recipient of a transaction
// gets that answer, the recipients still to go wait for the next attempt.
// A connection is replaced only when the MTA closes it between
// transactions (421, or no answer to MAIL) after taking at least one.
//
// When the MTA refuses some recipients and takes others, the message goes
// to those it took and Deliver returns an *Error whose Rcpts lists the
// others, each with its reply: a refused RCPT, the failed DATA of its
// transaction, or, for those not yet offered when the connection was
// lost, the reason it was. A transaction whose recipients are all refused
// sends no DATA.
//
// AUTH PLAIN is used when Username is set, and only over a connection an
// eavesdropper cannot read: to a loopback address, or over TLS whose
// certificate was verified. An opportunistic, unverified TLS session does
// not count, since whoever can strip STARTTLS can also offer their own
// certificate.
type SMTP struct {
	// Addr is the MTA's host:port, such as "127.0.0.1:25".
	Addr string
	// Helo is the name given in EHLO (or HELO, if the MTA refuses EHLO);
	// empty means the machine's host name.
	Helo string
	// StartTLS says whether to encrypt; the zero value is StartTLSOff.
	StartTLS StartTLSMode
	// TLSConfig is used for STARTTLS; ServerName defaults to Addr's host.
	// It may not turn off verification with StartTLSRequired.
	TLSConfig *tls.Config
	// Username and Password are for AUTH PLAIN; no AUTH when Username is
	// empty.
	Username, Password string
	// Timeout bounds the whole delivery, from dial to QUIT, over every
	// transaction; 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxRecipients is the most recipients offered in one transaction;
	// 0 means DefaultMaxRecipients.
	MaxRecipients int
}

var _ Relay = (*SMTP)(nil)

// errSMTPTimeout marks the context cancellation that Timeout causes, to tell
// it from the caller's own.
var errSMTPTimeout = errors.New("relay: SMTP timeout")

// Deliver sends the message in as many SMTP transactions as its
// recipients need, on one connection.
func (s *SMTP) Deliver(ctx context.Context, env Envelope, data io.Reader) error {
	if err := s.deliver(ctx, env, data); err != nil {
		err.via = "smtp " + s.Addr
		return err
	}
	return nil
}

func (s *SMTP) deliver(parent context.Context, env Envelope, data io.Reader) *Error {
	if err := env.check(); err != nil {
		return err
	}
	host, helo, bad := s.checkConfig()
	if bad != nil {
		return bad
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeoutCause(parent, timeout, errSMTPTimeout)
	defer cancel()

	d := &smtpDelivery{
		s: s, ctx: ctx, timeout: timeout, host: host, helo: helo,
		env:  env,
		utf8: env.needsSMTPUTF8(),
		// One recipient makes one transaction at most.
		msg: newMessage(data, len(env.To) > 1),
	}
	defer d.hangUp()
	if e := d.connect(); e != nil {
		return e
	}
	if ok, _ := d.c.Extension("SMTPUTF8"); d.utf8 && !ok {
		return &Error{Enhanced: "5.6.7", Message: "the message needs SMTPUTF8, but the server does not offer it", kind: ErrNoSMTPUTF8}
	}

	pending := env.To
	size := batchSize(s.MaxRecipients)
	for len(pending) > 0 {
		batch := pending[:min(len(pending), size)]
		left, stop := d.transaction(batch)
		// The last left of the batch go first in what remains.
		pending = pending[len(batch)-left:]
		if stop != nil {
			d.out.fail(pending, stop)
			break
		}
	}
	return d.out.err()
}

// smtpDelivery is one call of SMTP.Deliver: a connection, replaced only
// when the MTA closes it between transactions, and the transactions that
// offer the recipients in batches.
type smtpDelivery struct {
	s          *SMTP
	ctx        context.Context
	timeout    time.Duration
	host, helo string
	env        Envelope
	utf8       bool
	msg        *message
	out        outcome

	c    *smtp.Client // nil until connect succeeds
	done int          // transactions finished on c
}

func (d *smtpDelivery) fail(stage string, err error) *Error {
	return d.s.classify(d.ctx, d.timeout, stage, err)
}

// connect opens a connection, with STARTTLS and AUTH as configured, and
// makes it d's.
func (d *smtpDelivery) connect() *Error {
	s, ctx := d.s, d.ctx
	c, conn, verified, stage, err := s.open(ctx, d.host, d.helo, d.timeout, s.StartTLS != StartTLSOff)
	if err != nil && s.StartTLS == StartTLSOpportunistic && stage != "connecting" && ctx.Err() == nil &&
		(errors.Is(err, errNoStartTLS) || s.TLSConfig == nil) {
		// Opportunistic means plain text is acceptable, so an MTA that
		// lacks or botches STARTTLS gets a second, plain connection;
		// with a TLSConfig the operator asked for verification, and a
		// certificate that fails it must not be talked around.
		c, conn, verified, stage, err = s.open(ctx, d.host, d.helo, d.timeout, false)
	}
	switch {
	case errors.Is(err, errNoStartTLS):
		return &Error{Enhanced: "4.7.4", Message: "STARTTLS is required, but the server does not offer it", kind: ErrNoStartTLS}
	case err != nil:
		return d.fail(stage, err)
	}
	d.c, d.done = c, 0
	if s.Username != "" {
		if err := s.auth(c, conn, verified); err != nil {
			if e, ok := err.(*Error); ok {
				return e
			}
			// A refused login (535 5.7.8) is the host's configuration at
			// fault, not the message: it waits for the operator's fix, as
			// Postfix soft-bounces it, instead of going back to its sender.
			e := d.fail("AUTH", err)
			e.soft = true
			return e
		}
	}
	return nil
}

// hangUp ends the connection. It says QUIT even after a refusal, as RFC
// 5321 asks; a broken or timed-out connection makes it fail at once, and
// only the message's fate matters.
func (d *smtpDelivery) hangUp() {
	if d.c == nil {
		return
	}
	if d.ctx.Err() == nil {
		_ = d.c.Quit()
	}
	d.c.Close()
}

// reply returns the MTA's refusal in a command's err, or nil when err
// leaves a connection that can carry no more: there was no reply, or it
// was 421, by which the server says it is closing the connection (RFC
// 5321 section 3.8).
func (d *smtpDelivery) reply(err error) *smtp.SMTPError {
	var reply *smtp.SMTPError
	if d.ctx.Err() != nil || !errors.As(err, &reply) || reply.Code == 421 {
		return nil
	}
	return reply
}

func (d *smtpDelivery) lost(err error) bool { return d.reply(err) == nil }

// transaction offers batch in one mail transaction and records in d.out
// what became of each recipient, except the last left: those the MTA
// would not take in this transaction (452, RFC 5321 section
// 4.5.3.1.10), to be offered in the next. When stop is not nil the
// delivery cannot go on: the left and every recipient not yet offered
// fail with it.
func (d *smtpDelivery) transaction(batch []string) (left int, stop *Error) {
	if e := d.mail(); e != nil {
		return len(batch), e
	}
	var accepted []string
rcpts:
	for i, to := range batch {
		err := d.c.Rcpt(to, nil)
		reply := d.reply(err)
		switch {
		case err == nil:
			accepted = append(accepted, to)
		case reply == nil:
			e := d.fail("RCPT TO", err)
			d.out.fail(accepted, e)
			return len(batch) - i, e
		case tooManyRecipients(reply) && i == 0:
			// Not one recipient more: offered again, they would meet the
			// same answer, so they wait for the next attempt.
			return len(batch), replyError(reply)
		case tooManyRecipients(reply):
			left = len(batch) - i
			break rcpts
		default:
			d.out.refuse(replyError(reply).refusal(to))
		}
	}
	if len(accepted) == 0 {
		// Nothing to send: RSET ends the transaction. go-smtp says EHLO
		// again after it, a reset of the same kind (RFC 5321 section
		// 4.1.4).
		if err := d.c.Reset(); err != nil {
			return left, d.fail("RSET", err)
		}
		return left, nil
	}
	if e, lost := d.data(); e != nil {
		// A failure at DATA fails the recipients that were accepted,
		// and listing them keeps "not listed means delivered" true.
		d.out.fail(accepted, e)
		if lost {
			return left, e
		}
		return left, nil
	}
	d.out.delivered += len(accepted)
	d.done++
	return left, nil
}

// mail begins a transaction. When the MTA has closed the connection
// after some messages, as Exim does past smtp_accept_max_per_connection,
// a new connection goes on where that one stopped; it must finish a
// transaction before it is replaced in turn, so this cannot loop.
func (d *smtpDelivery) mail() *Error {
	opts := &smtp.MailOptions{UTF8: d.utf8}
	err := d.c.Mail(d.env.From, opts)
	if err != nil && d.done > 0 && d.lost(err) && d.ctx.Err() == nil {
		d.c.Close()
		if e := d.connect(); e != nil {
			return e
		}
		err = d.c.Mail(d.env.From, opts)
	}
	if err != nil {
		return d.fail("MAIL FROM", err)
	}
	return nil
}

// data sends the message to the accepted recipients. lost reports that
// the connection can carry no further transaction.
func (d *smtpDelivery) data() (e *Error, lost bool) {
	r, err := d.msg.open()
	if err != nil {
		return readFailed(err), true
	}
	w, err := d.c.Data()
	if err != nil {
		if d.lost(err) {
			return d.fail("DATA", err), true
		}
		// The MTA refused DATA itself, which leaves the transaction
		// open.
		if err := d.c.Reset(); err != nil {
			return d.fail("DATA", err), true
		}
		return d.fail("DATA", err), false
	}
	src := &readErrRecorder{r: r}
	if _, err := io.Copy(w, src); err != nil {
		// Closing the connection before the final dot makes the MTA
		// discard what it has: a truncated message must not go out.
		d.c.Close()
		if src.err != nil {
			return readFailed(src.err), true
		}
		return d.fail("DATA", err), true
	}
	if err := w.Close(); err != nil {
		return d.fail("DATA", err), d.lost(err)
	}
	return nil, false
}

// tooManyRecipients reports whether a RCPT reply says the transaction
// takes no more recipients: 452 (RFC 5321 section 4.5.3.1.10) or the
// status 4.5.3 (RFC 3463). A 452 with another status, such as 4.2.2 for a
// full mailbox, concerns its recipient alone.
func tooManyRecipients(r *smtp.SMTPError) bool {
	ec := r.EnhancedCode
	if ec == (smtp.EnhancedCode{}) || ec == smtp.NoEnhancedCode {
		return r.Code == 452
	}
	return r.Code/100 == 4 && ec == smtp.EnhancedCode{4, 5, 3}
}

// checkConfig returns Addr's host and the EHLO name, or the reason the
// settings cannot work.
func (s *SMTP) checkConfig() (host, helo string, _ *Error) {
	bad := func(format string, args ...any) *Error {
		return &Error{Enhanced: "4.3.5", Message: fmt.Sprintf(format, args...), kind: ErrBadConfig}
	}
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return "", "", bad("%v", err)
	}
	if s.StartTLS < StartTLSOff || s.StartTLS > StartTLSRequired {
		return "", "", bad("unknown %v", s.StartTLS)
	}
	if s.StartTLS == StartTLSRequired && s.TLSConfig != nil && s.TLSConfig.InsecureSkipVerify {
		return "", "", bad("STARTTLS is required but certificate verification is off")
	}
	helo = s.Helo
	if helo == "" {
		if helo, err = os.Hostname(); err != nil || helo == "" {
			helo = "localhost"
		}
	}
	if strings.ContainsFunc(helo, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", "", bad("HELO name %q contains a space or control character", helo)
	}
	return host, helo, nil
}

// errNoStartTLS is how open reports that the server lacks STARTTLS.
var errNoStartTLS = errors.New("no STARTTLS")

// open dials Addr, optionally issues STARTTLS, and says EHLO. The
// connection is closed when ctx ends, which is how Timeout and the
// caller's cancellation reach every later command. stage names the step
// that failed.
func (s *SMTP) open(ctx context.Context, host, helo string, timeout time.Duration, startTLS bool) (c *smtp.Client, conn net.Conn, verified bool, stage string, err error) {
	var dialer net.Dialer
	raw, err := dialer.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return nil, nil, false, "connecting", err
	}
	context.AfterFunc(ctx, func() { raw.Close() })
	conn = raw

	if !startTLS {
		c = smtp.NewClient(conn)
	} else {
		var cfg *tls.Config
		cfg, verified = s.clientTLSConfig(host)
		// go-smtp says EHLO localhost before STARTTLS; the name that
		// counts is the one given after it (RFC 3207 section 4.2).
		c, err = smtp.NewClientStartTLS(conn, cfg)
		if err != nil {
			conn.Close()
			// go-smtp reports a missing STARTTLS with a plain error;
			// anything else is a reply or a network failure.
			var reply *smtp.SMTPError
			var netErr net.Error
			if !errors.As(err, &reply) && !errors.As(err, &netErr) && ctx.Err() == nil &&
				strings.Contains(err.Error(), "STARTTLS") {
				err = errNoStartTLS
			}
			return nil, nil, false, "STARTTLS", err
		}
	}
	c.CommandTimeout = timeout
	c.SubmissionTimeout = timeout
	// With STARTTLS, this EHLO is also where the TLS handshake happens.
	if err := c.Hello(helo); err != nil {
		c.Close()
		return nil, nil, false, "greeting", err
	}
	_, encrypted := c.TLSConnectionState()
	return c, conn, verified && encrypted, "", nil
}

func (s *SMTP) clientTLSConfig(host string) (cfg *tls.Config, verified bool) {
	switch {
	case s.TLSConfig != nil:
		cfg = s.TLSConfig.Clone()
	case s.StartTLS == StartTLSRequired:
		cfg = &tls.Config{}
	default:
		// Opportunistic without a config: see StartTLSOpportunistic.
		cfg = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // RFC 7435 opportunistic security
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return cfg, !cfg.InsecureSkipVerify
}

// auth runs AUTH PLAIN, refusing first if the password could be read on
// the way.
func (s *SMTP) auth(c *smtp.Client, conn net.Conn, verified bool) error {
	if !passwordSafe(conn.RemoteAddr(), verified) {
		return &Error{Enhanced: "4.7.11", Message: "not sending the password: the connection is neither loopback nor TLS with a verified certificate", kind: ErrAuthUnavailable}
	}
	if !c.SupportsAuth(sasl.Plain) {
		return &Error{Enhanced: "4.7.4", Message: "a username is set, but the server offers no AUTH PLAIN", kind: ErrAuthUnavailable}
	}
	return c.Auth(sasl.NewPlainClient("", s.Username, s.Password))
}

// passwordSafe reports whether a password sent to remote stays between
// the two ends: on the loopback interface, or over verified TLS.
func passwordSafe(remote net.Addr, verified bool) bool {
	addr, _ := remote.(*net.TCPAddr)
	return verified || (addr != nil && addr.IP.IsLoopback())
}

// classify turns what go-smtp or the network returned into an *Error.
func (s *SMTP) classify(ctx context.Context, timeout time.Duration, stage string, err error) *Error {
	var reply *smtp.SMTPError
	var verify *tls.CertificateVerificationError
	var netErr net.Error
	// go-smtp's own deadline per command is Timeout too, so it can only
	// fire after ours, though under load it may be noticed first.
	timedOut := context.Cause(ctx) == errSMTPTimeout ||
		(ctx.Err() == nil && errors.As(err, &netErr) && netErr.Timeout())
	switch {
	case timedOut:
		return &Error{Enhanced: "4.4.2", Err: fmt.Errorf("%s: no answer within the %v timeout: %w", stage, timeout, context.DeadlineExceeded)}
	case ctx.Err() != nil:
		return &Error{Enhanced: "4.4.2", Err: fmt.Errorf("%s: %w", stage, context.Cause(ctx))}
	case errors.As(err, &reply):
		return replyError(reply)
	case errors.As(err, &verify):
		return &Error{Enhanced: "4.7.5", Err: fmt.Errorf("%s: TLS: %w", stage, err)}
	case stage == "connecting" && errors.As(err, &netErr) && !netErr.Timeout():
		return &Error{Enhanced: "4.4.1", Err: err}
	}
	return &Error{Enhanced: "4.4.2", Err: fmt.Errorf("%s: %w", stage, err)}
}

// replyError keeps the MTA's reply, deriving the enhanced code from the
// reply code when the MTA sent none or one of the wrong class: the reply
// code is what SMTP clients act on (RFC 5321 section 4.2.1).
func replyError(r *smtp.SMTPError) *Error {
	class := r.Code / 100
	if class != 4 && class != 5 {
		// An answer the protocol did not expect, such as 250 to DATA:
		// something is wrong at the MTA, which is worth another try.
		class = 4
	}
	ec := r.EnhancedCode
	if ec == (smtp.EnhancedCode{}) || ec == smtp.NoEnhancedCode || (ec[0] != 4 && ec[0] != 5) {
		ec = smtp.EnhancedCode{class, 0, 0}
	}
	ec[0] = class
	return &Error{
		Code:     r.Code,
		Enhanced: fmt.Sprintf("%d.%d.%d", ec[0], ec[1], ec[2]),
		Message:  r.Message,
	}
}
