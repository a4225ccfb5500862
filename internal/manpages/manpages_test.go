package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spamrun/spamrun/spamruntest"
)

// TestGeneratedFilesAreCurrent renders the pages and the completion from
// the sources and compares them with the committed files.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	files, err := render("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join("../..", f.path))
		if err != nil {
			t.Errorf("%v: run go run ./internal/manpages", err)
			continue
		}
		if !bytes.Equal(got, f.data) {
			t.Errorf("%s is not what its sources give: run go run ./internal/manpages", f.path)
		}
	}
}

// TestPagesHoldTheirSources checks that each page carries what it is made
// from: every command of the usage text, the sendmail options, every
// table of the configuration, and that man(1) renders each page without
// a warning.
func TestPagesHoldTheirSources(t *testing.T) {
	files, err := render("../..")
	if err != nil {
		t.Fatal(err)
	}
	pages := make(map[string]string)
	for _, f := range files {
		pages[filepath.Base(f.path)] = string(f.data)
	}
	for page, wants := range map[string][]string{
		"spamrun.8": {`\fBversion\fR`, `\fBegress apply [\-\-dry\-run]|remove|show\fR`, "the release this binary was built from",
			"SPAMRUN_CONFIG", ".SH FILES", `.BR spamrun\-sendmail (8),`},
		"spamrun-sendmail.8": {`sendmail \-bs`, "Usage follows Postfix", "Exit", ".SH FILES"},
		"spamrun.toml.5": {".SS Keys and defaults", "[relay]", "[sites.NAME]", "max_spam", "LoadDefault does all of this",
			".SH EXAMPLE"},
		"spamrun.bash-completion": {"complete -F _spamrun spamrun", `queue) words="list run release purge`, `egress) words="apply remove show`},
	} {
		for _, want := range wants {
			if !strings.Contains(pages[page], want) {
				t.Errorf("%s lacks %q", page, want)
			}
		}
	}
	man, err := exec.LookPath("man")
	if err != nil {
		spamruntest.Missing(t, "man (apt-get install man-db)")
	}
	for _, name := range []string{"spamrun.8", "spamrun-sendmail.8", "spamrun.toml.5"} {
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, []byte(pages[name]), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(man, "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", path)
		cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "MANWIDTH=80")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Errorf("man --warnings %s: %v\n%s", name, err, stderr.String())
		}
	}
}

func TestParseCommands(t *testing.T) {
	usage := "usage: x COMMAND\n\nCommands:\n  a [--json]   does a\n  b ID\n                the b\n                of it\n  help   this\n\nMore.\n"
	got, err := parseCommands(usage)
	if err != nil {
		t.Fatal(err)
	}
	want := []command{{"a [--json]", "does a"}, {"b ID", "the b of it"}, {"help", "this"}}
	if len(got) != len(want) {
		t.Fatalf("parseCommands = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("command %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestCompletionCompletes loads the generated completion into bash and
// completes a command, a subcommand and a flag.
func TestCompletionCompletes(t *testing.T) {
	bash := spamruntest.NeedCommand(t, "bash", "bash")
	files, err := render("../..")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "spamrun")
	for _, f := range files {
		if strings.HasSuffix(f.path, ".bash-completion") {
			if err := os.WriteFile(path, f.data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		words string // the command line, the last word being completed
		want  string
	}{
		{"spamrun ver", "version"},
		{"spamrun queue re", "release"},
		{"spamrun egress apply --dr", "--dry-run"},
		{"spamrun status --j", "--json"},
	} {
		script := `source "$1"; read -ra COMP_WORDS <<<"$2"; COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _spamrun; echo "${COMPREPLY[*]}"`
		out, err := exec.Command(bash, "-c", script, "bash", path, tc.words).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != tc.want {
			t.Errorf("completing %q: %v, got %q, want %q", tc.words, err, out, tc.want)
		}
	}
}
