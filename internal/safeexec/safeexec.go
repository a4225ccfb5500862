// Package safeexec runs a program named in spamrun's configuration from a
// process that may carry a website's environment, so that nothing of that
// environment can choose what runs or how.
//
// A command line is split into words with a shell's quoting, but no shell
// ever runs it: the program is executed directly, so nothing is expanded,
// globbed, piped or redirected. The program is an absolute path, or a bare
// name looked up in the fixed PATH of [Path], never a path relative to the
// caller's working directory. It runs in "/" with only the environment it
// is given, in a process group of its own that is killed whole when its
// context ends.
//
// Errors are bare descriptions, without a package prefix: the package that
// read the command from its configuration says where it came from.
package safeexec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Path is the only PATH a program is looked up in and runs with. It is
// fixed because the caller may run with a website's environment, whose
// PATH could lead to the site's own script of the same name.
const Path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// waitDelay bounds the wait for a child that left the process group and
// still holds stdout or stderr open.
const waitDelay = time.Second

// Parse splits line into words as a POSIX shell would for a simple command
// without expansions, and checks that the first word names a program that
// may run: an absolute path or a bare name.
//
// Blanks separate words; a backslash keeps the next character; single
// quotes keep everything up to the next single quote; double quotes keep
// everything up to the next unescaped double quote, inside which a
// backslash escapes only '"', '\', '$' and '`'. Shell operators and
// expansions (| & ; < > ( ) $ ` outside quotes, $ ` inside double quotes)
// are refused rather than taken literally, because whoever wrote them
// expected a shell to act on them; so are a NUL byte, which no argument
// can hold, and a line without words.
func Parse(line string) ([]string, error) {
	words, err := split(line)
	if err != nil {
		return nil, err
	}
	if err := checkProgram(words[0]); err != nil {
		return nil, err
	}
	return words, nil
}

// split is Parse without the program check.
func split(s string) ([]string, error) {
	var (
		words  []string
		word   strings.Builder
		inWord bool
	)
	if i := strings.IndexByte(s, 0); i >= 0 {
		return nil, fmt.Errorf("NUL byte at byte %d of %q", i, s)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\r':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
			continue
		case '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("%q ends in a backslash", s)
			}
			i++
			word.WriteByte(s[i])
		case '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated single quote at byte %d of %q", i, s)
			}
			word.WriteString(s[i+1 : i+1+end])
			i += 1 + end
		case '"':
			start := i
			for i++; i < len(s) && s[i] != '"'; i++ {
				switch {
				case s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0:
					i++
				case s[i] == '$' || s[i] == '`':
					return nil, fmt.Errorf("shell expansion %q at byte %d of %q: the command runs without a shell; escape it with a backslash", s[i], i, s)
				}
				word.WriteByte(s[i])
			}
			if i == len(s) {
				return nil, fmt.Errorf("unterminated double quote at byte %d of %q", start, s)
			}
		case '|', '&', ';', '<', '>', '(', ')', '$', '`':
			return nil, fmt.Errorf("shell syntax %q at byte %d of %q: the command runs without a shell; quote the character or wrap the command in a script", c, i, s)
		default:
			word.WriteByte(c)
		}
		inWord = true
	}
	if inWord {
		words = append(words, word.String())
	}
	if len(words) == 0 {
		return nil, errors.New("empty command")
	}
	return words, nil
}

// checkProgram refuses a program that is no program, and one given as a
// relative path, which would resolve against the caller's working
// directory: a website's.
func checkProgram(prog string) error {
	switch {
	case prog == "":
		return errors.New("no program name")
	case strings.ContainsRune(prog, '/') && !filepath.IsAbs(prog):
		return fmt.Errorf("program %q is a relative path; give an absolute path or a bare name", prog)
	}
	return nil
}

// lookProgram checks prog and finds a bare name in Path.
func lookProgram(prog string) (string, error) {
	if err := checkProgram(prog); err != nil {
		return "", err
	}
	if strings.ContainsRune(prog, '/') {
		return prog, nil
	}
	for _, dir := range filepath.SplitList(Path) {
		path := filepath.Join(dir, prog)
		if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return path, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH=%s", prog, Path)
}

// Command returns the command that runs argv[0], checked and looked up as
// Parse and Path describe, with the arguments argv[1:]. It runs in "/"
// with PATH=Path and env as its whole environment, in a process group of
// its own on Unix; when ctx ends the whole group is killed, so helpers the
// program started cannot finish work that was reported as failed or hold
// its output open, and Wait gives up on them after a second. The error is
// that of a program that may not run or is not found; nothing has started.
func Command(ctx context.Context, argv []string, env ...string) (*exec.Cmd, error) {
	if len(argv) == 0 {
		return nil, errors.New("no program name")
	}
	prog, err := lookProgram(argv[0])
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, prog, argv[1:]...)
	cmd.Dir = "/"
	cmd.Env = append([]string{"PATH=" + Path}, env...)
	cmd.WaitDelay = waitDelay
	killGroupOnCancel(cmd)
	return cmd, nil
}

// TailSize is how many bytes of a program's output a Tail keeps.
const TailSize = 512

// Tail is an io.Writer that keeps the last TailSize bytes written to it,
// for a program's stderr: a program says why it failed at the end, and a
// chatty one must not fill memory. It is safe for concurrent use.
type Tail struct {
	mu        sync.Mutex
	b         []byte
	truncated bool
}

// Write keeps the end of what has been written so far. It never fails.
func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - TailSize; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
		t.truncated = true
	}
	return len(p), nil
}

// String returns the tail as valid UTF-8 without surrounding blanks,
// starting with "…" when earlier output was dropped; "" when nothing but
// blanks was written.
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(strings.ToValidUTF8(string(t.b), "\uFFFD"))
	if s != "" && t.truncated {
		s = "…" + s
	}
	return s
}
