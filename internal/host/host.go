// Package host opens a spamrun installation as its configuration
// describes it, the same way for sendmail and for the operator's command:
// the spool, the relay, the state store with the scorer, the enforcer and
// the detector over it, the notifier of [notify], and the queue runner
// over all of them. It is the one place where the program is assembled:
// package config only reads and checks the file, so that it links no
// driver, filter adapter or enforcer.
package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/config"
	"github.com/spamrun/spamrun/internal/journal"
	"github.com/spamrun/spamrun/queue"
	"github.com/spamrun/spamrun/relay"
	"github.com/spamrun/spamrun/spool"
)

// ErrSpool is wrapped by Open's error when the spool cannot be opened.
var ErrSpool = errors.New("spool unavailable")

// Host is one installation.
type Host struct {
	Config *config.Config
	Spool  *spool.Spool
	Relay  relay.Relay
	// Store is nil when it could not be opened; StoreErr says why. Mail is
	// then accepted undecided and nothing is relayed but DSNs.
	Store    spamrun.Store
	StoreErr error
	Detector *spamrun.PolicyDetector
	// Scripts is the store when it keeps a script history.
	Scripts spamrun.ScriptHistory
	Queue   *queue.Runner
	// Observe gets the events of every submission and of the queue
	// runner; nil when nothing watches them.
	Observe func(queue.Event)

	closer io.Closer
	sites  sync.Map // uid → spamrun.Site
}

// Options are what differs between the programs that open a host.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logf gets the log lines of the detector's decisions and the queue.
	Logf func(format string, args ...any)
	// Logger gets the detector's records of trips, re-enables and
	// enforcer failures; nil discards them.
	Logger *slog.Logger
	// Observe gets the events of submissions and of the queue runner;
	// with [metrics] listen set and Observe nil, they are appended to the
	// spool's event journal, which spamrun serve reads.
	Observe func(queue.Event)
}

// Open opens what cfg describes. Only a spool or relay that cannot be used
// is an error; a state store that cannot be reached is recorded in
// StoreErr.
func Open(cfg *config.Config, opts *Options) (*Host, error) {
	if opts == nil {
		opts = &Options{}
	}
	h := &Host{Config: cfg}
	var err error
	if h.Spool, err = spool.Open(cfg.SpoolDir); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSpool, err)
	}
	if h.Relay, err = NewRelay(cfg); err != nil {
		return nil, err
	}
	h.StoreErr = h.openDetector(opts)
	notifier, err := NewNotifier(cfg)
	if err != nil {
		return nil, err
	}
	notifier.Now = opts.Now
	q := cfg.Queue
	h.Queue = &queue.Runner{
		Spool: h.Spool, Relay: h.Relay, Detector: h.Detector, Scripts: h.Scripts,
		Site:     h.Site,
		Hostname: cfg.Hostname, ArticleURL: cfg.ArticleURL, Notifier: notifier,
		Lifetime: cfg.QueueLifetime, QuarantineFor: q.QuarantineFor,
		MaxBounces: q.MaxBounces,
		Now:        opts.Now, Logf: opts.Logf,
	}
	h.Observe = opts.Observe
	if h.Observe == nil && cfg.Metrics.Listen != "" {
		h.Observe = journal.Journal(cfg.SpoolDir, opts.Logf)
	}
	h.Queue.Observe = h.Observe
	if q.MaxBounces == 0 {
		h.Queue.MaxBounces = -1
	}
	if q.MaxRate > 0 {
		h.Queue.Rate = rate.Limit(float64(q.MaxRate) / q.RateInterval.Seconds())
		h.Queue.Burst = q.MaxRate
	}
	return h, nil
}

func (h *Host) openDetector(opts *Options) error {
	cfg := h.Config
	store, closer, err := openStore(cfg)
	if err != nil {
		return err
	}
	h.Store, h.closer = store, closer
	h.Scripts, _ = store.(spamrun.ScriptHistory)
	enforcer, err := NewEnforcer(cfg)
	if err != nil {
		return err
	}
	scorer, err := NewScorer(cfg)
	if err != nil {
		return err
	}
	def, sites := cfg.Policies()
	h.Detector, err = spamrun.NewDetector(&spamrun.DetectorOptions{
		Scorer: scorer, Store: store, Enforcer: enforcer, Policy: def, Sites: sites, Now: opts.Now, Logger: opts.Logger,
	})
	return err
}

// Close closes the state store.
func (h *Host) Close() error {
	if h.closer != nil {
		return h.closer.Close()
	}
	return nil
}

// Site returns the site a spooled message was submitted by, with the
// domains it owns, from the UID it was submitted as.
func (h *Host) Site(e *spool.Entry) spamrun.Site {
	if s, ok := h.sites.Load(e.UID); ok {
		return s.(spamrun.Site)
	}
	s, err := h.Config.SiteForUID(e.UID)
	if err != nil {
		// A UID without a passwd entry is a site that owns no address.
		s = spamrun.Site{Name: e.Site, UID: e.UID}
	}
	h.sites.Store(e.UID, s)
	return s
}

// SiteForUID returns the site of a UID as sendmail names it: one without
// a passwd entry is "uid" and the number, and its mail is not lost.
func (h *Host) SiteForUID(uid int) (spamrun.Site, error) {
	s, err := h.Config.SiteForUID(uid)
	if errors.Is(err, spamrun.ErrUnknownUID) {
		return spamrun.Site{Name: "uid" + strconv.Itoa(uid), UID: uid}, nil
	}
	return s, err
}

// Incidents returns the incidents of site, or of every site when site is
// "", newest first.
func (h *Host) Incidents(ctx context.Context, site string) ([]*spamrun.Incident, error) {
	if h.Store == nil {
		return nil, h.StoreErr
	}
	l, ok := h.Store.(spamrun.IncidentLog)
	if !ok {
		return nil, fmt.Errorf("store kind %q keeps no incident history", h.Config.Store.Kind)
	}
	return l.Incidents(ctx, site)
}
