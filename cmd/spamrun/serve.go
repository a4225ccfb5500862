package main

import (
	"context"
	"errors"
	"io"
	"net"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spamrun/spamrun/internal/smtpd"
	"github.com/spamrun/spamrun/queue"
)

// serve is spamrun serve: the resident daemon, the queue runner and the
// SMTP listener of [smtpd] in one process, until SIGTERM or SIGINT.
func (e *env) serve(args []string) error {
	f := newFlags("serve", "[--interval D] [-v]")
	interval := f.Duration("interval", 0, "the queue runner's time between passes (default: [queue] interval)")
	verbose := f.Bool("v", false, "log each message on standard error too")
	operands, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(operands) > 0 {
		return f.usageErrorf("serve takes no operands")
	}
	var logw io.Writer
	if *verbose {
		logw = e.stderr
	}
	h, closeHost, err := e.openHost("spamrun/serve", logw)
	if err != nil {
		return err
	}
	defer closeHost()
	// Without the state no site's mail can be decided; systemd starts the
	// daemon again until the store is back.
	if err := needStore(h); err != nil {
		return err
	}
	srv := smtpd.New(h, &smtpd.Options{Now: e.now, Logf: h.Queue.Logf})
	listeners, err := srv.Listen()
	if err != nil {
		return unavailable(err)
	}
	wake, closeWake, err := queue.Listen(h.Spool.Dir())
	if err != nil {
		for _, l := range listeners {
			l.Close()
		}
		return unavailable(err)
	}
	defer closeWake()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for _, l := range listeners {
		wg.Go(func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, net.ErrClosed) {
				cancel(err)
			}
		})
	}
	if *interval <= 0 {
		*interval = h.Config.Queue.Interval
	}
	err = h.Queue.Run(ctx, *interval, wake)
	srv.Close()
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause // a listener failed
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return unavailable(err)
	}
	return nil
}
