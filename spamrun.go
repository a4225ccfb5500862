// Package spamrun stops spam runs from hosted websites.
//
// A web host installs spamrun's sendmail as /usr/sbin/sendmail, so every message
// a website sends with PHP's mail() passes through this package in-process. The
// flow, in the order a message meets it:
//
//  1. The message is parsed once into a [Message]: envelope sender and
//     recipients, header, text and HTML parts, attachments and parse warnings.
//     Malformed mail is never rejected for being malformed; the damage is noted
//     in [Message.Warnings], which the scorer treats as a signal.
//  2. The submitting website is identified by the real UID of the process that
//     runs sendmail ([Site], [SiteForUID]), never by anything the site writes.
//     What the site does write (X-PHP-Originating-Script, the caller's working
//     directory) is kept as [Evidence].
//  3. A [Scorer] gives the message a [Score] on the SpamAssassin scale (5 is
//     spam) together with the rules that fired. The [BuiltinScorer] is pure Go,
//     needs no network and is fast enough to run in every sendmail process;
//     adapters for spamd and rspamd live in their own packages.
//  4. The [Detector] turns the score into a [Verdict] under a [Policy]: a message
//     scoring at least SpamScore is spam-marked and recorded in the site's
//     bounded log ([Window], [Store]). When more than MaxSpam spam-marked
//     recipients (or messages, under [CountMessages]) fall within Window,
//     the site trips: it is disabled in the
//     [Store], which makes every later submission a refusal, and the [Enforcer]
//     acts on top (a control panel command, a webhook, a Go func).
//  5. Spam-marked messages of a site that has not tripped are held for HoldFor
//     before release, so a run is caught with little or nothing sent. When the
//     site trips, whatever it still has queued goes back to its sender as a
//     delivery status notification built by [Bounce]: RFC 3464 fields, status
//     5.7.1, a link to an article that explains what happened, and the
//     original header only, never the spam itself.
//  6. The [Incident] recorded at the trip tells the operator which messages,
//     scripts and directories were involved.
//
// Time is an argument ([PolicyDetector.CheckAt], [Window.Add]) or a seam
// ([DetectorOptions].Now), so a whole day of traffic runs in a test in
// microseconds. The root package has no database or
// network dependencies; storage backends and scorer adapters are separate
// packages, and package spamruntest holds helpers for tests.
package spamrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Detector decides what happens to each message a site submits.
//
// Check scores msg, records it against site and returns the verdict. An error
// means no decision could be made (the scorer or the store failed); the caller
// must then keep the message, for instance queued until a later decision, and
// must not deliver it.
type Detector interface {
	Check(ctx context.Context, site string, msg *Message) (Verdict, error)
}

// Action is what the caller does with a submitted message.
type Action int

const (
	// Deliver: relay the message now (subject to any volume pacing).
	Deliver Action = iota
	// Hold: keep the message queued until Verdict.HoldUntil; if the site trips
	// before then, it is bounced instead of relayed.
	Hold
	// Refuse: the site is disabled; the message is not accepted. sendmail
	// exits 69 with the reason and article URL on stderr.
	Refuse
)

func (a Action) String() string {
	switch a {
	case Deliver:
		return "deliver"
	case Hold:
		return "hold"
	case Refuse:
		return "refuse"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// MarshalText makes actions readable in JSON and logs.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// Verdict is the detector's decision on one submission.
type Verdict struct {
	Site   string
	Action Action
	Score  Score
	// Spam reports whether the message was spam-marked: Score.Value ≥ SpamScore.
	Spam bool
	// Count is the weight of the site's spam-marked submissions within the
	// window ending now, this one included: their envelope recipients under
	// CountRecipients, their number under CountMessages (see
	// SpamEvent.Weight and Store.RecordSpam). It is only counted for
	// spam-marked messages; for others it is 0.
	Count int
	// HoldUntil is when a held message may be released.
	HoldUntil time.Time
	// Tripped is true for the one submission that disabled the site.
	Tripped bool
	// Incident is the incident that disabled the site, when Action is Refuse.
	Incident *Incident
	// EnforcerErr is what the pluggable enforcers said when they failed at the
	// trip. The site is disabled in the store regardless; this is for the log.
	EnforcerErr error
	// Scored is false for a message refused unscored, its site being
	// disabled already.
	Scored bool
	// ScoreTime and StoreTime are how long the decision waited for the
	// scorer and for the state store, for the operator's metrics.
	ScoreTime, StoreTime time.Duration
}

// Policy is the rule a site is held to.
type Policy struct {
	// SpamScore is the score at or above which a message is spam-marked.
	SpamScore float64
	// MaxSpam is how many spam-marked messages a site may submit within
	// Window, each counted as Count says; one more trips it. 0 trips on
	// the first spam-marked message.
	MaxSpam int
	// Window is the width of the sliding window: at time t, the count is over
	// (t−Window, t].
	Window time.Duration
	// HoldFor is how long spam-marked messages wait before release; 0 turns
	// hold mode off.
	HoldFor time.Duration
	// Exempt sites are scored and logged but never held or disabled: for
	// a host's own newsletter machine, say.
	Exempt bool
	// Count is what a spam-marked message weighs against MaxSpam: one per
	// envelope recipient (CountRecipients, the zero value and default) or
	// one (CountMessages).
	Count Count
}

// Count is what a spam-marked message weighs against Policy.MaxSpam.
type Count int

const (
	// CountRecipients weighs a message by its envelope recipients, at
	// least one: the window holds what was sent, as the relay counts it,
	// so 500 Bcc recipients of one spam are 500 spam, not one.
	CountRecipients Count = iota
	// CountMessages weighs every message one, whatever its recipients: for
	// a site that legitimately sends to many at once and accepts that a
	// spam run through it is counted by submissions.
	CountMessages
)

// String is the configuration's name of c.
func (c Count) String() string {
	switch c {
	case CountRecipients:
		return "recipients"
	case CountMessages:
		return "messages"
	}
	return fmt.Sprintf("Count(%d)", int(c))
}

// Counted says in words what c counts, for a sentence such as "more than 10
// recipients of spam-marked messages within 1h".
func (c Count) Counted() string {
	if c == CountMessages {
		return "spam-marked messages"
	}
	return "recipients of spam-marked messages"
}

// ParseCount reads the configuration's name of a Count.
func ParseCount(s string) (Count, error) {
	switch s {
	case "recipients":
		return CountRecipients, nil
	case "messages":
		return CountMessages, nil
	}
	return 0, fmt.Errorf("%w: count %q is neither \"recipients\" nor \"messages\"", ErrBadPolicy, s)
}

// Weight is what a spam-marked message with the given number of envelope
// recipients weighs under p: never less than one, so that a message whose
// recipients are unknown still counts.
func (p Policy) Weight(recipients int) int {
	if p.Count == CountMessages {
		return 1
	}
	return max(recipients, 1)
}

// policyJSON is how a Policy reads in incidents, webhooks and stores: the
// names of the configuration file, durations as "1h0m0s".
type policyJSON struct {
	SpamScore float64 `json:"spam_score"`
	MaxSpam   int     `json:"max_spam"`
	Window    string  `json:"window"`
	HoldFor   string  `json:"hold_for"`
	Exempt    bool    `json:"exempt,omitempty"`
	Count     string  `json:"count,omitempty"`
}

// MarshalJSON writes the policy with the configuration's key names.
func (p Policy) MarshalJSON() ([]byte, error) {
	return json.Marshal(policyJSON{p.SpamScore, p.MaxSpam, p.Window.String(), p.HoldFor.String(), p.Exempt, p.Count.String()})
}

// UnmarshalJSON reads what MarshalJSON writes. A policy without count was
// written by a release that counted messages, and reads as CountMessages.
func (p *Policy) UnmarshalJSON(data []byte) error {
	var j policyJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	window, err := time.ParseDuration(j.Window)
	if err != nil {
		return fmt.Errorf("spamrun: policy window: %w", err)
	}
	holdFor, err := time.ParseDuration(j.HoldFor)
	if err != nil {
		return fmt.Errorf("spamrun: policy hold_for: %w", err)
	}
	count := CountMessages
	if j.Count != "" {
		if count, err = ParseCount(j.Count); err != nil {
			return err
		}
	}
	*p = Policy{SpamScore: j.SpamScore, MaxSpam: j.MaxSpam, Window: window, HoldFor: holdFor, Exempt: j.Exempt, Count: count}
	return nil
}

// DefaultPolicy is the policy of the embedded configuration.
func DefaultPolicy() Policy {
	return Policy{SpamScore: 5, MaxSpam: 10, Window: time.Hour, HoldFor: 15 * time.Minute}
}

// ErrBadPolicy is wrapped by every error of Policy.Validate.
var ErrBadPolicy = errors.New("spamrun: bad policy")

// Validate reports the first setting that makes no sense.
func (p Policy) Validate() error {
	switch {
	case p.MaxSpam < 0:
		return fmt.Errorf("%w: max_spam %d is negative", ErrBadPolicy, p.MaxSpam)
	case p.MaxSpam > MaxSpamLimit:
		return fmt.Errorf("%w: max_spam %d is above the limit of %d", ErrBadPolicy, p.MaxSpam, MaxSpamLimit)
	case p.Window <= 0:
		return fmt.Errorf("%w: window %v must be positive", ErrBadPolicy, p.Window)
	case p.HoldFor < 0:
		return fmt.Errorf("%w: hold_for %v is negative", ErrBadPolicy, p.HoldFor)
	case p.SpamScore != p.SpamScore: // NaN
		return fmt.Errorf("%w: spam_score is not a number", ErrBadPolicy)
	case p.Count != CountRecipients && p.Count != CountMessages:
		return fmt.Errorf("%w: count %v is neither recipients nor messages", ErrBadPolicy, p.Count)
	}
	return nil
}

// Enforcer acts on a site when it trips and when the operator re-enables it.
//
// The store's disabled flag is always on and is what makes sendmail refuse a
// disabled site; an Enforcer is what a host adds on top: its control panel's
// command to suspend the vhost or a webhook, both in package enforce, or Go
// funcs ([EnforcerFuncs]). The detector calls
// Disable once per trip and Enable once per re-enable, so implementations
// need not deduplicate, but must tolerate being called again for a site in
// the state asked for (after a crash, say).
type Enforcer interface {
	Disable(ctx context.Context, site string, inc *Incident) error
	Enable(ctx context.Context, site string) error
}

// Incident is the record of one trip: which site, when, under which policy,
// the spam-marked submissions in the window that tripped it, and what the
// store knew then of the site's scripts and traffic, so that the report
// can tell an abused form from an uploaded mail script long after.
type Incident struct {
	ID     string    `json:"id"`
	Site   string    `json:"site"`
	Time   time.Time `json:"time"`
	Policy Policy    `json:"policy"`
	// Count is the weight of the spam-marked submissions in the window at
	// the trip, the tripping one included, as Policy.Count weighs them:
	// recipients or messages. It exceeds MaxSpam, and is exact as far as
	// the store's log reaches (see Store.RecordSpam).
	Count int `json:"count"`
	// Messages are the spam-marked submissions in the window, oldest first.
	Messages []SpamEvent `json:"messages"`
	// Scripts is the site's script history at the trip (see
	// ScriptHistory), limited to the scripts that sent mail since
	// Activity's start, most recently seen first. Empty when the store
	// keeps no history.
	Scripts []ScriptSeen `json:"scripts,omitempty"`
	// Activity counts the site's accepted submissions per minute and
	// script from IncidentLead before the window's start to the trip, in
	// time order. Empty when the store keeps no history.
	Activity []Minute `json:"activity,omitempty"`
	// Enforced is what the enforcer did, recorded once it returned; nil
	// when no enforcer is configured, it has not returned yet, or the
	// store keeps no incident history.
	Enforced *Enforcement `json:"enforced,omitempty"`
}

// Enforcement is the outcome of an Enforcer's Disable.
type Enforcement struct {
	// Time is when Disable returned.
	Time time.Time `json:"time"`
	// Err is its error; "" when the site was disabled.
	Err string `json:"error,omitempty"`
}

// IncidentLead is how much of a site's traffic before the window an
// incident keeps, so that the run stands out against the site's ordinary
// mail.
const IncidentLead = time.Hour

// SpamEvent is what the store keeps of one spam-marked submission.
type SpamEvent struct {
	Time       time.Time `json:"time"`
	MessageID  string    `json:"message_id,omitempty"`
	Score      float64   `json:"score"`
	Rules      []string  `json:"rules,omitempty"` // the top rules, most points first
	Sender     string    `json:"sender"`
	Recipients int       `json:"recipients"`
	// Weight is what the submission counts against MaxSpam: its
	// recipients under CountRecipients, 1 under CountMessages. Stores
	// count a Weight below 1, an event logged before weights, as 1 (see
	// Weighs).
	Weight int `json:"weight,omitempty"`
	// Domains are the recipients' domains, distinct, in envelope order, at
	// most MaxEventDomains.
	Domains []string `json:"domains,omitempty"`
	Subject string   `json:"subject,omitempty"`
	// Links are the hosts the text links to, distinct, in order of
	// appearance, at most MaxEventLinks.
	Links []string `json:"links,omitempty"`
	// Lines fingerprint the text without keeping it: a hash of each
	// distinct normalised line (see TextLines), so that a report can see
	// the fixed text of a form's template among a run's messages.
	Lines    []uint32 `json:"lines,omitempty"`
	Evidence Evidence `json:"evidence"`
	// Submission is the message's SubmissionID, by which a store
	// recognises a submission decided again; "" is never recognised.
	Submission string `json:"submission,omitempty"`
}

// Weighs is the event's Weight, at least 1: what every store counts.
func (ev SpamEvent) Weighs() int { return max(ev.Weight, 1) }

// SpamWeight is the sum of what evs weigh: the count of a window that
// holds them.
func SpamWeight(evs []SpamEvent) int {
	n := 0
	for _, ev := range evs {
		n += ev.Weighs()
	}
	return n
}

// The bounds of what a SpamEvent keeps of one message, so that a message
// with 10,000 recipients or links costs the store no more than any other.
const (
	MaxEventDomains = 20
	MaxEventLinks   = 8
	MaxEventLines   = 32
)
