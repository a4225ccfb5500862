// Package filterd starts the real content filters spamrun can ask, Debian's
// spamd (SpamAssassin) and rspamd, as private daemons on loopback ports,
// for tests and for the evaluation program. Each gets its own temporary
// directory, runs its checks without the network, so that results do not
// depend on the machine's resolver, and is stopped, directory and all, by
// Close.
//
// When a program is not installed, Start returns an error that matches
// exec.ErrNotFound.
package filterd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/spamrun/spamrun/internal/syncbuf"
)

// StartTimeout bounds how long a daemon may take to answer its first
// request. rspamd compiles its rules for 10-20 s on a slow machine.
const StartTimeout = 60 * time.Second

// stopTimeout is how long a daemon has to stop its children after SIGTERM
// before it is killed.
const stopTimeout = 10 * time.Second

// process is a started daemon and the directory it owns.
type process struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	dir    string
	out    syncbuf.Buffer // the daemon's stdout and stderr
}

// start runs path with args and env in p.dir, collecting its output.
func (p *process) start(path string, args []string, env []string) error {
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("filterd: starting %s: %w", p.name, err)
	}
	p.cmd = cmd
	p.exited = make(chan struct{})
	go func() { cmd.Wait(); close(p.exited) }()
	return nil
}

// waitReady calls ready until it succeeds, the daemon exits, ctx is done
// or StartTimeout passes. ready's last error is reported.
func (p *process) waitReady(ctx context.Context, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	var last error
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("filterd: %s exited during start-up: %v", p.name, p.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("filterd: %s did not answer (%v): %v", p.name, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
		if last = ready(ctx); last == nil {
			return nil
		}
	}
}

// stop ends the daemon with SIGTERM, which makes spamd and rspamd stop
// their children themselves (a kill would leave them running), and
// removes its directory.
func (p *process) stop() error {
	if p.cmd != nil {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(stopTimeout):
			p.cmd.Process.Kill()
			<-p.exited
		}
		p.cmd = nil
	}
	if p.dir == "" {
		return nil
	}
	err := os.RemoveAll(p.dir)
	p.dir = ""
	return err
}

// version runs path with --version and returns the word after "version",
// as in "SpamAssassin Server version 4.0.1" and "Rspamd daemon version 3.4".
func version(path string) (string, error) {
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("filterd: %s --version: %w", path, err)
	}
	v, ok := parseVersion(string(out))
	if !ok {
		return "", fmt.Errorf("filterd: %s --version: no version in %.80q", path, out)
	}
	return v, nil
}

func parseVersion(out string) (string, bool) {
	first, _, _ := strings.Cut(out, "\n")
	fields := strings.Fields(first)
	for i, f := range fields {
		if strings.EqualFold(f, "version") && i+1 < len(fields) {
			return fields[i+1], true
		}
	}
	return "", false
}

// lookPath finds name when path is empty. Its error matches
// exec.ErrNotFound when the program is not installed.
func lookPath(path, name string) (string, error) {
	if path != "" {
		return path, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("filterd: %w", err)
	}
	return p, nil
}

// IsNotInstalled reports whether err says a daemon's program is missing.
func IsNotInstalled(err error) bool { return errors.Is(err, exec.ErrNotFound) }

// freeAddr returns a loopback address no one listens on now. Another
// program could take the port before the daemon binds it; the daemon then
// fails to start.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("filterd: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
