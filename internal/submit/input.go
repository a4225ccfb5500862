package submit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"time"

	"github.com/spamrun/spamrun"
)

// TooBigError is a message over the size limit.
type TooBigError struct{ Limit int64 }

func (e *TooBigError) Error() string {
	return fmt.Sprintf("message is larger than the limit of %d bytes", e.Limit)
}

// ReadMessage reads a message as sendmail gets it on standard input, LF or
// CRLF, and returns it with CRLF line endings, as the relay wants it. With
// dotEnds, a line holding a single "." ends the input, as without -i. A
// leading "From " line of the mbox format is dropped, as Postfix does.
// Input over limit bytes is refused.
//
// Input with CRs and no LF at all has the line endings of classic Mac OS,
// which scripts that build their lines with "\r" still send: there each CR
// ends a line. Postfix reads such input as one long line, finds no header
// in it, and fails with -t for want of recipients, which names the wrong
// problem; the message its author meant is plain. Where any line ends in
// LF, a CR elsewhere is data and stays as it is.
func ReadMessage(r io.Reader, dotEnds bool, limit int64) ([]byte, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		out   bytes.Buffer
		long  []byte // a line longer than the reader's buffer, so far
		first = true
		sawLF bool
	)
	// add appends one line without its line ending and reports whether it
	// ends the input.
	add := func(content []byte) (bool, error) {
		if dotEnds && string(content) == "." {
			return true, nil
		}
		if first && bytes.HasPrefix(content, []byte("From ")) {
			first = false
			return false, nil
		}
		first = false
		out.Write(content)
		out.WriteString("\r\n")
		if int64(out.Len()) > limit {
			return false, &TooBigError{limit}
		}
		return false, nil
	}
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, line...)
			if int64(out.Len()+len(long)) > limit {
				return nil, &TooBigError{limit}
			}
			continue
		}
		if long != nil {
			line, long = append(long, line...), nil
		}
		lines := [][]byte{bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))}
		switch {
		case len(line) == 0:
			lines = nil
		case bytes.HasSuffix(line, []byte("\n")):
			sawLF = true
		case err == io.EOF && !sawLF:
			lines = bytes.Split(bytes.TrimSuffix(line, []byte("\r")), []byte("\r"))
		}
		for _, l := range lines {
			end, err := add(l)
			if err != nil {
				return nil, err
			}
			if end {
				return out.Bytes(), nil
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the message: %w", err)
		}
	}
	return out.Bytes(), nil
}

// field is one header field as written: its name and its lines, folded
// continuation lines included, each ending in CRLF.
type field struct {
	name string
	raw  []byte
}

// splitHeader splits a CRLF message into its header fields and its body.
// The header ends at the first empty line, or at the first line that is
// neither a field nor a continuation: a script that forgot the empty line
// gets one, so its first body line is not read as a field.
func splitHeader(msg []byte) (fields []field, body []byte) {
	rest := msg
	for len(rest) > 0 {
		end := bytes.Index(rest, []byte("\r\n"))
		if end < 0 {
			end = len(rest)
		} else {
			end += 2
		}
		line := rest[:end]
		switch {
		case len(bytes.TrimRight(line, "\r\n")) == 0:
			return fields, rest[end:]
		case (line[0] == ' ' || line[0] == '\t') && len(fields) > 0:
			f := &fields[len(fields)-1]
			f.raw = append(f.raw, line...)
		case isFieldLine(line):
			colon := bytes.IndexByte(line, ':')
			fields = append(fields, field{name: string(bytes.TrimRight(line[:colon], " \t")), raw: bytes.Clone(line)})
		default:
			return fields, rest
		}
		rest = rest[end:]
	}
	return fields, nil
}

// isFieldLine reports whether line starts a header field: printable ASCII
// other than ":" and space up to a colon (RFC 5322 §2.2; a space before
// the colon is tolerated as obsolete syntax).
func isFieldLine(line []byte) bool {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return false
	}
	name := bytes.TrimRight(line[:colon], " \t")
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// value returns the unfolded value of a field.
func (f field) value() string {
	v := f.raw[len(f.name):]
	v = bytes.TrimLeft(v, " \t")
	v = bytes.TrimPrefix(v, []byte(":"))
	s := strings.NewReplacer("\r\n", "", "\n", "").Replace(string(v))
	return strings.TrimSpace(s)
}

func (f field) is(name string) bool { return strings.EqualFold(f.name, name) }

// prepared is a message made ready for the spool and the relay.
type prepared struct {
	data       []byte   // CRLF, Bcc removed, missing fields added
	recipients []string // from the header, with -t
}

// prepare rewrites a message as a submission agent does: with extract (-t)
// it takes the recipients from To, Cc and Bcc, or from the Resent- fields
// when there are any; it removes Bcc and Resent-Bcc so that blind
// recipients stay blind; and it adds what is missing: From, Date and a
// Message-ID at hostname. A Received field records the submitting user.
// A recipient field with an address that cannot be read fails the message
// with an error naming the field and the address: a recipient the script
// wrote is never dropped.
func prepare(msg []byte, extract bool, sender, fullName, hostname, id string, uid int, now time.Time) (prepared, error) {
	fields, body := splitHeader(msg)
	var p prepared
	if extract {
		names := []string{"To", "Cc", "Bcc"}
		for _, f := range fields {
			if f.is("Resent-To") || f.is("Resent-Cc") || f.is("Resent-Bcc") {
				names = []string{"Resent-To", "Resent-Cc", "Resent-Bcc"}
				break
			}
		}
		for _, f := range fields {
			for _, n := range names {
				if !f.is(n) {
					continue
				}
				addrs, err := spamrun.ParseAddressList(f.value())
				if err != nil {
					return prepared{}, fmt.Errorf("header field %s: %w", f.name, err)
				}
				p.recipients = append(p.recipients, addrs...)
			}
		}
	}
	var out bytes.Buffer
	out.Grow(len(msg) + 256)
	fmt.Fprintf(&out, "Received: by %s (spamrun, from userid %d)\r\n\tid %s; %s\r\n", hostname, uid, id, now.Format(time.RFC1123Z))
	has := map[string]bool{}
	for _, f := range fields {
		if f.is("Bcc") || f.is("Resent-Bcc") {
			continue
		}
		has[strings.ToLower(f.name)] = true
		out.Write(f.raw)
	}
	if !has["from"] && sender != "" {
		if fullName != "" {
			out.WriteString("From: " + (&mail.Address{Name: fullName, Address: sender}).String() + "\r\n")
		} else {
			out.WriteString("From: " + sender + "\r\n")
		}
	}
	if !has["date"] {
		out.WriteString("Date: " + now.Format(time.RFC1123Z) + "\r\n")
	}
	if !has["message-id"] {
		out.WriteString("Message-ID: <" + id + "@" + hostname + ">\r\n")
	}
	out.WriteString("\r\n")
	out.Write(body)
	p.data = out.Bytes()
	return p, nil
}
