package sitediff

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// payload is n characters of base64 that are no image.
func payload(n int) string {
	r := rand.New(rand.NewPCG(1, 2))
	raw := make([]byte, n*3/4+3)
	for i := range raw {
		raw[i] = byte(r.Uint32())
	}
	raw[0] = 0x78 // not an image's magic
	return base64.StdEncoding.EncodeToString(raw)[:n]
}

// find returns the first marker named name, or nil.
func find(ms []Marker, name string) *Marker {
	for i := range ms {
		if ms[i].Name == name {
			return &ms[i]
		}
	}
	return nil
}

func TestScanMarkers(t *testing.T) {
	for _, tc := range []struct {
		name, src, marker string
		line              int
		weight            float64 // at least
		excerpt           string
	}{
		{"mail call", "<?php\n// send it\nmail($to, 'Hi', $body);\n", "mail-call", 3, 1, "mail($to, 'Hi', $body);"},
		{"mail in upper case", "<?php\nMAIL($to, 'Hi', $body);", "mail-call", 2, 1, "MAIL("},
		{"mail in foreach", "<?php\nforeach ($list as $to) {\n  $n++;\n  @mail($to, $s, $b);\n}\n", "mail-loop", 4, 4, "@mail("},
		{"mail in foreach without braces", "<?php\nforeach ($list as $to)\n  mail($to, $s, $b);\n", "mail-loop", 3, 4, "mail("},
		{"mail in while", "<?php\nwhile ($row = next($rows)) { mail($row, 's', 'b'); }", "mail-loop", 2, 4, ""},
		{"mail in for", "<?php\nfor ($i = 0; $i < count($l); $i++) { mail($l[$i], 's', 'b'); }", "mail-loop", 2, 4, ""},
		{"smtp socket port 25", "<?php\n$s = fsockopen($mx, 25, $errno, $errstr, 30);\n", "smtp-socket", 2, 5, "fsockopen($mx, 25"},
		{"smtp socket 587 in URL", "<?php\n$s = stream_socket_client('tcp://smtp.example.com:587', $e, $es);", "smtp-socket", 2, 5, ""},
		{"phpmailer loop", "<?php\nuse PHPMailer\\PHPMailer\\PHPMailer;\n$m = new PHPMailer();\nforeach ($emails as $e) {\n  $m->addAddress($e);\n  $m->send();\n  $m->clearAddresses();\n}\n", "mailer-loop", 5, 4, "addAddress"},
		{"swiftmailer loop", "<?php\n$msg = new Swift_Message('x');\nforeach ($to as $r) { $msg->setTo($r); $mailer->send($msg); }", "mailer-loop", 3, 4, ""},
		{"eval chain", "<?php\neval(gzinflate(base64_decode($x)));\n", "eval-decoded", 2, 8, "eval(gzinflate(base64_decode($x)));"},
		{"eval chain str_rot13", "<?php\n@eval(str_rot13(gzuncompress(base64_decode('eJw='))));\n", "eval-decoded", 2, 8, ""},
		{"eval of decoded variable", "<?php\n$c = base64_decode($p);\neval($c);\n", "eval-decoded", 3, 6, "eval($c);"},
		{"assert chain", "<?php\nassert(base64_decode($_x));", "eval-decoded", 2, 8, ""},
		{"create_function chain", "<?php\n$f = create_function('', gzinflate(base64_decode($z)));", "eval-decoded", 2, 8, ""},
		{"eval of request", "<?php\neval($_POST['code']);", "eval-request", 2, 9, "eval($_POST['code']);"},
		{"obfuscation", "<?php\n$x = gzinflate(base64_decode($d));", "obfuscation", 2, 3, ""},
		{"preg_replace /e", "<?php\npreg_replace('/.*/e', $_REQUEST['c'], '');", "preg-replace-e", 2, 7, ""},
		{"preg_replace /e hash delimiters", "<?php\npreg_replace(\"#x#ie\", $code, 'x');", "preg-replace-e", 2, 7, ""},
		{"long base64 literal", "<?php\n$p = '" + payload(1200) + "';\n", "long-encoded", 2, 5, "$p = '"},
		{"long hex escapes", "<?php\n$p = \"" + strings.Repeat(`\x41`, 300) + "\";\n", "long-encoded", 2, 5, ""},
		{"long base64 in heredoc", "<?php\n$p = <<<EOT\n" + payload(1500) + "\nEOT;\neval(base64_decode($p));\n", "long-encoded", 3, 5, ""},
		{"header injection", "<?php\n$headers = \"From: \" . $_POST['email'] . \"\\r\\n\";\nmail('info@shop.example', 'Contact', $msg, $headers);\n", "header-injection", 3, 5, "mail('info@shop.example'"},
		{"header injection in subject", "<?php\nmail($admin, $_GET['subject'], $msg);", "header-injection", 2, 5, ""},
		{"recipient from request", "<?php\nmail($_REQUEST['to'], 's', 'b');", "mail-recipient-from-request", 2, 5, ""},
		{"recipients through foreach", "<?php\n$list = explode(\"\\n\", $_POST['emails']);\nforeach ($list as $to) {\n mail(trim($to), $s, $b);\n}\n", "mail-recipient-from-request", 4, 5, ""},
		{"variable function", "<?php\n$f = 'sys'.'tem';\n$f($_POST['cmd']);", "request-called", 3, 9, "$f($_POST['cmd']);"},
		{"function from request", "<?php\n$_GET['f']($_GET['a']);", "request-called", 2, 9, ""},
		{"tainted variable function", "<?php\n$fn = $_COOKIE['x'];\n$fn('id');", "request-called", 3, 9, ""},
		{"cookie shell", "<?php\n$a = @$_COOKIE['a']; $b = @$_COOKIE['b']; $a($b);", "cookie-shell", 2, 7, "@$_COOKIE['a']"},
		{"command from request", "<?php\necho shell_exec($_GET['c']);", "command-from-request", 2, 9, ""},
		{"results log", "<?php\n$fp = fopen('results.txt', 'a');\nfwrite($fp, $data);", "results-log", 2, 3, "fopen('results.txt', 'a');"},
		{"results log put contents", "<?php\nfile_put_contents(\"../log.txt\", $msg, FILE_APPEND);", "results-log", 2, 3, ""},
		{"password mailed", "<?php\n$msg = \"User: \".$_POST['email'].\"\\nPass: \".$_POST['password'].\"\\n\";\nmail($to, 'Login', $msg);\n", "password-mailed", 2, 6, "$_POST['password']"},
		{"short open tag", "<?=\nmail($x, 's', 'b') ?>", "mail-call", 2, 1, ""},
		{"after GIF header", "GIF89a\x00\x01\xff<?php eval($_POST['e']); ?>", "eval-request", 1, 9, "GIF89a???<?php"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := Scan([]byte(tc.src))
			m := find(ms, tc.marker)
			if m == nil {
				t.Fatalf("no %s in %+v", tc.marker, ms)
			}
			if m.Line != tc.line || m.Weight < tc.weight || !strings.Contains(m.Excerpt, tc.excerpt) {
				t.Errorf("got %+v, want line %d, weight ≥ %v, excerpt with %q", *m, tc.line, tc.weight, tc.excerpt)
			}
		})
	}
}

// TestScanFalsePositives guards against markers in what legitimate code
// does all the time.
func TestScanFalsePositives(t *testing.T) {
	image := base64.StdEncoding.EncodeToString(append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{1, 2, 3, 250}, 600)...))
	for _, tc := range []struct {
		name, src string
		max       float64 // the most any marker may weigh
		absent    []string
	}{
		{"mail in comments", "<?php\n// mail($to, $s, $b) is not used here\n# mail($a)\n/* mail($_POST['to'], 'x', 'y'); eval(base64_decode($x)); */\n$x = 1;\n", 0, []string{"mail-call"}},
		{"mail in a string", "<?php\necho 'Please mail(us) at info@example.com';\n", 0, []string{"mail-call"}},
		{"mail as a word", "<?php\n$mail = new Mailer(); $mail->mail($to); $this->mail = 1; function mail_it() {}\n", 0, nil},
		{"mail outside PHP", "<html><a href=\"mailto:x\" onclick=\"mail(1)\">mail</a></html>", 0, nil},
		{"image in a template", "<?php ?>\n<img src=\"<?php echo 'data:image/png;base64," + image + "'; ?>\">\n", weightEncodedImage, []string{"long-encoded"}},
		{"image in a PHP literal", "<?php\n$logo = '" + image + "';\n", weightEncodedImage, []string{"long-encoded"}},
		{"base64 of a token", "<?php\n$key = base64_decode(get_option('key'));\n", weightDecode, []string{"eval-decoded", "obfuscation"}},
		{"sanitised header", "<?php\n$from = filter_var($_POST['email'], FILTER_VALIDATE_EMAIL);\nmail($to, 'Contact', $msg, 'From: ' . $from);\n", weightMailCall, []string{"header-injection"}},
		{"body from the request", "<?php\nmail('me@example.com', 'Contact form', $_POST['message']);\n", weightMailCall, []string{"header-injection", "mail-recipient-from-request"}},
		{"callback", "<?php\nforeach ($hooks as $fn) { $fn($post); }\n", 0, nil},
		{"assert in tests", "<?php\nassert($count > 0);\n", 0, nil},
		{"fsockopen to https", "<?php\n$s = fsockopen('ssl://api.example.com', 443, $e, $es, 10);\n", weightRawSocket, []string{"smtp-socket"}},
		{"reading a .txt", "<?php\n$fp = fopen('readme.txt', 'r');\n", 0, nil},
		{"login form without mail", "<?php\nif (wp_check_password($_POST['password'], $hash)) { login(); }\n", 0, nil},
		{"unterminated", "<?php\n$x = 'never closed\nmail($a, $b, $c);", 0, nil},
		{"no PHP", "just text with mail($a) and eval(base64_decode($x))", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := Scan([]byte(tc.src))
			for _, m := range ms {
				if m.Weight > tc.max {
					t.Errorf("%+v weighs more than %v", m, tc.max)
				}
			}
			for _, name := range tc.absent {
				if m := find(ms, name); m != nil {
					t.Errorf("%+v", *m)
				}
			}
		})
	}
}

func TestScanBoundsRepeats(t *testing.T) {
	src := "<?php\n" + strings.Repeat("mail($a, $b, $c);\n", 500)
	ms := Scan([]byte(src))
	if len(ms) != maxPerMarker || ms[0].Line != 2 || ms[2].Line != 4 {
		t.Errorf("%d markers: %+v", len(ms), ms)
	}
}

func TestScanExcerptOfLongLine(t *testing.T) {
	src := "<?php $p = '" + payload(50000) + "'; eval(gzinflate(base64_decode($p)));"
	for _, m := range Scan([]byte(src)) {
		if len(m.Excerpt) > excerptLen+10 {
			t.Errorf("%s: %d bytes of excerpt", m.Name, len(m.Excerpt))
		}
	}
	if m := find(Scan([]byte(src)), "eval-decoded"); m == nil || !strings.Contains(m.Excerpt, "eval(gzinflate") {
		t.Errorf("eval-decoded: %+v", m)
	}
}

func TestHtaccessMarkers(t *testing.T) {
	bad := "RewriteEngine On\nAddType application/x-httpd-php .jpg .png\n"
	if ms := htaccessMarkers([]byte(bad)); len(ms) != 1 || ms[0].Line != 2 || ms[0].Weight < StrongWeight {
		t.Errorf("AddType: %+v", ms)
	}
	bad = "<FilesMatch \"\\.(jpe?g|gif)$\">\nSetHandler application/x-httpd-php\n</FilesMatch>\n"
	if ms := htaccessMarkers([]byte(bad)); len(ms) != 1 || ms[0].Line != 2 {
		t.Errorf("SetHandler: %+v", ms)
	}
	good := "AddHandler application/x-httpd-php81 .php\n<FilesMatch \"\\.(jpg|png)$\">\nHeader set Cache-Control max-age=3600\n</FilesMatch>\n"
	if ms := htaccessMarkers([]byte(good)); len(ms) != 0 {
		t.Errorf("the PHP version of .php files: %+v", ms)
	}
}

func FuzzScan(f *testing.F) {
	f.Add([]byte("<?php eval(gzinflate(base64_decode($x)));"))
	f.Add([]byte("<?php $h = <<<'X'\nabc\nX;\n mail($_POST['a'], 'x', 'y'); ?> html <?= 1"))
	f.Add([]byte("<?php for (;;) { \"\\"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ms := Scan(data)
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, m := range ms {
			if m.Line < 1 || m.Line > lines || m.Weight <= 0 || m.Name == "" || len(m.Excerpt) > 3*excerptLen+8 {
				t.Fatalf("bad marker %+v in %d lines", m, lines)
			}
		}
	})
}

func TestScanFile(t *testing.T) {
	dir := t.TempDir()
	mailer := filepath.Join(dir, "m.php")
	if err := os.WriteFile(mailer, []byte("<?php\nforeach ($list as $to) { mail($to, $s, $b); }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ScanFile(mailer)
	if err != nil || len(got) == 0 {
		t.Fatalf("ScanFile(mailer) = %v, %v", got, err)
	}
	link := filepath.Join(dir, "link.php")
	if err := os.Symlink(mailer, link); err != nil {
		t.Fatal(err)
	}
	if got, err := ScanFile(link); err == nil {
		t.Errorf("ScanFile followed a link: %v", got)
	}
	if got, err := ScanFile(dir); err == nil {
		t.Errorf("ScanFile read a directory: %v", got)
	}
}
