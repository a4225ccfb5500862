package submit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"math"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/config"
	"github.com/spamrun/spamrun/spool"
)

// NewServer returns an SMTP server for site submissions with the limits of
// cfg; each session comes from be. It answers on listeners that
// GreetingListener wraps, so that its greeting names spamrun.
func NewServer(cfg *config.Config, be smtp.Backend) *smtp.Server {
	srv := smtp.NewServer(be)
	srv.Domain = cfg.Hostname
	srv.MaxMessageBytes = cfg.MaxMessageSize
	// A line may be as long as a message: -t takes such lines, and so does
	// Postfix, which only splits them for storage.
	srv.MaxLineLength = int(min(cfg.MaxMessageSize, math.MaxInt32))
	srv.MaxRecipients = 1000
	srv.EnableSMTPUTF8 = true
	srv.ReadTimeout = 5 * time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = log.New(io.Discard, "", 0)
	return srv
}

// Session is one SMTP session of a site, through sendmail -bs or the
// listener; its envelope resets with each message.
type Session struct {
	sub        *Submitter
	sender     string
	recipients []string
}

var _ smtp.Session = (*Session)(nil)

// NewSession returns a session whose messages sub submits.
func NewSession(sub *Submitter) *Session { return &Session{sub: sub} }

// Mail implements smtp.Session. A disabled site hears so here, before it
// sends a whole message.
func (s *Session) Mail(from string, _ *smtp.MailOptions) error {
	addr := ""
	if from != "" {
		var err error
		if addr, err = serverAddress(from); err != nil {
			return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "bad sender: " + oneLine(err.Error())}
		}
	}
	if err := s.sub.Refusal(context.Background()); err != nil {
		return SMTPError(err)
	}
	s.sender = addr
	return nil
}

// Rcpt implements smtp.Session.
func (s *Session) Rcpt(to string, _ *smtp.RcptOptions) error {
	addr, err := serverAddress(to)
	if err != nil {
		return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "bad recipient: " + oneLine(err.Error())}
	}
	s.recipients = append(s.recipients, addr)
	return nil
}

// serverAddress reads an address as go-smtp hands it to a Session: it has
// parsed the path of MAIL FROM or RCPT TO and removed the quotes of a
// quoted local part, so RCPT TO:<"a b"@x> arrives as `a b@x`. The local
// part is all before the last "@", and JoinAddress quotes it again.
//
// What the client wrote is gone, so a local part that is valid only when
// quoted is taken as quoted: <.a@x> and <".a"@x> both arrive as `.a@x`
// and are relayed as ".a"@x, the mailbox either one names. Control
// characters, angle brackets and bad domains are refused all the same.
func serverAddress(addr string) (string, error) {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return spamrun.JoinAddress(addr, "")
	}
	return spamrun.JoinAddress(addr[:at], addr[at+1:])
}

// Data implements smtp.Session: the message is accepted when it is in the
// spool, and the reply says so only then.
func (s *Session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if errors.Is(err, smtp.ErrDataTooLarge) {
		return smtp.ErrDataTooLarge
	}
	if err != nil {
		return err
	}
	// Lines a client ended with a bare LF get their CR, as on the command line.
	data, err := ReadMessage(bytes.NewReader(raw), false, s.sub.Host.Config.MaxMessageSize)
	if err != nil {
		return smtp.ErrDataTooLarge
	}
	_, err = s.sub.Submit(context.Background(), Envelope{Sender: s.sender, Recipients: s.recipients}, data)
	return SMTPError(err)
}

// Reset implements smtp.Session.
func (s *Session) Reset() { s.sender, s.recipients = "", nil }

// Logout implements smtp.Session.
func (s *Session) Logout() error { return nil }

// SMTPError says what a failed submission means in SMTP: 550 5.7.1 for a
// disabled site, 552 for a message too large, 554 for a message that
// cannot be read, and 451 4.3.0 for a failure of this machine.
func SMTPError(err error) error {
	var (
		refused *RefusedError
		big     *TooBigError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &refused):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: oneLine(refused.Error())}
	case errors.As(err, &big):
		return smtp.ErrDataTooLarge
	case errors.Is(err, spool.ErrTooLarge):
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: oneLine(err.Error())}
	case errors.Is(err, ErrNoRecipients), errors.Is(err, spamrun.ErrBadAddress):
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: oneLine(err.Error())}
	}
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "local error, try again later: " + oneLine(err.Error())}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// GreetingListener wraps l so that the greeting of each connection names
// spamrun: "220 domain ESMTP spamrun". An operator, and `spamrun doctor`,
// can then tell spamrun from the MTA at a glance.
func GreetingListener(l net.Listener, domain string) net.Listener {
	return &greetingListener{Listener: l, greeting: "220 " + domain + " ESMTP spamrun\r\n"}
}

type greetingListener struct {
	net.Listener
	greeting string
}

func (l *greetingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &greetingConn{Conn: c, greeting: l.greeting}, nil
}

// greetingConn replaces the server's first reply, its 220 greeting.
type greetingConn struct {
	net.Conn
	greeting string
	greeted  bool
}

func (c *greetingConn) Write(p []byte) (int, error) {
	if !c.greeted {
		c.greeted = true
		if bytes.HasPrefix(p, []byte("220 ")) && bytes.HasSuffix(p, []byte("\r\n")) {
			if _, err := io.WriteString(c.Conn, c.greeting); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	return c.Conn.Write(p)
}

// Unwrap returns the connection the greeting was written to.
func (c *greetingConn) Unwrap() net.Conn { return c.Conn }
