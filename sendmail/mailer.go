package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/syslog"
	"os"
	"syscall"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/config"
	"github.com/spamrun/spamrun/internal/host"
	"github.com/spamrun/spamrun/internal/submit"
	"github.com/spamrun/spamrun/internal/version"
	"github.com/spamrun/spamrun/spool"
)

// system is what sendmail learns from the process it runs in.
type system struct {
	verbose    io.Writer // -v: warnings also go here
	uid        int
	privileged bool
	getenv     func(string) string
	now        func() time.Time
	evidence   spamrun.Evidence
}

func newSystem() (*system, error) {
	s := &system{uid: os.Getuid(), privileged: config.Privileged(), getenv: os.Getenv, now: time.Now}
	if s.privileged {
		// Running setuid/setgid: nothing in the environment is the site's
		// to set.
		s.getenv = func(string) string { return "" }
		if err := becomeInstallUser(); err != nil {
			return nil, err
		}
	}
	s.evidence = submit.ProcessEvidence(os.Getppid(), s.uid)
	s.evidence.Door = submit.DoorSendmail
	return s, nil
}

// becomeInstallUser makes the process wholly the user and group it is
// installed setuid and setgid to, once the website's UID is recorded: a
// process whose real UID is the website's could be stopped by the website
// while it holds the shared state's lock, stalling every site's mail.
func becomeInstallUser() error {
	if egid := os.Getegid(); egid != os.Getgid() {
		if err := syscall.Setresgid(egid, egid, egid); err != nil {
			return fmt.Errorf("taking the group of the installation: %w", err)
		}
	}
	if euid := os.Geteuid(); euid != os.Getuid() {
		if err := syscall.Setresuid(euid, euid, euid); err != nil {
			return fmt.Errorf("taking the user of the installation: %w", err)
		}
	}
	return nil
}

// mailer submits messages for one site.
type mailer struct {
	sys   *system
	cfg   *config.Config
	host  *host.Host
	sub   *submit.Submitter
	spool *spool.Spool
	log   *syslog.Writer // nil without syslog
}

// localError is a failure of this machine, not of the message: exit 73 or 75.
type localError struct {
	code int
	err  error
}

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var local *localError
	if errors.As(err, &local) {
		return local.code
	}
	return submit.ExitCode(err)
}

func newMailer(sys *system) (*mailer, error) {
	cfg, err := config.LoadDefault(sys.getenv, sys.privileged)
	if err != nil {
		return nil, &localError{exTempFail, err}
	}
	m := &mailer{sys: sys, cfg: cfg}
	if cfg.Syslog {
		m.log, _ = syslog.New(syslog.LOG_MAIL|syslog.LOG_INFO, "spamrun/sendmail")
	}
	m.host, err = host.Open(cfg, &host.Options{Now: sys.now, Logf: m.logf})
	switch {
	case errors.Is(err, host.ErrSpool):
		return nil, &localError{exCantCreat, err}
	case err != nil:
		return nil, &localError{exTempFail, err}
	}
	// Only the caller's UID is looked up: a configured user that no longer
	// exists troubles no site but its own.
	site, err := m.host.SiteForUID(sys.uid)
	if err != nil {
		m.host.Close()
		return nil, &localError{exTempFail, err}
	}
	m.spool = m.host.Spool
	m.sub = &submit.Submitter{Host: m.host, Site: site, UID: sys.uid, Evidence: sys.evidence, Now: sys.now, Logf: m.logf}
	// The store may be out of reach; mail is then accepted undecided and
	// the next queue pass decides it.
	if m.host.StoreErr != nil {
		m.logf("warning: state store unavailable, accepting mail undecided: %v", m.host.StoreErr)
	}
	return m, nil
}

func (m *mailer) close() {
	m.host.Close()
	if m.log != nil {
		m.log.Close()
	}
}

func (m *mailer) logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if m.log != nil {
		m.log.Info(syslogLine(line))
	}
	if m.sys.verbose != nil {
		fmt.Fprintln(m.sys.verbose, "sendmail:", line)
	}
}

// syslogLine is a line as sendmail logs it: the release that wrote it
// last, so that a host upgrading its web nodes one by one can tell which
// node ran which release.
func syslogLine(line string) string { return line + " version=" + version.String() }

// deliverMode is sendmail -bm, the default: one message from stdin.
func (m *mailer) deliverMode(opts *options, stdin io.Reader, stderr io.Writer) int {
	data, err := submit.ReadMessage(stdin, opts.DotEnds, m.cfg.MaxMessageSize)
	if err != nil {
		fmt.Fprintf(stderr, "sendmail: %v\n", err)
		return exitCode(err)
	}
	sender := m.sub.Site.DefaultSender
	if opts.SenderSet {
		sender = opts.Sender
	}
	env := submit.Envelope{Sender: sender, Recipients: opts.Recipients, Extract: opts.Extract, FullName: opts.FullName}
	if _, err := m.sub.Submit(context.Background(), env, data); err != nil {
		fmt.Fprintf(stderr, "sendmail: %v\n", err)
		return exitCode(err)
	}
	return exOK
}
