package enforce_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/enforce"
	"github.com/spamrun/spamrun/spamruntest"
)

// hook is a webhook receiver that records what it gets and answers with
// respond, called with the 1-based number of the request.
type hook struct {
	srv *httptest.Server

	mu   sync.Mutex
	reqs []hookRequest
}

type hookRequest struct {
	method, path string
	header       http.Header
	body         []byte
}

func newHook(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) *hook {
	h := new(hook)
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.reqs = append(h.reqs, hookRequest{r.Method, r.URL.Path, r.Header.Clone(), body})
		n := len(h.reqs)
		h.mu.Unlock()
		respond(n, w, r)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.reqs)
}

func status(codes ...int) func(int, http.ResponseWriter, *http.Request) {
	return func(n int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(codes[min(n, len(codes))-1])
	}
}

// sleeps records the waits between attempts instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.d)
}

func newWebhook(t *testing.T, url string) (*enforce.Webhook, *sleeps) {
	t.Helper()
	w, err := enforce.NewWebhook(url)
	if err != nil {
		t.Fatal(err)
	}
	s := new(sleeps)
	w.Sleep = s.sleep
	w.Now = spamruntest.NewClock(spamruntest.T0).Now
	return w, s
}

func TestWebhookDisablePayload(t *testing.T) {
	h := newHook(t, status(http.StatusNoContent))
	w, _ := newWebhook(t, h.srv.URL+"/hooks/spamrun")
	secret := []byte("s3cret")
	w.Secret = secret
	inc := testIncident("shop1")
	if err := w.Disable(context.Background(), "shop1", inc); err != nil {
		t.Fatal(err)
	}
	reqs := h.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost || r.path != "/hooks/spamrun" {
		t.Errorf("request = %s %s, want POST /hooks/spamrun", r.method, r.path)
	}
	for k, v := range map[string]string{
		"Content-Type":    "application/json",
		"User-Agent":      "spamrun",
		"Idempotency-Key": inc.ID,
	} {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}

	var body map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	incJSON, _ := json.Marshal(inc)
	want := map[string]string{
		"event":           `"disable"`,
		"site":            `"shop1"`,
		"time":            `"2026-11-02T09:00:00Z"`,
		"idempotency_key": `"inc-20261102-0001"`,
		"incident":        string(incJSON),
	}
	if len(body) != len(want) {
		t.Errorf("body has fields %q, want %q", slices.Sorted(maps.Keys(body)), slices.Sorted(maps.Keys(want)))
	}
	for k, v := range want {
		if string(body[k]) != v {
			t.Errorf("body %s = %s, want %s", k, body[k], v)
		}
	}
	var p enforce.WebhookPayload
	if err := json.Unmarshal(r.body, &p); err != nil || p.Incident == nil || p.Incident.Messages[0].Subject != "cheap pills" {
		t.Errorf("body does not decode as WebhookPayload: %+v, %v", p, err)
	}

	sig := r.header.Get("X-Spamrun-Signature")
	mac := hmac.New(sha256.New, secret)
	mac.Write(r.body)
	if wantSig := "sha256=" + hex.EncodeToString(mac.Sum(nil)); sig != wantSig {
		t.Errorf("signature = %q, want %q", sig, wantSig)
	}
	if !enforce.VerifyWebhookSignature(secret, r.body, sig) {
		t.Error("VerifyWebhookSignature refuses a good signature")
	}
	if enforce.VerifyWebhookSignature([]byte("other"), r.body, sig) {
		t.Error("VerifyWebhookSignature accepts the wrong secret")
	}
	tampered := bytes.Replace(r.body, []byte("shop1"), []byte("shop2"), 1)
	if enforce.VerifyWebhookSignature(secret, tampered, sig) {
		t.Error("VerifyWebhookSignature accepts a changed body")
	}
}

func TestWebhookEnable(t *testing.T) {
	h := newHook(t, status(http.StatusOK))
	w, _ := newWebhook(t, h.srv.URL)
	for range 2 {
		if err := w.Enable(context.Background(), "shop1"); err != nil {
			t.Fatal(err)
		}
	}
	reqs := h.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	var p map[string]any
	if err := json.Unmarshal(reqs[0].body, &p); err != nil {
		t.Fatal(err)
	}
	if p["event"] != "enable" || p["site"] != "shop1" || p["time"] != "2026-11-02T09:00:00Z" {
		t.Errorf("enable body = %s", reqs[0].body)
	}
	if _, ok := p["incident"]; ok {
		t.Errorf("enable body has an incident: %s", reqs[0].body)
	}
	k1, k2 := reqs[0].header.Get("Idempotency-Key"), reqs[1].header.Get("Idempotency-Key")
	if k1 == "" || k1 == k2 || p["idempotency_key"] != k1 {
		t.Errorf("enable keys %q, %q (body %v): want set, in the body, and one per call", k1, k2, p["idempotency_key"])
	}
	if sig := reqs[0].header.Get("X-Spamrun-Signature"); sig != "" {
		t.Errorf("signed without a secret: %q", sig)
	}
}

func TestWebhookDisableWithoutIncidentID(t *testing.T) {
	h := newHook(t, status(http.StatusOK))
	w, _ := newWebhook(t, h.srv.URL)
	if err := w.Disable(context.Background(), "shop1", nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Disable(context.Background(), "shop1", &spamrun.Incident{Site: "shop1"}); err != nil {
		t.Fatal(err)
	}
	reqs := h.requests()
	k1, k2 := reqs[0].header.Get("Idempotency-Key"), reqs[1].header.Get("Idempotency-Key")
	if k1 == "" || k2 == "" || k1 == k2 {
		t.Errorf("keys without an incident ID = %q, %q; want two different keys", k1, k2)
	}
	var p map[string]any
	if err := json.Unmarshal(reqs[0].body, &p); err != nil {
		t.Fatal(err)
	}
	if _, ok := p["incident"]; ok {
		t.Errorf("nil incident sent as %v", p["incident"])
	}
}

func TestWebhookRetriesServerErrors(t *testing.T) {
	h := newHook(t, status(503, 503, 200))
	w, s := newWebhook(t, h.srv.URL)
	if err := w.Disable(context.Background(), "shop1", testIncident("shop1")); err != nil {
		t.Fatalf("Disable: %v", err)
	}
	reqs := h.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d attempts, want 3", len(reqs))
	}
	if want := []time.Duration{time.Second, 2 * time.Second}; !slices.Equal(s.got(), want) {
		t.Errorf("backoff = %v, want %v", s.got(), want)
	}
	for _, r := range reqs[1:] {
		if !bytes.Equal(r.body, reqs[0].body) || r.header.Get("Idempotency-Key") != reqs[0].header.Get("Idempotency-Key") {
			t.Errorf("a retry differs from the first attempt: %s, key %q", r.body, r.header.Get("Idempotency-Key"))
		}
	}
}

func TestWebhookGivesUp(t *testing.T) {
	h := newHook(t, status(500))
	u := strings.Replace(h.srv.URL, "http://", "http://panel:hunter2@", 1) + "/hook?token=tok-secret#frag"
	w, s := newWebhook(t, u)
	err := w.Enable(context.Background(), "shop1")
	if err == nil {
		t.Fatal("no error after every attempt failed")
	}
	if n := len(h.requests()); n != 4 {
		t.Errorf("%d attempts, want 4", n)
	}
	if want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}; !slices.Equal(s.got(), want) {
		t.Errorf("backoff = %v, want %v", s.got(), want)
	}
	msg := err.Error()
	for _, want := range []string{"enforce: webhook " + h.srv.URL + "/hook:", `enable "shop1"`, "500 Internal Server Error", "4 attempts"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	for _, secret := range []string{"hunter2", "tok-secret", "frag"} {
		if strings.Contains(msg, secret) {
			t.Errorf("error %q reveals %q", msg, secret)
		}
	}
}

func TestWebhookNoRetryOnClientError(t *testing.T) {
	for _, code := range []int{400, 401, 404, 409, 302} {
		h := newHook(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Location", "/elsewhere")
			w.WriteHeader(code)
			fmt.Fprintln(w, "unknown site shop1")
		})
		w, s := newWebhook(t, h.srv.URL)
		err := w.Disable(context.Background(), "shop1", testIncident("shop1"))
		if err == nil {
			t.Errorf("%d: no error", code)
			continue
		}
		if n := len(h.requests()); n != 1 {
			t.Errorf("%d: %d requests, want 1", code, n)
		}
		if len(s.got()) != 0 {
			t.Errorf("%d: waited %v", code, s.got())
		}
		for _, want := range []string{"status " + strconv.Itoa(code) + " " + http.StatusText(code), "unknown site shop1", "(1 attempt)"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%d: error %q does not mention %q", code, err, want)
			}
		}
	}
}

func TestWebhookRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		header string
		want   time.Duration
	}{
		{"7", 7 * time.Second},
		{" 0 ", 0},
		{"86400", time.Minute},
		{"Wed, 21 Oct 2026 07:28:00 GMT", time.Second},
		{"-5", time.Second},
	} {
		h := newHook(t, func(n int, w http.ResponseWriter, _ *http.Request) {
			if n == 1 {
				w.Header().Set("Retry-After", tt.header)
				w.WriteHeader(http.StatusTooManyRequests)
			}
		})
		w, s := newWebhook(t, h.srv.URL)
		if err := w.Disable(context.Background(), "shop1", testIncident("shop1")); err != nil {
			t.Errorf("Retry-After %q: %v", tt.header, err)
		}
		if want := []time.Duration{tt.want}; !slices.Equal(s.got(), want) {
			t.Errorf("Retry-After %q: waited %v, want %v", tt.header, s.got(), want)
		}
	}
}

func TestWebhookAttemptTimeout(t *testing.T) {
	release := make(chan struct{})
	h := newHook(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	w, s := newWebhook(t, h.srv.URL)
	w.Timeout = 100 * time.Millisecond
	w.Retries = 1
	// A backstop, so that a missing per-attempt timeout fails the test
	// instead of hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	err := w.Disable(ctx, "shop1", testIncident("shop1"))
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("two 100ms attempts took %v", d)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no response within 100ms") || !strings.Contains(err.Error(), "2 attempts") {
		t.Errorf("Disable = %v, want a per-attempt timeout after 2 attempts", err)
	}
	if n := len(h.requests()); n != 2 {
		t.Errorf("%d attempts, want 2", n)
	}
	if want := []time.Duration{time.Second}; !slices.Equal(s.got(), want) {
		t.Errorf("waited %v, want %v", s.got(), want)
	}
}

func TestWebhookContextCancelStopsRetries(t *testing.T) {
	h := newHook(t, status(503))
	w, _ := newWebhook(t, h.srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	w.Sleep = func(ctx context.Context, _ time.Duration) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}
	err := w.Disable(ctx, "shop1", testIncident("shop1"))
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "503") {
		t.Errorf("Disable = %v, want context.Canceled naming the last status", err)
	}
	if n := len(h.requests()); n != 1 {
		t.Errorf("%d attempts after cancel, want 1", n)
	}

	if err := w.Enable(ctx, "shop1"); !errors.Is(err, context.Canceled) {
		t.Errorf("Enable with a cancelled context = %v", err)
	}
	if n := len(h.requests()); n != 1 {
		t.Errorf("a cancelled context still posted: %d requests", n)
	}
}

func TestWebhookCancelDuringAttempt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	h := newHook(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		cancel()
		<-r.Context().Done()
	})
	w, s := newWebhook(t, h.srv.URL)
	err := w.Disable(ctx, "shop1", testIncident("shop1"))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Disable = %v, want context.Canceled", err)
	}
	if n := len(h.requests()); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
	if len(s.got()) != 0 {
		t.Errorf("waited %v to retry after the caller gave up", s.got())
	}
}

func TestWebhookDefaultSleepRespectsContext(t *testing.T) {
	h := newHook(t, status(503))
	w, err := enforce.NewWebhook(h.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	w.Backoff = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = w.Disable(ctx, "shop1", testIncident("shop1"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Disable = %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the backoff ignored the context: %v", d)
	}
}

func TestNewWebhookBadURL(t *testing.T) {
	for _, u := range []string{
		"",
		"panel.example.net/hook",
		"ftp://panel.example.net/hook",
		"https:///hook",
		"https://user:hunter2@[::1/hook",
		"https://panel.example.net/%zz?token=hunter2",
	} {
		_, err := enforce.NewWebhook(u)
		if err == nil {
			t.Errorf("NewWebhook(%q) succeeded", u)
			continue
		}
		if !strings.HasPrefix(err.Error(), "enforce: bad webhook URL") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("NewWebhook(%q) = %v", u, err)
		}
	}
}
