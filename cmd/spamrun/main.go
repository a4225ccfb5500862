// Command spamrun is the operator's tool.
//
//	spamrun status [--json] [SITE]
//	spamrun top [--json] [--site SITE] [-b] [-n N] [--interval D]
//	spamrun enable SITE
//	spamrun incidents [--json] [SITE]
//	spamrun incidents show [--json | --html FILE] ID
//	spamrun queue list [--json] [--all|--quarantine] [SITE]
//	spamrun queue run [--once] [--interval D] [-v]
//	spamrun queue release ID...
//	spamrun queue purge ID...
//	spamrun audit [--json]
//	spamrun score [--scorer builtin|spamassassin|rspamd] [--address ADDR] FILE...
//	spamrun diff [--json] [--all] [--content] [--incident ID] [--first PATH]... SITE_ROOT SNAPSHOT_ROOT
//	spamrun egress apply [--dry-run] | remove | show
//	spamrun doctor [--site SITE | --user LOGIN|UID] [--json] [--remote HOST] [--timeout D]
//	spamrun store migrate
//	spamrun version
//
// score prints one JSON object per file and line, as scripts want it:
//
//	{"file":"a.eml","score":7.2,"spam":true,"rules":[{"name":"GTUBE","score":1000}]}
//
// The scorer and its address default to the [scorer] table of the
// configuration, and "spam" to its spam_score.
//
// top shows every site, or one, refreshed every second: disabled sites
// first, then those nearest to max_spam, then the busiest. On a terminal it
// is a full-screen view that q quits. Otherwise, or with -b, it prints one
// plain table per refresh, a blank line between them, until it is
// interrupted, as top -b does; -n N prints N tables and exits, so
// "spamrun top -n 1" prints once, even on a terminal. top --json prints
// once and exits.
//
// enable, release and purge are appended to the audit log, audit.log in
// the state directory, one JSON object a line, and sent to syslog when
// the configuration logs there.
//
// egress loads the egress lock that the configuration's egress key
// describes into nftables (apply), removes it (remove) or lists it (show);
// it needs root, except apply --dry-run, which prints the nftables script.
//
// doctor tries, as each site's user, every door mail could leave by:
// sendmail and the MTA's programs, SMTP on loopback and to an outside
// address. It prints each door as through spamrun, closed or OPEN, with
// the fix of each open one, and exits 1 when a door is open. It runs as
// root.
//
// store migrate moves what a Redis store of a release before the hash
// tags recorded to the keys of this one (see redisstore.Store.Migrate);
// run it once, with every node stopped, before the upgraded nodes start.
//
// The exit status follows sysexits: 0 done, 1 the operation failed or a
// door is open, 64 bad usage, 74 score cannot write its output, 75 the
// state store or the spool is unavailable, 77 egress or doctor without
// root, 78 the configuration is wrong.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/config"
	"github.com/spamrun/spamrun/internal/doctor"
	"github.com/spamrun/spamrun/internal/host"
	"github.com/spamrun/spamrun/internal/version"
)

func main() {
	os.Exit(run(os.Args[1:], &env{
		getenv: os.Getenv, now: time.Now,
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, terminal: isTerminal,
	}))
}

// env is what a command takes from its process. main passes the real
// ones; tests run commands in process with their own environment and a
// clock that stands still.
type env struct {
	getenv func(string) string
	// now is the clock of everything a command opens: the detector, the
	// queue runner, the reports and the audit log.
	now            func() time.Time
	stdin          io.Reader // read by doctor-probe only
	stdout, stderr io.Writer
	// terminal reports whether w is a terminal, where queue run shows its
	// progress.
	terminal func(w io.Writer) bool
	// doors are the programs and addresses doctor tries; nil in main,
	// which tries the host's own.
	doors *doctor.Options
}

// Exit statuses.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 64
	exitIOErr   = 74 // standard output cannot be written
	exitTempErr = 75 // the state store or the spool cannot be used now
	exitNoPerm  = 77 // egress and doctor need root
	exitConfig  = 78
)

const usageText = `usage: spamrun COMMAND [ARGS]

Commands:
  status [--json] [SITE]            sites: state, spam in the window, queue, scripts
  top [--site SITE] [--json] [-b] [-n N]
                                    live view: spam against max_spam, held, mail/min, last script
  enable SITE                       re-enable a disabled site, with an empty window
  incidents [--json] [SITE]         the trips, newest first, with their likely cause
  incidents show [--json|--html FILE] ID
                                    an incident's report: the cause, its evidence, a timeline
  queue list [--json] [--all|--quarantine] [SITE]
                                    messages waiting, held or kept in quarantine
  queue run [--once] [-v]           the queue runner (--once: one pass)
  serve [--interval D] [-v]         the queue runner and the SMTP listener of [smtpd]
  queue release ID...               relay held or quarantined messages after all
  queue purge ID...                 delete messages for good
  audit [--json]                    who enabled, released and purged what, when
  score [--scorer KIND] FILE...     score messages, one JSON line each
  diff [--json] [--incident ID] SITE_ROOT SNAPSHOT_ROOT
                                    new and changed files since a snapshot, likely mailer first
  egress apply [--dry-run]|remove|show
                                    the egress lock: site users' SMTP to the listener (root)
  doctor [--site SITE] [--json]     try every door as the site's user: through spamrun, closed or OPEN
  store migrate                     move a Redis store of an earlier release to the current keys
  version                           the release this binary was built from
  help                              this text

The configuration is /etc/spamrun/spamrun.toml, or the file SPAMRUN_CONFIG names.
`

// run runs the command args names, reports its error, if any, on
// standard error and returns the exit status.
func run(args []string, e *env) int {
	err := e.command(args)
	e.report(err)
	return exitStatus(err)
}

func (e *env) command(args []string) error {
	if len(args) == 0 {
		return &usageError{usage: usageText}
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.stdout, usageText)
		return nil
	case "version", "--version":
		return e.version(args[1:])
	case "score":
		return e.score(args[1:])
	case "status":
		return e.status(args[1:])
	case "top":
		return e.top(args[1:])
	case "enable":
		return e.enable(args[1:])
	case "incidents":
		return e.incidents(args[1:])
	case "audit":
		return e.audit(args[1:])
	case "queue":
		return e.queue(args[1:])
	case "diff":
		return e.diff(args[1:])
	case "serve":
		return e.serve(args[1:])
	case "egress":
		return e.egressCmd(args[1:])
	case "doctor":
		return e.doctor(args[1:])
	case "store":
		return e.storeCmd(args[1:])
	case doctor.ProbeArg:
		return e.doctorProbe(args[1:])
	}
	return &usageError{err: fmt.Errorf("unknown command %q", args[0]), usage: usageText}
}

// usageError is bad usage: what is wrong, then how the command is used.
type usageError struct {
	err   error  // nil when the usage says it all; flag.ErrHelp for -h
	usage string // the synopsis, and the flags
}

func (e *usageError) Error() string {
	if e.err == nil {
		first, _, _ := strings.Cut(e.usage, "\n")
		return first
	}
	return e.err.Error()
}

func (e *usageError) Unwrap() error { return e.err }

// statusError is an error that calls for an exit status other than 1.
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// unavailable marks err, not nil, as a failure of the state store or the
// spool, which may pass: the caller can try again later.
func unavailable(err error) error { return &statusError{exitTempErr, err} }

// misconfigured marks err, not nil, as the configuration's.
func misconfigured(err error) error { return &statusError{exitConfig, err} }

// exitStatus maps the error of a command to the exit status, following
// sysexits: whatever is not marked otherwise failed for good.
func exitStatus(err error) int {
	var (
		usage  *usageError
		status *statusError
	)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &usage):
		return exitUsage
	case errors.As(err, &status):
		return status.status
	case errors.Is(err, host.ErrSpool):
		return exitTempErr
	case errors.Is(err, doctor.ErrNotRoot):
		return exitNoPerm
	case errors.Is(err, doctor.ErrOpen):
		return exitFailed
	}
	return exitFailed
}

// report prints the error of a command on standard error, each line
// prefixed as the errors.Join of several failures would otherwise lose it.
func (e *env) report(err error) {
	var usage *usageError
	switch {
	case err == nil:
	case errors.As(err, &usage):
		if usage.err != nil && !errors.Is(usage.err, flag.ErrHelp) {
			fmt.Fprintf(e.stderr, "spamrun: %v\n", usage.err)
		}
		fmt.Fprint(e.stderr, usage.usage)
	default:
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(e.stderr, "spamrun: %s\n", line)
		}
	}
}

// flags is the flag set of a command, which knows how the command is used.
type flags struct {
	*flag.FlagSet
	cmd      string // "queue list"
	synopsis string // its flags and operands
}

func newFlags(cmd, synopsis string) *flags {
	fs := flag.NewFlagSet("spamrun "+cmd, flag.ContinueOnError)
	// The flag set's errors are returned, and printed once, by report.
	fs.SetOutput(io.Discard)
	return &flags{FlagSet: fs, cmd: cmd, synopsis: synopsis}
}

// usage is the synopsis of the command and its flags.
func (f *flags) usage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: %s %s\n", f.Name(), f.synopsis)
	f.SetOutput(&b)
	f.PrintDefaults()
	f.SetOutput(io.Discard)
	return b.String()
}

// usageErrorf reports bad usage of the command.
func (f *flags) usageErrorf(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...), usage: f.usage()}
}

// parse parses args with flags before and after the operands, as
// operators type them ("spamrun status shop1 --json"); "--" ends the
// flags. It returns the operands.
func (f *flags) parse(args []string) ([]string, error) {
	var operands []string
	for {
		if err := f.Parse(args); err != nil {
			return nil, &usageError{err: err, usage: f.usage()}
		}
		rest := f.Args()
		if len(rest) == 0 {
			return operands, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(operands, rest...), nil
		}
		operands = append(operands, rest[0])
		args = rest[1:]
	}
}

// site checks a SITE operand: site names end up in file names, store
// keys and enforcer command lines.
func (f *flags) site(name string) error {
	if err := spamrun.ValidSiteName(name); err != nil {
		return f.usageErrorf("%s", strings.TrimPrefix(err.Error(), "spamrun: "))
	}
	return nil
}

// parseSite is parse for a command with one optional SITE operand: it
// returns the SITE, or "".
func (f *flags) parseSite(args []string) (string, error) {
	operands, err := f.parse(args)
	switch {
	case err != nil:
		return "", err
	case len(operands) > 1:
		return "", f.usageErrorf("%s takes at most one SITE", f.cmd)
	case len(operands) == 1:
		return operands[0], f.site(operands[0])
	}
	return "", nil
}

// writeJSON prints v indented, for people and jq alike.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// loadConfig loads the configuration SPAMRUN_CONFIG names, or the
// default one.
func (e *env) loadConfig() (*config.Config, error) {
	cfg, err := config.LoadDefault(e.getenv, false)
	if err != nil {
		return nil, misconfigured(err)
	}
	return cfg, nil
}

// scoreLine is one line of spamrun score's output.
type scoreLine struct {
	File  string     `json:"file"`
	Score float64    `json:"score"`
	Spam  bool       `json:"spam"`
	Rules []ruleJSON `json:"rules"`
	Error string     `json:"error,omitempty"`
}

type ruleJSON struct {
	Name  string  `json:"name"`
	Score float64 `json:"score"`
}

func (e *env) score(args []string) error {
	f := newFlags("score", "[--scorer builtin|spamassassin|rspamd] [--address ADDR] FILE...")
	kind := f.String("scorer", "", "builtin, spamassassin or rspamd (default: the configuration's)")
	address := f.String("address", "", "the filter's address (default: the configuration's)")
	files, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return f.usageErrorf("score takes at least one FILE")
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	if *kind != "" {
		cfg.Scorer.Kind = *kind
	}
	if *address != "" {
		cfg.Scorer.Address = *address
	}
	scorer, err := host.NewScorerAlone(cfg)
	if err != nil {
		return &usageError{err: err, usage: f.usage()}
	}
	threshold := cfg.DefaultPolicy.SpamScore
	enc := json.NewEncoder(e.stdout)
	failed := 0
	for _, file := range files {
		line := scoreLine{File: file, Rules: []ruleJSON{}}
		s, err := scoreFile(scorer, file)
		if err != nil {
			line.Error = err.Error()
			failed++
		} else {
			line.Score, line.Spam = s.Value, s.Value >= threshold
			for _, r := range s.Rules {
				line.Rules = append(line.Rules, ruleJSON{Name: r.Name, Score: r.Points})
			}
		}
		if err := enc.Encode(line); err != nil {
			return &statusError{exitIOErr, err}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d files not scored; their lines say why", failed, len(files))
	}
	return nil
}

func scoreFile(scorer spamrun.Scorer, file string) (spamrun.Score, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return spamrun.Score{}, err
	}
	msg, err := spamrun.ParseMessage(raw, "", nil)
	if err != nil {
		return spamrun.Score{}, err
	}
	return scorer.Score(context.Background(), msg)
}

// version prints the release the binary was built from.
func (e *env) version(args []string) error {
	if len(args) > 0 {
		return &usageError{err: fmt.Errorf("version takes no arguments"), usage: "usage: spamrun version\n"}
	}
	_, err := fmt.Fprintf(e.stdout, "spamrun %s\n", version.String())
	return err
}
