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
	qRecordScript = `INSERT INTO scripts (site, script_key, script, cwd, first, last, count)
		VALUES (?1, ?2, ?3, ?4, ?5, ?5, 1)
		ON CONFLICT (site, script_key) DO UPDATE SET
			script = CASE WHEN excluded.last >= last THEN excluded.script ELSE script END,
			cwd    = CASE WHEN excluded.last >= last THEN excluded.cwd ELSE cwd END,
			first  = min(first, excluded.first),
			last   = max(last, excluded.last),
			count  = count + 1`
	qCountScripts = "SELECT count(*) FROM scripts WHERE site = ?"
	qEvictScripts = `DELETE FROM scripts WHERE site = ?1 AND script_key IN
		(SELECT script_key FROM scripts WHERE site = ?1 ORDER BY last, script_key LIMIT ?2)`
	qScripts = `SELECT script, cwd, first, last, count FROM scripts
		WHERE site = ? ORDER BY last DESC, script_key DESC`
)

// RecordScript implements spamrun.ScriptHistory, in one write transaction,
// so that submissions from any number of processes are each counted once.
func (s *Store) RecordScript(ctx context.Context, site string, seen spamrun.ScriptSeen) error {
	key := spamrun.ScriptKey(seen.Script, seen.Cwd)
	if key == "" {
		return nil
	}
	script, cwd, t := strings.TrimSpace(seen.Script), strings.TrimSpace(seen.Cwd), seen.Last.UnixNano()
	err := s.write(ctx, fmt.Sprintf("recording script of site %q", site), func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, qRecordScript, site, key, script, cwd, t); err != nil {
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
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: %w", err)
	}
	return nil
}

// Scripts implements spamrun.ScriptHistory.
func (s *Store) Scripts(ctx context.Context, site string) ([]spamrun.ScriptSeen, error) {
	var out []spamrun.ScriptSeen
	err := s.retry(ctx, func() error {
		out = nil
		st, err := s.stmt(ctx, nil, qScripts)
		if err != nil {
			return err
		}
		rows, err := st.QueryContext(ctx, site)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var seen spamrun.ScriptSeen
			var first, last int64
			if err := rows.Scan(&seen.Script, &seen.Cwd, &first, &last, &seen.Count); err != nil {
				return err
			}
			seen.First, seen.Last = time.Unix(0, first), time.Unix(0, last)
			out = append(out, seen)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: reading scripts of site %q: %w", site, err)
	}
	return out, nil
}
