package spamrun

import (
	"context"
	"slices"
	"strings"
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
	scripts  scriptHistory
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

// ScriptHistory is a Store that also remembers which scripts of a site have
// sent mail, so that the incident report can tell a script sending for the
// first time, such as an uploaded mailer, from a long-standing one, such as
// an abused contact form. The sendmail command records every accepted
// message in a store that has it.
//
// A site's history holds at most MaxScripts scripts; recording one more
// forgets the least recently seen, so a run that names a new script in
// every message cannot grow the store without bound, and the scripts still
// in use stay.
type ScriptHistory interface {
	Store
	// RecordScript counts one submission by seen.Script, or, when that is
	// empty, by the directory seen.Cwd (see ScriptKey), at the time
	// seen.Last; seen.First and seen.Count are ignored. Times may come out of
	// order: First is the earliest ever recorded, Last the latest, and Cwd
	// is that of the latest. A submission that names neither a script nor a
	// directory is not recorded.
	RecordScript(ctx context.Context, site string, seen ScriptSeen) error
	// Scripts returns the site's history, most recently seen first; of
	// scripts last seen at the same instant, the greater ScriptKey first,
	// so that every store gives the same order.
	Scripts(ctx context.Context, site string) ([]ScriptSeen, error)
}

// ScriptSeen is what a ScriptHistory knows of one script of a site.
type ScriptSeen struct {
	// Script is the X-PHP-Originating-Script of the script's mail,
	// "UID:script.php", with surrounding space trimmed; "" for a directory
	// whose mail named no script.
	Script string `json:"script,omitempty"`
	// Cwd is the working directory of the latest submission.
	Cwd string `json:"cwd,omitempty"`
	// First and Last are the earliest and latest submission times.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// Count is the number of submissions recorded.
	Count int64 `json:"count"`
}

// MaxScripts is how many scripts a ScriptHistory keeps per site.
const MaxScripts = 1000

// ScriptKey is the name a ScriptHistory keeps a submission under: the
// script with surrounding space trimmed or, when the message named none,
// "cwd:" and the trimmed directory, so that mail sent without the PHP
// header is still told apart by where it came from. It is "" when there is
// neither. Nothing else is normalised: the header is written by the site,
// and two spellings of one script are two pieces of evidence.
func ScriptKey(script, cwd string) string {
	if s := strings.TrimSpace(script); s != "" {
		return s
	}
	if d := strings.TrimSpace(cwd); d != "" {
		return "cwd:" + d
	}
	return ""
}

// scriptHistory is the MemoryStore's: per site, ScriptKey → record.
type scriptHistory struct {
	mu    sync.Mutex
	sites map[string]map[string]*ScriptSeen
}

var _ ScriptHistory = (*MemoryStore)(nil)

// RecordScript implements ScriptHistory.
func (s *MemoryStore) RecordScript(_ context.Context, site string, seen ScriptSeen) error {
	key := ScriptKey(seen.Script, seen.Cwd)
	if key == "" {
		return nil
	}
	h := &s.scripts
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sites == nil {
		h.sites = make(map[string]map[string]*ScriptSeen)
	}
	scripts := h.sites[site]
	if scripts == nil {
		scripts = make(map[string]*ScriptSeen)
		h.sites[site] = scripts
	}
	t := seen.Last
	rec := scripts[key]
	if rec == nil {
		scripts[key] = &ScriptSeen{
			Script: strings.TrimSpace(seen.Script), Cwd: strings.TrimSpace(seen.Cwd),
			First: t, Last: t, Count: 1,
		}
	} else {
		rec.Count++
		if t.Before(rec.First) {
			rec.First = t
		}
		if !t.Before(rec.Last) {
			rec.Script, rec.Cwd, rec.Last = strings.TrimSpace(seen.Script), strings.TrimSpace(seen.Cwd), t
		}
	}
	for len(scripts) > MaxScripts {
		var oldest string
		for k, r := range scripts {
			if oldest == "" || scriptBefore(r.Last, k, scripts[oldest].Last, oldest) {
				oldest = k
			}
		}
		delete(scripts, oldest)
	}
	return nil
}

// scriptBefore orders a history by Last, then by ScriptKey.
func scriptBefore(a time.Time, akey string, b time.Time, bkey string) bool {
	if c := a.Compare(b); c != 0 {
		return c < 0
	}
	return akey < bkey
}

// Scripts implements ScriptHistory.
func (s *MemoryStore) Scripts(_ context.Context, site string) ([]ScriptSeen, error) {
	h := &s.scripts
	h.mu.Lock()
	defer h.mu.Unlock()
	keys := make([]string, 0, len(h.sites[site]))
	for k := range h.sites[site] {
		keys = append(keys, k)
	}
	scripts := h.sites[site]
	slices.SortFunc(keys, func(a, b string) int {
		if scriptBefore(scripts[a].Last, a, scripts[b].Last, b) {
			return 1
		}
		return -1
	})
	out := make([]ScriptSeen, len(keys))
	for i, k := range keys {
		out[i] = *scripts[k]
	}
	return out, nil
}
