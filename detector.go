package spamrun

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"time"
)

// DetectorOptions configures NewDetector. The zero value is usable: the
// builtin scorer, an in-memory store, no enforcer beyond the store's flag,
// DefaultPolicy and the system clock.
type DetectorOptions struct {
	Scorer   Scorer
	Store    Store
	Enforcer Enforcer
	// Policy is the default policy; the zero Policy means DefaultPolicy().
	Policy Policy
	// Sites holds per-site policies, complete in themselves: a configuration
	// loader merges a site's overrides over the default before it gets here.
	Sites map[string]Policy
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives one record per trip, re-enable and enforcer failure.
	Logger *slog.Logger
}

// PolicyDetector is the default Detector: a Scorer, a Store and an Enforcer
// under a Policy per site.
type PolicyDetector struct {
	scorer   Scorer
	store    Store
	enforcer Enforcer
	policy   Policy
	sites    map[string]Policy
	now      func() time.Time
	log      *slog.Logger
}

var _ Detector = (*PolicyDetector)(nil)

// NewDetector returns a PolicyDetector; opts nil means the defaults. Every
// policy is validated.
func NewDetector(opts *DetectorOptions) (*PolicyDetector, error) {
	if opts == nil {
		opts = &DetectorOptions{}
	}
	d := &PolicyDetector{
		scorer:   opts.Scorer,
		store:    opts.Store,
		enforcer: opts.Enforcer,
		policy:   opts.Policy,
		sites:    maps.Clone(opts.Sites),
		now:      opts.Now,
		log:      opts.Logger,
	}
	if d.scorer == nil {
		d.scorer = NewBuiltinScorer()
	}
	if d.store == nil {
		d.store = NewMemoryStore()
	}
	if d.policy == (Policy{}) {
		d.policy = DefaultPolicy()
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if err := d.policy.Validate(); err != nil {
		return nil, err
	}
	for site, p := range d.sites {
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("site %q: %w", site, err)
		}
	}
	return d, nil
}

// Policy returns the policy site is held to.
func (d *PolicyDetector) Policy(site string) Policy {
	if p, ok := d.sites[site]; ok {
		return p
	}
	return d.policy
}

// Check implements Detector at the detector's clock.
func (d *PolicyDetector) Check(ctx context.Context, site string, msg *Message) (Verdict, error) {
	return d.CheckAt(ctx, site, msg, d.now())
}

// CheckAt is Check at time t. A disabled site's message is refused without
// being scored.
func (d *PolicyDetector) CheckAt(ctx context.Context, site string, msg *Message, t time.Time) (Verdict, error) {
	start := time.Now()
	if v, refused, err := d.refused(ctx, site); refused || err != nil {
		v.StoreTime = time.Since(start)
		return v, err
	}
	scoring := time.Now()
	score, err := d.score(ctx, msg)
	if err != nil {
		return Verdict{}, fmt.Errorf("spamrun: scoring for site %q: %w", site, err)
	}
	deciding := time.Now()
	v, err := d.decide(ctx, site, msg, score, t)
	v.ScoreTime = deciding.Sub(scoring)
	v.StoreTime = scoring.Sub(start) + time.Since(deciding)
	return v, err
}

// score asks the scorer, turning a panic into an error: a bug in a scorer,
// the builtin one or an importer's, leaves the message waiting for a later
// decision instead of taking the process down with it.
func (d *PolicyDetector) score(ctx context.Context, msg *Message) (s Score, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("scorer panicked: %v", r)
		}
	}()
	return d.scorer.Score(ctx, msg)
}

// Decide is CheckAt with a score obtained elsewhere: the queue runner
// deciding on a message whose submission could not reach the store, or a
// caller with its own scoring pipeline.
func (d *PolicyDetector) Decide(ctx context.Context, site string, msg *Message, score Score, t time.Time) (Verdict, error) {
	if v, refused, err := d.refused(ctx, site); refused || err != nil {
		return v, err
	}
	return d.decide(ctx, site, msg, score, t)
}

// Disabled returns the incident that disabled site, or nil when it is
// enabled: the one question a caller must answer before relaying anything
// of the site, without the cost of counting its window.
func (d *PolicyDetector) Disabled(ctx context.Context, site string) (*Incident, error) {
	inc, err := d.store.Disabled(ctx, site)
	if err != nil {
		return nil, fmt.Errorf("spamrun: state of site %q: %w", site, err)
	}
	return inc, nil
}

func (d *PolicyDetector) refused(ctx context.Context, site string) (Verdict, bool, error) {
	inc, err := d.Disabled(ctx, site)
	if err != nil {
		return Verdict{}, false, err
	}
	if inc == nil {
		return Verdict{}, false, nil
	}
	return Verdict{Site: site, Action: Refuse, Incident: inc}, true, nil
}

func (d *PolicyDetector) decide(ctx context.Context, site string, msg *Message, score Score, t time.Time) (Verdict, error) {
	p := d.Policy(site)
	v := Verdict{Site: site, Action: Deliver, Score: score, Spam: score.Value >= p.SpamScore, Scored: true}
	if !v.Spam || p.Exempt {
		return v, nil
	}
	ev := spamEvent(msg, score, t)
	ev.Weight = p.Weight(ev.Recipients)
	count, err := d.store.RecordSpam(ctx, site, ev, p.MaxSpam, p.Window)
	if err != nil {
		return Verdict{}, fmt.Errorf("spamrun: recording spam of site %q: %w", site, err)
	}
	v.Count = count
	if count <= p.MaxSpam {
		if p.HoldFor > 0 {
			v.Action, v.HoldUntil = Hold, t.Add(p.HoldFor)
		}
		return v, nil
	}
	return d.trip(ctx, v, p, t)
}

// trip disables the site. Of several submissions that trip it at once, the
// one whose SetDisabled changed the store enforces; every one is refused.
func (d *PolicyDetector) trip(ctx context.Context, v Verdict, p Policy, t time.Time) (Verdict, error) {
	events, err := d.store.SpamLog(ctx, v.Site, t, p.Window)
	if err != nil {
		return Verdict{}, fmt.Errorf("spamrun: reading spam log of site %q: %w", v.Site, err)
	}
	inc := &Incident{
		ID:       IncidentID(v.Site, t),
		Site:     v.Site,
		Time:     t,
		Policy:   p,
		Count:    v.Count,
		Messages: events,
	}
	d.snapshot(ctx, inc)
	cur, changed, err := d.store.SetDisabled(ctx, v.Site, inc)
	if err != nil {
		return Verdict{}, fmt.Errorf("spamrun: disabling site %q: %w", v.Site, err)
	}
	v.Action, v.Incident, v.Tripped = Refuse, cur, changed
	if !changed {
		return v, nil
	}
	d.log.Warn("site disabled", "site", v.Site, "incident", inc.ID,
		"spam", v.Count, "count", p.Count, "max_spam", p.MaxSpam, "window", p.Window)
	if d.enforcer != nil {
		err := d.enforcer.Disable(ctx, v.Site, inc)
		e := Enforcement{Time: d.now()}
		if err != nil {
			v.EnforcerErr, e.Err = err, err.Error()
			d.log.Error("enforcer failed to disable site", "site", v.Site, "incident", inc.ID, "err", err)
		}
		inc.Enforced = &e
		if l, ok := d.store.(IncidentLog); ok {
			if err := l.SetEnforced(ctx, v.Site, inc.ID, e); err != nil {
				d.log.Warn("enforcement not recorded on the incident", "site", v.Site, "incident", inc.ID, "err", err)
			}
		}
	}
	return v, nil
}

// snapshot copies into inc what the store's history knows of the site's
// scripts and traffic around the run, so that the report can be made
// after the history has moved on. The history is evidence: when it cannot
// be read, the site is disabled all the same, with a thinner report.
func (d *PolicyDetector) snapshot(ctx context.Context, inc *Incident) {
	h, ok := d.store.(ScriptHistory)
	if !ok {
		return
	}
	from := inc.Time.Add(-inc.Policy.Window - IncidentLead)
	to := inc.Time.Truncate(time.Minute).Add(time.Minute)
	activity, err := h.Activity(ctx, inc.Site, from, to)
	if err != nil {
		d.log.Warn("incident without the site's activity", "site", inc.Site, "incident", inc.ID, "err", err)
	}
	inc.Activity = activity
	scripts, err := h.Scripts(ctx, inc.Site)
	if err != nil {
		d.log.Warn("incident without the site's script history", "site", inc.Site, "incident", inc.ID, "err", err)
	}
	for _, s := range scripts {
		if !s.Last.Before(from) {
			inc.Scripts = append(inc.Scripts, s)
		}
	}
}

// Enable re-enables site after the operator has fixed the cause: the store
// forgets the disabled flag and the window, then the enforcer is told. An
// enforcer error is returned, but the site is enabled in the store.
//
// The error wraps ErrEnforcer when the store enabled the site and only the
// enforcer failed.
func (d *PolicyDetector) Enable(ctx context.Context, site string) error {
	if err := d.store.Enable(ctx, site); err != nil {
		return fmt.Errorf("spamrun: enabling site %q: %w", site, err)
	}
	d.log.Info("site enabled", "site", site)
	if d.enforcer != nil {
		if err := d.enforcer.Enable(ctx, site); err != nil {
			return fmt.Errorf("spamrun: site %q enabled, but the %w: %w", site, ErrEnforcer, err)
		}
	}
	return nil
}

// SiteStatus is a site's state at a moment.
type SiteStatus struct {
	Site   string `json:"site"`
	Policy Policy `json:"policy"`
	// Spam is the weight of the spam-marked submissions in the current
	// window, as Policy.Count weighs them: recipients or messages.
	Spam int `json:"spam"`
	// Incident is the incident that disabled the site; nil when enabled.
	Incident *Incident `json:"incident,omitempty"`
}

// Status returns the state of site at time t.
func (d *PolicyDetector) Status(ctx context.Context, site string, t time.Time) (SiteStatus, error) {
	p := d.Policy(site)
	st := SiteStatus{Site: site, Policy: p}
	var err error
	if st.Incident, err = d.Disabled(ctx, site); err != nil {
		return st, err
	}
	events, err := d.store.SpamLog(ctx, site, t, p.Window)
	if err != nil {
		return st, fmt.Errorf("spamrun: spam log of site %q: %w", site, err)
	}
	st.Spam = SpamWeight(events)
	return st, nil
}

// IncidentID names the incident of site tripping at t. It sorts by time and
// is unique per site, since a site trips at most once while disabled.
func IncidentID(site string, t time.Time) string {
	return t.UTC().Format("20060102T150405.000000Z") + "-" + site
}

func spamEvent(msg *Message, score Score, t time.Time) SpamEvent {
	ev := SpamEvent{Time: t, Score: score.Value}
	for _, r := range score.Top(3) {
		ev.Rules = append(ev.Rules, r.Name)
	}
	if msg != nil {
		ev.MessageID = msg.Header("Message-Id")
		ev.Sender = msg.Sender
		ev.Recipients = len(msg.Recipients)
		ev.Domains = RecipientDomains(msg.Recipients, MaxEventDomains)
		ev.Subject = msg.Subject
		ev.Links = LinkHosts(msg)
		ev.Lines = TextLines(msg.Text)
		ev.Evidence = msg.Evidence
		ev.Submission = msg.SubmissionID
	}
	return ev
}
