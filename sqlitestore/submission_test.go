package sqlitestore

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
)

// TestMigrateVersion4 opens a database whose log holds weighted entries
// of before submissions: they keep their weights and count with the next
// decision, and an entry without a submission is no submission's, not
// even the empty one's.
func TestMigrateVersion4(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	at := func(min int) string { return strconv.FormatInt(t0.Add(time.Duration(min)*time.Minute).UnixNano(), 10) }
	for _, q := range []string{
		migrations[0],
		migrations[1],
		migrations[2],
		migrations[3],
		"PRAGMA user_version = 4",
		"INSERT INTO spam_log (site, time, weight, event) VALUES ('shop1', " + at(0) + `, 40, '{"time":"2024-03-01T12:00:00Z","message_id":"old0","weight":40}')`,
		"INSERT INTO spam_log (site, time, weight, event) VALUES ('shop1', " + at(1) + `, 2, '{"time":"2024-03-01T12:01:00Z","message_id":"old1","weight":2}')`,
		"INSERT INTO spam_sites (site, weight) VALUES ('shop1', 42)",
	} {
		if _, err := db.Exec(q); err != nil {
			db.Close()
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.migrated != len(migrations)-4 {
		t.Errorf("a version 4 database got %d migrations, want %d", s.migrated, len(migrations)-4)
	}
	if v := userVersion(t, path); v != len(migrations) {
		t.Errorf("user_version = %d, want %d", v, len(migrations))
	}
	record := func(ev spamrun.SpamEvent, want int) {
		t.Helper()
		if n, err := s.RecordSpam(ctx, "shop1", ev, 100, time.Hour); err != nil || n != want {
			t.Errorf("RecordSpam(%s of submission %q) = %d, %v; want %d", ev.MessageID, ev.Submission, n, err, want)
		}
	}
	sub := spamrun.SpamEvent{Time: t0.Add(2 * time.Minute), MessageID: "new", Submission: "20240301T120200.000000-0123456789", Weight: 3}
	record(sub, 45)
	record(sub, 45)
	record(spamrun.SpamEvent{Time: t0.Add(3 * time.Minute), MessageID: "none", Weight: 1}, 46)
	evs, err := s.SpamLog(ctx, "shop1", t0.Add(3*time.Minute), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ev := range evs {
		ids = append(ids, ev.MessageID)
	}
	if !slices.Equal(ids, []string{"old0", "old1", "new", "none"}) || spamrun.SpamWeight(evs) != 46 {
		t.Errorf("SpamLog = %q weighing %d, want old0, old1, new, none weighing 46", ids, spamrun.SpamWeight(evs))
	}
}
