package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
	"github.com/spamrun/spamrun/sqlitestore"
)

// sendmailBin is the binary built from this package for the tests that
// drive it as clients do; go run would hide its exit status.
var sendmailBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "spamrun-sendmail-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sendmailBin = filepath.Join(dir, "sendmail")
	build := exec.Command("go", "build", "-o", sendmailBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building sendmail:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testEnv is one installation: a configuration, a state directory, a
// spool, and an SMTP sink as the relay.
type testEnv struct {
	t      *testing.T
	dir    string
	config string
	sink   *spamruntest.SMTPSink
	spool  string
}

const (
	testHost    = "web1.example.net"
	testArticle = "https://support.example.net/spam-run"
)

// newEnv writes a configuration whose relay is a fresh sink; extra goes
// after its top-level keys (more keys, then tables of their own). The tests run as one user,
// which the configuration names site "shop1".
func newEnv(t *testing.T, extra string, sinkOpts ...spamruntest.SinkOption) *testEnv {
	t.Helper()
	e := &testEnv{t: t, dir: t.TempDir(), sink: spamruntest.NewSMTPSink(t, sinkOpts...)}
	e.spool = filepath.Join(e.dir, "spool")
	e.config = filepath.Join(e.dir, "spamrun.toml")
	cfg := fmt.Sprintf(`state_dir = %q
spool_dir = %q
hostname = %q
article_url = %q
syslog = false
%s
[relay]
smtp = %q
starttls = "off"
timeout = "5s"

[sites.shop1]
uid = %d
domains = ["shop1.example"]
`, filepath.Join(e.dir, "state"), e.spool, testHost, testArticle, extra, e.sink.Addr(), os.Getuid())
	if err := os.WriteFile(e.config, []byte(cfg), 0o640); err != nil {
		t.Fatal(err)
	}
	return e
}

// setRelay points the configuration at another relay address.
func (e *testEnv) setRelay(addr string) {
	e.t.Helper()
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		e.t.Fatal(err)
	}
	lines := strings.Split(string(cfg), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "smtp = ") {
			lines[i] = fmt.Sprintf("smtp = %q", addr)
		}
	}
	if err := os.WriteFile(e.config, []byte(strings.Join(lines, "\n")), 0o640); err != nil {
		e.t.Fatal(err)
	}
}

// result is what one sendmail run did.
type result struct {
	code           int
	stdout, stderr string
}

// run runs the binary with args and stdin, as PHP runs sendmail_path.
func (e *testEnv) run(stdin string, args ...string) result {
	e.t.Helper()
	return e.runCmd(exec.Command(sendmailBin, args...), stdin)
}

func (e *testEnv) runCmd(cmd *exec.Cmd, stdin string) result {
	e.t.Helper()
	cmd.Env = append(os.Environ(), "SPAMRUN_CONFIG="+e.config)
	return runCaptured(e.t, cmd, stdin)
}

// queue returns what the spool's queue holds.
func (e *testEnv) queue() []*spool.Entry { return e.spoolList((*spool.Spool).List) }

// quarantine returns what the spool's quarantine holds.
func (e *testEnv) quarantine() []*spool.Entry { return e.spoolList((*spool.Spool).Quarantine) }

func (e *testEnv) spoolList(list func(*spool.Spool) ([]*spool.Entry, error)) []*spool.Entry {
	e.t.Helper()
	s, err := spool.Open(e.spool)
	if err != nil {
		e.t.Fatal(err)
	}
	entries, err := list(s)
	if err != nil {
		e.t.Fatal(err)
	}
	return entries
}

// checkDSNs checks that msgs are all DSNs of a spam run from the null
// sender to to, and returns how many there are.
func checkDSNs(t *testing.T, msgs []spamruntest.SinkMessage, to string) int {
	t.Helper()
	for _, m := range msgs {
		if m.From != "" || len(m.To) != 1 || m.To[0] != to || !bytes.Contains(m.Data, []byte("Status: 5.7.1")) || !bytes.Contains(m.Data, []byte(testArticle)) {
			t.Errorf("not a DSN of a spam run to <%s>: from <%s> to %v\n%s", to, m.From, m.To, m.Data)
		}
	}
	return len(msgs)
}

// header returns the header section of a relayed message.
func header(data []byte) string {
	if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
		return string(data[:i+2])
	}
	return string(data)
}

const hamMessage = "To: customer@example.org\n" +
	"Subject: Your order 1001 at Shop One\n" +
	"From: Shop One <orders@shop1.example>\n" +
	"\n" +
	"Thank you for your order. We will ship it tomorrow.\n"

func TestSendmailRelaysHam(t *testing.T) {
	e := newEnv(t, "")
	r := e.run(hamMessage, "-t", "-i", "-forders@shop1.example")
	if r.code != 0 || r.stderr != "" || r.stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	msgs := e.sink.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages relayed", len(msgs))
	}
	m := msgs[0]
	if m.From != "orders@shop1.example" || len(m.To) != 1 || m.To[0] != "customer@example.org" {
		t.Errorf("envelope %q → %q", m.From, m.To)
	}
	h := header(m.Data)
	for _, want := range []string{"Received: by " + testHost + " (spamrun, from userid ", "Subject: Your order 1001 at Shop One\r\n", "Message-ID: <", "@" + testHost + ">\r\n", "Date: "} {
		if !strings.Contains(h, want) {
			t.Errorf("header lacks %q:\n%s", want, h)
		}
	}
	if !bytes.HasSuffix(m.Data, []byte("\r\n\r\nThank you for your order. We will ship it tomorrow.\r\n")) {
		t.Errorf("body: %q", m.Data)
	}
	if q := e.queue(); len(q) != 0 {
		t.Errorf("relayed message left in the queue: %+v", q[0])
	}
}

// TestSendmailExitCodes is the table of what a caller sees.
func TestSendmailExitCodes(t *testing.T) {
	spam := string(spamruntest.GuestbookSpam("shop1.example", 3))
	tests := []struct {
		name      string
		extra     string
		args      []string
		stdin     string
		code      int
		stderr    string // a substring; "" means stderr must be empty
		relayed   int
		queued    int
		relayDown bool
	}{
		{name: "accepted and relayed", args: []string{"-t", "-i"}, stdin: hamMessage, code: 0, relayed: 1},
		{name: "recipients on the command line", args: []string{"-i", "--", "a@example.org", "b@example.net"}, stdin: hamMessage, code: 0, relayed: 1},
		{name: "bad -f", args: []string{"-t", "-i", "-fa@b.example\r\nBcc: x@example.org"}, stdin: hamMessage, code: 64, stderr: "bad sender address"},
		{name: "unknown option", args: []string{"-t", "-z"}, stdin: hamMessage, code: 64, stderr: "unknown option -z"},
		{name: "unknown -b mode", args: []string{"-bz"}, code: 64, stderr: "unsupported mode"},
		{name: "-bs with recipients", args: []string{"-bs", "a@example.org"}, code: 64, stderr: "-bs takes no recipients"},
		{name: "no recipients at all", args: []string{"-i"}, stdin: hamMessage, code: 64, stderr: "no recipients"},
		{name: "-t but none in the header", args: []string{"-t", "-i"}, stdin: "Subject: x\n\nbody\n", code: 64, stderr: "no recipient addresses"},
		{name: "oversize", extra: "max_message_size = 2000", args: []string{"-t", "-i"}, stdin: hamMessage + strings.Repeat("x", 3000) + "\n", code: 65, stderr: "larger than the limit of 2000 bytes"},
		{name: "spam is held, not relayed", args: []string{"-t", "-i"}, stdin: spam, code: 0, queued: 1},
		{name: "relay down: queued, exit 0", args: []string{"-t", "-i"}, stdin: hamMessage, code: 0, queued: 1, relayDown: true},
		{name: "an external filter that is down costs nothing", extra: "[scorer]\nkind = \"spamassassin\"\naddress = \"127.0.0.1:1\"\ntimeout = \"1s\"\n", args: []string{"-t", "-i"}, stdin: hamMessage, code: 0, relayed: 1},
		{name: "ignored options of cron and PHP", args: []string{"-FCronDaemon", "-i", "-B8BITMIME", "-oem", "-odi", "-t"}, stdin: hamMessage, code: 0, relayed: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.extra)
			if tt.relayDown {
				e.setRelay(spamruntest.FreeAddr(t))
			}
			r := e.run(tt.stdin, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", r.code, tt.code, r.stderr)
			}
			if tt.stderr == "" && r.stderr != "" || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stderr %q, want %q", r.stderr, tt.stderr)
			}
			if n := len(e.sink.Messages()); n != tt.relayed {
				t.Errorf("%d relayed, want %d", n, tt.relayed)
			}
			if tt.code == 0 || tt.code == 65 || tt.code == 64 {
				if n := len(e.queue()); n != tt.queued {
					t.Errorf("%d in the queue, want %d", n, tt.queued)
				}
			}
		})
	}
}

// TestSendmailDisabledSite: a spam run trips the site at MaxSpam+1; from
// then on every message is refused with 69 and one line naming the
// article, and nothing of the run reached the relay.
func TestSendmailDisabledSite(t *testing.T) {
	e := newEnv(t, "[policy]\nmax_spam = 3\nwindow = \"1h\"\nhold_for = \"15m\"\n")
	for i := range 3 {
		r := e.run(string(spamruntest.GuestbookSpam("shop1.example", i)), "-t", "-i", "-fnoreply@shop1.example")
		if r.code != 0 {
			t.Fatalf("spam %d: exit %d: %s", i, r.code, r.stderr)
		}
	}
	r := e.run(string(spamruntest.GuestbookSpam("shop1.example", 3)), "-t", "-i", "-fnoreply@shop1.example")
	if r.code != 69 {
		t.Fatalf("tripping message: exit %d, stderr %q", r.code, r.stderr)
	}
	// Refused from now on, an order confirmation too.
	r = e.run(hamMessage, "-t", "-i")
	if r.code != 69 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, testArticle) || !strings.Contains(r.stderr, `"shop1"`) {
		t.Errorf("after the trip: exit %d, stderr %q", r.code, r.stderr)
	}
	if n := len(e.sink.Messages()); n != 0 {
		t.Errorf("%d messages reached the relay", n)
	}
	// The tripping sendmail bounced the 3 held at once: their originals in
	// quarantine, a DSN for each in the queue.
	q := e.quarantine()
	if len(q) != 3 {
		t.Fatalf("%d messages in quarantine, want the 3 held", len(q))
	}
	for _, m := range q {
		if m.State != spool.Bounced || !m.Spam || m.Site != "shop1" || m.Evidence.Script != "1008:guestbook.php" || m.DSN == "" || m.Incident == "" {
			t.Errorf("in quarantine: %+v", m)
		}
	}
	dsns := e.queue()
	for _, d := range dsns {
		if d.Kind != spool.KindDSN || d.Sender != "" {
			t.Errorf("queued: %+v", d)
		}
	}
	if len(dsns) != 3 {
		t.Errorf("%d DSNs queued, want 3", len(dsns))
	}
	// A queue pass sends the DSNs and nothing of the run.
	if r := e.run("", "-q"); r.code != 0 {
		t.Errorf("-q: exit %d %q", r.code, r.stderr)
	}
	if n := checkDSNs(t, e.sink.Messages(), "noreply@shop1.example"); n != 3 {
		t.Errorf("-q relayed %d DSNs, want 3", n)
	}
	if q := e.queue(); len(q) != 0 {
		t.Errorf("left in the queue: %v", q)
	}
}

// TestSendmailQueuePass: a message queued while the relay was down goes
// out with the next -q once it is back, exactly once.
func TestSendmailQueuePass(t *testing.T) {
	e := newEnv(t, "")
	e.setRelay(spamruntest.FreeAddr(t))
	if r := e.run(hamMessage, "-t", "-i"); r.code != 0 {
		t.Fatalf("exit %d %q", r.code, r.stderr)
	}
	q := e.queue()
	if len(q) != 1 || q[0].Attempts != 1 || q[0].LastError == "" {
		t.Fatalf("queue after a failed relay: %+v", q)
	}
	// The relay comes back; the retry is not due yet.
	e.setRelay(e.sink.Addr())
	sink := e.sink
	if r := e.run("", "-q"); r.code != 0 {
		t.Fatalf("-q: exit %d %q", r.code, r.stderr)
	}
	if n := len(sink.Messages()); n != 0 {
		t.Fatalf("relayed %d before the retry was due", n)
	}
	// Make it due, as a minute passing would.
	s, _ := spool.Open(e.spool)
	q[0].NextAttempt = time.Time{}
	if err := s.Update(q[0]); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if r := e.run("", "-q"); r.code != 0 {
			t.Fatalf("-q: exit %d %q", r.code, r.stderr)
		}
	}
	if n := len(sink.Messages()); n != 1 {
		t.Errorf("relayed %d times, want exactly once", n)
	}
	if len(e.queue()) != 0 {
		t.Error("relayed message still queued")
	}
}

func TestSendmailMailq(t *testing.T) {
	e := newEnv(t, "")
	if r := e.run("", "-bp"); r.code != 0 || r.stdout != "Mail queue is empty\n" {
		t.Fatalf("empty queue: %d %q", r.code, r.stdout)
	}
	e.run(string(spamruntest.GuestbookSpam("shop1.example", 1)), "-t", "-i", "-fnoreply@shop1.example")
	mailq := filepath.Join(t.TempDir(), "mailq")
	if err := os.Symlink(sendmailBin, mailq); err != nil {
		t.Fatal(err)
	}
	r := e.runCmd(exec.Command(mailq), "")
	if r.code != 0 || !strings.Contains(r.stdout, "noreply@shop1.example") || !strings.Contains(r.stdout, "held until") || !strings.Contains(r.stdout, "in 1 Request.") {
		t.Errorf("mailq: %d\n%s", r.code, r.stdout)
	}
}

// TestSendmailEvidenceSkipsShells: PHP and cron start sendmail through
// "sh -c"; the evidence names the process above the shell, here the test
// binary, and its working directory.
func TestSendmailEvidenceSkipsShells(t *testing.T) {
	e := newEnv(t, "")
	e.setRelay(spamruntest.FreeAddr(t))
	cmd := exec.Command("sh", "-c", sendmailBin+" -t -i")
	cmd.Dir = t.TempDir() // the shell's, which the evidence must not report
	if r := e.runCmd(cmd, hamMessage); r.code != 0 {
		t.Fatalf("exit %d %q", r.code, r.stderr)
	}
	q := e.queue()
	if len(q) != 1 {
		t.Fatalf("%d queued", len(q))
	}
	wd, _ := os.Getwd()
	ev := q[0].Evidence
	if len(ev.Command) == 0 || ev.Command[0] != os.Args[0] || ev.Cwd != wd {
		t.Errorf("evidence %+v; want command %q in %q", ev, os.Args[0], wd)
	}
}

// setKey rewrites a top-level "key = value" line of the configuration.
func (e *testEnv) setKey(key, value string) {
	e.t.Helper()
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		e.t.Fatal(err)
	}
	lines := strings.Split(string(cfg), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, key+" = ") {
			lines[i] = fmt.Sprintf("%s = %q", key, value)
		}
	}
	if err := os.WriteFile(e.config, []byte(strings.Join(lines, "\n")), 0o640); err != nil {
		e.t.Fatal(err)
	}
}

// TestSendmailStateDownThenDecided: while the state store cannot be opened,
// mail is accepted undecided and nothing is relayed; once it can, the queue
// pass decides in order of arrival, the run trips the site on its third
// spam message, and neither that message nor any later one is relayed.
func TestSendmailStateDownThenDecided(t *testing.T) {
	e := newEnv(t, "[policy]\nmax_spam = 2\nwindow = \"1h\"\nhold_for = \"0s\"\n")
	blocker := filepath.Join(e.dir, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(e.dir, "state")
	e.setKey("state_dir", filepath.Join(blocker, "state"))
	if r := e.run(hamMessage, "-t", "-i"); r.code != 0 {
		t.Fatalf("ham while the state is down: exit %d %q", r.code, r.stderr)
	}
	for i := range 4 {
		if r := e.run(string(spamruntest.GuestbookSpam("shop1.example", i)), "-t", "-i", "-fnoreply@shop1.example"); r.code != 0 {
			t.Fatalf("spam %d while the state is down: exit %d %q", i, r.code, r.stderr)
		}
	}
	for _, m := range e.queue() {
		if m.State != spool.Undecided {
			t.Errorf("%s: %s while the state is down", m.ID, m.State)
		}
	}
	if r := e.run("", "-q"); r.code != 75 || len(e.sink.Messages()) != 0 {
		t.Errorf("-q while the state is down: exit %d, %d relayed", r.code, len(e.sink.Messages()))
	}
	e.setKey("state_dir", good)
	if r := e.run("", "-q"); r.code != 0 {
		t.Fatalf("-q with the state back: exit %d %q", r.code, r.stderr)
	}
	// The ham and two spam go (hold is off); the third spam trips the site,
	// and it and the fourth are bounced in the same pass.
	msgs := e.sink.Messages()
	if len(msgs) != 5 {
		t.Fatalf("%d relayed, want 3 and 2 DSNs", len(msgs))
	}
	if n := checkDSNs(t, msgs[3:], "noreply@shop1.example"); n != 2 {
		t.Errorf("%d DSNs, want 2", n)
	}
	if q := e.queue(); len(q) != 0 {
		t.Errorf("%d left queued, want none", len(q))
	}
	if q := e.quarantine(); len(q) != 2 || q[0].State != spool.Bounced || q[1].State != spool.Bounced {
		t.Errorf("quarantine: %v, want the 2 of the disabled site bounced", q)
	}
	if r := e.run("", "-q"); r.code != 0 || len(e.sink.Messages()) != 5 {
		t.Errorf("a second pass relayed more: exit %d, %d relayed", r.code, len(e.sink.Messages()))
	}
	if r := e.run(hamMessage, "-t", "-i"); r.code != 69 {
		t.Errorf("the site is not disabled: exit %d", r.code)
	}
	// The pass recorded the scripts of what it decided: three spam of the
	// guestbook; the fourth was never decided, its site being disabled.
	st, err := sqlitestore.Open(filepath.Join(good, "state.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	scripts, err := st.Scripts(context.Background(), "shop1")
	if err != nil {
		t.Fatal(err)
	}
	var guestbook int64
	for _, s := range scripts {
		if s.Script == "1008:guestbook.php" {
			guestbook = s.Count
		}
	}
	if guestbook != 3 {
		t.Errorf("guestbook.php recorded %d times, want 3: %+v", guestbook, scripts)
	}
}
