package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spamrun/spamrun/internal/textmodel/corpus"
)

// A directory that holds the corpus is reported without a download.
func TestPresent(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "package", "data")
	if err := os.MkdirAll(filepath.Join(data, corpus.TrainHam), 0o755); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-dir", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if got := strings.TrimSpace(stdout.String()); got != data {
		t.Errorf("printed %q, want %q", got, data)
	}
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{{"extra"}, {"-nosuchflag"}} {
		if code := run(args, &bytes.Buffer{}, &bytes.Buffer{}); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}
