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
	if s.migrated != 1 {
		t.Errorf("a version 1 database got %d migrations, want 1", s.migrated)
	}
	if v := userVersion(t, path); v != 2 {
		t.Errorf("user_version = %d, want 2", v)
	}
	if n, err := s.RecordSpam(ctx, "shop1", spamrun.SpamEvent{Time: t0.Add(time.Minute)}, 10, time.Hour); err != nil || n != 2 {
		t.Errorf("count after migrating = %d, %v; want 2", n, err)
	}
	if got, err := s.Disabled(ctx, "shop2"); err != nil || got == nil || got.ID != "x" {
		t.Errorf("Disabled after migrating = %v, %v; want incident x", got, err)
	}
	if err := s.RecordScript(ctx, "shop1", spamrun.ScriptSeen{Script: "1001:contact.php", Cwd: "/var/www/shop1", Last: t0}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Scripts(ctx, "shop1")
	if err != nil || len(got) != 1 || got[0].Script != "1001:contact.php" || got[0].Count != 1 || !got[0].Last.Equal(t0) {
		t.Errorf("Scripts after migrating = %+v, %v; want contact.php once", got, err)
	}
}
