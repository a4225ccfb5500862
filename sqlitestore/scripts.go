package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/spamrun/spamrun"
)

// The SET expressions of an upsert all read the row as it was, so the
// script and directory follow the latest time, whatever order the
// submissions come in.
const (
	qRecordScript = `INSERT INTO scripts (site, script_key, script, cwd, first, last, count, spam)
		VALUES (?1, ?2, ?3, ?4, ?5, ?5, 1, ?6)
		ON CONFLICT (site, script_key) DO UPDATE SET
			script = CASE WHEN excluded.last >= last THEN excluded.script ELSE script END,
			cwd    = CASE WHEN excluded.last >= last THEN excluded.cwd ELSE cwd END,
			first  = min(first, excluded.first),
			last   = max(last, excluded.last),
			count  = count + 1,
			spam   = spam + excluded.spam`
	qCountScripts = "SELECT count(*) FROM scripts WHERE site = ?"
	qEvictScripts = `DELETE FROM scripts WHERE site = ?1 AND script_key IN
		(SELECT script_key FROM scripts WHERE site = ?1 ORDER BY last, script_key LIMIT ?2)`
	qScripts = `SELECT script, cwd, first, last, count, spam FROM scripts
		WHERE site = ? ORDER BY last DESC, script_key DESC`

	qCountMinute = `INSERT INTO activity (site, minute, script_key, legit, spam)
		VALUES (?1, ?2, ?3, 1 - ?4, ?4)
		ON CONFLICT (site, minute, script_key) DO UPDATE SET
			legit = legit + excluded.legit,
			spam  = spam + excluded.spam`
	qPruneActivity = "DELETE FROM activity WHERE site = ? AND minute < ?"
	qActivity      = `SELECT minute, script_key, legit, spam FROM activity
		WHERE site = ? AND minute >= ? AND minute < ? ORDER BY minute, script_key`
)

// RecordScript implements spamrun.ScriptHistory, in one write transaction,
// so that submissions from any number of processes are each counted once,
// and every sendmail run pays for one commit, not two. The site's minutes
// that lie spamrun.ActivityRetention before the submission's go in the same
// transaction: a range of the primary key, usually empty.
func (s *Store) RecordScript(ctx context.Context, site string, sub spamrun.Submission) error {
	key := spamrun.ScriptKey(sub.Script, sub.Cwd)
	minute := sub.Time.UTC().Truncate(time.Minute)
	spam := 0
	if sub.Spam {
		spam = 1
	}
	err := s.write(ctx, fmt.Sprintf("recording script of site %q", site), func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, qCountMinute, site, minute.Unix(), key, spam); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, qPruneActivity, site, minute.Add(-spamrun.ActivityRetention).Unix()); err != nil {
			return err
		}
		if key == "" {
			return nil
		}
		return s.recordScript(ctx, tx, site, key, sub, spam)
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: %w", err)
	}
	return nil
}

// recordScript counts sub in the history of its script, key, and evicts
// the least recently seen beyond spamrun.MaxScripts.
func (s *Store) recordScript(ctx context.Context, tx *sql.Tx, site, key string, sub spamrun.Submission, spam int) error {
	script, cwd := strings.TrimSpace(sub.Script), strings.TrimSpace(sub.Cwd)
	if _, err := s.exec(ctx, tx, qRecordScript, site, key, script, cwd, sub.Time.UnixNano(), spam); err != nil {
		return err
	}
	var n int
	if err := s.scan(ctx, tx, qCountScripts, []any{site}, &n); err != nil {
		return err
	}
	if n > spamrun.MaxScripts {
		_, err := s.exec(ctx, tx, qEvictScripts, site, n-spamrun.MaxScripts)
		return err
	}
	return nil
}

// Scripts implements spamrun.ScriptHistory.
func (s *Store) Scripts(ctx context.Context, site string) ([]spamrun.ScriptSeen, error) {
	var out []spamrun.ScriptSeen
	err := s.query(ctx, qScripts, []any{site}, func(rows *sql.Rows) error {
		var seen spamrun.ScriptSeen
		var first, last int64
		if err := rows.Scan(&seen.Script, &seen.Cwd, &first, &last, &seen.Count, &seen.Spam); err != nil {
			return err
		}
		seen.First, seen.Last = time.Unix(0, first), time.Unix(0, last)
		out = append(out, seen)
		return nil
	}, func() { out = nil })
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: reading scripts of site %q: %w", site, err)
	}
	return out, nil
}

// Activity implements spamrun.ScriptHistory.
func (s *Store) Activity(ctx context.Context, site string, from, to time.Time) ([]spamrun.Minute, error) {
	var out []spamrun.Minute
	err := s.query(ctx, qActivity, []any{site, ceilUnix(from), ceilUnix(to)}, func(rows *sql.Rows) error {
		var m spamrun.Minute
		var minute int64
		if err := rows.Scan(&minute, &m.Script, &m.Legit, &m.Spam); err != nil {
			return err
		}
		m.Time = time.Unix(minute, 0).UTC()
		out = append(out, m)
		return nil
	}, func() { out = nil })
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: reading activity of site %q: %w", site, err)
	}
	return out, nil
}

// ceilUnix is the first whole second at or after t, in Unix seconds: a
// minute, which starts on a whole second, starts at or after t exactly
// when it starts at or after ceilUnix(t).
func ceilUnix(t time.Time) int64 {
	if t.Nanosecond() > 0 {
		return t.Unix() + 1
	}
	return t.Unix()
}
