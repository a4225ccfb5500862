package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun/internal/version"
	"github.com/spamrun/spamrun/spamruntest"
)

// writeSamples writes a ham and a spam sample and returns their paths.
func writeSamples(t *testing.T) (ham, spam string) {
	t.Helper()
	dir := t.TempDir()
	ham = filepath.Join(dir, "order.eml")
	spam = filepath.Join(dir, "gtube.eml")
	if err := os.WriteFile(ham, spamruntest.OrderConfirmation("shop1.example", 1), 0o644); err != nil {
		t.Fatal(err)
	}
	gtube := "Subject: test\r\n\r\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n"
	if err := os.WriteFile(spam, []byte(gtube), 0o644); err != nil {
		t.Fatal(err)
	}
	return ham, spam
}

// testNow is the time on the clock of the commands the tests run.
var testNow = time.Date(2026, time.November, 21, 9, 30, 0, 0, time.UTC)

// cli runs spamrun in process, with an environment of its own and a clock
// that stands still at testNow.
type cli struct {
	t        *testing.T
	vars     map[string]string // the environment
	terminal bool              // whether standard error is a terminal
}

func newCLI(t *testing.T) *cli { return &cli{t: t, vars: make(map[string]string)} }

func (c *cli) getenv(key string) string { return c.vars[key] }

func (c *cli) now() time.Time { return testNow }

// run runs the command and returns what it wrote and its exit status.
func (c *cli) run(args ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	code = run(args, &env{
		getenv: c.getenv, now: c.now, stdout: &out, stderr: &errOut,
		terminal: func(io.Writer) bool { return c.terminal },
	})
	return out.String(), errOut.String(), code
}

// mustRun runs the command and fails the test unless it exits 0.
func (c *cli) mustRun(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("spamrun %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// emptyConfig points SPAMRUN_CONFIG at an empty file: every default.
func (c *cli) emptyConfig() {
	c.t.Helper()
	path := filepath.Join(c.t.TempDir(), "spamrun.toml")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		c.t.Fatal(err)
	}
	c.vars["SPAMRUN_CONFIG"] = path
}

// scoreLines runs spamrun score and decodes its output.
func scoreLines(t *testing.T, args ...string) ([]scoreLine, string, int) {
	t.Helper()
	c := newCLI(t)
	c.emptyConfig()
	out, errOut, code := c.run(append([]string{"score"}, args...)...)
	var lines []scoreLine
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l scoreLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("not a JSON line: %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines, errOut, code
}

func TestScoreBuiltin(t *testing.T) {
	t.Parallel()
	ham, spam := writeSamples(t)
	missing := filepath.Join(t.TempDir(), "missing.eml")
	lines, stderr, code := scoreLines(t, "--scorer", "builtin", ham, spam, missing)
	if code != 1 || len(lines) != 3 {
		t.Fatalf("exit %d, %d lines, stderr %q", code, len(lines), stderr)
	}
	if l := lines[0]; l.File != ham || l.Spam || l.Score >= 5 || l.Rules == nil {
		t.Errorf("ham: %+v", l)
	}
	if l := lines[1]; l.File != spam || !l.Spam || l.Score < 1000 || len(l.Rules) == 0 || l.Rules[0].Name == "" {
		t.Errorf("spam: %+v", l)
	}
	if l := lines[2]; l.Error == "" || l.Spam {
		t.Errorf("missing file: %+v", l)
	}
}

func TestScoreJSONShape(t *testing.T) {
	t.Parallel()
	_, spam := writeSamples(t)
	c := newCLI(t)
	c.emptyConfig()
	line := strings.TrimSpace(c.mustRun("score", spam))
	if !strings.HasPrefix(line, `{"file":"`+spam+`","score":`) || !strings.Contains(line, `"spam":true,"rules":[{"name":"GTUBE","score":1000}`) {
		t.Errorf("line %s", line)
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	if _, errOut, code := newCLI(t).run("frobnicate"); code != 64 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
	if _, _, code := scoreLines(t); code != 64 {
		t.Errorf("no files: exit %d", code)
	}
	if _, stderr, code := scoreLines(t, "--scorer", "magic", "x"); code != 64 || !strings.Contains(stderr, "magic") {
		t.Errorf("bad scorer: %d %q", code, stderr)
	}
}

// TestVersion checks that spamrun version prints the release the linker
// was given, and refuses arguments.
func TestVersion(t *testing.T) {
	old := version.Version
	t.Cleanup(func() { version.Version = old })
	version.Version = "0.1.0~git20261205.8bb0d6f"
	c := newCLI(t)
	if out := c.mustRun("version"); out != "spamrun 0.1.0~git20261205.8bb0d6f\n" {
		t.Errorf("spamrun version printed %q", out)
	}
	if _, stderr, code := c.run("version", "extra"); code != 64 || !strings.Contains(stderr, "no arguments") {
		t.Errorf("spamrun version extra: exit %d, %q", code, stderr)
	}
}
