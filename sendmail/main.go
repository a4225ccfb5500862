// Command sendmail is spamrun's sendmail-compatible submission program,
// installed as /usr/sbin/sendmail so that every message a website sends
// with PHP's mail(), PHPMailer, Symfony Mailer, WordPress or cron passes
// through spamrun.
//
// It reads the message, identifies the website by the real UID it runs as,
// scores the message, records it in the shared state, writes it durably to
// the spool and relays it when the policy allows; then it exits. A website
// that was disabled for a spam run is refused with exit status 69 and one
// line on standard error that links the explanatory article, so mail()
// returns false.
//
// Usage follows Postfix's sendmail(1):
//
//	sendmail [-t] [-i|-oi] [-f sender] [-F name] [options] [--] [recipient ...]
//	sendmail -bs          an SMTP dialogue on standard input and output
//	sendmail -bp, mailq   list the queue (a website user sees its own messages)
//	sendmail -q           one pass over the queue
//
// Options Postfix accepts and ignores are accepted and ignored. Exit
// statuses follow sysexits.h: 0 accepted, 64 usage, 65 bad message, 69
// website disabled, 73 and 75 local failures, 77 permission.
package main

import (
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/spamrun/spamrun/internal/submit"
)

func main() { os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr)) }

// Exit statuses, from sysexits.h.
const (
	exOK          = submit.ExitOK
	exUsage       = submit.ExitUsage
	exDataErr     = submit.ExitDataErr
	exUnavailable = submit.ExitUnavailable
	exSoftware    = submit.ExitSoftware
	exCantCreat   = submit.ExitCantCreat
	exTempFail    = submit.ExitTempFail
	exNoPerm      = submit.ExitNoPerm
)

// run is sendmail with its process environment passed in.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	argv0 := "sendmail"
	if len(args) > 0 {
		argv0, args = args[0], args[1:]
	}
	opts, err := parseArgs(argv0, args)
	if err != nil {
		fmt.Fprintf(stderr, "sendmail: %v\n", err)
		return exUsage
	}
	// What this process creates in the spool and state belongs to the
	// group, whatever umask the website runs with: one site's 077 or 022
	// must not lock the others out.
	syscall.Umask(0o007)
	sys, err := newSystem()
	if err != nil {
		return fail(opts, stdout, stderr, err, exNoPerm)
	}
	if opts.Verbose && opts.Mode != modeSMTP {
		sys.verbose = stderr
	}
	if err := checkLimits(); err != nil {
		// A site that starves sendmail of files would make the state
		// unreachable, and its mail accepted undecided; refuse instead.
		return fail(opts, stdout, stderr, err, exTempFail)
	}
	switch opts.Mode {
	case modeNoAlias:
		fmt.Fprintln(stderr, "sendmail: spamrun keeps no alias database; nothing to do")
		return exOK
	case modeSMTP:
		return serveSMTP(sys, stdin, stdout)
	}
	m, err := newMailer(sys)
	if err != nil {
		fmt.Fprintf(stderr, "sendmail: %v\n", err)
		return exitCode(err)
	}
	defer m.close()
	switch opts.Mode {
	case modeList:
		return m.listQueue(stdout, stderr)
	case modeFlush:
		return m.flushQueue(stderr)
	}
	return m.deliverMode(opts, stdin, stderr)
}

// fail reports a failure before any work: on stderr, or as the -bs
// session's greeting, since a client reads nothing else first.
func fail(opts *options, stdout, stderr io.Writer, err error, code int) int {
	if opts.Mode == modeSMTP {
		fmt.Fprintf(stdout, "421 4.3.0 spamrun: %s\r\n", oneLine(err.Error()))
	} else {
		fmt.Fprintf(stderr, "sendmail: %v\n", err)
	}
	return code
}

// minOpenFiles is what a run needs: standard streams, the config, the
// spool, the state database with its journal and lock, the relay
// connection, syslog, and the runtime's own.
const minOpenFiles = 64

// checkLimits refuses to work under a limit of open files so low that
// opening the state could fail: the caller sets the limits, and a site
// must not be able to make sendmail fail open.
func checkLimits() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil
	}
	if lim.Cur < minOpenFiles && lim.Max > lim.Cur {
		lim.Cur = min(lim.Max, minOpenFiles)
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	if lim.Cur < minOpenFiles {
		return fmt.Errorf("the limit of open files, %d, is below the %d sendmail needs", lim.Cur, minOpenFiles)
	}
	return nil
}
