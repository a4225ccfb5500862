package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

// emptyConfig points SPAMRUN_CONFIG at an empty file: every default.
func emptyConfig(t *testing.T) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "spamrun.toml")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SPAMRUN_CONFIG", path)
}

// scoreLines runs spamrun score and decodes its output.
func scoreLines(t *testing.T, args ...string) ([]scoreLine, string, int) {
	t.Helper()
	emptyConfig(t)
	var out, errOut bytes.Buffer
	code := run(append([]string{"score"}, args...), nil, &out, &errOut)
	var lines []scoreLine
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var l scoreLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("not a JSON line: %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines, errOut.String(), code
}

func TestScoreBuiltin(t *testing.T) {
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
	_, spam := writeSamples(t)
	var out bytes.Buffer
	emptyConfig(t)
	if code := run([]string{"score", spam}, nil, &out, &bytes.Buffer{}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	line := strings.TrimSpace(out.String())
	if !strings.HasPrefix(line, `{"file":"`+spam+`","score":`) || !strings.Contains(line, `"spam":true,"rules":[{"name":"GTUBE","score":1000}`) {
		t.Errorf("line %s", line)
	}
}

func TestUsage(t *testing.T) {
	var errOut bytes.Buffer
	if code := run([]string{"frobnicate"}, nil, &bytes.Buffer{}, &errOut); code != 64 || !strings.Contains(errOut.String(), "unknown command") {
		t.Errorf("unknown command: %d %q", code, errOut.String())
	}
	if _, _, code := scoreLines(t); code != 64 {
		t.Errorf("no files: exit %d", code)
	}
	if _, stderr, code := scoreLines(t, "--scorer", "magic", "x"); code != 64 || !strings.Contains(stderr, "magic") {
		t.Errorf("bad scorer: %d %q", code, stderr)
	}
}
