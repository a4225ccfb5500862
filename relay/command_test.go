//go:build unix

package relay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spamrun/spamrun/relay"
	"github.com/spamrun/spamrun/spamruntest"
)

// fakeSendmail writes a script that records its argv (one per line), its
// stdin, its environment and working directory into dir, then runs body.
func fakeSendmail(t *testing.T, body string) (prog, dir string) {
	t.Helper()
	dir = t.TempDir()
	prog = filepath.Join(dir, "sendmail")
	script := "#!/bin/sh\n" +
		"dir=" + dir + "\n" +
		"for a in \"$0\" \"$@\"; do printf '%s\\n' \"$a\"; done > \"$dir/argv\"\n" +
		"env > \"$dir/env\"\n" +
		"pwd > \"$dir/cwd\"\n" +
		"cat > \"$dir/stdin\"\n" +
		body + "\n"
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return prog, dir
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCommandDelivers(t *testing.T) {
	prog, dir := fakeSendmail(t, "exit 0")
	c := &relay.Command{Argv: []string{prog, "-oi", "-X", "with space"}}
	// A recipient that looks like a sendmail option must stay an
	// address: it comes after "--".
	env := relay.Envelope{From: "shop@example.com", To: []string{"a@example.org", "-oQ/tmp", "zoë@example.org"}}
	if err := deliver(c, env, order); err != nil {
		t.Fatal(err)
	}
	argv := strings.Split(strings.TrimSuffix(readFile(t, filepath.Join(dir, "argv")), "\n"), "\n")
	want := []string{prog, "-oi", "-X", "with space", "-i", "-fshop@example.com", "--", "a@example.org", "-oQ/tmp", "zoë@example.org"}
	if !slices.Equal(argv, want) {
		t.Errorf("argv\n%q\nwant\n%q", argv, want)
	}
	if !slices.Equal(c.CommandLine(env), want) {
		t.Errorf("CommandLine = %q, want %q", c.CommandLine(env), want)
	}
	// The MTA gets the bytes as they are: no dot-stuffing, no CRLF games.
	if got := readFile(t, filepath.Join(dir, "stdin")); got != order {
		t.Errorf("stdin\n%q\nwant\n%q", got, order)
	}
	if cwd := strings.TrimSpace(readFile(t, filepath.Join(dir, "cwd"))); cwd != "/" {
		t.Errorf("ran in %q, want /", cwd)
	}
	environ := readFile(t, filepath.Join(dir, "env"))
	if !strings.Contains(environ, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n") {
		t.Errorf("no fixed PATH in\n%s", environ)
	}
	t.Setenv("SPAMRUN_LEAK_CHECK", "leaked")
	if err := deliver(c, env, order); err != nil {
		t.Fatal(err)
	}
	if environ := readFile(t, filepath.Join(dir, "env")); strings.Contains(environ, "SPAMRUN_LEAK_CHECK") {
		t.Errorf("the caller's environment reached the command:\n%s", environ)
	}
}

func TestCommandNullSender(t *testing.T) {
	prog, dir := fakeSendmail(t, "exit 0")
	env := relay.Envelope{From: "", To: []string{"shop@example.com"}}
	if err := deliver(&relay.Command{Argv: []string{prog}}, env, order); err != nil {
		t.Fatal(err)
	}
	argv := strings.Fields(readFile(t, filepath.Join(dir, "argv")))
	if !slices.Contains(argv, "-f<>") {
		t.Errorf("argv %q lacks -f<>", argv)
	}
}

func TestCommandExitStatus(t *testing.T) {
	for _, tc := range []struct {
		status    int
		temporary bool
		enhanced  string
	}{
		{75, true, "4.3.0"},  // EX_TEMPFAIL
		{71, true, "4.3.0"},  // EX_OSERR
		{1, false, "5.3.0"},  // not a sysexits code
		{67, false, "5.1.1"}, // EX_NOUSER
		{69, false, "5.3.0"}, // EX_UNAVAILABLE
		{78, false, "5.3.5"}, // EX_CONFIG
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			prog, _ := fakeSendmail(t, "echo 'sendmail: warning: something first' >&2\n"+
				"echo 'sendmail: fatal: status "+strconv.Itoa(tc.status)+"' >&2\n"+
				"exit "+strconv.Itoa(tc.status))
			err := deliver(&relay.Command{Argv: []string{prog}}, envelope("a@example.org"), order)
			var e *relay.Error
			if tc.temporary {
				e = wantTemporary(t, err)
			} else {
				e = wantPermanent(t, err)
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != tc.status {
				t.Errorf("got %v, want exit status %d inside", err, tc.status)
			}
			if e.Enhanced != tc.enhanced || e.Code != 0 {
				t.Errorf("Code %d, Enhanced %q; want 0, %q", e.Code, e.Enhanced, tc.enhanced)
			}
			wantTail := "sendmail: warning: something first\nsendmail: fatal: status " + strconv.Itoa(tc.status)
			if e.Message != wantTail {
				t.Errorf("Message %q, want the stderr tail %q", e.Message, wantTail)
			}
			wantText := "relay: command " + prog + ": exit status " + strconv.Itoa(tc.status) +
				": sendmail: warning: something first / sendmail: fatal: status " + strconv.Itoa(tc.status)
			if err.Error() != wantText {
				t.Errorf("error %q\nwant  %q", err, wantText)
			}
		})
	}
}

func TestCommandStderrTailIsBounded(t *testing.T) {
	prog, _ := fakeSendmail(t, "i=0; while [ $i -lt 200 ]; do echo \"noise line $i\" >&2; i=$((i+1)); done\n"+
		"echo 'sendmail: fatal: the real reason' >&2; exit 1")
	e := wantPermanent(t, deliver(&relay.Command{Argv: []string{prog}}, envelope("a@example.org"), order))
	if !strings.HasSuffix(e.Message, "sendmail: fatal: the real reason") || !strings.HasPrefix(e.Message, "…") || len(e.Message) > 600 {
		t.Errorf("Message (%d bytes) = %q", len(e.Message), e.Message)
	}
}

func TestCommandTimeoutKillsTheGroup(t *testing.T) {
	// The script leaves a child behind, as sendmail leaves postdrop: the
	// timeout must take it too.
	prog, dir := fakeSendmail(t, "sleep 30 & echo $! > \""+"$dir/child\"\nwait")
	const timeout = 300 * time.Millisecond
	start := time.Now()
	err := deliver(&relay.Command{Argv: []string{prog}, Timeout: timeout}, envelope("a@example.org"), order)
	took := time.Since(start)
	if wantTemporary(t, err); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want a deadline error", err)
	}
	if took < timeout || took > timeout+3*time.Second {
		t.Errorf("took %v with a %v timeout", took, timeout)
	}
	pid, perr := strconv.Atoi(strings.TrimSpace(readFile(t, filepath.Join(dir, "child"))))
	if perr != nil {
		t.Fatal(perr)
	}
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if !alive(pid) {
			break
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL) //nolint:errcheck // cleaning up after the failure
			t.Fatalf("child %d outlived the timeout", pid)
		}
	}
}

// alive reports whether pid runs; a killed process whose new parent has
// not reaped it yet (a zombie) does not.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state follows the command name, which is in parentheses.
	_, after, ok := bytes.Cut(stat, []byte(") "))
	return !ok || len(after) == 0 || after[0] != 'Z'
}

func TestCommandCancel(t *testing.T) {
	prog, _ := fakeSendmail(t, "sleep 30")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err := (&relay.Command{Argv: []string{prog}}).Deliver(ctx, envelope("a@example.org"), strings.NewReader(order))
	if wantTemporary(t, err); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("cancel took %v", took)
	}
}

func TestCommandReadErrorDeliversNothing(t *testing.T) {
	// cat ends at end of input; if the command saw end of input after
	// the half message, it would go on to write "delivered".
	prog, dir := fakeSendmail(t, "echo delivered > \"$dir/delivered\"")
	broken := errors.New("spool file vanished")
	data := io.MultiReader(strings.NewReader("Subject: half\r\n\r\nthe first half\r\n"), failingReader{broken})
	err := (&relay.Command{Argv: []string{prog}}).Deliver(context.Background(), envelope("a@example.org"), data)
	if wantTemporary(t, err); !errors.Is(err, broken) {
		t.Errorf("got %v, want the read error", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "delivered")); err == nil {
		t.Error("the command saw the truncated message as complete")
	}
}

func TestCommandExitsWithoutReading(t *testing.T) {
	// A large message and a program that refuses at once: the broken
	// pipe must not hide the exit status.
	dir := t.TempDir()
	prog := filepath.Join(dir, "sendmail")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\necho 'sendmail: fatal: no' >&2\nexit 64\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	big := order + strings.Repeat("x", 4<<20)
	e := wantPermanent(t, deliver(&relay.Command{Argv: []string{prog}}, envelope("a@example.org"), big))
	if e.Message != "sendmail: fatal: no" {
		t.Errorf("Message %q", e.Message)
	}
}

func TestCommandNotRunnable(t *testing.T) {
	for _, argv := range [][]string{
		nil,
		{"no-such-sendmail-program"},
		{"relative/sendmail"},
	} {
		err := deliver(&relay.Command{Argv: argv}, envelope("a@example.org"), order)
		if wantTemporary(t, err); !errors.Is(err, relay.ErrBadConfig) {
			t.Errorf("%q: got %v, want ErrBadConfig", argv, err)
		}
	}
	// Present but not executable: a failure to start, also temporary.
	dir := t.TempDir()
	prog := filepath.Join(dir, "sendmail")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantTemporary(t, deliver(&relay.Command{Argv: []string{prog}}, envelope("a@example.org"), order))
}

func TestCommandBadEnvelopeRunsNothing(t *testing.T) {
	prog, dir := fakeSendmail(t, "exit 0")
	err := deliver(&relay.Command{Argv: []string{prog}}, relay.Envelope{From: "a@example.com\n", To: []string{"b@example.org"}}, order)
	if wantPermanent(t, err); !errors.Is(err, relay.ErrBadAddress) {
		t.Errorf("got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "argv")); err == nil {
		t.Error("the command ran for a bad envelope")
	}
}

func TestCommandBareName(t *testing.T) {
	path, err := exec.LookPath("true")
	if err != nil || !strings.HasPrefix(path, "/usr/bin/") && !strings.HasPrefix(path, "/bin/") {
		t.Skip("no true in /usr/bin or /bin")
	}
	if err := deliver(&relay.Command{Argv: []string{"true"}}, envelope("a@example.org"), order); err != nil {
		t.Errorf("true: %v", err)
	}
}

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"/usr/sbin/sendmail.postfix -i", []string{"/usr/sbin/sendmail.postfix", "-i"}},
		{"  sendmail\t-oi  ", []string{"sendmail", "-oi"}},
		{`/opt/mta/send 'a b' "c d" e\ f`, []string{"/opt/mta/send", "a b", "c d", "e f"}},
		{`/bin/x "say \"hi\" \$HOME" 'it''s' ""`, []string{"/bin/x", `say "hi" $HOME`, "its", ""}},
		{`/bin/x 'a|b;c' "<>" \&`, []string{"/bin/x", "a|b;c", "<>", "&"}},
	} {
		c, err := relay.ParseCommand(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if !slices.Equal(c.Argv, tc.want) || c.Timeout != 0 {
			t.Errorf("%s: Argv %q, want %q", tc.in, c.Argv, tc.want)
		}
	}
	for _, bad := range []string{
		"",
		"   ",
		"/usr/sbin/sendmail -i | tee /tmp/log",
		"/usr/sbin/sendmail -i; rm -rf /",
		"/usr/sbin/sendmail -f $SENDER",
		`/usr/sbin/sendmail "$(id)"`,
		"/usr/sbin/sendmail `id`",
		"/usr/sbin/sendmail > /tmp/x",
		"/usr/sbin/sendmail 'unclosed",
		`/usr/sbin/sendmail "unclosed`,
		`/usr/sbin/sendmail \`,
		"/usr/sbin/send\x00mail",
		"./sendmail -i",
		"bin/sendmail",
		"''",
	} {
		if c, err := relay.ParseCommand(bad); !errors.Is(err, relay.ErrBadConfig) || !strings.HasPrefix(err.Error(), "relay: ") {
			t.Errorf("%q: got %v, %v; want ErrBadConfig", bad, c, err)
		}
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"/usr/sbin/sendmail.postfix -i", `a 'b c' "d\"e" f\ g`, "x | y", `"`, `\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := relay.ParseCommand(s)
		if err != nil {
			return
		}
		if len(c.Argv) == 0 || c.Argv[0] == "" {
			t.Fatalf("%q: Argv %q has no program", s, c.Argv)
		}
		// Quoting each word back must give the same words: nothing was
		// lost or invented.
		var b bytes.Buffer
		for i, w := range c.Argv {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString("'" + strings.ReplaceAll(w, "'", `'\''`) + "'")
		}
		again, err := relay.ParseCommand(b.String())
		if err != nil || !slices.Equal(again.Argv, c.Argv) {
			t.Fatalf("%q: Argv %q, re-quoted %q gives %v, %v", s, c.Argv, b.String(), again, err)
		}
	})
}

// batchSendmail writes a script that keeps each run's argv and stdin as
// argv.N and stdin.N in dir, exits 67 (EX_NOUSER) when a recipient is
// gone@example.org and 75 (EX_TEMPFAIL) when one is busy@example.org.
func batchSendmail(t *testing.T) (prog, dir string) {
	return fakeSendmail(t, `n=$(($(cat "$dir/runs" 2>/dev/null || echo 0) + 1))
echo $n > "$dir/runs"
mv "$dir/argv" "$dir/argv.$n"
mv "$dir/stdin" "$dir/stdin.$n"
for a in "$@"; do
	case "$a" in
	gone@example.org) echo "sendmail: gone@example.org: no such user" >&2; exit 67;;
	busy@example.org) echo "sendmail: queue file write error" >&2; exit 75;;
	esac
done`)
}

// runs returns the recipients of each run batchSendmail recorded, failing
// the test unless each run read data whole.
func runs(t *testing.T, dir, data string) [][]string {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(readFile(t, filepath.Join(dir, "runs"))))
	if err != nil {
		t.Fatal(err)
	}
	var batches [][]string
	for i := 1; i <= n; i++ {
		argv := strings.Split(strings.TrimSuffix(readFile(t, filepath.Join(dir, "argv."+strconv.Itoa(i))), "\n"), "\n")
		batches = append(batches, argv[slices.Index(argv, "--")+1:])
		if got := readFile(t, filepath.Join(dir, "stdin."+strconv.Itoa(i))); got != data {
			t.Errorf("run %d read %d bytes, want the message's %d", i, len(got), len(data))
		}
	}
	return batches
}

func TestCommandBatches(t *testing.T) {
	prog, dir := batchSendmail(t)
	to := spamruntest.Recipients(250)
	c := &relay.Command{Argv: []string{prog}}
	// A pipe cannot seek: the runs after the first get what it read.
	src := &countingReader{r: strings.NewReader(order)}
	if err := c.Deliver(t.Context(), envelope(to...), oneWay{src}); err != nil {
		t.Fatal(err)
	}
	if got := runs(t, dir, order); !slices.Equal(slices.Concat(got...), to) || len(got) != 3 || len(got[0]) != relay.DefaultMaxRecipients {
		t.Errorf("%d runs, the first with %d recipients; want 3 of at most %d, every recipient once", len(got), len(got[0]), relay.DefaultMaxRecipients)
	}
	if src.n != len(order) {
		t.Errorf("%d bytes read, want the message's %d once", src.n, len(order))
	}
}

func TestCommandBatchFails(t *testing.T) {
	to := []string{"a@example.org", "b@example.org", "gone@example.org", "c@example.org", "busy@example.org", "d@example.org", "e@example.org"}
	prog, dir := batchSendmail(t)
	c := &relay.Command{Argv: []string{prog}, MaxRecipients: 2}
	err := deliver(c, envelope(to...), order)
	// Runs: {a b} delivered; {gone c} refused for good, and the next
	// goes on; {busy d} deferred, and {e} waits with it.
	e := wantTemporary(t, err)
	var got []string
	for _, rf := range e.Rcpts {
		got = append(got, fmt.Sprintf("%s %s %v", rf.Rcpt, rf.Enhanced, rf.Temporary()))
	}
	want := []string{
		"gone@example.org 5.1.1 false", "c@example.org 5.1.1 false",
		"busy@example.org 4.3.0 true", "d@example.org 4.3.0 true", "e@example.org 4.3.0 true",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Rcpts\n%q\nwant\n%q", got, want)
	}
	if !strings.Contains(e.Rcpts[0].Message, "no such user") {
		t.Errorf("the refusal %v lacks the program's words", e.Rcpts[0])
	}
	if got := runs(t, dir, order); !slices.Equal(slices.Concat(got...), to[:6]) {
		t.Errorf("runs %q, want three of two, none after the temporary failure", got)
	}

	// One run's failure, when it is the only run, is the whole answer.
	e = wantPermanent(t, deliver(c, envelope("gone@example.org"), order))
	if e.Enhanced != "5.1.1" || e.Rcpts != nil {
		t.Errorf("got %v with Rcpts %v, want 5.1.1 alone", e, e.Rcpts)
	}
}
