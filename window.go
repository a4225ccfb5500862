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

// Window counts weighted events per key exactly: "more than max within
// width", where an event weighs one or more (a spam-marked message weighs
// its recipients under CountRecipients).
//
// Each key keeps a bounded log of event times and weights, oldest first, in
// a ring: the newest events whose weights sum to at least max+1, and no
// more. Any window that reaches an older event holds all of these, so it
// holds more than max whatever the older events weigh; and since every
// weight is at least 1, the log never holds more than max+1 events.
// Recording an event in time order is O(1) amortised; the count is exact,
// with no approximation across bucket edges: at the newest event t, the
// count is the weight of the kept events in (t−width, t], and the key has
// tripped when that count exceeds max.
//
// The count is exact whenever it is at most max. Above max it is the
// weight of the kept events in the window: more than max, and no more than
// the weight of every event ever recorded there, older ones dropped from
// the log included. So the answer to "has it tripped" is always exact,
// and a tripped count is what the log can show for it.
//
// The edge cases, each covered by tests:
//   - An event exactly width after another does not share a window with it:
//     the window is open at its old end.
//   - Out-of-order events (concurrent processes whose clocks read a
//     little apart) are placed in order. An event not newer than every
//     kept one is dropped when the kept ones weigh max+1 already.
//   - A single event weighing more than max trips on its own.
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
// start, with running totals of the events' weights alongside, and the events
// themselves when a MemoryStore keeps them. It grows as events come, up to
// size slots, and wraps from then on; a site that sends one spam a day costs
// one slot, not max+1.
type eventLog struct {
	times []int64 // the ring; len(times) ≤ size
	// sums[i] is base plus the weights of the kept events up to slot i's
	// in order: the weight of a run of events is a difference of two.
	// It is nil while every kept event weighs 1, as most spam does, and
	// the log costs no more than a log of times.
	sums   []int64
	events []SpamEvent // nil, or parallel to times
	// subs holds the non-empty Submissions of events, so that a decision
	// made again is recognised without a scan of the log; nil until one
	// comes. The pointer takes room the struct's size class had spare: a
	// log costs what it did before.
	subs  map[string]struct{}
	size  int   // max+1: the weight the kept events need, and their bound in number
	start int   // index of the oldest
	n     int   // number of events kept
	base  int64 // the running total before the oldest kept
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

// Add records an event of the given weight (below 1 counts as 1) for key at
// t, and returns the count in the window ending at the key's newest event,
// and whether that count exceeds max. max and width may differ between
// calls (a policy change): a lowered max cuts the log to the newest events
// that weigh max+1, a raised one finds no more than was kept.
func (w *Window) Add(key string, t time.Time, weight, max int, width time.Duration) (count int, tripped bool) {
	count = w.add(key, t, weight, nil, max, width)
	return count, count > max
}

// add is Add, keeping ev with the time when it is not nil. An ev whose
// Submission is among the kept events' is not added: see Store.RecordSpam.
func (w *Window) add(key string, t time.Time, weight int, ev *SpamEvent, max int, width time.Duration) int {
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
		l.events = make([]SpamEvent, len(l.times))
	}
	if ev == nil || !l.holds(ev.Submission) {
		l.add(t.UnixNano(), int64(weight), ev)
	}
	return int(l.weightSince(l.newest() - int64(width)))
}

// Count returns the weight of the kept events for key in (now−width, now].
func (w *Window) Count(key string, now time.Time, width time.Duration) int {
	s := w.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.logs[key]
	if l == nil {
		return 0
	}
	end := now.UnixNano()
	return int(l.weightSince(end-int64(width)) - l.weightSince(end))
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
	first, last := l.firstAfter(end-int64(width)), l.firstAfter(end)
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

// holds reports whether a kept event is of the submission sub, never of "".
func (l *eventLog) holds(sub string) bool {
	if sub == "" {
		return false
	}
	_, ok := l.subs[sub]
	return ok
}

func (l *eventLog) slot(i int) int { return (l.start + i) % len(l.times) }

func (l *eventLog) at(i int) int64 { return l.times[l.slot(i)] }

func (l *eventLog) newest() int64 { return l.at(l.n - 1) }

// sumAt is the running total up to and including the i-th kept event.
func (l *eventLog) sumAt(i int) int64 {
	if l.sums == nil {
		return l.base + int64(i) + 1
	}
	return l.sums[l.slot(i)]
}

// sumBefore is the running total before the i-th kept event.
func (l *eventLog) sumBefore(i int) int64 {
	if i == 0 {
		return l.base
	}
	return l.sumAt(i - 1)
}

// weight is the weight of the kept events.
func (l *eventLog) weight() int64 { return l.sumBefore(l.n) - l.base }

// add inserts an event at t of the given weight (and ev, when events are
// kept) in order, then drops the oldest events the newer ones make
// redundant.
func (l *eventLog) add(t, weight int64, ev *SpamEvent) {
	weight = max(weight, 1)
	if l.n > 0 && t <= l.at(0) && l.weight() >= int64(l.size) {
		return // not newer than anything kept, which already weighs max+1
	}
	if l.n == l.size {
		// Every event weighs at least 1, so size newer ones, the new one
		// among them, weigh enough without the oldest.
		l.dropOldest()
	}
	if l.n == len(l.times) {
		l.relayout(min(max(2*len(l.times), 4), l.size))
	}
	if weight != 1 && l.sums == nil {
		l.sums = make([]int64, len(l.times))
		for i := range l.n {
			l.sums[l.slot(i)] = l.base + int64(i) + 1
		}
	}
	// The common case, t not before the newest, is an append; an out-of-order
	// t shifts the newer events up by one, their totals by its weight.
	i := l.n
	for i > 0 && l.at(i-1) > t {
		from, to := l.slot(i-1), l.slot(i)
		l.times[to] = l.times[from]
		if l.sums != nil {
			l.sums[to] = l.sums[from] + weight
		}
		if l.events != nil {
			l.events[to] = l.events[from]
		}
		i--
	}
	at := l.slot(i)
	l.times[at] = t
	if l.sums != nil {
		l.sums[at] = l.sumBefore(i) + weight
	}
	if l.events != nil {
		if ev != nil {
			l.events[at] = *ev
			if ev.Submission != "" {
				if l.subs == nil {
					l.subs = make(map[string]struct{})
				}
				l.subs[ev.Submission] = struct{}{}
			}
		} else {
			l.events[at] = SpamEvent{}
		}
	}
	l.n++
	l.trim()
}

// trim drops the oldest events while the newer ones weigh max+1 without
// them.
func (l *eventLog) trim() {
	for l.n > 1 && l.sumBefore(l.n)-l.sumAt(0) >= int64(l.size) {
		l.dropOldest()
	}
}

func (l *eventLog) dropOldest() {
	at := l.slot(0)
	l.base = l.sumAt(0)
	if l.events != nil {
		delete(l.subs, l.events[at].Submission)
		l.events[at] = SpamEvent{} // let go of its strings
	}
	l.start = (l.start + 1) % len(l.times)
	l.n--
}

// firstAfter returns the index of the first kept event after since.
func (l *eventLog) firstAfter(since int64) int {
	return sort.Search(l.n, func(i int) bool { return l.at(i) > since })
}

// weightSince returns the weight of the kept events after since.
func (l *eventLog) weightSince(since int64) int64 {
	return l.sumBefore(l.n) - l.sumBefore(l.firstAfter(since))
}

// resize changes the weight the log keeps, cutting it at once when that
// is lowered, and its slots to no more than the events it may hold.
func (l *eventLog) resize(size int) {
	l.size = size
	l.trim()
	if len(l.times) > size {
		l.relayout(size)
	}
}

// relayout moves the kept events into a ring of c slots, oldest first.
func (l *eventLog) relayout(c int) {
	times := make([]int64, c)
	var sums []int64
	if l.sums != nil {
		sums = make([]int64, c)
	}
	var events []SpamEvent
	if l.events != nil {
		events = make([]SpamEvent, c)
	}
	for i := 0; i < l.n; i++ {
		from := l.slot(i)
		times[i] = l.times[from]
		if sums != nil {
			sums[i] = l.sums[from]
		}
		if events != nil {
			events[i] = l.events[from]
		}
	}
	l.times, l.sums, l.events, l.start = times, sums, events, 0
}
