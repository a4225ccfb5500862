package submit

import (
	"errors"
	"os"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/internal/sendmailargs"
	"github.com/spamrun/spamrun/spool"
)

// ParseCommandLine reads a sendmail command line, argv[0] apart, with its
// sender and recipient addresses checked and normalised.
func ParseCommandLine(argv0 string, args []string) (*sendmailargs.Options, error) {
	return sendmailargs.Parse(argv0, args, sendmailargs.Addresses{
		Sender:     spamrun.ParseAddress,
		Recipients: spamrun.ParseAddressList,
	})
}

// Exit statuses of sendmail, from sysexits.h.
const (
	ExitOK          = 0
	ExitUsage       = 64
	ExitDataErr     = 65
	ExitUnavailable = 69
	ExitSoftware    = 70
	ExitCantCreat   = 73
	ExitTempFail    = 75
	ExitNoPerm      = 77
)

// ExitCode is sendmail's exit status for the error of reading or
// submitting a message: 0 for nil.
func ExitCode(err error) int {
	var (
		usage   *sendmailargs.UsageError
		big     *TooBigError
		refused *RefusedError
	)
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &usage), errors.Is(err, ErrNoRecipients):
		return ExitUsage
	case errors.As(err, &big), errors.Is(err, spamrun.ErrBadAddress), errors.Is(err, spool.ErrTooLarge):
		return ExitDataErr
	case errors.As(err, &refused):
		return ExitUnavailable
	case errors.Is(err, ErrSpool):
		return ExitCantCreat
	case errors.Is(err, os.ErrPermission):
		return ExitNoPerm
	}
	return ExitTempFail
}
