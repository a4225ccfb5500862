// Package sendmailargs reads a sendmail command line as Postfix's
// sendmail(1) does. It depends on nothing of spamrun's, so that the small
// front program installed as /usr/sbin/sendmail can tell what it is asked
// to do without linking the rest; the addresses are checked by functions
// the caller hands in.
package sendmailargs

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Mode is what a sendmail invocation does.
type Mode int

const (
	Deliver Mode = iota // -bm, the default: read one message and submit it
	SMTP                // -bs: an SMTP dialogue on stdin and stdout
	List                // -bp, mailq: list the queue
	Flush               // -q: one queue pass
	NoAlias             // -bi, -I, newaliases: there is no alias database
)

// Options is what the command line asks for.
type Options struct {
	Mode       Mode
	Extract    bool   // -t: recipients from the header
	DotEnds    bool   // a line with a single "." ends input; off with -i, -oi
	Sender     string // -f, -r; "" is the null sender when SenderSet
	SenderSet  bool
	FullName   string // -F
	Verbose    bool   // -v
	Recipients []string
}

// UsageError is a command line that cannot be carried out; exit 64.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// Addresses checks the addresses of a command line. A nil function takes
// the words as they are.
type Addresses struct {
	// Sender returns the address of a -f or -r value.
	Sender func(string) (string, error)
	// Recipients returns the addresses of one recipient word, which may
	// hold a list.
	Recipients func(string) ([]string, error)
}

// withArgument lists the options that take a value, as Postfix's sendmail
// does ("B:C:F:L:N:O:R:V:X:b:e:f:h:o:p:q:r:"); every other known letter is
// a flag. Knowing which take a value matters even for ignored options:
// "-e x" must not make x a recipient.
const (
	withArgument = "BCFLNORVXbefhopqr"
	flags        = "46GIUcimntvx"
)

// Parse reads a sendmail command line as Postfix does. Options stop at
// "--" or at the first word that is not an option (POSIX getopt, as Postfix
// uses it on Linux); the words after are recipients. Options Postfix accepts
// and ignores are accepted and ignored; a letter it does not know is a
// usage error, as there.
func Parse(argv0 string, args []string, addrs Addresses) (*Options, error) {
	o := &Options{Mode: Deliver, DotEnds: true}
	switch filepath.Base(argv0) {
	case "mailq":
		o.Mode = List
	case "newaliases":
		o.Mode = NoAlias
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
			o.Mode = Flush
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
			if err := o.option(c, value, addrs.Sender); err != nil {
				return nil, err
			}
			break
		}
	}
	for _, arg := range args[i:] {
		rcpts, err := recipientArg(arg, addrs.Recipients)
		if err != nil {
			return nil, err
		}
		o.Recipients = append(o.Recipients, rcpts...)
	}
	return o, o.check()
}

// recipientArg reads one recipient word: an address, or a list of them as
// Postfix allows ("a@x.example, Bo <b@y.example>"). A word holding a line
// break or NUL is refused whole, before it is split: read as a list, its
// second line could pass for an address of its own while the first went
// missing.
func recipientArg(arg string, parse func(string) ([]string, error)) ([]string, error) {
	if strings.ContainsAny(arg, "\r\n\x00") {
		return nil, usagef("bad recipient argument %q: it holds a line break or NUL", arg)
	}
	if parse == nil {
		return []string{arg}, nil
	}
	rcpts, err := parse(arg)
	if err != nil {
		return nil, usagef("bad recipient address: %v", err)
	}
	if len(rcpts) == 0 {
		return nil, usagef("bad recipient address %q: it holds no address", arg)
	}
	return rcpts, nil
}

func (o *Options) flag(c byte) error {
	switch c {
	case 't':
		o.Extract = true
	case 'i':
		o.DotEnds = false
	case 'v':
		o.Verbose = true
	case 'I':
		o.Mode = NoAlias
	case 'n':
		return usagef("option -n is not supported")
	}
	return nil
}

func (o *Options) option(c byte, value string, sender func(string) (string, error)) error {
	switch c {
	case 'b':
		switch value {
		case "m":
			o.Mode = Deliver
		case "s":
			o.Mode = SMTP
		case "p":
			o.Mode = List
		case "i":
			o.Mode = NoAlias
		default:
			return usagef("unsupported mode -b%s", value)
		}
	case 'f', 'r':
		addr := value
		if sender != nil {
			var err error
			if addr, err = sender(value); err != nil {
				return usagef("bad sender address in -%c: %v", c, err)
			}
		}
		o.Sender, o.SenderSet = addr, true
	case 'F':
		if strings.ContainsAny(value, "\r\n\x00") {
			return usagef("bad full name in -F: it contains a line break")
		}
		o.FullName = value
	case 'o':
		if value == "i" {
			o.DotEnds = false
		}
	case 'q':
		o.Mode = Flush // -q30m, -qR site, -qI id: one pass is what spamrun offers
	}
	return nil
}

func (o *Options) check() error {
	switch {
	case o.Mode == SMTP && len(o.Recipients) > 0:
		return usagef("-bs takes no recipients")
	case o.Mode == Deliver && !o.Extract && len(o.Recipients) == 0:
		return usagef("no recipients: give them on the command line or use -t")
	}
	return nil
}
