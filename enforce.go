package spamrun

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spamrun/spamrun/internal/safeexec"
)

// The events an enforcer acts on, as a command ({event}, SPAMRUN_EVENT) and
// a webhook ("event") see them.
const (
	EventDisable = "disable"
	EventEnable  = "enable"
)

// EnforcerFuncs makes an Enforcer of plain Go funcs, for a control panel
// that imports spamrun and can suspend a site through its own API. A nil
// func does nothing and succeeds, so a panel that only suspends, and lets
// its staff resume sites by hand, sets OnDisable alone.
type EnforcerFuncs struct {
	OnDisable func(ctx context.Context, site string, inc *Incident) error
	OnEnable  func(ctx context.Context, site string) error
}

var _ Enforcer = EnforcerFuncs{}

// Disable calls OnDisable, if set.
func (f EnforcerFuncs) Disable(ctx context.Context, site string, inc *Incident) error {
	if f.OnDisable == nil {
		return nil
	}
	return f.OnDisable(ctx, site, inc)
}

// Enable calls OnEnable, if set.
func (f EnforcerFuncs) Enable(ctx context.Context, site string) error {
	if f.OnEnable == nil {
		return nil
	}
	return f.OnEnable(ctx, site)
}

// ErrUnsafeName is wrapped by the error of a CommandEnforcer that refuses
// to put a site name or incident ID on a command line: one that is empty,
// starts with '-', contains '/', control characters or invalid UTF-8, or is
// "." or "..". Nothing is run.
var ErrUnsafeName = errors.New("spamrun: unsafe name")

// ErrEnforcer is wrapped by the error of PolicyDetector.Enable when the
// store enabled the site and only the enforcer failed.
var ErrEnforcer = errors.New("enforcer failed")

// checkName refuses what a panel's tool could take for something other
// than a plain name: an option, a path, or a line break in its own logs.
func checkName(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty %s", ErrUnsafeName, what)
	case s[0] == '-':
		return fmt.Errorf("%w: %s %q starts with '-'", ErrUnsafeName, what, s)
	case s == "." || s == "..":
		return fmt.Errorf("%w: %s %q", ErrUnsafeName, what, s)
	case strings.ContainsRune(s, '/'):
		return fmt.Errorf("%w: %s %q contains '/'", ErrUnsafeName, what, s)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s %q is not valid UTF-8", ErrUnsafeName, what, s)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: %s %q contains a control character", ErrUnsafeName, what, s)
	}
	return nil
}

// ErrBadCommand is wrapped by every error of NewCommandEnforcer.
var ErrBadCommand = errors.New("spamrun: bad enforce command")

// CommandEnforcer runs a control panel's own command line tool: one command
// to suspend a site when it trips, another to resume it when the operator
// re-enables it.
//
// Each command is a template, split into words once by NewCommandEnforcer
// with the quoting of a shell ('single quotes', "double quotes", backslash),
// but no shell ever runs it: the program is executed directly, so nothing is
// expanded, globbed, piped or redirected. The placeholders {site},
// {incident} (the incident ID; empty for enable) and {event} ("disable" or
// "enable") are then filled in inside the words, so a site name is always
// exactly one argument, whatever it contains:
//
//	/usr/local/bin/panel-disable-site {site}
//	/usr/local/bin/panel site suspend --reason="spam run {incident}" -- {site}
//
// Site names a tool could misread are refused before anything runs (see
// ErrUnsafeName).
//
// The program is an absolute path, or a bare name looked up in a fixed PATH
// of /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin. It runs
// in "/" with only PATH, SPAMRUN_EVENT, SPAMRUN_SITE and SPAMRUN_INCIDENT_ID
// in its environment and, for disable, the Incident as JSON on stdin. Exit
// status 0 is success; any other status is an error that carries the end of
// the command's stderr. A command still running after Timeout is killed,
// together with every process it started.
//
// The command may be run again for a site already in the state asked for
// (after a crash, say) and should then succeed without doing anything.
type CommandEnforcer struct {
	// Timeout bounds each run; 0 means 30 seconds.
	Timeout time.Duration

	disable, enable []string
}

const defaultCommandTimeout = 30 * time.Second

var _ Enforcer = (*CommandEnforcer)(nil)

// NewCommandEnforcer parses the disable and enable command templates. An
// empty enable template makes Enable do nothing, for panels whose staff
// resume sites by hand.
func NewCommandEnforcer(disable, enable string) (*CommandEnforcer, error) {
	c := new(CommandEnforcer)
	var err error
	if c.disable, err = parseCommand(disable); err != nil {
		return nil, fmt.Errorf("%w: disable command: %w", ErrBadCommand, err)
	}
	if strings.TrimSpace(enable) != "" {
		if c.enable, err = parseCommand(enable); err != nil {
			return nil, fmt.Errorf("%w: enable command: %w", ErrBadCommand, err)
		}
	}
	return c, nil
}

// parseCommand splits a template into words and checks the program word.
func parseCommand(tmpl string) ([]string, error) {
	words, err := safeexec.Parse(tmpl)
	if err != nil {
		return nil, err
	}
	if prog := words[0]; strings.Contains(prog, "{site}") || strings.Contains(prog, "{incident}") {
		// A site must never choose which program runs.
		return nil, fmt.Errorf("program %q contains {site} or {incident}", prog)
	}
	return words, nil
}

// Argv returns the command line that Disable (event EventDisable) or
// Enable (EventEnable) would run for site, with the program as written in
// the template, or nil when there is nothing to run. It refuses what
// Disable and Enable refuse, so a control panel can check its names ahead.
func (c *CommandEnforcer) Argv(event, site, incidentID string) ([]string, error) {
	var tmpl []string
	switch event {
	case EventDisable:
		tmpl = c.disable
	case EventEnable:
		tmpl = c.enable
	default:
		return nil, fmt.Errorf("spamrun: unknown enforce event %q", event)
	}
	if err := checkName("site name", site); err != nil {
		return nil, err
	}
	if incidentID != "" {
		if err := checkName("incident ID", incidentID); err != nil {
			return nil, err
		}
	}
	if tmpl == nil {
		return nil, nil
	}
	fill := strings.NewReplacer("{site}", site, "{incident}", incidentID, "{event}", event)
	argv := make([]string, len(tmpl))
	for i, w := range tmpl {
		argv[i] = fill.Replace(w)
	}
	return argv, nil
}

// Disable runs the disable command with the incident on its stdin.
func (c *CommandEnforcer) Disable(ctx context.Context, site string, inc *Incident) error {
	return c.run(ctx, EventDisable, site, inc)
}

// Enable runs the enable command, if there is one.
func (c *CommandEnforcer) Enable(ctx context.Context, site string) error {
	return c.run(ctx, EventEnable, site, nil)
}

func (c *CommandEnforcer) run(ctx context.Context, event, site string, inc *Incident) error {
	var id string
	if inc != nil {
		id = inc.ID
	}
	argv, err := c.Argv(event, site, id)
	if err != nil || argv == nil {
		return err
	}
	what := fmt.Sprintf("spamrun: enforce command %s: %s %q", argv[0], event, site)
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = defaultCommandTimeout
	}
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cmd, err := safeexec.Command(runCtx, argv,
		"SPAMRUN_EVENT="+event,
		"SPAMRUN_SITE="+site,
		"SPAMRUN_INCIDENT_ID="+id,
	)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if event == EventDisable {
		data, err := json.Marshal(inc)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		cmd.Stdin = bytes.NewReader(data)
	}
	var stderr safeexec.Tail
	cmd.Stderr = &stderr

	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w%s", what, ctx.Err(), stderrSuffix(&stderr))
	case runCtx.Err() != nil:
		return fmt.Errorf("%s: killed after the %v timeout: %w%s", what, timeout, runCtx.Err(), stderrSuffix(&stderr))
	case errors.As(err, &exit):
		return fmt.Errorf("%s: %w%s", what, err, stderrSuffix(&stderr))
	}
	return fmt.Errorf("%s: %w", what, err)
}

// stderrSuffix formats the end of a command's stderr for an error message,
// or "" when it wrote nothing.
func stderrSuffix(t *safeexec.Tail) string {
	if s := t.String(); s != "" {
		return fmt.Sprintf("; stderr: %q", s)
	}
	return ""
}

// WebhookPayload is the JSON body of every webhook request. It is a stable
// contract: fields may be added, but are never renamed or removed.
//
//	{"event":"disable","site":"shop1","time":"2026-11-02T09:00:00Z",
//	 "idempotency_key":"01J…","incident":{"id":"01J…","site":"shop1",…}}
type WebhookPayload struct {
	// Event is "disable" or "enable".
	Event string `json:"event"`
	Site  string `json:"site"`
	// Time is when spamrun sent the request, in UTC; the trip itself is
	// Incident.Time. It is signed with the body, so a receiver can refuse
	// old requests replayed at it.
	Time time.Time `json:"time"`
	// IdempotencyKey repeats the Idempotency-Key header: the same for every
	// retry of one call, so the panel can act once.
	IdempotencyKey string `json:"idempotency_key"`
	// Incident is the trip, for disable; absent for enable.
	Incident *Incident `json:"incident,omitempty"`
}

// WebhookEnforcer tells a control panel over HTTP: each Disable and Enable
// is a POST of a WebhookPayload to its URL, with the headers
//
//	Content-Type: application/json
//	User-Agent: spamrun
//	Idempotency-Key: <the incident ID for disable; a fresh key for each Enable>
//	X-Spamrun-Signature: sha256=<hex HMAC-SHA256 of the body>  (only with a Secret)
//
// Any 2xx response is success. A network error, a timeout, a 5xx or a 429
// is retried, after Backoff, then twice that, and so on, or after the
// Retry-After seconds of the response (at most a minute). Any other status
// fails at once, because asking again will not change the answer. Redirects
// are not followed: the URL should be the endpoint itself.
//
// A retry carries the same Idempotency-Key, so the panel acts once even when
// its first answer was lost on the way back. Enabling a site that is
// already enabled should simply succeed.
type WebhookEnforcer struct {
	// Secret, when set, signs every body; see VerifyWebhookSignature.
	Secret []byte
	// Timeout bounds each attempt, response included; 0 means 10 seconds.
	Timeout time.Duration
	// Retries is how many more attempts may follow a failed one: 0 means
	// 3, a negative number means none.
	Retries int
	// Backoff is the wait before the first retry, doubled for each later
	// one; 0 means 1 second.
	Backoff time.Duration
	// Client sends the requests. nil means a client that follows no
	// redirects and ignores proxy environment variables, which in sendmail
	// belong to the website; set one to go through a proxy or present a
	// client certificate.
	Client *http.Client
	// Sleep waits between attempts and returns early with ctx's error; nil
	// means a timer. Tests replace it so as not to wait.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now gives the payload's Time; nil means time.Now.
	Now func() time.Time

	url   string
	shown string // url without credentials, query or fragment, for errors
}

const (
	defaultWebhookTimeout = 10 * time.Second
	defaultWebhookRetries = 3
	defaultWebhookBackoff = time.Second
	maxRetryAfter         = time.Minute
	responseSnippetSize   = 200
	signatureHeader       = "X-Spamrun-Signature"
)

var _ Enforcer = (*WebhookEnforcer)(nil)

// webhookClient is made on first use, so that importers who never post a
// webhook do not pay for a transport.
var webhookClient = sync.OnceValue(func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	return &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
})

// NewWebhookEnforcer returns an enforcer that posts to rawURL, an http or
// https URL, with the defaults described on WebhookEnforcer. Set its fields
// before first use.
func NewWebhookEnforcer(rawURL string) (*WebhookEnforcer, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error repeats the URL, which may hold a token.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("spamrun: bad webhook URL: %w", err)
	}
	shown := *u
	shown.User, shown.RawQuery, shown.ForceQuery, shown.Fragment, shown.RawFragment = nil, "", false, "", ""
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("spamrun: bad webhook URL %s: scheme must be http or https", shown.String())
	case u.Host == "":
		return nil, fmt.Errorf("spamrun: bad webhook URL %s: no host", shown.String())
	}
	return &WebhookEnforcer{url: u.String(), shown: shown.String()}, nil
}

// Disable posts a disable event, keyed by the incident ID.
func (w *WebhookEnforcer) Disable(ctx context.Context, site string, inc *Incident) error {
	key := ""
	if inc != nil {
		key = inc.ID
	}
	if key == "" {
		key = rand.Text()
	}
	return w.send(ctx, WebhookPayload{Event: EventDisable, Site: site, IdempotencyKey: key, Incident: inc})
}

// Enable posts an enable event under a fresh key.
func (w *WebhookEnforcer) Enable(ctx context.Context, site string) error {
	return w.send(ctx, WebhookPayload{Event: EventEnable, Site: site, IdempotencyKey: rand.Text()})
}

// attempt is what one POST came back with.
type attempt struct {
	status     string // "503 Service Unavailable"; "" when there was no response
	code       int
	retryAfter time.Duration // -1 when the response did not say
	snippet    string        // the start of the response body
	err        error         // no response: the network error
}

func (a attempt) retryable() bool {
	return a.err != nil || a.code >= 500 || a.code == http.StatusTooManyRequests
}

func (a attempt) String() string {
	if a.err != nil {
		return a.err.Error()
	}
	s := "status " + a.status
	if a.snippet != "" {
		s += fmt.Sprintf(": %q", a.snippet)
	}
	return s
}

func (w *WebhookEnforcer) send(ctx context.Context, p WebhookPayload) error {
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	p.Time = now().UTC()
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("spamrun: webhook %s: %s %q: %w", w.shown, p.Event, p.Site, err)
	}
	retries := w.Retries
	switch {
	case retries == 0:
		retries = defaultWebhookRetries
	case retries < 0:
		retries = 0
	}
	backoff := w.Backoff
	if backoff <= 0 {
		backoff = defaultWebhookBackoff
	}
	sleep := w.Sleep
	if sleep == nil {
		sleep = sleepContext
	}

	head := fmt.Sprintf("spamrun: webhook %s: %s %q", w.shown, p.Event, p.Site)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w (not sent)", head, err)
	}
	for n := 1; ; n++ {
		a := w.post(ctx, body, p.IdempotencyKey)
		if a.err == nil && a.code/100 == 2 {
			return nil
		}
		fail := func(cause error) error {
			tries := "1 attempt"
			if n > 1 {
				tries = fmt.Sprintf("%d attempts", n)
			}
			switch {
			case cause != nil && (a.err == nil || !errors.Is(a.err, cause)):
				return fmt.Errorf("%s: %w (%s, last: %s)", head, cause, tries, a)
			case a.err != nil:
				return fmt.Errorf("%s: %w (%s)", head, a.err, tries)
			}
			return fmt.Errorf("%s: %s (%s)", head, a, tries)
		}
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		if !a.retryable() || n > retries {
			return fail(nil)
		}
		wait := backoff
		for i := 1; i < n && wait < time.Hour; i++ {
			wait *= 2
		}
		if a.retryAfter >= 0 {
			wait = a.retryAfter
		}
		if err := sleep(ctx, wait); err != nil {
			return fail(err)
		}
	}
}

func (w *WebhookEnforcer) post(ctx context.Context, body []byte, key string) attempt {
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = defaultWebhookTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return attempt{err: err, retryAfter: -1}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "spamrun")
	req.Header.Set("Idempotency-Key", key)
	if len(w.Secret) > 0 {
		req.Header.Set(signatureHeader, signBody(w.Secret, body))
	}
	client := w.Client
	if client == nil {
		client = webhookClient()
	}
	resp, err := client.Do(req)
	if err != nil {
		// url.Error repeats the URL, which may hold a token.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			err = fmt.Errorf("no response within %v: %w", timeout, err)
		}
		return attempt{err: err, retryAfter: -1}
	}
	defer resp.Body.Close()
	snippet := make([]byte, responseSnippetSize)
	n, _ := io.ReadFull(resp.Body, snippet)
	// Drain a little more so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return attempt{
		status:     resp.Status,
		code:       resp.StatusCode,
		retryAfter: parseRetryAfter(resp.Header.Get("Retry-After")),
		snippet:    strings.TrimSpace(strings.ToValidUTF8(string(snippet[:n]), "\uFFFD")),
	}
}

// parseRetryAfter reads the delay-seconds form of Retry-After; an HTTP date
// gets the ordinary backoff instead.
func parseRetryAfter(h string) time.Duration {
	secs, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || secs < 0 {
		return -1
	}
	return min(time.Duration(secs)*time.Second, maxRetryAfter)
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func signBody(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifyWebhookSignature reports whether signature, the value of a
// request's X-Spamrun-Signature header, is the HMAC-SHA256 of body under
// secret, for a receiver written in Go. body must be the raw bytes
// received, before any JSON decoding.
func VerifyWebhookSignature(secret, body []byte, signature string) bool {
	return hmac.Equal([]byte(signature), []byte(signBody(secret, body)))
}

// MultiEnforcer returns an Enforcer that calls each of enforcers in order:
// say, the panel command that suspends the vhost, then a webhook to the
// ticket system. A failure does not stop the others, because one panel being
// down must not spare the site the rest of its enforcement. The error joins
// every failure (errors.Join), each naming the failed enforcer by position
// and type. nil enforcers are skipped.
func MultiEnforcer(enforcers ...Enforcer) Enforcer {
	return multiEnforcer(append([]Enforcer(nil), enforcers...))
}

type multiEnforcer []Enforcer

func (m multiEnforcer) Disable(ctx context.Context, site string, inc *Incident) error {
	return m.each(func(e Enforcer) error { return e.Disable(ctx, site, inc) })
}

func (m multiEnforcer) Enable(ctx context.Context, site string) error {
	return m.each(func(e Enforcer) error { return e.Enable(ctx, site) })
}

func (m multiEnforcer) each(call func(Enforcer) error) error {
	var errs []error
	for i, e := range m {
		if e == nil {
			continue
		}
		if err := call(e); err != nil {
			errs = append(errs, &enforcerError{pos: i + 1, enforcer: e, err: err})
		}
	}
	return errors.Join(errs...)
}

type enforcerError struct {
	pos      int
	enforcer Enforcer
	err      error
}

func (e *enforcerError) Error() string {
	// Our own errors already begin with "spamrun: "; once per line is enough.
	return fmt.Sprintf("spamrun: enforcer %d (%T): %s", e.pos, e.enforcer, strings.TrimPrefix(e.err.Error(), "spamrun: "))
}

func (e *enforcerError) Unwrap() error { return e.err }
