package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/enforce"
	"github.com/spamrun/spamrun/spamruntest"
)

// TestEnforcers wires a control panel as a host's spamrun.toml does, with
// both a command and a signed webhook in [enforce]: the sendmail run that
// trips the site runs the panel's disable command with the incident on its
// stdin and posts the disable event before it exits; spamrun enable runs
// the enable command and posts the enable event; the incident records that
// enforcement succeeded.
func TestEnforcers(t *testing.T) {
	const maxSpam = 2
	sh := spamruntest.NeedCommand(t, "sh", "dash")
	dir := t.TempDir()
	panelLog := filepath.Join(dir, "panel.log")
	panel := filepath.Join(dir, "panel")
	script := fmt.Sprintf("#!%s\n{ printf '%%s %%s %%s %%s\\n' \"$1\" \"$2\" \"$SPAMRUN_EVENT\" \"$SPAMRUN_INCIDENT_ID\"; cat; echo; } >>'%s'\n", sh, panelLog)
	if err := os.WriteFile(panel, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}

	const secret = "panel secret"
	var (
		mu       sync.Mutex
		payloads []enforce.WebhookPayload
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !enforce.VerifyWebhookSignature([]byte(secret), body, r.Header.Get("X-Spamrun-Signature")) {
			t.Errorf("webhook request with a bad signature: %s", body)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var p enforce.WebhookPayload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("webhook body %s: %v", body, err)
		}
		mu.Lock()
		payloads = append(payloads, p)
		mu.Unlock()
	}))
	defer hook.Close()
	webhook := func() []enforce.WebhookPayload {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(payloads)
	}

	e := newEnv(t, fmt.Sprintf("[policy]\nmax_spam = %d\n[enforce]\ncommand = %q\nenable_command = %q\nwebhook = %q\nwebhook_secret = %q\n",
		maxSpam, "'"+panel+"' off {site}", "'"+panel+"' on {site}", hook.URL+"/spamrun", secret))
	for i := range maxSpam + 1 {
		want := 0
		if i == maxSpam {
			want = 69 // the trip
		}
		r := e.run(string(tagged(fmt.Sprintf("spam-%d", i), spamruntest.GuestbookSpam("shop1.example", i))), "-t", "-i", "-fnoreply@shop1.example")
		if r.code != want {
			t.Fatalf("spam %d: exit %d, want %d: %q", i, r.code, want, r.stderr)
		}
	}

	// Both enforcers were done with before the tripping run exited.
	data, err := os.ReadFile(panelLog)
	if err != nil {
		t.Fatalf("the disable command did not run: %v", err)
	}
	line, stdin, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) != 4 || f[0] != "off" || f[1] != "shop1" || f[2] != enforce.EventDisable || f[3] == "" {
		t.Fatalf("disable command ran as %q, want off shop1 disable and the incident ID", line)
	}
	id := f[3]
	var inc spamrun.Incident
	if err := json.Unmarshal([]byte(stdin), &inc); err != nil || inc.ID != id || inc.Site != "shop1" || inc.Count != maxSpam+1 {
		t.Errorf("disable command's stdin %q: %+v, %v", stdin, inc, err)
	}
	if p := webhook(); len(p) != 1 || p[0].Event != enforce.EventDisable || p[0].Site != "shop1" || p[0].IdempotencyKey != id || p[0].Incident == nil || p[0].Incident.ID != id {
		t.Errorf("webhook after the trip got %+v, want one disable of shop1 for incident %s", p, id)
	}

	incs := e.runCmd(exec.Command(spamrunBinary(t), "incidents", "--json", "shop1"), "")
	var recorded []*spamrun.Incident
	if err := json.Unmarshal([]byte(incs.stdout), &recorded); err != nil || incs.code != 0 {
		t.Fatalf("spamrun incidents: exit %d %q %q: %v", incs.code, incs.stdout, incs.stderr, err)
	}
	if len(recorded) != 1 || recorded[0].ID != id || recorded[0].Enforced == nil || recorded[0].Enforced.Err != "" {
		t.Errorf("the incident does not record a successful enforcement: %+v", recorded)
	}

	if en := e.runCmd(exec.Command(spamrunBinary(t), "enable", "shop1"), ""); en.code != 0 {
		t.Fatalf("spamrun enable shop1: exit %d %q %q", en.code, en.stdout, en.stderr)
	}
	data, err = os.ReadFile(panelLog)
	if err != nil {
		t.Fatal(err)
	}
	if want := "on shop1 enable \n\n"; !strings.HasSuffix(string(data), want) {
		t.Errorf("panel log %q does not end with the enable command's %q", data, want)
	}
	if p := webhook(); len(p) != 2 || p[1].Event != enforce.EventEnable || p[1].Site != "shop1" || p[1].Incident != nil {
		t.Errorf("webhook after enable got %+v, want an enable of shop1 second", p)
	}
}
