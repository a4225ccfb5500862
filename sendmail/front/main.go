// Command front is the sendmail front: the small program installed as
// /usr/sbin/sendmail (as spamrun-sendmail-front) in place of the full
// spamrun-sendmail, so that PHP's mail() waits for little more than a
// process start.
//
// For a message to submit it connects to spamrun serve's sendmail socket
// and hands over its command line and its standard input (package
// handoff): the daemon identifies the website by the UID the kernel
// reports for the socket, decides, spools and answers with the exit status
// before it relays. For everything else, and whenever the daemon is not
// there or does not answer within a few milliseconds, it runs the full
// sendmail, spamrun-sendmail from its own directory, in its place, with
// the same arguments and its standard input unread: that one needs no
// daemon.
//
// The front is not setuid: it has nothing to protect, and the kernel must
// report the website's own UID for its socket. It links nothing of
// spamrun's but the command line's reader and the handoff.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spamrun/spamrun/internal/handoff"
	"github.com/spamrun/spamrun/internal/sendmailargs"
)

// fullName is the full sendmail's name, looked for beside the front.
const fullName = "spamrun-sendmail"

// timeout is how long the front waits for the daemon to take a message
// before it runs the full sendmail.
const timeout = 25 * time.Millisecond

// exTempFail is sysexits.h's EX_TEMPFAIL.
const exTempFail = 75

func main() {
	if useDaemon(os.Args) {
		code, text, err := handoff.Submit(socket(), os.Args, 0, timeout)
		if err == nil {
			os.Stderr.WriteString(text)
			os.Exit(code)
		}
		if !errors.Is(err, handoff.ErrFallBack) {
			fmt.Fprintf(os.Stderr, "sendmail: %v\n", err)
			os.Exit(code)
		}
	}
	full, err := fullSendmail()
	if err == nil {
		err = syscall.Exec(full, os.Args, os.Environ())
	}
	fmt.Fprintf(os.Stderr, "sendmail: running %s: %v\n", fullName, err)
	os.Exit(exTempFail)
}

// useDaemon says whether the command line asks to submit a message the
// daemon can take: the full sendmail does the rest, and says what is
// wrong with a command line it cannot carry out.
func useDaemon(argv []string) bool {
	if len(argv) == 0 || privileged() {
		// Installed setuid by mistake, the front would connect as the
		// installation's user, not the website's.
		return false
	}
	// A closed standard input needs no check: the Go runtime opens
	// /dev/null in its place before main, as the full sendmail reads it.
	o, err := sendmailargs.Parse(argv[0], argv[1:], sendmailargs.Addresses{})
	return err == nil && o.Mode == sendmailargs.Deliver && !o.Verbose
}

// privileged is config.Privileged, which the front does not link.
func privileged() bool {
	return os.Geteuid() != os.Getuid() || os.Getegid() != os.Getgid()
}

// socket is the daemon's socket: SPAMRUN_SENDMAIL_SOCKET, for tests and
// for a daemon configured elsewhere, or handoff.DefaultSocket. The front
// has no privilege the environment could misuse.
func socket() string {
	if p := os.Getenv("SPAMRUN_SENDMAIL_SOCKET"); p != "" {
		return p
	}
	return handoff.DefaultSocket
}

// fullSendmail returns the path of the full sendmail: beside the front's
// own file, whatever link it was started through.
func fullSendmail() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	if self, err = filepath.EvalSymlinks(self); err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(self), fullName), nil
}
