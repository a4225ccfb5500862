package spamruntest_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spamrun/spamrun/spamruntest"
)

// TestSiteUserCommandRights: a site user runs what others may execute and
// is refused, at execve, what only root may: the kernel checks the site's
// rights, not root's.
func TestSiteUserCommandRights(t *testing.T) {
	spamruntest.NeedSiteUsers(t)
	site := spamruntest.AddSiteUser(t, "srx")
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	prog := filepath.Join(dir, "true")
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prog, b, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := site.Command(ctx, nil, prog).CombinedOutput(); err != nil {
		t.Fatalf("mode 0755: %v: %s", err, out)
	}
	if err := os.Chmod(prog, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := site.Command(ctx, nil, prog).CombinedOutput(); !spamruntest.ExecDenied(err, out) {
		t.Fatalf("mode 0700, owner root: %v: %s, want permission denied", err, out)
	}
}
