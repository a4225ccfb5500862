//go:build unix

package safeexec

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"
)

func TestCommandKillsGroup(t *testing.T) {
	const timeout = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// The shell's child inherits its stderr. Were the shell killed alone,
	// the child would hold stderr open and Wait would give up on it only
	// after waitDelay.
	cmd, err := Command(ctx, []string{"/bin/sh", "-c", "sleep 30 & wait"})
	if err != nil {
		t.Fatal(err)
	}
	var stderr Tail
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	took := time.Since(start)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Exited() {
		t.Errorf("Run = %v, want death by a signal", err)
	}
	if took > timeout+waitDelay/2 {
		t.Errorf("Run took %v with a %v timeout: a child outlived the shell", took, timeout)
	}
}
