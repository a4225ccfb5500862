package spamrun_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRootPackageDependencies keeps the root package light: an importer who
// wants only the in-memory detector must not pull in a database or Redis
// driver. (database/sql itself arrives through enmime's table printer; it
// is the standard library, not a driver.)
func TestRootPackageDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list dependencies with")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/spamrun/spamrun").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"sqlite", "redis", "mysql", "lib/pq", "pgx", "bbolt", "github.com/emersion/go-smtp"} {
			if strings.Contains(dep, banned) {
				t.Errorf("the root package depends on %s", dep)
			}
		}
	}
}
