package spool_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spamrun/spamrun/spool"
)

// headerLen returns the length of the header line of message id as
// written, without its newline.
func headerLen(t *testing.T, dir, box, id string) int {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, box, id))
	if err != nil {
		t.Fatal(err)
	}
	n := bytes.IndexByte(raw, '\n')
	if n < 0 {
		t.Fatalf("%s has no header line", id)
	}
	return n
}

// TestHeaderLimit: a header of exactly MaxHeader bytes is accepted, read,
// listed and updated with what the runner records; one byte more is
// refused by Add with ErrTooLarge, and leaves nothing behind.
func TestHeaderLimit(t *testing.T) {
	dir := t.TempDir()
	s, _ := spool.Open(dir)
	data := []byte("Subject: x\r\n\r\nbody\r\n")
	padded := func(id string, n int) *spool.Entry {
		e := newEntry("shop1", t0)
		e.ID = id
		e.Evidence.Cwd = "/" + strings.Repeat("d", n)
		return e
	}
	probe := padded("20261102T090000.000000-PROBE00000", 0)
	if err := s.Add(probe, data); err != nil {
		t.Fatal(err)
	}
	// IDs of one length: every byte more of Cwd is one byte more of the header.
	pad := spool.MaxHeader - headerLen(t, dir, "queue", probe.ID)

	at := padded("20261102T090000.000000-ATLIMIT000", pad)
	if err := s.Add(at, data); err != nil {
		t.Fatalf("Add at the limit: %v", err)
	}
	if n := headerLen(t, dir, "queue", at.ID); n != spool.MaxHeader {
		t.Fatalf("header of %d bytes, want exactly %d", n, spool.MaxHeader)
	}
	got, body, err := s.Read(at.ID)
	if err != nil || got.Evidence.Cwd != at.Evidence.Cwd || !bytes.Equal(body, data) {
		t.Fatalf("Read at the limit: %v", err)
	}
	// What a queue pass adds later still reads back.
	got.Attempts, got.LastError = 3, "relay: 451 4.3.0 "+strings.Repeat("try later ", 400)
	got.State, got.Reason, got.Until = spool.Quarantined, "refused by the relay: "+strings.Repeat("no ", 1000), t0.Add(time.Hour)
	if err := s.Update(got); err != nil {
		t.Fatalf("Update at the limit: %v", err)
	}
	if list, err := s.Quarantine(); err != nil || len(list) != 1 || list[0].LastError != got.LastError {
		t.Fatalf("Quarantine after Update: %d entries, %v", len(list), err)
	}

	over := padded("20261102T090000.000000-OVERLIMIT0", pad+1)
	err = s.Add(over, data)
	if !errors.Is(err, spool.ErrTooLarge) {
		t.Fatalf("Add one byte over the limit: %v, want ErrTooLarge", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprint(spool.MaxHeader+1)) || !strings.Contains(err.Error(), "fewer recipients") {
		t.Errorf("error does not say how large and what to do: %v", err)
	}
	if _, _, err := s.Read(over.ID); !errors.Is(err, spool.ErrNotFound) {
		t.Errorf("Read of the refused message: %v", err)
	}
	if tmp, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(tmp) != 0 {
		t.Errorf("tmp/ holds %d files after the refusal", len(tmp))
	}
}

// TestManyRecipients is the case that made a 4 KiB header buffer lose
// mail: a message to 5,000 recipients with long addresses is written,
// listed, read and updated.
func TestManyRecipients(t *testing.T) {
	s, _ := spool.Open(t.TempDir())
	e := newEntry("shop1", t0)
	e.Recipients = nil
	for i := range 5000 {
		local := fmt.Sprintf("member%04d.%s", i, strings.Repeat("x", 50))
		e.Recipients = append(e.Recipients, local+"@"+strings.Repeat("sub.", 60)+"club.example")
	}
	e.Evidence.Command = []string{"php", "/var/www/club/send.php", strings.Repeat("--to=a@club.example ", 200)}
	if err := s.Add(e, []byte("Subject: members\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	list, err := s.List()
	if err != nil || len(list) != 1 || !slices.Equal(list[0].Recipients, e.Recipients) {
		t.Fatalf("List: %v", err)
	}
	list[0].Recipients = list[0].Recipients[:10]
	list[0].Attempts = 1
	if err := s.Update(list[0]); err != nil {
		t.Fatal(err)
	}
	got, _, err := s.Read(e.ID)
	if err != nil || len(got.Recipients) != 10 || got.Attempts != 1 {
		t.Fatalf("Read after Update: %v", err)
	}
}

// damagedFiles are files a spool can find in its directories without
// having written them so, by what is wrong with them.
func damagedFiles(t *testing.T) map[string][]byte {
	t.Helper()
	good := func(id string, content string) []byte {
		dir := t.TempDir()
		s, _ := spool.Open(dir)
		e := newEntry("shop1", t0)
		e.ID = id
		if err := s.Add(e, []byte(content)); err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join(dir, "queue", id))
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	return map[string][]byte{
		"no newline":   []byte(`{"id":"NONEWLINE","site":"shop1"`),
		"empty":        {},
		"not json":     []byte("From: someone\r\nSubject: a message without a header\r\n\r\nhi\r\n"),
		"other id":     good("SOMEONEELSE", "Subject: x\r\n\r\ny\r\n"),
		"over limit":   bytes.Repeat([]byte("x"), spool.MaxHeader+2<<20),
		"truncated":    good("TRUNCATED", "Subject: x\r\n\r\n"+strings.Repeat("body line\r\n", 100))[:600],
		"grown":        append(good("GROWN", "Subject: x\r\n\r\ny\r\n"), "appended\r\n"...),
		"binary":       {0, 0xff, '\n', 0xfe},
		"json no size": []byte(`{"id":"JSONNOSIZE"}` + "\nSubject: x\r\n"),
	}
}

// TestDamagedKept: a damaged file in the queue is reported by List as a
// *DamagedError without hiding the others, and read as one; KeepDamaged
// moves it into quarantine with all its bytes as the content, after which
// every listing reads it. One found in quarantine stays there.
func TestDamagedKept(t *testing.T) {
	mtime := t0.Add(-time.Hour)
	for name, raw := range damagedFiles(t) {
		for _, box := range []string{"queue", "quarantine"} {
			t.Run(name+" in "+box, func(t *testing.T) {
				dir := t.TempDir()
				s, _ := spool.Open(dir)
				ok := newEntry("shop1", t0)
				if err := s.Add(ok, []byte("x")); err != nil {
					t.Fatal(err)
				}
				id := strings.ToUpper(strings.ReplaceAll(name, " ", ""))
				path := filepath.Join(dir, box, id)
				if err := os.WriteFile(path, raw, 0o640); err != nil {
					t.Fatal(err)
				}
				os.Chtimes(path, mtime, mtime)

				list, err := s.List()
				q, qerr := s.Quarantine()
				bad, rest := spool.Damaged(errors.Join(err, qerr))
				if len(bad) != 1 || bad[0].ID != id || rest != nil {
					t.Fatalf("List and Quarantine: %v, %v", err, qerr)
				}
				if len(list) != 1 || list[0].ID != ok.ID || len(q) != 0 {
					t.Errorf("the good message is hidden: queue %d, quarantine %d", len(list), len(q))
				}
				var d *spool.DamagedError
				if _, _, err := s.Read(id); !errors.As(err, &d) || d.ID != id || !errors.Is(err, spool.ErrDamaged) {
					t.Fatalf("Read: %v, want a DamagedError", err)
				}

				until := t0.Add(30 * 24 * time.Hour)
				kept, err := s.KeepDamaged(id, until)
				if err != nil || kept == nil {
					t.Fatalf("KeepDamaged: %v, %v", kept, err)
				}
				got, content, err := s.Read(id)
				if err != nil {
					t.Fatalf("Read after KeepDamaged: %v", err)
				}
				if !bytes.Equal(content, raw) {
					t.Errorf("content is not the damaged file: %d bytes, want %d", len(content), len(raw))
				}
				if got.Kind != spool.KindDamaged || got.State != spool.Quarantined || got.UID != -1 || got.Site != "" ||
					!got.Received.Equal(mtime) || !got.Until.Equal(until) || !strings.Contains(got.Reason, d.Reason) {
					t.Errorf("entry %+v", got)
				}
				list, err = s.List()
				q, qerr = s.Quarantine()
				if err != nil || qerr != nil || len(list) != 1 || len(q) != 1 || q[0].ID != id {
					t.Errorf("after KeepDamaged: queue %d (%v), quarantine %d (%v)", len(list), err, len(q), qerr)
				}
				if _, err := os.Stat(filepath.Join(dir, "queue", id)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("still in the queue: %v", err)
				}
				// Readable now: a second KeepDamaged leaves it alone.
				if again, err := s.KeepDamaged(id, until.Add(time.Hour)); again != nil || err != nil {
					t.Errorf("KeepDamaged of a readable file: %v, %v", again, err)
				}
				if err := s.Remove(id); err != nil {
					t.Errorf("Remove: %v", err)
				}
			})
		}
	}
}

// TestDamagedNotRegular: the spool's directories are writable by the
// installation's group, and the runner may be root. A symbolic link in
// the queue is damaged, never followed: it is kept as where it points,
// not as what. A FIFO is damaged too, and opening it does not wait for a
// writer.
func TestDamagedNotRegular(t *testing.T) {
	dir := t.TempDir()
	s, _ := spool.Open(dir)
	secret := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(secret, []byte("root:secret-hash:\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A link to a file that reads as a message of that ID.
	real := t.TempDir()
	rs, _ := spool.Open(real)
	e := newEntry("shop1", t0)
	e.ID = "LINKED"
	if err := rs.Add(e, []byte("x")); err != nil {
		t.Fatal(err)
	}
	for id, target := range map[string]string{"SHADOW": secret, "LINKED": filepath.Join(real, "queue", "LINKED")} {
		if err := os.Symlink(target, filepath.Join(dir, "queue", id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "queue", "FIFO"), 0o640); err != nil {
		t.Fatal(err)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		list, err := s.List()
		bad, rest := spool.Damaged(err)
		if len(list) != 0 || len(bad) != 3 || rest != nil {
			t.Errorf("List: %d entries, %v", len(list), err)
		}
		for _, id := range []string{"SHADOW", "LINKED", "FIFO"} {
			if _, _, err := s.Read(id); !errors.Is(err, spool.ErrDamaged) {
				t.Errorf("Read %s: %v, want damaged", id, err)
			}
			if _, err := s.KeepDamaged(id, t0); err != nil {
				t.Errorf("KeepDamaged %s: %v", id, err)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the spool waits on a FIFO")
	}
	for id, want := range map[string]string{"SHADOW": secret, "FIFO": ""} {
		got, content, err := s.Read(id)
		if err != nil || string(content) != want || got.Kind != spool.KindDamaged || got.State != spool.Quarantined {
			t.Errorf("%s in quarantine: %q, %v", id, content, err)
		}
	}
	if fi, err := os.Lstat(filepath.Join(dir, "quarantine", "SHADOW")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("the link itself is not replaced: %v", err)
	}
	if raw, err := os.ReadFile(secret); err != nil || string(raw) != "root:secret-hash:\n" {
		t.Errorf("the link's target changed: %q, %v", raw, err)
	}
}
