package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spamrun/spamrun/config"
	"github.com/spamrun/spamrun/internal/host"
	"github.com/spamrun/spamrun/internal/journal"
	"github.com/spamrun/spamrun/internal/metrics"
	"github.com/spamrun/spamrun/internal/smtpd"
	"github.com/spamrun/spamrun/queue"
)

// serve is spamrun serve: the resident daemon, the queue runner, the SMTP
// listener of [smtpd] and the metrics of [metrics] in one process, until
// SIGTERM or SIGINT. It logs with log/slog on standard error, in JSON
// unless that is a terminal, for journald and log shippers: one record
// per event of a message, the warnings, and with -v every line of the
// syslog too.
func (e *env) serve(args []string) error {
	f := newFlags("serve", "[--interval D] [-v]")
	interval := f.Duration("interval", 0, "the queue runner's time between passes (default: [queue] interval)")
	verbose := f.Bool("v", false, "log every line of the syslog on standard error too")
	operands, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(operands) > 0 {
		return f.usageErrorf("serve takes no operands")
	}
	logger := e.logger(*verbose)
	h, closeHost, err := e.openHostLog("spamrun/serve", logLine(logger), logger)
	if err != nil {
		return err
	}
	defer closeHost()
	// Without the state no site's mail can be decided; systemd starts the
	// daemon again until the store is back.
	if err := needStore(h); err != nil {
		return err
	}
	journaled := h.Observe
	h.Observe = func(ev queue.Event) {
		if journaled != nil {
			journaled(ev)
		}
		logEvent(logger, ev)
	}
	h.Queue.Observe = h.Observe

	configPath, _ := config.Locate(e.getenv, false)
	srv := smtpd.New(h, &smtpd.Options{Now: e.now, Logf: h.Queue.Logf, ConfigPath: configPath})
	listeners, err := srv.Listen()
	if err != nil {
		return unavailable(err)
	}
	// Without its socket the sendmail front runs the full sendmail, which
	// takes the same mail a little slower: a warning, not a failure.
	sendmailLn, err := srv.ListenSendmail()
	if err != nil {
		logger.Warn("the sendmail front runs the full sendmail: " + err.Error())
	}
	if sendmailLn != nil {
		defer sendmailLn.Close()
	}
	closeListeners := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	wake, closeWake, err := queue.Listen(h.Spool.Dir())
	if err != nil {
		closeListeners()
		return unavailable(err)
	}
	defer closeWake()
	m, metricsLn, err := openMetrics(h)
	if err != nil {
		closeListeners()
		return unavailable(err)
	}

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
	if sendmailLn != nil {
		wg.Go(func() {
			if err := srv.ServeSendmail(sendmailLn); !errors.Is(err, net.ErrClosed) {
				cancel(err)
			}
		})
	}
	var web *http.Server
	if m != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", m.Handler())
		web = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
		wg.Go(func() {
			if err := web.Serve(metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				cancel(err)
			}
		})
		wg.Go(func() { m.Run(ctx, 5*time.Second, h.Queue.Logf) })
		logger.Info("serving metrics", "address", metricsLn.Addr().String())
	}
	if *interval <= 0 {
		*interval = h.Config.Queue.Interval
	}
	err = h.Queue.Run(ctx, *interval, wake)
	if sendmailLn != nil {
		sendmailLn.Close()
	}
	srv.Close()
	if web != nil {
		shutdown, done := context.WithTimeout(context.Background(), 5*time.Second)
		web.Shutdown(shutdown)
		done()
	}
	cancel(nil) // stops m.Run when the runner returned on its own
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause // a listener failed
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return unavailable(err)
	}
	return nil
}

// openMetrics opens the journal's reader and the metrics listener of
// [metrics] listen; nil and nil when it is not set.
func openMetrics(h *host.Host) (*metrics.Metrics, net.Listener, error) {
	cfg := h.Config
	if cfg.Metrics.Listen == "" {
		return nil, nil, nil
	}
	r, err := journal.NewReader(cfg.SpoolDir)
	if err != nil {
		return nil, nil, err
	}
	r.Logf = h.Queue.Logf
	m := metrics.New(r, metrics.Options{
		Spool: h.Spool, Detector: h.Detector, Store: h.Store,
		Sites:    slices.Sorted(maps.Keys(cfg.SiteConfigs)),
		MaxSites: cfg.Metrics.MaxSites, Now: h.Queue.Now,
	})
	ln, err := net.Listen("tcp", cfg.Metrics.Listen)
	if err != nil {
		return nil, nil, err
	}
	return m, ln, nil
}

// logger is the daemon's: JSON on standard error unless it is a terminal,
// with the lines below warnings only when verbose.
func (e *env) logger(verbose bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if verbose {
		opts.Level = slog.LevelDebug
	}
	var w io.Writer = e.stderr
	if e.terminal(w) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// logLine hands a syslog line to logger: warnings and errors at their
// level, the rest, which the events say in structured form, at debug.
func logLine(logger *slog.Logger) func(string) {
	return func(line string) {
		switch {
		case strings.HasPrefix(line, "warning: "):
			logger.Warn(strings.TrimPrefix(line, "warning: "))
		case strings.HasPrefix(line, "error: "):
			logger.Error(strings.TrimPrefix(line, "error: "))
		default:
			logger.Debug(line)
		}
	}
}

// logEvent writes one record for ev, its action as the message.
func logEvent(logger *slog.Logger, ev queue.Event) {
	attrs := make([]slog.Attr, 0, 10)
	add := func(key, value string) {
		if value != "" {
			attrs = append(attrs, slog.String(key, value))
		}
	}
	add("site", ev.Site)
	add("id", ev.ID)
	if ev.Kind != "" {
		add("kind", ev.Kind)
	} else if ev.Action != queue.ActionDamaged {
		add("door", metrics.Door(ev.Door))
	}
	if ev.Recipients > 0 {
		attrs = append(attrs, slog.Int("nrcpt", ev.Recipients))
	}
	if ev.Scored {
		attrs = append(attrs, slog.Float64("score", ev.Score), slog.Bool("spam", ev.Spam))
	}
	add("failure", ev.Failure)
	add("incident", ev.Incident)
	logger.LogAttrs(context.Background(), slog.LevelInfo, ev.Action, attrs...)
}
