//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package sqlitestore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
)

// TestWriteLockTimeout stands for a spamrun process stuck while holding the
// write lock: writers give up after the busy timeout or when their context
// ends, record nothing, and carry on once the lock is free.
func TestWriteLockTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, &Options{BusyTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, err := os.Open(path + "-lock")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	ev := spamrun.SpamEvent{Time: t0}
	start := time.Now()
	_, err = s.RecordSpam(context.Background(), "s", ev, 1, time.Hour)
	if err == nil || !strings.HasPrefix(err.Error(), "sqlitestore: recording spam") || !strings.Contains(err.Error(), "write lock") {
		t.Errorf("RecordSpam while the lock is held: %v; want a write lock error", err)
	}
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Errorf("gave up after %v, before the busy timeout", waited)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.RecordSpam(ctx, "s", ev, 1, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("RecordSpam with an expiring context: %v; want DeadlineExceeded", err)
	}

	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	// The calls given up on still wait for the lock, and free it as they
	// get it; on a loaded machine that can take longer than one timeout.
	n, err := recordWithin(s, 5*time.Second, ev)
	if err != nil || n != 1 {
		t.Errorf("RecordSpam once the lock is free = %d, %v; want 1: the calls that gave up must record nothing", n, err)
	}
}
