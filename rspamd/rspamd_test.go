package rspamd_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/rspamd"
	"github.com/spamrun/spamrun/spamruntest"
)

func sample(t *testing.T, name string) *spamrun.Message {
	t.Helper()
	for _, s := range spamruntest.Samples() {
		if s.Name == name {
			return s.Message(t)
		}
	}
	t.Fatalf("no sample %q", name)
	return nil
}

// checkSum fails unless the rule points add up to the value: callers show
// the rules as the explanation of the score.
func checkSum(t *testing.T, sc spamrun.Score) {
	t.Helper()
	var sum float64
	for _, r := range sc.Rules {
		sum += r.Points
	}
	if math.Abs(sum-sc.Value) > 1e-9 {
		t.Errorf("rule points add up to %v, Value is %v: %+v", sum, sc.Value, sc.Rules)
	}
}

func TestGTUBEIsSpam(t *testing.T) {
	s := &rspamd.Scorer{URL: rspamdURL(t)}
	start := time.Now()
	sc, err := s.Score(context.Background(), sample(t, "spam-gtube"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("GTUBE in %v: %.2f %+v", time.Since(start), sc.Value, sc.Rules)
	// rspamd forces reject (15) for GTUBE: 15 × 5/6.
	if sc.Value != 12.5 {
		t.Errorf("Value = %v, want 12.5", sc.Value)
	}
	if !sc.Has(rspamd.RuleForced) {
		t.Fatalf("no %s rule: %+v", rspamd.RuleForced, sc.Rules)
	}
	for _, r := range sc.Rules {
		if r.Name == rspamd.RuleForced && !strings.Contains(r.Reason, "GTUBE") {
			t.Errorf("reason %q does not name GTUBE", r.Reason)
		}
	}
	checkSum(t, sc)
}

func TestHamIsNotSpam(t *testing.T) {
	s := &rspamd.Scorer{URL: rspamdURL(t), Site: func(*spamrun.Message) string { return "shop1" }}
	for _, name := range []string{"ham-order-magento", "ham-password-reset", "ham-registration-welcome"} {
		sc, err := s.Score(context.Background(), sample(t, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %.2f %+v", name, sc.Value, sc.Rules)
		if sc.Value >= 5 {
			t.Errorf("%s: Value = %.2f, want < 5", name, sc.Value)
		}
		checkSum(t, sc)
	}
}

func TestSymbolsCarryPoints(t *testing.T) {
	s := &rspamd.Scorer{URL: rspamdURL(t)}
	// No Message-ID and no Date, which rspamd scores.
	msg, err := spamrun.ParseMessage([]byte("From: Shop <www@shop1.example>\r\nTo: a@example.org\r\nSubject: Your order\r\n\r\nThank you for your order.\r\n"),
		"www@shop1.example", []string{"a@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := s.Score(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%.2f %+v", sc.Value, sc.Rules)
	var mid *spamrun.RuleHit
	for i, r := range sc.Rules {
		if r.Points == 0 {
			t.Errorf("rule %s has no points", r.Name)
		}
		if r.Name == "MISSING_MID" {
			mid = &sc.Rules[i]
		}
	}
	if mid == nil {
		t.Fatalf("no MISSING_MID rule: %+v", sc.Rules)
	}
	// rspamd's 2.5 points for it, rescaled by 5/6.
	if want := 2.5 * 5 / 6; math.Abs(mid.Points-want) > 1e-9 {
		t.Errorf("MISSING_MID points = %v, want %v", mid.Points, want)
	}
	if mid.Reason == "" {
		t.Error("MISSING_MID has no reason")
	}
	checkSum(t, sc)
}

func TestSpamThreshold(t *testing.T) {
	url := rspamdURL(t)
	msg := sample(t, "spam-gtube")
	sc, err := (&rspamd.Scorer{URL: url, SpamThreshold: 15}).Score(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Value != 5 {
		t.Errorf("with SpamThreshold 15, Value = %v, want 5", sc.Value)
	}
}

// TestEnvelopeHeaders checks what rspamd is told besides the message.
func TestEnvelopeHeaders(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		if r.URL.Path != "/checkv2" || r.Method != http.MethodPost {
			http.Error(w, "wrong request", http.StatusNotFound)
			return
		}
		w.Write([]byte(`{"score": 0, "required_score": 15, "action": "no action", "symbols": {}}`))
	}))
	defer srv.Close()
	msg, err := spamrun.ParseMessage([]byte("Subject: hi\n\nhello\n"), "www@shop1.example", []string{"a@example.org", "b@example.net"})
	if err != nil {
		t.Fatal(err)
	}
	s := &rspamd.Scorer{
		URL:      strings.TrimPrefix(srv.URL, "http://") + "/",
		Password: "secret",
		Site:     func(*spamrun.Message) string { return "shop1" },
		QueueID:  func(*spamrun.Message) string { return "Q1" },
	}
	if _, err := s.Score(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]string{
		"From":     {"www@shop1.example"},
		"Rcpt":     {"a@example.org", "b@example.net"},
		"User":     {"shop1"},
		"Queue-Id": {"Q1"},
		"Password": {"secret"},
		"Pass":     {"all"},
	} {
		if g := got.Values(name); strings.Join(g, ",") != strings.Join(want, ",") {
			t.Errorf("header %s = %q, want %q", name, g, want)
		}
	}
}

func TestResidualRule(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"score": 3.199999, "required_score": 15, "action": "no action", "symbols": {
			"A": {"name": "A", "score": 2.0, "description": "first", "options": ["x", "y"]},
			"B": {"name": "B", "score": 1.2},
			"C": {"name": "C", "score": 0}}}`))
	}))
	defer srv.Close()
	sc, err := (&rspamd.Scorer{URL: srv.URL, SpamThreshold: 5}).Score(context.Background(), &spamrun.Message{Raw: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Value != 3.199999 || len(sc.Rules) != 3 || sc.Rules[2].Name != rspamd.RuleResidual {
		t.Fatalf("got %v %+v, want A, B and a residual", sc.Value, sc.Rules)
	}
	if sc.Rules[0].Reason != "first (x, y)" {
		t.Errorf("reason = %q", sc.Rules[0].Reason)
	}
	checkSum(t, sc)
}

func TestDeadAddressIsTemporary(t *testing.T) {
	addr := closedAddr(t)
	s := &rspamd.Scorer{URL: "http://" + addr, Timeout: 5 * time.Second}
	start := time.Now()
	_, err := s.Score(context.Background(), &spamrun.Message{Raw: []byte("x")})
	if !rspamd.IsTemporary(err) {
		t.Fatalf("err = %v, want a temporary *Error", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v to find nobody listening", d)
	}
	if !strings.HasPrefix(err.Error(), "rspamd: ") {
		t.Errorf("err = %q, want the rspamd: prefix", err)
	}
}

func TestHangingServerTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	s := &rspamd.Scorer{URL: srv.URL, Timeout: 300 * time.Millisecond}
	start := time.Now()
	_, err := s.Score(context.Background(), &spamrun.Message{Raw: []byte("x")})
	d := time.Since(start)
	if !rspamd.IsTemporary(err) {
		t.Fatalf("err = %v, want a temporary *Error", err)
	}
	if d < 300*time.Millisecond || d > 2*time.Second {
		t.Errorf("gave up after %v, want about 300ms", d)
	}
	if !strings.Contains(err.Error(), "no answer within 300ms") {
		t.Errorf("err = %q does not say it timed out", err)
	}
}

func TestContextCancel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server notices a closed connection, and cancels
		// r.Context(), only once the body has been read.
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := (&rspamd.Scorer{URL: srv.URL}).Score(ctx, &spamrun.Message{Raw: []byte("x")})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned %v after the cancel", d)
	}
}

func TestErrorAnswers(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		body      string
		temporary bool
		badResp   bool
		text      string
	}{
		{"bad JSON", 200, `<html>not rspamd</html>`, false, true, "bad response"},
		{"no score", 200, `{"action": "no action"}`, false, true, "no score"},
		{"rspamd error", 200, `{"error": "cannot parse"}`, false, true, "cannot parse"},
		{"server error", 500, `{"error": "invalid command"}`, true, false, "HTTP 500: invalid command"},
		{"unavailable", 503, `busy`, true, false, "HTTP 503: busy"},
		{"too many", 429, ``, true, false, "HTTP 429"},
		{"forbidden", 403, `{"error": "unauthorized"}`, false, false, "HTTP 403: unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			_, err := (&rspamd.Scorer{URL: srv.URL}).Score(context.Background(), &spamrun.Message{Raw: []byte("x")})
			var e *rspamd.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want an *Error", err)
			}
			if e.Temporary() != tc.temporary || rspamd.IsTemporary(err) != tc.temporary {
				t.Errorf("Temporary() = %v, want %v (%v)", e.Temporary(), tc.temporary, err)
			}
			if errors.Is(err, rspamd.ErrBadResponse) != tc.badResp {
				t.Errorf("errors.Is(ErrBadResponse) = %v, want %v", !tc.badResp, tc.badResp)
			}
			if !strings.Contains(err.Error(), tc.text) || !strings.HasPrefix(err.Error(), "rspamd: ") {
				t.Errorf("err = %q, want it to contain %q", err, tc.text)
			}
		})
	}
}

func TestBadConfig(t *testing.T) {
	for _, s := range []*rspamd.Scorer{{}, {URL: "http://127.0.0.1:1", SpamThreshold: -1}} {
		_, err := s.Score(context.Background(), &spamrun.Message{Raw: []byte("x")})
		if !errors.Is(err, rspamd.ErrBadConfig) || rspamd.IsTemporary(err) {
			t.Errorf("%+v: err = %v, want permanent ErrBadConfig", s, err)
		}
	}
}

func TestIsTemporaryOnOtherErrors(t *testing.T) {
	if rspamd.IsTemporary(nil) || rspamd.IsTemporary(errors.New("x")) {
		t.Error("IsTemporary is true for an error that is not an *Error")
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
