//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package sqlitestore

import (
	"context"
	"os"
	"time"
)

// writeLock is a no-op where there is no flock: SQLite's own lock keeps
// the counts exact, only less fairly under many processes.
type writeLock struct{}

func newWriteLock(string, os.FileMode) (*writeLock, error)      { return &writeLock{}, nil }
func (*writeLock) acquire(context.Context, time.Duration) error { return nil }
func (*writeLock) release() error                               { return nil }
func (*writeLock) close() error                                 { return nil }
