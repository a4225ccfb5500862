package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"time"

	"github.com/spamrun/spamrun/internal/safeexec"
)

// Command delivers by running another MTA's sendmail program, such as
// /usr/sbin/sendmail.postfix, with the message on its stdin exactly as
// Deliver reads it.
//
// The command line is Argv followed by
//
//	-i -f<sender> -- <recipient>...
//
// where <sender> is "<>" for the null sender (Postfix, Exim and Sendmail
// all read it so). -i keeps a line holding a single dot from ending the
// message early; it is added even if Argv has it, which every sendmail
// accepts. The sender is joined to -f so that no option parser can take it
// for an option of its own, and "--" ends the options so that a recipient
// such as "-oQ/tmp" is an address, not a flag. Envelope.SMTPUTF8 is not
// passed on: there is no portable flag, and Postfix detects it itself.
//
// A run hands over at most MaxRecipients recipients; more go in further
// runs, each with the whole message. When a run fails, Deliver's *Error
// lists that run's recipients in Rcpts with its status, and those of the
// runs that succeeded are delivered. A permanent failure concerns only its
// run's recipients, and the next run goes on; after a temporary one,
// which says the program or the system is in trouble, the recipients
// still to go wait for the next attempt with them.
//
// No shell runs: the program is executed directly, in "/", with only a
// fixed PATH in its environment. Exit status 0 means delivered. 75
// (EX_TEMPFAIL) and 71 (EX_OSERR), a signal, a timeout, a program that
// cannot be started and a cancelled context are temporary; any other
// status is permanent, with the RFC 3463 status Postfix uses for it. A
// command still running after Timeout is killed together with every
// process it started.
type Command struct {
	// Argv is the program and its first arguments. The program is an
	// absolute path, or a bare name looked up in
	// /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin.
	Argv []string
	// Timeout bounds one run; 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxRecipients is the most recipients of one run; 0 means
	// DefaultMaxRecipients. It keeps the command line well within the
	// system's limit on arguments, too.
	MaxRecipients int
}

var _ Relay = (*Command)(nil)

// ParseCommand splits a command template, the [relay] command of the
// config file, into a Command's Argv. Words are separated by blanks and
// may be quoted as in a shell ('single', "double", backslash), but
// nothing is expanded: a $, `, |, ;, &, <, >, ( or ) outside quotes is
// refused, because whoever wrote it expected a shell that will not run.
func ParseCommand(template string) (*Command, error) {
	argv, err := safeexec.Parse(template)
	if err != nil {
		return nil, fmt.Errorf("%w: command: %w", ErrBadConfig, err)
	}
	return &Command{Argv: argv}, nil
}

// CommandLine returns the argv Deliver runs for env, with the program as
// written in Argv.
func (c *Command) CommandLine(env Envelope) []string {
	sender := env.From
	if sender == "" {
		sender = "<>"
	}
	argv := make([]string, 0, len(c.Argv)+3+len(env.To))
	argv = append(argv, c.Argv...)
	argv = append(argv, "-i", "-f"+sender, "--")
	return append(argv, env.To...)
}

// errCommandTimeout marks the cancellation that Timeout causes.
var errCommandTimeout = errors.New("relay: command timeout")

// Deliver runs the command with the message on its stdin, once for each
// batch of recipients.
func (c *Command) Deliver(ctx context.Context, env Envelope, data io.Reader) error {
	if err := c.deliver(ctx, env, data); err != nil {
		if len(c.Argv) > 0 {
			err.via = "command " + c.Argv[0]
		} else {
			err.via = "command"
		}
		return err
	}
	return nil
}

func (c *Command) deliver(ctx context.Context, env Envelope, data io.Reader) *Error {
	if err := env.check(); err != nil {
		return err
	}
	if len(c.Argv) == 0 {
		return &Error{Enhanced: "4.3.5", Message: "no command to run", kind: ErrBadConfig}
	}
	size := batchSize(c.MaxRecipients)
	msg := newMessage(data, len(env.To) > size)
	var out outcome
	for pending := env.To; len(pending) > 0; {
		batch := pending[:min(len(pending), size)]
		pending = pending[len(batch):]
		e := c.runBatch(ctx, Envelope{From: env.From, To: batch, SMTPUTF8: env.SMTPUTF8}, msg)
		if e == nil {
			out.delivered += len(batch)
			continue
		}
		out.fail(batch, e)
		if e.Temporary() {
			out.fail(pending, e)
			break
		}
	}
	return out.err()
}

// runBatch runs the command once, for the recipients of env.
func (c *Command) runBatch(ctx context.Context, env Envelope, msg *message) *Error {
	data, err := msg.open()
	if err != nil {
		return readFailed(err)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	runCtx, cancel := context.WithTimeoutCause(ctx, timeout, errCommandTimeout)
	defer cancel()

	cmd, err := safeexec.Command(runCtx, c.CommandLine(env))
	if err != nil {
		return &Error{Enhanced: "4.3.5", Err: err, kind: ErrBadConfig}
	}
	stderr := new(safeexec.Tail)
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return &Error{Enhanced: "4.3.0", Err: err}
	}
	if err := cmd.Start(); err != nil {
		return &Error{Enhanced: "4.3.0", Err: err}
	}

	src := &readErrRecorder{r: data}
	// A write error means the program stopped reading; its exit status
	// says why, so only a read error is acted on here.
	_, _ = io.Copy(stdin, src)
	if src.err != nil {
		// Kill before stdin closes: end of input would tell the program
		// the truncated message is complete. Wait closes stdin only
		// after the process is gone.
		cancel()
		_ = cmd.Wait()
		return readFailed(src.err)
	}
	stdin.Close()
	err = cmd.Wait()

	var exit *exec.ExitError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return &Error{Enhanced: "4.3.0", Err: context.Cause(ctx), Message: stderr.String()}
	case context.Cause(runCtx) == errCommandTimeout:
		return &Error{Enhanced: "4.3.0", Err: fmt.Errorf("killed after the %v timeout: %w", timeout, context.DeadlineExceeded), Message: stderr.String()}
	case errors.As(err, &exit) && exit.Exited():
		status := exitStatus(exit.ExitCode())
		return &Error{Enhanced: status, Err: err, Message: stderr.String()}
	}
	return &Error{Enhanced: "4.3.0", Err: err, Message: stderr.String()}
}

// exitStatus maps a sendmail exit status (sysexits.h) to the RFC 3463
// status Postfix's pipe(8) gives it: EX_TEMPFAIL and EX_OSERR are worth
// another try, the rest are not, and a status outside sysexits is a
// permanent 5.3.0.
func exitStatus(code int) string {
	switch code {
	case 65: // EX_DATAERR
		return "5.6.0"
	case 67: // EX_NOUSER
		return "5.1.1"
	case 68: // EX_NOHOST
		return "5.1.2"
	case 71, 75: // EX_OSERR, EX_TEMPFAIL
		return "4.3.0"
	case 73: // EX_CANTCREAT
		return "5.2.0"
	case 76: // EX_PROTOCOL
		return "5.5.0"
	case 77: // EX_NOPERM
		return "5.7.0"
	case 78: // EX_CONFIG
		return "5.3.5"
	}
	return "5.3.0"
}
