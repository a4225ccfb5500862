package host_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/config"
	"github.com/spamrun/spamrun/enforce"
	"github.com/spamrun/spamrun/internal/host"
	"github.com/spamrun/spamrun/relay"
	"github.com/spamrun/spamrun/rspamd"
	"github.com/spamrun/spamrun/spamassassin"
)

func TestNewRelayTakesMaxRecipients(t *testing.T) {
	for _, tc := range []struct {
		file string
		want int
	}{
		{"[relay]\nsmtp = \"127.0.0.1:25\"\n", relay.DefaultMaxRecipients},
		{"[relay]\nsmtp = \"127.0.0.1:25\"\nmax_recipients = 7\n", 7},
		{"[relay]\ncommand = \"/usr/sbin/sendmail.postfix -i\"\nmax_recipients = 1000\n", 1000},
	} {
		cfg, err := config.Parse("spamrun.toml", []byte(tc.file))
		if err != nil {
			t.Fatal(err)
		}
		r, err := host.NewRelay(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var got int
		switch r := r.(type) {
		case *relay.SMTP:
			got = r.MaxRecipients
		case *relay.Command:
			got = r.MaxRecipients
		default:
			t.Fatalf("NewRelay gave a %T", r)
		}
		if got != tc.want {
			t.Errorf("%q: MaxRecipients %d, want %d", tc.file, got, tc.want)
		}
	}
}

func TestNewEnforcer(t *testing.T) {
	build := func(t *testing.T, file string) spamrun.Enforcer {
		t.Helper()
		cfg, err := config.Parse("e.toml", []byte(file))
		if err != nil {
			t.Fatal(err)
		}
		e, err := host.NewEnforcer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}

	if e := build(t, ""); e != nil {
		t.Errorf("no [enforce]: got %#v", e)
	}

	ce, ok := build(t, "[enforce]\ncommand = \"/usr/bin/panel off {site}\"\nenable_command = \"/usr/bin/panel on {site}\"\ncommand_timeout = \"7s\"\n").(*enforce.Command)
	if !ok {
		t.Fatal("command: not an *enforce.Command")
	}
	if ce.Timeout != 7*time.Second {
		t.Errorf("command timeout %v", ce.Timeout)
	}
	for event, want := range map[string]string{enforce.EventDisable: "/usr/bin/panel off shop1", enforce.EventEnable: "/usr/bin/panel on shop1"} {
		if argv, err := ce.Argv(event, "shop1", ""); err != nil || strings.Join(argv, " ") != want {
			t.Errorf("Argv(%s) = %q, %v", event, argv, err)
		}
	}

	we, ok := build(t, "[enforce]\nwebhook = \"https://panel.example/hook\"\nwebhook_secret = \"k\"\nwebhook_timeout = \"3s\"\nwebhook_retries = 0\n").(*enforce.Webhook)
	if !ok {
		t.Fatal("webhook: not an *enforce.Webhook")
	}
	if string(we.Secret) != "k" || we.Timeout != 3*time.Second || we.Retries != -1 {
		t.Errorf("webhook: secret %q, timeout %v, retries %d", we.Secret, we.Timeout, we.Retries)
	}
	if we := build(t, "[enforce]\nwebhook = \"https://panel.example/hook\"\n").(*enforce.Webhook); we.Secret != nil || we.Retries != 3 || we.Timeout != 10*time.Second {
		t.Errorf("webhook defaults: secret %q, timeout %v, retries %d", we.Secret, we.Timeout, we.Retries)
	}

	// Both: each is called, the command first.
	touch := "/usr/bin/touch"
	if _, err := os.Stat(touch); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var (
		mu    sync.Mutex
		order []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if _, err := os.Stat(filepath.Join(dir, "shop1")); err == nil {
			order = append(order, "command")
		}
		order = append(order, "webhook")
		if !strings.Contains(string(body), `"site":"shop1"`) {
			t.Errorf("webhook body %s", body)
		}
	}))
	defer srv.Close()
	e := build(t, fmt.Sprintf("[enforce]\ncommand = \"%s %s/{site}\"\nwebhook = %q\n", touch, dir, srv.URL))
	switch e.(type) {
	case *enforce.Command, *enforce.Webhook:
		t.Fatalf("both: got only %T", e)
	}
	if err := e.Disable(context.Background(), "shop1", &spamrun.Incident{ID: "inc1", Site: "shop1"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(order, ",") != "command,webhook" {
		t.Errorf("calls: %v", order)
	}
}

func TestNewScorer(t *testing.T) {
	parse := func(t *testing.T, file string) *config.Config {
		t.Helper()
		cfg, err := config.Parse("s.toml", []byte(file))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}

	builtin := parse(t, "")
	for name, build := range map[string]func(*config.Config) (spamrun.Scorer, error){"NewScorer": host.NewScorer, "NewScorerAlone": host.NewScorerAlone} {
		if s, err := build(builtin); err != nil {
			t.Errorf("%s of the builtin kind: %v", name, err)
		} else if _, ok := s.(*spamrun.BuiltinScorer); !ok {
			t.Errorf("%s of the builtin kind is a %T", name, s)
		}
	}

	spamd := parse(t, "[policy]\nspam_score = 6.5\n[scorer]\nkind = \"spamassassin\"\naddress = \"127.0.0.1:783\"\ntimeout = \"4s\"\n")
	s, err := host.NewScorer(spamd)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := s.(*spamrun.CombinedScorer)
	if !ok {
		t.Fatalf("NewScorer of spamassassin is a %T, want the builtin scorer first", s)
	}
	if _, ok := c.First.(*spamrun.BuiltinScorer); !ok || c.Name != "SPAMASSASSIN" || c.Threshold != 6.5 || c.Band != host.ExternalBand || c.Timeout != 4*time.Second {
		t.Errorf("NewScorer of spamassassin = %+v", c)
	}
	if e, ok := c.External.(*spamassassin.Scorer); !ok || e.Addr != "127.0.0.1:783" || e.Timeout != 4*time.Second {
		t.Errorf("NewScorer of spamassassin asks %#v", c.External)
	}
	s, err = host.NewScorerAlone(spamd)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := s.(*spamassassin.Scorer); !ok || e.Addr != "127.0.0.1:783" {
		t.Errorf("NewScorerAlone of spamassassin = %#v", s)
	}

	for addr, want := range map[string]string{
		"127.0.0.1:11333":          "http://127.0.0.1:11333",
		"https://rspamd.example:1": "https://rspamd.example:1",
	} {
		cfg := parse(t, fmt.Sprintf("[scorer]\nkind = \"rspamd\"\naddress = %q\n", addr))
		s, err := host.NewScorerAlone(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := s.(*rspamd.Scorer); !ok || r.URL != want {
			t.Errorf("NewScorerAlone of rspamd at %s = %#v, want URL %s", addr, s, want)
		}
		s, err = host.NewScorer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := s.(*spamrun.CombinedScorer); !ok || c.Name != "RSPAMD" {
			t.Errorf("NewScorer of rspamd = %#v, want the builtin scorer first and the filter's rules as RSPAMD", s)
		}
	}

	builtin.Scorer.Kind = "bayes"
	if _, err := host.NewScorerAlone(builtin); err == nil || !strings.Contains(err.Error(), `scorer kind "bayes"`) {
		t.Errorf("NewScorerAlone of an unknown kind: %v", err)
	}
}
