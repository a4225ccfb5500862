// Package sitediff finds the script that sent a spam run: it compares a
// website's code with a backup or snapshot and ranks what changed.
//
// After spamrun disabled a site, the operator wants the uploaded mailer,
// phishing kit or web shell, which is almost always a file that is new or
// changed since the last backup, often in a directory where no code
// belongs (wp-content/uploads, images, cache), and often PHP disguised as
// an image. [Compare] walks both trees without following symbolic links,
// compares size and mtime and hashes only where they disagree, and scans
// the PHP files with [Scan] for the markers of mail sending and web
// shells. The [Report] lists the new, changed and removed files and the
// unchanged ones with strong markers, most suspicious first, each with
// the reasons it is listed.
//
// Nothing is executed, nothing is followed outside the roots, special
// files are never opened, and at most [Options].MaxScan bytes of a file
// are scanned.
package sitediff

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/spamrun/spamrun"
)

// Report is the outcome of a comparison.
type Report struct {
	Site     string `json:"site"`
	Snapshot string `json:"snapshot"`
	// Files are the files worth a look, most suspicious first: those
	// named by the incident, then by Score, then by path.
	Files []File `json:"files"`
	// NotFound are the names of Options.First that matched no file.
	NotFound []string `json:"not_found,omitempty"`
	// Skipped are what could not be read or must not be opened.
	Skipped []Skipped `json:"skipped"`
	Stats   Stats     `json:"stats"`
}

// File is one file of the site, or of the snapshot when it was removed.
type File struct {
	// Path is relative to the root, with slashes.
	Path   string `json:"path"`
	Change Change `json:"change"`
	// Type is "file" or "symlink".
	Type    string    `json:"type"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
	// Target is where a symbolic link points; Outside tells that it
	// points out of the root. Links are never followed.
	Target  string `json:"target,omitempty"`
	Outside bool   `json:"outside,omitempty"`
	// PHP tells that PHP would run the file: by its extension, or
	// because it holds PHP code under another one.
	PHP bool `json:"php,omitempty"`
	// Named tells that Options.First named the file.
	Named bool `json:"named,omitempty"`
	// Score is the sum of the markers' weights, each marker counted
	// once, raised for new and changed files and for files in upload,
	// cache and image directories.
	Score   float64  `json:"score"`
	Markers []Marker `json:"markers,omitempty"`
	// Why says why the file is listed.
	Why []string `json:"why"`
}

// Change is how a file differs from the snapshot.
type Change string

const (
	Unchanged Change = "unchanged"
	New       Change = "new"
	Changed   Change = "changed"
	Removed   Change = "removed"
)

// Skipped is a file or directory that was not read.
type Skipped struct {
	// Path is relative to its root; Root is "site" or "snapshot".
	Path   string `json:"path"`
	Root   string `json:"root"`
	Reason string `json:"reason"`
}

// Stats count the work done.
type Stats struct {
	SiteFiles     int `json:"site_files"`
	SnapshotFiles int `json:"snapshot_files"`
	// Hashed counts the files whose contents were hashed, on both sides:
	// those of equal size whose mtimes differ.
	Hashed  int `json:"hashed"`
	Scanned int `json:"scanned"`
	New     int `json:"new"`
	Changed int `json:"changed"`
	Removed int `json:"removed"`
	Skipped int `json:"skipped"`
	// Elapsed is the wall time of the comparison, in JSON as nanoseconds.
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Options tune a comparison; nil means the defaults.
type Options struct {
	// All lists every scanned file with a marker, not only the new,
	// changed and removed files and the unchanged ones with strong
	// markers; and it sniffs every unchanged file for hidden PHP.
	All bool
	// Content compares the contents of every pair of files of equal
	// size, not only of those whose mtimes differ: for a site whose
	// mtimes cannot be trusted.
	Content bool
	// First are files to list first, as named by an incident: a path
	// relative to the site root, or a base name, which matches every file
	// of that name.
	First []string
	// MaxScan is how much of a file is scanned; 1 MiB when 0.
	MaxScan int
	// Workers bounds the files read at once; 2×GOMAXPROCS when 0.
	Workers int

	// readDir and open are the file system, swapped by tests.
	readDir func(name string) ([]os.DirEntry, error)
	open    func(name string) (io.ReadCloser, error)
}

// DefaultMaxScan is how much of a file is scanned by default: mailers
// and shells are small, and a padded one shows its markers early.
const DefaultMaxScan = 1 << 20

// sniffLen is how much of a file with another extension is read to find
// PHP in it: a GIF or JPEG header and some EXIF come first.
const sniffLen = 8 << 10

// phpExtensions are what PHP runs in the usual configurations.
var phpExtensions = []string{".php", ".phtml", ".php3", ".php4", ".php5", ".php7", ".php8", ".pht", ".phar", ".inc"}

// The weights of what a file is rather than what it holds.
const (
	weightPHPInRiskyDir = 3 // no PHP belongs in wp-content/uploads
	weightDisguisedPHP  = 6 // PHP in a .jpg: the classic trick
	weightOutsideLink   = 3 // a link to /etc/passwd or another site
	weightHtaccessPHP   = 6 // .htaccess making images run as PHP
	newFactor           = 2.0
	changedFactor       = 1.5
	riskyDirFactor      = 1.5
)

// Compare compares the site's tree with the snapshot's with the default
// options.
func Compare(site, snapshot string) (*Report, error) {
	return CompareWithOptions(site, snapshot, nil)
}

// RootError is the error of a root that is missing, not a directory or
// unreadable: the comparison cannot start.
type RootError struct {
	Root string // "site" or "snapshot"
	Err  error
}

func (e *RootError) Error() string { return "sitediff: " + e.Root + " root: " + e.Err.Error() }
func (e *RootError) Unwrap() error { return e.Err }

// IsRootError reports whether err is, or wraps, a RootError.
func IsRootError(err error) bool {
	var re *RootError
	return errors.As(err, &re)
}

// CompareWithOptions compares the site's tree with the snapshot's. It
// fails only when a root cannot be read; whatever cannot be read below
// them is in Report.Skipped.
func CompareWithOptions(site, snapshot string, opts *Options) (*Report, error) {
	start := time.Now()
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.MaxScan <= 0 {
		o.MaxScan = DefaultMaxScan
	}
	if o.Workers <= 0 {
		o.Workers = 2 * runtime.GOMAXPROCS(0)
	}
	if o.readDir == nil {
		o.readDir = os.ReadDir
	}
	if o.open == nil {
		o.open = openRegular
	}
	for _, root := range []struct{ name, path string }{{"site", site}, {"snapshot", snapshot}} {
		fi, err := os.Stat(root.path)
		if err != nil {
			return nil, &RootError{root.name, err}
		}
		if !fi.IsDir() {
			return nil, &RootError{root.name, fmt.Errorf("%s is not a directory", root.path)}
		}
	}

	var siteTree, snapTree *tree
	var siteErr, snapErr error
	done := make(chan struct{})
	go func() {
		snapTree, snapErr = walk(snapshot, "snapshot", o.readDir)
		close(done)
	}()
	siteTree, siteErr = walk(site, "site", o.readDir)
	<-done
	if err := cmp.Or(siteErr, snapErr); err != nil {
		return nil, err
	}

	r := &Report{Site: site, Snapshot: snapshot, Skipped: append(siteTree.skipped, snapTree.skipped...)}
	r.Stats.SiteFiles, r.Stats.SnapshotFiles = len(siteTree.nodes), len(snapTree.nodes)
	c := &comparison{opts: &o, site: site, snapshot: snapshot, report: r}
	c.classify(siteTree, snapTree)
	c.read()
	c.list(snapTree)
	r.Stats.Skipped = len(r.Skipped)
	r.Stats.Elapsed = time.Since(start)
	return r, nil
}

// comparison is the state of one CompareWithOptions.
type comparison struct {
	opts           *Options
	site, snapshot string
	report         *Report
	files          []*candidate
	byPath         map[string]*candidate
}

// candidate is a file of the site on its way into the report.
type candidate struct {
	File
	node    node
	snap    *node // the snapshot's file of the same path, if any
	hash    bool  // compare contents
	sniff   bool  // read to see whether it holds PHP
	scan    bool  // scan as PHP
	scanned bool
	hashed  bool
	errs    []Skipped // what could not be read
}

func (c *comparison) classify(site, snap *tree) {
	for p, n := range site.nodes {
		f := &candidate{node: n, File: File{Path: p, Type: n.typ(), Size: n.size, ModTime: n.mtime, Target: n.target, Outside: n.outside}}
		s, ok := snap.nodes[p]
		switch {
		case !ok:
			f.Change = New
		case s.link != n.link:
			f.Change = Changed
			f.Why = append(f.Why, "changed: a "+s.typ()+" in the snapshot")
		case n.link:
			f.Change = Unchanged
			if s.target != n.target {
				f.Change = Changed
				f.Why = append(f.Why, "changed: the link pointed to "+s.target)
			}
		case s.size != n.size:
			f.Change = Changed
			f.Why = append(f.Why, fmt.Sprintf("changed: %d bytes, %d in the snapshot", n.size, s.size))
		case !s.mtime.Equal(n.mtime) || c.opts.Content:
			f.Change = Unchanged // unless the hashes differ
			f.snap, f.hash = &s, true
		default:
			f.Change = Unchanged
		}
		if f.Change == New {
			f.Why = append(f.Why, "new")
		}
		if !n.link {
			f.PHP = runsAsPHP(p)
			f.scan = f.PHP || path.Base(p) == ".htaccess"
			f.sniff = !f.scan && (f.Change != Unchanged || f.hash || c.opts.All)
		}
		c.files = append(c.files, f)
	}
}

// runsAsPHP reports whether PHP runs a file of this name.
func runsAsPHP(name string) bool {
	ext := strings.ToLower(path.Ext(name))
	return slices.Contains(phpExtensions, ext)
}

// list scores the candidates and fills the report's Files.
func (c *comparison) list(snap *tree) {
	r := c.report
	named := make(map[string]bool)
	for _, f := range c.files {
		r.Skipped = append(r.Skipped, f.errs...)
		c.score(f)
		why := f.Why
		if c.isNamed(f.Path, named) {
			f.Named = true
			why = append([]string{"named by the incident"}, why...)
		}
		strong := slices.ContainsFunc(f.Markers, func(m Marker) bool { return m.Weight >= StrongWeight })
		switch f.Change {
		case New:
			r.Stats.New++
		case Changed:
			r.Stats.Changed++
		}
		switch {
		case f.Change != Unchanged, f.Named:
		case strong:
			why = append(why, "unchanged, with strong markers")
		case c.opts.All && len(f.Markers) > 0:
			why = append(why, "unchanged, with markers")
		default:
			continue
		}
		if f.Outside {
			why = append(why, "the link points outside the root")
		}
		f.Why = why
		r.Files = append(r.Files, f.File)
	}
	for p, n := range snap.nodes {
		if _, ok := c.siteHas(p); ok {
			continue
		}
		r.Stats.Removed++
		f := File{Path: p, Change: Removed, Type: n.typ(), Size: n.size, ModTime: n.mtime, Target: n.target, Why: []string{"removed"}}
		if c.isNamed(p, named) {
			f.Named = true
			f.Why = append([]string{"named by the incident"}, f.Why...)
		}
		r.Files = append(r.Files, f)
	}
	for _, name := range c.opts.First {
		if !named[name] {
			r.NotFound = append(r.NotFound, name)
		}
	}
	if r.Files == nil {
		r.Files = []File{} // [] in JSON, not null
	}
	if r.Skipped == nil {
		r.Skipped = []Skipped{}
	}
	slices.SortFunc(r.Files, func(a, b File) int {
		if a.Named != b.Named {
			if a.Named {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return strings.Compare(a.Path, b.Path)
	})
	slices.SortFunc(r.Skipped, func(a, b Skipped) int {
		return cmp.Or(strings.Compare(a.Root, b.Root), strings.Compare(a.Path, b.Path))
	})
}

func (c *comparison) siteHas(p string) (*candidate, bool) {
	if c.byPath == nil {
		c.byPath = make(map[string]*candidate, len(c.files))
		for _, f := range c.files {
			c.byPath[f.Path] = f
		}
	}
	f, ok := c.byPath[p]
	return f, ok
}

// isNamed reports whether Options.First names the file at p, and notes
// which names matched.
func (c *comparison) isNamed(p string, matched map[string]bool) bool {
	hit := false
	for _, name := range c.opts.First {
		clean := strings.TrimPrefix(path.Clean("/"+strings.ReplaceAll(name, "\\", "/")), "/")
		if clean == p || !strings.Contains(clean, "/") && path.Base(p) == clean {
			matched[name], hit = true, true
		}
	}
	return hit
}

// score adds the markers of what the file is and where it is, and sums
// the weights.
func (c *comparison) score(f *candidate) {
	// Code in an upload, cache or image directory, at any depth, was put
	// there by something other than the site's developer.
	risky := spamrun.UploadDir(path.Dir(f.Path)) != ""
	if f.PHP && risky {
		f.Markers = append(f.Markers, Marker{Name: "php-in-upload-dir", Weight: weightPHPInRiskyDir, Excerpt: path.Dir(f.Path)})
	}
	if f.Outside {
		f.Markers = append(f.Markers, Marker{Name: "link-outside-root", Weight: weightOutsideLink, Excerpt: f.Target})
	}
	best := make(map[string]float64)
	for _, m := range f.Markers {
		best[m.Name] = max(best[m.Name], m.Weight)
	}
	sum := 0.0
	for _, w := range best {
		sum += w
	}
	switch f.Change {
	case New:
		sum *= newFactor
	case Changed:
		sum *= changedFactor
	}
	if risky {
		sum *= riskyDirFactor
	}
	f.Score = math.Round(sum*10) / 10
	slices.SortStableFunc(f.Markers, func(a, b Marker) int { return cmp.Compare(b.Weight, a.Weight) })
}
