package spamrun

import (
	"context"
	"sync"
	"time"
)

// Store is what the detector remembers between submissions: each site's
// bounded log of spam-marked submissions and whether the site is disabled.
//
// Every sendmail run is a new process, so a Store shared by several processes
// (SQLite) or several web nodes (Redis) lives outside this package; the
// MemoryStore here serves a single process, importers and tests. All
// implementations must count exactly: the same answers as Window.
type Store interface {
	// RecordSpam adds ev, a spam-marked submission, to the site's log of the
	// last max+1 such submissions, and returns how many of them lie in the
	// window of the given width ending at the newest. A result above max
	// means the site has tripped.
	RecordSpam(ctx context.Context, site string, ev SpamEvent, max int, window time.Duration) (int, error)
	// SpamLog returns the site's logged submissions in (now−window, now],
	// oldest first.
	SpamLog(ctx context.Context, site string, now time.Time, window time.Duration) ([]SpamEvent, error)
	// SetDisabled disables site by inc unless it is disabled already. It
	// returns the incident in force and whether this call disabled the site,
	// so that exactly one of several concurrent trips enforces.
	SetDisabled(ctx context.Context, site string, inc *Incident) (current *Incident, changed bool, err error)
	// Disabled returns the incident that disabled site, or nil when it is
	// enabled.
	Disabled(ctx context.Context, site string) (*Incident, error)
	// Enable clears the disabled flag and the spam log: a re-enabled site
	// starts with an empty window.
	Enable(ctx context.Context, site string) error
}

// MemoryStore is a Store in process memory, safe for concurrent use.
type MemoryStore struct {
	window   *Window
	disabled sync.Map // site → *Incident
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{window: NewWindow()}
}

// RecordSpam implements Store.
func (s *MemoryStore) RecordSpam(_ context.Context, site string, ev SpamEvent, max int, window time.Duration) (int, error) {
	return s.window.add(site, ev.Time, &ev, max, window), nil
}

// SpamLog implements Store.
func (s *MemoryStore) SpamLog(_ context.Context, site string, now time.Time, window time.Duration) ([]SpamEvent, error) {
	return s.window.events(site, now, window), nil
}

// SetDisabled implements Store.
func (s *MemoryStore) SetDisabled(_ context.Context, site string, inc *Incident) (*Incident, bool, error) {
	cur, loaded := s.disabled.LoadOrStore(site, inc)
	return cur.(*Incident), !loaded, nil
}

// Disabled implements Store.
func (s *MemoryStore) Disabled(_ context.Context, site string) (*Incident, error) {
	if inc, ok := s.disabled.Load(site); ok {
		return inc.(*Incident), nil
	}
	return nil, nil
}

// Enable implements Store.
func (s *MemoryStore) Enable(_ context.Context, site string) error {
	s.disabled.Delete(site)
	s.window.Reset(site)
	return nil
}

// Prune drops the spam logs whose newest entry is at or before cutoff, so
// that a long-running process does not keep every site it has ever seen.
// Disabled flags are kept.
func (s *MemoryStore) Prune(cutoff time.Time) int { return s.window.Prune(cutoff) }
