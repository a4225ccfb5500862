package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMetrics(t *testing.T) {
	// 200 spam, 10 of them not scored: 171 of the 190 marked.
	spam := counts{Messages: 200, Marked: 171, Errors: 10}
	// Two ham groups: 3 of 100 and 6 of 50 marked, none failed.
	ham := []counts{{Messages: 100, Marked: 3}, {Messages: 50, Marked: 6, Errors: 0}}

	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-12 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	r, ok := spam.rate()
	near("recall", r, 0.9) // 171 / 190
	if !ok {
		t.Error("recall not ok")
	}
	p, ok := precision(spam, ham)
	near("precision", p, 0.95) // 171 / (171 + 3 + 6)
	if !ok {
		t.Error("precision not ok")
	}
	fp, _ := ham[0].rate()
	near("FP rate", fp, 0.03)
	fp, _ = ham[1].rate()
	near("FP rate", fp, 0.12)

	if _, ok := (counts{Messages: 5, Errors: 5}).rate(); ok {
		t.Error("a rate with nothing scored")
	}
	if _, ok := precision(counts{Messages: 5}, []counts{{Messages: 5}}); ok {
		t.Error("a precision with nothing marked")
	}
}

func TestFormatTable(t *testing.T) {
	rows := []row{
		{scorer: "a", threshold: "5", group: "ham", counts: counts{Messages: 100, Marked: 3}, elapsed: time.Second},
		{scorer: "a", threshold: "5", group: "spam", spam: true, counts: counts{Messages: 200, Marked: 171, Errors: 10}, elapsed: 4 * time.Second},
		// Another scorer's ham must not count against a's precision.
		{scorer: "b", threshold: "6", group: "ham", counts: counts{Messages: 100, Marked: 100}, elapsed: 40 * time.Second},
	}
	got := formatTable(rows)
	for _, want := range []string{
		"| a | 5 | ham | 100 | 3 |  |  | 3.00 % | 0 | 100 |\n",
		"| a | 5 | spam | 200 | 171 | 0.9828 | 0.9000 |  | 10 | 50.0 |\n",
		"| b | 6 | ham | 100 | 100 |  |  | 100.00 % | 0 | 2.50 |\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
}

func TestSampleEvenly(t *testing.T) {
	items := make([]int, 2792)
	for i := range items {
		items[i] = i
	}
	got := sampleEvenly(items, 100)
	if len(got) != 100 || got[0] != 0 || got[1] != 27 || got[99] != 99*27 {
		t.Errorf("sample of 100 from 2792: %d items, %v…%v", len(got), got[:2], got[len(got)-1])
	}
	if len(sampleEvenly(items, 0)) != len(items) || len(sampleEvenly(items[:50], 100)) != 50 {
		t.Error("no sample or a large one must return everything")
	}
}

const readmeDoc = "# spamrun\n\n## Accuracy\n\nProse stays.\n\n" + beginMarker + "\n\n| old | table |\n\nMeasured long ago.\n" + endMarker + "\n\nMore prose.\n"

func TestReplaceBlock(t *testing.T) {
	got, err := replaceBlock(readmeDoc, "| new | table |\n\nMeasured now.")
	if err != nil {
		t.Fatal(err)
	}
	want := "# spamrun\n\n## Accuracy\n\nProse stays.\n\n" + beginMarker + "\n\n| new | table |\n\nMeasured now.\n\n" + endMarker + "\n\nMore prose.\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	// Replacing again gives the same text.
	again, err := replaceBlock(got, "| new | table |\n\nMeasured now.\n")
	if err != nil || again != want {
		t.Errorf("second replacement changed the text: %v\n%s", err, again)
	}

	for name, doc := range map[string]string{
		"no markers":     "# spamrun\n",
		"no end":         beginMarker + "\nx\n",
		"no begin":       "x\n" + endMarker + "\n",
		"reversed":       endMarker + "\nx\n" + beginMarker + "\n",
		"twice":          readmeDoc + readmeDoc,
		"not on a line":  "see " + beginMarker + " and " + endMarker + "\n",
		"begin then EOF": endMarker + "\n" + beginMarker,
	} {
		if _, err := replaceBlock(doc, "x"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestUpdateReadme(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "README.md")
	if err := os.WriteFile(name, []byte(readmeDoc), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := updateReadme(name, "| new |\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(name)
	if !bytes.Contains(b, []byte("\n| new |\n")) || bytes.Contains(b, []byte("old")) {
		t.Errorf("README now:\n%s", b)
	}
	if st, _ := os.Stat(name); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", st.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files left beside README: %v", entries)
	}

	// A file without markers is left as it was.
	if err := os.WriteFile(name, []byte("# no markers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := updateReadme(name, "x"); err == nil {
		t.Error("no error without markers")
	}
	if b, _ := os.ReadFile(name); string(b) != "# no markers\n" {
		t.Errorf("file changed: %q", b)
	}
}

func TestMeasuredLine(t *testing.T) {
	now := time.Date(2026, 3, 4, 23, 0, 0, 0, time.FixedZone("x", -5*3600))
	got := measuredLine(now, []string{"-sample", "100"}, 100)
	for _, want := range []string{"Measured 2026-03-05 on ", "with `go run ./bench/evaluate -sample 100`", ": 100 evenly spaced messages of each group."} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	if got := measuredLine(now, nil, 0); !strings.HasSuffix(got, "`go run ./bench/evaluate`: every message of each group.") {
		t.Errorf("full run: %q", got)
	}
}

// The program checks the README before spending minutes on the corpus.
func TestReadmeWithoutMarkers(t *testing.T) {
	name := filepath.Join(t.TempDir(), "README.md")
	if err := os.WriteFile(name, []byte("# no markers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"-corpus", "/nonexistent", "-readme", name}, &bytes.Buffer{}, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), beginMarker) {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

func TestHostingKind(t *testing.T) {
	for _, tc := range []struct{ name, kind, lang string }{
		{"spam-phish-dhl-fee-de", "phish", "de"},
		{"ham-newsletter-sale-en-2", "newsletter", "en"},
		{"spam-kit-random-crypto-mixed", "kit", "mixed"},
		{"ham-cron", "cron", "?"},
	} {
		kind, lang := hostingKind(tc.name)
		if kind != tc.kind || lang != tc.lang {
			t.Errorf("hostingKind(%q) = %q, %q; want %q, %q", tc.name, kind, lang, tc.kind, tc.lang)
		}
	}
}
