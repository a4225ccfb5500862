package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/notify"
	"github.com/spamrun/spamrun/spool"
)

// Tripped returns the queue of a site this process just disabled, as
// BounceSite does, and then writes the incident's notices to the site's
// owner and to the operator, with what became of the queue. It is for the
// one process whose decision disabled the site (spamrun.Verdict.Tripped),
// whichever door the decision came through, so that each incident has one
// of each notice however many processes see the site disabled. The
// notices are relayed by the next pass, or by Pass at once when it
// called Tripped.
func (r *Runner) Tripped(ctx context.Context, site string, inc *spamrun.Incident) (Stats, error) {
	stats, err := r.BounceSite(ctx, site, inc)
	if r.Notifier == nil {
		return stats, err
	}
	fate := notify.Fate{Bounced: stats.Bounced, Kept: stats.Quarantined}
	notices, nerr := r.Notifier.Tripped(ctx, inc, fate)
	ids, aerr := r.addNotices(inc, notices)
	stats.dsns = append(stats.dsns, ids...)
	return stats, errors.Join(err, nerr, aerr)
}

// Enabled writes the notices that the site inc had disabled may send
// again, and relays them at once when the relay takes them; what it does
// not take waits for the next pass.
func (r *Runner) Enabled(ctx context.Context, inc *spamrun.Incident) error {
	if r.Notifier == nil {
		return nil
	}
	notices, nerr := r.Notifier.Enabled(ctx, inc)
	ids, aerr := r.addNotices(inc, notices)
	errs := []error{nerr, aerr}
	for _, id := range ids {
		if _, err := r.Deliver(ctx, id); err != nil && !skippable(err) {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// addNotices writes notices into the queue, to be relayed from the null
// sender. A notice written before a crash is not written again: its ID
// is the incident's. A notice belongs to no submitter, so a site's user
// running sendmail -q or mailq never sees the operator's.
func (r *Runner) addNotices(inc *spamrun.Incident, notices []notify.Notice) ([]string, error) {
	var (
		ids  []string
		errs []error
	)
	now := r.now()
	for _, n := range notices {
		e := &spool.Entry{
			ID: n.ID, Kind: spool.KindNotice, Site: inc.Site, UID: -1, Incident: inc.ID,
			Recipients: n.To, Received: now, State: spool.Queued, SMTPUTF8: !allASCII(n.To),
		}
		if err := r.Spool.Add(e, n.Data); err != nil && !errors.Is(err, spool.ErrExists) {
			errs = append(errs, fmt.Errorf("notice %s: %w", n.ID, err))
			continue
		}
		r.logf("site=%s id=%s to=<%s> incident=%s action=notice queued", inc.Site, n.ID, strings.Join(n.To, ","), inc.ID)
		ids = append(ids, n.ID)
	}
	return ids, errors.Join(errs...)
}

func allASCII(addrs []string) bool {
	for _, a := range addrs {
		if utf8.RuneCountInString(a) != len(a) {
			return false
		}
	}
	return true
}
