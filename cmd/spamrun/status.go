package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/internal/host"
	"github.com/spamrun/spamrun/report"
	"github.com/spamrun/spamrun/spool"
)

// siteStatus is one site as spamrun status shows it.
type siteStatus struct {
	Site     string `json:"site"`
	Disabled bool   `json:"disabled"`
	// DisabledSince and IncidentID say when and by which incident a
	// disabled site was disabled.
	DisabledSince time.Time      `json:"disabled_since,omitzero"`
	IncidentID    string         `json:"incident_id,omitempty"`
	Spam          int            `json:"spam"` // the weight of the spam-marked submissions in the window now, as the policy counts
	Policy        spamrun.Policy `json:"policy"`
	Queued        int            `json:"queued"` // waiting to be relayed, undecided ones included
	Held          int            `json:"held"`
	Quarantined   int            `json:"quarantined"` // bounced or kept
	// Submitted sums the script history's counts; nil when the store
	// keeps no history.
	Submitted *int64    `json:"submitted,omitempty"`
	LastSeen  time.Time `json:"last_seen,omitzero"`

	// For one site: the incident in force and the script history.
	Incident *spamrun.Incident    `json:"incident,omitempty"`
	Scripts  []spamrun.ScriptSeen `json:"scripts,omitempty"`
}

// status is spamrun status: every site the host knows, or one in detail.
// What it could gather is shown even when the rest fails.
func (e *env) status(args []string) error {
	f := newFlags("status", "[--json] [SITE]")
	asJSON := f.Bool("json", false, "print a JSON array, or an object for one SITE")
	one, err := f.parseSite(args)
	if err != nil {
		return err
	}
	h, closeHost, err := e.openStoreHost()
	if err != nil {
		return err
	}
	defer closeHost()
	rows, damaged, err := collectStatus(context.Background(), h, one, e.now())
	if err != nil {
		err = unavailable(err)
		if rows == nil {
			return err
		}
	}
	if *asJSON {
		var v any = rows
		if one != "" {
			v = rows[0]
		}
		if werr := writeJSON(e.stdout, v); werr != nil {
			return werr
		}
		return err
	}
	printStatus(e.stdout, rows)
	if one != "" {
		printSiteDetail(e.stdout, rows[0])
	}
	if damaged > 0 {
		fmt.Fprintf(e.stdout, "\nDamaged spool files, of no known site, kept whole in quarantine: %d (spamrun queue list --quarantine)\n", damaged)
	}
	return err
}

// collectStatus gathers the status of site, or with site "" of every site
// configured, with mail in the spool or with an incident, and counts the
// damaged files in the spool. Rows it could gather are returned with the
// error of those it could not. Only the row of one site carries its
// incident and scripts, most submissions first.
func collectStatus(ctx context.Context, h *host.Host, site string, t time.Time) ([]*siteStatus, int, error) {
	rows, damaged, err := collectSites(ctx, h, site, t)
	for _, r := range rows {
		if site == "" {
			r.Incident, r.Scripts = nil, nil
			continue
		}
		// Most submissions first: a run's script tops the list.
		slices.SortStableFunc(r.Scripts, func(a, b spamrun.ScriptSeen) int { return cmp.Compare(b.Count, a.Count) })
	}
	return rows, damaged, err
}

// collectSites is collectStatus with every row's incident and scripts, the
// scripts in the store's order: most recently seen first.
func collectSites(ctx context.Context, h *host.Host, site string, t time.Time) ([]*siteStatus, int, error) {
	var errs []error
	rows := make(map[string]*siteStatus)
	row := func(name string) *siteStatus {
		r := rows[name]
		if r == nil {
			r = &siteStatus{Site: name}
			rows[name] = r
		}
		return r
	}
	if site != "" {
		row(site)
	} else {
		for name := range h.Config.SiteConfigs {
			row(name)
		}
	}
	damaged := 0
	count := func(entries []*spool.Entry, err error, quarantine bool) {
		// A file the runner has yet to move into quarantine counts as
		// damaged already.
		files, err := spool.Damaged(err)
		damaged += len(files)
		errs = append(errs, err)
		for _, e := range entries {
			if e.Kind == spool.KindDamaged {
				damaged++
			}
			if e.Kind != "" || site != "" && e.Site != site {
				continue
			}
			r := row(e.Site)
			switch {
			case quarantine:
				r.Quarantined++
			case e.State == spool.Held && !e.Released:
				r.Held++
			default:
				r.Queued++
			}
			if e.Received.After(r.LastSeen) {
				r.LastSeen = e.Received
			}
		}
	}
	queued, err := h.Spool.List()
	count(queued, err, false)
	kept, err := h.Spool.Quarantine()
	count(kept, err, true)
	if site == "" {
		if _, ok := h.Store.(spamrun.IncidentLog); ok {
			list, err := h.Incidents(ctx, "")
			errs = append(errs, err)
			for _, inc := range list {
				row(inc.Site)
			}
		}
	}

	var out []*siteStatus
	for _, name := range slices.Sorted(maps.Keys(rows)) {
		r := rows[name]
		st, err := h.Detector.Status(ctx, name, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.Spam, r.Policy = st.Spam, st.Policy
		if inc := st.Incident; inc != nil {
			r.Disabled, r.DisabledSince, r.IncidentID, r.Incident = true, inc.Time, inc.ID, inc
		}
		if h.Scripts != nil {
			scripts, err := h.Scripts.Scripts(ctx, name)
			if err != nil {
				errs = append(errs, err)
			}
			var sum int64
			for _, s := range scripts {
				sum += s.Count
				if s.Last.After(r.LastSeen) {
					r.LastSeen = s.Last
				}
			}
			r.Submitted, r.Scripts = &sum, scripts
		}
		out = append(out, r)
	}
	if err := errors.Join(errs...); err != nil && len(out) == 0 {
		return nil, damaged, err
	}
	return out, damaged, errors.Join(errs...)
}

func printStatus(w io.Writer, rows []*siteStatus) {
	if len(rows) == 0 {
		fmt.Fprintln(w, "no sites: none configured, and none has sent mail or tripped")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tSTATE\tSPAM IN WINDOW\tWINDOW\tQUEUED\tHELD\tQUARANTINED\tSUBMITTED\tLAST SEEN")
	history := false
	for _, r := range rows {
		state := "enabled"
		switch {
		case r.Disabled:
			state = fmt.Sprintf("disabled since %s (incident %s)", fmtTime(r.DisabledSince), r.IncidentID)
		case r.Policy.Exempt:
			state = "enabled (exempt)"
		}
		submitted := "-"
		if r.Submitted != nil {
			submitted = strconv.FormatInt(*r.Submitted, 10)
			history = true
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%d\t%d\t%d\t%s\t%s\n",
			cell(r.Site), state, r.Spam, r.Policy.MaxSpam, fmtDuration(r.Policy.Window),
			r.Queued, r.Held, r.Quarantined, submitted, fmtTime(r.LastSeen))
	}
	tw.Flush()
	fmt.Fprintln(w, "SPAM IN WINDOW counts the recipients of spam-marked messages against max_spam, or the messages\n"+
		"for a site with count = \"messages\".")
	if history {
		fmt.Fprintln(w, "SUBMITTED counts the messages accepted and decided that named a script or came from a known\n"+
			"directory, as the script history keeps them (at most "+strconv.Itoa(spamrun.MaxScripts)+" scripts a site); mail that named neither is not counted.")
	}
}

// printSiteDetail shows what status SITE adds: the incident in force and
// the scripts that send the site's mail.
func printSiteDetail(w io.Writer, r *siteStatus) {
	if inc := r.Incident; inc != nil {
		fmt.Fprintf(w, "\nIncident %s at %s: %d %s within %s (max_spam %d)\n",
			inc.ID, fmtTime(inc.Time), inc.Count, inc.Policy.Count.Counted(), fmtDuration(inc.Policy.Window), inc.Policy.MaxSpam)
		rep := report.Build(inc, nil)
		fmt.Fprintf(w, "  top rules:   %s\n", counted(rep.Summary.Rules, 5))
		fmt.Fprintf(w, "  top scripts: %s\n", counted(topScripts(rep), 3))
		fmt.Fprintf(w, "  doors:       %s\n", counted(rep.Summary.Doors, 3))
		fmt.Fprintf(w, "  details: spamrun incidents %s; once the cause is fixed: spamrun enable %s\n", r.Site, r.Site)
	}
	if r.Submitted == nil {
		return
	}
	if len(r.Scripts) == 0 {
		fmt.Fprintln(w, "\nNo scripts recorded.")
		return
	}
	const top = 10
	fmt.Fprintf(w, "\nScripts (%d of %d, most submissions first):\n", min(top, len(r.Scripts)), len(r.Scripts))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCRIPT\tCOUNT\tFIRST\tLAST\tDIRECTORY")
	for _, s := range r.Scripts[:min(top, len(r.Scripts))] {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", cell(s.Script), s.Count, fmtTime(s.First), fmtTime(s.Last), cell(s.Cwd))
	}
	tw.Flush()
}
