package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/internal/host"
	"github.com/spamrun/spamrun/report"
	"github.com/spamrun/spamrun/sitediff"
)

// incidentShow is spamrun incidents show ID: the report of one incident,
// as text, JSON or an HTML page.
func (e *env) incidentShow(args []string) error {
	f := newFlags("incidents show", "[--json | --html FILE] ID")
	asJSON := f.Bool("json", false, "print the report as JSON")
	htmlFile := f.String("html", "", "write the report as a self-contained HTML page to `FILE` (- for standard output)")
	operands, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(operands) != 1 {
		return f.usageErrorf("incidents show takes one incident ID")
	}
	if *asJSON && *htmlFile != "" {
		return f.usageErrorf("incidents show takes --json or --html, not both")
	}
	h, closeHost, err := e.openStoreHost()
	if err != nil {
		return err
	}
	defer closeHost()
	inc, err := findIncident(context.Background(), h, operands[0])
	if err != nil {
		return err
	}
	r := report.Build(inc, &report.Options{Now: e.now, ArticleURL: h.Config.ArticleURL, Markers: scriptMarkers})
	switch {
	case *asJSON:
		return writeJSON(e.stdout, r)
	case *htmlFile == "-":
		return r.WriteHTML(e.stdout)
	case *htmlFile != "":
		if err := writeHTMLFile(*htmlFile, r); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote %s\n", *htmlFile)
		return nil
	}
	return r.WriteText(e.stdout)
}

// findIncident looks an incident up by its ID.
func findIncident(ctx context.Context, h *host.Host, id string) (*spamrun.Incident, error) {
	list, err := incidentList(ctx, h, "")
	if err != nil {
		return nil, err
	}
	for _, inc := range list {
		if inc.ID == id {
			return inc, nil
		}
	}
	return nil, fmt.Errorf("no incident %q (spamrun incidents lists them)", id)
}

// writeHTMLFile writes the page beside its final name and renames it
// there, so that a browser or a panel never reads half a page.
func writeHTMLFile(name string, r *report.Report) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".incident-*.html")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := r.WriteHTML(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o640); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}

// scriptMarkers says what the code of the script an incident names holds
// of mail sending and web shells: marker names and lines only, never the
// code, since the path was recorded by the site and the report runs as
// root. sitediff.ScanFile neither follows a link nor opens anything but a
// regular file.
func scriptMarkers(path string) []string {
	markers, err := sitediff.ScanFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range markers[:min(len(markers), 6)] {
		out = append(out, fmt.Sprintf("%s (line %d)", m.Name, m.Line))
	}
	return out
}
