package safeexec

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		line string
		want []string
	}{
		{"/usr/sbin/sendmail.postfix -i", []string{"/usr/sbin/sendmail.postfix", "-i"}},
		{"  panel\tsuspend \n {site}\r ", []string{"panel", "suspend", "{site}"}},
		{"panel --reason='spam run {incident}' -- {site}", []string{"panel", "--reason=spam run {incident}", "--", "{site}"}},
		{`/opt/mta/send 'a b' "c d" e\ f`, []string{"/opt/mta/send", "a b", "c d", "e f"}},
		// Inside double quotes a backslash escapes only " \ $ and `.
		{`panel "a \"b\" c\\d \$x \` + "`" + `y\n"`, []string{"panel", `a "b" c\d $x ` + "`" + `y\n`}},
		{`panel a\ b\'c \$HOME \|`, []string{"panel", "a b'c", "$HOME", "|"}},
		{`panel 'it'"'"'s' '' "" x`, []string{"panel", "it's", "", "", "x"}},
		{`/bin/x 'it''s'`, []string{"/bin/x", "its"}},
		{`panel 'no $(expansion) | here; \'`, []string{"panel", `no $(expansion) | here; \`}},
		{`/bin/x 'a|b;c' "<>" \& "(x)"`, []string{"/bin/x", "a|b;c", "<>", "&", "(x)"}},
		{"panel 'multi\nline'", []string{"panel", "multi\nline"}},
		{"ünïcödé 'ü'", []string{"ünïcödé", "ü"}},
	} {
		got, err := Parse(tt.line)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("Parse(%q) = %q, %v; want %q", tt.line, got, err, tt.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tt := range []struct{ line, want string }{
		{"", "empty command"},
		{" \t\r\n", "empty command"},
		{"panel 'abc", "unterminated single quote at byte 6 of"},
		{`panel "abc`, "unterminated double quote at byte 6 of"},
		{`panel "abc\"`, "unterminated double quote at byte 6 of"},
		{`panel abc\`, "ends in a backslash"},
		{`panel "a" \`, "ends in a backslash"},
		{"panel a\x00b", "NUL byte at byte 7"},
		// A NUL byte is refused inside quotes too: no argument can hold it.
		{"panel 'a\x00b'", "NUL byte at byte 8"},
		{"panel \"a\x00b\"", "NUL byte at byte 8"},
		{"panel && reload", "shell syntax '&' at byte 6 of"},
		{"panel > /tmp/log", "shell syntax '>'"},
		{"panel < /etc/passwd", "shell syntax '<'"},
		{"panel | logger", "shell syntax '|'"},
		{"panel; reload", "shell syntax ';'"},
		{"panel (x)", "shell syntax '('"},
		{"panel x)", "shell syntax ')'"},
		{"panel $(id)", "shell syntax '$'"},
		{"panel $HOME", "shell syntax '$'"},
		{"panel `id`", "shell syntax '`'"},
		{"panel a'b'&", "shell syntax '&'"},
		{`panel "$HOME"`, "shell expansion '$' at byte 7 of"},
		{"panel \"`id`\"", "shell expansion '`'"},
		{`panel "\\$HOME"`, "shell expansion '$'"},
		{"'' x", "no program name"},
		{`"" x`, "no program name"},
		{"bin/panel x", `program "bin/panel" is a relative path`},
		{"./panel", "relative path"},
		{"../bin/panel", "relative path"},
	} {
		got, err := Parse(tt.line)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %q, %v; want an error mentioning %q", tt.line, got, err, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"/usr/sbin/sendmail.postfix -i", `a 'b c' "d\"e" f\ g`, "x | y", `"`, `\`, `a "\$\x"`, "''"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := Parse(s)
		if err != nil {
			return
		}
		if len(words) == 0 || words[0] == "" {
			t.Fatalf("%q: words %q have no program", s, words)
		}
		var b strings.Builder
		for i, w := range words {
			if strings.IndexByte(w, 0) >= 0 {
				t.Fatalf("%q: word %q holds a NUL byte", s, w)
			}
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString("'" + strings.ReplaceAll(w, "'", `'\''`) + "'")
		}
		// Quoting each word back must give the same words: nothing was
		// lost or invented.
		again, err := Parse(b.String())
		if err != nil || !slices.Equal(again, words) {
			t.Fatalf("%q: words %q, re-quoted %q gives %q, %v", s, words, b.String(), again, err)
		}
	})
}

func TestCommandEnvironment(t *testing.T) {
	t.Setenv("SAFEEXEC_TEST_LEAK", "caller's secret")
	cmd, err := Command(context.Background(), []string{"sh", "-c", `pwd; env`}, "SPAMRUN_SITE=shop1")
	if err != nil {
		t.Skipf("no sh in %s: %v", Path, err)
	}
	if dir := filepath.Dir(cmd.Path); !slices.Contains(filepath.SplitList(Path), dir) {
		t.Errorf("sh found at %s, outside %s", cmd.Path, Path)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	if lines[0] != "/" {
		t.Errorf("ran in %q, want /", lines[0])
	}
	for _, want := range []string{"PATH=" + Path, "SPAMRUN_SITE=shop1"} {
		if !slices.Contains(lines, want) {
			t.Errorf("no %s in the environment:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "SAFEEXEC_TEST_LEAK") {
		t.Errorf("the caller's environment reached the command:\n%s", out.String())
	}
}

func TestCommandRefuses(t *testing.T) {
	dir := t.TempDir()
	const name = "safeexec-test-program"
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The caller's PATH leads to the program, but only Path counts.
	t.Setenv("PATH", dir+string(filepath.ListSeparator)+os.Getenv("PATH"))
	for _, tt := range []struct {
		argv []string
		want string
	}{
		{nil, "no program name"},
		{[]string{""}, "no program name"},
		{[]string{name}, name + " not found in PATH=" + Path},
		{[]string{"./" + name}, "relative path"},
		{[]string{"bin/sh", "-c", "true"}, "relative path"},
	} {
		cmd, err := Command(context.Background(), tt.argv)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Command(%q) = %v, %v; want an error mentioning %q", tt.argv, cmd, err, tt.want)
		}
	}
	// An absolute path is taken as it is.
	abs := filepath.Join(dir, name)
	if cmd, err := Command(context.Background(), []string{abs}); err != nil || cmd.Path != abs {
		t.Errorf("Command(%q) = %v, %v", abs, cmd, err)
	}
}

func TestTail(t *testing.T) {
	var empty Tail
	if _, err := empty.Write([]byte(" \n\t ")); err != nil {
		t.Fatal(err)
	}
	if s := empty.String(); s != "" {
		t.Errorf("blank stderr gives %q, want empty", s)
	}

	var short Tail
	short.Write([]byte("\nsendmail: fatal: "))
	short.Write([]byte("no \xffrecipients\n"))
	if s, want := short.String(), "sendmail: fatal: no \uFFFDrecipients"; s != want {
		t.Errorf("String() = %q, want %q", s, want)
	}

	var long Tail
	for i := range 300 {
		long.Write([]byte(strings.Repeat("x", i%7) + "noise\n"))
	}
	long.Write([]byte("the real reason\n"))
	s := long.String()
	if !strings.HasPrefix(s, "…") || !strings.HasSuffix(s, "the real reason") || len(s) > TailSize+len("…") {
		t.Errorf("String() (%d bytes) = %q", len(s), s)
	}

	// A tail that cuts a UTF-8 sequence in two stays valid UTF-8.
	var cut Tail
	cut.Write([]byte("é" + strings.Repeat("ü", TailSize/2)))
	if s := cut.String(); !utf8.ValidString(s) {
		t.Errorf("String() is not valid UTF-8: %q", s)
	}
}
