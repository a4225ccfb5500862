package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/textproto"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

// The tests in this file drive the built binary with the programs that
// call sendmail on a web host: PHP's mail(), PHPMailer, Symfony Mailer and
// swaks, and a hand-written -bs dialogue. They compare what reaches the
// relay byte for byte, because a client that "works" but loses a Bcc or
// doubles a line ending is the failure hosts actually see.

const (
	phpMailerAutoload = "/usr/share/php/libphp-phpmailer/autoload.php"
	symfonyAutoload   = "/usr/share/php/Symfony/Component/Mailer/autoload.php"
)

// needFile stops the test as a missing component when path is absent.
func needFile(t *testing.T, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		spamruntest.Missing(t, path+" (apt-get install "+pkg+")")
	}
}

// writeFile writes content into dir and returns its path.
func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// phpCmd runs script with sendmail_path set as a host's php.ini would set
// it. Settings ("name=value") come last so they override the defaults here,
// which pin what Debian's php.ini may vary. The working directory is the
// script's, as under PHP-FPM, so it shows up as evidence. PHP starts
// sendmail with popen, which passes on the SPAMRUN_CONFIG that runCmd
// sets: that is how each run finds its test's sink.
func phpCmd(t *testing.T, sendmailPath, script string, settings ...string) *exec.Cmd {
	t.Helper()
	php := spamruntest.NeedCommand(t, "php", "php-cli")
	args := []string{
		"-d", "sendmail_path=" + sendmailPath,
		"-d", "mail.add_x_header=0",
		"-d", "display_errors=stderr",
		"-d", "error_reporting=-1",
	}
	for _, s := range settings {
		args = append(args, "-d", s)
	}
	cmd := exec.Command(php, append(args, script)...)
	cmd.Dir = filepath.Dir(script)
	return cmd
}

// argvLogger returns a sendmail that records each command line it is run
// with, one line per run with the words separated by "|", and then execs
// the real binary: what a client really runs is part of what it does.
func argvLogger(t *testing.T) (path string, runs func() []string) {
	t.Helper()
	// Not t.TempDir: the test's name becomes part of that path, and
	// clients hand the path to a shell unquoted.
	dir, err := os.MkdirTemp("", "spamrun-argv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	log := filepath.Join(dir, "argv.log")
	script := fmt.Sprintf("#!/bin/sh\n{ for a in \"$@\"; do printf '%%s|' \"$a\"; done; echo; } >>'%s'\nexec '%s' \"$@\"\n", log, sendmailBin)
	// Named sendmail: PHPMailer's isSendmail() only takes a sendmail_path
	// whose name says sendmail.
	path = writeFile(t, dir, "sendmail", script, 0o755)
	return path, func() []string {
		b, err := os.ReadFile(log)
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
}

// loginSender is the envelope sender a site gets when it names none:
// login@hostname, as Postfix gives.
func loginSender(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username + "@" + testHost
}

// wantRelayed compares a relayed message with want, byte for byte. In want,
// {id} and {date} stand for the queue ID and submission time that sendmail
// writes into the Received field it puts first, and into the Date and
// Message-ID it adds when the message has none; want starts after that
// Received field.
func wantRelayed(t *testing.T, got []byte, want string) {
	t.Helper()
	prefix := fmt.Sprintf("Received: by %s (spamrun, from userid %d)\r\n\tid ", testHost, os.Getuid())
	s := string(got)
	rest, ok := strings.CutPrefix(s, prefix)
	stamp, _, ok2 := strings.Cut(rest, "\r\n")
	id, date, ok3 := strings.Cut(stamp, "; ")
	if !ok || !ok2 || !ok3 {
		t.Errorf("relayed message does not start with spamrun's Received field:\n%q", got)
		return
	}
	full := strings.NewReplacer("{id}", id, "{date}", date).Replace(prefix + "{id}; {date}\r\n" + want)
	if s != full {
		t.Errorf("relayed message differs%s", diffAt(s, full))
	}
}

// diffAt shows where got and want part, around the first difference only
// when they are too long to read whole.
func diffAt(got, want string) string {
	if len(got)+len(want) < 8<<10 {
		return fmt.Sprintf("\n got: %q\nwant: %q", got, want)
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	from := max(i-40, 0)
	return fmt.Sprintf(" at byte %d of %d (want %d)\n got: …%q…\nwant: …%q…", i, len(got), len(want),
		got[from:min(i+40, len(got))], want[from:min(i+40, len(want))])
}

// wantEnvelope compares an envelope; recipient order is the client's
// business, so recipients are compared as a set.
func wantEnvelope(t *testing.T, m spamruntest.SinkMessage, from string, to ...string) {
	t.Helper()
	got := slices.Sorted(slices.Values(m.To))
	want := slices.Sorted(slices.Values(to))
	if m.From != from || !slices.Equal(got, want) {
		t.Errorf("envelope <%s> → %q, want <%s> → %q", m.From, got, from, want)
	}
}

// wantHidden checks that no blind recipient shows in a relayed header.
func wantHidden(t *testing.T, data []byte, blind ...string) {
	t.Helper()
	h := header(data)
	for _, line := range strings.Split(h, "\r\n") {
		name, _, _ := strings.Cut(line, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "bcc" || name == "resent-bcc" {
			t.Errorf("relayed header keeps %q", line)
		}
	}
	for _, b := range blind {
		if strings.Contains(h, b) {
			t.Errorf("relayed header shows blind recipient %s:\n%s", b, h)
		}
	}
}

// wantCRLF checks that every line of a relayed message ends in CRLF, with
// no bare CR or LF a script's mixed line endings could leave.
func wantCRLF(t *testing.T, data []byte) {
	t.Helper()
	for i, c := range data {
		bare := c == '\r' && (i+1 == len(data) || data[i+1] != '\n') || c == '\n' && (i == 0 || data[i-1] != '\r')
		if bare {
			t.Errorf("relayed message has a bare %q at byte %d of %d: …%q…", c, i, len(data), data[max(i-40, 0):min(i+40, len(data))])
			return
		}
	}
}

// oneMessage returns the one message the sink got, or fails the test.
func oneMessage(t *testing.T, e *testEnv) spamruntest.SinkMessage {
	t.Helper()
	msgs := e.sink.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages relayed, want 1", len(msgs))
	}
	return msgs[0]
}

// disabledEnv returns an installation whose site is already disabled: with
// max_spam 0 its first spam-marked message trips it.
func disabledEnv(t *testing.T) *testEnv {
	t.Helper()
	e := newEnv(t, "[policy]\nmax_spam = 0\nhold_for = \"0s\"\n")
	r := e.run(string(spamruntest.GuestbookSpam("shop1.example", 0)), "-t", "-i", "-fnoreply@shop1.example")
	if r.code != exUnavailable {
		t.Fatalf("tripping message: exit %d, stderr %q", r.code, r.stderr)
	}
	return e
}

// wantRefusal checks sendmail's one line for a disabled site.
func wantRefusal(t *testing.T, stderr string) {
	t.Helper()
	if !strings.HasPrefix(stderr, `sendmail: mail from website "shop1" is disabled because it sent spam; see `+testArticle+" (incident ") ||
		strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, ")\n") {
		t.Errorf("stderr %q, want sendmail's one-line refusal with the article", stderr)
	}
}

// phpMailScript calls mail() with the arguments in mail.json beside it and
// says what mail() returned; it is named as the contact forms that get
// abused are.
const phpMailScript = `<?php
$a = json_decode(file_get_contents(__DIR__ . '/mail.json'), true);
if (isset($a['params'])) {
	$ok = mail($a['to'], $a['subject'], $a['message'], $a['headers'], $a['params']);
} else {
	$ok = mail($a['to'], $a['subject'], $a['message'], $a['headers']);
}
echo 'mail() returned ', var_export($ok, true), "\n";
`

type phpMail struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Message string `json:"message"`
	Headers string `json:"headers"`
	Params  string `json:"params,omitempty"`
}

// runMail calls PHP's mail() through sendmailPath as a site's contact.php.
func (e *testEnv) runMail(sendmailPath string, m phpMail, settings ...string) (result, string) {
	e.t.Helper()
	dir := e.t.TempDir()
	b, err := json.Marshal(m)
	if err != nil {
		e.t.Fatal(err)
	}
	writeFile(e.t, dir, "mail.json", string(b), 0o644)
	script := writeFile(e.t, dir, "contact.php", phpMailScript, 0o644)
	return e.runCmd(phpCmd(e.t, sendmailPath, script, settings...), ""), script
}

func wantMailReturned(t *testing.T, r result, ok bool) {
	t.Helper()
	if want := fmt.Sprintf("mail() returned %t\n", ok); r.stdout != want || r.code != 0 {
		t.Errorf("php: exit %d, stdout %q, want %q (stderr %q)", r.code, r.stdout, want, r.stderr)
	}
}

// TestPHPMail drives PHP's mail() with sendmail_path pointing at the
// binary, in the forms web hosts configure and scripts call it.
func TestPHPMail(t *testing.T) {
	order := phpMail{
		To:      "customer@example.org",
		Subject: "Your order 1001",
		Message: "Thank you for your order.\n.\nWe ship tomorrow.\n",
		Headers: "From: Shop One <orders@shop1.example>\r\nReply-To: help@shop1.example",
	}
	// PHP 8 writes To and Subject, then the headers as given, with CRLF,
	// and a line break after the message, which already ends in one.
	const orderRelayed = "To: customer@example.org\r\n" +
		"Subject: Your order 1001\r\n" +
		"From: Shop One <orders@shop1.example>\r\n" +
		"Reply-To: help@shop1.example\r\n" +
		"Date: {date}\r\n" +
		"Message-ID: <{id}@" + testHost + ">\r\n" +
		"\r\n" +
		"Thank you for your order.\r\n.\r\nWe ship tomorrow.\r\n\r\n"

	t.Run("default sender without -f", func(t *testing.T) {
		e := newEnv(t, "")
		m := order
		m.Headers = ""
		r, _ := e.runMail(sendmailBin+" -t -i", m)
		wantMailReturned(t, r, true)
		if r.stderr != "" {
			t.Errorf("stderr %q", r.stderr)
		}
		got := oneMessage(t, e)
		wantEnvelope(t, got, loginSender(t), "customer@example.org")
		wantRelayed(t, got.Data, "To: customer@example.org\r\n"+
			"Subject: Your order 1001\r\n"+
			"From: "+loginSender(t)+"\r\n"+
			"Date: {date}\r\n"+
			"Message-ID: <{id}@"+testHost+">\r\n"+
			"\r\n"+
			"Thank you for your order.\r\n.\r\nWe ship tomorrow.\r\n\r\n")
	})

	t.Run("-f joined in the fifth argument", func(t *testing.T) {
		e := newEnv(t, "")
		m := order
		m.Params = "-fshop@shop1.example"
		bin, runs := argvLogger(t)
		r, _ := e.runMail(bin+" -t -i", m)
		wantMailReturned(t, r, true)
		if got := runs(); !slices.Equal(got, []string{"-t|-i|-fshop@shop1.example|"}) {
			t.Errorf("PHP ran sendmail with %q", got)
		}
		got := oneMessage(t, e)
		wantEnvelope(t, got, "shop@shop1.example", "customer@example.org")
		wantRelayed(t, got.Data, orderRelayed)
	})

	t.Run("-f separate in sendmail_path", func(t *testing.T) {
		e := newEnv(t, "")
		bin, runs := argvLogger(t)
		r, _ := e.runMail(bin+" -t -i -f shop@shop1.example", order)
		wantMailReturned(t, r, true)
		if got := runs(); !slices.Equal(got, []string{"-t|-i|-f|shop@shop1.example|"}) {
			t.Errorf("PHP ran sendmail with %q", got)
		}
		got := oneMessage(t, e)
		wantEnvelope(t, got, "shop@shop1.example", "customer@example.org")
		wantRelayed(t, got.Data, orderRelayed)
	})

	t.Run("-f separate in the fifth argument", func(t *testing.T) {
		e := newEnv(t, "")
		m := order
		m.Params = "-f shop@shop1.example"
		r, _ := e.runMail(sendmailBin+" -t -i", m)
		wantMailReturned(t, r, true)
		got := oneMessage(t, e)
		wantEnvelope(t, got, "shop@shop1.example", "customer@example.org")
		wantRelayed(t, got.Data, orderRelayed)
	})

	t.Run("mail.add_x_header", func(t *testing.T) {
		e := newEnv(t, "")
		r, script := e.runMail(sendmailBin+" -t -i", order, "mail.add_x_header=1")
		wantMailReturned(t, r, true)
		got := oneMessage(t, e)
		wantRelayed(t, got.Data, strings.Replace(orderRelayed, "Subject: Your order 1001\r\n",
			"Subject: Your order 1001\r\nX-PHP-Originating-Script: "+scriptOwner(t, script)+":contact.php\r\n", 1))
	})

	t.Run("mail.add_x_header is evidence in the spool", func(t *testing.T) {
		e := newEnv(t, "")
		e.setRelay(spamruntest.FreeAddr(t)) // so the message stays in the spool to be looked at
		r, script := e.runMail(sendmailBin+" -t -i", order, "mail.add_x_header=1")
		wantMailReturned(t, r, true)
		q := e.queue()
		if len(q) != 1 {
			t.Fatalf("%d messages queued, want 1", len(q))
		}
		dir, err := filepath.EvalSymlinks(filepath.Dir(script))
		if err != nil {
			t.Fatal(err)
		}
		ev := q[0].Evidence
		if want := scriptOwner(t, script) + ":contact.php"; ev.Script != want || ev.Cwd != dir || ev.UID != os.Getuid() {
			t.Errorf("evidence %+v, want script %q and cwd %q", ev, want, dir)
		}
		if q[0].Site != "shop1" || q[0].State != spool.Queued {
			t.Errorf("queued as %+v", q[0])
		}
	})

	for _, sep := range []struct{ name, s string }{{"CRLF", "\r\n"}, {"LF", "\n"}} {
		t.Run("headers separated by "+sep.name, func(t *testing.T) {
			e := newEnv(t, "")
			m := order
			m.Headers = strings.Join([]string{"From: Shop One <orders@shop1.example>", "Reply-To: help@shop1.example",
				"MIME-Version: 1.0", "Content-Type: text/plain; charset=UTF-8"}, sep.s) + sep.s
			m.Message = "Thank you for your order.\r\nWe ship tomorrow.\nRegards\n"
			r, _ := e.runMail(sendmailBin+" -t -i", m)
			wantMailReturned(t, r, true)
			got := oneMessage(t, e)
			wantCRLF(t, got.Data)
			wantRelayed(t, got.Data, "To: customer@example.org\r\n"+
				"Subject: Your order 1001\r\n"+
				"From: Shop One <orders@shop1.example>\r\n"+
				"Reply-To: help@shop1.example\r\n"+
				"MIME-Version: 1.0\r\n"+
				"Content-Type: text/plain; charset=UTF-8\r\n"+
				"Date: {date}\r\n"+
				"Message-ID: <{id}@"+testHost+">\r\n"+
				"\r\n"+
				"Thank you for your order.\r\nWe ship tomorrow.\r\nRegards\r\n\r\n")
		})
	}

	// Scripts send HTML built as one long line. This one is one byte
	// shorter than sendmail's 64 KiB read buffer, so its CR is the last
	// byte of one read and its LF the first of the next: the line must
	// still arrive whole, ending in one CRLF.
	t.Run("CRLF line of 64 KiB", func(t *testing.T) {
		e := newEnv(t, "")
		e.setRelay(spamruntest.FreeAddr(t)) // the test sink refuses lines over 2000 bytes
		m := order
		long := strings.Repeat("x", 64<<10-1)
		m.Message = long + "\r\nend\r\n"
		r, _ := e.runMail(sendmailBin+" -t -i", m)
		wantMailReturned(t, r, true)
		got := spooled(t, e)
		wantCRLF(t, got)
		wantRelayed(t, got, strings.Replace(orderRelayed, "Thank you for your order.\r\n.\r\nWe ship tomorrow.\r\n", long+"\r\nend\r\n", 1))
	})

	t.Run("site disabled", func(t *testing.T) {
		e := disabledEnv(t)
		m := order
		m.Params = "-forders@shop1.example"
		r, _ := e.runMail(sendmailBin+" -t -i", m)
		wantMailReturned(t, r, false)
		wantRefusal(t, r.stderr)
		if n := len(e.sink.Messages()); n != 0 {
			t.Errorf("%d messages relayed from a disabled site", n)
		}
	})
}

// scriptOwner is the UID PHP names in X-PHP-Originating-Script: the
// owner of the script file, not the process's UID.
func scriptOwner(t *testing.T, script string) string {
	t.Helper()
	fi, err := os.Stat(script)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(fi.Sys().(*syscall.Stat_t).Uid)
}

// phpMailerScript sends one order confirmation with To, Cc and Bcc through
// PHPMailer and prints the message it composed, base64, so the test can
// compare it with what reached the relay.
const phpMailerScript = `<?php
require $argv[1];
use PHPMailer\PHPMailer\PHPMailer;

$mail = new PHPMailer(true);
if ($argv[2] === 'mail') {
	$mail->isMail();
} else {
	$mail->isSendmail();
}
if ($argv[3] !== '') {
	$mail->Sendmail = $argv[3];
}
$mail->setFrom('shop@shop1.example', 'Shop One');
$mail->addAddress('customer@example.org', 'A Customer');
$mail->addCC('warehouse@example.net');
$mail->addBCC('audit@example.com');
$mail->Subject = 'Your order 1001';
$mail->Body = "Thank you for your order.\n.\nA line with a single dot is above.\n";
$mail->send();
echo base64_encode($mail->getSentMIMEMessage()), "\n";
`

// TestPHPMailer drives PHPMailer's sendmail and mail() transports.
func TestPHPMailer(t *testing.T) {
	needFile(t, phpMailerAutoload, "libphp-phpmailer")
	run := func(t *testing.T, e *testEnv, transport, sendmailPath, sendmailProp string) string {
		t.Helper()
		script := writeFile(t, t.TempDir(), "order.php", phpMailerScript, 0o644)
		cmd := phpCmd(t, sendmailPath, script)
		cmd.Args = append(cmd.Args, phpMailerAutoload, transport, sendmailProp)
		r := e.runCmd(cmd, "")
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("php: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		sent, err := base64.StdEncoding.DecodeString(strings.TrimSpace(r.stdout))
		if err != nil {
			t.Fatalf("php printed %q: %v", r.stdout, err)
		}
		return string(sent)
	}
	const bccLine = "Bcc: audit@example.com\n"
	// PHPMailer writes LF to sendmail and puts Bcc in the header for
	// sendmail to take out; the relay must get the rest unchanged, in CRLF.
	relayedFrom := func(t *testing.T, sent string) string {
		t.Helper()
		if !strings.Contains(sent, bccLine) {
			t.Fatalf("PHPMailer wrote no %q:\n%s", bccLine, sent)
		}
		return strings.ReplaceAll(strings.Replace(sent, bccLine, "", 1), "\n", "\r\n")
	}

	t.Run("isSendmail", func(t *testing.T) {
		e := newEnv(t, "")
		bin, runs := argvLogger(t)
		sent := run(t, e, "sendmail", "/usr/sbin/sendmail -t -i", bin)
		if got := runs(); !slices.Equal(got, []string{"-oi|-fshop@shop1.example|-t|"}) {
			t.Errorf("PHPMailer ran sendmail with %q", got)
		}
		got := oneMessage(t, e)
		wantEnvelope(t, got, "shop@shop1.example", "customer@example.org", "warehouse@example.net", "audit@example.com")
		wantHidden(t, got.Data, "audit@example.com")
		wantRelayed(t, got.Data, relayedFrom(t, sent))
	})

	// isSendmail() takes sendmail_path from php.ini and appends its own
	// flags, so the binary sees -t and -i twice.
	t.Run("isSendmail with php.ini's sendmail_path", func(t *testing.T) {
		e := newEnv(t, "")
		bin, runs := argvLogger(t)
		sent := run(t, e, "sendmail", bin+" -t -i", "")
		if got := runs(); !slices.Equal(got, []string{"-t|-i|-oi|-fshop@shop1.example|-t|"}) {
			t.Errorf("PHPMailer ran sendmail with %q", got)
		}
		got := oneMessage(t, e)
		wantEnvelope(t, got, "shop@shop1.example", "customer@example.org", "warehouse@example.net", "audit@example.com")
		wantHidden(t, got.Data, "audit@example.com")
		wantRelayed(t, got.Data, relayedFrom(t, sent))
	})

	t.Run("isMail", func(t *testing.T) {
		e := newEnv(t, "")
		bin, runs := argvLogger(t)
		sent := run(t, e, "mail", bin+" -t -i", "")
		if got := runs(); !slices.Equal(got, []string{"-t|-i|-fshop@shop1.example|"}) {
			t.Errorf("PHP ran sendmail with %q", got)
		}
		got := oneMessage(t, e)
		wantEnvelope(t, got, "shop@shop1.example", "customer@example.org", "warehouse@example.net", "audit@example.com")
		wantHidden(t, got.Data, "audit@example.com")
		wantCRLF(t, got.Data)
		// mail() writes To and Subject itself, so PHPMailer's own copy
		// lacks them; the body arrives as composed.
		_, body, _ := strings.Cut(strings.ReplaceAll(sent, "\n", "\r\n"), "\r\n\r\n")
		if !strings.HasSuffix(string(got.Data), "\r\n\r\n"+body) || !strings.Contains(header(got.Data), "\r\nCc: warehouse@example.net\r\n") {
			t.Errorf("relayed %q, want the body %q and the Cc", got.Data, body)
		}
	})
}

// symfonyScript sends n order confirmations with To, Cc and Bcc through
// ONE Symfony sendmail transport, and prints each message as Symfony
// composed it, base64, one a line.
const symfonyScript = `<?php
require $argv[1];
use Symfony\Component\Mailer\Exception\TransportExceptionInterface;
use Symfony\Component\Mailer\Transport;
use Symfony\Component\Mime\Address;
use Symfony\Component\Mime\Email;

$transport = Transport::fromDsn('sendmail://default?command=' . urlencode($argv[2]));
for ($i = 1; $i <= (int) $argv[3]; $i++) {
	$email = (new Email())
		->from(new Address('shop@shop1.example', 'Shop One'))
		->to("customer$i@example.org")
		->cc('warehouse@example.net')
		->bcc('audit@example.com')
		->subject("Your order 100$i")
		->text("Thank you for order 100$i.\n.\n.A line that starts with a dot.\n");
	try {
		$sent = $transport->send($email);
	} catch (TransportExceptionInterface $e) {
		echo 'refused: ', $e->getMessage(), "\n";
		exit(3);
	}
	echo base64_encode($sent->toString()), "\n";
}
`

// TestSymfonyMailer drives Symfony Mailer's sendmail transport, in its
// recommended -bs mode (one SMTP session for every message sent through
// the transport) and in -t mode.
func TestSymfonyMailer(t *testing.T) {
	needFile(t, symfonyAutoload, "php-symfony-mailer")
	const n = 3
	run := func(t *testing.T, e *testEnv, command string) []string {
		t.Helper()
		script := writeFile(t, t.TempDir(), "order.php", symfonyScript, 0o644)
		cmd := phpCmd(t, "/usr/sbin/sendmail -t -i", script)
		cmd.Args = append(cmd.Args, symfonyAutoload, command, fmt.Sprint(n))
		r := e.runCmd(cmd, "")
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("php: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		var sent []string
		for _, line := range strings.Fields(r.stdout) {
			b, err := base64.StdEncoding.DecodeString(line)
			if err != nil {
				t.Fatalf("php printed %q: %v", r.stdout, err)
			}
			sent = append(sent, string(b))
		}
		if len(sent) != n {
			t.Fatalf("php sent %d messages, want %d", len(sent), n)
		}
		return sent
	}
	// In -bs mode Symfony ends DATA with CRLF "." CRLF after a message
	// that already ends in CRLF, so the message gains an empty last line,
	// as it does with any SMTP server.
	check := func(t *testing.T, e *testEnv, sent []string, trailer string) {
		t.Helper()
		msgs := e.sink.Messages()
		if len(msgs) != n {
			t.Fatalf("%d messages relayed, want %d", len(msgs), n)
		}
		for i, m := range msgs {
			wantEnvelope(t, m, "shop@shop1.example", fmt.Sprintf("customer%d@example.org", i+1), "warehouse@example.net", "audit@example.com")
			wantHidden(t, m.Data, "audit@example.com")
			// Symfony writes CRLF, its own Date and Message-ID, and no Bcc.
			wantRelayed(t, m.Data, sent[i]+trailer)
		}
	}

	t.Run("-bs", func(t *testing.T) {
		e := newEnv(t, "")
		bin, runs := argvLogger(t)
		sent := run(t, e, bin+" -bs")
		if got := runs(); !slices.Equal(got, []string{"-bs|"}) {
			t.Errorf("Symfony ran sendmail %d times, with %q; want once, with -bs", len(got), got)
		}
		check(t, e, sent, "\r\n")
	})

	// In -t mode Symfony drops -t, passes the envelope as arguments after
	// --, adds -f, and writes LF.
	t.Run("-t -i", func(t *testing.T) {
		e := newEnv(t, "")
		bin, runs := argvLogger(t)
		sent := run(t, e, bin+" -t -i")
		var want []string
		for i := 1; i <= n; i++ {
			want = append(want, fmt.Sprintf("-i|-fshop@shop1.example|--|customer%d@example.org|warehouse@example.net|audit@example.com|", i))
		}
		if got := runs(); !slices.Equal(got, want) {
			t.Errorf("Symfony ran sendmail with\n%q\nwant\n%q", got, want)
		}
		check(t, e, sent, "")
	})

	t.Run("site disabled", func(t *testing.T) {
		e := disabledEnv(t)
		script := writeFile(t, t.TempDir(), "order.php", symfonyScript, 0o644)
		cmd := phpCmd(t, "/usr/sbin/sendmail -t -i", script)
		cmd.Args = append(cmd.Args, symfonyAutoload, sendmailBin+" -bs", "1")
		r := e.runCmd(cmd, "")
		want := `refused: Expected response code "250" but got code "550", with message "550 5.7.1 mail from website "shop1" is disabled because it sent spam; see ` + testArticle
		if r.code != 3 || !strings.HasPrefix(r.stdout, want) || r.stderr != "" {
			t.Errorf("php: exit %d, stdout %q, stderr %q; want exit 3 and %q", r.code, r.stdout, r.stderr, want)
		}
		if n := len(e.sink.Messages()); n != 0 {
			t.Errorf("%d messages relayed from a disabled site", n)
		}
	})
}

// TestSwaks drives the -bs mode with swaks, an SMTP client that checks
// every reply, through a pipe.
func TestSwaks(t *testing.T) {
	swaks := spamruntest.NeedCommand(t, "swaks", "swaks")
	const data = "From: Shop One <shop@shop1.example>\n" +
		"To: a@example.org\n" +
		"Subject: swaks\n" +
		"Date: Mon, 02 Nov 2026 09:00:00 +0000\n" +
		"Message-ID: <swaks-1@shop1.example>\n" +
		"\n" +
		"Hello from swaks.\n" +
		"..a line that starts with two dots"
	cmd := func(t *testing.T) *exec.Cmd {
		file := writeFile(t, t.TempDir(), "data.eml", data, 0o644)
		return exec.Command(swaks, "--pipe", sendmailBin+" -bs", "--from", "shop@shop1.example", "--to", "a@example.org",
			"--helo", "client.shop1.example", "--data", "@"+file)
	}

	t.Run("delivered", func(t *testing.T) {
		e := newEnv(t, "")
		r := e.runCmd(cmd(t), "")
		if r.code != 0 {
			t.Fatalf("swaks: exit %d\n%s", r.code, swaksReplies(r))
		}
		got := oneMessage(t, e)
		wantEnvelope(t, got, "shop@shop1.example", "a@example.org")
		// swaks stuffs the dot and the binary takes it out again.
		wantRelayed(t, got.Data, strings.ReplaceAll(data, "\n", "\r\n")+"\r\n")
	})

	// Postfix's sendmail -bs takes lines of any length, as -t does;
	// scripts that build HTML on one line depend on it.
	t.Run("line over 2000 bytes", func(t *testing.T) {
		e := newEnv(t, "")
		e.setRelay(spamruntest.FreeAddr(t)) // the test sink refuses lines over 2000 bytes
		long := strings.TrimSpace(strings.Repeat("<td>Widget</td> ", 200))
		file := writeFile(t, t.TempDir(), "long.eml", "Subject: long\n\n"+long, 0o644)
		r := e.runCmd(exec.Command(swaks, "--pipe", sendmailBin+" -bs", "--from", "shop@shop1.example", "--to", "a@example.org",
			"--data", "@"+file), "")
		if r.code != 0 {
			t.Fatalf("swaks: exit %d\n%s", r.code, swaksReplies(r))
		}
		wantRelayed(t, spooled(t, e), "Subject: long\r\nFrom: shop@shop1.example\r\nDate: {date}\r\n"+
			"Message-ID: <{id}@"+testHost+">\r\n\r\n"+long+"\r\n")
	})

	t.Run("site disabled", func(t *testing.T) {
		e := disabledEnv(t)
		r := e.runCmd(cmd(t), "")
		// 23: the server refused MAIL FROM; a disabled site is told
		// before it sends the message.
		if r.code != 23 {
			t.Errorf("swaks: exit %d, want 23\n%s", r.code, swaksReplies(r))
		}
		if !strings.Contains(r.stdout+r.stderr, `<** 550 5.7.1 mail from website "shop1" is disabled because it sent spam; see `+testArticle) {
			t.Errorf("swaks saw no 550 5.7.1 with the article:\n%s", swaksReplies(r))
		}
		if n := len(e.sink.Messages()); n != 0 {
			t.Errorf("%d messages relayed from a disabled site", n)
		}
	})
}

// swaksReplies is what swaks reports of a session without the lines it
// sent, which can be long.
func swaksReplies(r result) string {
	var b strings.Builder
	for _, line := range strings.Split(r.stdout+r.stderr, "\n") {
		if !strings.HasPrefix(line, " -> ") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// TestSMTPDialogue speaks -bs by hand, as a strict client would: nothing
// is sent before the greeting, and nothing may appear on stderr, where
// some clients look for the server's first words.
func TestSMTPDialogue(t *testing.T) {
	e := newEnv(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sendmailBin, "-bs")
	cmd.Env = append(os.Environ(), "SPAMRUN_CONFIG="+e.config)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	replies := textproto.NewReader(bufio.NewReader(stdout))
	w := bufio.NewWriter(stdin)
	expect := func(code int, line string) string {
		t.Helper()
		if line != "" {
			w.WriteString(line + "\r\n")
			if err := w.Flush(); err != nil {
				t.Fatalf("writing %q: %v", line, err)
			}
		}
		_, msg, err := replies.ReadResponse(code)
		if err != nil {
			t.Fatalf("after %q: %v", line, err)
		}
		return msg
	}

	if greeting := expect(220, ""); !strings.HasPrefix(greeting, testHost+" ") {
		t.Errorf("greeting %q does not name %s", greeting, testHost)
	}
	expect(250, "HELO client.shop1.example")
	if ehlo := expect(250, "EHLO client.shop1.example"); !strings.Contains(ehlo, "\n8BITMIME") || !strings.Contains(ehlo, "\nENHANCEDSTATUSCODES") {
		t.Errorf("EHLO reply %q", ehlo)
	}
	expect(250, "NOOP")
	expect(250, "MAIL FROM:<shop@shop1.example>")
	expect(250, "RCPT TO:<a@example.org>")
	expect(354, "DATA")
	w.WriteString("From: Shop One <shop@shop1.example>\r\nTo: a@example.org\r\nSubject: first\r\n\r\n")
	w.WriteString("..leading dot\r\n...two leading dots\r\nlast line\r\n")
	expect(250, ".")
	// An abandoned transaction: its sender and recipient must not leak
	// into the next message.
	expect(250, "MAIL FROM:<other@shop1.example>")
	expect(250, "RCPT TO:<dropped@example.org>")
	expect(250, "RSET")
	expect(250, "NOOP")
	expect(250, "MAIL FROM:<shop@shop1.example>")
	expect(250, "RCPT TO:<b@example.org>")
	expect(250, "RCPT TO:<c@example.net>")
	expect(354, "DATA")
	w.WriteString("From: shop@shop1.example\r\nTo: b@example.org, c@example.net\r\nSubject: second\r\nMessage-ID: <second@shop1.example>\r\nDate: Mon, 02 Nov 2026 09:00:00 +0000\r\n\r\nSecond message.\r\n")
	expect(250, ".")
	expect(221, "QUIT")
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("sendmail -bs: %v", err)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr %q, want nothing", stderr.String())
	}

	msgs := e.sink.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages relayed, want 2", len(msgs))
	}
	wantEnvelope(t, msgs[0], "shop@shop1.example", "a@example.org")
	wantRelayed(t, msgs[0].Data, "From: Shop One <shop@shop1.example>\r\nTo: a@example.org\r\nSubject: first\r\n"+
		"Date: {date}\r\nMessage-ID: <{id}@"+testHost+">\r\n\r\n"+
		".leading dot\r\n..two leading dots\r\nlast line\r\n")
	wantEnvelope(t, msgs[1], "shop@shop1.example", "b@example.org", "c@example.net")
	wantRelayed(t, msgs[1].Data, "From: shop@shop1.example\r\nTo: b@example.org, c@example.net\r\nSubject: second\r\n"+
		"Message-ID: <second@shop1.example>\r\nDate: Mon, 02 Nov 2026 09:00:00 +0000\r\n\r\nSecond message.\r\n")
}

// TestBccRemoved: with -t, blind recipients get the message and nobody
// sees them: Bcc and Resent-Bcc go, continuation lines and all.
func TestBccRemoved(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		rcpts []string
		want  string // the relayed header after Received, before Date and Message-ID
	}{{
		name: "Bcc folded over lines",
		in: "From: shop@shop1.example\nTo: a@example.org\nBcc: b1@example.net,\n  Bee Two <b2@example.net>,\n\tb3@example.com\n" +
			"Cc: c@example.org\nSubject: folded\n\nbody\n",
		rcpts: []string{"a@example.org", "b1@example.net", "b2@example.net", "b3@example.com", "c@example.org"},
		want:  "From: shop@shop1.example\r\nTo: a@example.org\r\nCc: c@example.org\r\nSubject: folded\r\n",
	}, {
		name:  "lower-case bcc, last before the body",
		in:    "From: shop@shop1.example\nTo: a@example.org\nSubject: last\nbcc: b1@example.net,\n b2@example.net\n\nbody\n",
		rcpts: []string{"a@example.org", "b1@example.net", "b2@example.net"},
		want:  "From: shop@shop1.example\r\nTo: a@example.org\r\nSubject: last\r\n",
	}, {
		name:  "empty Bcc",
		in:    "From: shop@shop1.example\nBcc:\nTo: a@example.org\nSubject: empty\n\nbody\n",
		rcpts: []string{"a@example.org"},
		want:  "From: shop@shop1.example\r\nTo: a@example.org\r\nSubject: empty\r\n",
	}, {
		// PHPMailer's way of sending to Bcc recipients only.
		name:  "only Bcc",
		in:    "From: shop@shop1.example\nTo: undisclosed-recipients:;\nBcc: b1@example.net, b2@example.net\nSubject: newsletter\n\nbody\n",
		rcpts: []string{"b1@example.net", "b2@example.net"},
		want:  "From: shop@shop1.example\r\nTo: undisclosed-recipients:;\r\nSubject: newsletter\r\n",
	}, {
		// With Resent- fields the message is being resent: its
		// recipients are the Resent- ones, and both kinds of Bcc go.
		name: "Resent-Bcc",
		in: "Resent-From: shop@shop1.example\nResent-To: r@example.org\nResent-Bcc: rb1@example.net,\n rb2@example.net\n" +
			"From: customer@example.org\nTo: shop@shop1.example\nBcc: old@example.com\nSubject: resent\n\nbody\n",
		rcpts: []string{"r@example.org", "rb1@example.net", "rb2@example.net"},
		want: "Resent-From: shop@shop1.example\r\nResent-To: r@example.org\r\n" +
			"From: customer@example.org\r\nTo: shop@shop1.example\r\nSubject: resent\r\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "")
			r := e.run(tt.in, "-t", "-i", "-fshop@shop1.example")
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			got := oneMessage(t, e)
			wantEnvelope(t, got, "shop@shop1.example", tt.rcpts...)
			wantRelayed(t, got.Data, tt.want+"Date: {date}\r\nMessage-ID: <{id}@"+testHost+">\r\n\r\nbody\r\n")
			wantHidden(t, got.Data, "b1@", "b2@", "b3@", "rb1@", "rb2@", "old@")
		})
	}
}

// TestLongLineEndingInDot: without -i only a line that is a single "."
// ends the message; a long line that ends in a dot is not one, however
// sendmail happens to read it. Shell scripts and older mailers call
// "sendmail -t" without -i.
func TestLongLineEndingInDot(t *testing.T) {
	e := newEnv(t, "")
	e.setRelay(spamruntest.FreeAddr(t)) // the test sink refuses lines over 2000 bytes
	long := strings.Repeat("x", 64<<10) + "."
	r := e.run("From: shop@shop1.example\nTo: a@example.org\nSubject: long\n\n"+long+"\nend\n.\nnot part of the message\n", "-t")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	wantRelayed(t, spooled(t, e), "From: shop@shop1.example\r\nTo: a@example.org\r\nSubject: long\r\n"+
		"Date: {date}\r\nMessage-ID: <{id}@"+testHost+">\r\n\r\n"+long+"\r\nend\r\n")
}

// spooled returns the one message in the spool, as it will be relayed.
func spooled(t *testing.T, e *testEnv) []byte {
	t.Helper()
	q := e.queue()
	if len(q) != 1 {
		t.Fatalf("%d messages in the spool, want 1", len(q))
	}
	s, err := spool.Open(e.spool)
	if err != nil {
		t.Fatal(err)
	}
	_, data, err := s.Read(q[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
