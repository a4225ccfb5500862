package report

import (
	"cmp"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/spamrun/spamrun"
)

// Options tune Build.
type Options struct {
	// Now is the time the report is made; time.Now when nil.
	Now func() time.Time
	// ArticleURL is the article the DSNs link to.
	ArticleURL string
	// Markers returns what a script's code holds of mail sending and web
	// shells, read when the report is made; nil leaves the code unread.
	// The operator's command reads the file with sitediff.
	Markers func(path string) []string
}

// The thresholds the analysis uses. They describe what a site's history
// looks like, not any corpus: a form is long-standing when it sent mail a
// day before the run, a script is new when it first sent mail within the
// hour before it, and a file is recently changed within a week.
const (
	longStanding  = 24 * time.Hour
	newScript     = time.Hour
	recentChange  = 7 * 24 * time.Hour
	templateShare = 0.5 // of a message's lines in the common template
	variedShare   = 0.25
)

// Build explains inc. It reads nothing but inc and, through opts.Markers,
// the scripts' code; the store's history is in the incident since the trip.
func Build(inc *spamrun.Incident, opts *Options) *Report {
	if opts == nil {
		opts = &Options{}
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	r := &Report{Incident: inc, Generated: now().UTC(), ArticleURL: opts.ArticleURL}
	runs := groupRuns(inc)
	r.Summary = summarise(inc, runs)
	r.Timeline = timeline(inc, r.Summary.Start)
	r.Marks = marks(inc, r.Summary.Start)
	for _, run := range runs {
		if opts.Markers != nil && run.script.Path != "" {
			run.script.Markers = opts.Markers(run.script.Path)
		}
		r.Scripts = append(r.Scripts, run.script)
	}
	r.Findings = findings(inc, r.Summary, runs, opts.ArticleURL)
	return r
}

// run is what one script sent in the window.
type run struct {
	script Script
	events []spamrun.SpamEvent
}

// groupRuns splits the spam-marked messages by script and joins each with
// its history and its legitimate mail during the run, the script that
// sent the most spam-marked mail first.
func groupRuns(inc *spamrun.Incident) []*run {
	byKey := make(map[string]*run)
	var order []*run
	for _, ev := range inc.Messages {
		key := spamrun.ScriptKey(ev.Evidence.Script, ev.Evidence.Cwd)
		rn := byKey[key]
		if rn == nil {
			rn = &run{script: Script{Key: key}}
			byKey[key] = rn
			order = append(order, rn)
		}
		rn.events = append(rn.events, ev)
		rn.script.Spam++
		rn.script.Cwd = ev.Evidence.Cwd
		if f := ev.Evidence.File; f != nil {
			rn.script.File, rn.script.Path = f, f.Path
		}
	}
	var start time.Time
	if len(inc.Messages) > 0 {
		start = inc.Messages[0].Time
	}
	from := start.UTC().Truncate(time.Minute)
	for _, m := range inc.Activity {
		if rn := byKey[m.Script]; rn != nil && !m.Time.Before(from) && !m.Time.After(inc.Time) {
			rn.script.Legit += m.Legit
		}
	}
	for i := range inc.Scripts {
		h := inc.Scripts[i]
		if rn := byKey[spamrun.ScriptKey(h.Script, h.Cwd)]; rn != nil {
			rn.script.History = &h
			rn.script.New = h.First.After(start.Add(-newScript))
		}
	}
	slices.SortFunc(order, func(a, b *run) int {
		if c := cmp.Compare(b.script.Spam, a.script.Spam); c != 0 {
			return c
		}
		return strings.Compare(a.script.Key, b.script.Key)
	})
	return order
}

// summarise describes the run as a whole.
func summarise(inc *spamrun.Incident, runs []*run) Summary {
	var s Summary
	if len(inc.Messages) == 0 {
		return s
	}
	s.Start, s.End = inc.Messages[0].Time, inc.Messages[len(inc.Messages)-1].Time
	s.Spam = len(inc.Messages)
	from := s.Start.UTC().Truncate(time.Minute)
	for _, m := range inc.Activity {
		if !m.Time.Before(from) && !m.Time.After(inc.Time) {
			s.Legit += m.Legit
		}
	}
	senders, subjects, rules, links, doors := counter{}, counter{}, counter{}, counter{}, counter{}
	domains := make(map[string]bool)
	for _, ev := range inc.Messages {
		s.Recipients += ev.Recipients
		for _, d := range ev.Domains {
			domains[d] = true
		}
		senders.add(orNull(ev.Sender))
		subjects.add(ev.Subject)
		rules.add(ev.Rules...)
		links.add(ev.Links...)
		doors.add(Door(ev.Evidence))
	}
	s.Domains = len(domains)
	s.Doors = doors.top(5)
	s.Senders, s.Subjects, s.Rules, s.Links = senders.top(5), subjects.top(5), rules.top(8), links.top(8)
	return s
}

// Door says how a message reached spamrun, as reports and tables show it:
// "sendmail", "smtp-local", or "smtp-redirected to" the server the site
// meant to reach.
func Door(ev spamrun.Evidence) string {
	switch {
	case ev.Door == "":
		return "sendmail"
	case ev.Destination != "":
		return ev.Door + " to " + ev.Destination
	}
	return ev.Door
}

func orNull(sender string) string {
	if sender == "" {
		return "<>"
	}
	return sender
}

// counter counts values, each at most once per add.
type counter map[string]int

func (c counter) add(values ...string) {
	seen := make(map[string]bool, len(values))
	for _, v := range values {
		if !seen[v] {
			seen[v] = true
			c[v]++
		}
	}
}

// top returns the n most frequent values, then by value.
func (c counter) top(n int) []Count {
	var out []Count
	for _, name := range slices.Sorted(maps.Keys(c)) {
		out = append(out, Count{name, c[name]})
	}
	slices.SortStableFunc(out, func(a, b Count) int { return cmp.Compare(b.N, a.N) })
	return out[:min(n, len(out))]
}

// timeline sums the incident's activity per minute over every script,
// from the start of the activity to the trip, with empty minutes filled.
func timeline(inc *spamrun.Incident, start time.Time) []Point {
	if len(inc.Activity) == 0 {
		return nil
	}
	first := inc.Activity[0].Time.UTC().Truncate(time.Minute)
	if !start.IsZero() && start.UTC().Truncate(time.Minute).Before(first) {
		first = start.UTC().Truncate(time.Minute)
	}
	last := inc.Time.UTC().Truncate(time.Minute)
	if last.Before(first) {
		last = first
	}
	n := int(last.Sub(first)/time.Minute) + 1
	points := make([]Point, n)
	for i := range points {
		points[i].Time = first.Add(time.Duration(i) * time.Minute)
	}
	for _, m := range inc.Activity {
		i := int(m.Time.UTC().Sub(first) / time.Minute)
		if i < 0 || i >= n {
			continue
		}
		points[i].Legit += m.Legit
		points[i].Spam += m.Spam
	}
	return points
}

// marks are the first spam-marked message, the trip, and the enforcer's
// disabling of the site when it is recorded.
func marks(inc *spamrun.Incident, start time.Time) []Mark {
	var ms []Mark
	if !start.IsZero() {
		ms = append(ms, Mark{start, FirstSpam, "first spam-marked message"})
	}
	label := fmt.Sprintf("trip: %d %s, site disabled", inc.Count, inc.Policy.Count.Counted())
	ms = append(ms, Mark{inc.Time, Trip, label})
	if e := inc.Enforced; e != nil {
		if e.Err == "" {
			ms = append(ms, Mark{e.Time, Disabled, "enforcer disabled the site"})
		} else {
			ms = append(ms, Mark{e.Time, Disabled, "enforcer failed: " + firstLine(e.Err)})
		}
	}
	slices.SortStableFunc(ms, func(a, b Mark) int { return a.Time.Compare(b.Time) })
	return ms
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// Names of the scripts forms and CMSs send mail from.
var formNames = []string{
	"contact", "kontakt", "guestbook", "gbook", "gastenboek", "gaestebuch", "tellafriend",
	"tell-a-friend", "tell_a_friend", "taf", "recommend", "sendtofriend", "send-to-friend",
	"refer", "referral", "invite", "feedback", "formmail", "form", "enquiry", "inquiry",
	"newsletter", "subscribe", "register", "signup", "index", "wp-login", "wp-cron",
	"class-phpmailer", "class-wp-phpmailer", "pluggable", "comment", "wp-comments-post",
}

// Names uploaded mailers and shells go by.
var mailerNames = []string{
	"leafmailer", "mailer", "massmail", "mass", "sender", "send", "inbox", "wso", "alfa",
	"c99", "r57", "shell", "up", "upload", "xleet", "priv8", "owl", "mar", "1", "x",
}

// scriptName returns the base name without ".php" of a script key, path
// or directory.
func scriptName(s Script) string {
	name := s.Key
	if s.Path != "" {
		name = s.Path
	}
	name = strings.TrimPrefix(name, "cwd:")
	if _, base, ok := strings.Cut(name, ":"); ok && !strings.Contains(name, "/") {
		name = base
	}
	name = strings.ToLower(path.Base(name))
	for _, ext := range []string{".php", ".phtml", ".php5", ".php7", ".inc"} {
		name = strings.TrimSuffix(name, ext)
	}
	return name
}

func isFormName(name string) bool {
	for _, f := range formNames {
		if name == f || strings.HasPrefix(name, f+"-") || strings.HasPrefix(name, f+"_") ||
			strings.HasSuffix(name, "-"+f) || strings.HasSuffix(name, "_"+f) {
			return true
		}
	}
	return false
}

// uploadDir returns the upload-like directory a script lies in, "" when
// none: see spamrun.UploadDir.
func uploadDir(s Script) string {
	if s.Path != "" {
		return spamrun.UploadDir(path.Dir(s.Path))
	}
	return spamrun.UploadDir(s.Cwd)
}
