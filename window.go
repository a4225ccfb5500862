package spamrun

import (
	"hash/maphash"
	"sort"
	"sync"
	"time"
)

// MaxSpamLimit is the largest MaxSpam a Policy may have, and so bounds the
// log of one key at MaxSpamLimit+1 times: a policy that lets a site send
// more spam than this per window is not a policy. Stores bound their logs
// alike.
const MaxSpamLimit = 99_999

// Window counts events per key exactly: "more than max within width".
//
// Each key keeps a bounded log of its last max+1 event times, oldest first,
// in a ring. Recording an event in time order is O(1); the count is
// exact, with no approximation across bucket edges: at the newest event t, the
// count is the number of events in (t−width, t], and the key has tripped when
// that count exceeds max.
//
// The edge cases, each covered by tests:
//   - An event exactly width after another does not share a window with it:
//     the window is open at its old end.
//   - Out-of-order events (concurrent processes whose clocks read a
//     little apart) are placed in order. An event older than every one of
//     the max+1 kept is dropped, since max+1 newer events are already known.
//   - max = 0 trips on the first event.
//   - A key with no events counts 0 and costs no memory.
//
// A Window is safe for concurrent use. Keys are spread over shards, each with
// its own lock, so millions of keys and many goroutines do not contend.
type Window struct {
	seed   maphash.Seed
	shards [windowShards]windowShard
}

const windowShards = 64

type windowShard struct {
	mu   sync.Mutex
	logs map[string]*eventLog
	// Each shard on its own cache line: neighbours locked by other cores
	// would otherwise bounce the line between them.
	_ [64 - 16]byte
}

// eventLog is a ring of unix-nanosecond times, sorted oldest first from
// start, with the events themselves alongside when a MemoryStore keeps them.
// It grows as events come, up to size, and wraps from then on; a site that
// sends one spam a day costs one slot, not max+1.
type eventLog struct {
	times  []int64     // the slots in use, at most size
	events []SpamEvent // nil, or parallel to times
	size   int         // max+1
	start  int         // index of the oldest; 0 until the ring is full
	n      int         // number of times kept
}

// NewWindow returns an empty Window.
func NewWindow() *Window {
	w := &Window{seed: maphash.MakeSeed()}
	for i := range w.shards {
		w.shards[i].logs = make(map[string]*eventLog)
	}
	return w
}

func (w *Window) shard(key string) *windowShard {
	return &w.shards[maphash.String(w.seed, key)%windowShards]
}

// Add records an event for key at t and returns the count in the window
// ending at the key's newest event, and whether that count exceeds max.
// max and width may differ between calls (a policy change); the log is
// resized, keeping the newest times.
func (w *Window) Add(key string, t time.Time, max int, width time.Duration) (count int, tripped bool) {
	count = w.add(key, t, nil, max, width)
	return count, count > max
}

// add is Add, keeping ev with the time when it is not nil.
func (w *Window) add(key string, t time.Time, ev *SpamEvent, max int, width time.Duration) int {
	if max < 0 {
		max = 0
	}
	if max > MaxSpamLimit {
		max = MaxSpamLimit
	}
	s := w.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.logs[key]
	if l == nil {
		l = &eventLog{size: max + 1}
		s.logs[key] = l
	} else if l.size != max+1 {
		l.resize(max + 1)
	}
	if ev != nil && l.events == nil {
		l.events = make([]SpamEvent, len(l.times), cap(l.times))
	}
	l.add(t.UnixNano(), ev)
	return l.countSince(l.newest() - int64(width))
}

// Count returns the number of events for key in (now−width, now].
func (w *Window) Count(key string, now time.Time, width time.Duration) int {
	s := w.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.logs[key]
	if l == nil {
		return 0
	}
	end := now.UnixNano()
	return l.countSince(end-int64(width)) - l.countSince(end)
}

// events returns the kept events of key in (now−width, now], oldest first.
func (w *Window) events(key string, now time.Time, width time.Duration) []SpamEvent {
	s := w.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.logs[key]
	if l == nil || l.events == nil {
		return nil
	}
	end := now.UnixNano()
	first, last := l.n-l.countSince(end-int64(width)), l.n-l.countSince(end)
	evs := make([]SpamEvent, 0, last-first)
	for i := first; i < last; i++ {
		evs = append(evs, l.events[(l.start+i)%len(l.times)])
	}
	return evs
}

// Reset forgets every event of key.
func (w *Window) Reset(key string) {
	s := w.shard(key)
	s.mu.Lock()
	delete(s.logs, key)
	s.mu.Unlock()
}

// Prune forgets the keys whose newest event is at or before cutoff, that is
// every key whose window has emptied when cutoff is now−width. It returns
// how many keys it dropped.
func (w *Window) Prune(cutoff time.Time) int {
	c := cutoff.UnixNano()
	dropped := 0
	for i := range w.shards {
		s := &w.shards[i]
		s.mu.Lock()
		for k, l := range s.logs {
			if l.newest() <= c {
				delete(s.logs, k)
				dropped++
			}
		}
		s.mu.Unlock()
	}
	return dropped
}

// Len returns the number of keys with events.
func (w *Window) Len() int {
	n := 0
	for i := range w.shards {
		s := &w.shards[i]
		s.mu.Lock()
		n += len(s.logs)
		s.mu.Unlock()
	}
	return n
}

func (l *eventLog) at(i int) int64 { return l.times[(l.start+i)%len(l.times)] }

// move copies the entry at i to j.
func (l *eventLog) move(j, i int) {
	from, to := (l.start+i)%len(l.times), (l.start+j)%len(l.times)
	l.times[to] = l.times[from]
	if l.events != nil {
		l.events[to] = l.events[from]
	}
}

func (l *eventLog) newest() int64 { return l.at(l.n - 1) }

// add inserts t (and ev, when events are kept) in order, dropping the
// oldest when the log is full.
func (l *eventLog) add(t int64, ev *SpamEvent) {
	if l.n == l.size {
		if t <= l.at(0) {
			return // older than everything kept: max+1 newer events are known
		}
		l.start = (l.start + 1) % l.size
		l.n--
	} else {
		// Not full, so not wrapped: a new slot at the end, growing the
		// slices no further than size.
		if len(l.times) == cap(l.times) {
			grown := min(max(2*cap(l.times), 4), l.size)
			l.times = append(make([]int64, 0, grown), l.times...)
			if l.events != nil {
				l.events = append(make([]SpamEvent, 0, grown), l.events...)
			}
		}
		l.times = l.times[:len(l.times)+1]
		if l.events != nil {
			l.events = append(l.events, SpamEvent{})
		}
	}
	// The common case, t not before the newest, is an append; an out-of-order
	// t shifts the newer times up by one.
	i := l.n
	for i > 0 && l.at(i-1) > t {
		l.move(i, i-1)
		i--
	}
	at := (l.start + i) % len(l.times)
	l.times[at] = t
	if l.events != nil {
		if ev != nil {
			l.events[at] = *ev
		} else {
			l.events[at] = SpamEvent{}
		}
	}
	l.n++
}

// countSince returns the number of kept times after since.
func (l *eventLog) countSince(since int64) int {
	first := sort.Search(l.n, func(i int) bool { return l.at(i) > since })
	return l.n - first
}

func (l *eventLog) resize(size int) {
	keep := min(l.n, size)
	times := make([]int64, keep)
	var events []SpamEvent
	if l.events != nil {
		events = make([]SpamEvent, keep)
	}
	for i := 0; i < keep; i++ {
		from := (l.start + l.n - keep + i) % len(l.times)
		times[i] = l.times[from]
		if events != nil {
			events[i] = l.events[from]
		}
	}
	l.times, l.events, l.size, l.start, l.n = times, events, size, 0, keep
}
