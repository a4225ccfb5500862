package enforce

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spamrun/spamrun"
)

// Multi returns an enforcer that calls each of enforcers in order: say,
// the panel command that suspends the vhost, then a webhook to the ticket
// system. A failure does not stop the others, because one panel being down
// must not spare the site the rest of its enforcement. The error joins
// every failure (errors.Join), each naming the failed enforcer by position
// and type. nil enforcers are skipped.
func Multi(enforcers ...spamrun.Enforcer) spamrun.Enforcer {
	return multi(append([]spamrun.Enforcer(nil), enforcers...))
}

type multi []spamrun.Enforcer

func (m multi) Disable(ctx context.Context, site string, inc *spamrun.Incident) error {
	return m.each(func(e spamrun.Enforcer) error { return e.Disable(ctx, site, inc) })
}

func (m multi) Enable(ctx context.Context, site string) error {
	return m.each(func(e spamrun.Enforcer) error { return e.Enable(ctx, site) })
}

func (m multi) each(call func(spamrun.Enforcer) error) error {
	var errs []error
	for i, e := range m {
		if e == nil {
			continue
		}
		if err := call(e); err != nil {
			errs = append(errs, &enforcerError{pos: i + 1, enforcer: e, err: err})
		}
	}
	return errors.Join(errs...)
}

type enforcerError struct {
	pos      int
	enforcer spamrun.Enforcer
	err      error
}

func (e *enforcerError) Error() string {
	// Our own errors already begin with "enforce: "; once per line is enough.
	return fmt.Sprintf("enforce: enforcer %d (%T): %s", e.pos, e.enforcer, strings.TrimPrefix(e.err.Error(), "enforce: "))
}

func (e *enforcerError) Unwrap() error { return e.err }
