package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/sitediff"
)

// diff is spamrun diff: what changed in a site since its snapshot, the
// likely mailer first.
func (e *env) diff(args []string) error {
	f := newFlags("diff", "[--json] [--all] [--content] [--incident ID] [--first PATH]... SITE_ROOT SNAPSHOT_ROOT")
	asJSON := f.Bool("json", false, "print the report as one JSON document")
	all := f.Bool("all", false, "list every scanned file with a marker, changed or not")
	content := f.Bool("content", false, "compare the contents of files of equal size even when their mtimes agree")
	incidentID := f.String("incident", "", "put first the scripts that sent the messages of incident `ID`")
	var first []string
	f.Func("first", "put `PATH` first: relative to SITE_ROOT, or a base name (repeatable)", func(s string) error {
		first = append(first, s)
		return nil
	})
	operands, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(operands) != 2 {
		return f.usageErrorf("diff takes SITE_ROOT and SNAPSHOT_ROOT")
	}
	site, snapshot := operands[0], operands[1]
	roots := rootPaths(site)
	for i, name := range first {
		if rel, ok := under(roots, name); ok {
			first[i] = rel // an absolute path, as ls and the logs give it
		}
	}
	if *incidentID != "" {
		inc, err := e.incidentByID(*incidentID)
		if err != nil {
			return err
		}
		first = append(incidentScripts(inc, site), first...)
	}
	r, err := sitediff.CompareWithOptions(site, snapshot, &sitediff.Options{All: *all, Content: *content, First: first})
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "sitediff: "))
	}
	if *asJSON {
		return writeJSON(e.stdout, r)
	}
	writeDiff(e.stdout, r)
	return nil
}

// incidentByID looks the incident up in the state store.
func (e *env) incidentByID(id string) (*spamrun.Incident, error) {
	h, closeHost, err := e.openStoreHost()
	if err != nil {
		return nil, err
	}
	defer closeHost()
	return findIncident(context.Background(), h, id)
}

// incidentScripts maps the scripts an incident's messages came from to
// names for Options.First: the path under siteRoot when the evidence
// gives one (the script's own path, or the caller's working directory
// and PHP's script name), else the script's base name, which matches
// every file of that name.
func incidentScripts(inc *spamrun.Incident, siteRoot string) []string {
	roots := rootPaths(siteRoot)
	var names []string
	seen := make(map[string]bool)
	add := func(name string) {
		if name != "" && name != "." && !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	for _, m := range inc.Messages {
		ev := m.Evidence
		if ev.File != nil && ev.File.Path != "" {
			if rel, ok := under(roots, ev.File.Path); ok {
				add(rel)
				continue
			}
		}
		script := ev.Script
		if i := strings.IndexByte(script, ':'); i >= 0 {
			script = script[i+1:] // "UID:name.php"
		}
		script = path.Base(filepath.ToSlash(strings.TrimSpace(script)))
		if script == "" || script == "." || script == "/" {
			if ev.File != nil && ev.File.Path != "" {
				add(path.Base(filepath.ToSlash(ev.File.Path)))
			}
			continue
		}
		if dir, ok := under(roots, ev.Cwd); ok {
			rel := path.Join(dir, script)
			if _, err := os.Lstat(filepath.Join(siteRoot, filepath.FromSlash(rel))); err == nil {
				add(rel)
				continue
			}
		}
		add(script)
	}
	return names
}

// rootPaths are the absolute forms of a root: as given and with its
// links resolved, as the kernel reports a script's path.
func rootPaths(root string) []string {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil
	}
	paths := []string{abs}
	if real, err := filepath.EvalSymlinks(abs); err == nil && real != abs {
		paths = append(paths, real)
	}
	return paths
}

// under returns p relative to the first of roots it lies in, with
// slashes; "." for a root itself.
func under(roots []string, p string) (string, bool) {
	if p == "" || !filepath.IsAbs(p) {
		return "", false
	}
	p = filepath.Clean(p)
	for _, root := range roots {
		rel, err := filepath.Rel(root, p)
		if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return filepath.ToSlash(rel), true
		}
	}
	return "", false
}

// diffDetails is how many of the listed files get their markers and
// reasons spelled out under the table.
const diffDetails = 10

// writeDiff prints the report as a ranked table, the details of the
// first files, what was skipped and the counts.
func writeDiff(w io.Writer, r *sitediff.Report) {
	if len(r.Files) == 0 {
		fmt.Fprintln(w, "no new, changed or removed files, and no unchanged file with strong markers")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "#\tPATH\tCHANGE\tSCORE\tTOP MARKERS")
		for i, f := range r.Files {
			change := string(f.Change)
			if f.Named {
				change += ", named"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%.1f\t%s\n", i+1, cell(fileName(f)), change, f.Score, topMarkers(f, 3))
		}
		tw.Flush()
	}
	detailed := 0
	for i, f := range r.Files {
		if len(f.Markers) == 0 && !f.Named || detailed == diffDetails {
			continue
		}
		detailed++
		fmt.Fprintf(w, "\n%d. %s (%s)\n", i+1, cell(fileName(f)), cell(strings.Join(f.Why, "; ")))
		for _, m := range f.Markers {
			at := "     "
			if m.Line > 0 {
				at = fmt.Sprintf("L%-4d", m.Line)
			}
			fmt.Fprintf(w, "   %s %-28s %4.1f  %s\n", at, m.Name, m.Weight, cell(m.Excerpt))
		}
	}
	if len(r.NotFound) > 0 {
		fmt.Fprintf(w, "\nnamed but not found: %s\n", cell(strings.Join(r.NotFound, ", ")))
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintf(w, "\nskipped (%d):\n", len(r.Skipped))
		for _, s := range r.Skipped {
			fmt.Fprintf(w, "   %s %s: %s\n", s.Root, cell(s.Path), s.Reason)
		}
	}
	st := r.Stats
	fmt.Fprintf(w, "\n%d files compared with %d in the snapshot, %d hashed, %d scanned: %d new, %d changed, %d removed, %d skipped, in %s\n",
		st.SiteFiles, st.SnapshotFiles, st.Hashed, st.Scanned, st.New, st.Changed, st.Removed, st.Skipped, st.Elapsed.Round(time.Millisecond))
}

// fileName is the path of a file, with where a link points.
func fileName(f sitediff.File) string {
	if f.Type == "symlink" {
		return f.Path + " -> " + f.Target
	}
	return f.Path
}

// topMarkers writes the n heaviest markers of a file as "name:line".
func topMarkers(f sitediff.File, n int) string {
	var parts []string
	for _, m := range f.Markers[:min(n, len(f.Markers))] {
		if m.Line > 0 {
			parts = append(parts, fmt.Sprintf("%s:%d", m.Name, m.Line))
		} else {
			parts = append(parts, m.Name)
		}
	}
	if len(f.Markers) > n {
		parts = append(parts, fmt.Sprintf("+%d", len(f.Markers)-n))
	}
	return cell(strings.Join(parts, " "))
}
