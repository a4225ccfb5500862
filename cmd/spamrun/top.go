package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/internal/host"
)

// topRow is one site in spamrun top.
type topRow struct {
	Site     string `json:"site"`
	Disabled bool   `json:"disabled"`
	Exempt   bool   `json:"exempt,omitempty"`
	// Spam is the weight of the spam-marked submissions in the window, as
	// the policy counts them; one more than MaxSpam trips the site.
	Spam    int    `json:"spam"`
	MaxSpam int    `json:"max_spam"`
	Window  string `json:"window"` // as the configuration writes it: "1h"
	// MailPerMin is the site's accepted submissions in the last full
	// minute; nil when the store keeps no history.
	MailPerMin *int      `json:"mail_per_min"`
	Queued     int       `json:"queued"`
	Held       int       `json:"held"`
	LastScript string    `json:"last_script,omitempty"` // the script seen last, as the history keys it
	LastSeen   time.Time `json:"last_seen,omitzero"`
}

// ratio is how far the site is towards tripping: 1 at max_spam, more past
// it. A site that trips on its first spam and has some is infinitely far.
func (r *topRow) ratio() float64 {
	switch {
	case r.MaxSpam > 0:
		return float64(r.Spam) / float64(r.MaxSpam)
	case r.Spam > 0:
		return math.Inf(1)
	}
	return 0
}

// mailPerMin is MailPerMin, 0 without history.
func (r *topRow) mailPerMin() int {
	if r.MailPerMin == nil {
		return 0
	}
	return *r.MailPerMin
}

// topView is one refresh of spamrun top.
type topView struct {
	Time time.Time `json:"time"`
	// Minute is the start of the last full minute, which MailPerMin counts.
	Minute   time.Time `json:"minute"`
	Sites    int       `json:"sites"`
	Disabled int       `json:"disabled"`
	Queued   int       `json:"queued"`
	Held     int       `json:"held"`
	Rows     []*topRow `json:"rows"`
	// Error says what could not be gathered: the rows are what could.
	Error string `json:"error,omitempty"`

	err error
}

// collectTop gathers the view of site, or of every site with site "", at
// time t. It always returns a view: what failed is in its Error.
func collectTop(ctx context.Context, h *host.Host, site string, t time.Time) *topView {
	v := &topView{Time: t, Minute: t.Truncate(time.Minute).Add(-time.Minute), Rows: []*topRow{}}
	if err := needStore(h); err != nil {
		v.fail(err)
		return v
	}
	statuses, _, err := collectSites(ctx, h, site, t)
	errs := []error{err}
	for _, st := range statuses {
		r := &topRow{
			Site: st.Site, Disabled: st.Disabled, Exempt: st.Policy.Exempt,
			Spam: st.Spam, MaxSpam: st.Policy.MaxSpam, Window: fmtDuration(st.Policy.Window),
			Queued: st.Queued, Held: st.Held, LastSeen: st.LastSeen,
		}
		if len(st.Scripts) > 0 {
			r.LastScript = spamrun.ScriptKey(st.Scripts[0].Script, st.Scripts[0].Cwd)
		}
		if h.Scripts != nil {
			n, err := minuteCount(ctx, h.Scripts, st.Site, v.Minute)
			if err != nil {
				errs = append(errs, err)
			} else {
				r.MailPerMin = &n
			}
		}
		v.Rows = append(v.Rows, r)
	}
	sortTopRows(v.Rows)
	v.total()
	v.fail(errors.Join(errs...))
	return v
}

// minuteCount is the number of submissions of site in the minute that
// starts at minute.
func minuteCount(ctx context.Context, h spamrun.ScriptHistory, site string, minute time.Time) (int, error) {
	activity, err := h.Activity(ctx, site, minute, minute.Add(time.Minute))
	if err != nil {
		return 0, fmt.Errorf("activity of site %q: %w", site, err)
	}
	n := 0
	for _, m := range activity {
		n += m.Legit + m.Spam
	}
	return n, nil
}

// sortTopRows puts first what an operator must see first: disabled sites,
// then the sites nearest to tripping, then the busiest.
func sortTopRows(rows []*topRow) {
	slices.SortStableFunc(rows, func(a, b *topRow) int {
		if a.Disabled != b.Disabled {
			if a.Disabled {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(b.ratio(), a.ratio()); c != 0 {
			return c
		}
		if c := cmp.Compare(b.mailPerMin(), a.mailPerMin()); c != 0 {
			return c
		}
		return cmp.Compare(a.Site, b.Site)
	})
}

// total fills in the header's totals from the rows.
func (v *topView) total() {
	v.Sites, v.Disabled, v.Queued, v.Held = len(v.Rows), 0, 0, 0
	for _, r := range v.Rows {
		if r.Disabled {
			v.Disabled++
		}
		v.Queued += r.Queued
		v.Held += r.Held
	}
}

// fail records err, if not nil, as what the view could not gather.
func (v *topView) fail(err error) {
	if err == nil {
		return
	}
	v.err = err
	v.Error = err.Error()
}

// maxErrorLines is how many lines of an error a view shows: a Redis that
// is down fails every site alike.
const maxErrorLines = 3

// errorLines returns the lines of the view's error to show.
func (v *topView) errorLines() []string {
	if v.Error == "" {
		return nil
	}
	lines := strings.Split(v.Error, "\n")
	if len(lines) > maxErrorLines {
		more := len(lines) - maxErrorLines + 1
		lines = append(lines[:maxErrorLines-1], fmt.Sprintf("... and %d more", more))
	}
	return lines
}

// header is the view's first line: the time and the totals.
func (v *topView) header() string {
	return fmt.Sprintf("spamrun top - %s - sites %d, disabled %d, queued %d, held %d",
		fmtTime(v.Time), v.Sites, v.Disabled, v.Queued, v.Held)
}

// legend says what the columns count.
func (v *topView) legend() string {
	from := v.Minute.Local()
	return fmt.Sprintf("MAIL/MIN: accepted in the last full minute, %s-%s; SPAM: spam-marked in the window against max_spam",
		from.Format("15:04"), from.Add(time.Minute).Format("15:04"))
}

// topColumns are the columns of the table; the bar follows SPAM.
var topColumns = []string{"SITE", "STATE", "SPAM", "WINDOW", "", "HELD", "QUEUED", "MAIL/MIN", "LAST SCRIPT"}

// barColumn is the index of the bar in topColumns.
const barColumn = 4

// cells returns the row's columns as text, with bar in the bar's place.
func (r *topRow) cells(bar string) []string {
	state := "enabled"
	switch {
	case r.Disabled:
		state = "disabled"
	case r.Exempt:
		state = "exempt"
	}
	perMin := "-"
	if r.MailPerMin != nil {
		perMin = fmt.Sprint(*r.MailPerMin)
	}
	return []string{
		cell(r.Site), state, fmt.Sprintf("%d/%d", r.Spam, r.MaxSpam), r.Window, bar,
		fmt.Sprint(r.Held), fmt.Sprint(r.Queued), perMin, shortScript(r.LastScript, lastScriptWidth),
	}
}

// barFill is the share of the bar to fill: the ratio, at most all of it.
func (r *topRow) barFill() float64 { return min(r.ratio(), 1) }

// lastScriptWidth is the widest a last script is shown.
const lastScriptWidth = 40

// shortScript shortens a script key to at most width characters for a
// table cell. What tells scripts apart is at the end of a path, so the
// prefix ("1008:", "cwd:") and the last path elements are kept and the
// elements between them become "…".
func shortScript(key string, width int) string {
	key = cell(key)
	if utf8.RuneCountInString(key) <= width {
		return key
	}
	prefix, path := "", key
	if i := strings.IndexByte(key, ':'); i >= 0 && !strings.Contains(key[:i], "/") {
		prefix, path = key[:i+1], key[i+1:]
	}
	elems := strings.Split(path, "/")
	tail := elems[len(elems)-1]
	for i := len(elems) - 2; i >= 0; i-- {
		longer := elems[i] + "/" + tail
		if utf8.RuneCountInString(prefix+"…/"+longer) > width {
			break
		}
		tail = longer
	}
	short := prefix + "…/" + tail
	if n := utf8.RuneCountInString(short); n > width {
		// Even the last element is too long: keep its end.
		r := []rune(short)
		short = "…" + string(r[n-width+1:])
	}
	return short
}

// plainBarWidth is the width of the bar inside its brackets in plain text.
const plainBarWidth = 10

// plainBar draws fill, from 0 to 1, in characters any terminal or file
// shows, without spaces, so that the columns stay fields for awk.
func plainBar(fill float64) string {
	n := int(math.Round(fill * plainBarWidth))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", plainBarWidth-n) + "]"
}

// printTop writes the view as plain text: the header, the legend, the
// table and the error, if any.
func printTop(w io.Writer, v *topView) error {
	var b bytes.Buffer
	fmt.Fprintln(&b, v.header())
	fmt.Fprintln(&b, v.legend())
	for _, l := range v.errorLines() {
		fmt.Fprintf(&b, "error: %s\n", l)
	}
	if len(v.Rows) > 0 {
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		head := slices.Clone(topColumns)
		head[barColumn] = "BAR"
		fmt.Fprintln(tw, strings.Join(head, "\t"))
		for _, r := range v.Rows {
			fmt.Fprintln(tw, strings.Join(r.cells(plainBar(r.barFill())), "\t"))
		}
		tw.Flush()
	} else if v.Error == "" {
		fmt.Fprintln(&b, "no sites: none configured, and none has sent mail or tripped")
	}
	_, err := w.Write(b.Bytes())
	return err
}

// top is spamrun top: the sites, refreshed every interval, on a terminal
// as a full-screen view and elsewhere, with -b or with -n, as one plain
// table per refresh.
func (e *env) top(args []string) error {
	f := newFlags("top", "[--json] [--site SITE] [-b] [-n N] [--interval D]")
	asJSON := f.Bool("json", false, "print the view once as a JSON object and exit")
	site := f.String("site", "", "show SITE only")
	batch := f.Bool("b", false, "print plain text, one table per refresh, even on a terminal")
	iterations := f.Int("n", 0, "print N tables as plain text and exit; 0 prints until interrupted")
	interval := f.Duration("interval", time.Second, "the time between refreshes")
	operands, err := f.parse(args)
	switch {
	case err != nil:
		return err
	case len(operands) > 0:
		return f.usageErrorf("top takes no operands; --site SITE shows one site")
	case *interval <= 0:
		return f.usageErrorf("--interval must be positive")
	case *iterations < 0:
		return f.usageErrorf("-n must not be negative")
	}
	if *site != "" {
		if err := f.site(*site); err != nil {
			return err
		}
	}
	// The view shows a store that cannot be reached, and keeps trying.
	h, closeHost, err := e.openHost("", nil)
	if err != nil {
		return err
	}
	defer closeHost()
	collect := func() *topView { return collectTop(context.Background(), h, *site, e.now()) }
	switch {
	case *asJSON:
		v := collect()
		if err := writeJSON(e.stdout, v); err != nil {
			return &statusError{exitIOErr, err}
		}
		if v.err != nil {
			return unavailable(v.err)
		}
		return nil
	case *batch || *iterations > 0 || !e.terminal(e.stdout):
		return e.topBatch(collect, *iterations, *interval)
	}
	return e.topTerminal(collect, *interval)
}

// topBatch prints one table per refresh, a blank line between them, as
// top -b does, until iterations are done; 0 is until interrupted.
func (e *env) topBatch(collect func() *topView, iterations int, interval time.Duration) error {
	var last *topView
	for i := 0; iterations == 0 || i < iterations; i++ {
		if i > 0 {
			time.Sleep(interval)
			if _, err := fmt.Fprintln(e.stdout); err != nil {
				return &statusError{exitIOErr, err}
			}
		}
		last = collect()
		if err := printTop(e.stdout, last); err != nil {
			return &statusError{exitIOErr, err}
		}
	}
	if last.err != nil {
		return unavailable(last.err)
	}
	return nil
}
