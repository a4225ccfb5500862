// Package journal keeps what happens to mail, for the operator's metrics.
//
// sendmail runs for milliseconds and the SMTP listener and the queue
// runner of other processes do part of the work, so no one process sees
// every event. Each process appends its events to the spool's journal
// (events/journal, one JSON object a line, written with one write(2) in
// O_APPEND mode, so lines of concurrent writers never mix), and the
// resident daemon, spamrun serve, reads the journal with a Reader, counts,
// and serves /metrics (package internal/metrics). Nothing is pushed
// anywhere: counters live in the daemon, and start again from zero when
// it restarts, as Prometheus expects.
//
// The daemon rotates the journal when it grows past RotateAt and deletes
// a rotated file once it has read it to the end and no writer can still
// hold it open. Without a daemon reading it, the journal stops growing at
// MaxJournal: events beyond are not recorded, and mail is never affected.
package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spamrun/spamrun/queue"
)

const (
	// Dir is the journal's directory in the spool.
	Dir         = "events"
	journalName = "journal"
	// RotateAt is the size at which the daemon starts a new journal.
	RotateAt = 4 << 20
	// MaxJournal is the size at which writers stop appending, when no
	// daemon reads the journal.
	MaxJournal = 64 << 20
)

// record is an event as the journal holds it: short keys, durations in
// microseconds, empty fields left out.
type record struct {
	Time       int64   `json:"t"` // Unix microseconds
	Action     string  `json:"a"`
	Site       string  `json:"s,omitempty"`
	ID         string  `json:"id,omitempty"`
	Kind       string  `json:"k,omitempty"`
	Door       string  `json:"d,omitempty"`
	Recipients int     `json:"n,omitempty"`
	Scored     bool    `json:"sc,omitempty"`
	Score      float64 `json:"v,omitempty"`
	Spam       bool    `json:"sp,omitempty"`
	ScoreTime  int64   `json:"st,omitempty"`
	StoreTime  int64   `json:"dt,omitempty"`
	Failure    string  `json:"f,omitempty"`
	Incident   string  `json:"i,omitempty"`
}

func toRecord(ev queue.Event) record {
	return record{
		Time: ev.Time.UnixMicro(), Action: ev.Action, Site: ev.Site, ID: ev.ID, Kind: ev.Kind,
		Door: ev.Door, Recipients: ev.Recipients, Scored: ev.Scored, Score: ev.Score, Spam: ev.Spam,
		ScoreTime: ev.ScoreTime.Microseconds(), StoreTime: ev.StoreTime.Microseconds(),
		Failure: ev.Failure, Incident: ev.Incident,
	}
}

func (r record) event() queue.Event {
	return queue.Event{
		Time: time.UnixMicro(r.Time), Action: r.Action, Site: r.Site, ID: r.ID, Kind: r.Kind,
		Door: r.Door, Recipients: r.Recipients, Scored: r.Scored, Score: r.Score, Spam: r.Spam,
		ScoreTime: time.Duration(r.ScoreTime) * time.Microsecond,
		StoreTime: time.Duration(r.StoreTime) * time.Microsecond,
		Failure:   r.Failure, Incident: r.Incident,
	}
}

// ErrJournalFull is returned by Append when the journal has reached
// MaxJournal: no daemon reads it.
var ErrJournalFull = errors.New("journal: the event journal is full; is spamrun serve running?")

// Append adds ev to the journal of the spool in spoolDir. Each call opens
// and closes the file, so that a rotation is never held up by a
// long-lived writer.
func Append(spoolDir string, ev queue.Event) error {
	line, err := json.Marshal(toRecord(ev))
	if err != nil {
		return err
	}
	line = append(line, '\n')
	dir := filepath.Join(spoolDir, Dir)
	f, err := os.OpenFile(filepath.Join(dir, journalName), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o660)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.Mkdir(dir, 0o770); err == nil || errors.Is(err, fs.ErrExist) {
			shareLike(spoolDir, dir, 0o770)
			f, err = os.OpenFile(filepath.Join(dir, journalName), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o660)
		}
	}
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if fi.Size() == 0 {
		shareLike(spoolDir, f.Name(), 0o660)
	}
	if fi.Size()+int64(len(line)) > MaxJournal {
		return ErrJournalFull
	}
	if _, err := f.Write(line); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// shareLike gives path, just created, the owner and group of the spool
// and mode: whoever creates the journal (sendmail as the installation's
// user, the operator's command as root, under any umask), every later
// writer must be able to append to it. What the caller may not change is
// left as it is.
func shareLike(spoolDir, path string, mode os.FileMode) {
	st, err := os.Stat(spoolDir)
	if err != nil {
		return
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		os.Lchown(path, int(sys.Uid), int(sys.Gid))
	}
	os.Chmod(path, mode)
}

// Journal returns an Observe func that appends to the journal of the
// spool in spoolDir, passing a failure to logf once until appending works
// again; a lost event costs a metric, never mail.
func Journal(spoolDir string, logf func(format string, args ...any)) func(queue.Event) {
	var failing atomic.Bool
	return func(ev queue.Event) {
		err := Append(spoolDir, ev)
		if failing.Swap(err != nil) || err == nil || logf == nil {
			return
		}
		logf("warning: event not journaled: %v", err)
	}
}
