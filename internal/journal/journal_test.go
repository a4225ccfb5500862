package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spamrun/spamrun/queue"
)

// readAll reads what r has not handed on yet, by ID.
func readAll(t *testing.T, r *Reader) map[string]int {
	t.Helper()
	seen := make(map[string]int)
	if err := r.Read(func(ev queue.Event) { seen[ev.ID]++ }); err != nil {
		t.Fatal(err)
	}
	return seen
}

func TestEventRoundTrip(t *testing.T) {
	spool := t.TempDir()
	want := queue.Event{
		Time: time.Date(2026, 12, 5, 10, 0, 0, 123456000, time.UTC), Action: queue.ActionHeld,
		Site: "shop1", ID: "abc", Door: "smtp-redirected to 192.0.2.1:25", Recipients: 12,
		Scored: true, Score: 7.25, Spam: true, ScoreTime: 1500 * time.Microsecond, StoreTime: 250 * time.Microsecond,
		Failure: queue.FailureTemporary, Incident: "shop1-1",
	}
	if err := Append(spool, want); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(spool)
	if err != nil {
		t.Fatal(err)
	}
	var got []queue.Event
	if err := r.Read(func(ev queue.Event) { got = append(got, ev) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].Time.Equal(want.Time) {
		t.Fatalf("read %+v, want %+v", got, want)
	}
	got[0].Time = want.Time
	if got[0] != want {
		t.Errorf("read %+v\nwant %+v", got[0], want)
	}
}

// TestConcurrentWritersRotation has writers append while the reader reads
// and rotates the journal every few kilobytes: every event is read exactly
// once, and the rotated files are deleted once settled.
func TestConcurrentWritersRotation(t *testing.T) {
	spool := t.TempDir()
	r, err := NewReader(spool)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r.RotateAt = 4 << 10
	r.Now = func() time.Time { return now }

	const writers, each = 8, 300
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				ev := queue.Event{Time: time.Now(), Action: queue.ActionQueued, Site: "s", ID: fmt.Sprintf("w%d-%d", w, i)}
				if err := Append(spool, ev); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	seen := make(map[string]int)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for reading := true; reading; {
		select {
		case <-done:
			reading = false
		case <-time.After(time.Millisecond):
		}
		for id, n := range readAll(t, r) {
			seen[id] += n
		}
	}
	// A fresh reader, as after a restart of the daemon, starts where the
	// last one stopped.
	now = now.Add(settle)
	r2, err := NewReader(spool)
	if err != nil {
		t.Fatal(err)
	}
	r2.Now = r.Now
	for id, n := range readAll(t, r2) {
		seen[id] += n
	}
	if len(seen) != writers*each {
		t.Errorf("read %d distinct events, want %d", len(seen), writers*each)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("event %s read %d times", id, n)
		}
	}
	left, _ := filepath.Glob(filepath.Join(spool, Dir, journalName+".[0-9]*"))
	if len(left) != 0 {
		t.Errorf("rotated files left after they settled: %v", left)
	}
}

func TestPartialAndDamagedLines(t *testing.T) {
	spool := t.TempDir()
	if err := Append(spool, queue.Event{Action: queue.ActionQueued, ID: "a"}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(spool, Dir, journalName)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("not json\n{\"a\":\"relayed\",\"id\":\"b\"")
	r, err := NewReader(spool)
	if err != nil {
		t.Fatal(err)
	}
	var logged []string
	r.Logf = func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) }
	if got := readAll(t, r); len(got) != 1 || got["a"] != 1 {
		t.Errorf("first read: %v, want a once", got)
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "not json") {
		t.Errorf("logged %q, want the damaged line named", logged)
	}
	// The line being written is read once it is whole.
	f.WriteString("}\n")
	if got := readAll(t, r); len(got) != 1 || got["b"] != 1 {
		t.Errorf("second read: %v, want b once", got)
	}
	if got := readAll(t, r); len(got) != 0 {
		t.Errorf("third read: %v, want nothing", got)
	}
}

func TestJournalFull(t *testing.T) {
	spool := t.TempDir()
	if err := Append(spool, queue.Event{Action: queue.ActionQueued, ID: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(spool, Dir, journalName), MaxJournal); err != nil {
		t.Fatal(err)
	}
	err := Append(spool, queue.Event{Action: queue.ActionQueued, ID: "b"})
	if !errors.Is(err, ErrJournalFull) {
		t.Fatalf("append to a full journal: %v, want ErrJournalFull", err)
	}
	var logged []string
	observe := Journal(spool, func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) })
	observe(queue.Event{Action: queue.ActionQueued, ID: "c"})
	observe(queue.Event{Action: queue.ActionQueued, ID: "d"})
	if len(logged) != 1 {
		t.Errorf("a full journal logged %d warnings for two events, want 1: %q", len(logged), logged)
	}
}

func TestDamagedPositionStartsAgain(t *testing.T) {
	spool := t.TempDir()
	if err := Append(spool, queue.Event{Action: queue.ActionQueued, ID: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spool, Dir, journalName+".pos"), []byte("{broken"), 0o660); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(spool)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, r); got["a"] != 1 {
		t.Errorf("read %v, want a once", got)
	}
}

// TestSharedUnderUmask: a journal created under a strict umask, by root
// or by the installation's user, stays writable for the spool's group.
func TestSharedUnderUmask(t *testing.T) {
	spool := t.TempDir()
	if err := os.Chmod(spool, 0o770); err != nil {
		t.Fatal(err)
	}
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	if err := Append(spool, queue.Event{Action: queue.ActionQueued, ID: "a"}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{
		filepath.Join(spool, Dir):              0o770,
		filepath.Join(spool, Dir, journalName): 0o660,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
}

// BenchmarkAppend is what journaling adds to each event of a message: one
// open, write and close, no fsync.
func BenchmarkAppend(b *testing.B) {
	spool := b.TempDir()
	ev := queue.Event{Time: time.Now(), Action: queue.ActionHeld, Site: "shop1", ID: "20261205T101010.123456-ABCDEF0123",
		Recipients: 3, Scored: true, Score: 9.5, Spam: true, ScoreTime: time.Millisecond, StoreTime: time.Millisecond}
	for b.Loop() {
		if err := Append(spool, ev); err != nil {
			b.Fatal(err)
		}
	}
}
