// Package contrib_test checks the files in contrib/ against the metrics
// spamrun serve exports, with Prometheus' own promtool.
package contrib_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/internal/journal"
	"github.com/spamrun/spamrun/internal/metrics"
	"github.com/spamrun/spamrun/queue"
	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

func promtool(t *testing.T, dir string, args ...string) {
	t.Helper()
	bin := spamruntest.NeedCommand(t, "promtool", "prometheus")
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestAlertRules checks the rules and runs their unit tests: each alert
// fires on the series it is written for, with its words, and not before.
func TestAlertRules(t *testing.T) {
	promtool(t, "prometheus", "check", "rules", "spamrun-alerts.yml")
	promtool(t, "prometheus", "test", "rules", "spamrun-alerts.test.yml")
}

// TestDashboardQueries has promtool parse every query of the Grafana
// dashboard, with Grafana's variables filled in.
func TestDashboardQueries(t *testing.T) {
	exprs := dashboardExprs(t)
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	fill := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*")
	for i, e := range exprs {
		q, _ := json.Marshal(fill.Replace(e))
		fmt.Fprintf(&rules, "      - record: dashboard:query%d\n        expr: %s\n", i, q)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard.yml"), []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	promtool(t, dir, "check", "rules", "dashboard.yml")
}

// TestMetricNames: every spamrun metric the dashboard and the alerts use
// is one spamrun serve exports.
func TestMetricNames(t *testing.T) {
	exported := exportedNames(t)
	alerts, err := os.ReadFile("prometheus/spamrun-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]string{
		"the dashboard": strings.Join(dashboardExprs(t), "\n"),
		"the alerts":    string(alerts),
	}
	name := regexp.MustCompile(`\bspamrun_[a-z_]+`)
	for what, text := range texts {
		used := name.FindAllString(text, -1)
		if len(used) == 0 {
			t.Errorf("%s use no spamrun metric", what)
		}
		for _, n := range used {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
			if !slices.Contains(exported, base) {
				t.Errorf("%s use %s, which spamrun serve does not export (it exports %v)", what, n, exported)
			}
		}
	}
}

func dashboardExprs(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("grafana/spamrun-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	var exprs []string
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	return exprs
}

// exportedNames scrapes the metrics of a journal with one event of each
// kind, so that every family has a sample.
func exportedNames(t *testing.T) []string {
	t.Helper()
	sp, err := spool.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, ev := range []queue.Event{
		{Time: now, Action: queue.ActionHeld, Site: "a", Scored: true, Score: 9, Spam: true},
		{Time: now, Action: queue.ActionTripped, Site: "a"},
		{Time: now, Action: queue.ActionRelayError, Site: "a", Failure: queue.FailureTemporary},
		{Time: now, Action: queue.ActionRelayed, Site: "a", Kind: spool.KindDSN},
	} {
		if err := journal.Append(sp.Dir(), ev); err != nil {
			t.Fatal(err)
		}
	}
	r, err := journal.NewReader(sp.Dir())
	if err != nil {
		t.Fatal(err)
	}
	store := spamrun.NewMemoryStore()
	det, err := spamrun.NewDetector(&spamrun.DetectorOptions{Scorer: spamrun.NewBuiltinScorer(), Store: store})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(r, metrics.Options{Spool: sp, Detector: det, Store: store})
	if err := m.Read(); err != nil {
		t.Fatal(err)
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fams {
		names = append(names, f.GetName())
	}
	return names
}
