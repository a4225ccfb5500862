package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/spamrun/spamrun/internal/submit"
)

// serveSMTP is sendmail -bs: one SMTP session on stdin and stdout, as
// Symfony Mailer and Laravel use it, with any number of messages. Nothing
// is written to stderr: a client reading the greeting would take it for the
// server's answer.
func serveSMTP(sys *system, stdin io.Reader, stdout io.Writer) int {
	m, err := newMailer(sys)
	if err != nil {
		fmt.Fprintf(stdout, "421 4.3.0 spamrun: %s\r\n", oneLine(err.Error()))
		return exitCode(err)
	}
	defer m.close()
	srv := submit.NewServer(m.cfg, smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return submit.NewSession(m.sub), nil
	}))
	conn := &stdioConn{r: stdin, w: stdout, closed: make(chan struct{})}
	if err := srv.Serve(submit.GreetingListener(&oneConnListener{conn: conn}, m.cfg.Hostname)); err != nil && !errors.Is(err, net.ErrClosed) {
		m.logf("error: -bs session: %v", err)
		return exTempFail
	}
	return exOK
}

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
