package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/spamrun/spamrun/internal/submit"
	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

// clubMail is the mailing a club sends its members, tagged seq.
func clubMail(seq string) string {
	return string(tagged(seq, []byte("From: Chess Club <news@shop1.example>\n"+
		"To: undisclosed-recipients:;\n"+
		"Subject: Tournament on Saturday\n"+
		"\n"+
		"Dear members, the tournament starts at ten.\n")))
}

// members returns n addresses of club members starting at from.
func members(from, n int) []string {
	var rcpts []string
	for i := from; i < from+n; i++ {
		rcpts = append(rcpts, fmt.Sprintf("member%04d@chess-club-members.example.org", i))
	}
	return rcpts
}

// TestSendmailLargeEnvelope is the message that used to stick: accepted
// while the relay was down, with a header past the 4 KiB a spool reader
// once held, it was never listed, relayed, bounced or expired, and every
// sendmail -q exited 75. Here a mailing to 200 members on the command
// line and one whose recipients are a single 4,000-character argument
// are listed by mailq and spamrun queue list, and relayed by one
// sendmail -q to every recipient exactly once.
func TestSendmailLargeEnvelope(t *testing.T) {
	e := newEnv(t, "")
	e.setRelay(spamruntest.FreeAddr(t))
	many := members(0, 200)
	r := e.run(clubMail("many"), append([]string{"-i", "-fnews@shop1.example", "--"}, many...)...)
	if r.code != 0 {
		t.Fatalf("200 recipients: exit %d %q", r.code, r.stderr)
	}
	var long []string
	arg := ""
	for i := 1000; len(arg) < 4000; i++ {
		long = append(long, members(i, 1)...)
		arg = strings.Join(long, ", ")
	}
	r = e.run(clubMail("long"), "-i", "-fnews@shop1.example", arg)
	if r.code != 0 {
		t.Fatalf("a %d-character recipient argument: exit %d %q", len(arg), r.code, r.stderr)
	}

	q := e.queue()
	if len(q) != 2 {
		t.Fatalf("queue holds %d messages, want 2", len(q))
	}
	for _, m := range q {
		if n := headerBytes(t, e.spool, m.ID); n <= 4096 {
			t.Errorf("%s: header of %d bytes, not past the old 4 KiB buffer", m.ID, n)
		}
	}
	mailq := e.run("", "-bp")
	if mailq.code != 0 || mailq.stderr != "" || !strings.Contains(mailq.stdout, "in 2 Requests.") {
		t.Errorf("mailq: exit %d %q\n%s", mailq.code, mailq.stderr, mailq.stdout)
	}
	for _, rcpt := range append(slices.Clone(many), long...) {
		if !strings.Contains(mailq.stdout, rcpt+"\n") {
			t.Errorf("mailq does not list %s", rcpt)
			break
		}
	}
	list := e.runCmd(exec.Command(spamrunBinary(t), "queue", "list", "--json"), "")
	var listed []*spool.Entry
	if err := json.Unmarshal([]byte(list.stdout), &listed); list.code != 0 || err != nil {
		t.Fatalf("spamrun queue list: exit %d %q, %v", list.code, list.stderr, err)
	}
	if len(listed) != 2 || len(listed[0].Recipients) != len(many) || len(listed[1].Recipients) != len(long) {
		t.Errorf("spamrun queue list: %d messages", len(listed))
	}

	e.setRelay(e.sink.Addr())
	e.makeDue()
	if r := e.run("", "-q"); r.code != 0 || r.stderr != "" {
		t.Fatalf("sendmail -q: exit %d %q", r.code, r.stderr)
	}
	got := map[string]int{}
	for _, m := range e.sink.Messages() {
		for _, rcpt := range m.To {
			got[rcpt]++
		}
	}
	for _, rcpt := range append(many, long...) {
		if got[rcpt] != 1 {
			t.Errorf("%s received %d copies, want 1", rcpt, got[rcpt])
		}
		delete(got, rcpt)
	}
	if len(got) != 0 {
		t.Errorf("relayed to %d addresses nobody named", len(got))
	}
	c := e.take()
	if c.relayed["many"] == 0 || c.relayed["long"] == 0 || len(c.queued) != 0 {
		t.Errorf("relayed %v; %d still queued", c.relayed, len(c.queued))
	}
}

// headerBytes returns the length of the header line of message id.
func headerBytes(t *testing.T, spoolDir, id string) int {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(spoolDir, "queue", id))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.IndexByte(raw, '\n')
}

// TestSendmailEnvelopeTooLarge: a message whose envelope the spool could
// not read back is refused with exit 65 and one line that says why,
// never accepted with 0.
func TestSendmailEnvelopeTooLarge(t *testing.T) {
	e := newEnv(t, "")
	var to strings.Builder
	to.WriteString("To: ")
	for i := 0; to.Len() < spool.MaxHeader+1<<20; i++ {
		if i > 0 {
			to.WriteString(",\n ")
		}
		fmt.Fprintf(&to, "member%07d@chess-club-members.example.org", i)
	}
	msg := to.String() + "\nFrom: news@shop1.example\nSubject: everyone\n\nhello\n"
	r := e.run(msg, "-t", "-i")
	if r.code != exDataErr {
		t.Fatalf("exit %d, want %d; stderr %q", r.code, exDataErr, r.stderr)
	}
	if lines := strings.Count(r.stderr, "\n"); lines != 1 || !strings.Contains(r.stderr, "too large") || !strings.Contains(r.stderr, "fewer recipients") {
		t.Errorf("stderr is not one line that says why: %q", r.stderr)
	}
	if q := e.queue(); len(q) != 0 || len(e.sink.Messages()) != 0 {
		t.Errorf("refused message spooled (%d) or relayed (%d)", len(q), len(e.sink.Messages()))
	}
}

// TestSendmailDamagedSpoolFile: a spool file damaged by hand neither stops
// the queue nor fails sendmail -q: the pass relays the other messages and
// moves the file into quarantine whole, where spamrun queue list shows
// it, spamrun status counts it, release is refused and purge deletes it.
func TestSendmailDamagedSpoolFile(t *testing.T) {
	e := newEnv(t, "")
	e.setRelay(spamruntest.FreeAddr(t))
	for _, seq := range []string{"one", "two", "three"} {
		if r := e.run(clubMail(seq), "-i", "-fnews@shop1.example", "member@example.org"); r.code != 0 {
			t.Fatalf("%s: exit %d %q", seq, r.code, r.stderr)
		}
	}
	e.setRelay(e.sink.Addr())
	e.makeDue()
	q := e.queue()
	victim := q[1].ID
	path := filepath.Join(e.spool, "queue", victim)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Half the header gone, as a crashed disk or a careless hand leaves it.
	nl := bytes.IndexByte(raw, '\n')
	damaged := append(raw[:nl/2:nl/2], raw[nl:]...)
	if err := os.WriteFile(path, damaged, 0o640); err != nil {
		t.Fatal(err)
	}
	spamrun := func(args ...string) result {
		return e.runCmd(exec.Command(spamrunBinary(t), args...), "")
	}
	if r := spamrun("queue", "list"); r.code != 0 || !strings.Contains(r.stderr, victim) || !strings.Contains(r.stderr, "moves it into quarantine") {
		t.Errorf("queue list before the pass: exit %d %q", r.code, r.stderr)
	}

	if r := e.run("", "-q"); r.code != 0 || r.stderr != "" {
		t.Fatalf("sendmail -q: exit %d %q", r.code, r.stderr)
	}
	c := e.take()
	if c.relayed["one"] != 1 || c.relayed["three"] != 1 || c.relayed["two"] != 0 || len(c.queued) != 0 {
		t.Errorf("relayed %v, %d still queued", c.relayed, len(c.queued))
	}
	s, err := spool.Open(e.spool)
	if err != nil {
		t.Fatal(err)
	}
	kept, content, err := s.Read(victim)
	if err != nil || kept.Kind != spool.KindDamaged || !bytes.Equal(content, damaged) {
		t.Fatalf("damaged file in quarantine: %+v, %v", kept, err)
	}

	r := spamrun("queue", "list", "--quarantine")
	line := lineWith(r.stdout, victim)
	if r.code != 0 || !strings.Contains(line, "damaged") || !strings.Contains(line, "bad header") {
		t.Errorf("queue list --quarantine: exit %d %q\n%s", r.code, r.stderr, r.stdout)
	}
	if r := spamrun("status"); r.code != 0 || !strings.Contains(r.stdout, "Damaged spool files, of no known site, kept whole in quarantine: 1") {
		t.Errorf("status: exit %d %q\n%s", r.code, r.stderr, r.stdout)
	}
	if r := spamrun("queue", "release", victim); r.code == 0 || !strings.Contains(r.stderr, "envelope is unknown") {
		t.Errorf("release of a damaged message: exit %d %q", r.code, r.stderr)
	}
	if r := spamrun("queue", "purge", victim); r.code != 0 {
		t.Errorf("purge: exit %d %q", r.code, r.stderr)
	}
	if len(e.quarantine()) != 0 {
		t.Errorf("quarantine not empty after the purge")
	}
}

// lineWith returns the first line of s that contains sub.
func lineWith(s, sub string) string {
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			return line
		}
	}
	return ""
}

// TestEnvelopeTooLargeAnswers: the spool's refusal of an envelope too
// large is bad input, exit 65, and in -bs 552 5.3.4 with the reason.
func TestEnvelopeTooLargeAnswers(t *testing.T) {
	s, err := spool.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := &spool.Entry{Site: "shop1", Recipients: members(0, spool.MaxHeader/40), State: spool.Queued}
	err = s.Add(e, []byte("Subject: x\r\n\r\nx\r\n"))
	// As submit returns it: a spool failure is the machine's, unless the
	// message is to blame.
	err = fmt.Errorf("%w: %w", submit.ErrSpool, err)
	if code := exitCode(err); code != exDataErr {
		t.Errorf("exit %d for %v, want %d", code, err, exDataErr)
	}
	var reply *smtp.SMTPError
	if !errors.As(submit.SMTPError(err), &reply) || reply.Code != 552 || reply.EnhancedCode != (smtp.EnhancedCode{5, 3, 4}) ||
		!strings.Contains(reply.Message, "fewer recipients") || strings.ContainsAny(reply.Message, "\r\n") {
		t.Errorf("-bs answers %v", submit.SMTPError(err))
	}
}
