package doctor

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable prints the report for people: per site a table door →
// status → what was seen, then the fix of each open door, and a last line
// that sums it up.
//
//	site shop1: user shop1, UID 1001
//	  DOOR                 KIND         STATUS           SEEN
//	  /usr/sbin/sendmail   sendmail     through spamrun  220 host ESMTP spamrun
//	  127.0.0.1:25         smtp-local   OPEN             220 host ESMTP Postfix (Debian/GNU)
//	  fix 127.0.0.1:25: egress = "redirect" in spamrun.toml and `spamrun egress apply`
func WriteTable(w io.Writer, r *Report) error {
	for i, s := range r.Sites {
		if i > 0 {
			fmt.Fprintln(w)
		}
		who := s.Login
		if who == "" {
			who = "(no passwd entry)"
		}
		fmt.Fprintf(w, "site %s: user %s, UID %d\n", s.Site, who, s.UID)
		if s.Error != "" {
			fmt.Fprintf(w, "  not tried: %s\n", s.Error)
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  DOOR\tKIND\tSTATUS\tSEEN")
		for _, d := range s.Doors {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", d.Name, d.Kind, d.Label(), dash(d.Seen))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, d := range s.Doors {
			if d.Fix != "" {
				fmt.Fprintf(w, "  fix %s: %s\n", d.Name, d.Fix)
			}
		}
	}
	untried := 0
	for _, s := range r.Sites {
		if s.Error != "" {
			untried++
		}
	}
	var err error
	switch {
	case r.Open == 1:
		_, err = fmt.Fprintln(w, "\n1 door is OPEN")
	case r.Open > 1:
		_, err = fmt.Fprintf(w, "\n%d doors are OPEN\n", r.Open)
	case untried > 0:
		_, err = fmt.Fprintf(w, "\nno door found open, but %d of %d sites not tried\n", untried, len(r.Sites))
	default:
		_, err = fmt.Fprintln(w, "\nevery door is closed or leads through spamrun")
	}
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
