package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spamrun/spamrun/queue"
)

// settle is how long a rotated journal is kept after it was read to the
// end: a writer that opened it just before the rename has long written
// its one line by then.
const settle = 10 * time.Second

// Reader reads the journal once: each line is handed on once, also across
// rotations and restarts of the daemon, which finds where it stopped in
// events/journal.pos. A Reader is used by one goroutine at a time.
type Reader struct {
	dir string
	pos position
	// RotateAt is the size past which the live journal is rotated; 0
	// means the package's RotateAt.
	RotateAt int64
	// Now is the clock of rotations; nil means time.Now.
	Now func() time.Time
	// Logf gets the lines that could not be read; nil discards them.
	Logf func(format string, args ...any)
}

// position is how far the journal has been read: the live file by its
// inode, and each rotated one by name.
type position struct {
	Inode   uint64           `json:"inode"`
	Offset  int64            `json:"offset"`
	Rotated map[string]int64 `json:"rotated,omitempty"`
}

// NewReader opens the journal of the spool in spoolDir where the last
// reader left it.
func NewReader(spoolDir string) (*Reader, error) {
	r := &Reader{dir: filepath.Join(spoolDir, Dir)}
	if err := os.Mkdir(r.dir, 0o770); err == nil {
		shareLike(spoolDir, r.dir, 0o770)
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("journal: %w", err)
	}
	data, err := os.ReadFile(r.posPath())
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("journal: %w", err)
	default:
		if err := json.Unmarshal(data, &r.pos); err != nil {
			// Counted again from the start: a damaged position costs
			// exactness once, never the daemon.
			r.pos = position{}
		}
	}
	return r, nil
}

func (r *Reader) posPath() string { return filepath.Join(r.dir, journalName+".pos") }

func (r *Reader) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Read hands every event written since the last Read to fn, oldest
// rotated file first, rotates the live journal when it has grown past
// RotateAt, and deletes rotated files that are done with.
func (r *Reader) Read(fn func(queue.Event)) error {
	var errs []error
	rotated, err := filepath.Glob(filepath.Join(r.dir, journalName+".[0-9]*"))
	errs = append(errs, err)
	slices.Sort(rotated) // the suffix is the time of the rotation, in nanoseconds
	for _, path := range rotated {
		name := filepath.Base(path)
		off, err := r.readFile(path, r.pos.Rotated[name], fn)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.setRotated(name, off)
		if r.settled(name) {
			errs = append(errs, os.Remove(path))
			delete(r.pos.Rotated, name)
		}
	}
	errs = append(errs, r.readLive(fn))
	errs = append(errs, r.save())
	return errors.Join(errs...)
}

func (r *Reader) setRotated(name string, off int64) {
	if r.pos.Rotated == nil {
		r.pos.Rotated = make(map[string]int64)
	}
	r.pos.Rotated[name] = off
}

// settled reports whether the rotated file name was renamed long enough
// ago that nobody writes to it any more.
func (r *Reader) settled(name string) bool {
	ns, err := strconv.ParseInt(strings.TrimPrefix(name, journalName+"."), 10, 64)
	return err != nil || r.now().Sub(time.Unix(0, ns)) >= settle
}

func (r *Reader) readLive(fn func(queue.Event)) error {
	path := filepath.Join(r.dir, journalName)
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	inode := fi.Sys().(*syscall.Stat_t).Ino
	if inode != r.pos.Inode {
		// A journal this reader has not seen: a new one, or one written
		// while no daemon ran.
		r.pos.Inode, r.pos.Offset = inode, 0
	}
	off, err := r.readFile(path, r.pos.Offset, fn)
	if err != nil {
		return err
	}
	r.pos.Offset = off
	rotateAt := r.RotateAt
	if rotateAt <= 0 {
		rotateAt = RotateAt
	}
	if off < rotateAt {
		return nil
	}
	name := journalName + "." + strconv.FormatInt(r.now().UnixNano(), 10)
	if err := os.Rename(path, filepath.Join(r.dir, name)); err != nil {
		return fmt.Errorf("journal: rotating the journal: %w", err)
	}
	r.setRotated(name, off)
	r.pos.Inode, r.pos.Offset = 0, 0
	return nil
}

// readFile hands fn the complete lines of path from off on and returns
// the offset after the last of them. A line being written is left for
// the next read.
func (r *Reader) readFile(path string, off int64, fn func(queue.Event)) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return off, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return off, fmt.Errorf("journal: %w", err)
	}
	buf := make([]byte, 64<<10)
	var pending []byte
	for {
		n, err := f.Read(buf)
		pending = append(pending, buf[:n]...)
		for {
			i := bytes.IndexByte(pending, '\n')
			if i < 0 {
				break
			}
			r.decode(pending[:i], fn)
			off += int64(i + 1)
			pending = pending[i+1:]
		}
		if err == io.EOF {
			return off, nil
		}
		if err != nil {
			return off, fmt.Errorf("journal: %w", err)
		}
	}
}

func (r *Reader) decode(line []byte, fn func(queue.Event)) {
	var rec record
	if err := json.Unmarshal(line, &rec); err != nil || rec.Action == "" {
		if r.Logf != nil {
			r.Logf("warning: event journal: skipping a line that is not an event: %.80q", line)
		}
		return
	}
	fn(rec.event())
}

// save writes the position, replacing the file in one rename.
func (r *Reader) save() error {
	data, err := json.Marshal(r.pos)
	if err != nil {
		return err
	}
	tmp := r.posPath() + ".tmp"
	if err := os.WriteFile(tmp, data, 0o660); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := os.Rename(tmp, r.posPath()); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}
