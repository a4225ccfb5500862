package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamruntest"
)

var t0 = spamruntest.T0

func openTemp(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s, path
}

func TestConformance(t *testing.T) {
	spamruntest.TestStore(t, func(t *testing.T) spamrun.Store {
		s, _ := openTemp(t)
		return s
	})
}

// TestReopen checks that what one process writes, the next one reads: the
// log, the flag and the incidents survive Close and Open.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := s.RecordSpam(ctx, "shop1", spamrun.SpamEvent{Time: t0.Add(time.Duration(i) * time.Minute)}, 10, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	inc := &spamrun.Incident{ID: "x", Site: "shop2", Time: t0}
	if _, _, err := s.SetDisabled(ctx, "shop2", inc); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.migrated != 0 {
		t.Errorf("reopening an up-to-date database applied %d migrations, want 0", s.migrated)
	}
	if n, err := s.RecordSpam(ctx, "shop1", spamrun.SpamEvent{Time: t0.Add(3 * time.Minute)}, 10, time.Hour); err != nil || n != 4 {
		t.Errorf("count after reopening = %d, %v; want 4", n, err)
	}
	if got, err := s.Disabled(ctx, "shop2"); err != nil || got == nil || got.ID != "x" {
		t.Errorf("Disabled after reopening = %v, %v; want incident x", got, err)
	}
	if incs, err := s.Incidents(ctx, ""); err != nil || len(incs) != 1 {
		t.Errorf("Incidents after reopening = %v, %v; want one", incs, err)
	}
}

func userVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.migrated != len(migrations) {
		t.Errorf("a new database got %d migrations, want %d", s.migrated, len(migrations))
	}
	s.Close()
	if v := userVersion(t, path); v != len(migrations) {
		t.Errorf("user_version = %d, want %d", v, len(migrations))
	}

	s, err = Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.migrated != 0 {
		t.Errorf("an up-to-date database got %d migrations, want 0", s.migrated)
	}
	s.Close()
	if v := userVersion(t, path); v != len(migrations) {
		t.Errorf("user_version after reopening = %d, want %d", v, len(migrations))
	}
}

// TestMigrationsRefuseNewerSchema: a binary rolled back after an upgrade
// must not write into a schema it does not know.
func TestMigrationsRefuseNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(path, nil)
	if err == nil {
		s.Close()
		t.Fatal("Open accepted a database of schema version 99")
	}
	if !strings.HasPrefix(err.Error(), "sqlitestore: ") || !strings.Contains(err.Error(), "newer") {
		t.Errorf("error %q does not say the schema is newer", err)
	}
}

// TestMigrationFailureRollsBack: a migration that fails leaves the version
// and the schema as they were, so that the next Open tries again.
func TestMigrationFailureRollsBack(t *testing.T) {
	saved := migrations
	defer func() { migrations = saved }()
	migrations = append(saved[:len(saved):len(saved)], "CREATE TABLE extra (x); SELECT * FROM no_such_table;")
	path := filepath.Join(t.TempDir(), "state.db")
	if s, err := Open(path, nil); err == nil {
		s.Close()
		t.Fatal("Open succeeded with a broken migration")
	}
	if v := userVersion(t, path); v != 0 {
		t.Errorf("user_version after a failed migration = %d, want 0", v)
	}
	migrations = saved
	s, err := Open(path, nil)
	if err != nil {
		t.Fatalf("Open after a failed migration: %v", err)
	}
	defer s.Close()
	if s.migrated != len(saved) {
		t.Errorf("retried migration applied %d, want %d", s.migrated, len(saved))
	}
}

func TestPathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "odd?dir#x%20")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "state.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.RecordSpam(context.Background(), "s", spamrun.SpamEvent{Time: t0}, 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the database is not where it was asked to be: %v", err)
	}
}

func TestOpenMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "state.db")
	s, err := Open(path, nil)
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded in a directory that does not exist")
	}
	if !strings.HasPrefix(err.Error(), "sqlitestore: ") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %q: want a sqlitestore: error wrapping ErrNotExist", err)
	}
}

// TestBusyTimeout holds the write lock from another connection, as a stuck
// process would: a write waits for the busy timeout and then fails, and
// succeeds when the lock comes free within it.
func TestBusyTimeout(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, &Options{BusyTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	_, err = s.RecordSpam(ctx, "s", spamrun.SpamEvent{Time: t0}, 1, time.Hour)
	if err == nil {
		t.Fatal("RecordSpam succeeded while another connection held the write lock")
	}
	if !isBusy(err) || !strings.HasPrefix(err.Error(), "sqlitestore: recording spam") {
		t.Errorf("error %q: want a busy error with context", err)
	}
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Errorf("gave up after %v, before the busy timeout", waited)
	}

	go func() {
		time.Sleep(50 * time.Millisecond)
		conn.ExecContext(ctx, "ROLLBACK")
	}()
	if n, err := recordWithin(s, 5*time.Second, spamrun.SpamEvent{Time: t0}); err != nil || n != 1 {
		t.Errorf("RecordSpam once the lock came free = %d, %v; want 1", n, err)
	}
}

// recordWithin tries RecordSpam until it succeeds or d has passed, for a
// test that frees a lock and must not fail because the machine is slow to
// notice.
func recordWithin(s *Store, d time.Duration, ev spamrun.SpamEvent) (int, error) {
	deadline := time.Now().Add(d)
	for {
		n, err := s.RecordSpam(context.Background(), "s", ev, 1, time.Hour)
		if err == nil || time.Now().After(deadline) {
			return n, err
		}
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	for _, ev := range []struct {
		site string
		min  int
	}{{"old", 0}, {"old", 10}, {"new", 5}, {"new", 50}} {
		if _, err := s.RecordSpam(ctx, ev.site, spamrun.SpamEvent{Time: t0.Add(time.Duration(ev.min) * time.Minute)}, 5, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.SetDisabled(ctx, "old", &spamrun.Incident{ID: "i", Site: "old", Time: t0}); err != nil {
		t.Fatal(err)
	}
	n, err := s.Prune(ctx, t0.Add(10*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1", n, err)
	}
	if evs, _ := s.SpamLog(ctx, "old", t0.Add(time.Hour), 24*time.Hour); len(evs) != 0 {
		t.Errorf("pruned site still has %d events", len(evs))
	}
	if evs, _ := s.SpamLog(ctx, "new", t0.Add(time.Hour), 24*time.Hour); len(evs) != 2 {
		t.Errorf("site not pruned has %d events, want 2", len(evs))
	}
	if inc, _ := s.Disabled(ctx, "old"); inc == nil {
		t.Error("Prune dropped a disabled flag")
	}
}

// TestDetector runs a spam run with each submission on a Store of its own,
// as each sendmail run opens its own.
func TestDetector(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	spamruntest.TestStoreAcrossOpens(t, func(t *testing.T) spamrun.Store {
		s, err := Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func BenchmarkSQLiteRecordSpam(b *testing.B) {
	s, _ := openTemp(b)
	ctx := context.Background()
	sites := make([]string, 100)
	for i := range sites {
		sites[i] = "site" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	ev := spamrun.SpamEvent{Score: 9, Rules: []string{"PHARMA"}, Sender: "www-data@shop.example", Recipients: 1}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ev.Time = t0.Add(time.Duration(i) * time.Millisecond)
		ev.Submission = "20261102T090000.000000-" + strconv.Itoa(i)
		if _, err := s.RecordSpam(ctx, sites[i%len(sites)], ev, 10, time.Hour); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "submissions/s")
}
