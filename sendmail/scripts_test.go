package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/spamrun/spamrun/sqlitestore"
)

// TestSendmailRecordsScripts: each accepted message counts for the script
// that sent it, in the state the operator's incident report reads.
func TestSendmailRecordsScripts(t *testing.T) {
	e := newEnv(t, "")
	msg := "X-PHP-Originating-Script: 1001:contact.php\n" + hamMessage
	for range 2 {
		if r := e.run(msg, "-t", "-i", "-forders@shop1.example"); r.code != 0 || r.stderr != "" {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
	}
	s, err := sqlitestore.Open(filepath.Join(e.dir, "state", "state.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Scripts(context.Background(), "shop1")
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if len(got) != 1 || got[0].Script != "1001:contact.php" || got[0].Cwd != wd || got[0].Count != 2 || !got[0].First.Before(got[0].Last) {
		t.Errorf("Scripts(shop1) = %+v; want 1001:contact.php in %s, twice", got, wd)
	}
}
