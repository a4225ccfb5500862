// Package spamassassin scores messages with a running SpamAssassin daemon,
// spamd, over its own protocol (SPAMC/1.5), for hosts that already run one
// and trust its rules more than, or as well as, spamrun's builtin scorer.
//
// The client is written here on net and bufio: the protocol is one request
// and one answer per connection, smaller than any dependency would be.
//
// It sends REPORT rather than SYMBOLS or CHECK. SYMBOLS names the rules
// that fired but not their points, and CHECK gives only the total; REPORT
// is the one request whose answer holds both, in the "Content analysis
// details" table of spamd's report. The Score it returns keeps the
// invariant of every spamrun scorer, Value == sum of the rules' points: the
// table rounds each rule to one decimal, so whatever the rounding lost, or
// what a site's custom report template left out, is added as one more rule,
// SPAMASSASSIN_OTHER.
package spamassassin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spamrun/spamrun"
)

// Defaults for the zero fields of a Scorer.
const (
	DefaultAddr    = "127.0.0.1:783"
	DefaultTimeout = 10 * time.Second
	// DefaultMaxSize is spamc's default size limit (spamc -s). spamd
	// scans bigger messages slowly and SpamAssassin's body rules look at
	// the start of each part anyway, so the rest rarely changes a verdict.
	DefaultMaxSize = 500 * 1024
)

// Names of the rules this package adds to what spamd reports.
const (
	// RuleOther carries the points spamd counted but the report's table did
	// not show, so that Value stays the sum of the rules' points.
	RuleOther = "SPAMASSASSIN_OTHER"
	// RuleTruncated (0 points) says that spamd saw only the first MaxSize
	// bytes of the message.
	RuleTruncated = "SPAMASSASSIN_TRUNCATED"
)

// Scorer asks spamd to score each message. Its zero value talks to spamd on
// 127.0.0.1:783. A Scorer is safe for concurrent use: every Score opens its
// own connection, as spamc does.
type Scorer struct {
	// Addr is spamd's address: host:port for TCP, or the path of a Unix
	// socket (anything containing a slash), as spamd's --listen takes it.
	Addr string
	// Timeout bounds one Score call, connecting included; zero means
	// DefaultTimeout. A shorter deadline on the context wins.
	Timeout time.Duration
	// User is the user whose preferences spamd applies (spamc -u). Empty
	// sends no User header, and spamd uses its own defaults.
	User string
	// MaxSize is how many bytes of a message are sent; zero means
	// DefaultMaxSize and a negative value means no limit. A longer message
	// is cut at the last line break before the limit, scored, and marked
	// with RuleTruncated. spamc skips such messages instead, but a skipped
	// message would look clean here, and an attachment is no reason to let
	// a spam run through.
	MaxSize int64
}

var _ spamrun.Scorer = (*Scorer)(nil)

// ErrProtocol is wrapped by the errors for answers that do not follow the
// SPAMC protocol. They are not temporary: a server that answers nonsense is
// probably not spamd at all, and asking again will not change that.
var ErrProtocol = errors.New("spamassassin: protocol error")

// Error is a failed Score. Code and Status hold spamd's answer when it
// refused the request; the sysexits.h code says whose fault that was.
type Error struct {
	// Addr is the address of spamd.
	Addr string
	// Code is spamd's exit code, such as 75 (EX_TEMPFAIL); 0 when spamd
	// refused nothing because the request never got that far.
	Code int
	// Status is the text after the code, such as "EX_TEMPFAIL".
	Status string
	// Err is the cause: a network error, a context error or ErrProtocol.
	Err error

	temporary bool
}

// Temporary reports whether trying again later may succeed: spamd was
// unreachable, slow, cut the connection, or said so with EX_TEMPFAIL or
// another code for its own trouble (see temporaryCode).
func (e *Error) Temporary() bool { return e.temporary }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("spamassassin: ")
	b.WriteString(e.Addr)
	if e.Code != 0 {
		fmt.Fprintf(&b, ": spamd answered %d %s", e.Code, e.Status)
	}
	if e.Err != nil {
		msg := e.Err.Error()
		// ErrProtocol already carries the package prefix.
		msg = strings.TrimPrefix(msg, "spamassassin: ")
		b.WriteString(": " + msg)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// IsTemporary reports whether err is or wraps an *Error that is temporary.
// It is false for nil and for errors that are not from this package.
func IsTemporary(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Temporary()
}

// temporaryCode says which sysexits.h codes are spamd's own trouble, so
// that the same request may work later, as opposed to a request that is
// wrong (EX_USAGE, EX_DATAERR, EX_NOUSER, EX_PROTOCOL, EX_NOPERM,
// EX_CONFIG ...) and would be refused again.
func temporaryCode(code int) bool {
	switch code {
	case 69, // EX_UNAVAILABLE
		70, // EX_SOFTWARE
		71, // EX_OSERR
		72, // EX_OSFILE
		73, // EX_CANTCREAT
		74, // EX_IOERR
		75: // EX_TEMPFAIL
		return true
	}
	return false
}

// maxAnswer bounds what is read from the server: a report is a few KB, and
// a broken server that streams forever must not fill memory before the
// deadline stops it.
const maxAnswer = 1 << 20

// Score sends the message to spamd and returns spamd's total with the rules
// that fired. The message is sent as Raw holds it, line endings included.
func (s *Scorer) Score(ctx context.Context, msg *spamrun.Message) (spamrun.Score, error) {
	addr := s.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	body, truncated := s.cut(msg.Raw)
	res, err := s.exchange(ctx, addr, body)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = &Error{Addr: addr, Err: err, temporary: !errors.Is(err, ErrProtocol)}
		}
		// A deadline or a cancel shows up as an I/O error on the
		// connection; the context's own error says why.
		if cause := ctxCause(ctx, err); cause != nil && e.Code == 0 && !errors.Is(err, ErrProtocol) {
			e.Err = fmt.Errorf("%w (%v)", cause, err)
			e.temporary = true
		}
		return spamrun.Score{}, e
	}
	score := res.score()
	if truncated {
		score.Add(RuleTruncated, 0, fmt.Sprintf("spamd saw the first %d of %d bytes", len(body), len(msg.Raw)))
	}
	return score, nil
}

// ctxCause returns why ctx ended, if it did. The connection's deadline is
// the context's, and can fire a moment before the context's own timer, so
// a network timeout at or after the deadline counts as the deadline.
func ctxCause(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	var ne net.Error
	if dl, ok := ctx.Deadline(); ok && errors.As(err, &ne) && ne.Timeout() && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// cut applies MaxSize, cutting at a line break so that spamd never sees
// half a header line.
func (s *Scorer) cut(raw []byte) ([]byte, bool) {
	limit := s.MaxSize
	if limit == 0 {
		limit = DefaultMaxSize
	}
	if limit < 0 || int64(len(raw)) <= limit {
		return raw, false
	}
	head := raw[:limit]
	if i := bytes.LastIndexByte(head, '\n'); i >= 0 {
		head = head[:i+1]
	}
	return head, true
}

func (s *Scorer) exchange(ctx context.Context, addr string, body []byte) (*answer, error) {
	network := "tcp"
	if strings.Contains(addr, "/") {
		network = "unix"
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// A cancel without a deadline must still interrupt a read that spamd
	// never answers.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var req bytes.Buffer
	req.WriteString("REPORT SPAMC/1.5\r\n")
	fmt.Fprintf(&req, "Content-length: %d\r\n", len(body))
	if s.User != "" {
		if strings.ContainsAny(s.User, "\r\n") {
			return nil, &Error{Addr: addr, Err: errors.New("user name contains a line break")}
		}
		req.WriteString("User: " + s.User + "\r\n")
	}
	req.WriteString("\r\n")
	if _, err := conn.Write(req.Bytes()); err != nil {
		return nil, err
	}
	if _, err := conn.Write(body); err != nil {
		return nil, err
	}
	// spamd reads exactly Content-length bytes, but the half close tells
	// an old or confused server that nothing more is coming, as spamc does.
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	return readAnswer(addr, io.LimitReader(conn, maxAnswer))
}

// answer is spamd's reply to REPORT.
type answer struct {
	spam      bool
	value     float64
	threshold float64
	report    string
}

// readAnswer parses
//
//	SPAMD/1.1 0 EX_OK
//	Content-length: 1061
//	Spam: True ; 1003.3 / 5.0
//
//	<report>
func readAnswer(addr string, r io.Reader) (*answer, error) {
	br := bufio.NewReader(r)
	line, err := readLine(br)
	if err != nil {
		return nil, err
	}
	version, rest, _ := strings.Cut(line, " ")
	if !strings.HasPrefix(version, "SPAMD/") {
		return nil, fmt.Errorf("%w: status line %.80q is not from spamd", ErrProtocol, line)
	}
	codeText, status, _ := strings.Cut(rest, " ")
	code, err := strconv.Atoi(codeText)
	if err != nil || code < 0 {
		return nil, fmt.Errorf("%w: bad status line %.80q", ErrProtocol, line)
	}
	if code != 0 {
		return nil, &Error{Addr: addr, Code: code, Status: status, temporary: temporaryCode(code)}
	}

	a := &answer{}
	gotSpam := false
	length := int64(-1)
	for {
		line, err := readLine(br)
		if err != nil {
			return nil, err
		}
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%w: bad header line %.80q", ErrProtocol, line)
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "spam":
			if err := a.parseSpam(value); err != nil {
				return nil, err
			}
			gotSpam = true
		case "content-length":
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%w: bad Content-length %.40q", ErrProtocol, value)
			}
			length = n
		}
	}
	if !gotSpam {
		return nil, fmt.Errorf("%w: no Spam header in the answer", ErrProtocol)
	}
	var report []byte
	if length >= 0 {
		report = make([]byte, min(length, maxAnswer))
		if _, err := io.ReadFull(br, report); err != nil {
			// Cut short: the connection broke, not the protocol.
			return nil, fmt.Errorf("reading the report: %w", err)
		}
	} else if report, err = io.ReadAll(br); err != nil {
		return nil, err
	}
	a.report = string(report)
	return a, nil
}

// readLine reads one CRLF- or LF-terminated line. EOF before the line ends
// means the connection was cut, which is temporary, so it is reported as
// io.ErrUnexpectedEOF rather than as a protocol error.
func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			return "", io.ErrUnexpectedEOF
		}
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// parseSpam parses "True ; 15.3 / 5.0".
func (a *answer) parseSpam(v string) error {
	verdict, scores, ok1 := strings.Cut(v, ";")
	value, threshold, ok2 := strings.Cut(scores, "/")
	var err1, err2 error
	a.value, err1 = strconv.ParseFloat(strings.TrimSpace(value), 64)
	a.threshold, err2 = strconv.ParseFloat(strings.TrimSpace(threshold), 64)
	switch strings.ToLower(strings.TrimSpace(verdict)) {
	case "true", "yes":
		a.spam = true
	case "false", "no":
	default:
		ok1 = false
	}
	if !ok1 || !ok2 || err1 != nil || err2 != nil || math.IsNaN(a.value) || math.IsInf(a.value, 0) {
		return fmt.Errorf("%w: bad Spam header %.80q", ErrProtocol, v)
	}
	return nil
}

// score turns the answer into a Score whose Value is spamd's total and
// whose rules add up to it.
func (a *answer) score() spamrun.Score {
	var s spamrun.Score
	for _, r := range parseReport(a.report) {
		s.Add(r.Name, r.Points, r.Reason)
	}
	// Rounding to thousandths drops the float noise of the sum; what is
	// left is points the table shows differently (rounded per rule) or not
	// at all.
	if rest := math.Round((a.value-s.Value)*1000) / 1000; rest != 0 {
		reason := "points spamd counted that its report does not list"
		if len(s.Rules) == 0 {
			reason = "spamd's total; its report lists no rules"
		}
		s.Add(RuleOther, rest, reason)
	}
	s.Value = a.value
	return s
}

// parseReport reads the rules from the table that ends spamd's default
// report:
//
//	 pts rule name              description
//	---- ---------------------- --------------------------------------------------
//	 1.0 PDS_OTHER_BAD_TLD      Untrustworthy TLDs
//	                            [URI: bestpharma-online.top (top)]
//	1000 GTUBE                  BODY: Generic Test for Unsolicited Bulk Email
//
// Only the last table counts: the report quotes the message in its
// "Content preview" above, and a spammer could put a fake table there. A
// report without a table (a site's own report template) gives no rules.
func parseReport(report string) []spamrun.RuleHit {
	lines := strings.Split(strings.ReplaceAll(report, "\r\n", "\n"), "\n")
	start := -1
	for i, l := range lines {
		if isTableRule(l) {
			start = i + 1
		}
	}
	if start < 0 {
		return nil
	}
	var hits []spamrun.RuleHit
	for _, l := range lines[start:] {
		if strings.TrimSpace(l) == "" {
			break
		}
		fields := strings.Fields(l)
		if l[0] == ' ' && len(hits) > 0 && len(fields) > 0 {
			if _, err := strconv.ParseFloat(fields[0], 64); err != nil {
				// A wrapped description, such as the URI a rule saw.
				h := &hits[len(hits)-1]
				h.Reason = strings.TrimSpace(h.Reason + " " + strings.Join(fields, " "))
				continue
			}
		}
		if len(fields) < 2 {
			break
		}
		points, err := strconv.ParseFloat(fields[0], 64)
		// No real rule scores beyond a few thousand; a bound keeps made-up
		// numbers from overflowing the sum.
		if err != nil || math.IsNaN(points) || math.Abs(points) > 1e9 {
			break
		}
		if points == 0 {
			points = 0 // "-0.0" reads as negative zero
		}
		hits = append(hits, spamrun.RuleHit{
			Name:   fields[1],
			Points: points,
			Reason: strings.Join(fields[2:], " "),
		})
	}
	return hits
}

// isTableRule matches the dashes under the table's heading: "---- ----- ----".
func isTableRule(l string) bool {
	l = strings.TrimSpace(l)
	if !strings.HasPrefix(l, "----") {
		return false
	}
	return strings.Trim(l, "- ") == "" && len(strings.Fields(l)) == 3
}
