package notify

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/template"
	"time"
)

// The templates a language has. A template file is named NAME.LANG.tmpl,
// such as tripped-site.nl.tmpl. It renders to a first line
// "Subject: ...", an empty line, and the body.
const (
	TemplateTrippedSite     = "tripped-site"     // to the site's owner at a trip
	TemplateTrippedOperator = "tripped-operator" // to the operator at a trip
	TemplateEnabled         = "enabled"          // to both when the site is re-enabled
)

// DefaultLanguage is the language of a Notifier without one.
const DefaultLanguage = "en"

var templateNames = []string{TemplateTrippedSite, TemplateTrippedOperator, TemplateEnabled}

// Languages are the languages with embedded templates.
func Languages() []string { return []string{"en", "nl"} }

// Data is what a template is given.
type Data struct {
	Site     string
	Incident string
	// Time is when the site tripped, Now when the notice was written,
	// both in UTC.
	Time, Now time.Time
	// Count is the weight of the spam in the window at the trip, MaxSpam
	// the limit it went over; Recipients says they count recipients of
	// spam-marked messages rather than the messages.
	Count, MaxSpam int
	Recipients     bool
	// Window is the policy's window, as "1h" or "15m".
	Window string
	// Bounced messages of the site's queue were returned to their sender
	// with a DSN; Kept ones were kept in quarantine.
	Bounced, Kept int
	Hostname      string
	ArticleURL    string
	// Cause, Title and Advice are the report's top finding: its
	// report.Cause ("abused-form", "uploaded-script", "legitimate-bulk",
	// "unknown"), its line and what to do; the site owner's notice has
	// the advice without spamrun's commands (see OwnerAdvice).
	Cause  string
	Title  string
	Advice []string
	// Operator is true in the operator's notice, which has the rest.
	Operator bool
	// Report is the incident report as text.
	Report string
	// Commands are the spamrun commands to run next.
	Commands []string
}

// sample is the data a template is tried with when it is loaded, so that
// a field it names wrongly is found then, not at the next trip.
var sample = &Data{
	Site: "shop.example", Incident: "20260102T030405.000000Z-shop.example",
	Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Now: time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC),
	Count: 12, MaxSpam: 10, Recipients: true, Window: "1h", Bounced: 3, Kept: 1,
	Hostname: "web1.example.net", ArticleURL: "https://help.example.net/spam",
	Cause: "abused-form", Title: "The form contact.php was abused", Advice: []string{"Protect the form."},
	Operator: true, Report: "Incident ...", Commands: []string{"spamrun status shop.example"},
}

//go:embed templates/*.tmpl
var embedded embed.FS

// Templates are the notice templates of every language.
type Templates struct {
	byFile map[string]*template.Template // "tripped-site.en.tmpl"
}

var (
	embeddedOnce sync.Once
	embeddedT    *Templates
)

// Embedded returns the templates that come with spamrun.
func Embedded() *Templates {
	embeddedOnce.Do(func() {
		t, err := parseFS(embedded, "templates", &Templates{byFile: make(map[string]*template.Template)}, "embedded ")
		if err != nil {
			panic(err) // the tests load every embedded template
		}
		embeddedT = t
	})
	return embeddedT
}

// LoadTemplates returns the embedded templates with those of dir in their
// place: a file there named like an embedded one (NAME.LANG.tmpl) replaces
// it, one for a language without embedded templates adds it. A template
// that does not parse, or fails on sample data, is an error naming the
// file; so is a .tmpl file of no known template.
func LoadTemplates(dir string) (*Templates, error) {
	base := Embedded()
	t := &Templates{byFile: make(map[string]*template.Template, len(base.byFile))}
	for k, v := range base.byFile {
		t.byFile[k] = v
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("notify: templates: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("notify: templates: %s is not a directory", dir)
	}
	return parseFS(os.DirFS(dir), ".", t, dir+string(filepath.Separator))
}

func parseFS(fsys fs.FS, dir string, t *Templates, prefix string) (*Templates, error) {
	files, err := fs.Glob(fsys, dir+"/*.tmpl")
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, f := range files {
		base := filepath.Base(f)
		name, lang, ok := splitName(base)
		if !ok {
			errs = append(errs, fmt.Errorf("notify: %s%s: not a template's name; want NAME.LANG.tmpl with NAME one of %s",
				prefix, base, strings.Join(templateNames, ", ")))
			continue
		}
		src, err := fs.ReadFile(fsys, f)
		if err != nil {
			errs = append(errs, fmt.Errorf("notify: %w", err))
			continue
		}
		tmpl, err := template.New(base).Option("missingkey=error").Parse(string(src))
		if err != nil {
			errs = append(errs, fmt.Errorf("notify: %s%s: %w", prefix, base, err))
			continue
		}
		t.byFile[base] = tmpl
		if _, _, err := t.Render(name, lang, sample); err != nil {
			errs = append(errs, fmt.Errorf("%w (template %s%s)", err, prefix, base))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// splitName splits "tripped-site.en.tmpl" into its template and language.
func splitName(file string) (name, lang string, ok bool) {
	rest, ok := strings.CutSuffix(file, ".tmpl")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '.')
	if i < 0 {
		return "", "", false
	}
	name, lang = rest[:i], rest[i+1:]
	return name, lang, slices.Contains(templateNames, name) && lang != ""
}

// Render executes template name in lang, falling back to DefaultLanguage
// when lang has none, and returns the subject and the body.
func (t *Templates) Render(name, lang string, d *Data) (subject, body string, err error) {
	tmpl := t.byFile[name+"."+lang+".tmpl"]
	if tmpl == nil {
		tmpl = t.byFile[name+"."+DefaultLanguage+".tmpl"]
	}
	if tmpl == nil {
		return "", "", fmt.Errorf("notify: no template %s for language %q", name, lang)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, d); err != nil {
		return "", "", fmt.Errorf("notify: %w", err)
	}
	out := strings.ReplaceAll(buf.String(), "\r\n", "\n")
	head, body, ok := strings.Cut(out, "\n\n")
	subject, hasSubject := strings.CutPrefix(head, "Subject: ")
	if !ok || !hasSubject || strings.Contains(subject, "\n") || strings.TrimSpace(subject) == "" {
		return "", "", fmt.Errorf("notify: %s renders no \"Subject: ...\" line followed by an empty line", tmpl.Name())
	}
	return strings.TrimSpace(subject), strings.TrimLeft(body, "\n"), nil
}

// Has reports whether lang has templates of its own.
func (t *Templates) Has(lang string) bool {
	for _, name := range templateNames {
		if t.byFile[name+"."+lang+".tmpl"] != nil {
			return true
		}
	}
	return false
}
