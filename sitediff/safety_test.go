//go:build unix

package sitediff

import (
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// recordOpens makes o record every file it opens.
func recordOpens(o *Options) *[]string {
	var mu sync.Mutex
	opened := new([]string)
	o.open = func(name string) (io.ReadCloser, error) {
		mu.Lock()
		*opened = append(*opened, name)
		mu.Unlock()
		return openRegular(name)
	}
	return opened
}

// compareWithin runs the comparison and fails the test if it hangs.
func compareWithin(t *testing.T, site, snapshot string, o *Options) *Report {
	t.Helper()
	type result struct {
		r   *Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := CompareWithOptions(site, snapshot, o)
		done <- result{r, err}
	}()
	select {
	case res := <-done:
		if res.err != nil {
			t.Fatal(res.err)
		}
		return res.r
	case <-time.After(20 * time.Second):
		t.Fatal("the comparison hangs")
		return nil
	}
}

func TestSymlinksAreNotFollowed(t *testing.T) {
	base := t.TempDir()
	site, snapshot, outside := filepath.Join(base, "site"), filepath.Join(base, "snapshot"), filepath.Join(base, "other-site")
	writeTree(t, site, map[string]string{"index.php": "<?php echo 1;\n", "sub/page.php": "<?php echo 2;\n"})
	writeTree(t, snapshot, map[string]string{"index.php": "<?php echo 1;\n", "sub/page.php": "<?php echo 2;\n"})
	writeFile(t, outside, "wp-content/uploads/mailer.php", obfuscatedMailer(), t0)
	for link, target := range map[string]string{
		"passwd":         "/etc/passwd",
		"neighbour":      outside,
		"sub/up":         "../../other-site/wp-content",
		"sub/loop":       ".",
		"ping":           "pong",
		"pong":           "ping",
		"sub/index-link": "../index.php", // inside: fine
	} {
		if err := os.Symlink(target, filepath.Join(site, link)); err != nil {
			t.Fatal(err)
		}
	}
	o := &Options{All: true, Content: true}
	opened := recordOpens(o)
	r := compareWithin(t, site, snapshot, o)
	for _, f := range r.Files {
		t.Logf("%-16s %-8s %-7s %5.1f %-40s %v", f.Path, f.Change, f.Type, f.Score, f.Target, f.Why)
		if strings.Contains(f.Path, "mailer") || find(f.Markers, "eval-decoded") != nil {
			t.Errorf("the walk left the root: %+v", f)
		}
	}
	for _, name := range *opened {
		if !strings.HasPrefix(name, site+"/") && !strings.HasPrefix(name, snapshot+"/") {
			t.Errorf("opened %s", name)
		}
		switch filepath.Base(name) {
		case "passwd", "neighbour", "up", "loop", "ping", "pong", "index-link":
			t.Errorf("opened the link %s", name)
		}
	}
	for link, outsideWant := range map[string]bool{"passwd": true, "neighbour": true, "sub/up": true, "sub/loop": false, "ping": false, "sub/index-link": false} {
		f := byPath(r, link)
		if f == nil {
			t.Errorf("link %s not listed", link)
			continue
		}
		if f.Type != "symlink" || f.Change != New || f.Target == "" || f.Outside != outsideWant {
			t.Errorf("link %s: %+v", link, f)
		}
		if outsideWant && (find(f.Markers, "link-outside-root") == nil || !strings.Contains(strings.Join(f.Why, ";"), "outside the root")) {
			t.Errorf("link %s is not flagged: %+v", link, f)
		}
	}
	if f := byPath(r, "passwd"); f == nil || f.Target != "/etc/passwd" {
		t.Errorf("passwd: %+v", f)
	}
	if r.Stats.SiteFiles != 9 {
		t.Errorf("%d site files, want 2 files and 7 links", r.Stats.SiteFiles)
	}
}

func TestSpecialFilesAreNotOpened(t *testing.T) {
	site, snapshot := t.TempDir(), t.TempDir()
	writeTree(t, site, map[string]string{"index.php": "<?php echo 1;\n"})
	if err := syscall.Mkfifo(filepath.Join(site, "pipe.php"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A fifo in place of a file of the snapshot that must be hashed.
	writeFile(t, snapshot, "index.php", "<?php echo 2;\n", t0.Add(time.Hour))
	sock := filepath.Join(site, "s.sock")
	if len(sock) < 100 { // the limit of a socket's path
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
	}
	o := &Options{All: true}
	opened := recordOpens(o)
	r := compareWithin(t, site, snapshot, o)
	reasons := make(map[string]string)
	for _, s := range r.Skipped {
		reasons[s.Path] = s.Reason
	}
	if reasons["pipe.php"] != "a fifo, not opened" {
		t.Errorf("skipped %+v", r.Skipped)
	}
	if len(sock) < 100 && reasons["s.sock"] != "a socket, not opened" {
		t.Errorf("skipped %+v", r.Skipped)
	}
	for _, name := range *opened {
		if strings.HasSuffix(name, "pipe.php") || strings.HasSuffix(name, ".sock") {
			t.Errorf("opened %s", name)
		}
	}
	if byPath(r, "pipe.php") != nil || r.Stats.Skipped != len(r.Skipped) {
		t.Errorf("report %+v", r)
	}
	// A fifo swapped in after the walk is refused by the open, not waited on.
	if err := os.Remove(filepath.Join(site, "index.php")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(site, "index.php"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		f, err := openRegular(filepath.Join(site, "index.php"))
		if err == nil {
			f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("open of a fifo: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("opening a fifo blocks")
	}
}

// TestUnreadable checks that what cannot be read is skipped with the
// reason and does not stop the comparison. The tests run as root, whom
// mode 000 does not stop, so the permission errors are injected through
// the file system seam; as another user the real mode bits are used too.
func TestUnreadable(t *testing.T) {
	site, snapshot := t.TempDir(), t.TempDir()
	files := map[string]string{"index.php": "<?php echo 1;\n", "secret/config.php": "<?php $a = 1;\n", "ok/page.php": "<?php echo 2;\n"}
	writeTree(t, site, files)
	writeTree(t, snapshot, files)
	writeFile(t, site, "locked.php", "<?php eval($_POST['x']);\n", t0)
	writeFile(t, site, "index.php", "<?php echo 3;\n", t0.Add(time.Minute)) // to be hashed
	denied := func(name string) error { return &fs.PathError{Op: "open", Path: name, Err: syscall.EACCES} }
	o := &Options{
		readDir: func(name string) ([]os.DirEntry, error) {
			if filepath.Base(name) == "secret" {
				return nil, denied(name)
			}
			return os.ReadDir(name)
		},
		open: func(name string) (io.ReadCloser, error) {
			if filepath.Base(name) == "locked.php" || name == filepath.Join(snapshot, "index.php") {
				return nil, denied(name)
			}
			return openRegular(name)
		},
	}
	r := compareWithin(t, site, snapshot, o)
	got := make(map[string]string)
	for _, s := range r.Skipped {
		got[s.Root+":"+s.Path] = s.Reason
	}
	want := map[string]string{
		"site:secret":        "open: permission denied",
		"snapshot:secret":    "open: permission denied",
		"site:locked.php":    "open: permission denied",
		"snapshot:index.php": "open: permission denied",
	}
	if len(got) != len(want) {
		t.Errorf("skipped %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("skipped %s: %q, want %q", k, got[k], v)
		}
	}
	if f := byPath(r, "locked.php"); f == nil || f.Change != New {
		t.Errorf("locked.php: %+v", f)
	}
	if f := byPath(r, "index.php"); f == nil || f.Change != Changed || !strings.Contains(strings.Join(f.Why, ";"), "could not be compared") {
		t.Errorf("index.php: %+v", f)
	}
	if byPath(r, "ok/page.php") != nil || r.Stats.SiteFiles != 3 {
		t.Errorf("the rest was not compared: %+v", r)
	}

	if os.Geteuid() == 0 {
		return // mode 000 does not stop root
	}
	if err := os.Chmod(filepath.Join(site, "locked.php"), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(site, "secret"), 0); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(filepath.Join(site, "secret"), 0o755)
	r = compareWithin(t, site, snapshot, nil)
	got = make(map[string]string)
	for _, s := range r.Skipped {
		got[s.Root+":"+s.Path] = s.Reason
	}
	if got["site:secret"] == "" || got["site:locked.php"] == "" {
		t.Errorf("mode 000: skipped %v", got)
	}
}
