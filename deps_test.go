package spamrun_test

import (
	"bytes"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/spamrun/spamrun/spamruntest"
)

const module = "github.com/spamrun/spamrun"

// layers maps a package to what it may not link, directly or not: import
// paths, each banning its subpackages too. (A package that imports the one
// checked, as every package here imports the root, is kept out by the
// compiler.)
//
// An importer who wants only the in-memory detector, or a control panel
// that enforces through spamrun.EnforcerFuncs, gets the root package
// without a database or Redis driver, an HTTP client or a way to run
// programs. config only reads and checks spamrun.toml, and internal/host
// alone assembles the program from it, so that the library packages serve
// an importer who has no spamrun.toml.
func layers() map[string][]string {
	// drivers reach a store, a filter or a relay.
	drivers := []string{
		module + "/sqlitestore",
		module + "/redisstore",
		module + "/spamassassin",
		module + "/rspamd",
		module + "/relay",
		"modernc.org/sqlite",
		"github.com/redis/go-redis",
		"github.com/emersion/go-smtp",
	}
	l := map[string][]string{
		module:             append(slices.Clone(drivers), "net/http", "os/exec"),
		module + "/config": append(slices.Clone(drivers), module+"/enforce", "net/http"),
	}
	// The assembly knows nothing of the doors; the submission path knows
	// no door but its own callers'; the kernel lookups know nothing of
	// spamrun at all.
	l[module+"/internal/host"] = []string{module + "/internal/submit", module + "/internal/smtpd"}
	l[module+"/internal/submit"] = []string{module + "/internal/smtpd"}
	l[module+"/internal/peercred"] = []string{module}
	// Every process writes the event journal; only the daemon serves
	// metrics, so the journal links no Prometheus client. sendmail runs for
	// every message a website sends: it links neither the metrics nor
	// spamrun top's terminal view.
	l[module+"/internal/journal"] = []string{"github.com/prometheus", "net/http"}
	l[module+"/sendmail"] = []string{"github.com/prometheus", module + "/internal/metrics", "github.com/charmbracelet"}
	for _, lib := range []string{"enforce", "queue", "relay", "spool", "sqlitestore", "redisstore", "spamassassin", "rspamd", "report", "notify", "sitediff", "internal/egress", "internal/journal", "internal/metrics"} {
		l[module+"/"+lib] = []string{module + "/config", module + "/internal/host"}
	}
	// Notices are built from the incident alone: no spool, relay or
	// store.
	l[module+"/notify"] = append(slices.Clone(drivers), module+"/spool", module+"/config", module+"/internal/host", "net/http", "os/exec")
	return l
}

// foreignDrivers are database drivers the module does not use, which the
// root package must not grow either: any import path holding one of these.
var foreignDrivers = []string{"sqlite", "redis", "mysql", "lib/pq", "pgx", "bbolt"}

func TestLayering(t *testing.T) {
	goTool := spamruntest.NeedCommand(t, "go", "golang-go")
	layers := layers()
	pkgs := slices.Sorted(maps.Keys(layers))
	graph := importGraph(t, goTool, pkgs)
	for _, pkg := range pkgs {
		deps := reachable(graph, pkg)
		reported := make(map[string]bool)
		for _, b := range layers[pkg] {
			for _, dep := range deps {
				if dep == pkg {
					continue
				}
				if dep == b || strings.HasPrefix(dep, b+"/") {
					t.Errorf("%s links %s: %s", pkg, b, strings.Join(importPath(graph, pkg, dep), " → "))
					reported[dep] = true
					break
				}
			}
		}
		if pkg != module {
			continue
		}
		for _, dep := range deps {
			for _, b := range foreignDrivers {
				if strings.Contains(dep, b) && !reported[dep] {
					t.Errorf("%s links %s: %s", pkg, dep, strings.Join(importPath(graph, pkg, dep), " → "))
				}
			}
		}
	}
}

// importGraph returns the imports of pkgs and of every package they link,
// test files aside, by import path.
func importGraph(t *testing.T, goTool string, pkgs []string) map[string][]string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(goTool, append([]string{"list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`}, pkgs...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	graph := make(map[string][]string)
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) > 0 {
			graph[f[0]] = f[1:]
		}
	}
	for _, p := range pkgs {
		if _, ok := graph[p]; !ok {
			t.Fatalf("go list did not list %s", p)
		}
	}
	return graph
}

// reachable returns, sorted, every package that pkg links.
func reachable(graph map[string][]string, pkg string) []string {
	seen := map[string]bool{pkg: true}
	queue := []string{pkg}
	for i := 0; i < len(queue); i++ {
		for _, next := range graph[queue[i]] {
			if !seen[next] {
				seen[next] = true
				queue = append(queue, next)
			}
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// importPath returns a shortest chain of imports from one package to
// another, both included, so that a failure says which import to undo.
func importPath(graph map[string][]string, from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for i := 0; i < len(queue); i++ {
		p := queue[i]
		if p == to {
			var chain []string
			for ; p != ""; p = prev[p] {
				chain = append(chain, p)
			}
			slices.Reverse(chain)
			return chain
		}
		for _, next := range graph[p] {
			if _, ok := prev[next]; !ok {
				prev[next] = p
				queue = append(queue, next)
			}
		}
	}
	return []string{from, "…", to}
}

// The sendmail front runs for every message a website sends and must
// start as fast as a program that only reads its input: it links the
// command line's reader, the handoff and the standard library's basics,
// and nothing else; not even net, let alone a parser, a store or a
// scorer. Each package named here is what it may link of the module.
func TestFrontLinksLittle(t *testing.T) {
	goTool := spamruntest.NeedCommand(t, "go", "golang-go")
	front := module + "/sendmail/front"
	allowed := []string{front, module + "/internal/handoff", module + "/internal/sendmailargs"}
	graph := importGraph(t, goTool, allowed)
	for _, dep := range reachable(graph, front) {
		first, _, _ := strings.Cut(dep, "/")
		switch {
		case slices.Contains(allowed, dep):
		case strings.Contains(first, "."):
			t.Errorf("%s links %s: %s", front, dep, strings.Join(importPath(graph, front, dep), " → "))
		case dep == "net" || strings.HasPrefix(dep, "net/") || dep == "os/user" || dep == "log/syslog":
			t.Errorf("%s links %s: %s", front, dep, strings.Join(importPath(graph, front, dep), " → "))
		}
	}
}
