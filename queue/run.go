package queue

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// DefaultInterval is how often Run looks at the queue when nothing wakes
// it sooner.
const DefaultInterval = 30 * time.Second

// Run works the queue until ctx is done: a pass, then a wait until the
// next message is due, interval has passed, or wake delivers (sendmail
// wakes the runner when it queued mail it did not relay itself). Errors of
// a pass go to the log; they do not stop the runner.
func (r *Runner) Run(ctx context.Context, interval time.Duration, wake <-chan struct{}) error {
	if interval <= 0 {
		interval = DefaultInterval
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		case _, ok := <-wake:
			if !ok {
				wake = nil // closed with its listener: the timer alone
				continue
			}
		}
		stats, err := r.Pass(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			r.logf("warning: queue pass: %v", err)
		}
		wait := interval
		if !stats.Next.IsZero() {
			wait = min(wait, max(stats.Next.Sub(r.now()), 10*time.Millisecond))
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

// wakeName is the runner's socket in the spool directory.
const wakeName = "wake"

// Listen binds the runner's wake-up socket in spoolDir: a Unix datagram
// socket whose every datagram starts a pass. It replaces a socket left by
// a runner that is gone, but not one a running runner listens on. The
// channel is closed when the returned closer is.
func Listen(spoolDir string) (<-chan struct{}, func() error, error) {
	path := filepath.Join(spoolDir, wakeName)
	addr := &net.UnixAddr{Name: path, Net: "unixgram"}
	conn, err := net.ListenUnixgram("unixgram", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		if c, err := net.DialUnix("unixgram", nil, addr); err == nil {
			c.Close()
			return nil, nil, fmt.Errorf("queue: another runner listens on %s", path)
		}
		os.Remove(path)
		conn, err = net.ListenUnixgram("unixgram", addr)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("queue: %w", err)
	}
	// sendmail runs as the installation's user and group; the socket is
	// theirs like the rest of the spool.
	os.Chmod(path, 0o660)
	ch := make(chan struct{}, 1)
	go func() {
		defer close(ch)
		buf := make([]byte, 16)
		for {
			if _, _, err := conn.ReadFrom(buf); err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			select {
			case ch <- struct{}{}:
			default: // a pass is due already
			}
		}
	}()
	closer := func() error {
		err := conn.Close()
		os.Remove(path)
		return err
	}
	return ch, closer, nil
}

// Wake asks the runner listening in spoolDir for a pass, without waiting.
// It reports whether a runner took the request; without one, mail waits
// for the next sendmail -q.
func Wake(spoolDir string) bool {
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: filepath.Join(spoolDir, wakeName), Net: "unixgram"})
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	_, err = c.Write([]byte{1})
	return err == nil
}
