// Package spool keeps accepted messages on disk until they are relayed,
// bounced or released.
//
// A message is one file: a line of JSON with its envelope, the verdict and
// the evidence, then the message exactly as it will be relayed. Writing one
// file keeps acceptance atomic: the message is written to tmp/, synced,
// renamed into queue/ and the directory synced before Add returns, so a
// sendmail that exits 0 has a message that survives a crash. Changes to the
// metadata rewrite the file the same way.
//
// Processes that work on a message (a queue pass, an operator's release)
// take its lock first, an flock on lock/ID (not on the message file, which
// Update replaces), so two of them never relay it twice. A sendmail run only
// ever touches the message it is adding.
package spool

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spamrun/spamrun"
)

// State is where a message stands.
type State string

const (
	// Queued messages are relayed as soon as the relay takes them.
	Queued State = "queued"
	// Held messages wait until HoldUntil; spam-marked ones are held so that
	// a spam run is caught before it leaves.
	Held State = "held"
	// Undecided messages were accepted while the state store could not be
	// reached; the next queue pass decides them.
	Undecided State = "undecided"
)

// Entry is a spooled message's metadata.
type Entry struct {
	ID         string    `json:"id"`
	Site       string    `json:"site"`
	UID        int       `json:"uid"`
	Sender     string    `json:"sender"`
	Recipients []string  `json:"recipients"`
	Received   time.Time `json:"received"`
	State      State     `json:"state"`
	// SMTPUTF8 says the envelope needs the SMTPUTF8 extension at the relay.
	SMTPUTF8 bool `json:"smtputf8,omitempty"`

	Score     spamrun.Score    `json:"score"`
	Spam      bool             `json:"spam,omitempty"`
	HoldUntil time.Time        `json:"hold_until,omitzero"`
	Evidence  spamrun.Evidence `json:"evidence"`

	Attempts    int       `json:"attempts,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`

	// Size is the size of the message in bytes; set by the spool.
	Size int64 `json:"size"`
}

// Due reports whether the message may be relayed at t.
func (e *Entry) Due(t time.Time) bool {
	switch e.State {
	case Queued:
		return !t.Before(e.NextAttempt)
	case Held:
		return !t.Before(e.HoldUntil) && !t.Before(e.NextAttempt)
	}
	return false
}

// Spool is a spool directory.
type Spool struct {
	dir string
}

// Errors of the spool.
var (
	ErrNotFound = errors.New("spool: no such message")
	ErrLocked   = errors.New("spool: message is locked by another process")
)

// Open opens the spool in dir, creating its directories (mode 0770: the
// spool is group-owned and never world-readable).
func Open(dir string) (*Spool, error) {
	for _, d := range []string{dir, filepath.Join(dir, "tmp"), filepath.Join(dir, "queue"), filepath.Join(dir, "lock")} {
		if err := os.MkdirAll(d, 0o770); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
	}
	return &Spool{dir: dir}, nil
}

// Dir returns the spool's directory.
func (s *Spool) Dir() string { return s.dir }

func (s *Spool) path(id string) string { return filepath.Join(s.dir, "queue", id) }

// NewID returns a new message ID: the time, for order, and randomness, for
// uniqueness across processes.
func NewID(t time.Time) string {
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return t.UTC().Format("20060102T150405.000000") + "-" + strings.ToUpper(hex.EncodeToString(b[:]))
}

func validID(id string) bool {
	return id != "" && !strings.ContainsAny(id, "/\\\x00") && id != "." && id != ".."
}

// Add writes a new message durably. e.ID is set when empty; e.Size is set.
// When Add returns nil the message survives a crash.
func (s *Spool) Add(e *Entry, data []byte) error {
	if e.ID == "" {
		e.ID = NewID(e.Received)
	}
	if !validID(e.ID) {
		return fmt.Errorf("spool: bad message id %q", e.ID)
	}
	e.Size = int64(len(data))
	return s.write(e, bytes.NewReader(data), false)
}

// Update rewrites the metadata of a message that is in the spool, durably.
// The caller holds the message's lock.
func (s *Spool) Update(e *Entry) error {
	if !validID(e.ID) {
		return fmt.Errorf("%w: %q", ErrNotFound, e.ID)
	}
	f, err := os.Open(s.path(e.ID))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotFound, e.ID)
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	if _, err := br.ReadSlice('\n'); err != nil {
		return fmt.Errorf("spool: %s: reading header: %w", e.ID, err)
	}
	return s.write(e, br, true)
}

// write puts e and the message from data into tmp/, syncs it, and renames
// it over queue/ID. replace says whether an existing file is expected.
func (s *Spool) write(e *Entry, data io.Reader, replace bool) error {
	meta, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	tmp := filepath.Join(s.dir, "tmp", e.ID)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(f, 64<<10)
	w.Write(meta)
	w.WriteByte('\n')
	if _, err := io.Copy(w, data); err != nil {
		return fmt.Errorf("spool: %s: %w", e.ID, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("spool: %s: %w", e.ID, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("spool: %s: sync: %w", e.ID, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("spool: %s: %w", e.ID, err)
	}
	dst := s.path(e.ID)
	if !replace {
		if _, err := os.Lstat(dst); err == nil {
			return fmt.Errorf("spool: message %s exists already", e.ID)
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	ok = true
	return syncDir(filepath.Join(s.dir, "queue"))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("spool: sync %s: %w", dir, err)
	}
	return nil
}

// Read returns a message's metadata and content.
func (s *Spool) Read(id string) (*Entry, []byte, error) {
	if !validID(id) {
		return nil, nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	raw, err := os.ReadFile(s.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("spool: %w", err)
	}
	nl := bytes.IndexByte(raw, '\n')
	if nl < 0 {
		return nil, nil, fmt.Errorf("spool: %s: no header line", id)
	}
	e, err := decodeEntry(id, raw[:nl])
	if err != nil {
		return nil, nil, err
	}
	return e, raw[nl+1:], nil
}

func decodeEntry(id string, line []byte) (*Entry, error) {
	var e Entry
	if err := json.Unmarshal(line, &e); err != nil {
		return nil, fmt.Errorf("spool: %s: bad header: %w", id, err)
	}
	if e.ID != id {
		return nil, fmt.Errorf("spool: %s: header names message %q", id, e.ID)
	}
	return &e, nil
}

// List returns the metadata of every message, oldest first. A file that
// cannot be read is reported in the error but does not hide the others.
func (s *Spool) List() ([]*Entry, error) {
	names, err := os.ReadDir(filepath.Join(s.dir, "queue"))
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var (
		entries []*Entry
		errs    []error
	)
	for _, n := range names {
		e, err := s.header(n.Name())
		if errors.Is(err, ErrNotFound) {
			continue // relayed while we listed
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b *Entry) int { return strings.Compare(a.ID, b.ID) })
	return entries, errors.Join(errs...)
}

func (s *Spool) header(id string) (*Entry, error) {
	f, err := os.Open(s.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadSlice('\n')
	if err != nil {
		return nil, fmt.Errorf("spool: %s: reading header: %w", id, err)
	}
	return decodeEntry(id, line)
}

// Remove deletes a message for good, durably: after it was relayed.
func (s *Spool) Remove(id string) error {
	if !validID(id) {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	err := os.Remove(s.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	// A process that opened the lock file before this removal finds the
	// message gone once it holds the lock; see Lock.
	os.Remove(filepath.Join(s.dir, "lock", id))
	return syncDir(filepath.Join(s.dir, "queue"))
}

// Lock takes the exclusive lock of a message without waiting. It returns
// ErrLocked when another process has it. unlock releases it.
func (s *Spool) Lock(id string) (unlock func(), err error) {
	if !validID(id) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	f, err := os.OpenFile(filepath.Join(s.dir, "lock", id), os.O_RDONLY|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, id)
		}
		return nil, fmt.Errorf("spool: lock %s: %w", id, err)
	}
	// Held, but the message may have been relayed and removed meanwhile.
	if _, err := os.Lstat(s.path(id)); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return func() { f.Close() }, nil
}
