//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package sqlitestore

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/spamrun/spamrun"
)

// TestFileModes: whatever the umask of the process that creates the
// database, every process of the group must be able to write it and the
// files SQLite keeps beside it.
func TestFileModes(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts *Options
		want os.FileMode
	}{
		{"default", nil, 0o660},
		{"option", &Options{Mode: 0o600}, 0o600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := syscall.Umask(0o077)
			defer syscall.Umask(old)
			path := filepath.Join(t.TempDir(), "state.db")
			s, err := Open(path, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.RecordSpam(context.Background(), "s", spamrun.SpamEvent{Time: t0}, 1, 3600e9); err != nil {
				t.Fatal(err)
			}
			for _, suffix := range []string{"", "-wal", "-shm", "-lock"} {
				fi, err := os.Stat(path + suffix)
				if err != nil {
					t.Error(err)
					continue
				}
				if got := fi.Mode().Perm(); got != tc.want {
					t.Errorf("state.db%s has mode %v, want %v", suffix, got, tc.want)
				}
			}
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 4 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("the directory holds %q; want the database, -wal, -shm and -lock only", names)
			}
		})
	}
}

// TestExistingFileModeKept: the operator's choice of mode for an existing
// database is not undone.
func TestExistingFileModeKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode of an existing database changed to %v, %v", fi.Mode().Perm(), err)
	}
}
