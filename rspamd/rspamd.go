// Package rspamd scores messages with a running rspamd, over the HTTP
// /checkv2 protocol of its normal worker (port 11333 by default).
//
// rspamd and SpamAssassin count on different scales: rspamd's default
// actions are greylist at 4, "add header" at 6, "rewrite subject" at 8 and
// reject at 15, while spamrun, like SpamAssassin, calls 5 spam. The Scorer
// rescales every rspamd score so that rspamd's own idea of spam lands on 5:
//
//	Value = score × 5 / SpamThreshold
//
// SpamThreshold defaults to 6, rspamd's "add header" threshold, because
// that is the action where rspamd marks a message as spam and lets it
// through, which is what SpamAssassin's 5 means. The required_score that
// /checkv2 returns is not used: it is the reject threshold (15), and a
// message that rspamd would tag as spam but not refuse would score well
// under 5 and be counted as ham.
//
// Failures are *Error values whose Temporary method tells a caller whether
// asking again later may help, so that a stopped or overloaded rspamd
// delays mail instead of letting it through unscored.
package rspamd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spamrun/spamrun"
)

// DefaultTimeout bounds one check when Scorer.Timeout is zero. rspamd's own
// task_timeout is 8 s; a little more lets rspamd answer with what it has
// rather than us giving up first.
const DefaultTimeout = 10 * time.Second

// DefaultSpamThreshold is rspamd's default "add header" score.
const DefaultSpamThreshold = 6.0

// maxResponse caps what is read of an answer: a /checkv2 reply is a few
// kilobytes, and a misconfigured URL must not make us read a large file.
const maxResponse = 8 << 20

// Scorer asks rspamd to check each message. Its zero value is not usable:
// URL is required. A Scorer is safe for concurrent use.
type Scorer struct {
	// URL is the base URL of rspamd's normal worker, such as
	// "http://127.0.0.1:11333". A bare "host:port", as in the config
	// file's scorer address, means http.
	URL string
	// Timeout bounds one check, connecting included; DefaultTimeout when
	// zero. A shorter deadline on the context wins.
	Timeout time.Duration
	// Client sends the requests; http.DefaultClient when nil.
	Client *http.Client
	// Password is sent as the Password header, for an rspamd proxy or
	// controller that asks for one; the normal worker ignores it.
	Password string
	// SpamThreshold is the rspamd score rescaled to 5, the score at which
	// spamrun calls a message spam; DefaultSpamThreshold when zero. Set it
	// to the "add header" action of the rspamd being asked when that was
	// changed from the default.
	SpamThreshold float64
	// Site names the website that sent msg. It is sent as the User header,
	// which makes rspamd treat the message as outbound mail from an
	// authenticated user: it then skips the checks meant for inbound mail
	// (SPF and DNS blocklists on the connecting IP), which would say
	// nothing about a website's own mail, and applies per-user settings
	// and rate limits. No User header is sent when Site is nil or returns
	// "".
	Site func(msg *spamrun.Message) string
	// QueueID returns an identifier sent as the Queue-Id header, so that
	// rspamd's log can be matched with spamrun's; none when nil.
	QueueID func(msg *spamrun.Message) string
}

var _ spamrun.Scorer = (*Scorer)(nil)

// Rule names for the part of rspamd's score that no symbol carries.
const (
	// RuleForced carries the score when rspamd stopped early with a forced
	// action, as it does for GTUBE: the symbols that caused it have no
	// score of their own, and the total is the action's threshold.
	RuleForced = "RSPAMD_FORCED_ACTION"
	// RuleResidual carries what the rounded symbol scores leave over.
	RuleResidual = "RSPAMD_RESIDUAL"
)

// checkResult is the part of a /checkv2 answer that is used.
type checkResult struct {
	Score     *float64 `json:"score"`
	Action    string   `json:"action"`
	IsSkipped bool     `json:"is_skipped"`
	Symbols   map[string]struct {
		Score       float64  `json:"score"`
		Description string   `json:"description"`
		Options     []string `json:"options"`
	} `json:"symbols"`
	Messages map[string]json.RawMessage `json:"messages"`
	Error    string                     `json:"error"`
}

// Score sends msg to rspamd and returns its verdict on the SpamAssassin
// scale, with one rule hit per symbol that scored, its points rescaled the
// same way.
func (s *Scorer) Score(ctx context.Context, msg *spamrun.Message) (spamrun.Score, error) {
	base := strings.TrimRight(s.URL, "/")
	if base == "" {
		return spamrun.Score{}, &Error{Message: "no URL configured", kind: ErrBadConfig}
	}
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	url := base + "/checkv2"
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	threshold := s.SpamThreshold
	if threshold == 0 {
		threshold = DefaultSpamThreshold
	}
	if threshold < 0 || math.IsNaN(threshold) || math.IsInf(threshold, 0) {
		return spamrun.Score{}, &Error{URL: url, Message: fmt.Sprintf("bad spam threshold %v", threshold), kind: ErrBadConfig}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(msg.Raw))
	if err != nil {
		return spamrun.Score{}, &Error{URL: url, Err: err, kind: ErrBadConfig}
	}
	s.setHeaders(req.Header, msg)
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return spamrun.Score{}, &Error{URL: url, Err: transportError(ctx, err, timeout)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return spamrun.Score{}, &Error{URL: url, StatusCode: resp.StatusCode, Err: transportError(ctx, err, timeout)}
	}
	if resp.StatusCode != http.StatusOK {
		e := &Error{URL: url, StatusCode: resp.StatusCode, Message: errorText(body)}
		return spamrun.Score{}, e
	}
	if len(body) > maxResponse {
		return spamrun.Score{}, &Error{URL: url, StatusCode: resp.StatusCode, Message: "answer longer than 8 MiB", kind: ErrBadResponse}
	}
	var res checkResult
	if err := json.Unmarshal(body, &res); err != nil {
		return spamrun.Score{}, &Error{URL: url, StatusCode: resp.StatusCode, Err: err, kind: ErrBadResponse}
	}
	if res.Score == nil {
		msg := "answer has no score"
		if res.Error != "" {
			msg = "rspamd says: " + res.Error
		}
		return spamrun.Score{}, &Error{URL: url, StatusCode: resp.StatusCode, Message: msg, kind: ErrBadResponse}
	}
	return res.score(threshold), nil
}

func (s *Scorer) setHeaders(h http.Header, msg *spamrun.Message) {
	// rspamd reads the envelope from these headers; without them it
	// falls back to the From: and To: fields, which the site wrote.
	if msg.Sender != "" {
		h.Set("From", msg.Sender)
	}
	for _, rcpt := range msg.Recipients {
		h.Add("Rcpt", rcpt)
	}
	if s.Site != nil {
		if site := s.Site(msg); site != "" {
			h.Set("User", site)
		}
	}
	if s.QueueID != nil {
		if id := s.QueueID(msg); id != "" {
			h.Set("Queue-Id", id)
		}
	}
	if s.Password != "" {
		h.Set("Password", s.Password)
	}
	// Without it rspamd stops once a message reaches reject, and the rules
	// an operator needs to see why a site was disabled may be missing.
	h.Set("Pass", "all")
}

func (r *checkResult) score(threshold float64) spamrun.Score {
	scale := 5 / threshold
	var sc spamrun.Score
	names := make([]string, 0, len(r.Symbols))
	for name := range r.Symbols {
		names = append(names, name)
	}
	// Map order is random; a stable order makes incident reports
	// comparable from one message to the next.
	slices.Sort(names)
	var zero []string
	for _, name := range names {
		sym := r.Symbols[name]
		if sym.Score == 0 {
			zero = append(zero, name)
			continue
		}
		sc.Add(name, sym.Score*scale, reason(sym.Description, sym.Options))
	}
	want := *r.Score * scale
	diff := want - sc.Value
	switch {
	case r.IsSkipped && math.Abs(diff) > 1e-9:
		why := fmt.Sprintf("rspamd forced action %q", r.Action)
		if m := r.smtpMessage(); m != "" {
			why += ": " + m
		}
		if len(zero) > 0 {
			why += " (" + strings.Join(zero[:min(len(zero), 5)], ", ") + ")"
		}
		sc.Add(RuleForced, diff, why)
	case math.Abs(diff) > 1e-9:
		sc.Add(RuleResidual, diff, "rounding of the symbol scores")
	}
	return sc
}

func (r *checkResult) smtpMessage() string {
	var m string
	if raw, ok := r.Messages["smtp_message"]; ok && json.Unmarshal(raw, &m) == nil {
		return m
	}
	return ""
}

// reason keeps a rule's reason to one short line for the operator.
func reason(desc string, options []string) string {
	const maxOptions = 3
	if len(options) > 0 {
		opts := strings.Join(options[:min(len(options), maxOptions)], ", ")
		if len(options) > maxOptions {
			opts += ", ..."
		}
		if desc == "" {
			return opts
		}
		desc += " (" + opts + ")"
	}
	return desc
}

// errorText is rspamd's explanation from an error answer, which is JSON
// ({"error": "..."}) or a short text.
func errorText(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	const maxText = 200
	text := strings.TrimSpace(strings.ToValidUTF8(string(body[:min(len(body), maxText)]), "?"))
	return strings.Join(strings.Fields(text), " ")
}

// transportError says plainly that our own deadline passed, rather than
// "context deadline exceeded", which reads as if the caller's had.
func transportError(ctx context.Context, err error, timeout time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %v: %w", timeout, err)
	}
	return err
}

// Sentinel errors, matched with errors.Is on an *Error.
var (
	// ErrBadResponse: rspamd answered 200 with something that is not a
	// /checkv2 result. Permanent: whatever answers is not an rspamd
	// worker, or not one this package understands.
	ErrBadResponse = errors.New("rspamd: bad response")
	// ErrBadConfig: the Scorer's own settings are unusable. Permanent.
	ErrBadConfig = errors.New("rspamd: bad configuration")
)

// Error is a failed check. StatusCode is the HTTP status when rspamd
// answered, 0 when it did not (Err then says why).
type Error struct {
	URL        string
	StatusCode int
	// Message is rspamd's explanation of an error status, or a
	// description of what was wrong.
	Message string
	// Err is the cause: a network or context error, a JSON error.
	Err error

	kind error
}

// Temporary reports whether asking again later may succeed: when rspamd
// could not be reached or did not answer in time, and when it answered
// with a server error or asked us to slow down. A 4xx refusal, an answer
// that cannot be read, and a bad configuration are permanent: the same
// request will get the same answer.
func (e *Error) Temporary() bool {
	if e.kind != nil {
		return false
	}
	switch {
	case e.StatusCode == 0:
		return true
	case e.StatusCode == http.StatusTooManyRequests, e.StatusCode == http.StatusRequestTimeout:
		return true
	case e.StatusCode >= 500:
		return true
	}
	// A 200 whose body could not be read to the end was cut off.
	return e.StatusCode == http.StatusOK && e.Err != nil
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("rspamd")
	if e.URL != "" {
		b.WriteString(": " + e.URL)
	}
	if e.StatusCode != 0 && e.StatusCode != http.StatusOK {
		fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
	}
	if e.kind == ErrBadResponse {
		b.WriteString(": bad response")
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap gives errors.Is and errors.As the sentinel and the cause.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// IsTemporary reports whether err is an *Error, or wraps one, that is
// Temporary.
func IsTemporary(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Temporary()
}
