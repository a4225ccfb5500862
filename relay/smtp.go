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
// Recipients are offered one by one. When the MTA refuses some and takes
// others, the message goes to those it took and Deliver returns an *Error
// whose Rcpts lists the refused, each with its reply; when it refuses all,
// no DATA is sent.
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
	// Timeout bounds the whole delivery, from dial to QUIT; 0 means
	// DefaultTimeout.
	Timeout time.Duration
}

var _ Relay = (*SMTP)(nil)

// errSMTPTimeout marks the context cancellation that Timeout causes, to tell
// it from the caller's own.
var errSMTPTimeout = errors.New("relay: SMTP timeout")

// Deliver sends the message over one SMTP transaction.
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
	fail := func(stage string, err error) *Error { return s.classify(ctx, timeout, stage, err) }

	c, conn, verified, stage, err := s.open(ctx, host, helo, timeout, s.StartTLS != StartTLSOff)
	if err != nil && s.StartTLS == StartTLSOpportunistic && stage != "connecting" && ctx.Err() == nil &&
		(errors.Is(err, errNoStartTLS) || s.TLSConfig == nil) {
		// Opportunistic means plain text is acceptable, so an MTA that
		// lacks or botches STARTTLS gets a second, plain connection;
		// with a TLSConfig the operator asked for verification, and a
		// certificate that fails it must not be talked around.
		c, conn, verified, stage, err = s.open(ctx, host, helo, timeout, false)
	}
	switch {
	case errors.Is(err, errNoStartTLS):
		return &Error{Enhanced: "4.7.4", Message: "STARTTLS is required, but the server does not offer it", kind: ErrNoStartTLS}
	case err != nil:
		return fail(stage, err)
	}
	defer func() {
		// QUIT even after a refusal, as RFC 5321 asks; a broken or
		// timed-out connection makes it fail at once, and only the
		// message's fate matters.
		if ctx.Err() == nil {
			_ = c.Quit()
		}
		c.Close()
	}()

	if s.Username != "" {
		if err := s.auth(c, conn, verified); err != nil {
			if e, ok := err.(*Error); ok {
				return e
			}
			// A refused login (535 5.7.8) is the host's configuration at
			// fault, not the message: it waits for the operator's fix, as
			// Postfix soft-bounces it, instead of going back to its sender.
			e := fail("AUTH", err)
			e.soft = true
			return e
		}
	}

	utf8 := env.needsSMTPUTF8()
	if ok, _ := c.Extension("SMTPUTF8"); utf8 && !ok {
		return &Error{Enhanced: "5.6.7", Message: "the message needs SMTPUTF8, but the server does not offer it", kind: ErrNoSMTPUTF8}
	}
	if err := c.Mail(env.From, &smtp.MailOptions{UTF8: utf8}); err != nil {
		return fail("MAIL FROM", err)
	}

	var refused []Refusal
	var accepted []string
	for _, to := range env.To {
		err := c.Rcpt(to, nil)
		var reply *smtp.SMTPError
		switch {
		case err == nil:
			accepted = append(accepted, to)
		case errors.As(err, &reply) && ctx.Err() == nil:
			e := replyError(reply)
			refused = append(refused, Refusal{Rcpt: to, Code: e.Code, Enhanced: e.Enhanced, Message: e.Message})
		default:
			return fail("RCPT TO", err)
		}
	}
	if len(accepted) == 0 {
		return &Error{Rcpts: refused}
	}

	// A DATA failure fails the accepted recipients too; listing them with
	// the refused keeps "not listed means delivered" true.
	dataFailed := func(err error) *Error {
		e := fail("DATA", err)
		if len(refused) > 0 {
			e.Rcpts = refused
			for _, to := range accepted {
				e.Rcpts = append(e.Rcpts, Refusal{Rcpt: to, Code: e.Code, Enhanced: e.Enhanced, Message: e.Message})
			}
		}
		return e
	}
	w, err := c.Data()
	if err != nil {
		return dataFailed(err)
	}
	src := &readErrRecorder{r: data}
	if _, err := io.Copy(w, src); err != nil {
		// Closing the connection before the final dot makes the MTA
		// discard what it has: a truncated message must not go out.
		conn.Close()
		if src.err != nil {
			return &Error{Enhanced: "4.3.0", Err: fmt.Errorf("reading the message: %w", src.err)}
		}
		return dataFailed(err)
	}
	if err := w.Close(); err != nil {
		return dataFailed(err)
	}
	if len(refused) > 0 {
		return &Error{Rcpts: refused}
	}
	return nil
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

// readErrRecorder tells a failure to read the message from a failure to
// write it to the MTA, which io.Copy reports alike.
type readErrRecorder struct {
	r   io.Reader
	err error
}

func (r *readErrRecorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}
