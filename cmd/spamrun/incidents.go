package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/internal/host"
	"github.com/spamrun/spamrun/report"
)

// incidents is spamrun incidents: every trip, newest first.
func (e *env) incidents(args []string) error {
	if len(args) > 0 && args[0] == "show" {
		return e.incidentShow(args[1:])
	}
	f := newFlags("incidents", "[--json] [SITE]")
	asJSON := f.Bool("json", false, "print the incidents, with their messages, as a JSON array")
	site, err := f.parseSite(args)
	if err != nil {
		return err
	}
	h, closeHost, err := e.openStoreHost()
	if err != nil {
		return err
	}
	defer closeHost()
	ctx := context.Background()
	list, err := incidentList(ctx, h, site)
	if err != nil {
		return err
	}
	if *asJSON {
		if list == nil {
			list = []*spamrun.Incident{}
		}
		return writeJSON(e.stdout, list)
	}
	if len(list) == 0 {
		if site != "" {
			fmt.Fprintf(e.stdout, "no incidents of site %s\n", site)
		} else {
			fmt.Fprintln(e.stdout, "no incidents")
		}
		return nil
	}
	// The state now tells an incident still in force from one the
	// operator has dealt with.
	current := make(map[string]string)
	for _, inc := range list {
		if _, ok := current[inc.Site]; ok {
			continue
		}
		now, err := h.Detector.Disabled(ctx, inc.Site)
		if err != nil {
			return unavailable(err)
		}
		current[inc.Site] = ""
		if now != nil {
			current[inc.Site] = now.ID
		}
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSITE\tTIME\tCOUNT\tPOLICY\tLIKELY CAUSE\tTOP RULES\tTOP SCRIPT\tDOORS\tNOW")
	for _, inc := range list {
		state := "re-enabled"
		if current[inc.Site] == inc.ID {
			state = "disabled"
		}
		r := report.Build(inc, nil)
		cause := r.Findings[0]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s (%s)\t%s\t%s\t%s\t%s\n",
			inc.ID, cell(inc.Site), fmtTime(inc.Time), inc.Count, policyText(inc.Policy),
			report.CauseText(cause.Cause), cause.Level(), counted(r.Summary.Rules, 3), counted(topScripts(r), 1),
			counted(r.Summary.Doors, 2), state)
	}
	tw.Flush()
	fmt.Fprintln(e.stdout, "COUNT is the recipients of the spam-marked messages in the window at the trip, or the messages\n"+
		"where POLICY ends in msg (count = \"messages\"); POLICY is max_spam/window.")
	fmt.Fprintln(e.stdout, "spamrun incidents show ID explains one: its findings, their evidence, a timeline.")
	return nil
}

// policyText is the trip rule of a policy: "10/1h" trips at the 11th
// recipient of spam-marked messages within an hour, "10/1h msg" at the
// 11th spam-marked message.
func policyText(p spamrun.Policy) string {
	s := strconv.Itoa(p.MaxSpam) + "/" + fmtDuration(p.Window)
	if p.Count == spamrun.CountMessages {
		s += " msg"
	}
	return s
}

// incidentList returns the incidents of site, or of every site. A store
// that keeps no incident history fails for good, one that is down for now.
func incidentList(ctx context.Context, h *host.Host, site string) ([]*spamrun.Incident, error) {
	list, err := h.Incidents(ctx, site)
	if err != nil {
		if _, ok := h.Store.(spamrun.IncidentLog); !ok {
			return nil, err
		}
		return nil, unavailable(err)
	}
	return list, nil
}

// topScripts ranks where the incident's messages came from: the script
// PHP named, or else the caller's working directory.
func topScripts(r *report.Report) []report.Count {
	var out []report.Count
	for _, s := range r.Scripts {
		if s.Key != "" {
			out = append(out, report.Count{Name: strings.TrimPrefix(s.Key, "cwd:"), N: s.Spam})
		}
	}
	return out
}

// counted writes the first n counts as "NAME (count)", comma separated.
func counted(cs []report.Count, n int) string {
	var parts []string
	for _, c := range cs[:min(n, len(cs))] {
		parts = append(parts, fmt.Sprintf("%s (%d)", c.Name, c.N))
	}
	return cell(strings.Join(parts, ", "))
}
