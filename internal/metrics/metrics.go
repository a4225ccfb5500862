// Package metrics serves spamrun's Prometheus metrics: counters of what
// the event journal (package internal/journal) says happened to mail, and
// gauges of the spool and the state store read at each scrape.
package metrics

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/internal/journal"
	"github.com/spamrun/spamrun/queue"
	"github.com/spamrun/spamrun/spool"
)

// OtherSites is the site label of the spam-marked mail of sites beyond
// Options.MaxSites.
const OtherSites = "_other"

// Options are what Metrics reads beside the journal.
type Options struct {
	// Spool is the spool whose queue the gauges show.
	Spool *spool.Spool
	// Detector answers which sites are disabled; nil when the state store
	// could not be opened, and the gauge then says so.
	Detector *spamrun.PolicyDetector
	// Store lists the sites that ever tripped, when it keeps incidents.
	Store spamrun.Store
	// Sites are the configured sites, asked too when the store keeps no
	// incidents.
	Sites []string
	// MaxSites is how many sites get a label of their own in
	// spamrun_spam_marked_total, in the order their first spam-marked
	// message was counted; the rest are counted as OtherSites. 0 means 50.
	MaxSites int
	// Now is the clock of the queue's ages; nil means time.Now.
	Now func() time.Time
}

// Metrics counts the journal's events and shows the queue and the sites'
// state as Prometheus metrics.
type Metrics struct {
	opts     Options
	reader   *journal.Reader
	registry *prometheus.Registry

	mu        sync.Mutex // serialises reading the journal
	siteLabel map[string]bool

	messages      *prometheus.CounterVec
	spamMarked    *prometheus.CounterVec
	score         prometheus.Histogram
	scorerSeconds prometheus.Histogram
	storeSeconds  prometheus.Histogram
	trips         prometheus.Counter
	relayFailures *prometheus.CounterVec
	generated     *prometheus.CounterVec
}

// New returns the metrics of the journal r reads.
func New(r *journal.Reader, opts Options) *Metrics {
	if opts.MaxSites <= 0 {
		opts.MaxSites = 50
	}
	m := &Metrics{opts: opts, reader: r, registry: prometheus.NewRegistry(), siteLabel: make(map[string]bool)}
	m.messages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "spamrun_messages_total",
		Help: "Sites' messages by door and action: accepted (queued, held, undecided) or refused at submission, held or queued again when a queue pass decides one accepted undecided, and relayed, bounced or kept when it leaves; deferred counts failed attempts, damaged unreadable spool files.",
	}, []string{"door", "action"})
	m.spamMarked = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "spamrun_spam_marked_total",
		Help: "Spam-marked messages by site (the first sites to send one get a label, the rest are " + OtherSites + ").",
	}, []string{"site"})
	m.score = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "spamrun_score",
		Help:    "Scores of the messages scored.",
		Buckets: []float64{0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20},
	})
	latency := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}
	m.scorerSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "spamrun_scorer_duration_seconds", Help: "Time a decision waited for the scorer.", Buckets: latency,
	})
	m.storeSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "spamrun_store_duration_seconds", Help: "Time a decision waited for the state store.", Buckets: latency,
	})
	m.trips = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "spamrun_trips_total", Help: "Sites disabled for a spam run.",
	})
	m.relayFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "spamrun_relay_failures_total",
		Help: "Failed relay attempts by class: temporary (4xx), permanent (5xx), connection (no reply).",
	}, []string{"class"})
	m.generated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "spamrun_generated_messages_total",
		Help: "Messages spamrun wrote itself by kind (dsn: delivery status notifications; notice: notices of a trip or a re-enabling to the site's owner and the operator) and action: relayed, deferred, kept.",
	}, []string{"kind", "action"})
	m.registry.MustRegister(m.messages, m.spamMarked, m.score, m.scorerSeconds, m.storeSeconds,
		m.trips, m.relayFailures, m.generated, &stateCollector{m: m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where the metrics are registered, for importers that add
// their own.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves /metrics, reading the journal first, so that a scrape
// shows every event written before it.
func (m *Metrics) Handler() http.Handler {
	serve := promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		m.Read()
		serve.ServeHTTP(w, req)
	})
}

// Read counts what was journaled since the last Read.
func (m *Metrics) Read() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reader.Read(m.count)
}

// Run reads the journal every interval until ctx is done, so that it is
// rotated also when nothing scrapes.
func (m *Metrics) Run(ctx context.Context, interval time.Duration, logf func(string, ...any)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Read(); err != nil && logf != nil {
				logf("warning: reading the event journal: %v", err)
			}
		}
	}
}

func (m *Metrics) count(ev queue.Event) {
	switch ev.Action {
	case queue.ActionTripped:
		m.trips.Inc()
		return
	case queue.ActionRelayError:
		m.relayFailures.WithLabelValues(ev.Failure).Inc()
		return
	}
	if ev.Kind != "" {
		m.generated.WithLabelValues(ev.Kind, ev.Action).Inc()
		return
	}
	door := Door(ev.Door)
	if ev.Action == queue.ActionDamaged {
		door = "unknown" // the file's envelope could not be read
	}
	m.messages.WithLabelValues(door, ev.Action).Inc()
	if !ev.Scored {
		return
	}
	m.score.Observe(ev.Score)
	m.scorerSeconds.Observe(ev.ScoreTime.Seconds())
	m.storeSeconds.Observe(ev.StoreTime.Seconds())
	if ev.Spam {
		m.spamMarked.WithLabelValues(m.site(ev.Site)).Inc()
	}
}

// site is the label of site: its name while there are labels left.
func (m *Metrics) site(site string) string {
	if m.siteLabel[site] {
		return site
	}
	if len(m.siteLabel) < m.opts.MaxSites {
		m.siteLabel[site] = true
		return site
	}
	return OtherSites
}

// Door is a message's door as a label: the kind of door without the
// address a redirected connection was going to, so that the labels stay
// few; "sendmail" for the sendmail program.
func Door(door string) string {
	door, _, _ = strings.Cut(door, " ")
	if door == "" {
		return "sendmail"
	}
	return door
}
