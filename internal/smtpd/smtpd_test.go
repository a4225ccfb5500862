package smtpd_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun/config"
	"github.com/spamrun/spamrun/internal/host"
	"github.com/spamrun/spamrun/internal/smtpd"
	"github.com/spamrun/spamrun/internal/syncbuf"
	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

// listener is a Server of its own on loopback and a Unix socket, relaying
// to an SMTP sink, with the state in memory.
type listener struct {
	t    testing.TB
	h    *host.Host
	srv  *smtpd.Server
	tcp  string // host:port
	tcp6 string
	sock string
	sink *spamruntest.SMTPSink
	log  *syncbuf.Buffer
}

// startListener starts a listener whose spamrun.toml is the defaults, the
// directories, the sink and extra, with the state in memory unless extra
// has a [store] table.
func startListener(t testing.TB, extra string) *listener {
	t.Helper()
	dir := t.TempDir()
	sink := spamruntest.NewSMTPSink(t)
	store := "[store]\nkind = \"memory\""
	if strings.Contains(extra, "[store]") {
		store = ""
	}
	file := fmt.Sprintf(`state_dir = %q
spool_dir = %q
hostname = "web1.example.net"
article_url = "https://help.example.net/spam-run"
syslog = false
[relay]
smtp = %q
starttls = "off"
%s
[smtpd]
listen = ["127.0.0.1:%d", "[::1]:%d"]
socket = %q
`, filepath.Join(dir, "state"), filepath.Join(dir, "spool"), sink.Addr(), store, freePort(t), freePort(t), filepath.Join(sharedDir(t), "smtp.sock"))
	cfg, err := config.Parse("spamrun.toml", []byte(mergeTables(file, extra)))
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{t: t, sink: sink, log: new(syncbuf.Buffer), sock: cfg.SMTPD.Socket}
	logf := func(format string, args ...any) { fmt.Fprintf(l.log, format+"\n", args...) }
	if l.h, err = host.Open(cfg, &host.Options{Logf: logf}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.h.Close() })
	l.srv = smtpd.New(l.h, &smtpd.Options{Logf: logf})
	ls, err := l.srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	l.tcp, l.tcp6 = ls[0].Addr().String(), ls[1].Addr().String()
	done := make(chan struct{})
	for _, ln := range ls {
		go func() {
			l.srv.Serve(ln)
			done <- struct{}{}
		}()
	}
	t.Cleanup(func() {
		l.srv.Close()
		for range ls {
			<-done
		}
		if t.Failed() {
			t.Logf("listener log:\n%s", l.log)
		}
	})
	return l
}

// mergeTables appends extra to file, moving the keys of a table both have
// into file's table, since TOML takes each table once.
func mergeTables(file, extra string) string {
	table := ""
	var top []string
	for line := range strings.Lines(extra) {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "[") {
			table = trimmed
			if !strings.Contains(file, table+"\n") {
				file += "\n" + table + "\n"
			}
			continue
		}
		if trimmed == "" {
			continue
		}
		if table == "" {
			top = append(top, line)
			continue
		}
		i := strings.Index(file, table+"\n") + len(table) + 1
		file = file[:i] + strings.TrimRight(line, "\n") + "\n" + file[i:]
	}
	return strings.Join(top, "") + file
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// entries returns what the spool holds, by ID.
func (l *listener) entries() []*spool.Entry {
	l.t.Helper()
	es, err := l.h.Spool.List()
	if err != nil {
		l.t.Fatal(err)
	}
	return es
}

// conn is a raw SMTP client on the listener, for the tests that need to
// write what no client library writes.
type conn struct {
	t testing.TB
	c net.Conn
	r *textproto.Reader
	w *bufio.Writer
}

func dialRaw(t testing.TB, network, addr string) *conn {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &conn{t: t, c: c, r: textproto.NewReader(bufio.NewReader(c)), w: bufio.NewWriter(c)}
}

// reply reads one reply, all its lines.
func (c *conn) reply() (int, string) {
	c.t.Helper()
	code, msg, err := c.r.ReadResponse(0)
	if err != nil && code == 0 {
		c.t.Fatalf("reading a reply: %v", err)
	}
	return code, msg
}

// send writes raw bytes.
func (c *conn) send(s string) {
	c.t.Helper()
	if _, err := c.w.WriteString(s); err != nil {
		c.t.Fatal(err)
	}
	if err := c.w.Flush(); err != nil {
		c.t.Fatal(err)
	}
}

// cmd sends one command and returns its reply.
func (c *conn) cmd(line string) (int, string) {
	c.t.Helper()
	c.send(line + "\r\n")
	return c.reply()
}

// expect sends a command and fails the test unless the reply has code.
func (c *conn) expect(line string, code int) string {
	c.t.Helper()
	got, msg := c.cmd(line)
	if got != code {
		c.t.Fatalf("%.60q: %d %s, want %d", line, got, msg, code)
	}
	return msg
}

// hello reads the greeting and says EHLO.
func (c *conn) hello() string {
	c.t.Helper()
	code, greeting := c.reply()
	if code != 220 {
		c.t.Fatalf("greeting %d %s", code, greeting)
	}
	c.expect("EHLO client.example", 250)
	return greeting
}

// message sends DATA and a message, CRLF and dot-stuffed, and returns the
// reply to its end.
func (c *conn) message(data []byte) (int, string) {
	c.t.Helper()
	c.expect("DATA", 354)
	text := strings.ReplaceAll(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n", "\r\n")
	if !strings.HasSuffix(text, "\r\n") {
		text += "\r\n"
	}
	text = strings.ReplaceAll(text, "\r\n.", "\r\n..")
	if strings.HasPrefix(text, ".") {
		text = "." + text
	}
	c.send(text + ".\r\n")
	return c.reply()
}

// sharedDir returns a directory every user may read, removed when the
// test ends: t.TempDir's parent is closed to other users.
func sharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "smtpd-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// swaks runs swaks as u, with args, and returns its transcript and exit
// status.
func swaks(t *testing.T, u spamruntest.SiteUser, args ...string) (string, int) {
	t.Helper()
	spamruntest.NeedCommand(t, "swaks", "swaks")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := u.Command(ctx, nil, "swaks", append([]string{"--timeout", "20"}, args...)...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("swaks: %v", err)
	}
	return string(out), code
}
