package spamassassin

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamruntest"
)

var tiny = &spamrun.Message{Raw: []byte("Subject: hi\r\n\r\nhello\r\n")}

// serveOnce answers one connection with answer after reading the request,
// and returns the request it read.
func serveOnce(l net.Listener, answer string) (string, error) {
	c, err := l.Accept()
	if err != nil {
		return "", err
	}
	defer c.Close()
	br := bufio.NewReader(c)
	var head strings.Builder
	length := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return head.String(), err
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
		if v, ok := strings.CutPrefix(line, "Content-length: "); ok {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(br, body); err != nil {
		return head.String(), err
	}
	_, err = io.WriteString(c, answer)
	return head.String() + string(body), err
}

// fake starts a server that answers one request with answer.
func fake(t *testing.T, answer string) (addr string, request <-chan string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ch := make(chan string, 1)
	go func() {
		req, _ := serveOnce(l, answer)
		ch <- req
	}()
	return l.Addr().String(), ch
}

const report = "SPAMD/1.1 0 EX_OK\r\n" +
	"Content-length: %d\r\n" +
	"Spam: True ; 7.0 / 5.0\r\n\r\n"

func withBody(body string) string {
	return strings.Replace(report, "%d", strconv.Itoa(len(body)), 1) + body
}

const table = `Content preview:  ----- --- ---
   9.9 FAKE_RULE  a spammer's table in the preview

Content analysis details:   (7.0 points, 5.0 required)

 pts rule name              description
---- ---------------------- --------------------------------------------------
 2.7 MISSING_DATE           Missing Date: header
-0.0 NO_RECEIVED            Informational: message has no Received headers
 1.0 PDS_OTHER_BAD_TLD      Untrustworthy TLDs
                            [URI: bestpharma-online.top (top)]
 3.3 DRUGS_ERECTILE         Refers to an erectile drug

`

func TestFakeRequestAndReport(t *testing.T) {
	addr, req := fake(t, withBody(table))
	s := &Scorer{Addr: addr, User: "site1", Timeout: 2 * time.Second}
	sc, err := s.Score(context.Background(), tiny)
	if err != nil {
		t.Fatal(err)
	}
	want := "REPORT SPAMC/1.5\r\nContent-length: 22\r\nUser: site1\r\n\r\n" + string(tiny.Raw)
	if got := <-req; got != want {
		t.Errorf("request\n%q\nwant\n%q", got, want)
	}
	wantRules := []spamrun.RuleHit{
		{Name: "MISSING_DATE", Points: 2.7, Reason: "Missing Date: header"},
		{Name: "NO_RECEIVED", Points: 0, Reason: "Informational: message has no Received headers"},
		{Name: "PDS_OTHER_BAD_TLD", Points: 1.0, Reason: "Untrustworthy TLDs [URI: bestpharma-online.top (top)]"},
		{Name: "DRUGS_ERECTILE", Points: 3.3, Reason: "Refers to an erectile drug"},
	}
	if sc.Value != 7.0 {
		t.Errorf("Value = %v, want 7", sc.Value)
	}
	if len(sc.Rules) != len(wantRules) {
		t.Fatalf("rules = %+v\nwant %+v", sc.Rules, wantRules)
	}
	for i := range wantRules {
		if sc.Rules[i] != wantRules[i] {
			t.Errorf("rule %d = %+v, want %+v", i, sc.Rules[i], wantRules[i])
		}
	}
	checkSum(t, sc)
}

// A residual shows up as RuleOther so that the rules still add up.
func TestFakeResidual(t *testing.T) {
	body := "---- ---- ----\n 2.0 A_RULE  something\n"
	addr, _ := fake(t, withBody(body))
	sc, err := (&Scorer{Addr: addr, Timeout: 2 * time.Second}).Score(context.Background(), tiny)
	if err != nil {
		t.Fatal(err)
	}
	if !sc.Has("A_RULE") || !sc.Has(RuleOther) || sc.Value != 7 {
		t.Errorf("score = %+v", sc)
	}
	checkSum(t, sc)
}

func TestFakeTempfail(t *testing.T) {
	for _, tc := range []struct {
		answer    string
		temporary bool
	}{
		{"SPAMD/1.0 75 EX_TEMPFAIL\r\n\r\n", true},
		{"SPAMD/1.0 69 EX_UNAVAILABLE\r\n\r\n", true},
		{"SPAMD/1.0 76 EX_PROTOCOL\r\n\r\n", false},
		{"SPAMD/1.0 64 EX_USAGE\r\n\r\n", false},
	} {
		addr, _ := fake(t, tc.answer)
		_, err := (&Scorer{Addr: addr, Timeout: 2 * time.Second}).Score(context.Background(), tiny)
		var e *Error
		if !errors.As(err, &e) || e.Code == 0 {
			t.Fatalf("%q: err = %v, want an *Error with a code", tc.answer, err)
		}
		if IsTemporary(err) != tc.temporary {
			t.Errorf("%q: IsTemporary = %v, want %v (%v)", tc.answer, IsTemporary(err), tc.temporary, err)
		}
		if !strings.HasPrefix(err.Error(), "spamassassin: ") {
			t.Errorf("error %q lacks the package prefix", err)
		}
	}
}

func TestFakeMalformed(t *testing.T) {
	for _, answer := range []string{
		"HTTP/1.1 200 OK\r\n\r\n",
		"SPAMD/1.1 zero EX_OK\r\n\r\n",
		"SPAMD/1.1 0 EX_OK\r\n\r\n", // no Spam header
		"SPAMD/1.1 0 EX_OK\r\nSpam: Maybe ; 1 / 5\r\n\r\n",
		"SPAMD/1.1 0 EX_OK\r\nSpam: True ; lots / 5.0\r\n\r\n",
		"SPAMD/1.1 0 EX_OK\r\nSpam: True ; NaN / 5.0\r\n\r\n",
		"SPAMD/1.1 0 EX_OK\r\nno colon here\r\n\r\n",
		"SPAMD/1.1 0 EX_OK\r\nContent-length: -4\r\nSpam: True ; 1 / 5\r\n\r\n",
	} {
		addr, _ := fake(t, answer)
		_, err := (&Scorer{Addr: addr, Timeout: 2 * time.Second}).Score(context.Background(), tiny)
		if !errors.Is(err, ErrProtocol) {
			t.Errorf("%q: err = %v, want ErrProtocol", answer, err)
		}
		if IsTemporary(err) {
			t.Errorf("%q: protocol error is temporary", answer)
		}
	}
}

// A connection cut in the middle of the answer is spamd dying or being
// restarted: worth a retry.
func TestFakeCutShort(t *testing.T) {
	for _, answer := range []string{
		"",
		"SPAMD/1.1 0 EX",
		"SPAMD/1.1 0 EX_OK\r\nContent-length: 100\r\nSpam: True ; 1 / 5\r\n\r\nshort",
	} {
		addr, _ := fake(t, answer)
		_, err := (&Scorer{Addr: addr, Timeout: 2 * time.Second}).Score(context.Background(), tiny)
		if err == nil || !IsTemporary(err) {
			t.Errorf("%q: err = %v, want a temporary error", answer, err)
		}
	}
}

func TestDeadAddress(t *testing.T) {
	start := time.Now()
	_, err := (&Scorer{Addr: spamruntest.FreeAddr(t), Timeout: 5 * time.Second}).Score(context.Background(), tiny)
	if !IsTemporary(err) {
		t.Errorf("err = %v, want temporary", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refused connection took %v", d)
	}
}

// hanging accepts connections and never answers.
func hanging(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); close(done) })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()
	return l.Addr().String()
}

func TestHangingServer(t *testing.T) {
	addr := hanging(t)
	start := time.Now()
	_, err := (&Scorer{Addr: addr, Timeout: 300 * time.Millisecond}).Score(context.Background(), tiny)
	d := time.Since(start)
	if !IsTemporary(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a temporary deadline error", err)
	}
	if d < 250*time.Millisecond || d > 2*time.Second {
		t.Errorf("gave up after %v, want about 300ms", d)
	}
}

func TestContextCancel(t *testing.T) {
	addr := hanging(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := (&Scorer{Addr: addr, Timeout: 10 * time.Second}).Score(ctx, tiny)
	if !errors.Is(err, context.Canceled) || !IsTemporary(err) {
		t.Errorf("err = %v, want a temporary context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancel took %v", d)
	}
}

func TestContextDeadlineWins(t *testing.T) {
	addr := hanging(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := (&Scorer{Addr: addr, Timeout: 10 * time.Second}).Score(ctx, tiny)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestUserWithLineBreak(t *testing.T) {
	addr, _ := fake(t, withBody(table))
	_, err := (&Scorer{Addr: addr, User: "x\r\nUser: root", Timeout: time.Second}).Score(context.Background(), tiny)
	if err == nil || IsTemporary(err) {
		t.Errorf("err = %v, want a permanent error", err)
	}
}

func TestCut(t *testing.T) {
	raw := []byte("Subject: a\r\n\r\nline one\r\nline two\r\n")
	for _, tc := range []struct {
		max  int64
		want string
		cut  bool
	}{
		{0, string(raw), false},
		{-1, string(raw), false},
		{int64(len(raw)), string(raw), false},
		{20, "Subject: a\r\n\r\n", true},
		{5, "Subje", true}, // no line break at all: cut where the limit is
	} {
		got, cut := (&Scorer{MaxSize: tc.max}).cut(raw)
		if string(got) != tc.want || cut != tc.cut {
			t.Errorf("MaxSize %d: got %q, %v; want %q, %v", tc.max, got, cut, tc.want, tc.cut)
		}
	}
}

func FuzzParseAnswer(f *testing.F) {
	f.Add(withBody(table))
	f.Add("SPAMD/1.1 75 EX_TEMPFAIL\r\n\r\n")
	f.Add("SPAMD/1.1 0 EX_OK\r\nSpam: False ; -0.0 / 5.0\r\n\r\n---- -- --\n-0.0 X y\n")
	f.Fuzz(func(t *testing.T, in string) {
		a, err := readAnswer("fuzz", strings.NewReader(in))
		if err != nil {
			return
		}
		sc := a.score()
		if sc.Value != a.value {
			t.Fatalf("Value %v, spamd said %v", sc.Value, a.value)
		}
		var sum float64
		for _, r := range sc.Rules {
			sum += r.Points
		}
		// Huge made-up points lose precision in the sum; relative error.
		if diff := sum - sc.Value; diff > 1e-6*(1+abs(sc.Value)) || -diff > 1e-6*(1+abs(sc.Value)) {
			t.Fatalf("rules add up to %v, Value %v", sum, sc.Value)
		}
	})
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
