package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/syslog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/config"
	"github.com/spamrun/spamrun/internal/host"
	"github.com/spamrun/spamrun/queue"
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
	s.evidence = callerEvidence(os.Getppid(), s.uid)
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

// callerEvidence records who ran sendmail: the working directory and
// command line of the first ancestor that is not a shell, since PHP and
// cron start sendmail through "sh -c". The site controls both, so they
// are evidence only.
func callerEvidence(ppid, uid int) spamrun.Evidence {
	ev := spamrun.Evidence{UID: uid}
	pid := ppid
	for range 4 {
		comm, parent := procStat(pid)
		if !shells[comm] || parent <= 1 {
			break
		}
		pid = parent
	}
	proc := "/proc/" + strconv.Itoa(pid)
	if cwd, err := os.Readlink(proc + "/cwd"); err == nil {
		ev.Cwd = cwd
	}
	if cmd, err := readAtMost(proc+"/cmdline", maxEvidenceCommand); err == nil {
		for _, arg := range strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00") {
			ev.Command = append(ev.Command, strings.ToValidUTF8(arg, "\uFFFD"))
		}
	}
	return ev
}

// maxEvidenceCommand bounds the caller's command line kept as evidence: a
// script's own argv can be as large as the kernel allows, and evidence must
// never be what pushes an ordinary message over the spool's header limit.
const maxEvidenceCommand = 4 << 10

// readAtMost reads the first n bytes of a file.
func readAtMost(name string, n int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, n))
}

var shells = map[string]bool{"sh": true, "dash": true, "bash": true, "busybox": true}

// procStat returns the command name and parent PID of a process, from
// /proc/PID/stat: "PID (comm) state PPID ...", where comm may itself hold
// spaces and parentheses.
func procStat(pid int) (comm string, ppid int) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0
	}
	open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return "", 0
	}
	fields := strings.Fields(string(stat[end+1:]))
	if len(fields) < 2 {
		return "", 0
	}
	ppid, _ = strconv.Atoi(fields[1])
	return string(stat[open+1 : end]), ppid
}

// mailer submits messages for one site.
type mailer struct {
	sys   *system
	cfg   *config.Config
	site  spamrun.Site
	host  *host.Host
	det   *spamrun.PolicyDetector // nil when the state store could not be opened
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

// refusedError is a submission from a disabled site; exit 69.
type refusedError struct {
	site       string
	incident   *spamrun.Incident
	articleURL string
}

func (e *refusedError) Error() string {
	msg := fmt.Sprintf("mail from website %q is disabled because it sent spam", e.site)
	if e.articleURL != "" {
		msg += "; see " + e.articleURL
	}
	if e.incident != nil {
		msg += " (incident " + e.incident.ID + ")"
	}
	return msg
}

func exitCode(err error) int {
	var (
		usage   *usageError
		big     *errTooBig
		refused *refusedError
		local   *localError
	)
	switch {
	case err == nil:
		return exOK
	case errors.As(err, &usage):
		return exUsage
	case errors.As(err, &big), errors.Is(err, spamrun.ErrBadAddress), errors.Is(err, spool.ErrTooLarge):
		return exDataErr
	case errors.As(err, &refused):
		return exUnavailable
	case errors.As(err, &local):
		return local.code
	case errors.Is(err, os.ErrPermission):
		return exNoPerm
	}
	return exTempFail
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
	if m.site, err = m.host.SiteForUID(sys.uid); err != nil {
		m.host.Close()
		return nil, &localError{exTempFail, err}
	}
	m.det, m.spool = m.host.Detector, m.host.Spool
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
		m.log.Info(line)
	}
	if m.sys.verbose != nil {
		fmt.Fprintln(m.sys.verbose, "sendmail:", line)
	}
}

// deliverMode is sendmail -bm, the default: one message from stdin.
func (m *mailer) deliverMode(opts *options, stdin io.Reader, stderr io.Writer) int {
	data, err := readMessage(stdin, opts.dotEnds, m.cfg.MaxMessageSize)
	if err != nil {
		fmt.Fprintf(stderr, "sendmail: %v\n", err)
		return exitCode(err)
	}
	sender := m.site.DefaultSender
	if opts.senderSet {
		sender = opts.sender
	}
	sub := submission{sender: sender, recipients: opts.recipients, extract: opts.extract, fullName: opts.fullName}
	if _, err := m.submit(context.Background(), sub, data); err != nil {
		fmt.Fprintf(stderr, "sendmail: %v\n", err)
		return exitCode(err)
	}
	return exOK
}

// refusal returns the refusedError of a disabled site, or nil. Without a
// state store nothing is known, and the submission decides.
func (m *mailer) refusal(ctx context.Context) error {
	if m.det == nil {
		return nil
	}
	inc, err := m.det.Disabled(ctx, m.site.Name)
	if err != nil || inc == nil {
		return nil
	}
	return &refusedError{site: m.site.Name, incident: inc, articleURL: m.cfg.ArticleURL}
}

// submission is one message's envelope as the caller gave it.
type submission struct {
	sender     string
	recipients []string
	extract    bool   // take recipients from the header too (-t)
	fullName   string // for a From field the message lacks
}

// submit runs one message through spamrun: prepare, check, spool, relay.
// It returns the spool entry of an accepted message; an error means the
// message was not accepted.
func (m *mailer) submit(ctx context.Context, sub submission, data []byte) (*spool.Entry, error) {
	now := m.sys.now()
	id := spool.NewID(now)
	p, err := prepare(data, sub.extract, sub.sender, sub.fullName, m.cfg.Hostname, id, m.sys.uid, now)
	if err != nil {
		return nil, err
	}
	rcpts := dedupe(append(append([]string(nil), sub.recipients...), p.recipients...))
	if len(rcpts) == 0 {
		return nil, usagef("no recipient addresses found in the message header")
	}
	msg, err := spamrun.ParseMessage(p.data, sub.sender, rcpts)
	if err != nil {
		return nil, err
	}
	msg.Evidence.Cwd, msg.Evidence.Command, msg.Evidence.UID = m.sys.evidence.Cwd, m.sys.evidence.Command, m.sys.uid
	msg.Evidence.File = scriptFile(msg.Evidence)
	// The store may record the decision and answer too late: the runner
	// that decides the message again must not count it twice.
	msg.SubmissionID = id

	e := &spool.Entry{
		ID: id, Site: m.site.Name, UID: m.sys.uid, Sender: msg.Sender, Recipients: msg.Recipients,
		Received: now, State: spool.Undecided, Evidence: msg.Evidence, SMTPUTF8: needsSMTPUTF8(msg),
	}
	var verdict spamrun.Verdict
	decided := false
	if m.det != nil {
		verdict, err = m.det.CheckAt(ctx, m.site.Name, msg, now)
		decided = err == nil
		if err != nil {
			m.logf("warning: site=%s no decision, accepting undecided: %v", m.site.Name, err)
		} else {
			e.Score, e.Spam = verdict.Score, verdict.Spam
			switch verdict.Action {
			case spamrun.Refuse:
				m.logline(e, "refused", verdict)
				if verdict.Tripped {
					m.bounceSite(ctx, verdict.Incident)
				}
				return nil, &refusedError{site: m.site.Name, incident: verdict.Incident, articleURL: m.cfg.ArticleURL}
			case spamrun.Hold:
				e.State, e.HoldUntil = spool.Held, verdict.HoldUntil
			case spamrun.Deliver:
				e.State = spool.Queued
			}
		}
	}
	if err := m.spool.Add(e, p.data); err != nil {
		return nil, &localError{exCantCreat, err}
	}
	// The history is evidence, not a decision: losing an entry costs less
	// than failing the mail. A store that just failed the decision is not
	// asked again, so a Redis that is down costs the website one timeout.
	if decided {
		m.recordScript(ctx, e)
	}
	action := string(e.State)
	if e.State == spool.Queued {
		action = m.relayNow(ctx, e, p.data)
	}
	m.logline(e, action, verdict)
	return e, nil
}

// recordScript adds a decided message's script to its site's history.
func (m *mailer) recordScript(ctx context.Context, e *spool.Entry) {
	queue.RecordScript(ctx, m.host.Scripts, e, m.logf)
}

// relayNow hands an accepted message to the relay. When the relay is down
// the message stays queued for the next pass; it is accepted either way.
// With pacing configured the runner relays everything, so that it alone
// keeps each site's budget.
func (m *mailer) relayNow(ctx context.Context, e *spool.Entry, data []byte) string {
	if m.cfg.Queue.MaxRate > 0 {
		queue.Wake(m.spool.Dir())
		return "queued"
	}
	action, err := m.host.Queue.Deliver(ctx, e.ID)
	if err != nil && !errors.Is(err, spool.ErrLocked) {
		m.logf("error: id=%s %s, but the spool failed: %v", e.ID, action, err)
	}
	return action
}

// bounceSite returns the queue of the site this process just tripped at
// once, rather than at the runner's next pass, and wakes the runner to
// send the DSNs.
func (m *mailer) bounceSite(ctx context.Context, inc *spamrun.Incident) {
	stats, err := m.host.Queue.BounceSite(ctx, m.site.Name, inc)
	if err != nil {
		m.logf("warning: site=%s bouncing the queue: %v", m.site.Name, err)
	}
	m.logf("site=%s incident=%s tripped: bounced=%d quarantined=%d", m.site.Name, inc.ID, stats.Bounced, stats.Quarantined)
	queue.Wake(m.spool.Dir())
}

func (m *mailer) logline(e *spool.Entry, action string, v spamrun.Verdict) {
	m.logf("site=%s id=%s from=<%s> nrcpt=%d size=%d score=%.1f action=%s",
		m.site.Name, e.ID, e.Sender, len(e.Recipients), e.Size, v.Score.Value, action)
}

func dedupe(addrs []string) []string {
	seen := make(map[string]bool, len(addrs))
	out := addrs[:0]
	for _, a := range addrs {
		key := strings.ToLower(a)
		if !seen[key] {
			seen[key] = true
			out = append(out, a)
		}
	}
	return out
}

func needsSMTPUTF8(msg *spamrun.Message) bool {
	ascii := func(s string) bool { return utf8.RuneCountInString(s) == len(s) }
	if !ascii(msg.Sender) {
		return true
	}
	for _, r := range msg.Recipients {
		if !ascii(r) {
			return true
		}
	}
	return false
}
