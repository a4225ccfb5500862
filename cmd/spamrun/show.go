package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/internal/host"
	"github.com/spamrun/spamrun/report"
	"github.com/spamrun/spamrun/sitediff"
)

// incidentShow is spamrun incidents show ID: the report of one incident,
// as text, JSON or an HTML page.
func incidentShow(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("incidents show [--json | --html FILE] ID", stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	htmlFile := fs.String("html", "", "write the report as a self-contained HTML page to `FILE` (- for standard output)")
	operands, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(operands) != 1 {
		return usagef(stderr, "incidents show takes one incident ID")
	}
	if *asJSON && *htmlFile != "" {
		return usagef(stderr, "incidents show takes --json or --html, not both")
	}
	h, closeHost, code := openStoreHost(stderr)
	if h == nil {
		return code
	}
	defer closeHost()
	inc, code := findIncident(context.Background(), h, operands[0], stderr)
	if inc == nil {
		return code
	}
	r := report.Build(inc, &report.Options{Now: now, ArticleURL: h.Config.ArticleURL, Markers: scriptMarkers})
	switch {
	case *asJSON:
		if err := writeJSON(stdout, r); err != nil {
			return exitFailed
		}
	case *htmlFile == "-":
		if err := r.WriteHTML(stdout); err != nil {
			fmt.Fprintln(stderr, "spamrun:", err)
			return exitFailed
		}
	case *htmlFile != "":
		if err := writeHTMLFile(*htmlFile, r); err != nil {
			fmt.Fprintln(stderr, "spamrun:", err)
			return exitFailed
		}
		fmt.Fprintf(stdout, "wrote %s\n", *htmlFile)
	default:
		if err := r.WriteText(stdout); err != nil {
			return exitFailed
		}
	}
	return exitOK
}

// findIncident looks an incident up by its ID. On failure it has reported
// the error and returns the exit status.
func findIncident(ctx context.Context, h *host.Host, id string, stderr io.Writer) (*spamrun.Incident, int) {
	list, code := incidentList(ctx, h, "", stderr)
	if code != exitOK {
		return nil, code
	}
	for _, inc := range list {
		if inc.ID == id {
			return inc, exitOK
		}
	}
	fmt.Fprintf(stderr, "spamrun: no incident %q (spamrun incidents lists them)\n", id)
	return nil, exitFailed
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
