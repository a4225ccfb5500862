package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spamrun/spamrun"
)

// enable is spamrun enable SITE: the site may send again, with an empty
// window. It is audited whether or not the site was disabled: it resets
// the window either way.
func enable(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("enable SITE", stderr)
	operands, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(operands) != 1 {
		fs.Usage()
		return exitUsage
	}
	site := operands[0]
	if code, ok := siteArg(stderr, site); !ok {
		return code
	}
	h, closeHost, code := openStoreHost(stderr)
	if h == nil {
		return code
	}
	defer closeHost()
	ctx := context.Background()
	inc, err := h.Detector.Disabled(ctx, site)
	if err != nil {
		fmt.Fprintln(stderr, "spamrun:", err)
		return exitTempErr
	}
	enableErr := h.Detector.Enable(ctx, site)
	if enableErr != nil && !errors.Is(enableErr, spamrun.ErrEnforcer) {
		// The store failed: nothing changed.
		fmt.Fprintln(stderr, "spamrun:", enableErr)
		return exitFailed
	}
	code = exitOK
	rec := auditRecord{Event: "enable", Site: site}
	if inc != nil {
		rec.Incident = inc.ID
	}
	aud := newAuditor(h.Config)
	defer aud.close()
	if err := aud.log(rec); err != nil {
		fmt.Fprintln(stderr, "spamrun: warning: not in the audit log:", err)
		code = exitFailed
	}
	if inc != nil {
		fmt.Fprintf(stdout, "site %s enabled (it was disabled since %s by incident %s)\n", site, fmtTime(inc.Time), inc.ID)
	} else {
		fmt.Fprintf(stdout, "site %s was not disabled; its window is reset\n", site)
	}
	if enableErr != nil {
		fmt.Fprintln(stderr, "spamrun: warning:", enableErr)
		code = exitFailed
	}
	return code
}
