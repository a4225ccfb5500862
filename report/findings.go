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

// evidence collects the points for and against a cause and the facts
// they rest on. Points are added up and clamped into a confidence.
type evidence struct {
	points float64
	facts  []string
}

func (e *evidence) add(points float64, format string, args ...any) {
	e.points += points
	e.facts = append(e.facts, fmt.Sprintf(format, args...))
}

// against subtracts points without a fact of its own: the fact is stated
// by the finding it supports.
func (e *evidence) against(points float64) { e.points -= points }

func (e *evidence) confidence(share float64) float64 {
	c := e.points * share
	return max(0, min(c, 0.97))
}

// content is what a script's spam-marked messages look like as a group.
type content struct {
	messages   int
	template   float64 // mean share of a message's lines that most messages share
	fixed      int     // lines in at least 80 % of the messages
	subjects   int     // distinct subjects
	linkSets   int     // distinct sets of link hosts among messages with links
	withLinks  int     // messages with links
	foreign    []string
	own        []string
	recipients int
	domains    int
	outside    int // recipient domains other than the sender's
	phishing   int // messages with a phishing rule among their top rules
	scoreAvg   float64
}

func analyseContent(events []spamrun.SpamEvent) content {
	c := content{messages: len(events)}
	lineCount := make(map[uint32]int)
	subjects := make(map[string]bool)
	linkSets := make(map[string]bool)
	domains := make(map[string]bool)
	outside := make(map[string]bool)
	foreign, own := make(map[string]bool), make(map[string]bool)
	withLines := 0
	for _, ev := range events {
		for _, h := range ev.Lines {
			lineCount[h]++
		}
		if len(ev.Lines) > 0 {
			withLines++
		}
		subjects[ev.Subject] = true
		if len(ev.Links) > 0 {
			c.withLinks++
			linkSets[strings.Join(slices.Sorted(slices.Values(ev.Links)), " ")] = true
		}
		senderDomain := strings.ToLower(spamrun.Domain(ev.Sender))
		for _, l := range ev.Links {
			if senderDomain != "" && sameSite(l, senderDomain) {
				own[l] = true
			} else {
				foreign[l] = true
			}
		}
		c.recipients += ev.Recipients
		for _, d := range ev.Domains {
			domains[d] = true
			if senderDomain == "" || !sameSite(d, senderDomain) {
				outside[d] = true
			}
		}
		for _, r := range ev.Rules {
			if phishingRules[r] {
				c.phishing++
				break
			}
		}
		c.scoreAvg += ev.Score
	}
	if c.messages > 0 {
		c.scoreAvg /= float64(c.messages)
	}
	common := make(map[uint32]bool)
	for h, n := range lineCount {
		if withLines > 1 && float64(n) >= 0.8*float64(withLines) {
			common[h] = true
		}
	}
	c.fixed = len(common)
	if withLines > 1 {
		var sum float64
		for _, ev := range events {
			if len(ev.Lines) == 0 {
				continue
			}
			in := 0
			for _, h := range ev.Lines {
				if common[h] {
					in++
				}
			}
			sum += float64(in) / float64(len(ev.Lines))
		}
		c.template = sum / float64(withLines)
	}
	c.subjects, c.linkSets = len(subjects), len(linkSets)
	c.domains, c.outside = len(domains), len(outside)
	c.foreign, c.own = slices.Sorted(maps.Keys(foreign)), slices.Sorted(maps.Keys(own))
	return c
}

// The rules that say a message is after someone's password.
var phishingRules = map[string]bool{
	"PHISH_PHRASES": true, "PHISH_LINK_OFFSITE": true, "FROM_BRAND_SPOOF": true,
	"URI_BRAND_LOOKALIKE": true, "URI_USERINFO": true, "HTML_LINK_TEXT_MISMATCH": true,
}

// The rules a newsletter does not fire: a run that fires one of them is
// not the site's own bulk mail.
var abuseRules = map[string]bool{
	"URI_SHORTENER": true, "URI_ODD_TLD": true, "URI_IP_HOST": true, "SPAM_WORDS_WITH_LINKS": true,
	"GIBBERISH": true, "ATTACH_EXECUTABLE": true, "ATTACH_ARCHIVE_EXECUTABLE": true,
	"SCRIPT_IN_UPLOAD_DIR": true, "REPLYTO_FREEMAIL_LINKS": true, "GTUBE": true,
}

// sameSite says whether host belongs to domain: the same name, one below
// the other, or the same last two labels.
func sameSite(host, domain string) bool {
	host, domain = strings.ToLower(strings.TrimSuffix(host, ".")), strings.ToLower(strings.TrimSuffix(domain, "."))
	if host == domain || strings.HasSuffix(host, "."+domain) || strings.HasSuffix(domain, "."+host) {
		return true
	}
	return lastTwo(host) == lastTwo(domain) && !strings.Contains(lastTwo(host), "co.")
}

func lastTwo(h string) string {
	labels := strings.Split(h, ".")
	if len(labels) < 2 {
		return h
	}
	return strings.Join(labels[len(labels)-2:], ".")
}

// findings weighs, for every script that sent spam-marked mail, the
// evidence for an abused form, an uploaded mailer and the site's own bulk
// mail, and ranks what it found.
func findings(inc *spamrun.Incident, sum Summary, runs []*run, article string) []Finding {
	var fs []Finding
	haveHistory := len(inc.Scripts) > 0 || len(inc.Activity) > 0
	for _, rn := range runs {
		share := float64(rn.script.Spam) / float64(max(1, sum.Spam))
		if rn.script.Key == "" {
			continue
		}
		c := analyseContent(rn.events)
		fs = append(fs,
			formFinding(inc, rn, c, share, article),
			uploadFinding(inc, rn, c, share, haveHistory, article),
			bulkFinding(inc, rn, c, share))
	}
	fs = slices.DeleteFunc(fs, func(f Finding) bool { return f.Confidence < 0.15 })
	slices.SortStableFunc(fs, func(a, b Finding) int { return cmp.Compare(b.Confidence, a.Confidence) })
	if len(fs) > 6 {
		fs = fs[:6]
	}
	if len(fs) == 0 || fs[0].Confidence < 0.5 {
		fs = append(fs, unknownFinding(inc, sum, runs, haveHistory, fs))
		slices.SortStableFunc(fs, func(a, b Finding) int { return cmp.Compare(b.Confidence, a.Confidence) })
	}
	return fs
}

// formFinding weighs an abused form: a long-standing script sending one
// template to many outside recipients.
func formFinding(inc *spamrun.Incident, rn *run, c content, share float64, article string) Finding {
	s := rn.script
	var e evidence
	name := scriptName(s)
	if h := s.History; h != nil {
		before := rn.events[0].Time.Sub(h.First)
		switch {
		case before >= longStanding:
			e.add(0.35, "%s has sent mail since %s (%s before the run): %d messages in all, %d of them spam-marked, the run's included",
				display(s), day(h.First), human(before), h.Count, h.Spam)
		case before >= newScript:
			e.add(0.1, "%s first sent mail %s before the run", display(s), human(before))
		}
	}
	if isFormName(name) {
		e.add(0.2, "%s is the name of a form or a CMS entry point", path.Base(displayPath(s)))
	}
	if dir := uploadDir(s); dir == "" && (s.Path != "" || s.Cwd != "") {
		e.add(0.05, "it lies in the site's code, not in an upload or cache directory")
	} else if dir != "" {
		e.against(0.3)
	}
	if c.messages >= 3 && c.template >= templateShare {
		e.add(0.15, "the %d spam-marked messages share %d fixed lines of text (%.0f%% of each message on average): one template",
			c.messages, c.fixed, 100*c.template)
		if len(c.foreign) > 0 && c.linkSets > 1 {
			e.add(0.05, "%d different sets of links were put into the template (%s)", c.linkSets, list(c.foreign, 4))
		} else if len(c.foreign) > 0 {
			e.add(0.05, "links to %s were put into it", list(c.foreign, 4))
		}
	}
	if c.outside >= 3 || c.recipients >= 2*c.messages {
		e.add(0.1, "they went to %d recipients in %d domains outside the sender's", c.recipients, c.outside)
	}
	if s.Legit > 0 {
		e.add(0.1, "the same script sent %d messages that were not spam-marked during the run, as a form real visitors still use does", s.Legit)
	}
	if f := s.File; f != nil && rn.events[0].Time.Sub(f.ChangeTime) < recentChange && !f.ChangeTime.IsZero() {
		e.against(0.2)
	}
	if c.phishing > 0 {
		e.against(0.1)
	}
	if len(s.Markers) > 0 {
		e.against(0.2)
	}
	return Finding{
		Cause: AbusedForm, Script: s.Key, Path: s.Path, Confidence: e.confidence(coverage(share)),
		Title: fmt.Sprintf("The form %s was abused to send %d spam-marked messages", display(s), s.Spam),
		Facts: e.facts,
		Advice: []string{
			fmt.Sprintf("Protect %s with a captcha or a password, or take it offline: the article %s explains how.", display(s), orArticle(article)),
			"Make the form send only to the site's own address, or to the visitor's own address after confirmation; never to addresses or text a visitor types in.",
			"Refuse line breaks in the name, e-mail and subject fields (header injection adds Bcc: recipients).",
			fmt.Sprintf("Then re-enable the site: spamrun enable %s", inc.Site),
		},
	}
}

// uploadFinding weighs an uploaded mailer: a script never seen before, in
// an upload directory, recently written, sending varied content or
// phishing.
func uploadFinding(inc *spamrun.Incident, rn *run, c content, share float64, haveHistory bool, article string) Finding {
	s := rn.script
	var e evidence
	start := rn.events[0].Time
	if h := s.History; h != nil {
		before := start.Sub(h.First)
		switch {
		case s.New:
			e.add(0.35, "%s had never sent mail before the run: first seen %s", display(s), clock(h.First))
		case before >= longStanding:
			e.against(0.3)
		}
		if h.Count > 0 && h.Spam == h.Count {
			e.add(0.05, "every one of its %d messages was spam-marked", h.Count)
		}
	} else if haveHistory {
		e.add(0.2, "%s is not in the site's script history", display(s))
	}
	if dir := uploadDir(s); dir != "" {
		e.add(0.25, "it lies in %s, where uploads, caches and images belong, not code", dir)
	}
	if f := s.File; f != nil && !f.ChangeTime.IsZero() {
		age := start.Sub(f.ChangeTime)
		switch {
		case age < 24*time.Hour:
			e.add(0.2, "the file was written %s before the run (ctime %s)", human(max(age, 0)), clock(f.ChangeTime))
		case age < recentChange:
			e.add(0.15, "the file was written %s before the run (ctime %s)", human(age), day(f.ChangeTime))
		}
		if age < recentChange && f.ChangeTime.Sub(f.ModTime) > 24*time.Hour {
			e.add(0.1, "its mtime says %s: set back to look old", day(f.ModTime))
		}
	}
	if isMailerName(scriptName(s)) {
		e.add(0.1, "%s is a name uploaded mailers go by", path.Base(displayPath(s)))
	}
	if isFormName(scriptName(s)) {
		e.against(0.1)
	}
	switch {
	case c.messages >= 3 && c.fixed == 0:
		e.add(0.1, "the messages vary: %d subjects, and no line of text is in most of them", c.subjects)
	case c.messages >= 3 && c.template < variedShare:
		e.add(0.1, "the messages vary: %d subjects, and on average only %.0f%% of a message's lines are in most of the others", c.subjects, 100*c.template)
	}
	if c.phishing > 0 {
		e.add(0.15, "%d of %d messages are phishing (%s)", c.phishing, c.messages, phishingNames(rn.events))
	}
	if len(s.Markers) > 0 {
		e.add(0.2, "its code has %s", list(s.Markers, 4))
	}
	return Finding{
		Cause: UploadedScript, Script: s.Key, Path: s.Path, Confidence: e.confidence(coverage(share)),
		Title: fmt.Sprintf("%s looks like a mail script uploaded to the hacked site", display(s)),
		Facts: e.facts,
		Advice: []string{
			fmt.Sprintf("Remove %s, and look for others like it: compare the site's code with a backup, spamrun diff --incident %s SITE_ROOT BACKUP_ROOT", displayPath(s), inc.ID),
			"Find how it got there: update the CMS, its plugins and themes, and change the passwords of FTP/SSH, the CMS's administrators and the database.",
			fmt.Sprintf("The article %s tells the site's owner what to do.", orArticle(article)),
			fmt.Sprintf("Re-enable the site once it is clean: spamrun enable %s", inc.Site),
		},
	}
}

// bulkFinding weighs the site's own bulk mail, a newsletter, marked as
// spam: not an attack, and the operator should say so before anyone
// cleans a site that was not hacked.
func bulkFinding(inc *spamrun.Incident, rn *run, c content, share float64) Finding {
	s := rn.script
	var e evidence
	if len(c.own) > 0 && len(c.foreign) == 0 {
		e.add(0.3, "every link goes to the sender's own site (%s)", list(c.own, 3))
	} else if len(c.foreign) > 0 {
		e.against(0.3)
	}
	if h := s.History; h != nil && rn.events[0].Time.Sub(h.First) >= longStanding && h.Count > 2*h.Spam {
		e.add(0.25, "%s has sent mail since %s, %d messages, most of them not spam-marked", display(s), day(h.First), h.Count)
	}
	threshold := inc.Policy.SpamScore
	if threshold > 0 && c.scoreAvg < threshold+2 {
		e.add(0.15, "the scores are close to the threshold: %.1f on average against %.1f", c.scoreAvg, threshold)
	}
	abusive := false
	for _, ev := range rn.events {
		for _, r := range ev.Rules {
			abusive = abusive || abuseRules[r]
		}
	}
	if !abusive && c.phishing == 0 {
		e.add(0.15, "no rule of abuse fired (shorteners, odd TLDs, phishing, spam vocabulary with links)")
	} else {
		e.against(0.3)
	}
	if c.subjects == 1 && c.messages > 1 {
		e.add(0.05, "one subject: %q", rn.events[0].Subject)
	}
	if s.New || uploadDir(s) != "" {
		e.against(0.4)
	}
	return Finding{
		Cause: Bulk, Script: s.Key, Path: s.Path, Confidence: e.confidence(coverage(share)),
		Title: fmt.Sprintf("%s sent the site's own bulk mail, a newsletter, that was marked as spam", display(s)),
		Facts: e.facts,
		Advice: []string{
			"Ask the site's owner whether they sent a newsletter at that time; if so, this was not an attack.",
			fmt.Sprintf("Re-enable the site (spamrun enable %s) and give it room: a larger max_spam, or exempt = true, in [sites.%q] of spamrun.toml.", inc.Site, inc.Site),
			"Newsletters are better sent through a mailing service, in batches, with List-Unsubscribe.",
		},
	}
}

// unknownFinding says honestly that the evidence is thin, and what would
// make it thicker next time.
func unknownFinding(inc *spamrun.Incident, sum Summary, runs []*run, haveHistory bool, others []Finding) Finding {
	var facts []string
	unnamed := 0
	for _, rn := range runs {
		if rn.script.Key == "" {
			unnamed += rn.script.Spam
		}
	}
	if unnamed > 0 {
		facts = append(facts, fmt.Sprintf("%d of %d spam-marked messages named neither a script nor a directory", unnamed, sum.Spam))
	}
	if !haveHistory {
		facts = append(facts, "the state store keeps no history of the site's scripts")
	}
	noFile := 0
	for _, ev := range inc.Messages {
		if ev.Evidence.File == nil {
			noFile++
		}
	}
	if noFile > 0 {
		facts = append(facts, fmt.Sprintf("the script's file could not be found for %d of %d messages", noFile, sum.Spam))
	}
	if len(others) > 0 {
		facts = append(facts, fmt.Sprintf("the strongest finding, %s, has only %.0f%% confidence", others[0].Cause, 100*others[0].Confidence))
	}
	best := 0.0
	if len(others) > 0 {
		best = others[0].Confidence
	}
	return Finding{
		Cause: Unknown, Confidence: max(0.3, 1-best) * 0.8,
		Title: "The evidence does not tell the cause",
		Facts: facts,
		Advice: []string{
			fmt.Sprintf("Look at the messages kept in quarantine: spamrun queue list --quarantine %s", inc.Site),
			"Turn on mail.add_x_header in PHP, so that every message names the script that sent it.",
			fmt.Sprintf("Compare the site's code with a backup: spamrun diff --incident %s SITE_ROOT BACKUP_ROOT", inc.ID),
		},
	}
}

// coverage turns a script's share of the spam-marked messages into a
// factor: a script that sent a third of the run explains less of it.
func coverage(share float64) float64 {
	return 0.4 + 0.6*share
}

func isMailerName(name string) bool {
	return slices.Contains(mailerNames, name) || strings.Contains(name, "mailer") || strings.Contains(name, "shell")
}

func phishingNames(events []spamrun.SpamEvent) string {
	c := counter{}
	for _, ev := range events {
		for _, r := range ev.Rules {
			if phishingRules[r] {
				c.add(r)
			}
		}
	}
	var names []string
	for _, t := range c.top(3) {
		names = append(names, t.Name)
	}
	return strings.Join(names, ", ")
}

// display names a script as the operator knows it: its file, else the
// header's name, else its directory.
func display(s Script) string {
	if s.Path != "" {
		return s.Path
	}
	if rest, ok := strings.CutPrefix(s.Key, "cwd:"); ok {
		return "a script in " + rest
	}
	if _, base, ok := strings.Cut(s.Key, ":"); ok {
		if s.Cwd != "" {
			return path.Join(s.Cwd, base)
		}
		return base
	}
	return s.Key
}

func displayPath(s Script) string {
	if s.Path != "" {
		return s.Path
	}
	if rest, ok := strings.CutPrefix(s.Key, "cwd:"); ok {
		return rest
	}
	return display(s)
}

func orArticle(url string) string {
	if url == "" {
		return "linked in the DSNs"
	}
	return url
}

func list(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

func day(t time.Time) string   { return t.UTC().Format("2006-01-02") }
func clock(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// human writes a duration as an operator reads it: "3 minutes", "5 hours",
// "41 days".
func human(d time.Duration) string {
	switch {
	case d < time.Minute:
		return plural(int(d/time.Second), "second")
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour")
	}
	return plural(int(d/(24*time.Hour)), "day")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
