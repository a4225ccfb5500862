// Package spamruntest has helpers for testing code that uses spamrun: a
// clock that moves only when told, an enforcer that records what it was
// asked to do, canned hosting mail (legitimate and spam), an SMTP sink that
// stands in for the host's MTA (StartSMTPSink serves programs outside tests
// too, such as the demo), a redis-server and a Postfix instance of the
// test's own, Sisimai's reading of a DSN, and a way to demand an external
// component (spamd, redis-server, Postfix, a Perl module) that fails in CI
// rather than skipping.
package spamruntest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
)

// T0 is the fixed time at which a new Clock starts.
var T0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// Clock is a fake clock for spamrun's time seams. Its zero value reads T0.
// It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock that reads t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time; pass c.Now where a func() time.Time is wanted.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		c.now = T0
	}
	return c.now
}

// Advance moves the clock forward by d and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		c.now = T0
	}
	c.now = c.now.Add(d)
	return c.now
}

// Set moves the clock to t, backwards if need be.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// Enforcement is one call an Enforcer received.
type Enforcement struct {
	Op       string // "disable" or "enable"
	Site     string
	Incident *spamrun.Incident // for "disable"
}

// Enforcer records every call. Err, when set, is returned by every call
// (after recording it), to test how callers handle a failing enforcer.
type Enforcer struct {
	Err error

	mu    sync.Mutex
	calls []Enforcement
}

var _ spamrun.Enforcer = (*Enforcer)(nil)

// Disable records a disable call.
func (e *Enforcer) Disable(_ context.Context, site string, inc *spamrun.Incident) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, Enforcement{Op: "disable", Site: site, Incident: inc})
	return e.Err
}

// Enable records an enable call.
func (e *Enforcer) Enable(_ context.Context, site string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, Enforcement{Op: "enable", Site: site})
	return e.Err
}

// Calls returns a copy of the calls so far, in order.
func (e *Enforcer) Calls() []Enforcement {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.calls)
}

// Disabled returns the sites Disable was called for, in order.
func (e *Enforcer) Disabled() []string {
	var sites []string
	for _, c := range e.Calls() {
		if c.Op == "disable" {
			sites = append(sites, c.Site)
		}
	}
	return sites
}

// InCI reports whether the tests run in CI, where every external component
// must be present.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing stops a test that needs a component this machine lacks: in CI it
// fails the test, elsewhere it skips it. what names the component and how
// to get it, e.g. "spamd (apt-get install spamd)".
func Missing(tb testing.TB, what string) {
	tb.Helper()
	if InCI() {
		tb.Fatalf("missing component: %s", what)
	}
	tb.Skipf("missing component: %s (set CI=true to make this a failure)", what)
}

// NeedCommand returns the path of the named program, or stops the test as
// Missing does. pkg is the Debian package that provides it.
func NeedCommand(tb testing.TB, name, pkg string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		Missing(tb, name+" (apt-get install "+pkg+")")
	}
	return path
}

// FreeAddr returns a loopback host:port that nothing listens on now: the
// address of a server that is down. Another program could take the port
// in between; on a test machine none does.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	addr, err := UnusedAddr()
	if err != nil {
		tb.Fatal(err)
	}
	return addr
}

// UnusedAddr is FreeAddr for a program that is not a test, such as a
// benchmark or a demo.
func UnusedAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
