package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/syslog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spamrun/spamrun/config"
	"github.com/spamrun/spamrun/internal/host"
	"github.com/spamrun/spamrun/queue"
)

// openHost loads the configuration and opens the installation, logging
// to syslog when the configuration says so and to logw when it is not nil.
func openHost(logw io.Writer) (*host.Host, func(), error) {
	cfg, err := config.LoadDefault(os.Getenv, false)
	if err != nil {
		return nil, nil, err
	}
	var sl *syslog.Writer
	if cfg.Syslog {
		sl, _ = syslog.New(syslog.LOG_MAIL|syslog.LOG_INFO, "spamrun/queue")
	}
	logf := func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		if sl != nil {
			sl.Info(line)
		}
		if logw != nil {
			fmt.Fprintln(logw, time.Now().Format(time.DateTime), line)
		}
	}
	h, err := host.Open(cfg, &host.Options{Logf: logf})
	if err != nil {
		if sl != nil {
			sl.Close()
		}
		return nil, nil, err
	}
	closer := func() {
		h.Close()
		if sl != nil {
			sl.Close()
		}
	}
	return h, closer, nil
}

// queueRun is spamrun queue run: the queue runner, until SIGTERM or
// SIGINT, or one pass with --once.
func queueRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("spamrun queue run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	once := fs.Bool("once", false, "one pass over the queue, then exit")
	interval := fs.Duration("interval", 0, "time between passes (default: [queue] interval)")
	verbose := fs.Bool("v", false, "log each message on standard error too")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return 64
	}
	var logw io.Writer
	if *verbose {
		logw = stderr
	}
	h, closeHost, err := openHost(logw)
	if err != nil {
		fmt.Fprintln(stderr, "spamrun:", err)
		return 75
	}
	defer closeHost()
	if h.StoreErr != nil {
		fmt.Fprintf(stderr, "spamrun: warning: the state store is unavailable, only DSNs and released messages are relayed: %v\n", h.StoreErr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *once {
		stats, err := h.Queue.Pass(ctx)
		fmt.Fprintf(stdout, "relayed %d, deferred %d, decided %d, bounced %d, quarantined %d, deleted from quarantine %d\n",
			stats.Relayed, stats.Deferred, stats.Decided, stats.Bounced, stats.Quarantined, stats.Expired)
		if err != nil {
			fmt.Fprintln(stderr, "spamrun:", err)
			return 75
		}
		return 0
	}
	if h.StoreErr != nil {
		// Without the state no site's mail can leave; systemd starts the
		// runner again until the store is back.
		return 75
	}
	wake, closeWake, err := queue.Listen(h.Spool.Dir())
	if err != nil {
		fmt.Fprintln(stderr, "spamrun:", err)
		return 75
	}
	defer closeWake()
	if *interval <= 0 {
		*interval = h.Config.Queue.Interval
	}
	err = h.Queue.Run(ctx, *interval, wake)
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "spamrun:", err)
		return 75
	}
	return 0
}

// enable is spamrun enable SITE: the site may send again, with an empty
// window.
func enable(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: spamrun enable SITE")
		return 64
	}
	site := args[0]
	h, closeHost, err := openHost(nil)
	if err != nil {
		fmt.Fprintln(stderr, "spamrun:", err)
		return 75
	}
	defer closeHost()
	if h.Detector == nil {
		fmt.Fprintln(stderr, "spamrun: the state store is unavailable:", h.StoreErr)
		return 75
	}
	if err := h.Detector.Enable(context.Background(), site); err != nil {
		fmt.Fprintln(stderr, "spamrun:", err)
		return 1
	}
	fmt.Fprintf(stdout, "site %s enabled\n", site)
	return 0
}
