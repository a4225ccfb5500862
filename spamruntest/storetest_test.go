package spamruntest_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamruntest"
)

// brokenStores are MemoryStores with one flaw each, of the kind a new
// backend might have, and the subtest of TestStore that must catch it.
var brokenStores = map[string]struct {
	open    func() spamrun.Store
	catches string
}{
	"closed-window": {
		func() spamrun.Store { return closedWindow{spamrun.NewMemoryStore()} },
		"WindowBoundary",
	},
	"racy-disable": {
		func() spamrun.Store { return &racyDisable{MemoryStore: spamrun.NewMemoryStore()} },
		"ConcurrentSetDisabled",
	},
	"lossy-log": {
		func() spamrun.Store { return lossyLog{spamrun.NewMemoryStore()} },
		"SpamLogRoundTrip",
	},
}

// closedWindow counts an event exactly a window old: [t−W, t].
type closedWindow struct{ *spamrun.MemoryStore }

func (s closedWindow) RecordSpam(ctx context.Context, site string, ev spamrun.SpamEvent, max int, window time.Duration) (int, error) {
	return s.MemoryStore.RecordSpam(ctx, site, ev, max, window+time.Nanosecond)
}

// racyDisable checks and then sets, so that two trips at once both enforce.
type racyDisable struct {
	*spamrun.MemoryStore
	mu       sync.Mutex
	disabled map[string]*spamrun.Incident
}

func (s *racyDisable) SetDisabled(_ context.Context, site string, inc *spamrun.Incident) (*spamrun.Incident, bool, error) {
	s.mu.Lock()
	cur := s.disabled[site]
	s.mu.Unlock()
	if cur != nil {
		return cur, false, nil
	}
	time.Sleep(time.Millisecond)
	s.mu.Lock()
	if s.disabled == nil {
		s.disabled = make(map[string]*spamrun.Incident)
	}
	s.disabled[site] = inc
	s.mu.Unlock()
	return inc, true, nil
}

func (s *racyDisable) Disabled(_ context.Context, site string) (*spamrun.Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.disabled[site], nil
}

func (s *racyDisable) Enable(ctx context.Context, site string) error {
	s.mu.Lock()
	delete(s.disabled, site)
	s.mu.Unlock()
	return s.MemoryStore.Enable(ctx, site)
}

// lossyLog forgets the command line of the evidence.
type lossyLog struct{ *spamrun.MemoryStore }

func (s lossyLog) SpamLog(ctx context.Context, site string, now time.Time, window time.Duration) ([]spamrun.SpamEvent, error) {
	evs, err := s.MemoryStore.SpamLog(ctx, site, now, window)
	evs = slices.Clone(evs)
	for i := range evs {
		evs[i].Evidence.Command = nil
	}
	return evs, err
}

const brokenEnv = "SPAMRUNTEST_BROKEN_STORE"

// TestBrokenStore runs the suite against one broken store, in a child
// process of TestStoreSuiteCatchesFlaws.
func TestBrokenStore(t *testing.T) {
	name := os.Getenv(brokenEnv)
	if name == "" {
		t.Skip("run by TestStoreSuiteCatchesFlaws")
	}
	spamruntest.TestStore(t, func(*testing.T) spamrun.Store { return brokenStores[name].open() })
}

// TestStoreSuiteCatchesFlaws checks that the suite fails each broken store,
// in the subtest meant to catch its flaw.
func TestStoreSuiteCatchesFlaws(t *testing.T) {
	for name, b := range brokenStores {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenStore$", "-test.v")
			cmd.Env = append(os.Environ(), brokenEnv+"="+name,
				"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed the %s store:\n%s", name, out)
			}
			if !regexp.MustCompile(`(?m)^\s*--- FAIL: TestBrokenStore/` + b.catches + ` `).Match(out) {
				t.Errorf("the suite did not fail %s for the %s store:\n%s", b.catches, name, out)
			}
		})
	}
}
