package main

import (
	"github.com/spamrun/spamrun/internal/sendmailargs"
	"github.com/spamrun/spamrun/internal/submit"
)

// options is what the command line asks for.
type options = sendmailargs.Options

// The modes of a sendmail invocation.
const (
	modeDeliver = sendmailargs.Deliver // -bm, the default: read one message and submit it
	modeSMTP    = sendmailargs.SMTP    // -bs: an SMTP dialogue on stdin and stdout
	modeList    = sendmailargs.List    // -bp, mailq: list the queue
	modeFlush   = sendmailargs.Flush   // -q: one queue pass
	modeNoAlias = sendmailargs.NoAlias // -bi, -I, newaliases: there is no alias database
)

// usageError is a command line that cannot be carried out; exit 64.
type usageError = sendmailargs.UsageError

// parseArgs reads a sendmail command line as Postfix does
// (sendmailargs.Parse), with its addresses checked.
func parseArgs(argv0 string, args []string) (*options, error) {
	return submit.ParseCommandLine(argv0, args)
}
