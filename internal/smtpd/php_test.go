package smtpd_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun/spamruntest"
)

const phpMailerAutoload = "/usr/share/php/libphp-phpmailer/autoload.php"

// phpMailerSMTP is what a contact form does with PHPMailer's isSMTP() to
// localhost: it claims to be another site in HELO, MAIL FROM and the
// header, and logs in with credentials of its own.
const phpMailerSMTP = `<?php
require '` + phpMailerAutoload + `';
use PHPMailer\PHPMailer\PHPMailer;
[$host, $port, $to] = [$argv[1], (int)$argv[2], $argv[3]];
$mail = new PHPMailer(true);
$mail->isSMTP();
$mail->Host = $host;
$mail->Port = $port;
$mail->SMTPAutoTLS = false;
$mail->Helo = 'other-site.example';
$mail->setFrom('info@other-site.example', 'Other Site');
$mail->addAddress($to);
$mail->addBCC('hidden@example.net');
$mail->addCustomHeader('X-PHP-Originating-Script', '0:forged.php');
$mail->Subject = 'Your message to us';
$mail->Body = "Thank you for writing; we answer within two days.";
try {
	$mail->send();
	echo "sent\n";
} catch (Exception $e) {
	echo "failed: ", $mail->ErrorInfo, "\n";
	exit(1);
}
`

// fsockopenSMTP is the hand-written SMTP dialogue of an uploaded mailer.
const fsockopenSMTP = `<?php
[$host, $port, $to] = [$argv[1], (int)$argv[2], $argv[3]];
$s = fsockopen($host, $port, $errno, $errstr, 10);
if (!$s) { echo "connect: $errstr\n"; exit(1); }
function reply($s) { $all = ''; do { $l = fgets($s, 4096); $all .= $l; } while ($l !== false && $l[3] === '-'); return $all; }
function say($s, $line) { fwrite($s, $line . "\r\n"); return reply($s); }
echo reply($s);
echo say($s, 'HELO localhost');
echo say($s, 'MAIL FROM:<admin@bank.example>');
echo say($s, "RCPT TO:<$to>");
echo say($s, 'DATA');
echo say($s, "From: admin@bank.example\r\nTo: $to\r\nSubject: Account notice\r\n\r\nPlease read.\r\n.");
echo say($s, 'QUIT');
`

func TestPHPClients(t *testing.T) {
	spamruntest.NeedSiteUsers(t)
	php := spamruntest.NeedCommand(t, "php", "php-cli")
	if _, err := os.Stat(phpMailerAutoload); err != nil {
		spamruntest.Missing(t, "PHPMailer (apt-get install libphp-phpmailer)")
	}
	site := spamruntest.AddSiteUser(t, "sdp")
	l := startListener(t, "")
	dir := sharedDir(t)
	host, port := splitHostPort(t, l.tcp)
	run := func(name, script string) string {
		t.Helper()
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := site.Command(ctx, nil, php, file, host, port, "customer@example.org").CombinedOutput()
		if err != nil {
			t.Fatalf("%s as %s: %v\n%s", name, site.Login, err, out)
		}
		return string(out)
	}
	if out := run("contact.php", phpMailerSMTP); !strings.Contains(out, "sent") {
		t.Fatalf("PHPMailer: %s", out)
	}
	out := run("mailer.php", fsockopenSMTP)
	if !strings.Contains(out, "ESMTP spamrun") || strings.Count(out, "250 ") < 4 {
		t.Fatalf("fsockopen dialogue:\n%s", out)
	}
	got := l.sink.WaitFor(t, 2, 20*time.Second)
	if len(got[0].To) != 2 {
		t.Errorf("PHPMailer's Bcc recipient: relayed to %v", got[0].To)
	}
	for _, m := range got {
		if !strings.Contains(string(m.Data), "from userid "+strconv.Itoa(site.UID)+")") {
			t.Errorf("a message relayed without the site's UID:\n%s", m.Data)
		}
		if strings.Contains(string(m.Data), "hidden@example.net") {
			t.Errorf("the Bcc recipient is in the header:\n%s", m.Data)
		}
	}
	if strings.Count(l.log.String(), "site="+site.Login+" ") < 2 {
		t.Errorf("the messages were not the site's:\n%s", l.log)
	}
}

func splitHostPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	return strings.Trim(addr[:i], "[]"), addr[i+1:]
}
