//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// writeLock queues the writers of all processes in the kernel, on an flock
// of a file beside the database. SQLite's own lock is what makes the counts
// exact; but a process that finds it taken polls it with sleeps that grow to
// 100 ms, so under a run of many sendmail processes the lock sits free while
// they sleep, and an unlucky process can lose every round until its busy
// timeout. Waiting on the flock, every waiter is woken the moment it is
// free.
type writeLock struct {
	path string
	mode os.FileMode
	f    *os.File // nil until first used, and after a wait was given up
}

func newWriteLock(path string, mode os.FileMode) (*writeLock, error) {
	if err := create(path, mode); err != nil {
		return nil, err
	}
	return &writeLock{path: path, mode: mode}, nil
}

// acquire takes the lock, waiting at most timeout. The caller serialises
// calls.
func (l *writeLock) acquire(ctx context.Context, timeout time.Duration) error {
	if l.f == nil {
		if err := create(l.path, l.mode); err != nil {
			return err
		}
		f, err := os.Open(l.path)
		if err != nil {
			return err
		}
		l.f = f
	}
	fd := int(l.f.Fd())
	err := flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
	if !errors.Is(err, syscall.EWOULDBLOCK) {
		return err
	}
	// A blocking flock cannot be interrupted, so it waits in a goroutine of
	// its own; one given up on takes the file with it and closes it once it
	// gets the lock, which frees the lock, since it belongs to that open file.
	got := make(chan error, 1)
	go func() { got <- flock(fd, syscall.LOCK_EX) }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err := <-got:
		return err
	case <-timer.C:
		err = fmt.Errorf("waiting for the write lock: other processes held it for %v", timeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	f := l.f
	l.f = nil
	go func() {
		<-got
		f.Close()
	}()
	return err
}

func (l *writeLock) release() error {
	return flock(int(l.f.Fd()), syscall.LOCK_UN)
}

func (l *writeLock) close() error {
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}

func flock(fd, how int) error {
	for {
		err := syscall.Flock(fd, how)
		if err != syscall.EINTR {
			return err
		}
	}
}
