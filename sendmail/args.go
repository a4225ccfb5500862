package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spamrun/spamrun"
)

// mode is what a sendmail invocation does.
type mode int

const (
	modeDeliver mode = iota // -bm, the default: read one message and submit it
	modeSMTP                // -bs: an SMTP dialogue on stdin and stdout
	modeList                // -bp, mailq: list the queue
	modeFlush               // -q: one queue pass
	modeNoAlias             // -bi, -I, newaliases: there is no alias database
)

// options is what the command line asks for.
type options struct {
	mode       mode
	extract    bool   // -t: recipients from the header
	dotEnds    bool   // a line with a single "." ends input; off with -i, -oi
	sender     string // -f, -r; "" is the null sender when senderSet
	senderSet  bool
	fullName   string // -F
	verbose    bool   // -v
	recipients []string
}

// usageError is a command line that cannot be carried out; exit 64.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// withArgument lists the options that take a value, as Postfix's sendmail
// does ("B:C:F:L:N:O:R:V:X:b:e:f:h:o:p:q:r:"); every other known letter is
// a flag. Knowing which take a value matters even for ignored options:
// "-e x" must not make x a recipient.
const (
	withArgument = "BCFLNORVXbefhopqr"
	flags        = "46GIUcimntvx"
)

// parseArgs reads a sendmail command line as Postfix does. Options stop at
// "--" or at the first word that is not an option (POSIX getopt, as Postfix
// uses it on Linux); the words after are recipients. Options Postfix accepts
// and ignores are accepted and ignored; a letter it does not know is a
// usage error, as there.
func parseArgs(argv0 string, args []string) (*options, error) {
	o := &options{mode: modeDeliver, dotEnds: true}
	switch filepath.Base(argv0) {
	case "mailq":
		o.mode = modeList
	case "newaliases":
		o.mode = modeNoAlias
	}
	i := 0
	for ; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			i++
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			break
		}
		if arg == "-q" { // the one option getopt cannot express
			o.mode = modeFlush
			continue
		}
		for j := 1; j < len(arg); j++ {
			c := arg[j]
			if strings.IndexByte(flags, c) >= 0 {
				if err := o.flag(c); err != nil {
					return nil, err
				}
				continue
			}
			if strings.IndexByte(withArgument, c) < 0 {
				return nil, usagef("unknown option -%c", c)
			}
			value := arg[j+1:]
			if value == "" {
				i++
				if i == len(args) {
					return nil, usagef("option -%c requires a value", c)
				}
				value = args[i]
			}
			if err := o.option(c, value); err != nil {
				return nil, err
			}
			break
		}
	}
	for _, arg := range args[i:] {
		rcpts, err := recipientArg(arg)
		if err != nil {
			return nil, err
		}
		o.recipients = append(o.recipients, rcpts...)
	}
	return o, o.check()
}

// recipientArg reads one recipient word: an address, or a list of them as
// Postfix allows ("a@x.example, Bo <b@y.example>"). A word holding a line
// break or NUL is refused whole, before it is split: read as a list, its
// second line could pass for an address of its own while the first went
// missing.
func recipientArg(arg string) ([]string, error) {
	if strings.ContainsAny(arg, "\r\n\x00") {
		return nil, usagef("bad recipient argument %q: it holds a line break or NUL", arg)
	}
	rcpts, err := spamrun.ParseAddressList(arg)
	if err != nil {
		return nil, usagef("bad recipient address: %v", err)
	}
	if len(rcpts) == 0 {
		return nil, usagef("bad recipient address %q: it holds no address", arg)
	}
	return rcpts, nil
}

func (o *options) flag(c byte) error {
	switch c {
	case 't':
		o.extract = true
	case 'i':
		o.dotEnds = false
	case 'v':
		o.verbose = true
	case 'I':
		o.mode = modeNoAlias
	case 'n':
		return usagef("option -n is not supported")
	}
	return nil
}

func (o *options) option(c byte, value string) error {
	switch c {
	case 'b':
		switch value {
		case "m":
			o.mode = modeDeliver
		case "s":
			o.mode = modeSMTP
		case "p":
			o.mode = modeList
		case "i":
			o.mode = modeNoAlias
		default:
			return usagef("unsupported mode -b%s", value)
		}
	case 'f', 'r':
		addr, err := spamrun.ParseAddress(value)
		if err != nil {
			return usagef("bad sender address in -%c: %v", c, err)
		}
		o.sender, o.senderSet = addr, true
	case 'F':
		if strings.ContainsAny(value, "\r\n\x00") {
			return usagef("bad full name in -F: it contains a line break")
		}
		o.fullName = value
	case 'o':
		if value == "i" {
			o.dotEnds = false
		}
	case 'q':
		o.mode = modeFlush // -q30m, -qR site, -qI id: one pass is what spamrun offers
	}
	return nil
}

func (o *options) check() error {
	switch {
	case o.mode == modeSMTP && len(o.recipients) > 0:
		return usagef("-bs takes no recipients")
	case o.mode == modeDeliver && !o.extract && len(o.recipients) == 0:
		return usagef("no recipients: give them on the command line or use -t")
	}
	return nil
}
