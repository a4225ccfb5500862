// Command spamrun is the operator's tool.
//
//	spamrun status [--json] [SITE]
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
//
// score prints one JSON object per file and line, as scripts want it:
//
//	{"file":"a.eml","score":7.2,"spam":true,"rules":[{"name":"GTUBE","score":1000}]}
//
// The scorer and its address default to the [scorer] table of the
// configuration, and "spam" to its spam_score.
//
// enable, release and purge are appended to the audit log, audit.log in
// the state directory, one JSON object a line, and sent to syslog when
// the configuration logs there.
//
// The exit status follows sysexits: 0 done, 1 the operation failed, 64
// bad usage, 75 the state store or the spool is unavailable, 78 the
// configuration is wrong.
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
	"github.com/spamrun/spamrun/internal/host"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// Exit statuses.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 64
	exitTempErr = 75 // the state store or the spool cannot be used now
	exitConfig  = 78
)

// now is the clock of status; tests move it.
var now = time.Now

const usageText = `usage: spamrun COMMAND [ARGS]

Commands:
  status [--json] [SITE]            sites: state, spam in the window, queue, scripts
  enable SITE                       re-enable a disabled site, with an empty window
  incidents [--json] [SITE]         the trips, newest first, with their likely cause
  incidents show [--json|--html FILE] ID
                                    an incident's report: the cause, its evidence, a timeline
  queue list [--json] [--all|--quarantine] [SITE]
                                    messages waiting, held or kept in quarantine
  queue run [--once] [-v]           the queue runner (--once: one pass)
  queue release ID...               relay held or quarantined messages after all
  queue purge ID...                 delete messages for good
  audit [--json]                    who enabled, released and purged what, when
  score [--scorer KIND] FILE...     score messages, one JSON line each
  diff [--json] [--incident ID] SITE_ROOT SNAPSHOT_ROOT
                                    new and changed files since a snapshot, likely mailer first
  help                              this text

The configuration is /etc/spamrun/spamrun.toml, or the file SPAMRUN_CONFIG names.
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usageText)
		return exitOK
	case "score":
		return score(args[1:], stdout, stderr)
	case "status":
		return status(args[1:], stdout, stderr)
	case "enable":
		return enable(args[1:], stdout, stderr)
	case "incidents":
		return incidents(args[1:], stdout, stderr)
	case "audit":
		return audit(args[1:], stdout, stderr)
	case "queue":
		return queueCmd(args[1:], stdout, stderr)
	case "diff":
		return diffCmd(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "spamrun: unknown command %q\n\n%s", args[0], usageText)
	return exitUsage
}

// newFlags returns the flag set of a command whose synopsis is usage.
func newFlags(usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("spamrun "+strings.Fields(usage)[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: spamrun %s\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args with flags before and after the operands, as
// operators type them ("spamrun status shop1 --json"); "--" ends the
// flags. It returns the operands, or the exit status of a -h or an
// error, which the flag set has reported.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, int, bool) {
	var operands []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, false
			}
			return nil, exitUsage, false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return operands, 0, true
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(operands, rest...), 0, true
		}
		operands = append(operands, rest[0])
		args = rest[1:]
	}
}

// usagef reports bad usage and returns its exit status.
func usagef(stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "spamrun: "+format+"\n", args...)
	return exitUsage
}

// siteArg checks a SITE operand: site names end up in file names, store
// keys and enforcer command lines.
func siteArg(stderr io.Writer, site string) (int, bool) {
	if err := spamrun.ValidSiteName(site); err != nil {
		return usagef(stderr, "%s", strings.TrimPrefix(err.Error(), "spamrun: ")), false
	}
	return 0, true
}

// optionalSite returns the one optional SITE operand of cmd, or "".
func optionalSite(cmd string, operands []string, stderr io.Writer) (site string, code int, ok bool) {
	if len(operands) > 1 {
		return "", usagef(stderr, "%s takes at most one SITE", cmd), false
	}
	if len(operands) == 1 {
		site = operands[0]
		if code, ok := siteArg(stderr, site); !ok {
			return "", code, false
		}
	}
	return site, 0, true
}

// writeJSON prints v indented, for people and jq alike.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
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

func score(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("score [--scorer builtin|spamassassin|rspamd] [--address ADDR] FILE...", stderr)
	kind := fs.String("scorer", "", "builtin, spamassassin or rspamd (default: the configuration's)")
	address := fs.String("address", "", "the filter's address (default: the configuration's)")
	files, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "spamrun score: no files")
		return exitUsage
	}
	cfg, err := config.LoadDefault(os.Getenv, false)
	if err != nil {
		fmt.Fprintln(stderr, "spamrun:", err)
		return exitConfig
	}
	if *kind != "" {
		cfg.Scorer.Kind = *kind
	}
	if *address != "" {
		cfg.Scorer.Address = *address
	}
	scorer, err := host.NewScorerAlone(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "spamrun:", err)
		return exitUsage
	}
	threshold := cfg.DefaultPolicy.SpamScore
	enc := json.NewEncoder(stdout)
	failed := false
	for _, file := range files {
		line := scoreLine{File: file, Rules: []ruleJSON{}}
		s, err := scoreFile(scorer, file)
		if err != nil {
			line.Error = err.Error()
			failed = true
		} else {
			line.Score, line.Spam = s.Value, s.Value >= threshold
			for _, r := range s.Rules {
				line.Rules = append(line.Rules, ruleJSON{Name: r.Name, Score: r.Points})
			}
		}
		if err := enc.Encode(line); err != nil {
			fmt.Fprintln(stderr, "spamrun:", err)
			return 74
		}
	}
	if failed {
		return exitFailed
	}
	return exitOK
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
