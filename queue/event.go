package queue

import (
	"errors"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/relay"
	"github.com/spamrun/spamrun/spool"
)

// Actions an Event reports. A message is counted once when it is
// accepted or refused (Queued, Held, Undecided, Refused), once more when a
// queue pass decides it (Held or Queued again), and once when it leaves the
// queue (Relayed, Bounced, Kept); Deferred counts attempts.
const (
	ActionQueued    = "queued"    // accepted, waiting for the relay
	ActionHeld      = "held"      // accepted spam-marked, held for hold_for
	ActionUndecided = "undecided" // accepted while the state store was down
	ActionRefused   = "refused"   // not accepted: the site is disabled, or tripped now
	ActionRelayed   = "relayed"   // the relay took it, for one recipient at least
	ActionDeferred  = "deferred"  // an attempt failed; it is tried again
	ActionBounced   = "bounced"   // returned to its sender with a DSN
	ActionKept      = "kept"      // kept in quarantine without a DSN
	ActionDamaged   = "damaged"   // a spool file that could not be read, kept whole
	// ActionTripped is not a message's: the submission that disabled its
	// site, once per incident.
	ActionTripped = "tripped"
	// ActionRelayError is an attempt the relay failed, with its class.
	ActionRelayError = "relay-error"
)

// Classes of a relay failure, as Event.Failure names them.
const (
	FailureTemporary  = "temporary"  // a 4xx reply
	FailurePermanent  = "permanent"  // a 5xx reply
	FailureConnection = "connection" // no reply: refused, timed out, cut
)

// Event is one thing that happened to a message, for the operator's
// metrics and structured logs: the queue runner reports its own through
// Runner.Observe, and a submission reports its decision the same way.
type Event struct {
	Time   time.Time
	Action string
	Site   string
	ID     string
	// Kind is the spool entry's kind: "" for a site's message, or
	// spool.KindDSN.
	Kind string
	// Door is how the message came in (spamrun.Evidence.Door); "" is the
	// sendmail program.
	Door       string
	Recipients int
	// Scored says the message was scored now; Score and Spam are then
	// its verdict, and ScoreTime and StoreTime what the decision waited
	// for.
	Scored               bool
	Score                float64
	Spam                 bool
	ScoreTime, StoreTime time.Duration
	// Failure is the class of an ActionRelayError.
	Failure string
	// Incident names the incident of ActionTripped and of a message
	// returned or kept because its site tripped.
	Incident string
}

// entryEvent is the event of action on e.
func entryEvent(e *spool.Entry, action string, now time.Time) Event {
	return Event{
		Time: now, Action: action, Site: e.Site, ID: e.ID, Kind: e.Kind,
		Door: e.Evidence.Door, Recipients: len(e.Recipients), Incident: e.Incident,
	}
}

func (r *Runner) observe(ev Event) {
	if r.Observe != nil {
		r.Observe(ev)
	}
}

// observeRelayError reports a failed attempt of e's, by the class of err.
func (r *Runner) observeRelayError(e *spool.Entry, err error, now time.Time) {
	ev := entryEvent(e, ActionRelayError, now)
	ev.Failure = FailureClass(err)
	r.observe(ev)
}

// FailureClass is the class of a relay's error: a reply of the relay,
// temporary or permanent, or no reply at all.
func FailureClass(err error) string {
	var rerr *relay.Error
	switch {
	case !errors.As(err, &rerr):
		return FailureConnection
	case relay.IsPermanent(err):
		return FailurePermanent
	}
	return FailureTemporary
}

// DecisionEvent is the event of message e, decided by v, in the state
// it is in now.
func DecisionEvent(e *spool.Entry, v spamrun.Verdict, now time.Time) Event {
	ev := entryEvent(e, string(e.State), now)
	ev.Scored, ev.Score, ev.Spam = v.Scored, v.Score.Value, v.Spam
	ev.ScoreTime, ev.StoreTime = v.ScoreTime, v.StoreTime
	return ev
}

// TripEvent is the event of the submission e that disabled its site by
// inc.
func TripEvent(e *spool.Entry, inc *spamrun.Incident, now time.Time) Event {
	ev := entryEvent(e, ActionTripped, now)
	if inc != nil {
		ev.Incident = inc.ID
	}
	return ev
}
