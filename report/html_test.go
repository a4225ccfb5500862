package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/spamrun/spamrun"
)

// The chart's colors, as report.css has them.
var (
	htmlSpamRGB  = [3]uint8{0xd7, 0x26, 0x3d}
	htmlLegitRGB = [3]uint8{0x6f, 0xa8, 0xdc}
	htmlTripRGB  = [3]uint8{0x5b, 0x2a, 0x86}
)

// htmlT0 is the start of the tell-a-friend incident's activity.
var htmlT0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

// htmlFormReport is a tell-a-friend form of a shop, abused: an hour of
// ordinary order mail from the checkout, then 11 spam-marked messages in
// four minutes from the form, the 11th tripping a MaxSpam of 10.
func htmlFormReport() *Report {
	const form = "1001:/var/www/shop1/tell-a-friend.php"
	const checkout = "1001:/var/www/shop1/checkout.php"
	runStart := htmlT0.Add(60 * time.Minute)
	var msgs []spamrun.SpamEvent
	seconds := []int{5, 31, 58, 70, 95, 121, 140, 166, 190, 211, 236}
	for i, s := range seconds {
		msgs = append(msgs, spamrun.SpamEvent{
			Time:       runStart.Add(time.Duration(s) * time.Second),
			MessageID:  fmt.Sprintf("<%d.taf@shop1.example>", i),
			Score:      7.5 + float64(i%3)/2,
			Rules:      []string{"URI_SHORTENER", "TAF_TEMPLATE", "FREEMAIL_FROM"},
			Sender:     "www-shop1@web1.example.net",
			Recipients: 25,
			Domains:    []string{"gmail.com", "yahoo.com", "hotmail.com", "web.de"},
			Subject:    "Your friend recommends: cheap meds at bit.ly/x9",
			Links:      []string{"bit.ly"},
			Evidence: spamrun.Evidence{
				Script: form,
				Cwd:    "/var/www/shop1",
				UID:    1001,
			},
		})
	}
	trip := msgs[len(msgs)-1].Time
	var timeline []Point
	var activity []spamrun.Minute
	for m := 0; m <= 63; m++ {
		t := htmlT0.Add(time.Duration(m) * time.Minute)
		p := Point{Time: t, Legit: (m * 7 % 5) / 2}
		if m%9 == 0 {
			p.Legit += 3
		}
		if m >= 60 {
			for _, e := range msgs {
				if e.Time.Truncate(time.Minute).Equal(t) {
					p.Spam++
				}
			}
		}
		timeline = append(timeline, p)
		if p.Legit > 0 {
			activity = append(activity, spamrun.Minute{Time: t, Script: checkout, Legit: p.Legit})
		}
		if p.Spam > 0 {
			activity = append(activity, spamrun.Minute{Time: t, Script: form, Spam: p.Spam})
		}
	}
	inc := &spamrun.Incident{
		ID:       "20260314T100356Z-shop1-7f3a",
		Site:     "shop1",
		Time:     trip,
		Policy:   spamrun.DefaultPolicy(),
		Count:    11,
		Messages: msgs,
		Scripts: []spamrun.ScriptSeen{
			{Script: form, Cwd: "/var/www/shop1", First: htmlT0.AddDate(-3, 0, 0), Last: trip, Count: 412, Spam: 11},
			{Script: checkout, Cwd: "/var/www/shop1", First: htmlT0.AddDate(-4, 0, 0), Last: trip.Add(-time.Minute), Count: 18230, Spam: 2},
		},
		Activity: activity,
		Enforced: &spamrun.Enforcement{Time: trip.Add(800 * time.Millisecond)},
	}
	return &Report{
		Incident:   inc,
		Generated:  trip.Add(2 * time.Minute),
		ArticleURL: "https://support.example.com/spam-run",
		Summary: Summary{
			Start: msgs[0].Time, End: trip,
			Spam: 11, Legit: 5, Recipients: 275, Domains: 4,
			Senders:  []Count{{"www-shop1@web1.example.net", 11}},
			Subjects: []Count{{"Your friend recommends: cheap meds at bit.ly/x9", 11}},
			Rules:    []Count{{"URI_SHORTENER", 11}, {"TAF_TEMPLATE", 11}, {"FREEMAIL_FROM", 11}},
			Links:    []Count{{"bit.ly", 11}},
		},
		Findings: []Finding{
			{
				Cause: AbusedForm, Script: form, Path: "/var/www/shop1/tell-a-friend.php",
				Confidence: 0.86,
				Title:      "The tell-a-friend form tell-a-friend.php was fed addresses: one template to 275 recipients",
				Facts: []string{
					"tell-a-friend.php has sent mail since 14 Mar 2023 (412 messages, 11 spam-marked)",
					"all 11 spam-marked messages share the form's fixed text",
					"275 recipients at 4 outside domains in 4 minutes",
				},
				Advice: []string{
					"Add a CAPTCHA and a rate limit to the tell-a-friend form, or remove it",
					"Re-enable the site with spamrun enable shop1 once the form is fixed",
				},
			},
			{
				Cause: UploadedScript, Script: form, Confidence: 0.12,
				Title:  "No sign of an uploaded mailer",
				Facts:  []string{"no script in an upload or cache directory sent mail"},
				Advice: []string{"Compare the site with its last backup using spamrun diff"},
			},
		},
		Scripts: []Script{
			{
				Key: form, Path: "/var/www/shop1/tell-a-friend.php", Cwd: "/var/www/shop1",
				Spam: 11, History: &inc.Scripts[0],
				File: &spamrun.ScriptFile{
					Path: "/var/www/shop1/tell-a-friend.php", Size: 4210, UID: 1001,
					ModTime: htmlT0.AddDate(-3, 0, 0), ChangeTime: htmlT0.AddDate(-1, 0, 0),
				},
				Markers: []string{"mail("},
			},
			{Key: checkout, Path: "/var/www/shop1/checkout.php", Legit: 5, History: &inc.Scripts[1]},
		},
		Timeline: timeline,
		Marks: []Mark{
			{Time: msgs[0].Time, Kind: FirstSpam, Label: "first spam"},
			{Time: trip, Kind: Trip, Label: "trip"},
			{Time: inc.Enforced.Time, Kind: Disabled, Label: "disabled"},
		},
	}
}

// htmlUploadReport is a WordPress site with a mailer uploaded to
// wp-content/uploads that sends 40 phishing messages in two minutes.
func htmlUploadReport() *Report {
	const mailer = "1002:wp-content/uploads/2026/03/cache.php"
	t0 := time.Date(2026, 3, 15, 2, 0, 0, 0, time.UTC)
	runStart := t0.Add(72 * time.Minute)
	var msgs []spamrun.SpamEvent
	for i := range 40 {
		msgs = append(msgs, spamrun.SpamEvent{
			Time:       runStart.Add(time.Duration(i*3) * time.Second),
			Score:      12.1,
			Rules:      []string{"PHISH_BANK", "FORGED_SENDER"},
			Sender:     fmt.Sprintf("security%d@bank.example", i%4),
			Recipients: 1,
			Domains:    []string{fmt.Sprintf("mail%d.example", i%7)},
			Subject:    fmt.Sprintf("Account suspended #%d", 1000+i),
			Evidence:   spamrun.Evidence{Script: mailer, Cwd: "/var/www/blog/wp-content/uploads/2026/03", UID: 1002},
		})
	}
	trip := msgs[len(msgs)-1].Time
	var timeline []Point
	for m := 0; m <= 74; m++ {
		t := t0.Add(time.Duration(m) * time.Minute)
		p := Point{Time: t}
		if m%20 == 3 {
			p.Legit = 1
		}
		for _, e := range msgs {
			if e.Time.Truncate(time.Minute).Equal(t) {
				p.Spam++
			}
		}
		timeline = append(timeline, p)
	}
	file := &spamrun.ScriptFile{
		Path: "/var/www/blog/wp-content/uploads/2026/03/cache.php", Size: 88211, UID: 1002,
		ModTime: time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC), ChangeTime: runStart.Add(-9 * time.Minute),
	}
	msgs[len(msgs)-1].Evidence.File = file
	return &Report{
		Incident: &spamrun.Incident{
			ID: "20260315T031357Z-blog-01", Site: "blog", Time: trip,
			Policy: spamrun.Policy{SpamScore: 5, MaxSpam: 39, Window: 30 * time.Minute},
			Count:  40, Messages: msgs,
			Enforced: &spamrun.Enforcement{Time: trip.Add(2 * time.Second), Err: "panel-disable-site: exit status 3: vhost not found"},
		},
		Generated: trip.Add(time.Hour),
		Summary: Summary{
			Start: msgs[0].Time, End: trip, Spam: 40, Legit: 0, Recipients: 40, Domains: 7,
			Senders: []Count{{"security0@bank.example", 10}, {"security1@bank.example", 10}, {"security2@bank.example", 10}, {"security3@bank.example", 10}},
		},
		Findings: []Finding{
			{
				Cause: UploadedScript, Script: mailer, Path: file.Path, Confidence: 0.93,
				Title: "A mail script uploaded 9 minutes before the run sent it",
				Facts: []string{
					"cache.php had never sent mail before the run",
					"it lives in wp-content/uploads, where uploads go",
					"its ctime is 9 minutes before the first message; its mtime of 2019 was set back",
					"its code holds a web shell's markers: eval(base64_decode(",
				},
				Advice: []string{"Remove the script and look for how it was uploaded", "Change the site's passwords"},
			},
			{Cause: Unknown, Confidence: 0.05, Title: "Nothing else explains the run"},
		},
		Scripts: []Script{{
			Key: mailer, Path: file.Path, Spam: 40, New: true, File: file,
			Markers: []string{"eval(base64_decode(", "mail(", "$_POST"},
		}},
		Timeline: timeline,
		Marks: []Mark{
			{Time: msgs[0].Time, Kind: FirstSpam, Label: "first spam"},
			{Time: trip, Kind: Trip, Label: "trip"},
		},
	}
}

func htmlRender(t *testing.T, r *Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatalf("WriteHTML: %v", err)
	}
	return b.String()
}

func htmlParse(t *testing.T, page string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc
}

// htmlAll returns the elements under n, n included, for which keep is
// true, in document order.
func htmlAll(n *html.Node, keep func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && keep(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func htmlAttr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func htmlHasClass(n *html.Node, class string) bool {
	return strings.Contains(" "+htmlAttr(n, "class")+" ", " "+class+" ")
}

func htmlByClass(n *html.Node, class string) []*html.Node {
	return htmlAll(n, func(n *html.Node) bool { return htmlHasClass(n, class) })
}

func htmlByTag(n *html.Node, tag string) []*html.Node {
	return htmlAll(n, func(n *html.Node) bool { return n.Data == tag })
}

func htmlByID(t *testing.T, n *html.Node, id string) *html.Node {
	t.Helper()
	found := htmlAll(n, func(n *html.Node) bool { return htmlAttr(n, "id") == id })
	if len(found) != 1 {
		t.Fatalf("%d elements with id %q, want 1", len(found), id)
	}
	return found[0]
}

func htmlText(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

func htmlFloat(t *testing.T, n *html.Node, key string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(htmlAttr(n, key), 64)
	if err != nil {
		t.Fatalf("<%s %s=%q>: %v", n.Data, key, htmlAttr(n, key), err)
	}
	return f
}

// htmlVoid are the elements that have no end tag.
var htmlVoid = map[string]bool{
	"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true,
	"img": true, "input": true, "link": true, "meta": true, "source": true,
	"track": true, "wbr": true,
}

// htmlCheckBalanced checks that the page's tags nest: every element the
// template opens it closes, in order, so no browser has to guess.
func htmlCheckBalanced(t *testing.T, page string) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(page))
	var stack []string
	for {
		switch z.Next() {
		case html.ErrorToken:
			if err := z.Err(); !errors.Is(err, io.EOF) {
				t.Fatalf("tokenize: %v", err)
			}
			if len(stack) > 0 {
				t.Fatalf("unclosed elements at the end: %v", stack)
			}
			return
		case html.StartTagToken:
			name, _ := z.TagName()
			if !htmlVoid[string(name)] {
				stack = append(stack, string(name))
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if len(stack) == 0 || stack[len(stack)-1] != string(name) {
				t.Fatalf("</%s> closes %v", name, stack)
			}
			stack = stack[:len(stack)-1]
		case html.DoctypeToken:
			if string(z.Raw()) != "<!DOCTYPE html>" {
				t.Errorf("doctype %q", z.Raw())
			}
		}
	}
}

func TestHTMLSections(t *testing.T) {
	page := htmlRender(t, htmlFormReport())
	htmlCheckBalanced(t, page)
	if !strings.HasPrefix(page, "<!DOCTYPE html>\n<html lang=\"en\">") {
		t.Errorf("page starts %q", page[:min(len(page), 40)])
	}
	doc := htmlParse(t, page)
	for _, id := range []string{"header", "verdict", "timeline-section", "timeline", "summary", "scripts", "messages", "enforced"} {
		htmlByID(t, doc, id)
	}
	if titles := htmlByTag(doc, "title"); len(titles) == 0 || htmlText(titles[0]) != "Spam run on shop1 — incident 20260314T100356Z-shop1-7f3a" {
		t.Errorf("title %q", htmlText(titles[0]))
	}

	header := htmlText(htmlByID(t, doc, "header"))
	for _, want := range []string{
		"shop1", "20260314T100356Z-shop1-7f3a",
		"Sat 14 Mar 2026 10:03:56 UTC", "2026-03-14T10:03:56Z",
		"at most 10 recipients of spam-marked messages within 1h;", "score ≥ 5.0", "this run reached 11",
		"site disabled at Sat 14 Mar 2026 10:03:56 UTC",
		"Sat 14 Mar 2026 10:05:56 UTC",
	} {
		if !strings.Contains(header, want) {
			t.Errorf("header lacks %q:\n%s", want, header)
		}
	}

	verdict := htmlByID(t, doc, "verdict")
	lead := htmlByClass(verdict, "lead")
	if len(lead) != 1 {
		t.Fatalf("%d lead findings", len(lead))
	}
	leadText := htmlText(lead[0])
	for _, want := range []string{"Abused form", "high confidence · 86%", "one template to 275 recipients", "share the form's fixed text", "Add a CAPTCHA"} {
		if !strings.Contains(leadText, want) {
			t.Errorf("lead finding lacks %q:\n%s", want, leadText)
		}
	}
	if n := len(htmlByTag(lead[0], "li")); n != 5 {
		t.Errorf("lead finding has %d list items, want 3 facts and 2 advice", n)
	}
	others := htmlByClass(verdict, "other")
	if len(others) != 1 || !strings.Contains(htmlText(others[0]), "Uploaded mail script low confidence · 12%") {
		t.Errorf("other findings: %d", len(others))
	}
	links := htmlByTag(verdict, "a")
	if len(links) != 1 || htmlAttr(links[0], "href") != "https://support.example.com/spam-run" || htmlText(links[0]) != "What the site's owner should do" {
		t.Errorf("article link: %v", links)
	}

	summary := htmlText(htmlByID(t, doc, "summary"))
	for _, want := range []string{"Sat 14 Mar 2026 10:00:05 UTC", "3m51s after the first", "275", "4 distinct domains", "URI_SHORTENER", "bit.ly", "Envelope sender"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	if n := len(htmlByClass(htmlByID(t, doc, "summary"), "count-table")); n != 4 {
		t.Errorf("%d count tables, want 4", n)
	}

	scripts := htmlByID(t, doc, "scripts")
	rows := htmlByTag(htmlByTag(scripts, "tbody")[0], "tr")
	if len(rows) != 2 {
		t.Fatalf("%d script rows", len(rows))
	}
	first := htmlText(rows[0])
	for _, want := range []string{"1001:/var/www/shop1/tell-a-friend.php", "2023-03-14 09:00:00", "412 (11 spam)", "2025-03-14 09:00:00", "1001", "mail("} {
		if !strings.Contains(first, want) {
			t.Errorf("script row lacks %q: %s", want, first)
		}
	}
	if strings.Contains(htmlText(scripts), "New") {
		t.Errorf("a long-standing script is marked New")
	}
	if !strings.Contains(htmlText(rows[1]), "not seen on disk") {
		t.Errorf("script without a stat: %s", htmlText(rows[1]))
	}
	if n := len(htmlByTag(scripts, "th")); n != 9 {
		t.Errorf("scripts table has %d headers", n)
	}

	messages := htmlByID(t, doc, "messages")
	mrows := htmlByTag(htmlByTag(messages, "tbody")[0], "tr")
	if len(mrows) != 11 {
		t.Fatalf("%d message rows, want 11", len(mrows))
	}
	cells := htmlByTag(mrows[0], "td")
	var got []string
	for _, c := range cells {
		got = append(got, strings.TrimSpace(htmlText(c)))
	}
	want := []string{"1", "10:00:05", "7.5", "URI_SHORTENER, TAF_TEMPLATE, FREEMAIL_FROM", "www-shop1@web1.example.net",
		"25 gmail.com, yahoo.com, hotmail.com, web.de", "Your friend recommends: cheap meds at bit.ly/x9",
		"1001:/var/www/shop1/tell-a-friend.php", "/var/www/shop1"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("first message row\n got %q\nwant %q", got, want)
	}
	if strings.Contains(page, "messages-more") {
		t.Errorf("11 messages say there are more")
	}
}

func TestHTMLUploadedScript(t *testing.T) {
	page := htmlRender(t, htmlUploadReport())
	htmlCheckBalanced(t, page)
	doc := htmlParse(t, page)
	lead := htmlByClass(htmlByID(t, doc, "verdict"), "lead")
	if len(lead) != 1 || !strings.Contains(htmlText(lead[0]), "Uploaded mail script high confidence · 93%") {
		t.Fatalf("lead: %v", lead)
	}
	if !strings.Contains(htmlText(lead[0]), "eval(base64_decode(") {
		t.Errorf("lead finding lacks its facts")
	}
	enforced := htmlText(htmlByID(t, doc, "enforced"))
	if !strings.Contains(enforced, "failed at Sun 15 Mar 2026 03:13:59 UTC: panel-disable-site: exit status 3: vhost not found") {
		t.Errorf("enforced: %q", enforced)
	}
	scripts := htmlByID(t, doc, "scripts")
	if badges := htmlByClass(scripts, "new"); len(badges) != 1 || htmlText(badges[0]) != "New" {
		t.Errorf("the uploaded script has no New badge")
	}
	if !strings.Contains(htmlText(scripts), "no history") {
		t.Errorf("a script without history says nothing of it")
	}
	if len(htmlByTag(htmlByID(t, doc, "verdict"), "a")) != 0 {
		t.Errorf("a report without ArticleURL links one")
	}
	if n := len(htmlByTag(htmlByTag(htmlByID(t, doc, "messages"), "tbody")[0], "tr")); n != 40 {
		t.Errorf("%d message rows, want 40", n)
	}
	if !strings.Contains(htmlText(htmlByClass(doc, "other")[0]), "Cause unknown") {
		t.Errorf("the unknown finding is not in words")
	}
}

func TestHTMLEscapes(t *testing.T) {
	const (
		subject = `<script>alert(1)</script>`
		key     = `1001:x.php"><img src=x onerror=alert(2)>`
		sender  = `a"b'<c>&d@example.com`
	)
	r := htmlUploadReport()
	r.Incident.Site = `<b>site</b>`
	r.Incident.Messages[0].Subject = subject
	r.Incident.Messages[0].Evidence.Script = key
	r.Incident.Messages[0].Sender = sender
	r.Incident.Messages[0].Rules = []string{`</td><td onmouseover=alert(3)>`}
	r.Summary.Subjects = []Count{{subject, 1}}
	r.Scripts[0].Key = key
	r.Scripts[0].Markers = []string{`<?php eval($_POST["x"]); ?>`}
	r.Findings[0].Title = "script " + key
	r.Findings[0].Script = key
	r.Findings[0].Facts = append(r.Findings[0].Facts, "subject "+subject)
	r.Marks[0].Label = `</text><script>alert(4)</script>`
	r.ArticleURL = `javascript:alert(5)`
	page := htmlRender(t, r)
	htmlCheckBalanced(t, page)

	for _, raw := range []string{"<script", "<img", "<b>site", "<td onmouseover", "<?php", `href="javascript:`} {
		if strings.Contains(page, raw) {
			t.Errorf("page holds %q unescaped", raw)
		}
	}
	for _, escaped := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;"} {
		if !strings.Contains(page, escaped) {
			t.Errorf("page lacks %q", escaped)
		}
	}

	doc := htmlParse(t, page)
	if n := len(htmlByTag(doc, "script")); n != 0 {
		t.Errorf("%d script elements", n)
	}
	if n := len(htmlByTag(doc, "img")); n != 0 {
		t.Errorf("%d img elements", n)
	}
	for _, n := range htmlAll(doc, func(*html.Node) bool { return true }) {
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") {
				t.Errorf("<%s %s=%q>", n.Data, a.Key, a.Val)
			}
		}
	}
	// What the abuser wrote comes back as text, intact.
	row := htmlByTag(htmlByTag(htmlByID(t, doc, "messages"), "tbody")[0], "tr")[0]
	cells := htmlByTag(row, "td")
	if got := htmlText(cells[6]); got != subject {
		t.Errorf("subject cell %q, want %q", got, subject)
	}
	if got := htmlText(cells[7]); got != key {
		t.Errorf("script cell %q, want %q", got, key)
	}
	if got := htmlText(cells[4]); got != sender {
		t.Errorf("sender cell %q, want %q", got, sender)
	}
	if got := htmlText(htmlByTag(doc, "h1")[0]); got != "Spam run on <b>site</b>" {
		t.Errorf("h1 %q", got)
	}
	for _, a := range htmlByTag(doc, "a") {
		if strings.HasPrefix(htmlAttr(a, "href"), "javascript") {
			t.Errorf("link to %q", htmlAttr(a, "href"))
		}
	}
}

func TestHTMLNullSenderAndNoSubject(t *testing.T) {
	r := htmlFormReport()
	r.Incident.Messages[0].Sender = ""
	r.Incident.Messages[0].Subject = ""
	doc := htmlParse(t, htmlRender(t, r))
	cells := htmlByTag(htmlByTag(htmlByTag(htmlByID(t, doc, "messages"), "tbody")[0], "tr")[0], "td")
	if got := htmlText(cells[4]); got != "<>" {
		t.Errorf("null sender shows %q", got)
	}
	if got := htmlText(cells[6]); got != "(no subject)" {
		t.Errorf("no subject shows %q", got)
	}
}

// htmlBars returns the chart's spam and legit rects.
func htmlBars(t *testing.T, doc *html.Node) (spam, legit []*html.Node) {
	t.Helper()
	svg := htmlByID(t, doc, "timeline")
	if svg.Data != "svg" {
		t.Fatalf("#timeline is <%s>", svg.Data)
	}
	return htmlByClass(svg, "bar-spam"), htmlByClass(svg, "bar-legit")
}

// htmlCheckBarsInside checks every bar lies within the plot.
func htmlCheckBarsInside(t *testing.T, bars []*html.Node) {
	t.Helper()
	for _, b := range bars {
		x, y := htmlFloat(t, b, "x"), htmlFloat(t, b, "y")
		w, h := htmlFloat(t, b, "width"), htmlFloat(t, b, "height")
		if x < 76 || x+w > 1020.01 || y < 58 || y+h > 260.01 || w <= 0 || h <= 0 {
			t.Errorf("bar x=%v y=%v w=%v h=%v outside the plot", x, y, w, h)
		}
	}
}

func TestHTMLTimelineNoPoints(t *testing.T) {
	r := htmlFormReport()
	r.Timeline = nil
	page := htmlRender(t, r)
	htmlCheckBalanced(t, page)
	doc := htmlParse(t, page)
	if n := len(htmlByTag(doc, "svg")); n != 0 {
		t.Errorf("%d svg without points", n)
	}
	if got := htmlText(htmlByID(t, doc, "timeline-empty")); !strings.Contains(got, "No activity recorded") {
		t.Errorf("empty timeline says %q", got)
	}
	// The marks are still told, as text.
	if n := len(htmlByClass(doc, "legend-mark")); n != 3 {
		t.Errorf("%d marks listed, want 3", n)
	}
}

func TestHTMLTimelineOnePoint(t *testing.T) {
	r := htmlFormReport()
	at := time.Date(2026, 3, 14, 10, 3, 0, 0, time.UTC)
	r.Timeline = []Point{{Time: at, Legit: 2, Spam: 11}}
	r.Marks = []Mark{{Time: at.Add(56 * time.Second), Kind: Trip, Label: "trip"}}
	page := htmlRender(t, r)
	htmlCheckBalanced(t, page)
	doc := htmlParse(t, page)
	spam, legit := htmlBars(t, doc)
	if len(spam) != 1 || len(legit) != 1 {
		t.Fatalf("%d spam and %d legit bars, want 1 each", len(spam), len(legit))
	}
	htmlCheckBarsInside(t, append(spam, legit...))
	if w := htmlFloat(t, spam[0], "width"); w > 48 {
		t.Errorf("a lone bar is %vpx wide", w)
	}
	// Stacked: legit sits on spam, and 11 spam are taller than 2 legit.
	sy, sh := htmlFloat(t, spam[0], "y"), htmlFloat(t, spam[0], "height")
	ly, lh := htmlFloat(t, legit[0], "y"), htmlFloat(t, legit[0], "height")
	if ly+lh != sy || sh <= 5*lh || sy+sh != 260 {
		t.Errorf("spam y=%v h=%v, legit y=%v h=%v", sy, sh, ly, lh)
	}
	if n := len(htmlByClass(doc, "mark-trip")); n < 2 { // the chart's and the legend's
		t.Errorf("trip mark not drawn")
	}
	if !strings.Contains(page, "Each bar is one minute") || !strings.Contains(page, "messages per minute") {
		t.Errorf("bucket size not said")
	}
}

// htmlLongReport has 3,000 minutes of timeline, two days of a busy shop's
// mail and then a run at 1,000 spam-marked messages a minute.
func htmlLongReport() *Report {
	r := htmlFormReport()
	start := time.Date(2026, 3, 12, 0, 0, 0, 0, time.UTC)
	r.Timeline = nil
	for i := range 3000 {
		p := Point{Time: start.Add(time.Duration(i) * time.Minute), Legit: 20 + i%7*3}
		if i >= 2990 {
			p.Spam = 1000
		}
		r.Timeline = append(r.Timeline, p)
	}
	r.Marks = []Mark{
		{Time: start.Add(2990 * time.Minute), Kind: FirstSpam},
		{Time: start.Add(2999*time.Minute + 30*time.Second), Kind: Trip},
	}
	return r
}

func TestHTMLTimelineThousandsOfPoints(t *testing.T) {
	r := htmlLongReport()
	var legitSum, spamSum int
	for _, p := range r.Timeline {
		legitSum += p.Legit
		spamSum += p.Spam
	}
	page := htmlRender(t, r)
	htmlCheckBalanced(t, page)
	doc := htmlParse(t, page)
	spam, legit := htmlBars(t, doc)
	if len(legit) > 240 || len(legit) < 100 {
		t.Errorf("%d legit bars for 3,000 minutes, want at most 240", len(legit))
	}
	htmlCheckBarsInside(t, append(spam, legit...))
	for _, b := range legit {
		if w := htmlFloat(t, b, "width"); w < 2 {
			t.Errorf("bar %vpx wide", w)
			break
		}
	}
	if !strings.Contains(page, "Each bar is 15 minutes") {
		t.Errorf("bucket size not said")
	}
	// Nothing is lost in the buckets.
	c := newHTMLChart(r.Timeline, r.Marks)
	var gotLegit, gotSpam int
	for _, b := range c.Bars {
		gotLegit += b.Legit
		gotSpam += b.Spam
	}
	if gotLegit != legitSum || gotSpam != spamSum {
		t.Errorf("bars hold %d legit, %d spam; want %d, %d", gotLegit, gotSpam, legitSum, spamSum)
	}
	var labels []string
	for _, tick := range c.YTicks {
		labels = append(labels, tick.Label)
	}
	if got := strings.Join(labels, " "); got != "0 5,000 10,000 15,000" {
		t.Errorf("y ticks %q", got)
	}
	if n := len(c.XTicks); n < 3 || n > 9 {
		t.Errorf("%d x ticks", n)
	}
	if len(c.Marks) != 2 {
		t.Errorf("%d marks on the chart", len(c.Marks))
	}
}

func TestHTMLTimelineBrokenPoints(t *testing.T) {
	r := htmlFormReport()
	r.Timeline = append([]Point{{Time: time.Time{}, Legit: 7}, {Time: htmlT0.Add(-400 * 24 * time.Hour), Spam: 1}}, r.Timeline...)
	r.Timeline = append(r.Timeline, Point{Time: htmlT0.Add(70 * time.Minute), Legit: -3})
	page := htmlRender(t, r)
	htmlCheckBalanced(t, page)
	spam, legit := htmlBars(t, htmlParse(t, page))
	htmlCheckBarsInside(t, append(spam, legit...))
	if len(spam) != 4 {
		t.Errorf("%d spam bars, want the run's 4", len(spam))
	}
	c := newHTMLChart(r.Timeline, nil)
	if !c.Start.Equal(htmlT0) || c.Bucket != time.Minute {
		t.Errorf("chart from %v per %v, want from %v per minute", c.Start, c.Bucket, htmlT0)
	}
}

func TestHTMLTimelineTicks(t *testing.T) {
	c := newHTMLChart(htmlFormReport().Timeline, nil)
	var labels []string
	for _, tick := range c.XTicks {
		labels = append(labels, tick.Label)
	}
	if got := strings.Join(labels, " "); got != "09:00 09:10 09:20 09:30 09:40 09:50 10:00" {
		t.Errorf("x ticks %q", got)
	}
	labels = nil
	for _, tick := range c.YTicks {
		labels = append(labels, tick.Label)
	}
	if got := strings.Join(labels, " "); got != "0 2 4 6" {
		t.Errorf("y ticks %q", got)
	}
}

func TestHTMLMarks(t *testing.T) {
	r := htmlFormReport()
	r.Marks = append(r.Marks,
		Mark{Time: htmlT0.Add(-2 * time.Hour), Kind: FirstSpam, Label: "long before"},
		Mark{Time: htmlT0.Add(5 * time.Hour), Kind: Disabled, Label: "long after"},
	)
	page := htmlRender(t, r)
	doc := htmlParse(t, page)
	svg := htmlByID(t, doc, "timeline")
	marks := htmlByClass(svg, "mark")
	if len(marks) != 3 {
		t.Fatalf("%d marks on the chart, want the 3 in range", len(marks))
	}
	if !htmlHasClass(marks[2], "mark-trip") {
		t.Errorf("the trip is not drawn last, on top")
	}
	var xs []float64
	for _, kind := range []string{"mark-first-spam", "mark-trip", "mark-disabled"} {
		mark := htmlByClass(svg, kind)
		if len(mark) != 1 {
			t.Fatalf("%d %s marks", len(mark), kind)
		}
		line := htmlByTag(mark[0], "line")[0]
		x := htmlFloat(t, line, "x1")
		if x < 76 || x > 1020 {
			t.Errorf("%s at x=%v", kind, x)
		}
		xs = append(xs, x)
	}
	if !(xs[0] < xs[1] && xs[1] <= xs[2]) {
		t.Errorf("marks at %v, not in time order", xs)
	}
	// 10:00:05 of a 09:00–10:04 chart is 60/64 of the way.
	if want := 76 + (60+5.0/60)/64*944; xs[0] < want-1 || xs[0] > want+1 {
		t.Errorf("first spam at x=%v, want %v", xs[0], want)
	}
	if strings.Contains(htmlText(svg), "long before") || strings.Contains(htmlText(svg), "long after") {
		t.Errorf("marks outside the chart drawn on it")
	}
	var outside int
	for _, li := range htmlByClass(doc, "legend-mark") {
		if strings.Contains(htmlText(li), "(outside the chart)") {
			outside++
		}
	}
	if outside != 2 {
		t.Errorf("%d marks listed as outside the chart, want 2", outside)
	}
	if !strings.Contains(htmlText(svg), "trip 10:03:56") {
		t.Errorf("trip label missing: %s", htmlText(svg))
	}
}

func TestHTMLFindingsOrder(t *testing.T) {
	r := htmlFormReport()
	r.Findings = []Finding{
		{Cause: Unknown, Confidence: 0.4, Title: "first: unknown"},
		{Cause: AbusedForm, Confidence: 0.9, Title: "second: form"},
		{Cause: UploadedScript, Confidence: 0.6, Title: "third: upload"},
	}
	doc := htmlParse(t, htmlRender(t, r))
	var titles []string
	for _, h := range htmlByTag(htmlByID(t, doc, "verdict"), "h3") {
		if !htmlHasClass(h, "other-findings-title") {
			titles = append(titles, htmlText(h))
		}
	}
	if got := strings.Join(titles, "|"); got != "first: unknown|second: form|third: upload" {
		t.Errorf("findings in order %q", got)
	}
	lead := htmlByClass(doc, "lead")
	if len(lead) != 1 || !strings.Contains(htmlText(lead[0]), "Cause unknown low confidence · 40%") {
		t.Errorf("lead is not the first finding")
	}
	if !strings.Contains(htmlText(htmlByClass(doc, "other")[1]), "medium confidence · 60%") {
		t.Errorf("third finding's level")
	}
}

func TestHTMLMessagesCapped(t *testing.T) {
	r := htmlUploadReport()
	for len(r.Incident.Messages) < 250 {
		r.Incident.Messages = append(r.Incident.Messages, r.Incident.Messages[0])
	}
	r.Summary.Rules = nil
	for i := range 15 {
		r.Summary.Rules = append(r.Summary.Rules, Count{fmt.Sprintf("RULE_%d", i), 15 - i})
	}
	page := htmlRender(t, r)
	doc := htmlParse(t, page)
	if n := len(htmlByTag(htmlByTag(htmlByID(t, doc, "messages"), "tbody")[0], "tr")); n != 200 {
		t.Errorf("%d message rows, want 200", n)
	}
	if got := htmlText(htmlByID(t, doc, "messages-more")); !strings.Contains(got, "and 50 more") {
		t.Errorf("more: %q", got)
	}
	if !strings.Contains(htmlText(htmlByID(t, doc, "summary")), "and 5 more") {
		t.Errorf("the rules table does not say it was cut")
	}
}

func TestHTMLNoIncident(t *testing.T) {
	if err := (&Report{}).WriteHTML(io.Discard); !errors.Is(err, ErrNoIncident) {
		t.Errorf("err = %v, want ErrNoIncident", err)
	}
}

func TestHTMLSelfContained(t *testing.T) {
	page := htmlRender(t, htmlFormReport())
	for _, bad := range []string{"<link", "<script", "@import", "url(", "@font-face", "src="} {
		if strings.Contains(page, bad) {
			t.Errorf("page holds %q", bad)
		}
	}
	// The chart's colors are the ones TestHTMLInChromium looks for.
	for _, rgb := range [][3]uint8{htmlSpamRGB, htmlLegitRGB, htmlTripRGB} {
		if hex := fmt.Sprintf("#%02x%02x%02x", rgb[0], rgb[1], rgb[2]); !strings.Contains(page, hex) {
			t.Errorf("page lacks the color %s", hex)
		}
	}
	// The only link is the article.
	if n := strings.Count(page, "https://"); n != 2 { // href and shown text
		t.Errorf("%d https:// in the page", n)
	}
}

// htmlChromium runs chromium headless on the page with args and returns
// its standard output.
func htmlChromium(t *testing.T, bin, page string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	all := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--disable-dev-shm-usage", "--force-color-profile=srgb", "--mute-audio",
		"--window-size=1280,2000", "--user-data-dir=" + t.TempDir(),
	}, args...)
	all = append(all, "file://"+page)
	cmd := exec.CommandContext(ctx, bin, all...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, stderr.String())
	}
	return stdout.Bytes()
}

func htmlCountRGB(img image.Image, want [3]uint8) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if uint8(r>>8) == want[0] && uint8(g>>8) == want[1] && uint8(bl>>8) == want[2] {
				n++
			}
		}
	}
	return n
}

// TestHTMLWritePages writes the test's pages to the directory named by
// SPAMRUN_HTML_DIR, for a human to open.
func TestHTMLWritePages(t *testing.T) {
	dir := os.Getenv("SPAMRUN_HTML_DIR")
	if dir == "" {
		t.Skip("SPAMRUN_HTML_DIR not set")
	}
	for name, r := range map[string]*Report{"form.html": htmlFormReport(), "upload.html": htmlUploadReport(), "long.html": htmlLongReport()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(htmlRender(t, r)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHTMLInChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium not found (%v): install it with apt-get install chromium fonts-dejavu-core", err)
		}
		t.Skipf("chromium not found: %v", err)
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, []byte(htmlRender(t, htmlFormReport())), 0o644); err != nil {
		t.Fatal(err)
	}

	shot := filepath.Join(dir, "report.png")
	htmlChromium(t, bin, page, "--screenshot="+shot)
	data, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	if dst := os.Getenv("SPAMRUN_SCREENSHOT"); dst != "" {
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Errorf("copy screenshot: %v", err)
		}
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decode screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 2000 {
		t.Errorf("screenshot is %v", b)
	}
	colors := map[[3]uint8]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colors[[3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8)}]++
		}
	}
	white := colors[[3]uint8{255, 255, 255}]
	if len(colors) < 20 || white > b.Dx()*b.Dy()/4*97/100 {
		t.Errorf("screenshot looks blank: %d colors, %d of %d sampled pixels white", len(colors), white, b.Dx()*b.Dy()/4)
	}
	for _, c := range []struct {
		name string
		rgb  [3]uint8
		min  int
	}{
		{"spam bar", htmlSpamRGB, 50},
		{"legit bar", htmlLegitRGB, 50},
		{"trip mark", htmlTripRGB, 20},
	} {
		if n := htmlCountRGB(img, c.rgb); n < c.min {
			t.Errorf("%d pixels of the %s color rgb%v, want at least %d", n, c.name, c.rgb, c.min)
		} else {
			t.Logf("%d pixels of the %s color", n, c.name)
		}
	}

	dom := htmlChromium(t, bin, page, "--dump-dom")
	doc := htmlParse(t, string(dom))
	spam, legit := htmlBars(t, doc)
	if len(spam) != 4 || len(legit) < 30 {
		t.Errorf("rendered DOM has %d spam and %d legit bars", len(spam), len(legit))
	}
	if n := len(htmlByClass(htmlByID(t, doc, "timeline"), "mark-trip")); n != 1 {
		t.Errorf("rendered DOM has %d trip marks", n)
	}
	lead := htmlByClass(doc, "lead")
	if len(lead) != 1 || !strings.Contains(htmlText(lead[0]), "one template to 275 recipients") {
		t.Errorf("rendered DOM lacks the verdict")
	}
}
