// Package handoff is how the sendmail front program hands a message to
// the resident daemon, spamrun serve, over a Unix socket: the command
// line, then the front's standard input itself, passed as a file
// descriptor, so the daemon reads the message straight from the website's
// pipe. The daemon decides, spools and answers with the exit status and
// the line sendmail would have written on standard error; it relays after
// the answer. The website is the UID the kernel reports for the socket
// (SO_PEERCRED), never anything the front sends.
//
// A conversation:
//
//	front → daemon  "SPAMRUN-SENDMAIL 1\n", the argument count and each argument, length-prefixed
//	daemon → front  'G' (go on) or 'F' (fall back: run the full sendmail)
//	front → daemon  'S' with SCM_RIGHTS holding the front's standard input
//	daemon → front  'R', the exit status, the length of the text and the text
//
// The front falls back when it cannot connect, or hears neither 'G' nor
// 'F' within its timeout; its standard input is untouched then. Once it
// has sent its standard input it waits for the answer: the daemon owns
// the message.
//
// The package uses the syscall package alone, so that the front links
// neither net nor anything of spamrun's.
package handoff

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"
)

// DefaultSocket is where the front looks for spamrun serve's sendmail
// socket, [smtpd] sendmail_socket. It is set when linking, as
// config.DefaultPath is, by an installation whose socket is elsewhere:
// -ldflags "-X github.com/spamrun/spamrun/internal/handoff.DefaultSocket=PATH".
var DefaultSocket = "/run/spamrun/sendmail.sock"

// magic opens a request.
const magic = "SPAMRUN-SENDMAIL 1\n"

// The daemon's one-byte replies and the front's stdin message.
const (
	Go       = 'G'
	FallBack = 'F'
	stdinTag = 'S'
	answer   = 'R'
)

// Limits of a request: Linux passes at most 2 MiB of arguments, and a
// sendmail command line has a handful.
const (
	MaxArgs      = 1 << 16
	MaxArgsBytes = 4 << 20
	maxText      = 64 << 10
)

// errNoAnswer is a daemon that took the standard input and went away.
var errNoAnswer = errors.New("spamrun serve ended before it answered; the message may not have been accepted")

// ErrFallBack says the front should run the full sendmail: the daemon is
// not there, did not answer in time, or asked for it. The message was not
// read.
var ErrFallBack = errors.New("handoff: the daemon did not take the message")

// EncodeRequest returns the request for a command line, argv[0] first.
func EncodeRequest(argv []string) ([]byte, error) {
	if len(argv) > MaxArgs {
		return nil, fmt.Errorf("handoff: %d arguments, over %d", len(argv), MaxArgs)
	}
	b := make([]byte, 0, 256)
	b = append(b, magic...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(argv)))
	for _, a := range argv {
		b = binary.BigEndian.AppendUint32(b, uint32(len(a)))
		b = append(b, a...)
		if len(b) > MaxArgsBytes {
			return nil, fmt.Errorf("handoff: the command line is over %d bytes", MaxArgsBytes)
		}
	}
	return b, nil
}

// ReadRequest reads a request and returns its command line, argv[0]
// first.
func ReadRequest(r io.Reader) ([]string, error) {
	head := make([]byte, len(magic)+4)
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, fmt.Errorf("handoff: reading the request: %w", err)
	}
	if string(head[:len(magic)]) != magic {
		return nil, errors.New("handoff: not a sendmail request")
	}
	n := binary.BigEndian.Uint32(head[len(magic):])
	if n > MaxArgs {
		return nil, fmt.Errorf("handoff: %d arguments, over %d", n, MaxArgs)
	}
	argv := make([]string, 0, min(n, 64))
	total := 0
	var size [4]byte
	for range n {
		if _, err := io.ReadFull(r, size[:]); err != nil {
			return nil, fmt.Errorf("handoff: reading the request: %w", err)
		}
		l := int(binary.BigEndian.Uint32(size[:]))
		if total += l; total > MaxArgsBytes {
			return nil, fmt.Errorf("handoff: the command line is over %d bytes", MaxArgsBytes)
		}
		a := make([]byte, l)
		if _, err := io.ReadFull(r, a); err != nil {
			return nil, fmt.Errorf("handoff: reading the request: %w", err)
		}
		argv = append(argv, string(a))
	}
	return argv, nil
}

// EncodeAnswer returns the daemon's answer: sendmail's exit status and
// what it writes on standard error.
func EncodeAnswer(code int, stderr string) []byte {
	if len(stderr) > maxText {
		stderr = stderr[:maxText]
	}
	b := []byte{answer, byte(code)}
	b = binary.BigEndian.AppendUint32(b, uint32(len(stderr)))
	return append(b, stderr...)
}

// StdinMessage returns the front's message that carries its standard
// input, for sendmsg with the out-of-band data of syscall.UnixRights.
func StdinMessage() []byte { return []byte{stdinTag} }

// IsStdinMessage reports whether p is that message.
func IsStdinMessage(p []byte) bool { return len(p) == 1 && p[0] == stdinTag }

// Submit hands the message on the file descriptor stdin to the daemon
// listening at socket, with the command line argv, and returns the exit
// status and standard error text the daemon answered. ErrFallBack, or
// any error with stdin unread, means the caller runs the full sendmail;
// the daemon's answer must be waited for once it said 'G': after that an
// error is returned with a status of 75.
func Submit(socket string, argv []string, stdin int, timeout time.Duration) (int, string, error) {
	req, err := EncodeRequest(argv)
	if err != nil {
		return 0, "", ErrFallBack
	}
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, "", ErrFallBack
	}
	defer syscall.Close(fd)
	// Before connecting: the send timeout bounds the wait of a connect to
	// a daemon whose backlog is full, one that has stopped accepting.
	tv := syscall.NsecToTimeval(timeout.Nanoseconds())
	if syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv) != nil ||
		syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv) != nil {
		return 0, "", ErrFallBack
	}
	if err := retry(func() error { return syscall.Connect(fd, &syscall.SockaddrUnix{Name: socket}) }); err != nil {
		return 0, "", ErrFallBack
	}
	if writeAll(fd, req) != nil {
		return 0, "", ErrFallBack
	}
	var reply [1]byte
	if readFull(fd, reply[:]) != nil || reply[0] != Go {
		return 0, "", ErrFallBack // timed out, closed, or 'F'
	}
	if err := retry(func() error { return syscall.Sendmsg(fd, StdinMessage(), syscall.UnixRights(stdin), nil, 0) }); err != nil {
		// The daemon may hold the descriptor now: do not read stdin.
		return 75, "", fmt.Errorf("handing the message to spamrun serve: %w", err)
	}
	// The daemon owns the message: wait for its answer, however long
	// reading a slow website's input takes.
	var none syscall.Timeval
	syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &none)
	head := make([]byte, 6)
	if err := readFull(fd, head); err != nil || head[0] != answer {
		return 75, "", errNoAnswer
	}
	n := binary.BigEndian.Uint32(head[2:])
	if n > maxText {
		return 75, "", errors.New("spamrun serve answered with too long a text")
	}
	text := make([]byte, n)
	if err := readFull(fd, text); err != nil {
		return 75, "", errNoAnswer
	}
	return int(head[1]), string(text), nil
}

func retry(f func() error) error {
	for {
		if err := f(); err != syscall.EINTR {
			return err
		}
	}
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func readFull(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Read(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
		b = b[n:]
	}
	return nil
}
