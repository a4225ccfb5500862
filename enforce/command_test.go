package enforce_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spamrun/spamrun/enforce"
)

// recorder writes a shell script that logs its arguments, working
// directory, environment and stdin to a file, so a test sees exactly what
// the command enforcer ran. The log is absent until the script runs.
func recorder(t *testing.T) (script, logFile string) {
	t.Helper()
	dir := t.TempDir()
	script = filepath.Join(dir, "record.sh")
	logFile = filepath.Join(dir, "log")
	body := `exec >'` + logFile + `'
printf 'argc=%d\n' "$#"
for a in "$@"; do printf 'arg=%s\n' "$a"; done
printf 'pwd=%s\n' "$(pwd)"
env | sed 's/^/env=/'
printf 'stdin='
cat
printf '\n'
`
	if err := os.WriteFile(script, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return script, logFile
}

type recording struct {
	args  []string
	pwd   string
	env   map[string]string
	stdin string
}

func readRecording(t *testing.T, logFile string) recording {
	t.Helper()
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatalf("the command did not run: %v", err)
	}
	rec := recording{env: map[string]string{}}
	text, stdin, ok := strings.Cut(string(data), "stdin=")
	if !ok {
		t.Fatalf("log has no stdin: %q", data)
	}
	rec.stdin = strings.TrimSuffix(stdin, "\n")
	for line := range strings.Lines(text) {
		line = strings.TrimSuffix(line, "\n")
		key, val, _ := strings.Cut(line, "=")
		switch key {
		case "arg":
			rec.args = append(rec.args, val)
		case "pwd":
			rec.pwd = val
		case "env":
			k, v, _ := strings.Cut(val, "=")
			rec.env[k] = v
		}
	}
	return rec
}

// shQuote quotes a path for a command template.
func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func TestCommandArgv(t *testing.T) {
	t.Setenv("SPAMRUN_ENFORCE_TEST_LEAK", "caller's secret")
	script, logFile := recorder(t)
	// A bare "sh" also proves the program is found in the fixed PATH.
	c, err := enforce.NewCommand(
		"sh "+shQuote(script)+" suspend --site={site} --incident {incident} {event}",
		"sh "+shQuote(script)+" resume {site} {event}",
	)
	if err != nil {
		t.Fatal(err)
	}
	sites := []string{
		"shop1",
		"a b",
		"x;rm -rf ~",
		"$(id)",
		"`id`",
		"'quoted'",
		`"double" \back`,
		"*",
		"{incident}",
		"ünïcödé.example",
	}
	for _, site := range sites {
		t.Run(site, func(t *testing.T) {
			os.Remove(logFile)
			inc := testIncident(site)
			if err := c.Disable(context.Background(), site, inc); err != nil {
				t.Fatalf("Disable: %v", err)
			}
			rec := readRecording(t, logFile)
			want := []string{"suspend", "--site=" + site, "--incident", inc.ID, "disable"}
			if !slices.Equal(rec.args, want) {
				t.Errorf("argv = %q, want %q", rec.args, want)
			}
			wantJSON, _ := json.Marshal(inc)
			if rec.stdin != string(wantJSON) {
				t.Errorf("stdin = %s, want %s", rec.stdin, wantJSON)
			}
			for k, v := range map[string]string{
				"SPAMRUN_EVENT":       "disable",
				"SPAMRUN_SITE":        site,
				"SPAMRUN_INCIDENT_ID": inc.ID,
				"PATH":                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			} {
				if rec.env[k] != v {
					t.Errorf("env %s = %q, want %q", k, rec.env[k], v)
				}
			}
			for _, k := range []string{"SPAMRUN_ENFORCE_TEST_LEAK", "HOME", "USER"} {
				if v, ok := rec.env[k]; ok {
					t.Errorf("caller's %s=%q reached the command", k, v)
				}
			}
			if rec.pwd != "/" {
				t.Errorf("working directory = %q, want /", rec.pwd)
			}

			os.Remove(logFile)
			if err := c.Enable(context.Background(), site); err != nil {
				t.Fatalf("Enable: %v", err)
			}
			rec = readRecording(t, logFile)
			if want := []string{"resume", site, "enable"}; !slices.Equal(rec.args, want) {
				t.Errorf("enable argv = %q, want %q", rec.args, want)
			}
			if rec.stdin != "" {
				t.Errorf("enable stdin = %q, want empty", rec.stdin)
			}
			if rec.env["SPAMRUN_EVENT"] != "enable" || rec.env["SPAMRUN_SITE"] != site {
				t.Errorf("enable env = %q", rec.env)
			}
			if v, ok := rec.env["SPAMRUN_INCIDENT_ID"]; !ok || v != "" {
				t.Errorf("enable SPAMRUN_INCIDENT_ID = %q, %v; want set and empty", v, ok)
			}
		})
	}
}

func TestCommandRefusesUnsafeNames(t *testing.T) {
	script, logFile := recorder(t)
	c, err := enforce.NewCommand("/bin/sh "+shQuote(script)+" {site} {incident}", "/bin/sh "+shQuote(script)+" {site}")
	if err != nil {
		t.Fatal(err)
	}
	for _, site := range []string{
		"", "-rf", "--all", "-", "x;rm -rf /", "../etc", "a/b", ".", "..",
		"a\nb", "a\rb", "a\x00b", "tab\there", "\x7f", "a\u0085b", "\xff\xfe",
	} {
		err := c.Disable(context.Background(), site, testIncident(site))
		if !errors.Is(err, enforce.ErrUnsafeName) {
			t.Errorf("Disable(%q) = %v, want ErrUnsafeName", site, err)
		}
		err = c.Enable(context.Background(), site)
		if !errors.Is(err, enforce.ErrUnsafeName) {
			t.Errorf("Enable(%q) = %v, want ErrUnsafeName", site, err)
		}
		if _, err := c.Argv(enforce.EventDisable, site, ""); !errors.Is(err, enforce.ErrUnsafeName) {
			t.Errorf("Argv(%q) = %v, want ErrUnsafeName", site, err)
		}
	}
	inc := testIncident("shop1")
	inc.ID = "--force"
	if err := c.Disable(context.Background(), "shop1", inc); !errors.Is(err, enforce.ErrUnsafeName) {
		t.Errorf("incident ID %q: %v, want ErrUnsafeName", inc.ID, err)
	}
	if _, err := os.Stat(logFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused name still ran the command (log: %v)", err)
	}
}

func TestCommandTemplate(t *testing.T) {
	tests := []struct {
		tmpl string
		want []string
	}{
		{"/usr/local/bin/panel-disable-site {site}", []string{"/usr/local/bin/panel-disable-site", "shop1"}},
		{"  panel\tsuspend \n {site}  ", []string{"panel", "suspend", "shop1"}},
		{"panel --reason='spam run {incident}' -- {site}", []string{"panel", "--reason=spam run inc-7", "--", "shop1"}},
		{`panel "a \"b\" c\\d \$x \` + "`" + `y\n"`, []string{"panel", `a "b" c\d $x ` + "`" + `y\n`}},
		{`panel a\ b\'c \$HOME`, []string{"panel", "a b'c", "$HOME"}},
		{`panel 'it'"'"'s' '' "" x`, []string{"panel", "it's", "", "", "x"}},
		{`panel 'no $(expansion) | here; {site}'`, []string{"panel", "no $(expansion) | here; shop1"}},
		{"/opt/panel/bin/{event}-site --site={site}@{site} {event}", []string{"/opt/panel/bin/disable-site", "--site=shop1@shop1", "disable"}},
		{"panel {unknown} {SITE}", []string{"panel", "{unknown}", "{SITE}"}},
	}
	for _, tt := range tests {
		c, err := enforce.NewCommand(tt.tmpl, "")
		if err != nil {
			t.Errorf("NewCommand(%q): %v", tt.tmpl, err)
			continue
		}
		got, err := c.Argv(enforce.EventDisable, "shop1", "inc-7")
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%q: argv = %q, %v; want %q", tt.tmpl, got, err, tt.want)
		}
	}

	bad := []struct{ disable, enable, want string }{
		{"", "", "empty command"},
		{" \t\n", "", "empty command"},
		{"panel 'abc", "", "unterminated single quote at byte 6"},
		{`panel "abc`, "", "unterminated double quote at byte 6"},
		{`panel abc\`, "", "ends in a backslash"},
		{"'' {site}", "", "no program"},
		{"{site} --disable", "", "contains {site}"},
		{"/usr/bin/{incident}", "", "contains {site} or {incident}"},
		{"bin/panel {site}", "", "relative path"},
		{"./panel {site}", "", "relative path"},
		{"panel {site} && reload", "", "shell syntax '&'"},
		{"panel {site} > /tmp/log", "", "shell syntax '>'"},
		{"panel {site} | logger", "", "shell syntax '|'"},
		{"panel {site}; reload", "", "shell syntax ';'"},
		{"panel $(id)", "", "shell syntax '$'"},
		{"panel $HOME", "", "shell syntax '$'"},
		{`panel "$HOME"`, "", "shell expansion '$'"},
		{"panel \"`id`\"", "", "shell expansion '`'"},
		{"panel a\x00b", "", "NUL byte"},
		{"panel {site}", "panel 'x", "enable command: unterminated single quote"},
	}
	for _, tt := range bad {
		_, err := enforce.NewCommand(tt.disable, tt.enable)
		if !errors.Is(err, enforce.ErrBadCommand) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewCommand(%q, %q) = %v, want ErrBadCommand mentioning %q", tt.disable, tt.enable, err, tt.want)
		}
	}

	c, err := enforce.NewCommand("panel {site}", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Argv("suspend", "shop1", ""); err == nil {
		t.Error("Argv with an unknown event succeeded")
	}
}

func TestCommandEmptyEnableIsNoop(t *testing.T) {
	script, logFile := recorder(t)
	c, err := enforce.NewCommand("/bin/sh "+shQuote(script)+" {site}", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if argv, err := c.Argv(enforce.EventEnable, "shop1", ""); argv != nil || err != nil {
		t.Errorf("Argv(enable) = %q, %v; want nothing to run", argv, err)
	}
	if err := c.Enable(context.Background(), "shop1"); err != nil {
		t.Errorf("Enable: %v", err)
	}
	if _, err := os.Stat(logFile); !errors.Is(err, os.ErrNotExist) {
		t.Error("Enable ran the disable command")
	}
}

func TestCommandIgnoresCallerPATH(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	prog := filepath.Join(dir, "spamrun-enforce-test-panel")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\ntouch "+shQuote(marker)+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(filepath.ListSeparator)+os.Getenv("PATH"))
	c, err := enforce.NewCommand("spamrun-enforce-test-panel {site}", "")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Disable(context.Background(), "shop1", testIncident("shop1"))
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("Disable = %v, want a not-found error", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the program was found through the caller's PATH")
	}
}

func TestCommandExitStatus(t *testing.T) {
	c, err := enforce.NewCommand(`/bin/sh -c '
		i=0
		while [ $i -lt 200 ]; do echo "noise line $i" >&2; i=$((i+1)); done
		echo "panel: no such vhost: $SPAMRUN_SITE" >&2
		exit 3'`, "")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Disable(context.Background(), "shop1", testIncident("shop1"))
	if err == nil {
		t.Fatal("a failing command gave no error")
	}
	msg := err.Error()
	for _, want := range []string{"enforce: ", "/bin/sh", `disable "shop1"`, "exit status 3", "panel: no such vhost: shop1"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if strings.Contains(msg, "noise line 0") {
		t.Errorf("error carries all of stderr, not its tail: %d bytes", len(msg))
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Errorf("error does not unwrap to exit code 3: %v", err)
	}
}

func TestCommandTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	// The shell waits on a child; killing the shell alone would leave the
	// sleep running with stderr open.
	c, err := enforce.NewCommand(`/bin/sh -c 'sleep 30 & echo $! >"$0"; wait' `+shQuote(pidFile), "")
	if err != nil {
		t.Fatal(err)
	}
	c.Timeout = 300 * time.Millisecond
	start := time.Now()
	err = c.Disable(context.Background(), "shop1", testIncident("shop1"))
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timeout") {
		t.Errorf("Disable = %v, want a timeout", err)
	}
	if elapsed > 5*time.Second {
		t.Errorf("Disable took %v with a 300ms timeout", elapsed)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the command did not start: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			if p, err := os.FindProcess(pid); err == nil {
				p.Kill()
			}
			t.Fatalf("the command's child %d outlived the timeout", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid runs; a zombie nobody reaped yet is dead.
func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil || p.Signal(syscall.Signal(0)) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}

func TestCommandContextCancel(t *testing.T) {
	c, err := enforce.NewCommand("sleep 30", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err = c.Disable(ctx, "shop1", testIncident("shop1"))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Disable = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancel took %v to stop the command", d)
	}
}
