package report

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spamrun/spamrun"
)

// The page is one file with its style inside, so that it can be mailed,
// attached to a ticket or opened years later without a network: no
// external fonts, scripts or style sheets, and no JavaScript.
//
//go:embed report.html.tmpl report.css
var htmlFiles embed.FS

var htmlTemplate = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
	"cause":   causeWords,
	"percent": func(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) },
	"utc":     func(t time.Time) string { return t.UTC().Format("Mon 2 Jan 2006 15:04:05 UTC") },
	"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"stamp":   func(t time.Time) string { return htmlStamp(t) },
	"dur":     ShortDuration,
	"score":   func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	"num":     htmlNumber,
	"sender": func(s string) string {
		if s == "" {
			return "<>"
		}
		return s
	},
	"join":  strings.Join,
	"add":   func(a, b int) int { return a + b },
	"inc":   func(i int) int { return i + 1 },
	"num64": func(n int64) string { return htmlNumber(int(n)) },
	"since": func(a, b time.Time) string { return ShortDuration(b.Sub(a).Round(time.Second)) },
}).ParseFS(htmlFiles, "report.html.tmpl"))

var htmlCSS = func() template.CSS {
	b, err := htmlFiles.ReadFile("report.css")
	if err != nil {
		panic(err)
	}
	// The style sheet is ours, embedded at build time: nothing of the
	// incident goes into it.
	return template.CSS(b)
}()

// The bounds of the page, so that a run of 100,000 messages still makes a
// page a browser opens at once.
const (
	htmlMaxMessages = 200
	htmlMaxCounts   = 10
	htmlMaxBars     = 240
	htmlMaxSpan     = 366 * 24 * time.Hour
)

// ErrNoIncident is returned by the writers for a Report without an
// Incident.
var ErrNoIncident = errors.New("report: report has no incident")

// WriteHTML writes the report as a self-contained HTML page: the verdict,
// a chart of the run against the site's ordinary mail, the scripts and
// the spam-marked messages. Everything that comes from the incident is
// escaped, since subjects, senders and script names are the abuser's.
func (r *Report) WriteHTML(w io.Writer) error {
	if r == nil || r.Incident == nil {
		return ErrNoIncident
	}
	page := newHTMLPage(r)
	var buf bytes.Buffer
	if err := htmlTemplate.Execute(&buf, page); err != nil {
		return fmt.Errorf("report: html: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// htmlPage is what the template is executed with: the report and what the
// template cannot work out for itself.
type htmlPage struct {
	*Report
	Inc          *spamrun.Incident
	CSS          template.CSS
	Lead         *Finding
	Others       []Finding
	Chart        *htmlChart
	MarkList     []htmlMarkItem
	Messages     []spamrun.SpamEvent
	MoreMessages int
	Counts       []htmlCounts
}

type htmlCounts struct {
	Title, Column string
	Rows          []Count
	More          int
}

type htmlMarkItem struct {
	Mark
	Class   string
	OnChart bool
}

// Text is what the page calls a mark.
func (m Mark) text() string {
	if m.Label != "" {
		return m.Label
	}
	switch m.Kind {
	case FirstSpam:
		return "first spam-marked message"
	case Trip:
		return "trip"
	case Disabled:
		return "site disabled"
	}
	return string(m.Kind)
}

// Text is the mark's label, or its kind in words.
func (m htmlMarkItem) Text() string { return m.text() }

// Clock is a time in the table of messages: the time of day, and the date
// too when it is not the incident's.
func (p *htmlPage) Clock(t time.Time) string {
	t = t.UTC()
	if y, m, d := t.Date(); y == p.Inc.Time.UTC().Year() && m == p.Inc.Time.UTC().Month() && d == p.Inc.Time.UTC().Day() {
		return t.Format("15:04:05")
	}
	return t.Format("2 Jan 15:04:05")
}

func newHTMLPage(r *Report) *htmlPage {
	p := &htmlPage{
		Report: r,
		Inc:    r.Incident,
		CSS:    htmlCSS,
	}
	if len(r.Findings) > 0 {
		p.Lead = &r.Findings[0]
		p.Others = r.Findings[1:]
	}
	p.Chart = newHTMLChart(r.Timeline, r.Marks)
	for _, m := range r.Marks {
		item := htmlMarkItem{Mark: m, Class: htmlMarkClass(m.Kind)}
		if p.Chart != nil {
			_, item.OnChart = p.Chart.x(m.Time)
		}
		p.MarkList = append(p.MarkList, item)
	}
	p.Messages = r.Incident.Messages
	if len(p.Messages) > htmlMaxMessages {
		p.MoreMessages = len(p.Messages) - htmlMaxMessages
		p.Messages = p.Messages[:htmlMaxMessages]
	}
	s := r.Summary
	for _, c := range []htmlCounts{
		{Title: "Senders", Column: "Envelope sender", Rows: s.Senders},
		{Title: "Subjects", Column: "Subject", Rows: s.Subjects},
		{Title: "Rules", Column: "Rule", Rows: s.Rules},
		{Title: "Links", Column: "Linked host", Rows: s.Links},
		{Title: "Doors", Column: "How it reached spamrun", Rows: s.Doors},
	} {
		if len(c.Rows) == 0 {
			continue
		}
		if len(c.Rows) > htmlMaxCounts {
			c.More = len(c.Rows) - htmlMaxCounts
			c.Rows = c.Rows[:htmlMaxCounts]
		}
		p.Counts = append(p.Counts, c)
	}
	return p
}

// causeWords says a Cause the way the page's reader says it.
func causeWords(c Cause) string {
	switch c {
	case AbusedForm:
		return "Abused form"
	case UploadedScript:
		return "Uploaded mail script"
	case Bulk:
		return "The site's own bulk mail"
	}
	return "Cause unknown"
}

// htmlMarkClass keeps a Mark's kind, which is ours but stored, to the
// classes the style sheet knows.
func htmlMarkClass(k MarkKind) string {
	switch k {
	case FirstSpam, Trip, Disabled:
		return "mark-" + string(k)
	}
	return "mark-other"
}

// htmlStamp is a time in a table, in UTC like every time of the page.
func htmlStamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// ShortDuration writes a duration as a configuration writes it: "1h",
// "15m", "1h30m", not "1h0m0s".
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// htmlNumber writes n with thousands separators.
func htmlNumber(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// htmlChart is the geometry of the timeline's SVG, worked out here so the
// template only prints numbers.
type htmlChart struct {
	Width, Height int
	Left, Top     int
	Right, Bottom int // coordinates of the plot's right and bottom edges
	Bucket        time.Duration
	Bars          []htmlBar
	YTicks        []htmlTick
	XTicks        []htmlTick
	Marks         []htmlChartMark
	Start, End    time.Time
	MaxTotal      int
	Spam, Legit   int

	span time.Duration
}

type htmlBar struct {
	Time         time.Time
	Legit, Spam  int
	X, W         string
	SpamY, SpamH string
	LegY, LegH   string
}

type htmlTick struct {
	Pos   string
	Label string
}

type htmlChartMark struct {
	Mark
	Class          string
	X              string
	LabelX, LabelY string
	Anchor         string
	lineTop        string
}

// Text is the mark's label, or its kind in words.
func (m htmlChartMark) Text() string { return m.text() }

// LineTop is where the mark's line starts: at its label.
func (m htmlChartMark) LineTop() string { return m.lineTop }

// Middle is the plot's vertical middle, for the y axis's title.
func (c *htmlChart) Middle() int { return (c.Top + c.Bottom) / 2 }

// Clock is a time on the chart: HH:MM, with seconds when it has them, and
// the day when the chart spans more than one.
func (c *htmlChart) Clock(t time.Time) string {
	t = t.UTC()
	layout := "15:04"
	if t.Second() != 0 {
		layout = "15:04:05"
	}
	if c.span > 24*time.Hour {
		layout = "2 Jan " + layout
	}
	return t.Format(layout)
}

// BucketUnit is BucketWords after "per": "minute", "15 minutes".
func (c *htmlChart) BucketUnit() string {
	return strings.TrimPrefix(c.BucketWords(), "one ")
}

// BucketWords says how much time one bar stands for.
func (c *htmlChart) BucketWords() string {
	if c.Bucket == time.Minute {
		return "one minute"
	}
	if c.Bucket%time.Hour == 0 {
		if c.Bucket == time.Hour {
			return "one hour"
		}
		return fmt.Sprintf("%d hours", c.Bucket/time.Hour)
	}
	return fmt.Sprintf("%d minutes", c.Bucket/time.Minute)
}

// x is where t falls on the plot, and whether it falls on it at all.
func (c *htmlChart) x(t time.Time) (float64, bool) {
	if t.Before(c.Start) || t.After(c.End) {
		return 0, false
	}
	f := float64(t.Sub(c.Start)) / float64(c.span)
	return float64(c.Left) + f*float64(c.Right-c.Left), true
}

// htmlBuckets are the bar widths the chart chooses from: the smallest that
// keeps the bars at most htmlMaxBars.
var htmlBuckets = []time.Duration{
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute,
	15 * time.Minute, 20 * time.Minute, 30 * time.Minute, time.Hour,
	2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// htmlTickSteps are the x axis's label intervals.
var htmlTickSteps = []time.Duration{
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute,
	15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour,
	3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

func newHTMLChart(points []Point, marks []Mark) *htmlChart {
	if len(points) == 0 {
		return nil
	}
	last := points[0].Time
	for _, p := range points {
		if p.Time.After(last) {
			last = p.Time
		}
	}
	// A point with a broken time, years before the rest, would squash the
	// chart into one bar and overflow its arithmetic: such points are left
	// off, and no real incident keeps a year of activity.
	oldest := last.Add(-htmlMaxSpan)
	first := last
	for _, p := range points {
		if !p.Time.Before(oldest) && p.Time.Before(first) {
			first = p.Time
		}
	}
	span := last.Truncate(time.Minute).Sub(first.Truncate(time.Minute)) + time.Minute
	bucket := htmlBuckets[len(htmlBuckets)-1]
	for _, b := range htmlBuckets {
		if span/b <= htmlMaxBars {
			bucket = b
			break
		}
	}
	// A run over more than 240 days still gets at most 240 bars.
	for (span+bucket-1)/bucket > htmlMaxBars {
		bucket *= 2
	}
	start := first.UTC().Truncate(bucket)
	n := int(last.UTC().Truncate(bucket).Sub(start)/bucket) + 1

	c := &htmlChart{
		Width: 1040, Height: 300,
		Left: 76, Top: 58, Right: 1020, Bottom: 260,
		Bucket: bucket,
		Start:  start,
		End:    start.Add(time.Duration(n) * bucket),
		span:   time.Duration(n) * bucket,
	}
	legit := make([]int, n)
	spam := make([]int, n)
	for _, p := range points {
		if p.Time.Before(start) {
			continue
		}
		i := int(p.Time.Sub(start) / bucket)
		legit[i] += max(0, p.Legit)
		spam[i] += max(0, p.Spam)
		c.Legit += max(0, p.Legit)
		c.Spam += max(0, p.Spam)
	}
	for i := range n {
		c.MaxTotal = max(c.MaxTotal, legit[i]+spam[i])
	}

	// The y axis: 0 to a round number, with a tick every 1, 2 or 5 times a
	// power of ten, at most 5 of them.
	step := 1
	for c.MaxTotal > 5*step {
		switch s := strconv.Itoa(step); s[0] {
		case '1':
			step *= 2
		case '2':
			step = step / 2 * 5
		default:
			step *= 2
		}
	}
	top := max(step, (c.MaxTotal+step-1)/step*step)
	plotH := float64(c.Bottom - c.Top)
	y := func(v int) float64 { return float64(c.Bottom) - float64(v)/float64(top)*plotH }
	for v := 0; v <= top; v += step {
		c.YTicks = append(c.YTicks, htmlTick{Pos: htmlCoord(y(v)), Label: htmlNumber(v)})
	}

	// The bars: spam-marked at the bottom, since they are the run, and the
	// site's other mail on top of them.
	slot := float64(c.Right-c.Left) / float64(n)
	gap := 0.0
	if slot >= 4 {
		gap = math.Max(1, math.Round(slot*0.15))
	}
	width := math.Min(slot-gap, 48)
	for i := range n {
		if legit[i] == 0 && spam[i] == 0 {
			continue
		}
		x0 := float64(c.Left) + float64(i)*slot + (slot-width)/2
		x1 := x0 + width
		if width >= 2 {
			x0, x1 = math.Round(x0), math.Round(x1)
		}
		b := htmlBar{
			Time: start.Add(time.Duration(i) * bucket), Legit: legit[i], Spam: spam[i],
			X: htmlCoord(x0), W: htmlCoord(x1 - x0),
		}
		ySpam := htmlBarTop(math.Round(y(spam[i])), float64(c.Bottom), spam[i])
		yAll := htmlBarTop(math.Round(y(spam[i]+legit[i])), ySpam, legit[i])
		b.SpamY, b.SpamH = htmlCoord(ySpam), htmlCoord(float64(c.Bottom)-ySpam)
		b.LegY, b.LegH = htmlCoord(yAll), htmlCoord(ySpam-yAll)
		c.Bars = append(c.Bars, b)
	}

	// The x axis: HH:MM at a round interval, at most 8 labels.
	tick := htmlTickSteps[len(htmlTickSteps)-1]
	for _, s := range htmlTickSteps {
		if c.span/s <= 8 {
			tick = s
			break
		}
	}
	for tick*8 < c.span {
		tick *= 2
	}
	for t := start.Truncate(tick); !t.After(c.End); t = t.Add(tick) {
		x, ok := c.x(t)
		if !ok {
			continue
		}
		label := t.Format("15:04")
		if tick >= 24*time.Hour || (c.span > 24*time.Hour && label == "00:00") {
			label = t.Format("2 Jan")
		}
		c.XTicks = append(c.XTicks, htmlTick{Pos: htmlCoord(math.Round(x)), Label: label})
	}

	// The marks, each label on its own line above the plot so that marks
	// a minute apart stay readable; marks off the chart are only listed.
	row := 0
	for _, m := range htmlDrawOrder(marks) {
		x, ok := c.x(m.Time)
		if !ok {
			continue
		}
		x = math.Round(x)
		cm := htmlChartMark{Mark: m, Class: htmlMarkClass(m.Kind), X: htmlCoord(x), Anchor: "start"}
		cm.LabelX = htmlCoord(x + 4)
		if x > float64(c.Left+c.Right)/2 {
			cm.Anchor, cm.LabelX = "end", htmlCoord(x-4)
		}
		labelY := float64(c.Top - 40 + 15*(row%3))
		cm.LabelY, cm.lineTop = htmlCoord(labelY), htmlCoord(labelY-10)
		row++
		c.Marks = append(c.Marks, cm)
	}
	return c
}

// htmlDrawOrder puts the trip last, so that its line is on top of a
// disabled mark a second later, in the same pixel column. The marks are
// drawn under the bars, so that a line never hides a bar.
func htmlDrawOrder(marks []Mark) []Mark {
	out := make([]Mark, 0, len(marks))
	for _, m := range marks {
		if m.Kind != Trip {
			out = append(out, m)
		}
	}
	for _, m := range marks {
		if m.Kind == Trip {
			out = append(out, m)
		}
	}
	return out
}

// htmlBarTop keeps a count of one visible: its bar is at least a pixel
// high however tall the chart's scale.
func htmlBarTop(y, base float64, n int) float64 {
	if n > 0 && base-y < 1 {
		return base - 1
	}
	return y
}

func htmlCoord(f float64) string {
	return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64)
}
