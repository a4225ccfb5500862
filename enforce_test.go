package spamrun_test

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
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamruntest"
)

func testIncident(site string) *spamrun.Incident {
	t0 := spamruntest.T0
	return &spamrun.Incident{
		ID:     "inc-20261102-0001",
		Site:   site,
		Time:   t0,
		Policy: spamrun.DefaultPolicy(),
		Count:  11,
		Messages: []spamrun.SpamEvent{{
			Time:       t0.Add(-time.Minute),
			Score:      9.5,
			Rules:      []string{"PHARMA", "URL_SHORTENER"},
			Sender:     "www-data@shop1.example",
			Recipients: 40,
			Subject:    "cheap pills",
			Evidence:   spamrun.Evidence{Script: "1001:/var/www/shop1/uploads/x.php", UID: 1001},
		}},
	}
}

func TestEnforcerFuncs(t *testing.T) {
	ctx := context.Background()
	var zero spamrun.EnforcerFuncs
	if err := zero.Disable(ctx, "shop1", nil); err != nil {
		t.Errorf("nil OnDisable: %v", err)
	}
	if err := zero.Enable(ctx, "shop1"); err != nil {
		t.Errorf("nil OnEnable: %v", err)
	}

	var got []string
	errEnable := errors.New("panel says no")
	f := spamrun.EnforcerFuncs{
		OnDisable: func(_ context.Context, site string, inc *spamrun.Incident) error {
			got = append(got, "disable "+site+" "+inc.ID)
			return nil
		},
		OnEnable: func(_ context.Context, site string) error {
			got = append(got, "enable "+site)
			return errEnable
		},
	}
	if err := f.Disable(ctx, "shop1", testIncident("shop1")); err != nil {
		t.Errorf("Disable: %v", err)
	}
	if err := f.Enable(ctx, "shop1"); err != errEnable {
		t.Errorf("Enable = %v, want %v", err, errEnable)
	}
	want := []string{"disable shop1 inc-20261102-0001", "enable shop1"}
	if !slices.Equal(got, want) {
		t.Errorf("calls = %q, want %q", got, want)
	}
}

// recorder writes a shell script that logs its arguments, working
// directory, environment and stdin to a file, so a test sees exactly what
// the command enforcer ran. The log is absent until the script runs.
func recorder(t *testing.T) (script, logFile string) {
	t.Helper()
	dir := t.TempDir()
	script = filepath.Join(dir, "record.sh")
	logFile = filepath.Join(dir, "log")
	body := `exec >'` + logFile + `'
printf 'argc=%d\n' "$#"
for a in "$@"; do printf 'arg=%s\n' "$a"; done
printf 'pwd=%s\n' "$(pwd)"
env | sed 's/^/env=/'
printf 'stdin='
cat
printf '\n'
`
	if err := os.WriteFile(script, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return script, logFile
}

type recording struct {
	args  []string
	pwd   string
	env   map[string]string
	stdin string
}

func readRecording(t *testing.T, logFile string) recording {
	t.Helper()
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatalf("the command did not run: %v", err)
	}
	rec := recording{env: map[string]string{}}
	text, stdin, ok := strings.Cut(string(data), "stdin=")
	if !ok {
		t.Fatalf("log has no stdin: %q", data)
	}
	rec.stdin = strings.TrimSuffix(stdin, "\n")
	for line := range strings.Lines(text) {
		line = strings.TrimSuffix(line, "\n")
		key, val, _ := strings.Cut(line, "=")
		switch key {
		case "arg":
			rec.args = append(rec.args, val)
		case "pwd":
			rec.pwd = val
		case "env":
			k, v, _ := strings.Cut(val, "=")
			rec.env[k] = v
		}
	}
	return rec
}

// shQuote quotes a path for a command template.
func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func TestCommandEnforcerArgv(t *testing.T) {
	t.Setenv("SPAMRUN_ENFORCE_TEST_LEAK", "caller's secret")
	script, logFile := recorder(t)
	// A bare "sh" also proves the program is found in the fixed PATH.
	c, err := spamrun.NewCommandEnforcer(
		"sh "+shQuote(script)+" suspend --site={site} --incident {incident} {event}",
		"sh "+shQuote(script)+" resume {site} {event}",
	)
	if err != nil {
		t.Fatal(err)
	}
	sites := []string{
		"shop1",
		"a b",
		"x;rm -rf ~",
		"$(id)",
		"`id`",
		"'quoted'",
		`"double" \back`,
		"*",
		"{incident}",
		"ünïcödé.example",
	}
	for _, site := range sites {
		t.Run(site, func(t *testing.T) {
			os.Remove(logFile)
			inc := testIncident(site)
			if err := c.Disable(context.Background(), site, inc); err != nil {
				t.Fatalf("Disable: %v", err)
			}
			rec := readRecording(t, logFile)
			want := []string{"suspend", "--site=" + site, "--incident", inc.ID, "disable"}
			if !slices.Equal(rec.args, want) {
				t.Errorf("argv = %q, want %q", rec.args, want)
			}
			wantJSON, _ := json.Marshal(inc)
			if rec.stdin != string(wantJSON) {
				t.Errorf("stdin = %s, want %s", rec.stdin, wantJSON)
			}
			for k, v := range map[string]string{
				"SPAMRUN_EVENT":       "disable",
				"SPAMRUN_SITE":        site,
				"SPAMRUN_INCIDENT_ID": inc.ID,
				"PATH":                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			} {
				if rec.env[k] != v {
					t.Errorf("env %s = %q, want %q", k, rec.env[k], v)
				}
			}
			for _, k := range []string{"SPAMRUN_ENFORCE_TEST_LEAK", "HOME", "USER"} {
				if v, ok := rec.env[k]; ok {
					t.Errorf("caller's %s=%q reached the command", k, v)
				}
			}
			if rec.pwd != "/" {
				t.Errorf("working directory = %q, want /", rec.pwd)
			}

			os.Remove(logFile)
			if err := c.Enable(context.Background(), site); err != nil {
				t.Fatalf("Enable: %v", err)
			}
			rec = readRecording(t, logFile)
			if want := []string{"resume", site, "enable"}; !slices.Equal(rec.args, want) {
				t.Errorf("enable argv = %q, want %q", rec.args, want)
			}
			if rec.stdin != "" {
				t.Errorf("enable stdin = %q, want empty", rec.stdin)
			}
			if rec.env["SPAMRUN_EVENT"] != "enable" || rec.env["SPAMRUN_SITE"] != site {
				t.Errorf("enable env = %q", rec.env)
			}
			if v, ok := rec.env["SPAMRUN_INCIDENT_ID"]; !ok || v != "" {
				t.Errorf("enable SPAMRUN_INCIDENT_ID = %q, %v; want set and empty", v, ok)
			}
		})
	}
}

func TestCommandEnforcerRefusesUnsafeNames(t *testing.T) {
	script, logFile := recorder(t)
	c, err := spamrun.NewCommandEnforcer("/bin/sh "+shQuote(script)+" {site} {incident}", "/bin/sh "+shQuote(script)+" {site}")
	if err != nil {
		t.Fatal(err)
	}
	for _, site := range []string{
		"", "-rf", "--all", "-", "x;rm -rf /", "../etc", "a/b", ".", "..",
		"a\nb", "a\rb", "a\x00b", "tab\there", "\x7f", "a\u0085b", "\xff\xfe",
	} {
		err := c.Disable(context.Background(), site, testIncident(site))
		if !errors.Is(err, spamrun.ErrUnsafeName) {
			t.Errorf("Disable(%q) = %v, want ErrUnsafeName", site, err)
		}
		err = c.Enable(context.Background(), site)
		if !errors.Is(err, spamrun.ErrUnsafeName) {
			t.Errorf("Enable(%q) = %v, want ErrUnsafeName", site, err)
		}
		if _, err := c.Argv(spamrun.EventDisable, site, ""); !errors.Is(err, spamrun.ErrUnsafeName) {
			t.Errorf("Argv(%q) = %v, want ErrUnsafeName", site, err)
		}
	}
	inc := testIncident("shop1")
	inc.ID = "--force"
	if err := c.Disable(context.Background(), "shop1", inc); !errors.Is(err, spamrun.ErrUnsafeName) {
		t.Errorf("incident ID %q: %v, want ErrUnsafeName", inc.ID, err)
	}
	if _, err := os.Stat(logFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused name still ran the command (log: %v)", err)
	}
}

func TestCommandTemplate(t *testing.T) {
	tests := []struct {
		tmpl string
		want []string
	}{
		{"/usr/local/bin/panel-disable-site {site}", []string{"/usr/local/bin/panel-disable-site", "shop1"}},
		{"  panel\tsuspend \n {site}  ", []string{"panel", "suspend", "shop1"}},
		{"panel --reason='spam run {incident}' -- {site}", []string{"panel", "--reason=spam run inc-7", "--", "shop1"}},
		{`panel "a \"b\" c\\d \$x \` + "`" + `y\n"`, []string{"panel", `a "b" c\d $x ` + "`" + `y\n`}},
		{`panel a\ b\'c \$HOME`, []string{"panel", "a b'c", "$HOME"}},
		{`panel 'it'"'"'s' '' "" x`, []string{"panel", "it's", "", "", "x"}},
		{`panel 'no $(expansion) | here; {site}'`, []string{"panel", "no $(expansion) | here; shop1"}},
		{"/opt/panel/bin/{event}-site --site={site}@{site} {event}", []string{"/opt/panel/bin/disable-site", "--site=shop1@shop1", "disable"}},
		{"panel {unknown} {SITE}", []string{"panel", "{unknown}", "{SITE}"}},
	}
	for _, tt := range tests {
		c, err := spamrun.NewCommandEnforcer(tt.tmpl, "")
		if err != nil {
			t.Errorf("NewCommandEnforcer(%q): %v", tt.tmpl, err)
			continue
		}
		got, err := c.Argv(spamrun.EventDisable, "shop1", "inc-7")
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%q: argv = %q, %v; want %q", tt.tmpl, got, err, tt.want)
		}
	}

	bad := []struct{ disable, enable, want string }{
		{"", "", "empty command"},
		{" \t\n", "", "empty command"},
		{"panel 'abc", "", "unterminated single quote at byte 6"},
		{`panel "abc`, "", "unterminated double quote at byte 6"},
		{`panel abc\`, "", "ends in a backslash"},
		{"'' {site}", "", "no program"},
		{"{site} --disable", "", "contains {site}"},
		{"/usr/bin/{incident}", "", "contains {site} or {incident}"},
		{"bin/panel {site}", "", "relative path"},
		{"./panel {site}", "", "relative path"},
		{"panel {site} && reload", "", "shell syntax '&'"},
		{"panel {site} > /tmp/log", "", "shell syntax '>'"},
		{"panel {site} | logger", "", "shell syntax '|'"},
		{"panel {site}; reload", "", "shell syntax ';'"},
		{"panel $(id)", "", "shell syntax '$'"},
		{"panel $HOME", "", "shell syntax '$'"},
		{`panel "$HOME"`, "", "shell expansion '$'"},
		{"panel \"`id`\"", "", "shell expansion '`'"},
		{"panel a\x00b", "", "NUL byte"},
		{"panel {site}", "panel 'x", "enable command: unterminated single quote"},
	}
	for _, tt := range bad {
		_, err := spamrun.NewCommandEnforcer(tt.disable, tt.enable)
		if !errors.Is(err, spamrun.ErrBadCommand) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewCommandEnforcer(%q, %q) = %v, want ErrBadCommand mentioning %q", tt.disable, tt.enable, err, tt.want)
		}
	}

	c, err := spamrun.NewCommandEnforcer("panel {site}", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Argv("suspend", "shop1", ""); err == nil {
		t.Error("Argv with an unknown event succeeded")
	}
}

func TestCommandEnforcerEmptyEnableIsNoop(t *testing.T) {
	script, logFile := recorder(t)
	c, err := spamrun.NewCommandEnforcer("/bin/sh "+shQuote(script)+" {site}", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if argv, err := c.Argv(spamrun.EventEnable, "shop1", ""); argv != nil || err != nil {
		t.Errorf("Argv(enable) = %q, %v; want nothing to run", argv, err)
	}
	if err := c.Enable(context.Background(), "shop1"); err != nil {
		t.Errorf("Enable: %v", err)
	}
	if _, err := os.Stat(logFile); !errors.Is(err, os.ErrNotExist) {
		t.Error("Enable ran the disable command")
	}
}

func TestCommandEnforcerIgnoresCallerPATH(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	prog := filepath.Join(dir, "spamrun-enforce-test-panel")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\ntouch "+shQuote(marker)+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(filepath.ListSeparator)+os.Getenv("PATH"))
	c, err := spamrun.NewCommandEnforcer("spamrun-enforce-test-panel {site}", "")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Disable(context.Background(), "shop1", testIncident("shop1"))
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("Disable = %v, want a not-found error", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the program was found through the caller's PATH")
	}
}

func TestCommandEnforcerExitStatus(t *testing.T) {
	c, err := spamrun.NewCommandEnforcer(`/bin/sh -c '
		i=0
		while [ $i -lt 200 ]; do echo "noise line $i" >&2; i=$((i+1)); done
		echo "panel: no such vhost: $SPAMRUN_SITE" >&2
		exit 3'`, "")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Disable(context.Background(), "shop1", testIncident("shop1"))
	if err == nil {
		t.Fatal("a failing command gave no error")
	}
	msg := err.Error()
	for _, want := range []string{"spamrun: ", "/bin/sh", `disable "shop1"`, "exit status 3", "panel: no such vhost: shop1"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if strings.Contains(msg, "noise line 0") {
		t.Errorf("error carries all of stderr, not its tail: %d bytes", len(msg))
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Errorf("error does not unwrap to exit code 3: %v", err)
	}
}

func TestCommandEnforcerTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	// The shell waits on a child; killing the shell alone would leave the
	// sleep running with stderr open.
	c, err := spamrun.NewCommandEnforcer(`/bin/sh -c 'sleep 30 & echo $! >"$0"; wait' `+shQuote(pidFile), "")
	if err != nil {
		t.Fatal(err)
	}
	c.Timeout = 300 * time.Millisecond
	start := time.Now()
	err = c.Disable(context.Background(), "shop1", testIncident("shop1"))
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timeout") {
		t.Errorf("Disable = %v, want a timeout", err)
	}
	if elapsed > 5*time.Second {
		t.Errorf("Disable took %v with a 300ms timeout", elapsed)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the command did not start: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			if p, err := os.FindProcess(pid); err == nil {
				p.Kill()
			}
			t.Fatalf("the command's child %d outlived the timeout", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid runs; a zombie nobody reaped yet is dead.
func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil || p.Signal(syscall.Signal(0)) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}

func TestCommandEnforcerContextCancel(t *testing.T) {
	c, err := spamrun.NewCommandEnforcer("sleep 30", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err = c.Disable(ctx, "shop1", testIncident("shop1"))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Disable = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancel took %v to stop the command", d)
	}
}

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

func newWebhook(t *testing.T, url string) (*spamrun.WebhookEnforcer, *sleeps) {
	t.Helper()
	w, err := spamrun.NewWebhookEnforcer(url)
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
	var p spamrun.WebhookPayload
	if err := json.Unmarshal(r.body, &p); err != nil || p.Incident == nil || p.Incident.Messages[0].Subject != "cheap pills" {
		t.Errorf("body does not decode as WebhookPayload: %+v, %v", p, err)
	}

	sig := r.header.Get("X-Spamrun-Signature")
	mac := hmac.New(sha256.New, secret)
	mac.Write(r.body)
	if wantSig := "sha256=" + hex.EncodeToString(mac.Sum(nil)); sig != wantSig {
		t.Errorf("signature = %q, want %q", sig, wantSig)
	}
	if !spamrun.VerifyWebhookSignature(secret, r.body, sig) {
		t.Error("VerifyWebhookSignature refuses a good signature")
	}
	if spamrun.VerifyWebhookSignature([]byte("other"), r.body, sig) {
		t.Error("VerifyWebhookSignature accepts the wrong secret")
	}
	tampered := bytes.Replace(r.body, []byte("shop1"), []byte("shop2"), 1)
	if spamrun.VerifyWebhookSignature(secret, tampered, sig) {
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
	for _, want := range []string{"spamrun: webhook " + h.srv.URL + "/hook:", `enable "shop1"`, "500 Internal Server Error", "4 attempts"} {
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
	w, err := spamrun.NewWebhookEnforcer(h.srv.URL)
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

func TestNewWebhookEnforcerBadURL(t *testing.T) {
	for _, u := range []string{
		"",
		"panel.example.net/hook",
		"ftp://panel.example.net/hook",
		"https:///hook",
		"https://user:hunter2@[::1/hook",
		"https://panel.example.net/%zz?token=hunter2",
	} {
		_, err := spamrun.NewWebhookEnforcer(u)
		if err == nil {
			t.Errorf("NewWebhookEnforcer(%q) succeeded", u)
			continue
		}
		if !strings.HasPrefix(err.Error(), "spamrun: bad webhook URL") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("NewWebhookEnforcer(%q) = %v", u, err)
		}
	}
}

func TestMultiEnforcer(t *testing.T) {
	var order []string
	rec := func(name string, err error) spamrun.EnforcerFuncs {
		return spamrun.EnforcerFuncs{
			OnDisable: func(_ context.Context, site string, _ *spamrun.Incident) error {
				order = append(order, name+" disable "+site)
				return err
			},
			OnEnable: func(_ context.Context, site string) error {
				order = append(order, name+" enable "+site)
				return err
			},
		}
	}
	errPanel := errors.New("panel unreachable")
	errTicket := errors.New("ticket system down")
	last := &spamruntest.Enforcer{Err: errTicket}
	m := spamrun.MultiEnforcer(rec("panel", errPanel), nil, rec("mail", nil), last)

	inc := testIncident("shop1")
	err := m.Disable(context.Background(), "shop1", inc)
	if want := []string{"panel disable shop1", "mail disable shop1"}; !slices.Equal(order, want) {
		t.Errorf("order = %q, want %q", order, want)
	}
	if calls := last.Calls(); len(calls) != 1 || calls[0].Op != "disable" || calls[0].Incident != inc {
		t.Errorf("the enforcer after a failure got %+v", calls)
	}
	if !errors.Is(err, errPanel) || !errors.Is(err, errTicket) {
		t.Fatalf("Disable = %v, want both failures", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"spamrun: enforcer 1 (spamrun.EnforcerFuncs): panel unreachable",
		"spamrun: enforcer 4 (*spamruntest.Enforcer): ticket system down",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if strings.Contains(msg, "enforcer 3") {
		t.Errorf("error %q blames the enforcer that succeeded", msg)
	}

	order = nil
	err = m.Enable(context.Background(), "shop1")
	if want := []string{"panel enable shop1", "mail enable shop1"}; !slices.Equal(order, want) {
		t.Errorf("enable order = %q, want %q", order, want)
	}
	if !errors.Is(err, errPanel) || !errors.Is(err, errTicket) || len(last.Calls()) != 2 {
		t.Errorf("Enable = %v", err)
	}

	if err := spamrun.MultiEnforcer(rec("a", nil), rec("b", nil)).Disable(context.Background(), "shop1", inc); err != nil {
		t.Errorf("all succeeded but got %v", err)
	}
	if err := spamrun.MultiEnforcer().Enable(context.Background(), "shop1"); err != nil {
		t.Errorf("no enforcers: %v", err)
	}
}

func TestMultiEnforcerWrapsOwnErrorsOnce(t *testing.T) {
	c, err := spamrun.NewCommandEnforcer("/bin/sh -c 'exit 2'", "")
	if err != nil {
		t.Fatal(err)
	}
	err = spamrun.MultiEnforcer(c).Disable(context.Background(), "shop1", testIncident("shop1"))
	if err == nil {
		t.Fatal("no error")
	}
	if msg := err.Error(); strings.Count(msg, "spamrun:") != 1 || !strings.Contains(msg, "enforcer 1 (*spamrun.CommandEnforcer): enforce command /bin/sh") {
		t.Errorf("error = %q", msg)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Errorf("the joined error hides the exit status: %v", err)
	}
}
