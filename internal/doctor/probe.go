package doctor

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	"golang.org/x/sys/unix"
)

// ProbeArg is the argument that makes the program Run was called from
// try the doors itself, as the user it was started as: the program must
// answer it by calling RunProbe. spamrun's is the hidden subcommand
// "spamrun doctor-probe".
const ProbeArg = "doctor-probe"

// plan is what the probe is to try, sent to it as JSON on its standard
// input.
type plan struct {
	Timeout time.Duration `json:"timeout"`
	// Binaries are run with -bs, as a program that speaks SMTP on its
	// standard input and output, the way sendmail does.
	Binaries []string `json:"binaries"`
	// Droppers are checked for the right to execute them only: running
	// postdrop would put mail in the queue.
	Droppers []string `json:"droppers"`
	SMTP     []target `json:"smtp"`
}

// target is an SMTP door: an address, and whether its port speaks TLS
// from the first byte (465, submissions).
type target struct {
	Addr string `json:"addr"`
	TLS  bool   `json:"tls,omitempty"`
}

// outcome is what a probe saw at one door, before the doctor judges it.
type outcome string

const (
	// greeted: an SMTP greeting came; observation.Greeting holds it.
	greeted outcome = "greeted"
	// denied: the kernel refused: exec or access(2) failed with EACCES
	// or EPERM.
	denied outcome = "denied"
	// allowed: access(2) says the user may execute the dropper.
	allowed outcome = "allowed"
	// refused: the connection was refused or reset, or closed before any
	// greeting.
	refused outcome = "refused"
	// silent: the program ran, or the connection was made, but no
	// greeting came: something is there that is not spamrun.
	silent outcome = "silent"
	// unanswered: the connection was neither made nor refused within the
	// timeout.
	unanswered outcome = "unanswered"
	// unreachable: no route to the address, or no such address family.
	unreachable outcome = "unreachable"
	// failed: the probe could not try the door; Detail says why.
	failed outcome = "failed"
)

// observation is the probe's answer for one door.
type observation struct {
	Door     string  `json:"door"`
	Outcome  outcome `json:"outcome"`
	Greeting string  `json:"greeting,omitempty"` // the lines of the greeting, joined by "\n"
	Detail   string  `json:"detail,omitempty"`   // the error, or what the program said instead
}

// RunProbe tries the doors of the plan read from r, as the user the
// process runs as, and writes what it saw to w as JSON. It sends no mail:
// at each door it reads the greeting, says QUIT and goes.
func RunProbe(r io.Reader, w io.Writer) error {
	var p plan
	if err := json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(&p); err != nil {
		return fmt.Errorf("doctor: reading the probe's plan: %w", err)
	}
	if p.Timeout <= 0 {
		return errors.New("doctor: the probe's plan has no timeout")
	}
	obs := make([]observation, len(p.Binaries)+len(p.Droppers)+len(p.SMTP))
	var wg sync.WaitGroup
	i := 0
	for _, path := range p.Binaries {
		o := &obs[i]
		wg.Go(func() { *o = probeBinary(path, p.Timeout) })
		i++
	}
	for _, path := range p.Droppers {
		obs[i] = probeDropper(path)
		i++
	}
	for _, t := range p.SMTP {
		o := &obs[i]
		wg.Go(func() { *o = probeSMTP(t, p.Timeout) })
		i++
	}
	wg.Wait()
	return json.NewEncoder(w).Encode(obs)
}

// probeBinary runs path -bs and reads its greeting. A program the user
// may not execute is closed; one that runs is a door, whatever it says.
func probeBinary(path string, timeout time.Duration) observation {
	o := observation{Door: path}
	ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-bs")
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	cmd.WaitDelay = timeout
	// A group of its own, to be killed with whatever it starts.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// The greeting is read from a pipe of our own, which takes a deadline.
	stdout, w, err := os.Pipe()
	if err != nil {
		return o.cannotTry(err)
	}
	defer stdout.Close()
	cmd.Stdout = w
	stdin, err := cmd.StdinPipe()
	if err != nil {
		w.Close()
		return o.cannotTry(err)
	}
	var stderr headBuffer
	cmd.Stderr = &stderr
	err = cmd.Start()
	w.Close()
	if err != nil {
		if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
			o.Outcome, o.Detail = denied, err.Error()
			return o
		}
		return o.cannotTry(err)
	}
	stdout.SetReadDeadline(time.Now().Add(timeout))
	greeting, rerr := readGreeting(bufio.NewReader(stdout))
	if greeting == "" {
		// Not a session: a program that ignores -bs may be reading a
		// message, and must not get one, not even an empty one.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		werr := cmd.Wait()
		o.Outcome = silent
		switch {
		case errors.Is(rerr, os.ErrDeadlineExceeded):
			o.Detail = fmt.Sprintf("it runs, and gave no greeting within %v", timeout)
		case werr != nil:
			o.Detail = fmt.Sprintf("it runs, and gave no greeting: %v", werr)
		default:
			o.Detail = "it runs, and gave no greeting"
		}
		if s := printable(stderr.String()); s != "" {
			o.Detail += ": " + s
		}
		return o
	}
	// QUIT, then end of input: sendmail -bs ends its session on either.
	io.WriteString(stdin, "QUIT\r\n")
	stdin.Close()
	stdout.SetReadDeadline(time.Now().Add(timeout))
	io.Copy(io.Discard, io.LimitReader(stdout, 64<<10))
	cmd.Wait()
	o.Outcome, o.Greeting = greeted, greeting
	return o
}

// probeDropper checks whether the user may execute path. A dropper such
// as postdrop is not run: it would read a message from its standard
// input and queue it.
func probeDropper(path string) observation {
	o := observation{Door: path}
	err := unix.Access(path, unix.X_OK) // for the real UID and GID
	switch {
	case err == nil:
		o.Outcome, o.Detail = allowed, "this user may execute it"
	case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM):
		o.Outcome, o.Detail = denied, fmt.Sprintf("access %s: %v", path, err)
	default:
		return o.cannotTry(fmt.Errorf("access %s: %w", path, err))
	}
	return o
}

// probeSMTP connects to t, reads the greeting and says QUIT.
func probeSMTP(t target, timeout time.Duration) observation {
	o := observation{Door: t.Addr}
	conn, err := (&net.Dialer{Timeout: timeout}).Dial("tcp", t.Addr)
	if err != nil {
		o.Outcome, o.Detail = dialOutcome(err), err.Error()
		// The door names the address already.
		if oe, ok := errors.AsType[*net.OpError](err); ok {
			o.Detail = oe.Err.Error()
		}
		return o
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	var r *bufio.Reader
	if t.TLS {
		host, _, _ := net.SplitHostPort(t.Addr)
		// Only the greeting is read, and nothing is sent but QUIT: who
		// answers matters, not whether its certificate is good.
		rec := &recordingConn{Conn: conn}
		tc := tls.Client(rec, &tls.Config{ServerName: host, InsecureSkipVerify: true})
		err := tc.Handshake()
		var plain tls.RecordHeaderError
		switch {
		case err == nil:
			conn = tc
			r = bufio.NewReader(tc)
		case errors.As(err, &plain) && plain.Conn != nil:
			// A server that greets in plain text on a TLS port, as a
			// redirect to spamrun's listener does. The handshake has
			// read the greeting's first bytes, or all of it.
			r = bufio.NewReader(io.MultiReader(bytes.NewReader(rec.read.Bytes()), conn))
		default:
			o.Outcome, o.Detail = readOutcome(err), "connected; TLS: "+err.Error()
			return o
		}
	} else {
		r = bufio.NewReader(conn)
	}
	greeting, err := readGreeting(r)
	if greeting == "" {
		o.Outcome, o.Detail = readOutcome(err), "connected; no greeting: "+err.Error()
		return o
	}
	o.Outcome, o.Greeting = greeted, greeting
	conn.SetDeadline(time.Now().Add(min(timeout, time.Second)))
	if _, err := io.WriteString(conn, "QUIT\r\n"); err == nil {
		readGreeting(r) // the 221, if it comes
	}
	return o
}

// recordingConn keeps the first 4 KiB read from a connection.
type recordingConn struct {
	net.Conn
	read bytes.Buffer
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if room := 4096 - c.read.Len(); room > 0 {
		c.read.Write(p[:min(n, room)])
	}
	return n, err
}

// dialOutcome sorts the error of a connection that was not made.
func dialOutcome(err error) outcome {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return refused
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return denied
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EAFNOSUPPORT):
		return unreachable
	case errors.As(err, &ne) && ne.Timeout():
		return unanswered
	}
	return refused
}

// readOutcome sorts the error of a connection that was made but gave no
// greeting: closed at once is a refusal, anything else is someone there.
func readOutcome(err error) outcome {
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
		return refused
	}
	return silent
}

// readGreeting reads an SMTP reply, every line of a multiline one, and
// returns its lines made printable. It stops at 20 lines of 512 bytes:
// the greeting of a real server is one or two.
func readGreeting(r *bufio.Reader) (string, error) {
	var lines []string
	for len(lines) < 20 {
		line, err := readLine(r, 512)
		if line != "" {
			lines = append(lines, printable(line))
		}
		if err != nil {
			return strings.Join(lines, "\n"), err
		}
		if len(line) < 4 || line[3] != '-' {
			break
		}
	}
	return strings.Join(lines, "\n"), nil
}

// readLine reads one line of at most max bytes, without its end.
func readLine(r *bufio.Reader, max int) (string, error) {
	var b []byte
	for len(b) < max {
		c, err := r.ReadByte()
		if err != nil {
			return string(b), err
		}
		if c == '\n' {
			break
		}
		b = append(b, c)
	}
	return strings.TrimRight(string(b), "\r"), nil
}

// printable makes what a program or server said safe for one table cell:
// valid UTF-8, no control characters, at most 200 bytes.
func printable(s string) string {
	s = strings.Join(strings.FieldsFunc(strings.ToValidUTF8(s, "?"), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

// cannotTry is the observation of a door the probe could not try.
func (o observation) cannotTry(err error) observation {
	o.Outcome, o.Detail = failed, err.Error()
	return o
}

// headBuffer keeps the first 4 KiB written to it: what a program says on
// standard error, which may go on.
type headBuffer struct{ b []byte }

func (w *headBuffer) Write(p []byte) (int, error) {
	if room := 4096 - len(w.b); room > 0 {
		w.b = append(w.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (w *headBuffer) String() string { return string(w.b) }
