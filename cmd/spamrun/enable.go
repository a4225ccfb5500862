package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spamrun/spamrun"
)

// enable is spamrun enable SITE: the site may send again, with an empty
// window. It is audited whether or not the site was disabled: it resets
// the window either way. A site that was disabled has its owner and the
// operator told, by notices [notify] describes.
func (e *env) enable(args []string) error {
	f := newFlags("enable", "SITE")
	operands, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(operands) != 1 {
		return f.usageErrorf("enable takes one SITE")
	}
	site := operands[0]
	if err := f.site(site); err != nil {
		return err
	}
	h, closeHost, err := e.openStoreHost()
	if err != nil {
		return err
	}
	defer closeHost()
	ctx := context.Background()
	inc, err := h.Detector.Disabled(ctx, site)
	if err != nil {
		return unavailable(err)
	}
	enableErr := h.Detector.Enable(ctx, site)
	if enableErr != nil && !errors.Is(enableErr, spamrun.ErrEnforcer) {
		return enableErr // the store failed: nothing changed
	}
	var errs []error
	rec := auditRecord{Event: "enable", Site: site}
	if inc != nil {
		rec.Incident = inc.ID
	}
	aud := e.newAuditor(h.Config)
	defer aud.close()
	if err := aud.log(rec); err != nil {
		errs = append(errs, fmt.Errorf("warning: not in the audit log: %w", err))
	}
	if inc != nil {
		fmt.Fprintf(e.stdout, "site %s enabled (it was disabled since %s by incident %s)\n", site, fmtTime(inc.Time), inc.ID)
	} else {
		fmt.Fprintf(e.stdout, "site %s was not disabled; its window is reset\n", site)
	}
	if inc != nil {
		// The site's owner and the operator hear that its mail is back
		// on; the relay being down only delays the notices.
		if err := h.Queue.Enabled(ctx, inc); err != nil {
			errs = append(errs, fmt.Errorf("warning: notices of the re-enabling: %w", err))
		}
	}
	if enableErr != nil {
		errs = append(errs, fmt.Errorf("warning: %w", enableErr))
	}
	return errors.Join(errs...)
}
