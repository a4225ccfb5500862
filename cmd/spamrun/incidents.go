package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/report"
)

// incidents is spamrun incidents: every trip, newest first.
func incidents(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "show" {
		return incidentShow(args[1:], stdout, stderr)
	}
	fs := newFlags("incidents [--json] [SITE]", stderr)
	asJSON := fs.Bool("json", false, "print the incidents, with their messages, as a JSON array")
	operands, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	site, code, ok := optionalSite("incidents", operands, stderr)
	if !ok {
		return code
	}
	h, closeHost, code := openStoreHost(stderr)
	if h == nil {
		return code
	}
	defer closeHost()
	ctx := context.Background()
	list, err := h.Incidents(ctx, site)
	if err != nil {
		fmt.Fprintln(stderr, "spamrun:", err)
		if _, ok := h.Store.(spamrun.IncidentLog); !ok {
			return exitFailed
		}
		return exitTempErr
	}
	if *asJSON {
		if list == nil {
			list = []*spamrun.Incident{}
		}
		if err := writeJSON(stdout, list); err != nil {
			return exitFailed
		}
		return exitOK
	}
	if len(list) == 0 {
		if site != "" {
			fmt.Fprintf(stdout, "no incidents of site %s\n", site)
		} else {
			fmt.Fprintln(stdout, "no incidents")
		}
		return exitOK
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
			fmt.Fprintln(stderr, "spamrun:", err)
			return exitTempErr
		}
		current[inc.Site] = ""
		if now != nil {
			current[inc.Site] = now.ID
		}
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSITE\tTIME\tCOUNT\tPOLICY\tLIKELY CAUSE\tTOP RULES\tTOP SCRIPT\tNOW")
	for _, inc := range list {
		state := "re-enabled"
		if current[inc.Site] == inc.ID {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n",
			inc.ID, cell(inc.Site), fmtTime(inc.Time), inc.Count, policyText(inc.Policy), likelyCause(inc),
			counted(topRules(inc), 3), counted(topScripts(inc), 1), state)
	}
	tw.Flush()
	fmt.Fprintln(stdout, "COUNT is the spam-marked messages in the window at the trip; POLICY is max_spam/window.")
	fmt.Fprintln(stdout, "spamrun incidents show ID explains one: its findings, their evidence, a timeline.")
	return exitOK
}

// policyText is the trip rule of a policy: "10/1h" trips at the 11th
// spam-marked message within an hour.
func policyText(p spamrun.Policy) string {
	return strconv.Itoa(p.MaxSpam) + "/" + fmtDuration(p.Window)
}

// tally is a name and how often it occurred.
type tally struct {
	name string
	n    int
}

// rank sorts the counts most frequent first, then by name, so that the
// same incident always reads the same.
func rank(counts map[string]int) []tally {
	var ts []tally
	for _, name := range slices.Sorted(maps.Keys(counts)) {
		ts = append(ts, tally{name, counts[name]})
	}
	slices.SortStableFunc(ts, func(a, b tally) int { return cmp.Compare(b.n, a.n) })
	return ts
}

// topRules ranks the rules by how many of the incident's messages they
// fired on: the rules of a run's template fire on every message.
func topRules(inc *spamrun.Incident) []tally {
	counts := make(map[string]int)
	for _, ev := range inc.Messages {
		for _, r := range ev.Rules {
			counts[r]++
		}
	}
	return rank(counts)
}

// topScripts ranks where the incident's messages came from: the script
// PHP named, or else the caller's working directory.
func topScripts(inc *spamrun.Incident) []tally {
	counts := make(map[string]int)
	for _, ev := range inc.Messages {
		key := strings.TrimSpace(ev.Evidence.Script)
		if key == "" {
			key = strings.TrimSpace(ev.Evidence.Cwd)
		}
		if key != "" {
			counts[key]++
		}
	}
	return rank(counts)
}

// counted writes the first n tallies as "NAME (count)", comma separated.
func counted(ts []tally, n int) string {
	var parts []string
	for _, t := range ts[:min(n, len(ts))] {
		parts = append(parts, fmt.Sprintf("%s (%d)", t.name, t.n))
	}
	return cell(strings.Join(parts, ", "))
}

// likelyCause is the top finding of the incident's report in a few words:
// "abused form (high)".
func likelyCause(inc *spamrun.Incident) string {
	f := report.Build(inc, nil).Findings[0]
	return fmt.Sprintf("%s (%s)", report.CauseText(f.Cause), f.Level())
}
