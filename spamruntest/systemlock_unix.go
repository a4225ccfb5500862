//go:build unix

package spamruntest

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

// SystemLockPath is the file LockSystem locks. Every test that changes
// the machine itself, rather than a prefix or a namespace of its own,
// takes it: installing a package, diverting /usr/sbin/sendmail, changing
// the MTA's programs or the system user spamrun.
const SystemLockPath = "/run/lock/spamrun-tests-system.lock"

// LockSystem waits until no other test, in this process or another, holds
// the machine, and holds it until tb ends. It waits at most until tb's
// deadline, or 30 minutes without one.
func LockSystem(tb testing.TB) {
	tb.Helper()
	f, err := os.OpenFile(SystemLockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		tb.Fatalf("spamruntest: the machine's test lock: %v", err)
	}
	deadline := time.Now().Add(30 * time.Minute)
	if d, ok := tb.(interface{ Deadline() (time.Time, bool) }); ok {
		if t, ok := d.Deadline(); ok {
			deadline = t
		}
	}
	waited := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			tb.Fatalf("spamruntest: locking %s: %v", SystemLockPath, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			tb.Fatalf("spamruntest: another test held %s until this test's deadline", SystemLockPath)
		}
		if !waited {
			tb.Logf("waiting for another test that changes the machine (%s)", SystemLockPath)
			waited = true
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Closing the file releases the lock.
	tb.Cleanup(func() { f.Close() })
}
