package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/spamrun/spamrun/internal/textmodel"
	"github.com/spamrun/spamrun/internal/textmodel/corpus"
	"github.com/spamrun/spamrun/spamruntest"
)

// synthetic writes a small corpus in the npm package's layout.
func synthetic(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	hamWords := []string{"meeting", "patch", "kernel", "lunch", "report", "build", "thanks", "review"}
	spamWords := []string{"viagra", "casino", "winner", "cheap", "pills", "bonus", "offer", "money"}
	for _, g := range []struct {
		name  string
		words []string
	}{{corpus.TrainHam, hamWords}, {corpus.TrainSpam, spamWords}} {
		if err := os.MkdirAll(filepath.Join(dir, "data", g.name), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range 40 {
			body := fmt.Sprintf("%s %s %s %s", g.words[i%8], g.words[(i+3)%8], g.words[(i*5)%8], extra)
			text := fmt.Sprintf("From x  Mon\nFrom: a@example.org\nTo: b@example.net\nSubject: %s %d\n\n%s\n", g.words[i%8], i, body)
			b, _ := json.Marshal(map[string]string{"text": text})
			if err := os.WriteFile(filepath.Join(dir, "data", g.name, fmt.Sprintf("%05d.json", i)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func generate(t *testing.T, dir, out string) []byte {
	t.Helper()
	var stderr bytes.Buffer
	if code := run([]string{"-corpus", dir, "-out", out}, io.Discard, &stderr); code != 0 {
		t.Fatalf("gen exited %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDeterministic(t *testing.T) {
	dir := synthetic(t, "")
	a := generate(t, dir, filepath.Join(t.TempDir(), "a.bin"))
	b := generate(t, dir, filepath.Join(t.TempDir(), "b.bin"))
	if !bytes.Equal(a, b) {
		t.Fatalf("two runs on the same corpus differ: %d and %d bytes", len(a), len(b))
	}
	ma, err := textmodel.Load(a)
	if err != nil {
		t.Fatal(err)
	}
	if ma.Generator != Version {
		t.Errorf("header generator %q, want %q", ma.Generator, Version)
	}
	c := generate(t, synthetic(t, "changed"), filepath.Join(t.TempDir(), "c.bin"))
	mc, err := textmodel.Load(c)
	if err != nil {
		t.Fatal(err)
	}
	if mc.InputHash == ma.InputHash {
		t.Error("a changed corpus left the input hash unchanged")
	}
}

// TestEmbeddedIsCurrent holds the committed model to the code that makes
// it. The version check runs everywhere; the byte comparison needs the
// corpus, which scripts/test.sh fetches, so in CI a missing corpus fails
// the test, and elsewhere it is skipped.
func TestEmbeddedIsCurrent(t *testing.T) {
	m, err := textmodel.Load(textmodel.Embedded())
	if err != nil {
		t.Fatal(err)
	}
	if m.Generator != Version {
		t.Fatalf("model.bin was made by %s, the generator is %s: run go generate ./internal/textmodel", m.Generator, Version)
	}
	dir, ok := corpus.Locate()
	if !ok {
		spamruntest.Missing(t, "SpamAssassin corpus (go run ./internal/textmodel/corpus/fetch, or set SPAMRUN_CORPUS)")
	}
	if testing.Short() {
		t.Skip("regenerating the model takes seconds")
	}
	got := generate(t, dir, filepath.Join(t.TempDir(), "model.bin"))
	if !bytes.Equal(got, textmodel.Embedded()) {
		t.Fatalf("regenerated model (%d bytes) differs from model.bin (%d bytes): run go generate ./internal/textmodel", len(got), len(textmodel.Embedded()))
	}
}
