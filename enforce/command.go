package enforce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/internal/enforceconf"
	"github.com/spamrun/spamrun/internal/safeexec"
)

// ErrBadCommand is wrapped by every error of NewCommand.
var ErrBadCommand = errors.New("enforce: bad command")

// ErrUnsafeName is wrapped by the error of a Command that refuses to put a
// site name or incident ID on a command line: one that is empty, starts
// with '-', contains '/', control characters or invalid UTF-8, or is "."
// or "..". Nothing is run.
var ErrUnsafeName = errors.New("enforce: unsafe name")

// Command runs a control panel's own command line tool: one command to
// suspend a site when it trips, another to resume it when the operator
// re-enables it.
//
// Each command is a template, split into words once by NewCommand with the
// quoting of a shell ('single quotes', "double quotes", backslash), but no
// shell ever runs it: the program is executed directly, so nothing is
// expanded, globbed, piped or redirected. The placeholders {site},
// {incident} (the incident ID; empty for enable) and {event} ("disable" or
// "enable") are then filled in inside the words, so a site name is always
// exactly one argument, whatever it contains:
//
//	/usr/local/bin/panel-disable-site {site}
//	/usr/local/bin/panel site suspend --reason="spam run {incident}" -- {site}
//
// Site names a tool could misread are refused before anything runs (see
// ErrUnsafeName).
//
// The program is an absolute path, or a bare name looked up in a fixed PATH
// of /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin. It runs
// in "/" with only PATH, SPAMRUN_EVENT, SPAMRUN_SITE and SPAMRUN_INCIDENT_ID
// in its environment and, for disable, the [spamrun.Incident] as JSON on
// stdin. Exit status 0 is success; any other status is an error that
// carries the end of the command's stderr. A command still running after
// Timeout is killed, together with every process it started.
//
// The command may be run again for a site already in the state asked for
// (after a crash, say) and should then succeed without doing anything.
type Command struct {
	// Timeout bounds each run; 0 means 30 seconds.
	Timeout time.Duration

	disable, enable []string
}

const defaultCommandTimeout = 30 * time.Second

var _ spamrun.Enforcer = (*Command)(nil)

// NewCommand parses the disable and enable command templates. An empty
// enable template makes Enable do nothing, for panels whose staff resume
// sites by hand.
func NewCommand(disable, enable string) (*Command, error) {
	c := new(Command)
	var err error
	if c.disable, err = enforceconf.ParseCommand(disable); err != nil {
		return nil, fmt.Errorf("%w: disable command: %w", ErrBadCommand, err)
	}
	if strings.TrimSpace(enable) != "" {
		if c.enable, err = enforceconf.ParseCommand(enable); err != nil {
			return nil, fmt.Errorf("%w: enable command: %w", ErrBadCommand, err)
		}
	}
	return c, nil
}

// Argv returns the command line that Disable (event EventDisable) or
// Enable (EventEnable) would run for site, with the program as written in
// the template, or nil when there is nothing to run. It refuses what
// Disable and Enable refuse, so a control panel can check its names ahead.
func (c *Command) Argv(event, site, incidentID string) ([]string, error) {
	var tmpl []string
	switch event {
	case EventDisable:
		tmpl = c.disable
	case EventEnable:
		tmpl = c.enable
	default:
		return nil, fmt.Errorf("enforce: unknown event %q", event)
	}
	if err := checkName("site name", site); err != nil {
		return nil, err
	}
	if incidentID != "" {
		if err := checkName("incident ID", incidentID); err != nil {
			return nil, err
		}
	}
	if tmpl == nil {
		return nil, nil
	}
	fill := strings.NewReplacer("{site}", site, "{incident}", incidentID, "{event}", event)
	argv := make([]string, len(tmpl))
	for i, w := range tmpl {
		argv[i] = fill.Replace(w)
	}
	return argv, nil
}

// Disable runs the disable command with the incident on its stdin.
func (c *Command) Disable(ctx context.Context, site string, inc *spamrun.Incident) error {
	return c.run(ctx, EventDisable, site, inc)
}

// Enable runs the enable command, if there is one.
func (c *Command) Enable(ctx context.Context, site string) error {
	return c.run(ctx, EventEnable, site, nil)
}

func (c *Command) run(ctx context.Context, event, site string, inc *spamrun.Incident) error {
	var id string
	if inc != nil {
		id = inc.ID
	}
	argv, err := c.Argv(event, site, id)
	if err != nil || argv == nil {
		return err
	}
	what := fmt.Sprintf("enforce: command %s: %s %q", argv[0], event, site)
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = defaultCommandTimeout
	}
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cmd, err := safeexec.Command(runCtx, argv,
		"SPAMRUN_EVENT="+event,
		"SPAMRUN_SITE="+site,
		"SPAMRUN_INCIDENT_ID="+id,
	)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if event == EventDisable {
		data, err := json.Marshal(inc)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		cmd.Stdin = bytes.NewReader(data)
	}
	var stderr safeexec.Tail
	cmd.Stderr = &stderr

	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w%s", what, ctx.Err(), stderrSuffix(&stderr))
	case runCtx.Err() != nil:
		return fmt.Errorf("%s: killed after the %v timeout: %w%s", what, timeout, runCtx.Err(), stderrSuffix(&stderr))
	case errors.As(err, &exit):
		return fmt.Errorf("%s: %w%s", what, err, stderrSuffix(&stderr))
	}
	return fmt.Errorf("%s: %w", what, err)
}

// stderrSuffix formats the end of a command's stderr for an error message,
// or "" when it wrote nothing.
func stderrSuffix(t *safeexec.Tail) string {
	if s := t.String(); s != "" {
		return fmt.Sprintf("; stderr: %q", s)
	}
	return ""
}

// checkName refuses what a panel's tool could take for something other
// than a plain name: an option, a path, or a line break in its own logs.
func checkName(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty %s", ErrUnsafeName, what)
	case s[0] == '-':
		return fmt.Errorf("%w: %s %q starts with '-'", ErrUnsafeName, what, s)
	case s == "." || s == "..":
		return fmt.Errorf("%w: %s %q", ErrUnsafeName, what, s)
	case strings.ContainsRune(s, '/'):
		return fmt.Errorf("%w: %s %q contains '/'", ErrUnsafeName, what, s)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s %q is not valid UTF-8", ErrUnsafeName, what, s)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: %s %q contains a control character", ErrUnsafeName, what, s)
	}
	return nil
}
