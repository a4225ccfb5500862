package enforce

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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/internal/enforceconf"
)

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
	Incident *spamrun.Incident `json:"incident,omitempty"`
}

// Webhook tells a control panel over HTTP: each Disable and Enable is a
// POST of a WebhookPayload to its URL, with the headers
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
type Webhook struct {
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

var _ spamrun.Enforcer = (*Webhook)(nil)

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

// NewWebhook returns an enforcer that posts to rawURL, an http or https
// URL, with the defaults described on Webhook. Set its fields before first
// use.
func NewWebhook(rawURL string) (*Webhook, error) {
	u, shown, err := enforceconf.ParseWebhookURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("enforce: %w", err)
	}
	return &Webhook{url: u.String(), shown: shown}, nil
}

// Disable posts a disable event, keyed by the incident ID.
func (w *Webhook) Disable(ctx context.Context, site string, inc *spamrun.Incident) error {
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
func (w *Webhook) Enable(ctx context.Context, site string) error {
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

func (w *Webhook) send(ctx context.Context, p WebhookPayload) error {
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	p.Time = now().UTC()
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("enforce: webhook %s: %s %q: %w", w.shown, p.Event, p.Site, err)
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

	head := fmt.Sprintf("enforce: webhook %s: %s %q", w.shown, p.Event, p.Site)
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

func (w *Webhook) post(ctx context.Context, body []byte, key string) attempt {
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
