package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun/spamruntest"
)

// TestMetricsAfterSpamRun scripts a spam run through both doors, the
// sendmail program and spamrun serve's SMTP listener, and reads
// spamrun serve's /metrics with Prometheus' own parser: every counter is
// exactly what the script did, and the daemon's log has one JSON record
// per event.
func TestMetricsAfterSpamRun(t *testing.T) {
	const maxSpam = 3
	metricsAddr := spamruntest.FreeAddr(t)
	e := newEnv(t, fmt.Sprintf("[metrics]\nlisten = %q\n\n[policy]\nmax_spam = %d\nwindow = \"1h\"\nhold_for = \"15m\"\n", metricsAddr, maxSpam))
	serve, listener := e.startServe()
	url := "http://" + metricsAddr + "/metrics"

	viaSendmail := func(seq string, msg []byte) exit {
		t.Helper()
		x, err := start(e.sendmailCmd(sendmailBin, os.Getuid(), "-t", "-i", "-fnoreply@shop1.example"), tagged(seq, msg), 0)
		if err != nil {
			t.Fatalf("%s: %v", seq, err)
		}
		return x
	}
	viaSMTP := func(seq string, msg []byte) exit {
		t.Helper()
		x, err := submitSMTP(listener, "noreply@shop1.example", tagged(seq, msg))
		if err != nil {
			t.Fatalf("%s: %v", seq, err)
		}
		return x
	}
	want := func(seq string, x exit, code int) {
		t.Helper()
		if x.code != code {
			t.Fatalf("%s: exit %d %q, want %d", seq, x.code, x.stderr, code)
		}
	}
	for i := range 4 {
		want("ham-sendmail", viaSendmail(fmt.Sprintf("ham-s%d", i), spamruntest.OrderConfirmation("shop1.example", i)), 0)
	}
	for i := range 2 {
		want("ham-smtp", viaSMTP(fmt.Sprintf("ham-l%d", i), spamruntest.OrderConfirmation("shop1.example", 10+i)), 0)
	}
	want("spam-s0", viaSendmail("spam-s0", spamruntest.GuestbookSpam("shop1.example", 0)), 0)
	want("spam-s1", viaSendmail("spam-s1", spamruntest.GuestbookSpam("shop1.example", 1)), 0)
	want("spam-l2", viaSMTP("spam-l2", spamruntest.GuestbookSpam("shop1.example", 2)), 0)
	// The fourth spam-marked message trips the site; after it, both doors
	// refuse: the listener at MAIL FROM, sendmail before scoring.
	want("spam-s3", viaSendmail("spam-s3", spamruntest.GuestbookSpam("shop1.example", 3)), exUnavailable)
	want("spam-l4", viaSMTP("spam-l4", spamruntest.GuestbookSpam("shop1.example", 4)), exUnavailable)
	want("ham-s5", viaSendmail("ham-s5", spamruntest.OrderConfirmation("shop1.example", 5)), exUnavailable)

	// The runner returns the three held messages with a DSN each to the
	// site's own sender, and relays the DSNs.
	var m spamruntest.Metrics
	if !waitFor(60*time.Second, func() bool {
		var err error
		m, err = spamruntest.ScrapeMetrics(url)
		return err == nil && m.Value("spamrun_generated_messages_total", "kind=dsn", "action=relayed") == 3 &&
			m.Value("spamrun_queue_messages", "state=bounced") == 3
	}) {
		t.Fatalf("within 60s the DSNs were not relayed; last scrape: %v\n%s", m, serve.log.String())
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"spamrun_messages_total", []string{"door=sendmail", "action=queued"}, 4},
		{"spamrun_messages_total", []string{"door=sendmail", "action=relayed"}, 4},
		{"spamrun_messages_total", []string{"door=smtp-local", "action=queued"}, 2},
		{"spamrun_messages_total", []string{"door=smtp-local", "action=relayed"}, 2},
		{"spamrun_messages_total", []string{"door=sendmail", "action=held"}, 2},
		{"spamrun_messages_total", []string{"door=smtp-local", "action=held"}, 1},
		{"spamrun_messages_total", []string{"door=sendmail", "action=refused"}, 2},
		{"spamrun_messages_total", []string{"door=smtp-local", "action=refused"}, 1},
		{"spamrun_messages_total", []string{"door=sendmail", "action=bounced"}, 2},
		{"spamrun_messages_total", []string{"door=smtp-local", "action=bounced"}, 1},
		{"spamrun_spam_marked_total", []string{"site=shop1"}, 4},
		{"spamrun_trips_total", nil, 1},
		{"spamrun_disabled_sites", nil, 1},
		{"spamrun_score", nil, 10}, // six ham, three held, the one that tripped
		{"spamrun_scorer_duration_seconds", nil, 10},
		{"spamrun_store_duration_seconds", nil, 10},
		{"spamrun_generated_messages_total", []string{"kind=dsn", "action=relayed"}, 3},
		{"spamrun_queue_messages", []string{"state=queued"}, 0},
		{"spamrun_queue_messages", []string{"state=held"}, 0},
		{"spamrun_queue_messages", []string{"state=bounced"}, 3},
		{"spamrun_store_up", nil, 1},
	} {
		if got, ok := m.Has(c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if got := m.Total("spamrun_messages_total"); got != 21 {
		t.Errorf("spamrun_messages_total sums to %v, want 21: no other action", got)
	}
	if got := m.Total("spamrun_relay_failures_total"); got != 0 {
		t.Errorf("%v relay failures with a relay that took everything", got)
	}
	serve.stop()

	// The daemon's log on standard error: JSON records, one per event.
	actions := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(serve.log.String()))
	for sc.Scan() {
		var rec struct {
			Msg, Site, Door, Kind string
		}
		if !strings.HasPrefix(sc.Text(), "{") {
			continue // the Go runtime's own lines, if any
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Errorf("a log line of spamrun serve is not JSON: %v: %s", err, sc.Text())
			continue
		}
		if rec.Site == "shop1" {
			actions[strings.Join(strings.Fields(rec.Msg+" "+rec.Kind+" "+rec.Door), " ")]++
		}
	}
	// The listener's and the runner's own events: the daemon logs those;
	// sendmail's, the bounces of the process that tripped the site
	// included, go to its syslog.
	for key, n := range map[string]int{"queued smtp-local": 2, "relayed smtp-local": 2, "held smtp-local": 1, "refused smtp-local": 1, "relayed dsn": 3} {
		if actions[key] != n {
			t.Errorf("the daemon logged %q %d times, want %d; all: %v", key, actions[key], n, actions)
		}
	}
}
