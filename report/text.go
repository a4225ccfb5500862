package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
)

// CauseText names a cause in words.
func CauseText(c Cause) string {
	switch c {
	case AbusedForm:
		return "abused form"
	case UploadedScript:
		return "uploaded mail script"
	case Bulk:
		return "the site's own bulk mail"
	}
	return "cause unknown"
}

// WriteText writes the report for a terminal or an e-mail: the verdict
// first, then the run, the scripts and a timeline of the run's minutes.
// Everything the site wrote is printed with control characters escaped.
func (r *Report) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	inc := r.Incident
	fmt.Fprintf(bw, "Incident %s\n", inc.ID)
	fmt.Fprintf(bw, "Site %s disabled at %s: more than %d %s within %s.\n",
		safe(inc.Site), clock(inc.Time), inc.Policy.MaxSpam, inc.Policy.Count.Counted(), ShortDuration(inc.Policy.Window))
	if e := inc.Enforced; e != nil {
		if e.Err == "" {
			fmt.Fprintf(bw, "The enforcer disabled the site at %s.\n", clock(e.Time))
		} else {
			fmt.Fprintf(bw, "The enforcer FAILED at %s: %s\nThe site itself may still be online.\n", clock(e.Time), safe(firstLine(e.Err)))
		}
	}

	for i, f := range r.Findings {
		if i == 0 {
			fmt.Fprintf(bw, "\nLikely cause: %s (%s, %.0f%%)\n", CauseText(f.Cause), f.Level(), 100*f.Confidence)
		} else {
			if i == 1 {
				fmt.Fprintln(bw, "\nOther findings:")
			}
			fmt.Fprintf(bw, "\n%s (%s, %.0f%%)\n", CauseText(f.Cause), f.Level(), 100*f.Confidence)
		}
		fmt.Fprintf(bw, "  %s\n", safe(f.Title))
		for _, fact := range f.Facts {
			fmt.Fprintf(bw, "  - %s\n", safe(fact))
		}
		if i == 0 && len(f.Advice) > 0 {
			fmt.Fprintln(bw, "  What to do:")
			for _, a := range f.Advice {
				fmt.Fprintf(bw, "  * %s\n", safe(a))
			}
		}
	}

	s := r.Summary
	fmt.Fprintf(bw, "\nThe run: %s from %s to %s (%s), to %s in %s; %s in that time.\n",
		plural(s.Spam, "spam-marked message"), clock(s.Start), clock(s.End), human(s.End.Sub(s.Start)),
		plural(s.Recipients, "recipient"), plural(s.Domains, "domain"), plural(s.Legit, "other message"))
	counts(bw, "Senders", s.Senders)
	counts(bw, "Subjects", s.Subjects)
	counts(bw, "Rules", s.Rules)
	counts(bw, "Links", s.Links)
	counts(bw, "Doors", s.Doors)

	if len(r.Scripts) > 0 {
		fmt.Fprintln(bw, "\nScripts:")
		tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  SCRIPT\tSPAM\tOTHER\tFIRST SENT\tEVER (SPAM)\tFILE CHANGED\tOWNER")
		for _, sc := range r.Scripts {
			first, ever := "-", "-"
			if h := sc.History; h != nil {
				first = clock(h.First)
				if sc.New {
					first += " NEW"
				}
				ever = fmt.Sprintf("%d (%d)", h.Count, h.Spam)
			}
			changed, owner := "-", "-"
			if f := sc.File; f != nil {
				changed = clock(f.ChangeTime)
				if f.UID >= 0 {
					owner = fmt.Sprint(f.UID)
				}
			}
			name := display(sc)
			if sc.Key == "" {
				name = "(not named)"
			}
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\t%s\t%s\t%s\n", safe(name), sc.Spam, sc.Legit, first, ever, changed, owner)
		}
		tw.Flush()
		for _, sc := range r.Scripts {
			if len(sc.Markers) > 0 {
				fmt.Fprintf(bw, "  %s: %s\n", safe(display(sc)), safe(strings.Join(sc.Markers, "; ")))
			}
		}
	}

	writeTimeline(bw, r.Timeline, r.Marks)
	if r.ArticleURL != "" {
		fmt.Fprintf(bw, "\nFor the site's owner: %s\n", r.ArticleURL)
	}
	return bw.Flush()
}

func counts(w io.Writer, label string, cs []Count) {
	if len(cs) == 0 {
		return
	}
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%s (%d)", safe(c.Name), c.N)
	}
	fmt.Fprintf(w, "  %s: %s\n", label, strings.Join(parts, ", "))
}

// writeTimeline draws the minutes from the first spam-marked message on,
// one line each, at most 30 lines: '#' a spam-marked message, '.' another.
func writeTimeline(w io.Writer, points []Point, marks []Mark) {
	var start time.Time
	for _, m := range marks {
		if m.Kind == FirstSpam {
			start = m.Time.UTC().Truncate(time.Minute)
		}
	}
	var run []Point
	for _, p := range points {
		if !p.Time.Before(start) {
			run = append(run, p)
		}
	}
	if len(run) == 0 {
		return
	}
	step := (len(run) + 29) / 30
	fmt.Fprintf(w, "\nTimeline (per %s; # spam-marked, . other):\n", human(time.Duration(step)*time.Minute))
	for i := 0; i < len(run); i += step {
		var b Point
		for _, p := range run[i:min(i+step, len(run))] {
			b.Spam += p.Spam
			b.Legit += p.Legit
		}
		end := run[i].Time.Add(time.Duration(step) * time.Minute)
		note := ""
		for _, m := range marks {
			if !m.Time.Before(run[i].Time) && m.Time.Before(end) && m.Kind != FirstSpam {
				note += "  <- " + m.Label
			}
		}
		fmt.Fprintf(w, "  %s %4d %4d %s%s%s\n", run[i].Time.Format("15:04"), b.Spam, b.Legit,
			strings.Repeat("#", min(b.Spam, 40)), strings.Repeat(".", min(b.Legit, 40-min(b.Spam, 40))), safe(note))
	}
}

// safe escapes the control characters a site could put into a subject or
// a script name to rewrite the operator's terminal.
func safe(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			fmt.Fprintf(&b, "\\x%02x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
