// Package queue works the spool: it relays what is due, retries what the
// relay deferred, and returns to the sender what cannot or must not be
// delivered, with a DSN.
//
// The heart of it is what happens when a site trips. Its messages still in
// the queue (held spam, mail deferred by the relay, mail accepted while the
// state store was down) are never relayed: each one goes back to its
// envelope sender as a DSN that explains the spam run and links the host's
// article, or, when a DSN would go to an address the site does not own
// (backscatter), to a null sender or in reply to automatic mail, or beyond
// the number of DSNs one sender gets per incident, it is kept in quarantine
// for the operator. Bounced originals are kept in quarantine too, so
// nothing accepted is lost: every message ends relayed, bounced or kept.
//
// A Runner serves three callers: the queue daemon (spamrun queue run), a
// single pass (sendmail -q, spamrun queue run --once), and the sendmail
// process whose submission tripped its site, which bounces the site's
// queue at once (BounceSite) rather than leaving it to the next pass.
// Every message is worked on under its spool lock, so they never step on
// each other, and every change is written to the spool before the next
// step, so a crash at any point leaves each message in one state.
package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/notify"
	"github.com/spamrun/spamrun/relay"
	"github.com/spamrun/spamrun/spool"
)

// Defaults of a Runner's zero fields.
const (
	DefaultLifetime      = 120 * time.Hour
	DefaultQuarantineFor = 30 * 24 * time.Hour
	DefaultMaxBounces    = 10
)

// Runner works one spool. Its exported fields are set before first use and
// not changed after; the zero value of every optional field is usable.
type Runner struct {
	Spool *spool.Spool
	Relay relay.Relay
	// Detector decides messages accepted undecided and says which sites are
	// disabled. Without one the state is unknown: DSNs and released
	// messages are relayed, nothing else.
	Detector *spamrun.PolicyDetector
	// Scripts, when the store keeps a script history, learns the scripts
	// of messages decided here.
	Scripts spamrun.ScriptHistory
	// Site returns the site a message was submitted by, with the domains
	// it owns: DSNs of a spam run go only to its addresses. nil means a
	// site owns nothing, so no DSN of a spam run is sent.
	Site func(e *spool.Entry) spamrun.Site

	// Hostname is the Reporting-MTA of DSNs, by default the system's host
	// name; ArticleURL is linked from them.
	Hostname   string
	ArticleURL string
	// Notifier, when set, builds the notices of a trip, which Tripped
	// writes, and of a re-enabling, which Enabled writes; nil sends none.
	Notifier *notify.Notifier
	// Lifetime is how long a message may wait in the queue before it is
	// returned as expired; 0 means DefaultLifetime.
	Lifetime time.Duration
	// QuarantineFor is how long bounced and kept messages are kept; 0
	// means DefaultQuarantineFor.
	QuarantineFor time.Duration
	// MaxBounces is how many DSNs one sender gets for one incident; the
	// site's other messages to it are kept in quarantine. 0 means
	// DefaultMaxBounces; a negative value sends none.
	MaxBounces int
	// Rate is how many messages per second each site may have relayed by
	// this runner, with bursts of Burst (at least 1); 0 means no limit. It
	// paces a site's mail; it never disables a site.
	Rate  rate.Limit
	Burst int

	// Filter, when set, limits the runner to the messages it returns true
	// for: a site's user running sendmail -q works on its own mail only.
	Filter func(e *spool.Entry) bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logf gets one line per message handled; nil discards them.
	Logf func(format string, args ...any)
	// Observe, when set, gets an Event for each thing that happens to a
	// message, for metrics and structured logs.
	Observe func(Event)
	// Progress, when set, is called as a pass works through the queue.
	Progress func(done, total int)

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

// Stats counts what a pass or a bounce did.
type Stats struct {
	Relayed     int // handed to the relay, DSNs included
	Deferred    int // the relay was down or said "try later"
	Decided     int // accepted undecided, decided now
	Bounced     int // returned to the sender with a DSN
	Quarantined int // kept in quarantine without a DSN
	Expired     int // deleted from quarantine after QuarantineFor
	// Damaged counts spool files that could not be read, moved into
	// quarantine whole (see spool.KeepDamaged).
	Damaged int
	Failed  int // could not be worked on now (see the error)
	// Next is when the earliest message now waiting becomes due; zero when
	// none waits.
	Next time.Time

	dsns []string // written, to be relayed
}

func (s *Stats) add(o Stats) {
	s.Relayed += o.Relayed
	s.Deferred += o.Deferred
	s.Decided += o.Decided
	s.Bounced += o.Bounced
	s.Quarantined += o.Quarantined
	s.Expired += o.Expired
	s.Damaged += o.Damaged
	s.Failed += o.Failed
	s.next(o.Next)
	s.dsns = append(s.dsns, o.dsns...)
}

func (s *Stats) next(t time.Time) {
	if !t.IsZero() && (s.Next.IsZero() || t.Before(s.Next)) {
		s.Next = t
	}
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) logf(format string, args ...any) {
	if r.Logf != nil {
		r.Logf(format, args...)
	}
}

func (r *Runner) hostname() string {
	if r.Hostname != "" {
		return r.Hostname
	}
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \t\r\n") {
		return h
	}
	return "localhost"
}

func (r *Runner) lifetime() time.Duration {
	if r.Lifetime > 0 {
		return r.Lifetime
	}
	return DefaultLifetime
}

func (r *Runner) quarantineFor() time.Duration {
	if r.QuarantineFor > 0 {
		return r.QuarantineFor
	}
	return DefaultQuarantineFor
}

func (r *Runner) maxBounces() int {
	switch {
	case r.MaxBounces < 0:
		return 0
	case r.MaxBounces == 0:
		return DefaultMaxBounces
	}
	return r.MaxBounces
}

func (r *Runner) mine(e *spool.Entry) bool { return r.Filter == nil || r.Filter(e) }

// skippable are the errors of a message another process is working on or
// has just finished: not failures of this pass.
func skippable(err error) bool {
	return errors.Is(err, spool.ErrLocked) || errors.Is(err, spool.ErrNotFound)
}

// failed counts err of message id in s and adds it to errs, unless another
// process had the message.
func failed(s *Stats, id string, err error, errs []error) []error {
	if err == nil || skippable(err) {
		return errs
	}
	s.Failed++
	return append(errs, fmt.Errorf("%s: %w", id, err))
}

// Pass works through the queue once: it decides undecided messages,
// bounces the queues of disabled sites, relays what is due (paced per
// site), returns what failed for good or outlived the queue, and deletes
// expired quarantine. Messages another process holds are left for the
// next pass. The error joins the problems of single messages; the others
// were worked on regardless.
//
// A file in the spool that cannot be read is moved into quarantine whole,
// and is no failure of the pass: one damaged file must not stop the
// queue, nor make every sendmail -q report a local failure. Such a file
// belongs to no known site, so every pass moves it, whatever its Filter.
func (r *Runner) Pass(ctx context.Context) (Stats, error) {
	var (
		stats Stats
		errs  []error
	)
	entries, err := r.Spool.List()
	moved, err := r.keepDamaged(err)
	stats.add(moved)
	if err != nil {
		errs = append(errs, err)
	}
	disabled := make(map[string]*spamrun.Incident) // sites found disabled in this pass
	known := make(map[string]bool)                 // sites asked for: whether the store answered
	won := make(map[string]bool)                   // sites a decision of this pass disabled
	for i, e := range entries {
		if r.Progress != nil {
			r.Progress(i, len(entries))
		}
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		if !r.mine(e) {
			continue
		}
		if _, asked := known[e.Site]; e.Kind == "" && !e.Released && r.Detector != nil && !asked {
			inc, err := r.Detector.Disabled(ctx, e.Site)
			if err != nil {
				errs = append(errs, fmt.Errorf("site %s: %w", e.Site, err))
			}
			known[e.Site] = err == nil
			if inc != nil {
				disabled[e.Site] = inc
			}
		}
		if _, ok := disabled[e.Site]; ok && e.Kind == "" && !e.Released {
			continue // bounced below, under the site's lock
		}
		s, refused, err := r.work(ctx, e.ID, known[e.Site])
		errs = failed(&s, e.ID, err, errs)
		if refused != nil {
			disabled[e.Site] = refused.Incident
			won[e.Site] = won[e.Site] || refused.Tripped
		}
		stats.add(s)
	}
	if r.Progress != nil {
		r.Progress(len(entries), len(entries))
	}
	for site, inc := range disabled {
		bounce := r.BounceSite
		if won[site] {
			bounce = r.Tripped
		}
		s, err := bounce(ctx, site, inc)
		stats.add(s)
		if err != nil {
			errs = append(errs, err)
		}
	}
	// The DSNs and notices just written go now, not at the next pass.
	for _, id := range stats.dsns {
		s, _, err := r.work(ctx, id, false)
		errs = failed(&s, id, err, errs)
		stats.add(s)
	}
	stats.dsns = nil
	s, err := r.expireQuarantine()
	stats.add(s)
	if err != nil {
		errs = append(errs, err)
	}
	r.cleanTmp()
	return stats, errors.Join(errs...)
}

// work handles one message of a site that is not disabled, under its lock.
// known says the site's state was read in this pass; a message decided
// here may find its site disabled, or trip it: the verdict is then
// returned, for the site's queue to be returned.
func (r *Runner) work(ctx context.Context, id string, known bool) (stats Stats, refused *spamrun.Verdict, err error) {
	unlock, err := r.Spool.Lock(id)
	if err != nil {
		return stats, nil, err
	}
	defer unlock()
	e, data, err := r.Spool.Read(id)
	if errors.Is(err, spool.ErrDamaged) {
		s, err := r.keepDamagedLocked(id)
		return s, nil, err
	}
	if err != nil || e.State.Final() {
		return stats, nil, err
	}
	now := r.now()
	if automatic(e) {
		s, err := r.relayDSN(ctx, e, data, now)
		return s, nil, err
	}
	if now.Sub(e.Received) >= r.lifetime() && !e.Released {
		s, err := r.expire(ctx, e, data, now)
		return s, nil, err
	}
	if e.State == spool.Undecided && !e.Released {
		if r.Detector == nil || !known {
			return stats, nil, nil // waits for the state store
		}
		v, err := r.decide(ctx, e, data)
		if err != nil {
			return stats, nil, err
		}
		stats.Decided++
		if v.Action == spamrun.Refuse {
			return stats, &v, nil
		}
	}
	if !e.Released && (r.Detector == nil || !known) {
		stats.next(r.due(e))
		return stats, nil, nil // nothing leaves while the state is unknown
	}
	if !e.Due(now) {
		stats.next(r.due(e))
		return stats, nil, nil
	}
	if !r.allow(e.Site, now) {
		stats.next(now.Add(r.pace()))
		return stats, nil, nil
	}
	s, err := r.deliver(ctx, e, data, now)
	stats.add(s)
	return stats, nil, err
}

// due is when e may next be relayed, or returned: a message whose
// lifetime ends before its next attempt is returned when it ends, not an
// hour of backoff later.
func (r *Runner) due(e *spool.Entry) time.Time {
	t := e.NextAttempt
	if e.State == spool.Held && !e.Released && e.HoldUntil.After(t) {
		t = e.HoldUntil
	}
	if t.IsZero() {
		return r.now()
	}
	if end := e.Received.Add(r.lifetime()); !e.Released && end.Before(t) {
		return end
	}
	return t
}

// Deliver relays one accepted message now, as sendmail does right after
// accepting it, when its site's pacing allows; otherwise, or when the relay
// defers it, it stays queued for the next pass. The caller must not hold
// the message's lock. It returns what happened, for the log: "relayed",
// "queued", "deferred (...)", "bounced" or "quarantined".
func (r *Runner) Deliver(ctx context.Context, id string) (string, error) {
	stats, action, err := r.deliverLocked(ctx, id)
	// A DSN for what the relay refused goes at once too.
	for _, d := range stats.dsns {
		r.Deliver(ctx, d)
	}
	return action, err
}

func (r *Runner) deliverLocked(ctx context.Context, id string) (Stats, string, error) {
	unlock, err := r.Spool.Lock(id)
	if err != nil {
		return Stats{}, "queued", err
	}
	defer unlock()
	e, data, err := r.Spool.Read(id)
	if err != nil {
		return Stats{}, "queued", err
	}
	now := r.now()
	if automatic(e) {
		s, err := r.relayDSN(ctx, e, data, now)
		if s.Relayed > 0 {
			return s, "relayed", err
		}
		return s, "queued", err
	}
	if !e.Due(now) || !r.allow(e.Site, now) {
		return Stats{}, string(e.State), nil
	}
	s, err := r.deliver(ctx, e, data, now)
	switch {
	case s.Relayed > 0:
		return s, "relayed", err
	case s.Bounced > 0:
		return s, "bounced", err
	case s.Quarantined > 0:
		return s, "quarantined", err
	}
	return s, "deferred (" + e.LastError + ")", err
}

// pace is the interval between two messages of a site at Rate.
func (r *Runner) pace() time.Duration {
	if r.Rate <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / float64(r.Rate))
}

// allow takes one message from site's budget at now.
func (r *Runner) allow(site string, now time.Time) bool {
	if r.Rate <= 0 || r.Rate == rate.Inf {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.limiters == nil {
		r.limiters = make(map[string]*rate.Limiter)
	}
	l, ok := r.limiters[site]
	if !ok {
		l = rate.NewLimiter(r.Rate, max(r.Burst, 1))
		r.limiters[site] = l
	}
	return l.AllowN(now, 1)
}

// deliver hands a locked message to the relay and records the outcome:
// gone when the relay took it, a DSN for what the relay refused for good,
// a later attempt for what it deferred.
func (r *Runner) deliver(ctx context.Context, e *spool.Entry, data []byte, now time.Time) (Stats, error) {
	var stats Stats
	env := relay.Envelope{From: e.Sender, To: e.Recipients, SMTPUTF8: e.SMTPUTF8}
	// A delivery under way is finished even when the runner is told to
	// stop: cut off after the MTA took the message, it would be relayed
	// again. The relay's own timeout bounds it.
	err := r.Relay.Deliver(context.WithoutCancel(ctx), env, bytes.NewReader(data))
	if err == nil {
		stats.Relayed++
		r.logf("site=%s id=%s from=<%s> nrcpt=%d action=relayed", e.Site, e.ID, e.Sender, len(e.Recipients))
		r.observe(entryEvent(e, ActionRelayed, now))
		return stats, r.Spool.Remove(e.ID)
	}
	r.observeRelayError(e, err, now)
	var rerr *relay.Error
	if !errors.As(err, &rerr) || rerr.Temporary() && len(rerr.Rcpts) == 0 {
		return r.defer_(e, err, now)
	}
	if len(rerr.Rcpts) == 0 {
		// Refused for good, for every recipient.
		return r.fail(ctx, e, data, spamrun.Bounce{
			Reason:     spamrun.BounceRelayRefused,
			Status:     rerr.Enhanced,
			Diagnostic: rerr.Reply(),
		}, "refused by the relay: "+err.Error(), now)
	}
	// Refused for some recipients, perhaps all: a DSN for those refused
	// for good, and another attempt for those deferred.
	var refused []spamrun.BounceRecipient
	var again []string
	for _, rf := range rerr.Rcpts {
		if rf.Temporary() {
			again = append(again, rf.Rcpt)
			continue
		}
		refused = append(refused, spamrun.BounceRecipient{
			Address: rf.Rcpt, Status: rf.Enhanced, Diagnostic: rf.Reply(),
		})
	}
	delivered := len(e.Recipients) - len(rerr.Rcpts)
	if delivered <= 0 && len(again) == 0 {
		// Nothing was delivered: returned like a message refused at DATA.
		return r.fail(ctx, e, data, spamrun.Bounce{Reason: spamrun.BounceRelayRefused, Recipients: refused},
			"refused by the relay: "+err.Error(), now)
	}
	if delivered > 0 {
		stats.Relayed++
		r.logf("site=%s id=%s from=<%s> nrcpt=%d action=relayed refused=%d deferred=%d", e.Site, e.ID, e.Sender, delivered, len(refused), len(again))
		ev := entryEvent(e, ActionRelayed, now)
		ev.Recipients = delivered
		r.observe(ev)
	}
	if len(refused) > 0 {
		s, err := r.returnPart(ctx, e, data, refused, now)
		stats.add(s)
		if err != nil {
			return stats, err
		}
	}
	if len(again) == 0 {
		return stats, r.Spool.Remove(e.ID)
	}
	e.Recipients = again
	s, err := r.defer_(e, rerr, now)
	stats.add(s)
	return stats, err
}

// defer_ records a failed attempt; the message is tried again after a
// backoff.
func (r *Runner) defer_(e *spool.Entry, err error, now time.Time) (Stats, error) {
	e.Attempts++
	e.LastError = err.Error()
	e.NextAttempt = now.Add(RetryDelay(e.Attempts))
	r.logf("site=%s id=%s attempt=%d action=deferred next=%s error=%q", e.Site, e.ID, e.Attempts, e.NextAttempt.Format(time.RFC3339), e.LastError)
	r.observe(entryEvent(e, ActionDeferred, now))
	return Stats{Deferred: 1, Next: r.due(e)}, r.Spool.Update(e)
}

// RetryDelay is the wait before attempt n+1: one minute, doubling, at most
// an hour.
func RetryDelay(attempts int) time.Duration {
	d := time.Minute
	for i := 1; i < attempts && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// expire returns a message that outlived the queue. One accepted
// undecided, whose score was never known, is kept instead: it may be spam.
func (r *Runner) expire(ctx context.Context, e *spool.Entry, data []byte, now time.Time) (Stats, error) {
	if e.State == spool.Undecided {
		return r.keep(e, "", "outlived the queue before the state store could decide it", now)
	}
	diag := e.LastError
	if diag == "" {
		diag = "the message could not be delivered within " + r.lifetime().String()
	}
	return r.fail(ctx, e, data, spamrun.Bounce{Reason: spamrun.BounceExpired, Diagnostic: diag},
		"outlived the queue ("+r.lifetime().String()+")", now)
}

// fail returns a message the relay refused for good or that outlived the
// queue. A spam-marked message is returned only to an address its site
// owns, as in a spam run: a forged sender must not get it.
func (r *Runner) fail(ctx context.Context, e *spool.Entry, data []byte, b spamrun.Bounce, why string, now time.Time) (Stats, error) {
	if e.Spam {
		if reason := r.noBounce(e); reason != "" {
			return r.keep(e, "", why+"; "+reason, now)
		}
	}
	dsnID, reason, err := r.sendDSN(ctx, e, data, b, e.ID+"-dsn", now)
	if err != nil {
		return Stats{}, err
	}
	if dsnID == "" {
		return r.keep(e, "", why+"; "+reason, now)
	}
	s, err := r.bounced(e, "", why, dsnID, now)
	s.dsns = []string{dsnID}
	return s, err
}

// returnPart sends a DSN for the recipients the relay refused for good
// while it took the message for others.
func (r *Runner) returnPart(ctx context.Context, e *spool.Entry, data []byte, refused []spamrun.BounceRecipient, now time.Time) (Stats, error) {
	if e.Spam && r.noBounce(e) != "" {
		return Stats{}, nil
	}
	b := spamrun.Bounce{Reason: spamrun.BounceRelayRefused, Recipients: refused}
	dsnID, _, err := r.sendDSN(ctx, e, data, b, e.ID+"-dsn"+strconv.Itoa(e.Attempts+1), now)
	if err != nil || dsnID == "" {
		return Stats{}, err
	}
	return Stats{Bounced: 1, dsns: []string{dsnID}}, nil
}

// automatic reports whether e is mail spamrun wrote itself, a DSN or a
// notice, which goes from the null sender and is never returned.
func automatic(e *spool.Entry) bool {
	return e.Kind == spool.KindDSN || e.Kind == spool.KindNotice
}

// relayDSN relays a DSN or a notice. One that cannot be delivered is
// kept, never returned: a DSN is never answered with a DSN.
func (r *Runner) relayDSN(ctx context.Context, e *spool.Entry, data []byte, now time.Time) (Stats, error) {
	what := strings.ToUpper(e.Kind)
	if e.Kind == spool.KindNotice {
		what = "notice"
	}
	if now.Sub(e.Received) >= r.lifetime() && !e.Released {
		return r.keep(e, "", what+" outlived the queue: "+e.LastError, now)
	}
	if !e.Due(now) {
		return Stats{Next: r.due(e)}, nil
	}
	if e.ID == e.Original+"-dsn" {
		// A process that wrote this DSN and crashed before it moved the
		// original to quarantine left the original in the queue; relaying
		// the DSN now would let the next bounce of the original write
		// another. The DSN waits until the original is settled.
		if orig, _, err := r.Spool.Read(e.Original); err == nil && !orig.State.Final() && !orig.Released {
			return Stats{}, nil
		}
	}
	err := r.Relay.Deliver(context.WithoutCancel(ctx), relay.Envelope{To: e.Recipients, SMTPUTF8: e.SMTPUTF8}, bytes.NewReader(data))
	if err != nil {
		r.observeRelayError(e, err, now)
	}
	switch {
	case err == nil:
		if e.Kind == spool.KindNotice {
			r.logf("site=%s id=%s to=<%s> incident=%s action=relayed notice", e.Site, e.ID, strings.Join(e.Recipients, ","), e.Incident)
		} else {
			r.logf("site=%s id=%s to=<%s> original=%s action=relayed dsn", e.Site, e.ID, strings.Join(e.Recipients, ","), e.Original)
		}
		r.observe(entryEvent(e, ActionRelayed, now))
		return Stats{Relayed: 1}, r.Spool.Remove(e.ID)
	case relay.IsPermanent(err):
		return r.keep(e, "", what+" refused by the relay: "+err.Error(), now)
	}
	return r.defer_(e, err, now)
}

// decide makes the decision a submission could not make because the store
// was down, as of the time the message was received, and records it. The
// store knows the message by its ID, so a decision it counted already, at
// submission or in a pass whose spool update failed, counts once. The
// verdict's Tripped says this decision disabled the site.
func (r *Runner) decide(ctx context.Context, e *spool.Entry, data []byte) (spamrun.Verdict, error) {
	msg, err := spamrun.ParseMessage(data, e.Sender, e.Recipients)
	if err != nil {
		return spamrun.Verdict{}, err
	}
	msg.Evidence, msg.SubmissionID = e.Evidence, e.ID
	if r.Site != nil {
		msg.SiteDomains = r.Site(e).Domains
	}
	v, err := r.Detector.CheckAt(ctx, e.Site, msg, e.Received)
	if err != nil {
		return spamrun.Verdict{}, err
	}
	e.Score, e.Spam = v.Score, v.Spam
	RecordScript(ctx, r.Scripts, e, r.logf)
	switch v.Action {
	case spamrun.Deliver:
		e.State = spool.Queued
	case spamrun.Hold:
		e.State, e.HoldUntil = spool.Held, v.HoldUntil
	case spamrun.Refuse:
		// The site is disabled, perhaps by this very message: it is
		// bounced with the rest of the site's queue, never relayed.
		e.State = spool.Held
	}
	r.logf("site=%s id=%s decided score=%.1f action=%s", e.Site, e.ID, v.Score.Value, v.Action)
	r.observe(DecisionEvent(e, v, r.now()))
	if v.Tripped {
		r.observe(TripEvent(e, v.Incident, r.now()))
	}
	return v, r.Spool.Update(e)
}

// RecordScript adds a decided message's script to its site's history, so
// that a script sending for the first time stands out. A failure costs the
// history one entry, never the message.
func RecordScript(ctx context.Context, h spamrun.ScriptHistory, e *spool.Entry, logf func(string, ...any)) {
	if h == nil {
		return
	}
	sub := spamrun.Submission{Time: e.Received, Script: e.Evidence.Script, Cwd: e.Evidence.Cwd, Spam: e.Spam}
	if err := h.RecordScript(ctx, e.Site, sub); err != nil && logf != nil {
		logf("warning: site=%s id=%s script not recorded: %v", e.Site, e.ID, err)
	}
}

// BounceSite returns the queue of a disabled site: every message of the
// site still queued, held or undecided gets a DSN to its sender, or is
// kept in quarantine when a DSN is not allowed, and is never relayed.
// Messages the operator released are left alone. It takes the site's
// lock, so of several processes that see the site disabled, one at a time
// counts the DSNs each sender got for inc.
func (r *Runner) BounceSite(ctx context.Context, site string, inc *spamrun.Incident) (Stats, error) {
	var stats Stats
	unlock, err := r.Spool.LockSite(site)
	if err != nil {
		return stats, err
	}
	defer unlock()
	entries, listErr := r.Spool.List()
	// A damaged file is the pass's to move, not a failure of this bounce.
	_, listErr = spool.Damaged(listErr)
	errs := []error{listErr}
	sent, err := r.bouncesSent(inc.ID)
	if err != nil {
		errs = append(errs, err)
	}
	for _, e := range entries {
		if e.Site != site || e.Kind != "" || e.Released || !r.mine(e) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		s, err := r.bounceOne(ctx, e.ID, inc, sent)
		errs = failed(&s, e.ID, err, errs)
		stats.add(s)
	}
	return stats, errors.Join(errs...)
}

// bouncesSent counts the DSNs each sender got for an incident so far, from
// the bounced originals in quarantine, which survive a restart.
func (r *Runner) bouncesSent(incident string) (map[string]int, error) {
	q, err := r.Spool.Quarantine()
	_, err = spool.Damaged(err)
	sent := make(map[string]int)
	for _, e := range q {
		if e.Incident == incident && e.State == spool.Bounced {
			sent[strings.ToLower(e.Sender)]++
		}
	}
	return sent, err
}

func (r *Runner) bounceOne(ctx context.Context, id string, inc *spamrun.Incident, sent map[string]int) (Stats, error) {
	unlock, err := r.Spool.Lock(id)
	if err != nil {
		return Stats{}, err
	}
	defer unlock()
	e, data, err := r.Spool.Read(id)
	if err != nil || e.State.Final() || e.Released {
		return Stats{}, err
	}
	now := r.now()
	why := "site " + e.Site + " disabled for a spam run (incident " + inc.ID + ")"
	if reason := r.noBounce(e); reason != "" {
		return r.keep(e, inc.ID, why+"; "+reason, now)
	}
	key := strings.ToLower(e.Sender)
	if n := r.maxBounces(); sent[key] >= n {
		return r.keep(e, inc.ID, fmt.Sprintf("%s; <%s> got %d DSNs for this incident already", why, e.Sender, n), now)
	}
	b := spamrun.Bounce{Reason: spamrun.BounceSpamRun}
	dsnID, reason, err := r.sendDSN(ctx, e, data, b, e.ID+"-dsn", now)
	if err != nil {
		return Stats{}, err
	}
	if dsnID == "" {
		return r.keep(e, inc.ID, why+"; "+reason, now)
	}
	sent[key]++
	s, err := r.bounced(e, inc.ID, why, dsnID, now)
	s.dsns = []string{dsnID}
	return s, err
}

// noBounce says why a spam-run DSN must not go to e's sender, or "".
func (r *Runner) noBounce(e *spool.Entry) string {
	if e.Sender == "" {
		return "null sender"
	}
	if r.Site == nil || !r.Site(e).Owns(e.Sender) {
		return "<" + e.Sender + "> is not an address of the site, so a DSN would be backscatter"
	}
	return ""
}

// sendDSN writes a DSN for e into the queue under id. It returns the DSN's
// ID, or "" and the reason when no DSN may be sent for e (a null sender,
// automatic mail). A DSN written before a crash is not written again.
func (r *Runner) sendDSN(ctx context.Context, e *spool.Entry, data []byte, b spamrun.Bounce, id string, now time.Time) (string, string, error) {
	msg, err := spamrun.ParseMessage(data, e.Sender, e.Recipients)
	if err != nil {
		return "", "", err
	}
	b.Original = msg
	b.ReportingMTA = r.hostname()
	b.ArticleURL = r.ArticleURL
	b.Site = e.Site
	b.Arrival = e.Received
	b.Date = now
	raw, err := b.Build()
	if spamrun.IsNoBounce(err) {
		return "", err.Error(), nil
	}
	if err != nil {
		return "", "", err
	}
	dsn := &spool.Entry{
		ID: id, Kind: spool.KindDSN, Original: e.ID, Site: e.Site, UID: e.UID,
		Recipients: []string{e.Sender}, Received: now, State: spool.Queued, SMTPUTF8: b.SMTPUTF8(),
	}
	if err := r.Spool.Add(dsn, raw); err != nil && !errors.Is(err, spool.ErrExists) {
		return "", "", err
	}
	r.logf("site=%s id=%s to=<%s> original=%s reason=%s action=dsn queued", e.Site, id, e.Sender, e.ID, b.Reason)
	return id, "", nil
}

// bounced moves a returned original to quarantine.
func (r *Runner) bounced(e *spool.Entry, incident, why, dsnID string, now time.Time) (Stats, error) {
	e.State, e.Incident, e.Reason, e.DSN, e.Until = spool.Bounced, incident, why, dsnID, now.Add(r.quarantineFor())
	r.logf("site=%s id=%s from=<%s> action=bounced dsn=%s reason=%q", e.Site, e.ID, e.Sender, dsnID, why)
	r.observe(entryEvent(e, ActionBounced, now))
	return Stats{Bounced: 1}, r.Spool.Update(e)
}

// keep moves a message that is neither relayed nor returned to quarantine.
func (r *Runner) keep(e *spool.Entry, incident, why string, now time.Time) (Stats, error) {
	e.State, e.Incident, e.Reason, e.Until = spool.Quarantined, incident, why, now.Add(r.quarantineFor())
	r.logf("site=%s id=%s from=<%s> action=quarantined reason=%q", e.Site, e.ID, e.Sender, why)
	r.observe(entryEvent(e, ActionKept, now))
	return Stats{Quarantined: 1}, r.Spool.Update(e)
}

// expireQuarantine deletes what was kept in quarantine long enough. A
// damaged file found there gets a readable header, and expires in turn.
func (r *Runner) expireQuarantine() (Stats, error) {
	q, err := r.Spool.Quarantine()
	stats, err := r.keepDamaged(err)
	now := r.now()
	var errs []error
	for _, e := range q {
		if !r.mine(e) {
			continue
		}
		if !e.State.Final() {
			// Released by a process that crashed before it moved the
			// message back to the queue: taking its lock finishes the
			// move, and the next pass relays it.
			if unlock, err := r.Spool.Lock(e.ID); err == nil {
				unlock()
			}
			continue
		}
		if e.Until.IsZero() || now.Before(e.Until) {
			continue
		}
		unlock, err := r.Spool.Lock(e.ID)
		if err != nil {
			continue
		}
		cur, _, err := r.Spool.Read(e.ID)
		if err == nil && cur.State.Final() && !now.Before(cur.Until) {
			err = r.Spool.Remove(e.ID)
			if err == nil {
				stats.Expired++
				r.logf("site=%s id=%s action=deleted reason=%q", e.Site, e.ID, "quarantine expired")
			}
		}
		unlock()
		if err != nil && !skippable(err) {
			errs = append(errs, err)
		}
	}
	return stats, errors.Join(append(errs, err)...)
}

// keepDamaged moves the damaged files a listing of the spool reported
// into quarantine, each under its lock, and returns the listing's other
// errors with those of the moves.
func (r *Runner) keepDamaged(listErr error) (Stats, error) {
	var stats Stats
	files, err := spool.Damaged(listErr)
	errs := []error{err}
	for _, d := range files {
		unlock, err := r.Spool.Lock(d.ID)
		if err == nil {
			var s Stats
			s, err = r.keepDamagedLocked(d.ID)
			unlock()
			stats.add(s)
		}
		errs = failed(&stats, d.ID, err, errs)
	}
	return stats, errors.Join(errs...)
}

// keepDamagedLocked moves the damaged file of message id into quarantine,
// for as long as other quarantine is kept. The caller holds its lock.
func (r *Runner) keepDamagedLocked(id string) (Stats, error) {
	e, err := r.Spool.KeepDamaged(id, r.now().Add(r.quarantineFor()))
	if err != nil || e == nil {
		return Stats{}, err
	}
	r.logf("id=%s size=%d action=quarantined damaged reason=%q", e.ID, e.Size, e.Reason)
	r.observe(Event{Time: r.now(), Action: ActionDamaged, ID: e.ID})
	return Stats{Damaged: 1}, nil
}

// cleanTmp deletes what crashed writers left in tmp/ a day ago.
func (r *Runner) cleanTmp() {
	dir := filepath.Join(r.Spool.Dir(), "tmp")
	names, _ := os.ReadDir(dir)
	cutoff := r.now().Add(-24 * time.Hour)
	for _, n := range names {
		if info, err := n.Info(); err == nil && info.ModTime().Before(cutoff) {
			os.Remove(filepath.Join(dir, n.Name()))
		}
	}
}

// Release lets a message go: held, undecided or in quarantine, it is
// queued to be relayed at the next pass even while its site is disabled.
// It is the operator's decision that the message is not spam.
func (r *Runner) Release(id string) (*spool.Entry, error) {
	return r.locked(id, r.release)
}

func (r *Runner) release(e *spool.Entry) error {
	if e.Kind == spool.KindDamaged {
		return fmt.Errorf("queue: %s is a damaged spool file, whose envelope is unknown, so it cannot be relayed; read it in %s, and purge it",
			e.ID, filepath.Join(r.Spool.Dir(), "quarantine", e.ID))
	}
	if e.State == spool.Bounced {
		return fmt.Errorf("queue: %s was returned to its sender already (DSN %s); relaying it too would deliver mail the sender was told failed", e.ID, e.DSN)
	}
	e.State, e.Released = spool.Queued, true
	e.HoldUntil, e.NextAttempt, e.Until, e.Reason = time.Time{}, time.Time{}, time.Time{}, ""
	r.logf("site=%s id=%s action=released", e.Site, e.ID)
	return r.Spool.Update(e)
}

// Purge deletes a message, from the queue or from quarantine, for good.
func (r *Runner) Purge(id string) (*spool.Entry, error) {
	return r.locked(id, func(e *spool.Entry) error {
		r.logf("site=%s id=%s from=<%s> action=purged", e.Site, e.ID, e.Sender)
		return r.Spool.Remove(e.ID)
	})
}

// locked runs f on a message under its lock and returns the message as f
// left it.
func (r *Runner) locked(id string, f func(*spool.Entry) error) (*spool.Entry, error) {
	unlock, err := r.Spool.Lock(id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	e, _, err := r.Spool.Read(id)
	if err != nil {
		return nil, err
	}
	return e, f(e)
}
