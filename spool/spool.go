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
// A message that leaves the queue without being relayed, because it was
// bounced or must not be, is moved to quarantine/ with its final state,
// where the operator can read, release or purge it until it expires. The
// move is a rewrite of the metadata in place followed by one rename, so a
// message is in exactly one directory at any moment; a crash between the
// two leaves a file whose state says where it belongs, and the next process
// that locks it finishes the move (see Lock).
//
// The header line has a limit, MaxHeader, far above any real message and
// enforced by Add, so a message that was accepted can always be read back.
// A file that cannot be read all the same (damaged by the disk, by a hand,
// or by a writer this package does not know) is reported as a
// *DamagedError; the queue runner moves it into quarantine with
// KeepDamaged, its bytes intact, so that one bad file never stops the
// queue and nothing in it is lost.
//
// Processes that work on a message (a queue pass, an operator's release)
// take its lock first, an flock on lock/ID (not on the message file, which
// Update replaces), so two of them never relay it twice. A sendmail run only
// ever touches the message it is adding and its site's queue when it is the
// one that trips the site.
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
	"unicode/utf8"

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

	// The final states of a message that was not relayed; such messages
	// are in quarantine. A relayed message leaves the spool.

	// Bounced messages were returned to their sender with a DSN: their
	// site tripped, the relay refused them, or they outlived the queue.
	Bounced State = "bounced"
	// Quarantined messages were neither relayed nor bounced: a DSN would
	// have gone to an address the site does not own (backscatter), to a
	// null sender, in reply to automatic mail, or beyond the limit of DSNs
	// per sender. They wait for the operator.
	Quarantined State = "quarantined"
)

// states are the states a message can be in; a header with another is
// damaged.
var states = []State{Queued, Held, Undecided, Bounced, Quarantined}

// Final reports whether s is a state of a message in quarantine.
func (s State) Final() bool { return s == Bounced || s == Quarantined }

// Kinds of message in the spool.
const (
	// KindDSN marks a delivery status notification spamrun wrote itself.
	// It goes out with the null sender and is never bounced or held.
	KindDSN = "dsn"
	// KindNotice marks a notice spamrun wrote to a site's owner or the
	// operator about an incident (see package notify). Like a DSN it goes
	// out with the null sender and is never bounced, held or counted
	// against its site.
	KindNotice = "notice"
	// KindDamaged marks a file the spool could not read, kept whole in
	// quarantine by KeepDamaged: its content is the file as it was found,
	// and its envelope is unknown, so it can be read and purged but never
	// relayed.
	KindDamaged = "damaged"
)

// kinds are the kinds of message a header can name.
var kinds = []string{"", KindDSN, KindNotice, KindDamaged}

// Entry is a spooled message's metadata.
type Entry struct {
	ID   string `json:"id"`
	Site string `json:"site"`
	// UID is the real UID of the submitting process; -1 for a damaged
	// message, whose submitter is unknown.
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

	// Kind is "" for a submitted message, KindDSN for a DSN, KindNotice
	// for a notice, KindDamaged for a file the spool could not read.
	Kind string `json:"kind,omitempty"`
	// Original is the ID of the message a DSN reports on.
	Original string `json:"original,omitempty"`
	// Released is set by the operator: the message is relayed even while
	// its site is disabled, and no longer held.
	Released bool `json:"released,omitempty"`

	// Incident is the incident that took the message out of the queue.
	Incident string `json:"incident,omitempty"`
	// Reason says why the message is in quarantine, for the operator.
	Reason string `json:"reason,omitempty"`
	// DSN is the ID of the DSN that returned the message.
	DSN string `json:"dsn,omitempty"`
	// Until is when a message in quarantine is deleted.
	Until time.Time `json:"until,omitzero"`
}

// Due reports whether the message may be relayed at t.
func (e *Entry) Due(t time.Time) bool {
	switch {
	case e.State == Queued, e.State == Held && e.Released:
		return !t.Before(e.NextAttempt)
	case e.State == Held:
		return !t.Before(e.HoldUntil) && !t.Before(e.NextAttempt)
	}
	return false
}

// box is the directory a message in state st belongs in.
func box(st State) string {
	if st.Final() {
		return "quarantine"
	}
	return "queue"
}

// Spool is a spool directory.
type Spool struct {
	dir string
}

// Errors of the spool.
var (
	ErrNotFound = errors.New("spool: no such message")
	ErrLocked   = errors.New("spool: message is locked by another process")
	ErrExists   = errors.New("spool: message exists already")
	// ErrTooLarge is wrapped by the error of Add for a message whose
	// header would be over MaxHeader: sendmail refuses it as bad input
	// rather than accept mail the spool could not read back.
	ErrTooLarge = errors.New("spool: message envelope too large")
	// ErrDamaged is wrapped by every *DamagedError.
	ErrDamaged = errors.New("spool: damaged message file")
)

// MaxHeader is the longest header line, not counting its newline, that Add
// writes: 8 MiB. The header holds the envelope and the caller's evidence,
// about 3 KB for a message to one recipient; 5,000 recipients of 320
// bytes, more than the 256 of a path (RFC 5321, section 4.5.3.1.3), take
// 1.6 MB more, and a command line of the 2 MiB Linux allows by default
// still fits with room.
//
// A limit at all keeps a damaged file without a newline from being read
// whole, as a header, by every listing.
const MaxHeader = 8 << 20

// headerRoom is what a header may grow by after Add, with what the queue
// runner records: the relay's last error, the reason for quarantine, the
// score of a message decided late. Readers take MaxHeader+headerRoom, so
// that no message Add accepted becomes unreadable.
const headerRoom = 1 << 20

// DamagedError reports a message file the spool cannot read: it has no
// header line, its header is over the limit, is not an entry, names
// another message or a state or kind this package does not know, or the
// content is not as long as the header says. Add and Update never write
// such a file; it was damaged afterwards, or written by something else.
type DamagedError struct {
	ID     string
	Reason string // what is wrong with it
}

func (e *DamagedError) Error() string { return "spool: " + e.ID + ": damaged: " + e.Reason }

// Unwrap makes errors.Is(err, ErrDamaged) true.
func (e *DamagedError) Unwrap() error { return ErrDamaged }

func damaged(id, format string, args ...any) error {
	return &DamagedError{ID: id, Reason: fmt.Sprintf(format, args...)}
}

// Damaged splits an error of List or Quarantine, or several of them
// joined, into the damaged files it reports and the rest. The queue
// runner moves the former into quarantine; only the rest are failures.
func Damaged(err error) ([]*DamagedError, error) {
	var (
		files []*DamagedError
		rest  []error
	)
	var split func(error)
	split = func(err error) {
		if d, ok := err.(*DamagedError); ok {
			files = append(files, d)
		} else if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				split(e)
			}
		} else if err != nil {
			rest = append(rest, err)
		}
	}
	split(err)
	return files, errors.Join(rest...)
}

// Open opens the spool in dir, creating its directories (mode 0770: the
// spool is group-owned and never world-readable).
func Open(dir string) (*Spool, error) {
	for _, d := range []string{dir, filepath.Join(dir, "tmp"), filepath.Join(dir, "queue"), filepath.Join(dir, "quarantine"), filepath.Join(dir, "lock")} {
		if err := os.MkdirAll(d, 0o770); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
	}
	return &Spool{dir: dir}, nil
}

// Dir returns the spool's directory.
func (s *Spool) Dir() string { return s.dir }

func (s *Spool) pathIn(dir, id string) string { return filepath.Join(s.dir, dir, id) }

// NewID returns a new message ID: the time, for order, and randomness, for
// uniqueness across processes.
func NewID(t time.Time) string {
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return t.UTC().Format("20060102T150405.000000") + "-" + strings.ToUpper(hex.EncodeToString(b[:]))
}

// validID reports whether id can name a message file. It must be valid
// UTF-8 too: the header, JSON, would name the message otherwise.
func validID(id string) bool {
	return id != "" && !strings.ContainsAny(id, "/\\\x00") && id != "." && id != ".." && utf8.ValidString(id)
}

// Add writes a new message durably. e.ID is set when empty; e.Size is set.
// When Add returns nil the message survives a crash. A message with e.ID
// in the spool already, in the queue or in quarantine, is refused with
// ErrExists, so that a DSN written under an ID derived from its original's
// is written once even when the writer crashed and tried again. A message
// whose header would be longer than MaxHeader is refused with ErrTooLarge.
func (s *Spool) Add(e *Entry, data []byte) error {
	if e.ID == "" {
		e.ID = NewID(e.Received)
	}
	if !validID(e.ID) {
		return fmt.Errorf("spool: bad message id %q", e.ID)
	}
	for _, dir := range []string{"queue", "quarantine"} {
		if _, err := os.Lstat(s.pathIn(dir, e.ID)); err == nil {
			return fmt.Errorf("%w: %s", ErrExists, e.ID)
		}
	}
	e.Size = int64(len(data))
	meta, err := encodeHeader(e)
	if err != nil {
		return err
	}
	if n := len(meta) - 1; n > MaxHeader {
		return fmt.Errorf("%w: its %d recipients and the evidence of its caller take %d bytes, over the limit of %d; send it to fewer recipients at a time",
			ErrTooLarge, len(e.Recipients), n, MaxHeader)
	}
	return s.write(e.ID, meta, bytes.NewReader(data), box(e.State), false)
}

// encodeHeader returns e's header line, newline included. JSON escapes
// every newline in a string, so the header ends at the first one.
func encodeHeader(e *Entry) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	// Addresses and reasons hold < > and &; escaped for HTML they would
	// take six bytes each.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("spool: %s: %w", e.ID, err)
	}
	return b.Bytes(), nil
}

// Update rewrites the metadata of a message durably. The caller holds the
// message's lock. When the new state belongs in the other directory, the
// message is moved there: into quarantine when its state is final, back
// into the queue when it is not (the operator released it). e.Size is the
// spool's and is kept.
func (s *Spool) Update(e *Entry) error {
	f, from, err := s.open(e.ID)
	if err != nil {
		return err
	}
	defer f.Close()
	old, content, err := readHeader(f, e.ID)
	if err != nil {
		return err
	}
	e.Size = old.Size
	meta, err := encodeHeader(e)
	if err != nil {
		return err
	}
	if n := len(meta) - 1; n > MaxHeader+headerRoom {
		return fmt.Errorf("%w: %s: the header would take %d bytes", ErrTooLarge, e.ID, n)
	}
	if err := s.write(e.ID, meta, content, from, true); err != nil {
		return err
	}
	return s.settle(from, e)
}

// KeepDamaged moves a message file the spool cannot read into quarantine,
// where the operator finds it with the rest; the caller holds the
// message's lock. The file's bytes, all of them, become the content of a
// message of KindDamaged, in state Quarantined until until, whose header
// says what is wrong and takes the file's modification time as the time
// it was received: nothing is lost, and no listing fails on it again. Of
// a symbolic link the content is where it points, never what. A file that
// reads well (another process replaced it meanwhile) is left alone, and
// KeepDamaged returns nil and no error.
func (s *Spool) KeepDamaged(id string, until time.Time) (*Entry, error) {
	dir, err := s.where(id)
	if err != nil {
		return nil, err
	}
	path := s.pathIn(dir, id)
	var (
		d       *DamagedError
		content io.Reader
		fi      fs.FileInfo
	)
	f, err := openFile(path, id)
	switch {
	case errors.As(err, &d):
		if fi, err = os.Lstat(path); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		target, _ := os.Readlink(path) // "" when it is no link
		content = strings.NewReader(target)
	case err != nil:
		return nil, err
	default:
		defer f.Close()
		if _, _, err := readHeader(f, id); !errors.As(err, &d) {
			return nil, err
		}
		if fi, err = f.Stat(); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		content = f
	}
	data, err := io.ReadAll(content)
	if err != nil {
		return nil, fmt.Errorf("spool: %s: %w", id, err)
	}
	e := &Entry{
		ID: id, UID: -1, Kind: KindDamaged, State: Quarantined,
		Received: fi.ModTime().UTC(), Until: until, Size: int64(len(data)),
		Reason: "damaged spool file: " + d.Reason,
	}
	meta, err := encodeHeader(e)
	if err != nil {
		return nil, err
	}
	if err := s.write(id, meta, bytes.NewReader(data), dir, true); err != nil {
		return nil, err
	}
	return e, s.settle(dir, e)
}

// settle moves a message whose state belongs in the other directory than
// from, where it is, by one rename.
func (s *Spool) settle(from string, e *Entry) error {
	to := box(e.State)
	if to == from {
		return nil
	}
	if err := os.Rename(s.pathIn(from, e.ID), s.pathIn(to, e.ID)); err != nil {
		return fmt.Errorf("spool: moving %s to %s: %w", e.ID, to, err)
	}
	if err := syncDir(filepath.Join(s.dir, to)); err != nil {
		return err
	}
	return syncDir(filepath.Join(s.dir, from))
}

// where returns the directory a message is in.
func (s *Spool) where(id string) (string, error) {
	for _, dir := range []string{"queue", "quarantine"} {
		if _, err := os.Lstat(s.pathIn(dir, id)); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("%w: %s", ErrNotFound, id)
}

// write puts the header line meta and the message from data into tmp/,
// and renames it durably over dir/id. replace says whether an existing
// file is expected.
//
// A new message (replace false) takes one fsync, after the rename: on a
// journalling file system (ext4, XFS, btrfs) the fsync of a file commits
// the transaction that renamed it, the new name with it, so the message
// is durable once it returns. Before it returns the message is complete
// in the queue, but not yet accepted; when it fails the message is
// removed again. A replaced file keeps the old order, sync then rename
// then the directory, so that the earlier version stays whole until the
// new one is.
func (s *Spool) write(id string, meta []byte, data io.Reader, dir string, replace bool) error {
	tmp := filepath.Join(s.dir, "tmp", id)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if errors.Is(err, fs.ErrExist) {
		// Left by a process that crashed while writing this message: the
		// caller holds the message's lock, or the ID is new.
		os.Remove(tmp)
		f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	renamed := false
	defer func() {
		f.Close() // after the Close below, a second one does nothing
		if !renamed {
			os.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(f, 64<<10)
	w.Write(meta)
	if _, err := io.Copy(w, data); err != nil {
		return fmt.Errorf("spool: %s: %w", id, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("spool: %s: %w", id, err)
	}
	syncClose := func() error {
		err := f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("spool: %s: sync: %w", id, err)
		}
		return nil
	}
	dst := s.pathIn(dir, id)
	if !replace {
		if _, err := os.Lstat(dst); err == nil {
			return fmt.Errorf("%w: %s", ErrExists, id)
		}
		if err := os.Rename(tmp, dst); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		renamed = true
		if err := syncClose(); err != nil {
			os.Remove(dst)
			return err
		}
		return nil
	}
	if err := syncClose(); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	renamed = true
	return syncDir(filepath.Join(s.dir, dir))
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

// Read returns a message's metadata and content, from the queue or from
// quarantine.
func (s *Spool) Read(id string) (*Entry, []byte, error) {
	f, _, err := s.open(id)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	e, content, err := readHeader(f, id)
	if err != nil {
		return nil, nil, err
	}
	data := make([]byte, e.Size)
	if _, err := io.ReadFull(content, data); err != nil {
		return nil, nil, fmt.Errorf("spool: %s: %w", id, err)
	}
	return e, data, nil
}

// open opens a message's file, in the queue or in quarantine, and returns
// the directory it is in.
func (s *Spool) open(id string) (*os.File, string, error) {
	if !validID(id) {
		return nil, "", fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	for _, dir := range []string{"queue", "quarantine"} {
		f, err := openFile(s.pathIn(dir, id), id)
		if !errors.Is(err, fs.ErrNotExist) {
			return f, dir, err
		}
	}
	return nil, "", fmt.Errorf("%w: %s", ErrNotFound, id)
}

// openFile opens the message file at path, which must be a regular file.
// The spool's directories are writable by the installation's group, and
// the queue runner may run as root: it must not read another file through
// a symbolic link, nor wait forever on a FIFO. Anything else is damaged.
func openFile(path, id string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, damaged(id, "a symbolic link, not a message file")
	}
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("spool: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, damaged(id, "a %s, not a message file", fileType(fi.Mode()))
	}
	return f, nil
}

func fileType(m fs.FileMode) string {
	switch m.Type() {
	case fs.ModeDir:
		return "directory"
	case fs.ModeNamedPipe:
		return "FIFO"
	case fs.ModeSocket:
		return "socket"
	case fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice:
		return "device"
	}
	return "special file"
}

// readHeader reads the header line of message id from f, at its start,
// and checks it against the file: the content must be as long as the
// header says, which a file cut short by a full disk or grown by a hand is
// not. It returns a reader of f at the content. A file that fails the
// checks is damaged (*DamagedError); other errors are the file system's.
func readHeader(f *os.File, id string) (*Entry, *bufio.Reader, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("spool: %w", err)
	}
	const limit = MaxHeader + headerRoom
	// A page holds the header of most messages, and a listing reads
	// thousands: a longer header is read in pieces.
	br := bufio.NewReaderSize(f, 4<<10)
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) > limit+1 {
			return nil, nil, damaged(id, "header line over %d bytes", limit)
		}
		if err == nil && line == nil {
			line = frag // decoded before the reader moves on
			break
		}
		line = append(line, frag...)
		if err == nil {
			break
		}
		if err == io.EOF {
			return nil, nil, damaged(id, "no header line in %d bytes", fi.Size())
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, nil, fmt.Errorf("spool: %s: %w", id, err)
		}
	}
	var e Entry
	if err := json.Unmarshal(line, &e); err != nil {
		return nil, nil, damaged(id, "bad header: %v", err)
	}
	if e.ID != id {
		return nil, nil, damaged(id, "header names message %q", e.ID)
	}
	if !slices.Contains(states, e.State) {
		return nil, nil, damaged(id, "header gives no known state but %q", e.State)
	}
	if !slices.Contains(kinds, e.Kind) {
		return nil, nil, damaged(id, "header gives no known kind but %q", e.Kind)
	}
	if rest := fi.Size() - int64(len(line)); e.Size != rest {
		return nil, nil, damaged(id, "%d bytes of content where the header says %d", rest, e.Size)
	}
	return &e, br, nil
}

// List returns the metadata of every message in the queue, oldest first.
// A file that cannot be read is reported in the error, a damaged one as a
// *DamagedError (see Damaged), but does not hide the others.
func (s *Spool) List() ([]*Entry, error) { return s.list("queue") }

// Quarantine returns the metadata of every message in quarantine, oldest
// first.
func (s *Spool) Quarantine() ([]*Entry, error) { return s.list("quarantine") }

func (s *Spool) list(dir string) ([]*Entry, error) {
	names, err := os.ReadDir(filepath.Join(s.dir, dir))
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var (
		entries []*Entry
		errs    []error
	)
	for _, n := range names {
		e, err := s.header(dir, n.Name())
		if errors.Is(err, ErrNotFound) {
			continue // relayed or moved while we listed
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

func (s *Spool) header(dir, id string) (*Entry, error) {
	f, err := openFile(s.pathIn(dir, id), id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	e, _, err := readHeader(f, id)
	return e, err
}

// Remove deletes a message for good, durably, from the queue or from
// quarantine: after it was relayed, or when it expired or was purged.
// The caller holds the message's lock.
func (s *Spool) Remove(id string) error {
	if !validID(id) {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	dir, err := s.where(id)
	if err != nil {
		return err
	}
	err = os.Remove(s.pathIn(dir, id))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	// A process that opened the lock file before this removal finds the
	// message gone once it holds the lock; see Lock.
	os.Remove(filepath.Join(s.dir, "lock", id))
	return syncDir(filepath.Join(s.dir, dir))
}

// Lock takes the exclusive lock of a message without waiting. It returns
// ErrLocked when another process has it. unlock releases it.
//
// Holding the lock, it finishes a move between queue and quarantine that a
// crashed process left half done, so the caller finds the message where
// its state says it is.
func (s *Spool) Lock(id string) (unlock func(), err error) {
	if !validID(id) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	unlock, err = s.lockFile(id, false)
	if err != nil {
		return nil, err
	}
	dir, err := s.where(id)
	if err != nil {
		// Held, but the message was relayed and removed meanwhile.
		unlock()
		os.Remove(filepath.Join(s.dir, "lock", id))
		return nil, err
	}
	if e, err := s.header(dir, id); err == nil {
		if err := s.settle(dir, e); err != nil {
			unlock()
			return nil, err
		}
	}
	return unlock, nil
}

// LockSite takes a site's lock, waiting for it: the lock of bouncing its
// queue, so that two processes that both see the site disabled do not both
// count the DSNs they may send.
func (s *Spool) LockSite(site string) (unlock func(), err error) {
	if !validID(site) {
		return nil, fmt.Errorf("spool: bad site name %q", site)
	}
	return s.lockFile("@"+site, true)
}

func (s *Spool) lockFile(name string, wait bool) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(s.dir, "lock", name), os.O_RDONLY|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, name)
		}
		return nil, fmt.Errorf("spool: lock %s: %w", name, err)
	}
	return func() { f.Close() }, nil
}
