package spamrun

import (
	"context"
	"fmt"
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
	// RecordSpam adds ev, a spam-marked submission weighing ev.Weighs(),
	// to the site's log of the newest such submissions that weigh max+1
	// together, and returns the weight of those in the window of the given
	// width ending at the newest, in one atomic step. A result above max
	// means the site has tripped. It is exact up to max; above, it is the
	// weight of what the log kept in the window (see Window).
	//
	// A submission decided again counts once: when ev.Submission is not
	// empty and the log, once cut to max+1, holds an event of the same
	// Submission, nothing is added, whatever ev weighs now, and the result
	// is the count of the log as it stands; the look-up is part of the
	// same atomic step. An empty Submission is never looked up.
	//
	// Only the log is looked in, so a submission whose event the log has
	// dropped is recorded as new. That never counts it twice. An event is
	// dropped when newer ones weigh max+1 without it, and from then on the
	// log weighs at least max+1 and holds nothing older: recorded again at
	// its time, as sendmail and the queue runner decide a message at its
	// arrival, the submission is not newer than all the log holds and is
	// dropped at once, leaving the count as recognising it would have.
	// Only when max has been raised meanwhile, or the log emptied (Enable,
	// expiry), may it go back into the log, which then holds it once.
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

// IncidentLog is a Store that keeps every incident, not only the one in
// force, for the operator's reports.
type IncidentLog interface {
	Store
	// Incidents returns the incidents of site, or of every site when site
	// is "", newest first.
	Incidents(ctx context.Context, site string) ([]*Incident, error)
	// SetEnforced records on incident id of site what the enforcer did,
	// both in the history and, while it is in force, in the disabled
	// flag. An unknown id is not an error: the incident may have been
	// pruned.
	SetEnforced(ctx context.Context, site, id string, e Enforcement) error
}

// MemoryStore is a Store in process memory, safe for concurrent use.
type MemoryStore struct {
	window *Window
	// disabled holds the store's own copies, never a caller's *Incident,
	// and a copy is replaced, not changed, so that a caller may read an
	// incident it was given while the store records on it.
	disabled  sync.Map // site → *Incident
	incidents incidentLog
	scripts   scriptHistory
}

var (
	_ Store       = (*MemoryStore)(nil)
	_ IncidentLog = (*MemoryStore)(nil)
)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{window: NewWindow()}
}

// RecordSpam implements Store, recognising a submission by an index of
// the submissions in the site's log, kept as the log is.
func (s *MemoryStore) RecordSpam(_ context.Context, site string, ev SpamEvent, max int, window time.Duration) (int, error) {
	return s.window.add(site, ev.Time, ev.Weight, &ev, max, window), nil
}

// SpamLog implements Store.
func (s *MemoryStore) SpamLog(_ context.Context, site string, now time.Time, window time.Duration) ([]SpamEvent, error) {
	return s.window.events(site, now, window), nil
}

// SetDisabled implements Store. The incident that disables the site is
// also added to the history Incidents reads; an incident with the ID of one
// already there replaces it.
func (s *MemoryStore) SetDisabled(_ context.Context, site string, inc *Incident) (*Incident, bool, error) {
	if inc == nil {
		return nil, false, fmt.Errorf("spamrun: disabling site %q: no incident", site)
	}
	l := &s.incidents
	l.mu.Lock()
	defer l.mu.Unlock()
	cur, loaded := s.disabled.LoadOrStore(site, inc.clone())
	if loaded {
		return cur.(*Incident), false, nil
	}
	l.add(site, inc.clone())
	return inc, true, nil
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

// incidentLog is the MemoryStore's incident history: every incident that
// disabled a site, by ID, as the SQLite and Redis stores keep them.
type incidentLog struct {
	// mu serialises the changes of the history and of the disabled flags
	// that go with them; Disabled and Enable need no lock.
	mu   sync.Mutex
	byID map[string]loggedIncident
}

type loggedIncident struct {
	site string // as SetDisabled was given it
	inc  *Incident
}

func (l *incidentLog) add(site string, inc *Incident) {
	if l.byID == nil {
		l.byID = make(map[string]loggedIncident)
	}
	l.byID[inc.ID] = loggedIncident{site, inc}
}

// clone copies inc deep enough that the copy's Enforced can be set, and
// the original's changed, without either seeing it.
func (inc *Incident) clone() *Incident {
	c := *inc
	if inc.Enforced != nil {
		e := *inc.Enforced
		c.Enforced = &e
	}
	return &c
}

// withEnforced is a copy of inc recording e.
func (inc *Incident) withEnforced(e Enforcement) *Incident {
	c := inc.clone()
	c.Enforced = &e
	return c
}

// Incidents implements IncidentLog. Of incidents at the same instant, the
// greater ID comes first, as in the other stores.
func (s *MemoryStore) Incidents(_ context.Context, site string) ([]*Incident, error) {
	l := &s.incidents
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*Incident
	for _, e := range l.byID {
		if site == "" || e.site == site {
			out = append(out, e.inc.clone())
		}
	}
	slices.SortFunc(out, func(a, b *Incident) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return out, nil
}

// SetEnforced implements IncidentLog. The disabled flag is swapped only if
// it still holds incident id: an Enable, or an Enable and a new trip, may
// have come between the trip and the enforcer's return.
func (s *MemoryStore) SetEnforced(_ context.Context, site, id string, e Enforcement) error {
	l := &s.incidents
	l.mu.Lock()
	defer l.mu.Unlock()
	logged, ok := l.byID[id]
	if !ok || logged.site != site {
		return nil
	}
	l.byID[id] = loggedIncident{site, logged.inc.withEnforced(e)}
	for {
		cur, ok := s.disabled.Load(site)
		if !ok || cur.(*Incident).ID != id {
			return nil
		}
		// Enable does not take mu, so the flag may go under our feet.
		if s.disabled.CompareAndSwap(site, cur, cur.(*Incident).withEnforced(e)) {
			return nil
		}
	}
}

// Prune drops the spam logs whose newest entry is at or before cutoff, so
// that a long-running process does not keep every site it has ever seen.
// Disabled flags are kept.
func (s *MemoryStore) Prune(cutoff time.Time) int { return s.window.Prune(cutoff) }

// ScriptHistory is a Store that also remembers which scripts of a site have
// sent mail, and how much mail the site sent minute by minute, so that the
// incident report can tell a script sending for the first time, such as an
// uploaded mailer, from a long-standing one, such as an abused contact
// form, and draw the run against the site's ordinary traffic. The sendmail
// command records every accepted message in a store that has it.
//
// A site's history holds at most MaxScripts scripts; recording one more
// forgets the least recently seen, so a run that names a new script in
// every message cannot grow the store without bound, and the scripts still
// in use stay. Activity is kept for ActivityRetention.
type ScriptHistory interface {
	Store
	// RecordScript counts one accepted submission: in the history of
	// sub.Script, or, when that is empty, of the directory sub.Cwd (see
	// ScriptKey), and in the activity of sub.Time's minute. Times may come
	// out of order: First is the earliest ever recorded, Last the latest,
	// and Cwd is that of the latest. A submission that names neither a
	// script nor a directory is counted in the activity only, under "".
	RecordScript(ctx context.Context, site string, sub Submission) error
	// Scripts returns the site's history, most recently seen first; of
	// scripts last seen at the same instant, the greater ScriptKey first,
	// so that every store gives the same order.
	Scripts(ctx context.Context, site string) ([]ScriptSeen, error)
	// Activity returns the site's counts of the minutes that start in
	// [from, to), in time order and, within a minute, by ScriptKey.
	// Minutes without submissions are left out.
	Activity(ctx context.Context, site string, from, to time.Time) ([]Minute, error)
}

// Submission is one accepted message as a ScriptHistory records it.
type Submission struct {
	Time time.Time
	// Script and Cwd are the message's Evidence.
	Script, Cwd string
	// Spam says the message was spam-marked.
	Spam bool
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
	// Count is the number of submissions recorded, and Spam how many of
	// them were spam-marked.
	Count int64 `json:"count"`
	Spam  int64 `json:"spam"`
}

// Minute is a site's accepted submissions by one script in one minute.
type Minute struct {
	// Time is the start of the minute, in UTC.
	Time time.Time `json:"time"`
	// Script is the ScriptKey of the submissions; "" when they named
	// neither a script nor a directory.
	Script string `json:"script,omitempty"`
	Legit  int    `json:"legit"`
	Spam   int    `json:"spam"`
}

// ActivityRetention is how long a ScriptHistory keeps a minute's activity.
// An incident copies what it needs at the trip.
const ActivityRetention = 8 * 24 * time.Hour

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

// scriptHistory is the MemoryStore's: per site, ScriptKey → record, and
// the activity per minute.
type scriptHistory struct {
	mu       sync.Mutex
	sites    map[string]map[string]*ScriptSeen
	activity map[string]map[minuteKey]*Minute
	// pruned is, per site, the cutoff of the last pruning of its
	// activity: the minutes are looked through again only when the
	// cutoff moves on, once a minute of submissions at most.
	pruned map[string]int64
}

type minuteKey struct {
	minute int64 // unix seconds
	script string
}

var _ ScriptHistory = (*MemoryStore)(nil)

// RecordScript implements ScriptHistory.
func (s *MemoryStore) RecordScript(_ context.Context, site string, sub Submission) error {
	h := &s.scripts
	h.mu.Lock()
	defer h.mu.Unlock()
	key := ScriptKey(sub.Script, sub.Cwd)
	h.count(site, key, sub)
	if key == "" {
		return nil
	}
	if h.sites == nil {
		h.sites = make(map[string]map[string]*ScriptSeen)
	}
	scripts := h.sites[site]
	if scripts == nil {
		scripts = make(map[string]*ScriptSeen)
		h.sites[site] = scripts
	}
	t := sub.Time
	rec := scripts[key]
	if rec == nil {
		rec = &ScriptSeen{Script: strings.TrimSpace(sub.Script), Cwd: strings.TrimSpace(sub.Cwd), First: t, Last: t}
		scripts[key] = rec
	} else {
		if t.Before(rec.First) {
			rec.First = t
		}
		if !t.Before(rec.Last) {
			rec.Script, rec.Cwd, rec.Last = strings.TrimSpace(sub.Script), strings.TrimSpace(sub.Cwd), t
		}
	}
	rec.Count++
	if sub.Spam {
		rec.Spam++
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

// count adds sub to its minute and forgets the site's minutes that have
// passed ActivityRetention before it.
func (h *scriptHistory) count(site, key string, sub Submission) {
	if h.activity == nil {
		h.activity = make(map[string]map[minuteKey]*Minute)
	}
	minutes := h.activity[site]
	if minutes == nil {
		minutes = make(map[minuteKey]*Minute)
		h.activity[site] = minutes
	}
	start := sub.Time.UTC().Truncate(time.Minute)
	k := minuteKey{start.Unix(), key}
	m := minutes[k]
	if m == nil {
		m = &Minute{Time: start, Script: key}
		minutes[k] = m
	}
	if sub.Spam {
		m.Spam++
	} else {
		m.Legit++
	}
	cutoff := start.Add(-ActivityRetention).Unix()
	if last, ok := h.pruned[site]; ok && cutoff <= last {
		return
	}
	if h.pruned == nil {
		h.pruned = make(map[string]int64)
	}
	h.pruned[site] = cutoff
	for k := range minutes {
		if k.minute < cutoff {
			delete(minutes, k)
		}
	}
}

// Activity implements ScriptHistory.
func (s *MemoryStore) Activity(_ context.Context, site string, from, to time.Time) ([]Minute, error) {
	h := &s.scripts
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Minute
	for _, m := range h.activity[site] {
		if !m.Time.Before(from) && m.Time.Before(to) {
			out = append(out, *m)
		}
	}
	SortMinutes(out)
	return out, nil
}

// SortMinutes puts activity in the order ScriptHistory.Activity returns it.
func SortMinutes(ms []Minute) {
	slices.SortFunc(ms, func(a, b Minute) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Script, b.Script)
	})
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
