package spamruntest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildForUsers builds the Go program in the package directory pkg into a
// directory of its own that every user may enter, so that tests can run
// it as site users, and returns its path and a function that removes it.
// Call it from TestMain, before the tests run.
func BuildForUsers(pkg string) (path string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("/tmp", "spamruntest-bin-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	if err := os.Chmod(dir, 0o755); err != nil {
		cleanup()
		return "", nil, err
	}
	path = filepath.Join(dir, filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", path, pkg).CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("building %s: %v\n%s", pkg, err, out)
	}
	return path, cleanup, nil
}
