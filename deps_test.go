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

// The layers that TestLayering holds the packages to. An importer who
// wants only the in-memory detector, or a control panel that enforces
// through spamrun.EnforcerFuncs, gets the root package without a database
// or Redis driver, an HTTP client or a way to run programs; config only
// reads and checks the file, and internal/host alone assembles the program
// from it.
var (
	// drivers are the packages that reach a store, a filter or a relay.
	drivers = []string{
		"github.com/spamrun/spamrun/sqlitestore",
		"github.com/spamrun/spamrun/redisstore",
		"github.com/spamrun/spamrun/spamassassin",
		"github.com/spamrun/spamrun/rspamd",
		"github.com/spamrun/spamrun/relay",
		"modernc.org/sqlite",
		"github.com/redis/go-redis",
		"github.com/emersion/go-smtp",
	}
	// layers maps a package to what it may not link, directly or not:
	// an import path, which bans its subpackages too. (What imports the
	// package itself, as enforce and config import the root, is kept out
	// by the compiler.)
	layers = map[string][]string{
		".":        append(slices.Clone(drivers), "net/http", "os/exec"),
		"./config": append(slices.Clone(drivers), "github.com/spamrun/spamrun/enforce", "net/http"),
	}
	// foreignDrivers are database drivers the module does not use, which
	// the root package must not grow either: any import path holding one
	// of these.
	foreignDrivers = []string{"sqlite", "redis", "mysql", "lib/pq", "pgx", "bbolt"}
)

func TestLayering(t *testing.T) {
	goTool := spamruntest.NeedCommand(t, "go", "golang-go")
	for _, pkg := range slices.Sorted(maps.Keys(layers)) {
		graph := importGraph(t, goTool, pkg)
		root := graph[""][0]
		deps := slices.Sorted(maps.Keys(graph))
		reported := make(map[string]bool)
		for _, b := range layers[pkg] {
			for _, dep := range deps {
				if dep == b || strings.HasPrefix(dep, b+"/") {
					t.Errorf("%s links %s: %s", root, b, strings.Join(importPath(graph, root, dep), " → "))
					reported[dep] = true
					break
				}
			}
		}
		if pkg != "." {
			continue
		}
		for _, dep := range deps {
			for _, b := range foreignDrivers {
				if strings.Contains(dep, b) && !reported[dep] {
					t.Errorf("%s links %s: %s", root, dep, strings.Join(importPath(graph, root, dep), " → "))
				}
			}
		}
	}
}

// importGraph returns the imports of pkg and of every package it links,
// test files aside, by import path: its keys are all that pkg links. The
// entry "" holds pkg's own import path.
func importGraph(t *testing.T, goTool, pkg string) map[string][]string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(goTool, "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, pkg)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pkg, err, stderr.Bytes())
	}
	graph := make(map[string][]string)
	var last string
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		graph[f[0]] = f[1:]
		last = f[0]
	}
	// go list -deps prints a package after everything it imports.
	graph[""] = []string{last}
	return graph
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
