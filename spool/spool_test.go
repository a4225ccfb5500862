package spool_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spool"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func newEntry(site string, at time.Time) *spool.Entry {
	return &spool.Entry{
		Site: site, UID: 1001, Sender: "orders@shop1.example",
		Recipients: []string{"a@example.org", "b@example.net"},
		Received:   at, State: spool.Queued,
		Score:    spamrun.Score{Value: 1.5, Rules: []spamrun.RuleHit{{Name: "X", Points: 1.5, Reason: "r"}}},
		Evidence: spamrun.Evidence{Script: "1001:checkout.php", Cwd: "/var/www/shop1", Command: []string{"php-fpm: pool shop1"}, UID: 1001},
	}
}

func TestAddReadListRemove(t *testing.T) {
	s, err := spool.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("Subject: order\r\n\r\nline one\r\n.\r\nbinary \x00\xff\r\n")
	e := newEntry("shop1", t0)
	if err := s.Add(e, data); err != nil {
		t.Fatal(err)
	}
	if e.ID == "" || e.Size != int64(len(data)) {
		t.Fatalf("ID %q Size %d", e.ID, e.Size)
	}
	got, body, err := s.Read(e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, data) {
		t.Errorf("content changed: %q", body)
	}
	if got.Sender != e.Sender || len(got.Recipients) != 2 || !got.Received.Equal(t0) || got.Evidence.Command[0] != "php-fpm: pool shop1" || got.Score.Rules[0].Reason != "r" {
		t.Errorf("metadata: %+v", got)
	}

	later := newEntry("shop2", t0.Add(time.Second))
	if err := s.Add(later, []byte("x")); err != nil {
		t.Fatal(err)
	}
	list, err := s.List()
	if err != nil || len(list) != 2 || list[0].ID != e.ID || list[1].ID != later.ID {
		t.Fatalf("List: %v, %v", list, err)
	}

	if err := s.Remove(e.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Read(e.ID); !errors.Is(err, spool.ErrNotFound) {
		t.Errorf("Read after Remove: %v", err)
	}
	if err := s.Remove(e.ID); !errors.Is(err, spool.ErrNotFound) {
		t.Errorf("second Remove: %v", err)
	}
}

func TestUpdateKeepsContent(t *testing.T) {
	s, _ := spool.Open(t.TempDir())
	data := bytes.Repeat([]byte("0123456789abcdef\r\n"), 10000)
	e := newEntry("shop1", t0)
	if err := s.Add(e, data); err != nil {
		t.Fatal(err)
	}
	e.Attempts, e.LastError, e.NextAttempt = 1, "relay: 451 4.3.0 try later", t0.Add(time.Minute)
	if err := s.Update(e); err != nil {
		t.Fatal(err)
	}
	got, body, err := s.Read(e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, data) || got.Attempts != 1 || got.LastError != e.LastError || !got.NextAttempt.Equal(e.NextAttempt) {
		t.Errorf("after Update: %+v, %d bytes", got, len(body))
	}
	if err := s.Update(newEntry("x", t0)); !errors.Is(err, spool.ErrNotFound) {
		t.Errorf("Update of a missing message: %v", err)
	}
}

// TestCrashLeftovers: a process killed between writing tmp/ and the rename
// leaves a file that is not a message; List ignores it and a new Add with
// another ID is unaffected.
func TestCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	s, _ := spool.Open(dir)
	if err := os.WriteFile(filepath.Join(dir, "tmp", "20261102T090000.000000-DEAD"), []byte(`{"id":`), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(newEntry("shop1", t0), []byte("x")); err != nil {
		t.Fatal(err)
	}
	list, err := s.List()
	if err != nil || len(list) != 1 {
		t.Errorf("List: %d entries, %v", len(list), err)
	}
	// A damaged message file is reported, and does not hide the others.
	if err := os.WriteFile(filepath.Join(dir, "queue", "BROKEN"), []byte("not json\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	list, err = s.List()
	bad, rest := spool.Damaged(err)
	if len(list) != 1 || len(bad) != 1 || bad[0].ID != "BROKEN" || rest != nil {
		t.Errorf("List with a damaged file: %d entries, %v", len(list), err)
	}
}

func TestLock(t *testing.T) {
	s, _ := spool.Open(t.TempDir())
	e := newEntry("shop1", t0)
	if err := s.Add(e, []byte("x")); err != nil {
		t.Fatal(err)
	}
	unlock, err := s.Lock(e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock(e.ID); !errors.Is(err, spool.ErrLocked) {
		t.Fatalf("second Lock: %v", err)
	}
	// The lock survives an Update, which replaces the message file.
	e.Attempts = 2
	if err := s.Update(e); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock(e.ID); !errors.Is(err, spool.ErrLocked) {
		t.Fatalf("Lock after Update: %v", err)
	}
	if err := s.Remove(e.ID); err != nil {
		t.Fatal(err)
	}
	unlock()
	if _, err := s.Lock(e.ID); !errors.Is(err, spool.ErrNotFound) {
		t.Errorf("Lock of a removed message: %v", err)
	}
	if _, err := s.Lock("../etc/passwd"); !errors.Is(err, spool.ErrNotFound) {
		t.Errorf("Lock of a path: %v", err)
	}
}

func TestDue(t *testing.T) {
	for _, tc := range []struct {
		e    spool.Entry
		at   time.Time
		want bool
	}{
		{spool.Entry{State: spool.Queued}, t0, true},
		{spool.Entry{State: spool.Queued, NextAttempt: t0.Add(time.Minute)}, t0, false},
		{spool.Entry{State: spool.Held, HoldUntil: t0.Add(time.Minute)}, t0, false},
		{spool.Entry{State: spool.Held, HoldUntil: t0}, t0, true},
		{spool.Entry{State: spool.Undecided}, t0, false},
	} {
		if got := tc.e.Due(tc.at); got != tc.want {
			t.Errorf("%+v: Due = %v", tc.e, got)
		}
	}
}
