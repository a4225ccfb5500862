// Package submit is the one path every message a site submits takes,
// whichever door it came through: sendmail's command line, sendmail -bs,
// or the SMTP listener. A Submitter prepares the message, has the detector
// decide it, writes it durably to the spool and hands it to the relay; an
// error means the message was not accepted.
package submit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/internal/host"
	"github.com/spamrun/spamrun/queue"
	"github.com/spamrun/spamrun/spool"
)

// Doors a message can come through, as Evidence.Door names them.
const (
	DoorSendmail       = "sendmail"        // the sendmail program, -bs included
	DoorSMTPLocal      = "smtp-local"      // the listener, connected to directly
	DoorSMTPRedirected = "smtp-redirected" // the listener, by the egress lock
)

// ErrNoRecipients is a message with no recipient, neither in its envelope
// nor, with Envelope.Extract, in its header.
var ErrNoRecipients = errors.New("no recipient addresses found in the message header")

// ErrSpool wraps the error of a spool that could not take an accepted
// message.
var ErrSpool = errors.New("the spool could not take the message")

// RefusedError is a submission from a disabled site.
type RefusedError struct {
	Site       string
	Incident   *spamrun.Incident // nil when the store gave none
	ArticleURL string
}

func (e *RefusedError) Error() string {
	msg := fmt.Sprintf("mail from website %q is disabled because it sent spam", e.Site)
	if e.ArticleURL != "" {
		msg += "; see " + e.ArticleURL
	}
	if e.Incident != nil {
		msg += " (incident " + e.Incident.ID + ")"
	}
	return msg
}

// Envelope is one message's envelope as the caller gave it.
type Envelope struct {
	Sender     string
	Recipients []string
	// Extract takes recipients from the header too (sendmail -t).
	Extract bool
	// FullName is for a From field the message lacks (sendmail -F).
	FullName string
}

// Submitter submits the messages of one site. Its fields are set once,
// before the first Submit; a Submitter may be used by one goroutine at a
// time.
type Submitter struct {
	Host *host.Host
	Site spamrun.Site
	// UID is the UID the kernel reported for the submitter.
	UID int
	// Evidence is what is known of the submitting process and the door it
	// used; its UID is set from UID.
	Evidence spamrun.Evidence
	// Trusted submissions are relayed uncounted: no score, no decision,
	// as for the MTA's own users on the listener.
	Trusted bool
	// Relay, when set, takes an accepted message that may leave at once
	// and returns what became of it for the log, instead of relaying it
	// before Submit returns: the resident listener hands it to workers of
	// its own and answers its client at once. The message is in the spool,
	// so one that is never relayed is left to the queue runner.
	Relay func(e *spool.Entry) string
	// Later, when set, takes what need not delay the answer to the
	// submitter: recording the site's script history. The daemon runs it
	// once it has answered the sendmail front.
	Later func(func())
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logf gets one line per message and the warnings; nil discards them.
	Logf func(format string, args ...any)
}

func (s *Submitter) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Submitter) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

// Refusal returns the RefusedError of a disabled site, or nil, and
// reports a refusal as an event: a message refused before it was sent.
// Without a state store nothing is known, and the submission decides.
func (s *Submitter) Refusal(ctx context.Context) error {
	det := s.Host.Detector
	if det == nil {
		return nil
	}
	inc, err := det.Disabled(ctx, s.Site.Name)
	if err != nil || inc == nil {
		return nil
	}
	s.observe(queue.Event{Time: s.now(), Action: queue.ActionRefused, Site: s.Site.Name, Door: s.Evidence.Door, Incident: inc.ID})
	return s.refused(inc)
}

func (s *Submitter) refused(inc *spamrun.Incident) error {
	return &RefusedError{Site: s.Site.Name, Incident: inc, ArticleURL: s.Host.Config.ArticleURL}
}

// Submit runs one message through spamrun: prepare, decide, spool, relay.
// It returns the spool entry of an accepted message; an error means the
// message was not accepted.
func (s *Submitter) Submit(ctx context.Context, env Envelope, data []byte) (*spool.Entry, error) {
	cfg := s.Host.Config
	now := s.now()
	id := spool.NewID(now)
	p, err := prepare(data, env.Extract, env.Sender, env.FullName, cfg.Hostname, id, s.UID, now)
	if err != nil {
		return nil, err
	}
	rcpts := dedupe(append(append([]string(nil), env.Recipients...), p.recipients...))
	if len(rcpts) == 0 {
		return nil, ErrNoRecipients
	}
	msg, err := spamrun.ParseMessage(p.data, env.Sender, rcpts)
	if err != nil {
		return nil, err
	}
	ev := s.Evidence
	ev.UID = s.UID
	ev.Script = msg.Evidence.Script
	ev.File = scriptFile(ev)
	msg.Evidence = ev
	// The store may record the decision and answer too late: the runner
	// that decides the message again must not count it twice.
	msg.SubmissionID = id
	msg.SiteDomains = s.Site.Domains

	e := &spool.Entry{
		ID: id, Site: s.Site.Name, UID: s.UID, Sender: msg.Sender, Recipients: msg.Recipients,
		Received: now, State: spool.Undecided, Evidence: msg.Evidence, SMTPUTF8: needsSMTPUTF8(msg),
		// The spool sets it again; a refused message, never spooled, is
		// logged with its size too.
		Size: int64(len(p.data)),
	}
	var verdict spamrun.Verdict
	decided := false
	if s.Trusted {
		e.State = spool.Queued
	} else if det := s.Host.Detector; det != nil {
		verdict, err = det.CheckAt(ctx, s.Site.Name, msg, now)
		decided = err == nil
		if err != nil {
			s.logf("warning: site=%s no decision, accepting undecided: %v", s.Site.Name, err)
		} else {
			e.Score, e.Spam = verdict.Score, verdict.Spam
			switch verdict.Action {
			case spamrun.Refuse:
				s.logline(e, "refused", verdict)
				ev := queue.DecisionEvent(e, verdict, now)
				ev.Action = queue.ActionRefused
				s.observe(ev)
				if verdict.Tripped {
					s.observe(queue.TripEvent(e, verdict.Incident, now))
					s.bounceSite(ctx, verdict.Incident)
				}
				return nil, s.refused(verdict.Incident)
			case spamrun.Hold:
				e.State, e.HoldUntil = spool.Held, verdict.HoldUntil
			case spamrun.Deliver:
				e.State = spool.Queued
			}
		}
	}
	if err := s.Host.Spool.Add(e, p.data); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSpool, err)
	}
	// The history is evidence, not a decision: losing an entry costs less
	// than failing the mail. A store that just failed the decision is not
	// asked again, so a Redis that is down costs the website one timeout.
	if decided {
		record := func() { queue.RecordScript(ctx, s.Host.Scripts, e, s.logf) }
		if s.Later != nil {
			s.Later(record)
		} else {
			record()
		}
	}
	s.observe(queue.DecisionEvent(e, verdict, now))
	action := string(e.State)
	if e.State == spool.Queued {
		action = s.relayNow(ctx, e)
	}
	s.logline(e, action, verdict)
	return e, nil
}

// relayNow hands an accepted message to the relay. When the relay is down
// the message stays queued for the next pass; it is accepted either way.
// With pacing configured the runner relays everything, so that it alone
// keeps each site's budget.
func (s *Submitter) relayNow(ctx context.Context, e *spool.Entry) string {
	if s.Host.Config.Queue.MaxRate > 0 {
		queue.Wake(s.Host.Spool.Dir())
		return "queued"
	}
	if s.Relay != nil {
		return s.Relay(e)
	}
	action, err := s.Host.Queue.Deliver(ctx, e.ID)
	if err != nil && !errors.Is(err, spool.ErrLocked) {
		s.logf("error: id=%s %s, but the spool failed: %v", e.ID, action, err)
	}
	return action
}

// bounceSite returns the queue of the site this submission just tripped
// at once, rather than at the runner's next pass, writes the notices of
// the trip, and wakes the runner to send the DSNs and the notices.
func (s *Submitter) bounceSite(ctx context.Context, inc *spamrun.Incident) {
	stats, err := s.Host.Queue.Tripped(ctx, s.Site.Name, inc)
	if err != nil {
		s.logf("warning: site=%s bouncing the queue: %v", s.Site.Name, err)
	}
	s.logf("site=%s incident=%s tripped: bounced=%d quarantined=%d", s.Site.Name, inc.ID, stats.Bounced, stats.Quarantined)
	queue.Wake(s.Host.Spool.Dir())
}

func (s *Submitter) observe(ev queue.Event) {
	if s.Host.Observe != nil {
		s.Host.Observe(ev)
	}
}

func (s *Submitter) logline(e *spool.Entry, action string, v spamrun.Verdict) {
	door := ""
	if e.Evidence.Door != "" && e.Evidence.Door != DoorSendmail {
		door = " door=" + e.Evidence.Door
	}
	s.logf("site=%s id=%s from=<%s> nrcpt=%d size=%d score=%.1f action=%s%s",
		s.Site.Name, e.ID, e.Sender, len(e.Recipients), e.Size, v.Score.Value, action, door)
}

func dedupe(addrs []string) []string {
	seen := make(map[string]bool, len(addrs))
	out := addrs[:0]
	for _, a := range addrs {
		key := strings.ToLower(a)
		if !seen[key] {
			seen[key] = true
			out = append(out, a)
		}
	}
	return out
}

func needsSMTPUTF8(msg *spamrun.Message) bool {
	ascii := func(s string) bool { return utf8.RuneCountInString(s) == len(s) }
	if !ascii(msg.Sender) {
		return true
	}
	for _, r := range msg.Recipients {
		if !ascii(r) {
			return true
		}
	}
	return false
}
