package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spool"
)

var (
	queueMessagesDesc = prometheus.NewDesc("spamrun_queue_messages",
		"Messages in the spool by state: queued, held and undecided wait in the queue; bounced and quarantined are kept in quarantine.",
		[]string{"state"}, nil)
	queueOldestDesc = prometheus.NewDesc("spamrun_queue_oldest_seconds",
		"Age of the oldest message waiting in the queue, by state; 0 when none waits.",
		[]string{"state"}, nil)
	disabledDesc = prometheus.NewDesc("spamrun_disabled_sites",
		"Sites disabled for a spam run now.", nil, nil)
	storeUpDesc = prometheus.NewDesc("spamrun_store_up",
		"1 when the state store answered the last question, 0 when it did not.", nil, nil)
	spoolUpDesc = prometheus.NewDesc("spamrun_spool_up",
		"1 when the spool could be listed, 0 when it could not.", nil, nil)
)

// stateCollector reads the spool and the state store at each scrape.
type stateCollector struct{ m *Metrics }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{queueMessagesDesc, queueOldestDesc, disabledDesc, storeUpDesc, spoolUpDesc} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	opts := c.m.opts
	now := time.Now()
	if opts.Now != nil {
		now = opts.Now()
	}
	c.collectSpool(ch, opts.Spool, now)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	disabled, err := c.disabled(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(storeUpDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(storeUpDesc, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(disabledDesc, prometheus.GaugeValue, float64(disabled))
}

func (c *stateCollector) collectSpool(ch chan<- prometheus.Metric, sp *spool.Spool, now time.Time) {
	if sp == nil {
		return
	}
	queued, qerr := sp.List()
	_, qerr = spool.Damaged(qerr)
	kept, kerr := sp.Quarantine()
	_, kerr = spool.Damaged(kerr)
	up := 1.0
	if qerr != nil || kerr != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(spoolUpDesc, prometheus.GaugeValue, up)
	count := map[spool.State]int{spool.Queued: 0, spool.Held: 0, spool.Undecided: 0, spool.Bounced: 0, spool.Quarantined: 0}
	oldest := map[spool.State]time.Time{}
	for _, e := range queued {
		count[e.State]++
		if o, ok := oldest[e.State]; !ok || e.Received.Before(o) {
			oldest[e.State] = e.Received
		}
	}
	for _, e := range kept {
		if e.Kind == spool.KindDamaged {
			count[spool.Quarantined]++
			continue
		}
		count[e.State]++
	}
	for state, n := range count {
		ch <- prometheus.MustNewConstMetric(queueMessagesDesc, prometheus.GaugeValue, float64(n), string(state))
	}
	for _, state := range []spool.State{spool.Queued, spool.Held, spool.Undecided} {
		age := 0.0
		if t, ok := oldest[state]; ok {
			age = max(now.Sub(t).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(queueOldestDesc, prometheus.GaugeValue, age, string(state))
	}
}

// disabled counts the disabled sites: of those that ever tripped when the
// store keeps incidents, else of the configured ones.
func (c *stateCollector) disabled(ctx context.Context) (int, error) {
	opts := c.m.opts
	if opts.Detector == nil {
		return 0, errNoStore
	}
	sites := map[string]bool{}
	for _, s := range opts.Sites {
		sites[s] = true
	}
	if l, ok := opts.Store.(spamrun.IncidentLog); ok {
		incs, err := l.Incidents(ctx, "")
		if err != nil {
			return 0, err
		}
		sites = map[string]bool{}
		for _, inc := range incs {
			sites[inc.Site] = true
		}
	}
	n := 0
	for site := range sites {
		inc, err := opts.Detector.Disabled(ctx, site)
		if err != nil {
			return 0, err
		}
		if inc != nil {
			n++
		}
	}
	return n, nil
}

var errNoStore = errors.New("metrics: no state store")
