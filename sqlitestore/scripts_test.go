package sqlitestore

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
)

// TestMigrateVersion1 opens a database as the first release left it, with
// state in it, and checks that the script history is added without
// touching that state.
func TestMigrateVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	inc := `{"id":"x","site":"shop2","time":"2024-03-01T12:00:00Z"}`
	for _, q := range []string{
		migrations[0],
		"PRAGMA user_version = 1",
		"INSERT INTO spam_log (site, time, event) VALUES ('shop1', " + strconv.FormatInt(t0.UnixNano(), 10) + `, '{"time":"2024-03-01T12:00:00Z"}')`,
		"INSERT INTO spam_sites (site, n) VALUES ('shop1', 1)",
		"INSERT INTO disabled (site, incident, since) VALUES ('shop2', '" + inc + "', 0)",
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
	if s.migrated != len(migrations)-1 {
		t.Errorf("a version 1 database got %d migrations, want %d", s.migrated, len(migrations)-1)
	}
	if v := userVersion(t, path); v != len(migrations) {
		t.Errorf("user_version = %d, want %d", v, len(migrations))
	}
	if n, err := s.RecordSpam(ctx, "shop1", spamrun.SpamEvent{Time: t0.Add(time.Minute)}, 10, time.Hour); err != nil || n != 2 {
		t.Errorf("count after migrating = %d, %v; want 2", n, err)
	}
	if got, err := s.Disabled(ctx, "shop2"); err != nil || got == nil || got.ID != "x" {
		t.Errorf("Disabled after migrating = %v, %v; want incident x", got, err)
	}
	if err := s.RecordScript(ctx, "shop1", spamrun.Submission{Time: t0, Script: "1001:contact.php", Cwd: "/var/www/shop1"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Scripts(ctx, "shop1")
	if err != nil || len(got) != 1 || got[0].Script != "1001:contact.php" || got[0].Count != 1 || !got[0].Last.Equal(t0) {
		t.Errorf("Scripts after migrating = %+v, %v; want contact.php once", got, err)
	}
}

// TestMigrateVersion2 opens a database with a script history recorded
// before spam was counted: the history keeps its counts, with no spam, and
// counts on from there, and the activity starts empty.
func TestMigrateVersion2(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	first, last := strconv.FormatInt(t0.UnixNano(), 10), strconv.FormatInt(t0.Add(time.Hour).UnixNano(), 10)
	for _, q := range []string{
		migrations[0],
		migrations[1],
		"PRAGMA user_version = 2",
		"INSERT INTO scripts (site, script_key, script, cwd, first, last, count) VALUES " +
			"('shop1', '1001:contact.php', '1001:contact.php', '/var/www/shop1', " + first + ", " + last + ", 41)",
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
	if s.migrated != len(migrations)-2 {
		t.Errorf("a version 2 database got %d migrations, want %d", s.migrated, len(migrations)-2)
	}
	want := spamrun.ScriptSeen{Script: "1001:contact.php", Cwd: "/var/www/shop1", First: t0, Last: t0.Add(time.Hour), Count: 41}
	if got, err := s.Scripts(ctx, "shop1"); err != nil || len(got) != 1 || !sameScript(got[0], want) {
		t.Errorf("Scripts after migrating = %+v, %v; want %+v", got, err, want)
	}
	if got, err := s.Activity(ctx, "shop1", t0.Add(-spamrun.ActivityRetention), t0.Add(time.Hour)); err != nil || len(got) != 0 {
		t.Errorf("Activity after migrating = %+v, %v; want none", got, err)
	}
	at := t0.Add(2 * time.Hour)
	if err := s.RecordScript(ctx, "shop1", spamrun.Submission{Time: at, Script: "1001:contact.php", Cwd: "/var/www/shop1", Spam: true}); err != nil {
		t.Fatal(err)
	}
	want.Last, want.Count, want.Spam = at, 42, 1
	if got, err := s.Scripts(ctx, "shop1"); err != nil || len(got) != 1 || !sameScript(got[0], want) {
		t.Errorf("Scripts after a spam = %+v, %v; want %+v", got, err, want)
	}
}

func sameScript(a, b spamrun.ScriptSeen) bool {
	return a.Script == b.Script && a.Cwd == b.Cwd && a.First.Equal(b.First) && a.Last.Equal(b.Last) && a.Count == b.Count && a.Spam == b.Spam
}

// BenchmarkSQLiteRecordScript is what every sendmail run adds to the
// decision: one submission of one of a site's few scripts, spread over
// many sites, a second apart.
func BenchmarkSQLiteRecordScript(b *testing.B) {
	s, _ := openTemp(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sub := spamrun.Submission{
			Time:   t0.Add(time.Duration(i) * time.Second),
			Script: "1001:s" + strconv.Itoa(i%10) + ".php",
			Cwd:    "/var/www",
			Spam:   i%7 == 0,
		}
		if err := s.RecordScript(ctx, "site"+strconv.Itoa(i%100), sub); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
