package sitediff

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// tree is what a walk found under one root.
type tree struct {
	nodes   map[string]node // by path relative to the root, with slashes
	skipped []Skipped
}

// node is a regular file or a symbolic link as lstat saw it.
type node struct {
	size    int64
	mtime   time.Time
	link    bool
	target  string
	outside bool // the link points out of the root
}

func (n node) typ() string {
	if n.link {
		return "symlink"
	}
	return "file"
}

// walkers bounds the directories of one tree read at once: the walk
// waits on lstat, not on the CPU.
const walkers = 4

// walk lists the regular files and links under root. It never follows a
// link, so it cannot leave the root or loop, and never opens what is not
// a directory: a fifo would block the open. Only an unreadable root is an
// error; anything else that fails is skipped and noted.
func walk(root, side string, readDir func(string) ([]os.DirEntry, error)) (*tree, error) {
	entries, err := readDir(root)
	if err != nil {
		return nil, &RootError{side, err}
	}
	w := &walker{root: root, side: side, readDir: readDir, sem: make(chan struct{}, walkers-1)}
	w.t.nodes = make(map[string]node)
	w.dir("", entries)
	w.wg.Wait()
	return &w.t, nil
}

// walker is one walk of a tree, its directories read by up to walkers
// goroutines.
type walker struct {
	root, side string
	readDir    func(string) ([]os.DirEntry, error)
	sem        chan struct{}
	wg         sync.WaitGroup

	mu sync.Mutex
	t  tree
}

func (w *walker) dir(rel string, entries []os.DirEntry) {
	type found struct {
		path string
		node node
	}
	var nodes []found
	var skipped []Skipped
	for _, e := range entries {
		p := e.Name()
		if rel != "" {
			p = rel + "/" + p
		}
		full := filepath.Join(w.root, filepath.FromSlash(p))
		skip := func(reason string) { skipped = append(skipped, Skipped{Path: p, Root: w.side, Reason: reason}) }
		mode := e.Type()
		switch {
		case mode.IsDir():
			select {
			case w.sem <- struct{}{}:
				w.wg.Go(func() {
					defer func() { <-w.sem }()
					w.subdir(p, full)
				})
			default:
				w.subdir(p, full)
			}
		case mode&fs.ModeSymlink != 0:
			info, err := e.Info()
			if err != nil {
				skip(reasonOf(err))
				continue
			}
			target, err := os.Readlink(full)
			if err != nil {
				skip(reasonOf(err))
				continue
			}
			nodes = append(nodes, found{p, node{size: info.Size(), mtime: info.ModTime(), link: true, target: target, outside: pointsOutside(w.root, p, target)}})
		case mode.IsRegular():
			info, err := e.Info()
			if err != nil {
				skip(reasonOf(err))
				continue
			}
			nodes = append(nodes, found{p, node{size: info.Size(), mtime: info.ModTime()}})
		default:
			skip(specialKind(mode) + ", not opened")
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range nodes {
		w.t.nodes[f.path] = f.node
	}
	w.t.skipped = append(w.t.skipped, skipped...)
}

func (w *walker) subdir(rel, full string) {
	entries, err := w.readDir(full)
	if err != nil {
		w.mu.Lock()
		w.t.skipped = append(w.t.skipped, Skipped{Path: rel, Root: w.side, Reason: reasonOf(err)})
		w.mu.Unlock()
	}
	// os.ReadDir returns what it read before an error.
	w.dir(rel, entries)
}

func specialKind(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeNamedPipe != 0:
		return "a fifo"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode&fs.ModeCharDevice != 0:
		return "a character device"
	case mode&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}

// pointsOutside reports whether the link at rel under root, pointing to
// target, leads out of the root. Only the text of the target is looked
// at: a link to a link is flagged where the second one points out.
func pointsOutside(root, rel, target string) bool {
	if filepath.IsAbs(target) {
		target = filepath.Clean(target)
		for _, r := range rootForms(root) {
			if target == r || strings.HasPrefix(target, r+string(filepath.Separator)) {
				return false
			}
		}
		return true
	}
	joined := path.Join(path.Dir(rel), filepath.ToSlash(target))
	return joined == ".." || strings.HasPrefix(joined, "../")
}

// rootForms are the absolute forms of root: as given and with its own
// links resolved, since an absolute link names the real path.
func rootForms(root string) []string {
	abs, err := filepath.Abs(root)
	if err != nil {
		return []string{filepath.Clean(root)}
	}
	forms := []string{abs}
	if real, err := filepath.EvalSymlinks(abs); err == nil && real != abs {
		forms = append(forms, real)
	}
	return forms
}

// reasonOf is an error without the path the Skipped entry already has.
func reasonOf(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}
