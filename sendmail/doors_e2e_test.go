//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/config"
	"github.com/spamrun/spamrun/internal/doctor"
	"github.com/spamrun/spamrun/internal/submit"
	"github.com/spamrun/spamrun/internal/syncbuf"
	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

// The remote MX of TestEveryDoor: addresses on the namespace's loopback
// that stand for a mail server on the internet.
const (
	doorsMX4 = "198.51.100.25"
	doorsMX6 = "2001:db8::25"
)

// doorsMaxSpam is the policy's max_spam: the site trips at the message
// after this many spam-marked ones.
const doorsMaxSpam = 6

// doorsPHP is a mailer kit's three ways to send, as a site's script uses
// them: php doors.php DOOR HOST PORT SENDER FILE, where FILE holds the
// message (its To, Subject and From fields and its text). "mail" calls
// mail() with -f SENDER (HOST and PORT unused); "fsockopen" writes an SMTP
// dialogue by hand; "phpmailer" uses PHPMailer's isSMTP(). The SMTP doors
// claim another site in HELO and the X-PHP-Originating-Script field and
// print the dialogue; each prints "sent" once the message is taken.
const doorsPHP = `<?php
require '` + phpMailerAutoload + `';
use PHPMailer\PHPMailer\PHPMailer;

[$door, $host, $port, $sender, $file] = array_slice($argv, 1);
[$head, $text] = explode("\n\n", str_replace("\r\n", "\n", file_get_contents($file)), 2);
$field = [];
foreach (explode("\n", $head) as $line) {
	[$name, $value] = explode(': ', $line, 2);
	$field[$name] = $value;
}
$forged = '1002:shop2/guestbook.php';

switch ($door) {
case 'mail':
	if (!mail($field['To'], $field['Subject'], $text, 'From: ' . $field['From'], '-f' . $sender)) {
		echo "mail() failed\n";
		exit(1);
	}
	break;

case 'fsockopen':
	$s = fsockopen($host, (int)$port, $errno, $errstr, 20);
	if (!$s) { echo "connect: $errstr\n"; exit(1); }
	stream_set_timeout($s, 20);
	$reply = function () use ($s) {
		$all = '';
		do { $l = fgets($s, 4096); $all .= $l; } while ($l !== false && strlen($l) > 3 && $l[3] === '-');
		echo $all;
		return $all;
	};
	$step = function ($line, $want) use ($s, $reply) {
		echo "> $line\n";
		fwrite($s, $line . "\r\n");
		if (strncmp($reply(), $want, 1) !== 0) {
			fwrite($s, "QUIT\r\n");
			exit(1);
		}
	};
	if (strncmp($reply(), '2', 1) !== 0) { exit(1); }
	$step('EHLO shop2.example', '2');
	$step("MAIL FROM:<$sender>", '2');
	$step('RCPT TO:<' . $field['To'] . '>', '2');
	$step('DATA', '3');
	$data = "X-PHP-Originating-Script: $forged\r\n" . str_replace("\n", "\r\n", "$head\n\n$text");
	$step(rtrim($data, "\r\n") . "\r\n.", '2');
	$step('QUIT', '2');
	break;

case 'phpmailer':
	$mail = new PHPMailer(true);
	$mail->isSMTP();
	$mail->Host = $host;
	$mail->Port = (int)$port;
	$mail->SMTPAutoTLS = false;
	$mail->SMTPDebug = 2;
	$mail->Debugoutput = 'echo';
	$mail->Timeout = 20;
	$mail->Helo = 'shop2.example';
	$mail->setFrom($sender, 'Guestbook');
	$mail->addAddress($field['To']);
	$mail->addCustomHeader('X-PHP-Originating-Script', $forged);
	$mail->Subject = $field['Subject'];
	$mail->Body = $text;
	try {
		$mail->send();
	} catch (Exception $e) {
		echo "failed: ", $mail->ErrorInfo, "\n";
		exit(1);
	}
	break;

default:
	echo "no door $door\n";
	exit(2);
}
echo "sent\n";
`

// TestEveryDoor installs spamrun as a host would, with scripts/install.sh,
// in a network namespace of its own, with a Postfix instance as the relay
// on 127.0.0.1:25 and an SMTP sink on a "remote" MX address that stands
// for the internet. It runs the installed spamrun serve as the
// installation's user and loads the installed egress lock. One site's spam
// run, spread over every door a website has (the setuid sendmail, PHP's
// mail(), swaks to the MTA's port, an fsockopen dialogue and PHPMailer to
// the remote MX, to [::1]:25 and to the listener itself, each forging
// HELO, sender and script), trips the site at exactly max_spam+1
// spam-marked messages; none of it reaches the internet, only DSNs to the
// site's own addresses do; after the trip every door refuses the site,
// while the other site's mail flows. The operator's status and incidents
// name the doors, and spamrun doctor finds the SMTP doors through spamrun
// or closed.
func TestEveryDoor(t *testing.T) {
	if !spamruntest.InNetNS(t) {
		return
	}
	began := time.Now()
	spamruntest.NeedCommand(t, "nft", "nftables")
	spamruntest.NeedCommand(t, "swaks", "swaks")
	php := spamruntest.NeedCommand(t, "php", "php-cli")
	if _, err := os.Stat(phpMailerAutoload); err != nil {
		spamruntest.Missing(t, "PHPMailer (apt-get install libphp-phpmailer)")
	}
	spamruntest.NeedPostfix(t)
	for _, args := range [][]string{
		{"addr", "add", doorsMX4 + "/32", "dev", "lo"},
		{"addr", "add", doorsMX6 + "/128", "dev", "lo", "nodad"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	internet := spamruntest.NewSMTPSink(t, spamruntest.SinkListen(net.JoinHostPort(doorsMX4, "25")))
	mta := spamruntest.StartPostfix(t, spamruntest.PostfixOptions{Listen: "127.0.0.1:25", Relay: internet.Addr()})

	port := freeLoopbackPort(t)
	installing := time.Now()
	h := newDoorsInstall(t, port)
	t.Logf("installed with install.sh in %v", time.Since(installing).Round(100*time.Millisecond))
	serve := h.startServe(t, port)

	// The lock as the installer applies it: the installed command, root,
	// the installed configuration.
	lockCmd := exec.Command(h.opbin(), "egress", "apply")
	lockCmd.Env = withoutConfig(os.Environ())
	out, err := lockCmd.CombinedOutput()
	want := fmt.Sprintf("redirected to 127.0.0.1:%d and [::1]:%d", port, port)
	if err != nil || !strings.Contains(string(out), want) {
		t.Fatalf("spamrun egress apply: %v, want %q:\n%s", err, want, out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))

	dir := h.siteFiles
	script := filepath.Join(dir, "doors.php")
	h.writeSiteFile(script, doorsPHP)
	if err := os.Chown(script, h.a.UID, h.a.GID); err != nil {
		t.Fatal(err)
	}
	a, b := h.a, h.b

	// door is one way a site sends a message; send sends the message in
	// file as u, from sender, and returns what the site saw and whether
	// the door took the message.
	type sendFunc func(t *testing.T, u *siteUser, sender, file string) (string, bool)
	type door struct {
		name        string // Evidence.Door
		destination string // Evidence.Destination
		send        sendFunc
	}
	phpDoor := func(kind, host, port string) sendFunc {
		return func(t *testing.T, u *siteUser, sender, file string) (string, bool) {
			r := h.in(t).as(u, nil, "", php,
				"-d", "sendmail_path="+h.bin+" -t -i", "-d", "mail.add_x_header=On",
				script, kind, host, port, sender, file)
			return r.stdout + r.stderr, r.code == 0 && strings.Contains(r.stdout, "sent")
		}
	}
	swaksDoor := func(server, port string) sendFunc {
		return func(t *testing.T, u *siteUser, sender, file string) (string, bool) {
			msg, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			r := h.in(t).as(u, nil, "", "swaks", "--timeout", "20", "--server", server, "--port", port,
				"--helo", "shop2.example", "--from", sender, "--to", headerTo(t, msg), "--data", "@"+file)
			return r.stdout + r.stderr, r.code == 0
		}
	}
	sendmailDoor := func(t *testing.T, u *siteUser, sender, file string) (string, bool) {
		msg, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		r := h.in(t).sendmail(u, nil, string(msg), "-t", "-i", "-f"+sender)
		return fmt.Sprintf("exit %d: %s%s", r.code, r.stdout, r.stderr), r.code == 0
	}
	doors := []door{
		{submit.DoorSendmail, "", sendmailDoor},
		{submit.DoorSMTPRedirected, "127.0.0.1:25", swaksDoor("127.0.0.1", "25")},
		{submit.DoorSendmail, "", phpDoor("mail", "-", "-")},
		{submit.DoorSMTPRedirected, doorsMX4 + ":25", phpDoor("fsockopen", doorsMX4, "25")},
		{submit.DoorSMTPRedirected, "[::1]:25", phpDoor("phpmailer", "[::1]", "25")},
		{submit.DoorSMTPLocal, "", phpDoor("phpmailer", "127.0.0.1", strconv.Itoa(port))},
		{submit.DoorSMTPRedirected, "[" + doorsMX6 + "]:587", phpDoor("fsockopen", "["+doorsMX6+"]", "587")},
	}
	if len(doors) != doorsMaxSpam+1 {
		t.Fatalf("%d doors for a run that trips at %d", len(doors), doorsMaxSpam+1)
	}
	// Half the run gives an address of the site as its sender, which gets
	// the DSN; the rest forge other senders, which get none.
	senders := []string{
		"noreply@shop1.example", "orders@shop2.example", "noreply@shop1.example",
		"admin@bank.example", "guestbook@shop1.example", "info@shop2.example", "noreply@shop1.example",
	}
	own, wantDSNs := map[string]bool{}, 0
	for _, s := range senders[:doorsMaxSpam] {
		if strings.HasSuffix(s, "@shop1.example") {
			own[s] = true
			wantDSNs++
		}
	}

	// The spam run: each message claims to be shop2's script.
	spamFile := func(i int) string {
		spam := strings.Replace(string(spamruntest.GuestbookSpam("shop1.example", i)),
			"X-PHP-Originating-Script: 1008:guestbook.php", "X-PHP-Originating-Script: 1002:shop2/guestbook.php", 1)
		file := filepath.Join(dir, fmt.Sprintf("spam%d.eml", i))
		h.writeSiteFile(file, spam)
		return file
	}
	for i, d := range doors[:doorsMaxSpam] {
		seen, ok := d.send(t, a, senders[i], spamFile(i))
		if !ok {
			t.Fatalf("spam %d through %s %s was not accepted:\n%s\nspamrun serve:\n%s", i+1, d.name, d.destination, seen, serve)
		}
		if d.name != submit.DoorSendmail && !strings.Contains(seen, "ESMTP spamrun") {
			t.Errorf("spam %d through %s %s: the greeting does not name spamrun:\n%s", i+1, d.name, d.destination, seen)
		}
	}
	var held []*spool.Entry
	for _, e := range h.entries("shop1") {
		if e.Kind == "" {
			held = append(held, e)
		}
	}
	if len(held) != doorsMaxSpam {
		t.Fatalf("site shop1 has %d messages in the spool after %d spam-marked ones, want them all held:\n%s", len(held), doorsMaxSpam, serve)
	}
	slices.SortFunc(held, func(x, y *spool.Entry) int { return x.Received.Compare(y.Received) })
	for i, e := range held {
		d := doors[i]
		if e.State != spool.Held || !e.Spam || e.UID != a.UID || e.Evidence.UID != a.UID || e.Evidence.Door != d.name || e.Evidence.Destination != d.destination {
			t.Errorf("spam %d: %s spam=%v from UID %d (evidence UID %d) by door %q to %q; want held spam from UID %d by %q to %q",
				i+1, e.State, e.Spam, e.UID, e.Evidence.UID, e.Evidence.Door, e.Evidence.Destination, a.UID, d.name, d.destination)
		}
	}
	if st := h.status(t, "shop1"); st.Disabled || st.Spam != doorsMaxSpam || st.Held != doorsMaxSpam {
		t.Fatalf("spamrun status shop1 before the trip: disabled %v, %d spam in the window, %d held; want enabled, %d and %d",
			st.Disabled, st.Spam, st.Held, doorsMaxSpam, doorsMaxSpam)
	}

	// The next spam-marked message trips the site: refused at the end of
	// DATA, and the held ones are returned.
	trip := doors[doorsMaxSpam]
	seen, ok := trip.send(t, a, senders[doorsMaxSpam], spamFile(doorsMaxSpam))
	if ok || !strings.Contains(seen, "550 5.7.1 ") || !strings.Contains(seen, testArticle) {
		t.Fatalf("spam %d through %s %s: want 550 5.7.1 with the article at the end of DATA:\n%s", doorsMaxSpam+1, trip.name, trip.destination, seen)
	}
	if want := fmt.Sprintf("tripped: bounced=%d quarantined=%d", wantDSNs, doorsMaxSpam-wantDSNs); !strings.Contains(serve.String(), want) {
		t.Errorf("spamrun serve did not log the trip, %q:\n%s", want, serve)
	}

	// After the trip every door refuses the site, whatever it sends:
	// sendmail with 69, each SMTP door at MAIL FROM.
	ham := filepath.Join(dir, "ham.eml")
	h.writeSiteFile(ham, "To: customer@example.org\nSubject: Your order 1001 at Shop One\nFrom: Shop One <orders@shop1.example>\n\nThank you for your order. We will ship it tomorrow.\n")
	t.Run("every door refuses the tripped site", func(t *testing.T) {
		for _, d := range slices.Concat(doors, []door{{submit.DoorSMTPRedirected, doorsMX4 + ":587", swaksDoor(doorsMX4, "587")}}) {
			seen, ok := d.send(t, a, "orders@shop1.example", ham)
			what := d.name + " " + d.destination
			switch {
			case ok:
				t.Errorf("%s took the tripped site's message:\n%s", what, seen)
			case d.name == submit.DoorSendmail:
				if !strings.Contains(seen, "exit 69") && !strings.Contains(seen, "mail() failed") || !strings.Contains(seen, `"shop1" is disabled`) {
					t.Errorf("%s: want exit 69 naming the disabled site:\n%s", what, seen)
				}
			case !strings.Contains(seen, "ESMTP spamrun") || !strings.Contains(seen, "550 5.7.1 ") || !strings.Contains(seen, testArticle):
				t.Errorf("%s: want spamrun's greeting and 550 5.7.1 with the article:\n%s", what, seen)
			case strings.Contains(strings.ToUpper(seen), "RCPT TO"):
				t.Errorf("%s: the refusal came after MAIL FROM:\n%s", what, seen)
			}
		}
	})

	// The other site's mail flows: sendmail, and SMTP to the remote MX.
	hamB := filepath.Join(dir, "ham-b.eml")
	h.writeSiteFile(hamB, "To: customer@example.org\nSubject: Your order 2002 at Shop Two\nFrom: Shop Two <orders@shop2.example>\n\nThank you for your order. We will ship it tomorrow.\n")
	if seen, ok := sendmailDoor(t, b, "orders@shop2.example", hamB); !ok {
		t.Errorf("site shop2's mail through sendmail after shop1's trip:\n%s", seen)
	}
	if seen, ok := swaksDoor(doorsMX4, "25")(t, b, "orders@shop2.example", hamB); !ok || !strings.Contains(seen, "ESMTP spamrun") {
		t.Errorf("site shop2's mail to %s:25 after shop1's trip:\n%s", doorsMX4, seen)
	}

	// The internet gets the DSNs to the site's own addresses and the
	// other site's mail, once spamrun and Postfix have passed them on; then
	// nothing of shop1's is left to pass on.
	wantMsgs := wantDSNs + 2
	internet.WaitFor(t, wantMsgs, 30*time.Second)
	h.waitSpoolEmpty(t, "shop1", 30*time.Second, serve)
	returned := map[spool.State]int{}
	for _, e := range h.quarantined("shop1") {
		if e.Kind == "" {
			returned[e.State]++
		}
	}
	if returned[spool.Bounced] != wantDSNs || returned[spool.Quarantined] != doorsMaxSpam-wantDSNs || len(returned) != 2 {
		t.Errorf("shop1's held messages in quarantine: %v; want %d bounced, %d quarantined", returned, wantDSNs, doorsMaxSpam-wantDSNs)
	}
	for deadline := time.Now().Add(30 * time.Second); len(mta.Queue()) > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Postfix still has messages queued after 30s: %+v", mta.Queue())
		}
	}
	got := internet.Messages()
	dsns, bMail := 0, 0
	for _, m := range got {
		data := string(m.Data)
		switch {
		case m.From == "" && len(m.To) == 1 && own[m.To[0]] && strings.Contains(data, "multipart/report"):
			dsns++
		case m.From == "orders@shop2.example" && strings.Contains(data, "(spamrun, from userid "+strconv.Itoa(b.UID)+")"):
			bMail++
		default:
			t.Errorf("the internet got a message from <%s> to %v that is neither a DSN to shop1 nor shop2's:\n%s", m.From, m.To, header(m.Data))
		}
	}
	if dsns != wantDSNs || bMail != 2 || len(got) != wantMsgs {
		t.Errorf("the internet got %d messages: %d DSNs to shop1 (want %d), %d of shop2's (want 2)", len(got), dsns, wantDSNs, bMail)
	}

	t.Run("incidents and status name the doors", func(t *testing.T) {
		var incs []spamrun.Incident
		if err := json.Unmarshal([]byte(h.operator(t, "incidents", "--json", "shop1")), &incs); err != nil {
			t.Fatalf("spamrun incidents --json: %v", err)
		}
		if len(incs) != 1 || incs[0].Count != doorsMaxSpam+1 || len(incs[0].Messages) != doorsMaxSpam+1 {
			t.Fatalf("spamrun incidents --json shop1: %+v; want one incident of %d messages", incs, doorsMaxSpam+1)
		}
		for i, m := range incs[0].Messages {
			d := doors[i]
			if m.Evidence.UID != a.UID || m.Evidence.Door != d.name || m.Evidence.Destination != d.destination || m.Sender != senders[i] {
				t.Errorf("incident message %d: <%s> from UID %d by %q to %q; want <%s> from UID %d by %q to %q",
					i+1, m.Sender, m.Evidence.UID, m.Evidence.Door, m.Evidence.Destination, senders[i], a.UID, d.name, d.destination)
			}
		}
		// status shows the three doors most used, incidents show five.
		text := h.operator(t, "status", "shop1")
		if want := "doors:       sendmail (2), smtp-local (1), smtp-redirected to 127.0.0.1:25 (1)\n"; !strings.Contains(text, "disabled since") || !strings.Contains(text, want) {
			t.Errorf("spamrun status shop1 lacks %q:\n%s", want, text)
		}
		show := h.operator(t, "incidents", "show", incs[0].ID)
		for _, want := range []string{"sendmail", "smtp-local", "smtp-redirected to 127.0.0.1:25", "smtp-redirected to " + doorsMX4 + ":25", "smtp-redirected to [" + doorsMX6 + "]:587"} {
			if !strings.Contains(show, want) {
				t.Errorf("spamrun incidents show %s lacks %q:\n%s", incs[0].ID, want, show)
			}
		}
		t.Logf("spamrun status shop1:\n%s\nspamrun incidents show %s:\n%s", text, incs[0].ID, show)
	})

	// spamrun doctor tries the doors as shop1's user. The MTA's programs
	// of this machine are open (its /usr/sbin/sendmail is Postfix's, and
	// postdrop everyone's; install.sh locks them only with the default
	// prefix), so only the SMTP doors are judged here.
	t.Run("doctor", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, h.opbin(), "doctor", "--site", "shop1", "--remote", doorsMX4, "--json")
		cmd.Env = withoutConfig(os.Environ())
		out, err := cmd.Output()
		var exit *exec.ExitError
		if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
			t.Fatalf("spamrun doctor: %v\n%s", err, out)
		}
		var rep doctor.Report
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("spamrun doctor --json: %v\n%s", err, out)
		}
		if len(rep.Sites) != 1 || rep.Sites[0].UID != a.UID {
			t.Fatalf("spamrun doctor --site shop1 tried %+v", rep.Sites)
		}
		want := map[string]doctor.Status{
			"127.0.0.1:25": doctor.Through, "[::1]:25": doctor.Through, "127.0.0.1:587": doctor.Through,
			doorsMX4 + ":25": doctor.Through, doorsMX4 + ":465": doctor.Closed, doorsMX4 + ":587": doctor.Through,
		}
		for _, d := range rep.Sites[0].Doors {
			t.Logf("doctor: %-28s %-12s %-16s %s", d.Name, d.Kind, d.Label(), d.Seen)
			if d.Kind != doctor.SMTPLocal && d.Kind != doctor.SMTPOutside {
				continue
			}
			if w, ok := want[d.Name]; !ok || d.Status != w {
				t.Errorf("doctor: SMTP door %s is %s (%s), want %q", d.Name, d.Label(), d.Seen, w)
			}
			delete(want, d.Name)
		}
		for name := range want {
			t.Errorf("doctor did not try the SMTP door %s", name)
		}
	})
	t.Logf("every door tried in %v", time.Since(began).Round(100*time.Millisecond))
}

// newDoorsInstall installs spamrun into a new prefix with install.sh, as
// newHostInstall does, and configures it for TestEveryDoor: Postfix on
// 127.0.0.1:25 as the relay, the listener on port of both loopback
// addresses, the lock redirecting there, hold mode, and sites shop1 and
// shop2 for two new site users.
func newDoorsInstall(t *testing.T, port int) *hostInstall {
	t.Helper()
	spamruntest.NeedSiteUsers(t)
	spamruntest.NeedCommand(t, "groupadd", "passwd")
	h := &hostInstall{t: t, group: randomName("spamrun-d")}
	prefix, err := os.MkdirTemp("/tmp", "spamrun-doors-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(prefix) })
	if err := os.Chmod(prefix, 0o755); err != nil {
		t.Fatal(err)
	}
	h.prefix = prefix
	h.bin = filepath.Join(prefix, "usr/local/sbin/spamrun-sendmail")
	h.config = filepath.Join(prefix, "etc/spamrun/spamrun.toml")
	h.state = filepath.Join(prefix, "var/lib/spamrun")
	h.spool = filepath.Join(prefix, "var/spool/spamrun")
	removeInstallUser(t, h.group)
	h.install("--no-divert")
	g, err := user.LookupGroup(h.group)
	if err != nil {
		t.Fatalf("install.sh did not create the group: %v", err)
	}
	h.gid, _ = strconv.Atoi(g.Gid)
	h.checkInstalled()

	h.a = addSiteUser(t, randomName("srd")+"a", "shop1")
	h.b = addSiteUser(t, randomName("srd")+"b", "shop2")
	h.siteFiles = filepath.Join(prefix, "site")
	if err := os.Mkdir(h.siteFiles, 0o755); err != nil {
		t.Fatal(err)
	}
	h.writeSiteFile(h.config, fmt.Sprintf(`state_dir = %q
spool_dir = %q
hostname = %q
article_url = %q
syslog = false
egress = "redirect"

[relay]
smtp = "127.0.0.1:25"
starttls = "off"
timeout = "20s"

[queue]
interval = "5s"

[smtpd]
listen = ["127.0.0.1:%d", "[::1]:%d"]
trusted_users = ["root"]

[policy]
max_spam = %d
window = "1h"
hold_for = "1h"
count = "messages"

[sites.shop1]
user = %q
domains = ["shop1.example"]

[sites.shop2]
user = %q
domains = ["shop2.example"]
`, h.state, h.spool, testHost, testArticle, port, port, doorsMaxSpam, h.a.Login, h.b.Login))
	if err := os.Chown(h.config, 0, h.gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(h.config, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(h.config); err != nil {
		t.Fatalf("the test's configuration: %v", err)
	}
	return h
}

// removeInstallUser removes the user and group install.sh creates, at the
// test's end: registered before the script runs, it runs after every
// process of the user has ended and the site users are gone.
func removeInstallUser(t *testing.T, group string) {
	t.Cleanup(func() {
		if _, err := user.Lookup(group); err == nil {
			if out, err := exec.Command("userdel", group).CombinedOutput(); err != nil {
				t.Errorf("userdel %s: %v: %s", group, err, out)
			}
		}
		if _, err := user.LookupGroup(group); err == nil {
			if out, err := exec.Command("groupdel", group).CombinedOutput(); err != nil {
				t.Errorf("groupdel %s: %v: %s", group, err, out)
			}
		}
	})
}

// opbin is the installed operator command.
func (h *hostInstall) opbin() string { return filepath.Join(h.prefix, "usr/local/sbin/spamrun") }

// startServe runs the installed spamrun serve as the systemd unit does:
// as the installation's user and group, umask 0007, with the installed
// configuration. It waits, up to 30 seconds, until the listener greets on
// both loopback addresses, and stops it at the test's end. The returned
// buffer holds its log.
func (h *hostInstall) startServe(t *testing.T, port int) *syncbuf.Buffer {
	t.Helper()
	u, err := user.Lookup(h.group)
	if err != nil {
		t.Fatal(err)
	}
	log := new(syncbuf.Buffer)
	cmd := exec.Command("setpriv", "--reuid="+u.Uid, "--regid="+u.Gid, "--clear-groups", "--",
		"/bin/sh", "-c", `umask 0007 && exec "$0" "$@"`, h.opbin(), "serve", "-v")
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("spamrun serve: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("spamrun serve did not end within 15s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("spamrun serve:\n%s", log)
		}
	})
	for _, addr := range []string{"127.0.0.1", "::1"} {
		addr = net.JoinHostPort(addr, strconv.Itoa(port))
		deadline := time.Now().Add(30 * time.Second)
		for {
			greeting, err := greet(addr)
			if err == nil && strings.Contains(greeting, "ESMTP spamrun") {
				break
			}
			select {
			case err := <-exited:
				t.Fatalf("spamrun serve ended before its listener on %s greeted: %v\n%s", addr, err, log)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("spamrun serve: no greeting on %s within 30s (%q, %v):\n%s", addr, greeting, err, log)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return log
}

// greet connects to addr and returns the first line it says.
func greet(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	c.Write([]byte("QUIT\r\n"))
	return line, err
}

// operator runs the installed operator command as root, as an operator
// would, and returns what it printed; it fails the test when it fails.
func (h *hostInstall) operator(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.opbin(), args...)
	cmd.Env = withoutConfig(os.Environ())
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			stderr = exit.Stderr
		}
		t.Fatalf("spamrun %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return string(out)
}

// doorsStatus is what TestEveryDoor reads of spamrun status --json SITE.
type doorsStatus struct {
	Disabled bool `json:"disabled"`
	Spam     int  `json:"spam"`
	Held     int  `json:"held"`
}

func (h *hostInstall) status(t *testing.T, site string) doorsStatus {
	t.Helper()
	var st doorsStatus
	out := h.operator(t, "status", "--json", site)
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("spamrun status --json %s: %v\n%s", site, err, out)
	}
	return st
}

// quarantined returns the quarantine's messages of site.
func (h *hostInstall) quarantined(site string) []*spool.Entry {
	h.t.Helper()
	s, err := spool.Open(h.spool)
	if err != nil {
		h.t.Fatal(err)
	}
	all, err := s.Quarantine()
	if err != nil {
		h.t.Fatal(err)
	}
	var of []*spool.Entry
	for _, e := range all {
		if e.Site == site {
			of = append(of, e)
		}
	}
	return of
}

// waitSpoolEmpty waits until the spool holds nothing of site, its DSNs
// included, outside the quarantine.
func (h *hostInstall) waitSpoolEmpty(t *testing.T, site string, d time.Duration, log *syncbuf.Buffer) {
	t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(50 * time.Millisecond) {
		left := h.entries(site)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, e := range left {
				t.Errorf("still in the spool: %s kind %q %s from <%s> to %v: %s", e.ID, e.Kind, e.State, e.Sender, e.Recipients, e.LastError)
			}
			t.Fatalf("site %s's spool not empty after %v; spamrun serve:\n%s", site, d, log)
		}
	}
}

// freeLoopbackPort returns a port free on both 127.0.0.1 and ::1.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l6, err := net.Listen("tcp", net.JoinHostPort("::1", strconv.Itoa(port)))
		l.Close()
		if err == nil {
			l6.Close()
			return port
		}
	}
	t.Fatal("no port free on both 127.0.0.1 and ::1")
	return 0
}

// headerTo returns the address in a message's To field.
func headerTo(t *testing.T, msg []byte) string {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(string(msg)))
	if err != nil {
		t.Fatalf("reading the message: %v", err)
	}
	addr, err := mail.ParseAddress(m.Header.Get("To"))
	if err != nil {
		t.Fatalf("its To field: %v", err)
	}
	return addr.Address
}

// withoutConfig is env without SPAMRUN_CONFIG, so that the installed
// commands read the configuration they were built for.
func withoutConfig(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "SPAMRUN_CONFIG=") })
}
