// Package sqlitestore is the embedded default [spamrun.Store]: one SQLite
// database in the state directory, shared by every sendmail process and the
// queue runner of a host.
//
// Every sendmail run is a process of its own, so the counts must be exact
// across processes, not only across goroutines. Each decision is one short
// BEGIN IMMEDIATE transaction: SQLite's write lock serialises the processes,
// and a process reads the log only while holding it, so no two submissions
// see the same count. The database runs in WAL mode, where readers never
// block the writer and a commit appends to the log instead of rewriting
// the database file.
//
// The driver is modernc.org/sqlite, pure Go, so the sendmail binary stays
// static.
package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/spamrun/spamrun"
)

// Options configures Open. The zero value, like a nil *Options, means the
// defaults.
type Options struct {
	// BusyTimeout is how long a call waits for other processes' writes
	// before it fails; 0 means DefaultBusyTimeout. A write takes well
	// under a millisecond, so running into it means something holds the
	// database, not that the host is busy.
	BusyTimeout time.Duration
	// Mode is the permission a new database file is created with,
	// whatever the umask; SQLite gives its -wal and -shm files the same.
	// 0 means DefaultMode.
	Mode os.FileMode
}

// DefaultBusyTimeout is the BusyTimeout of the zero Options.
const DefaultBusyTimeout = 10 * time.Second

// DefaultMode is the Mode of the zero Options: the state directory is
// group-owned by the group sendmail runs setgid to, and every process of
// that group writes the database.
const DefaultMode os.FileMode = 0o660

// Store is a spamrun.Store in an SQLite database. It is safe for concurrent
// use by goroutines and by processes sharing the file.
type Store struct {
	db          *sql.DB
	busyTimeout time.Duration
	// writeMu queues this process's writers, lock the processes'.
	writeMu sync.Mutex
	lock    *writeLock

	// Parsing SQL costs about as much as running these statements, so each
	// is prepared once per connection, on first use: a sendmail run needs
	// only a few of them.
	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt

	// migrated is how many migrations this Open applied; tests read it.
	migrated int
}

var (
	_ spamrun.Store         = (*Store)(nil)
	_ spamrun.IncidentLog   = (*Store)(nil)
	_ spamrun.ScriptHistory = (*Store)(nil)
)

// Open opens the database at path, creating it when it does not exist, and
// brings its schema up to date. The directory must exist. Beside the
// database, SQLite keeps path-wal and path-shm, and Open path-lock.
func Open(path string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = DefaultBusyTimeout
	}
	if o.Mode == 0 {
		o.Mode = DefaultMode
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	if err := create(abs, o.Mode); err != nil {
		return nil, fmt.Errorf("sqlitestore: creating %s: %w", abs, err)
	}
	lock, err := newWriteLock(abs+"-lock", o.Mode)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: creating %s-lock: %w", abs, err)
	}
	db, err := sql.Open("sqlite", dsn(abs, o.BusyTimeout))
	if err != nil {
		lock.close()
		return nil, fmt.Errorf("sqlitestore: opening %s: %w", abs, err)
	}
	db.SetMaxIdleConns(4)
	s := &Store{db: db, busyTimeout: o.BusyTimeout, lock: lock, stmts: make(map[string]*sql.Stmt)}
	ctx, cancel := context.WithTimeout(context.Background(), 3*o.BusyTimeout)
	defer cancel()
	// Processes that find a new file at once all switch it to WAL, and the
	// switch can report busy without waiting for the busy timeout.
	err = s.retry(ctx, func() error { return db.PingContext(ctx) })
	if err == nil {
		err = s.migrate(ctx)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlitestore: opening %s: %w", abs, err)
	}
	return s, nil
}

// dsn sets what every connection of the pool needs, since database/sql opens
// connections as it pleases:
//   - busy_timeout first, so that the journal_mode switch after it waits too;
//   - journal_mode=WAL: readers and the writer do not block each other, and
//     a commit appends to the log instead of writing the database file;
//   - synchronous=NORMAL: in WAL mode a commit is not fsynced; the log is
//     synced at each checkpoint. A committed decision survives the crash of
//     any process; only a power loss or kernel crash can lose the last
//     transactions, and it never corrupts the database. For counters that
//     is enough: the messages themselves are in the fsynced spool, and a
//     lost count makes a site trip a few submissions late, once, after a
//     power failure, rather than costing an fsync on every submission of
//     every site;
//   - _txlock=immediate: every transaction takes the write lock at BEGIN, so
//     two processes can never both read a count and then write.
//
// The name is a file: URI, so a path holding '?' or '#' cannot be mistaken
// for parameters.
func dsn(path string, busy time.Duration) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	ms := strconv.FormatInt(busy.Milliseconds(), 10)
	return "file:" + esc + "?_pragma=busy_timeout(" + ms + ")" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// create makes an empty file with exactly mode, unless path exists. SQLite
// would create the database with 0644 less the umask; its -wal and -shm
// files take the database file's mode, so setting it here sets all three.
// The file appears under its name with its final mode, so a process that
// opens it concurrently never sees another.
func create(path string, mode os.FileMode) error {
	if _, err := os.Lstat(path); err == nil {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".new*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(mode)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	err := s.db.Close()
	s.writeMu.Lock()
	if lerr := s.lock.close(); err == nil {
		err = lerr
	}
	s.writeMu.Unlock()
	if err != nil {
		return fmt.Errorf("sqlitestore: closing: %w", err)
	}
	return nil
}

// migrations[i] takes the schema from version i to i+1; the version lives in
// the database as PRAGMA user_version. Append, never edit: a released
// migration has run on hosts' databases.
var migrations = []string{
	// 1: the spam log, the disabled flags and the incident history.
	`
CREATE TABLE spam_log (
	seq   INTEGER PRIMARY KEY, -- insertion order, which breaks ties of time
	site  TEXT    NOT NULL,
	time  INTEGER NOT NULL,    -- unix nanoseconds
	event TEXT    NOT NULL     -- spamrun.SpamEvent as JSON
);
CREATE INDEX spam_log_site_time ON spam_log (site, time);

-- The length of each site's log, so that a decision costs index look-ups,
-- not a count over the log. A site has a row while its log has entries.
-- (Since version 4, n is weight: the sum of the entries' weights.)
CREATE TABLE spam_sites (
	site TEXT    PRIMARY KEY,
	n    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE disabled (
	site     TEXT    PRIMARY KEY,
	incident TEXT    NOT NULL, -- spamrun.Incident as JSON
	since    INTEGER NOT NULL  -- the incident's time, unix nanoseconds
);

CREATE TABLE incidents (
	id       TEXT    PRIMARY KEY,
	site     TEXT    NOT NULL,
	time     INTEGER NOT NULL, -- unix nanoseconds
	incident TEXT    NOT NULL  -- spamrun.Incident as JSON
);
CREATE INDEX incidents_site_time ON incidents (site, time);
`,
	// 2: the history of the scripts that sent mail.
	`
CREATE TABLE scripts (
	site       TEXT    NOT NULL,
	script_key TEXT    NOT NULL, -- spamrun.ScriptKey
	script     TEXT    NOT NULL,
	cwd        TEXT    NOT NULL, -- of the latest submission
	first      INTEGER NOT NULL, -- unix nanoseconds
	last       INTEGER NOT NULL, -- unix nanoseconds
	count      INTEGER NOT NULL,
	PRIMARY KEY (site, script_key)
) WITHOUT ROWID;
CREATE INDEX scripts_site_last ON scripts (site, last, script_key);
`,
	// 3: the spam-marked share of each script's mail, and the site's
	// activity minute by minute.
	`
ALTER TABLE scripts ADD COLUMN spam INTEGER NOT NULL DEFAULT 0;

-- The primary key is also the index of the range reads and of pruning.
CREATE TABLE activity (
	site       TEXT    NOT NULL,
	minute     INTEGER NOT NULL, -- the minute's start, unix seconds
	script_key TEXT    NOT NULL, -- spamrun.ScriptKey; "" for neither
	legit      INTEGER NOT NULL,
	spam       INTEGER NOT NULL,
	PRIMARY KEY (site, minute, script_key)
) WITHOUT ROWID;
`,
	// 4: spam-marked submissions weigh their recipients. Entries logged
	// before weigh 1, so a site's count of entries is their weight. The
	// index orders the log as the store reads it and covers the weights,
	// so that neither finding the oldest nor summing reads the events.
	`
ALTER TABLE spam_log ADD COLUMN weight INTEGER NOT NULL DEFAULT 1;
ALTER TABLE spam_sites RENAME COLUMN n TO weight;
DROP INDEX spam_log_site_time;
CREATE INDEX spam_log_site_time ON spam_log (site, time, seq, weight);
`,
	// 5: each entry's spamrun.SpamEvent.Submission, by which a submission
	// decided again is recognised. Entries logged before have none, and
	// the index leaves them out.
	`
ALTER TABLE spam_log ADD COLUMN submission TEXT;
CREATE UNIQUE INDEX spam_log_site_submission ON spam_log (site, submission)
	WHERE submission IS NOT NULL;
`,
}

// migrate brings the schema to this program's version, len(migrations).
// The version is read first without the write lock, so that the common case,
// a process opening an up-to-date database, writes nothing; otherwise it is
// read again under the lock, so that of several processes opening a new
// file the first migrates and the others find nothing left to do.
func (s *Store) migrate(ctx context.Context) error {
	var v int
	err := s.retry(ctx, func() error {
		return s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	})
	if err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if v == len(migrations) {
		return nil
	}
	return s.write(ctx, "migrating schema", func(tx *sql.Tx) error {
		s.migrated = 0
		var v int
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			return err
		}
		if v > len(migrations) {
			return fmt.Errorf("schema version %d is newer than this program's %d", v, len(migrations))
		}
		for ; v < len(migrations); v++ {
			if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
				return fmt.Errorf("to version %d: %w", v+1, err)
			}
			s.migrated++
		}
		// PRAGMA takes no parameters; the number is ours.
		_, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(v))
		return err
	})
}

// write runs fn in one BEGIN IMMEDIATE transaction and commits it. Its
// errors say what was being written, but not which package failed.
func (s *Store) write(ctx context.Context, what string, fn func(*sql.Tx) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.lock.acquire(ctx, s.busyTimeout); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer s.lock.release()
	err := s.retry(ctx, func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// retry runs fn again while it fails with SQLITE_BUSY, for at most the busy
// timeout. The busy timeout makes SQLite wait for a lock itself, but some
// paths return busy at once: a WAL file being recovered after a crash, the
// journal mode switch of a new database. A busy that comes after the full
// timeout is not retried: the lock is held for good.
func (s *Store) retry(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(s.busyTimeout)
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || !isBusy(err) || attempt >= 20 {
			return err
		}
		pause := time.Duration(1+rand.IntN(1<<min(attempt, 6))) * time.Millisecond
		if time.Now().Add(pause).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
}

func isBusy(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY
}

// stmt returns query prepared, in tx when tx is not nil.
func (s *Store) stmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	st := s.stmts[query]
	if st == nil {
		err := s.retry(ctx, func() (err error) {
			st, err = s.db.PrepareContext(ctx, query)
			return err
		})
		if err != nil {
			s.stmtMu.Unlock()
			return nil, err
		}
		s.stmts[query] = st
	}
	s.stmtMu.Unlock()
	if tx != nil {
		st = tx.StmtContext(ctx, st)
	}
	return st, nil
}

func (s *Store) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	st, err := s.stmt(ctx, tx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// scan runs a query of one row into dest; it returns sql.ErrNoRows when
// there is none.
func (s *Store) scan(ctx context.Context, tx *sql.Tx, query string, args []any, dest ...any) error {
	st, err := s.stmt(ctx, tx, query)
	if err != nil {
		return err
	}
	return st.QueryRowContext(ctx, args...).Scan(dest...)
}

// readAll runs query, whose rows are one column of JSON, and decodes each
// with decode; reset is called before each attempt.
func (s *Store) readAll(ctx context.Context, query string, args []any, decode func([]byte) error, reset func()) error {
	return s.query(ctx, query, args, func(rows *sql.Rows) error {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return err
		}
		return decode(data)
	}, reset)
}

// query runs a query outside a transaction, a single statement being a
// consistent snapshot in WAL mode, and hands each row to scan. A busy
// database may take several attempts, each after reset, so that no row is
// collected twice.
func (s *Store) query(ctx context.Context, query string, args []any, scan func(*sql.Rows) error, reset func()) error {
	return s.retry(ctx, func() error {
		reset()
		st, err := s.stmt(ctx, nil, query)
		if err != nil {
			return err
		}
		rows, err := st.QueryContext(ctx, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

const (
	// The log's weight, its newest time and its oldest entry.
	qLogSpan = `SELECT coalesce((SELECT weight FROM spam_sites WHERE site = ?1), 0),
		(SELECT max(time) FROM spam_log WHERE site = ?1), o.seq, o.time, o.weight
		FROM (SELECT 1) LEFT JOIN (SELECT seq, time, weight FROM spam_log WHERE site = ?1
		ORDER BY time, seq LIMIT 1) o ON 1`
	qOldest = `SELECT seq, time, weight FROM spam_log WHERE site = ?
		ORDER BY time, seq LIMIT 1`
	qSetWeight = `INSERT INTO spam_sites (site, weight) VALUES (?, ?)
		ON CONFLICT (site) DO UPDATE SET weight = excluded.weight`
	qInsertSpam = `INSERT INTO spam_log (site, time, weight, submission, event) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (site, submission) WHERE submission IS NOT NULL DO NOTHING`
	qDropSeq    = "DELETE FROM spam_log WHERE seq = ?"
	qWeightUpTo = "SELECT coalesce(sum(weight), 0) FROM spam_log WHERE site = ? AND time <= ?"
	qSpamLog    = `SELECT event FROM spam_log
		WHERE site = ? AND time > ? AND time <= ? ORDER BY time, seq`
	qDisable = `INSERT INTO disabled (site, incident, since) VALUES (?, ?, ?)
		ON CONFLICT (site) DO NOTHING`
	qAddIncident = `INSERT INTO incidents (id, site, time, incident) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET site = excluded.site, time = excluded.time, incident = excluded.incident`
	qDisabled   = "SELECT incident FROM disabled WHERE site = ?"
	qEnable     = "DELETE FROM disabled WHERE site = ?"
	qClearLog   = "DELETE FROM spam_log WHERE site = ?"
	qClearSites = "DELETE FROM spam_sites WHERE site = ?"
)

// RecordSpam implements spamrun.Store, with the semantics of spamrun.Window:
// the log is first cut to the newest entries that weigh max+1 (max may
// have changed since the last call); ev is then dropped when the log
// weighs max+1 and ev is not newer than all of it, since the trip is
// known without it; otherwise it is inserted, and the oldest entries the
// newer ones make redundant go. "Newest" orders by time, then by
// insertion. An ev of a submission that an entry of the cut log has is
// not inserted: the unique index on the site and submission turns the
// insert into nothing. All of it, and the count, happen under the write
// lock.
func (s *Store) RecordSpam(ctx context.Context, site string, ev spamrun.SpamEvent, maxSpam int, window time.Duration) (int, error) {
	size := int64(1 + min(max(maxSpam, 0), spamrun.MaxSpamLimit))
	t, weight := ev.Time.UnixNano(), int64(ev.Weighs())
	event, err := json.Marshal(ev)
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: recording spam of site %q: %w", site, err)
	}
	sub := sql.NullString{String: ev.Submission, Valid: ev.Submission != ""}
	var count int64
	err = s.write(ctx, fmt.Sprintf("recording spam of site %q", site), func(tx *sql.Tx) error {
		var total int64
		var hi, oseq, otime, oweight sql.NullInt64
		if err := s.scan(ctx, tx, qLogSpan, []any{site}, &total, &hi, &oseq, &otime, &oweight); err != nil {
			return err
		}
		before, newest := total, hi.Int64
		// oldest is the log's oldest entry while known is true.
		oldest, known := logEntry{oseq.Int64, otime.Int64, oweight.Int64}, oseq.Valid
		readOldest := func() error {
			if known {
				return nil
			}
			known = true
			return s.scan(ctx, tx, qOldest, []any{site}, &oldest.seq, &oldest.time, &oldest.weight)
		}
		// trim drops the oldest entries while the rest weigh size. Every
		// entry weighs at least 1, so a log that weighs size or less has
		// nothing to drop, and the common decision, one entry in and one
		// out, reads no entry beyond the one qLogSpan found.
		trim := func() error {
			for total > size {
				if err := readOldest(); err != nil {
					return err
				}
				if total-oldest.weight < size {
					return nil
				}
				if _, err := s.exec(ctx, tx, qDropSeq, oldest.seq); err != nil {
					return err
				}
				total, known = total-oldest.weight, false
			}
			return nil
		}
		if err := trim(); err != nil {
			return err
		}
		if total >= size {
			if err := readOldest(); err != nil {
				return err
			}
		}
		insert := total < size || t > oldest.time
		if insert {
			res, err := s.exec(ctx, tx, qInsertSpam, site, t, weight, sub, event)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			// An entry of the same submission makes the insert do nothing.
			insert = n == 1
			if insert && (total == 0 || t < oldest.time) {
				seq, err := res.LastInsertId()
				if err != nil {
					return err
				}
				oldest, known = logEntry{seq, t, weight}, true
			}
		}
		if insert {
			if !hi.Valid || t > newest {
				newest = t
			}
			total += weight
			if err := trim(); err != nil {
				return err
			}
		}
		if total != before {
			if _, err := s.exec(ctx, tx, qSetWeight, site, total); err != nil {
				return err
			}
		}
		// Summing what lies outside the window reads the fewest entries
		// when it matters: a site about to trip has nearly its whole log
		// inside.
		var outside int64
		err = s.scan(ctx, tx, qWeightUpTo, []any{site, newest - int64(window)}, &outside)
		count = total - outside
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: %w", err)
	}
	return int(count), nil
}

// logEntry is what RecordSpam reads of an entry of the spam log.
type logEntry struct{ seq, time, weight int64 }

// SpamLog implements spamrun.Store.
func (s *Store) SpamLog(ctx context.Context, site string, now time.Time, window time.Duration) ([]spamrun.SpamEvent, error) {
	end := now.UnixNano()
	var evs []spamrun.SpamEvent
	err := s.readAll(ctx, qSpamLog, []any{site, end - int64(window), end}, func(data []byte) error {
		var ev spamrun.SpamEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			return err
		}
		evs = append(evs, ev)
		return nil
	}, func() { evs = nil })
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: reading spam log of site %q: %w", site, err)
	}
	return evs, nil
}

// SetDisabled implements spamrun.Store. The incident that disables the site
// is also added to the history Incidents reads; an incident with the ID of
// one already there replaces it.
func (s *Store) SetDisabled(ctx context.Context, site string, inc *spamrun.Incident) (*spamrun.Incident, bool, error) {
	if inc == nil {
		return nil, false, fmt.Errorf("sqlitestore: disabling site %q: no incident", site)
	}
	data, err := json.Marshal(inc)
	if err != nil {
		return nil, false, fmt.Errorf("sqlitestore: disabling site %q: %w", site, err)
	}
	since := inc.Time.UnixNano()
	var cur *spamrun.Incident
	changed := false
	err = s.write(ctx, fmt.Sprintf("disabling site %q", site), func(tx *sql.Tx) error {
		cur, changed = nil, false
		res, err := s.exec(ctx, tx, qDisable, site, data, since)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			cur, err = s.disabled(ctx, tx, site)
			return err
		}
		if _, err := s.exec(ctx, tx, qAddIncident, inc.ID, site, since, data); err != nil {
			return err
		}
		cur, changed = inc, true
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("sqlitestore: %w", err)
	}
	return cur, changed, nil
}

// disabled reads the incident in force for site, nil when it is enabled.
func (s *Store) disabled(ctx context.Context, tx *sql.Tx, site string) (*spamrun.Incident, error) {
	var data []byte
	err := s.scan(ctx, tx, qDisabled, []any{site}, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	inc := new(spamrun.Incident)
	if err := json.Unmarshal(data, inc); err != nil {
		return nil, err
	}
	return inc, nil
}

// Disabled implements spamrun.Store.
func (s *Store) Disabled(ctx context.Context, site string) (*spamrun.Incident, error) {
	var inc *spamrun.Incident
	err := s.retry(ctx, func() (err error) {
		inc, err = s.disabled(ctx, nil, site)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: state of site %q: %w", site, err)
	}
	return inc, nil
}

// Enable implements spamrun.Store. The site's incidents stay in the history.
func (s *Store) Enable(ctx context.Context, site string) error {
	err := s.write(ctx, fmt.Sprintf("enabling site %q", site), func(tx *sql.Tx) error {
		for _, q := range []string{qEnable, qClearLog, qClearSites} {
			if _, err := s.exec(ctx, tx, q, site); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: %w", err)
	}
	return nil
}

// Incidents returns the incidents that disabled site, newest first, or those
// of every site when site is "". Re-enabling a site keeps its incidents.
func (s *Store) Incidents(ctx context.Context, site string) ([]*spamrun.Incident, error) {
	query, args := "SELECT incident FROM incidents ORDER BY time DESC, id DESC", []any{}
	if site != "" {
		query, args = "SELECT incident FROM incidents WHERE site = ? ORDER BY time DESC, id DESC", []any{site}
	}
	var incs []*spamrun.Incident
	err := s.readAll(ctx, query, args, func(data []byte) error {
		inc := new(spamrun.Incident)
		if err := json.Unmarshal(data, inc); err != nil {
			return err
		}
		incs = append(incs, inc)
		return nil
	}, func() { incs = nil })
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: reading incidents: %w", err)
	}
	return incs, nil
}

const (
	qIncident       = "SELECT incident FROM incidents WHERE id = ? AND site = ?"
	qUpdateIncident = "UPDATE incidents SET incident = ? WHERE id = ?"
	qUpdateDisabled = "UPDATE disabled SET incident = ? WHERE site = ?"
)

// SetEnforced implements spamrun.IncidentLog, in one write transaction: the
// incident in the history and, when the site is still disabled by it, in
// the disabled flag.
func (s *Store) SetEnforced(ctx context.Context, site, id string, e spamrun.Enforcement) error {
	err := s.write(ctx, fmt.Sprintf("recording enforcement of incident %q of site %q", id, site), func(tx *sql.Tx) error {
		var data []byte
		err := s.scan(ctx, tx, qIncident, []any{id, site}, &data)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		inc := new(spamrun.Incident)
		if err := json.Unmarshal(data, inc); err != nil {
			return err
		}
		if err := s.saveEnforced(ctx, tx, qUpdateIncident, inc, e, id); err != nil {
			return err
		}
		cur, err := s.disabled(ctx, tx, site)
		if err != nil || cur == nil || cur.ID != id {
			return err
		}
		return s.saveEnforced(ctx, tx, qUpdateDisabled, cur, e, site)
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: %w", err)
	}
	return nil
}

// saveEnforced sets e on inc and writes it back with update, whose second
// parameter is key.
func (s *Store) saveEnforced(ctx context.Context, tx *sql.Tx, update string, inc *spamrun.Incident, e spamrun.Enforcement, key string) error {
	inc.Enforced = &e
	data, err := json.Marshal(inc)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, tx, update, data, key)
	return err
}

// Prune drops the spam logs whose newest entry is at or before cutoff, as
// spamrun.MemoryStore.Prune does, so that the file does not keep a log for
// every site that ever sent spam: a long-running process calls it with
// now minus the longest window. Disabled flags and incidents are kept. It
// returns how many sites' logs it dropped.
func (s *Store) Prune(ctx context.Context, cutoff time.Time) (int, error) {
	const stale = "SELECT site FROM spam_log GROUP BY site HAVING max(time) <= ?"
	var n int64
	err := s.write(ctx, "pruning spam logs", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM spam_sites WHERE site IN ("+stale+")", cutoff.UnixNano())
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM spam_log WHERE site IN ("+stale+")", cutoff.UnixNano())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: %w", err)
	}
	return int(n), nil
}
