package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spool"
)

// serveSMTP is sendmail -bs: one SMTP session on stdin and stdout, as
// Symfony Mailer and Laravel use it, with any number of messages. Nothing
// is written to stderr: a client reading the greeting would take it for the
// server's answer.
func serveSMTP(sys *system, stdin io.Reader, stdout io.Writer) int {
	m, err := newMailer(sys)
	if err != nil {
		fmt.Fprintf(stdout, "421 4.3.0 %s\r\n", oneLine(err.Error()))
		return exitCode(err)
	}
	defer m.close()
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{m: m}, nil
	}))
	srv.Domain = m.cfg.Hostname
	srv.MaxMessageBytes = m.cfg.MaxMessageSize
	// A line may be as long as a message: -t takes such lines, and so does
	// Postfix, which only splits them for storage.
	srv.MaxLineLength = int(min(m.cfg.MaxMessageSize, math.MaxInt32))
	srv.MaxRecipients = 1000
	srv.EnableSMTPUTF8 = true
	srv.ReadTimeout = 5 * time.Minute
	srv.ErrorLog = log.New(io.Discard, "", 0)
	conn := &stdioConn{r: stdin, w: stdout, closed: make(chan struct{})}
	if err := srv.Serve(&oneConnListener{conn: conn}); err != nil && !errors.Is(err, net.ErrClosed) {
		m.logf("error: -bs session: %v", err)
		return exTempFail
	}
	return exOK
}

// session is one -bs SMTP session; its envelope resets with each message.
type session struct {
	m          *mailer
	sender     string
	senderSet  bool
	recipients []string
}

var _ smtp.Session = (*session)(nil)

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	addr := ""
	if from != "" {
		var err error
		if addr, err = serverAddress(from); err != nil {
			return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "bad sender: " + oneLine(err.Error())}
		}
	}
	// A disabled site hears so before it sends a whole message.
	if err := s.m.refusal(context.Background()); err != nil {
		return smtpError(err)
	}
	s.sender, s.senderSet = addr, true
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
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

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if errors.Is(err, smtp.ErrDataTooLarge) {
		return smtp.ErrDataTooLarge
	}
	if err != nil {
		return err
	}
	// Lines a client ended with a bare LF get their CR, as on the command line.
	data, err := readMessage(bytes.NewReader(raw), false, s.m.cfg.MaxMessageSize)
	if err != nil {
		return smtp.ErrDataTooLarge
	}
	_, err = s.m.submit(context.Background(), submission{sender: s.sender, recipients: s.recipients}, data)
	return smtpError(err)
}

// smtpError says what a failed submission means in SMTP.
func smtpError(err error) error {
	var (
		refused *refusedError
		big     *errTooBig
		usage   *usageError
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
	case errors.As(err, &usage), errors.Is(err, spamrun.ErrBadAddress):
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: oneLine(err.Error())}
	}
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "local error, try again later: " + oneLine(err.Error())}
}

func (s *session) Reset() {
	s.sender, s.senderSet, s.recipients = "", false, nil
}

func (s *session) Logout() error { return nil }

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// stdioConn is stdin and stdout as a net.Conn for the SMTP server.
type stdioConn struct {
	r      io.Reader
	w      io.Writer
	closed chan struct{}
	once   sync.Once
}

func (c *stdioConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *stdioConn) Write(p []byte) (int, error) { return c.w.Write(p) }
func (c *stdioConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}
func (c *stdioConn) LocalAddr() net.Addr              { return stdioAddr{} }
func (c *stdioConn) RemoteAddr() net.Addr             { return stdioAddr{} }
func (c *stdioConn) SetDeadline(time.Time) error      { return nil }
func (c *stdioConn) SetReadDeadline(time.Time) error  { return nil }
func (c *stdioConn) SetWriteDeadline(time.Time) error { return nil }

type stdioAddr struct{}

func (stdioAddr) Network() string { return "stdio" }
func (stdioAddr) String() string  { return "stdio" }

// oneConnListener hands out its one connection, then waits for it to close
// and reports itself closed, which ends Server.Serve.
type oneConnListener struct {
	conn   *stdioConn
	handed bool
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if !l.handed {
		l.handed = true
		return l.conn, nil
	}
	<-l.conn.closed
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error   { return l.conn.Close() }
func (l *oneConnListener) Addr() net.Addr { return stdioAddr{} }
