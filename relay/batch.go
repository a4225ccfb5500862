package relay

import (
	"fmt"
	"io"
	"strings"
)

// DefaultMaxRecipients is the batch size when SMTP.MaxRecipients or
// Command.MaxRecipients is 0. It is the smallest recipient buffer RFC
// 5321 (section 4.5.3.1.8) lets a server have, so no conforming MTA
// refuses a batch for its size.
const DefaultMaxRecipients = 100

// batchSize returns n, or the default for n <= 0.
func batchSize(n int) int {
	if n <= 0 {
		return DefaultMaxRecipients
	}
	return n
}

// outcome collects what became of each recipient over the transactions,
// or the runs of a Command, of one delivery, and turns it into Deliver's
// answer.
type outcome struct {
	delivered int
	failed    []Refusal
	// whole is the one failure every failed recipient has had so far.
	// When nobody got the message it is returned as it is, keeping its
	// code, cause and kind.
	whole *Error
}

// refuse records the MTA's answer for one recipient.
func (o *outcome) refuse(r Refusal) {
	o.whole = nil
	o.failed = append(o.failed, r)
}

// fail records e as the answer for every one of rcpts.
func (o *outcome) fail(rcpts []string, e *Error) {
	if len(rcpts) == 0 {
		return
	}
	if len(o.failed) > 0 && o.whole != e {
		o.whole = nil
	} else {
		o.whole = e
	}
	for _, to := range rcpts {
		o.failed = append(o.failed, e.refusal(to))
	}
}

// err returns nil when every recipient got the message, the one failure
// that kept it from all of them, or an *Error listing each recipient that
// did not get it. Every recipient is delivered or failed by then.
func (o *outcome) err() *Error {
	switch {
	case len(o.failed) == 0:
		return nil
	case o.delivered == 0 && o.whole != nil:
		return o.whole
	}
	return &Error{Rcpts: o.failed}
}

// refusal gives rcpt the answer e had for its whole transaction or run.
func (e *Error) refusal(rcpt string) Refusal {
	r := Refusal{Rcpt: rcpt, Code: e.Code, Enhanced: e.Enhanced, Message: e.Message}
	if e.Code == 0 && e.Err != nil {
		r.Message = strings.TrimSpace(e.Err.Error() + " " + e.Message)
	}
	if e.soft && !r.Temporary() {
		// A refused login is the host's settings at fault, which the
		// operator can fix: the recipient waits for that, and the reply
		// is kept in words, where its code cannot make it permanent.
		r.Message = formatReply(r.Code, r.Enhanced, r.Message)
		r.Code, r.Enhanced = 0, "4"+strings.TrimPrefix(r.Enhanced, "5")
	}
	return r
}

// message gives the message to each transaction or run of a delivery
// from its start, reading the caller's reader only once: by seeking back
// when it is an io.Seeker, or else by keeping what the first transaction
// read.
type message struct {
	src    io.Reader
	seeker io.Seeker // src, when it can go back to start
	start  int64
	kept   []byte // read from src so far, when it cannot
	keep   bool
	opened bool
}

// newMessage prepares src to be read again if again says a second
// transaction may happen: a delivery to one recipient needs no copy.
func newMessage(src io.Reader, again bool) *message {
	m := &message{src: src}
	if s, ok := src.(io.Seeker); ok && again {
		if start, err := s.Seek(0, io.SeekCurrent); err == nil {
			m.seeker, m.start = s, start
		}
	}
	m.keep = again && m.seeker == nil
	return m
}

// open returns a reader of the message from its start.
func (m *message) open() (io.Reader, error) {
	first := !m.opened
	m.opened = true
	if m.seeker != nil && !first {
		if _, err := m.seeker.Seek(m.start, io.SeekStart); err != nil {
			return nil, err
		}
	}
	if m.seeker != nil || !m.keep {
		return m.src, nil
	}
	return &keptReader{m: m}, nil
}

// keptReader reads what an earlier reader kept, then goes on reading
// the source where that one stopped, keeping what it reads.
type keptReader struct {
	m   *message
	off int
}

func (k *keptReader) Read(p []byte) (int, error) {
	m := k.m
	if k.off < len(m.kept) {
		n := copy(p, m.kept[k.off:])
		k.off += n
		return n, nil
	}
	n, err := m.src.Read(p)
	m.kept = append(m.kept, p[:n]...)
	k.off += n
	return n, err
}

// readFailed is the failure to read the message: the caller's data, not
// the MTA, is at fault, and another attempt may read it.
func readFailed(err error) *Error {
	return &Error{Enhanced: "4.3.0", Err: fmt.Errorf("reading the message: %w", err)}
}

// readErrRecorder tells a failure to read the message from a failure to
// write it to the MTA, which io.Copy reports alike.
type readErrRecorder struct {
	r   io.Reader
	err error
}

func (r *readErrRecorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}
