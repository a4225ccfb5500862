package spamrun_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamruntest"
)

var t0 = spamruntest.T0

// at returns t0 plus the given minutes and seconds.
func at(min, sec int) time.Time {
	return t0.Add(time.Duration(min)*time.Minute + time.Duration(sec)*time.Second)
}

func TestWindowEdges(t *testing.T) {
	type event struct {
		at      time.Time
		count   int
		tripped bool
	}
	tests := []struct {
		name   string
		max    int
		width  time.Duration
		events []event
	}{
		{
			name: "max+1 within the window trips", max: 2, width: time.Hour,
			events: []event{{at(0, 0), 1, false}, {at(10, 0), 2, false}, {at(59, 59), 3, true}},
		},
		{
			name: "an event exactly width after another does not share its window", max: 1, width: time.Hour,
			events: []event{{at(0, 0), 1, false}, {at(60, 0), 1, false}, {at(119, 59), 2, true}},
		},
		{
			name: "one nanosecond inside the window counts", max: 1, width: time.Hour,
			events: []event{{at(0, 0), 1, false}, {at(60, 0).Add(-time.Nanosecond), 2, true}},
		},
		{
			name: "max 0 trips on the first event", max: 0, width: time.Minute,
			events: []event{{at(0, 0), 1, true}},
		},
		{
			name: "max 0 trips on every event, however far apart", max: 0, width: time.Minute,
			events: []event{{at(0, 0), 1, true}, {at(500, 0), 1, true}},
		},
		{
			name: "events at the same instant all count", max: 2, width: time.Second,
			events: []event{{at(5, 0), 1, false}, {at(5, 0), 2, false}, {at(5, 0), 3, true}},
		},
		{
			name: "an out-of-order event is placed in order", max: 2, width: time.Hour,
			events: []event{{at(30, 0), 1, false}, {at(70, 0), 2, false}, {at(5, 0), 2, false}, {at(71, 0), 3, true}},
		},
		{
			name: "a late event inside the newest window trips", max: 2, width: time.Hour,
			events: []event{{at(0, 0), 1, false}, {at(50, 0), 2, false}, {at(40, 0), 3, true}},
		},
		{
			name: "an event older than every kept one is dropped", max: 1, width: time.Hour,
			events: []event{{at(100, 0), 1, false}, {at(200, 0), 1, false}, {at(5, 0), 1, false}, {at(230, 0), 2, true}},
		},
		{
			name: "a slow steady sender never trips", max: 3, width: time.Hour,
			events: []event{{at(0, 0), 1, false}, {at(15, 0), 2, false}, {at(30, 0), 3, false}, {at(45, 0), 4, true}},
		},
		{
			name: "the window slides: old events fall out", max: 3, width: time.Hour,
			events: []event{{at(0, 0), 1, false}, {at(20, 0), 2, false}, {at(40, 0), 3, false}, {at(60, 0), 3, false}, {at(80, 0), 3, false}, {at(99, 0), 4, true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := spamrun.NewWindow()
			for i, ev := range tt.events {
				count, tripped := w.Add("site", ev.at, 1, tt.max, tt.width)
				if count != ev.count || tripped != ev.tripped {
					t.Errorf("event %d at %v: got count %d tripped %v, want %d %v",
						i, ev.at.Sub(t0), count, tripped, ev.count, ev.tripped)
				}
			}
		})
	}
}

func TestWindowKeysAreIndependent(t *testing.T) {
	w := spamrun.NewWindow()
	for i := range 3 {
		w.Add("a", at(i, 0), 1, 5, time.Hour)
	}
	if n := w.Count("b", at(3, 0), time.Hour); n != 0 {
		t.Errorf("key with no events counts %d, want 0", n)
	}
	if n := w.Count("a", at(3, 0), time.Hour); n != 3 {
		t.Errorf("Count(a) = %d, want 3", n)
	}
	if w.Len() != 1 {
		t.Errorf("Len = %d, want 1: reading a key must not create it", w.Len())
	}
	w.Reset("a")
	if n := w.Count("a", at(3, 0), time.Hour); n != 0 {
		t.Errorf("Count after Reset = %d, want 0", n)
	}
}

func TestWindowCountAt(t *testing.T) {
	w := spamrun.NewWindow()
	for _, m := range []int{0, 10, 20, 30} {
		w.Add("s", at(m, 0), 1, 10, time.Hour)
	}
	for _, tc := range []struct {
		now  time.Time
		want int
	}{
		{at(-1, 0), 0},  // before everything
		{at(0, 0), 1},   // the window is closed at now
		{at(15, 0), 2},  // later events are not counted
		{at(60, 0), 3},  // the event at 0 is exactly width old: out
		{at(89, 59), 1}, // only 30 left
		{at(90, 0), 0},
	} {
		if got := w.Count("s", tc.now, time.Hour); got != tc.want {
			t.Errorf("Count at %v = %d, want %d", tc.now.Sub(t0), got, tc.want)
		}
	}
}

func TestWindowResizeKeepsNewest(t *testing.T) {
	w := spamrun.NewWindow()
	for m := range 6 {
		w.Add("s", at(m, 0), 1, 10, time.Hour)
	}
	// The operator lowers max_spam to 2: the log shrinks to the newest 3.
	if count, tripped := w.Add("s", at(6, 0), 1, 2, time.Hour); count != 3 || !tripped {
		t.Errorf("after shrinking: count %d tripped %v, want 3 true", count, tripped)
	}
	// And raises it again: what was dropped stays dropped, nothing is invented.
	if count, tripped := w.Add("s", at(7, 0), 1, 10, time.Hour); count != 4 || tripped {
		t.Errorf("after growing: count %d tripped %v, want 4 false", count, tripped)
	}
}

func TestWindowPrune(t *testing.T) {
	w := spamrun.NewWindow()
	w.Add("old", at(0, 0), 1, 3, time.Hour)
	w.Add("new", at(50, 0), 1, 3, time.Hour)
	if n := w.Prune(at(61, 0).Add(-time.Hour)); n != 1 {
		t.Errorf("Prune dropped %d keys, want 1", n)
	}
	if w.Len() != 1 || w.Count("new", at(50, 0), time.Hour) != 1 {
		t.Errorf("Prune dropped the wrong key")
	}
}

// TestWindowWeights covers events that weigh more than one, as spam-marked
// messages weigh their recipients.
func TestWindowWeights(t *testing.T) {
	type event struct {
		at      time.Time
		weight  int
		count   int
		tripped bool
	}
	tests := []struct {
		name   string
		max    int
		events []event
		// logged is the weight Count finds in the log after the events,
		// over a day ending at the newest.
		logged int
	}{
		{
			name: "one event heavier than max trips on its own", max: 5,
			events: []event{{at(0, 0), 51, 51, true}}, logged: 51,
		},
		{
			name: "weights add up to the trip", max: 5,
			events: []event{{at(0, 0), 2, 2, false}, {at(1, 0), 3, 5, false}, {at(2, 0), 1, 6, true}}, logged: 6,
		},
		{
			name: "a weight below one counts as one", max: 1,
			events: []event{{at(0, 0), 0, 1, false}, {at(1, 0), -4, 2, true}}, logged: 2,
		},
		{
			// Above max the count is what the log keeps: the older events
			// are dropped at once, the trip being known without them.
			name: "a heavy event makes every older one redundant", max: 5,
			events: []event{{at(0, 0), 1, 1, false}, {at(1, 0), 1, 2, false}, {at(2, 0), 51, 51, true}, {at(3, 0), 1, 52, true}},
			logged: 52,
		},
		{
			name: "a late event is kept while the kept ones weigh less than max+1", max: 5,
			events: []event{{at(100, 0), 3, 3, false}, {at(200, 0), 2, 2, false}, {at(5, 0), 1, 2, false}},
			logged: 6,
		},
		{
			name: "and dropped once they weigh max+1", max: 5,
			events: []event{{at(100, 0), 3, 3, false}, {at(200, 0), 3, 3, false}, {at(5, 0), 1, 3, false}},
			logged: 6,
		},
		{
			name: "a late heavy event inside the window trips", max: 5,
			events: []event{{at(0, 0), 1, 1, false}, {at(50, 0), 1, 2, false}, {at(40, 0), 9, 10, true}},
			logged: 10,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := spamrun.NewWindow()
			newest := tt.events[0].at
			for i, ev := range tt.events {
				count, tripped := w.Add("site", ev.at, ev.weight, tt.max, time.Hour)
				if count != ev.count || tripped != ev.tripped {
					t.Errorf("event %d (weight %d at %v): got count %d tripped %v, want %d %v",
						i, ev.weight, ev.at.Sub(t0), count, tripped, ev.count, ev.tripped)
				}
				if ev.at.After(newest) {
					newest = ev.at
				}
			}
			if got := w.Count("site", newest, 24*time.Hour); got != tt.logged {
				t.Errorf("the log weighs %d, want %d", got, tt.logged)
			}
		})
	}
}

func TestWindowResizeByWeight(t *testing.T) {
	w := spamrun.NewWindow()
	for m := range 3 {
		w.Add("s", at(m, 0), 2, 10, time.Hour)
	}
	// max_spam lowered to 2: the log is cut to the newest events that
	// weigh 3, two of weight 2, before the new one pushes out one more.
	if count, tripped := w.Add("s", at(3, 0), 1, 2, time.Hour); count != 3 || !tripped {
		t.Errorf("after shrinking: count %d tripped %v, want 3 true", count, tripped)
	}
	if got := w.Count("s", at(3, 0), time.Hour); got != 3 {
		t.Errorf("after shrinking the log weighs %d, want 3", got)
	}
}

// TestWindowMatchesBruteForce compares the window with the definition on
// random streams of weighted events, weights above max among them, in
// order and with clock skew between writers: after every event the count
// is the weight of all events so far in (newest−width, newest] when that
// is at most max; above max, the window says so with a count no greater.
func TestWindowMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	type event struct {
		at     time.Time
		weight int
	}
	for round := range 300 {
		max := rng.IntN(8)
		width := time.Duration(1+rng.IntN(120)) * time.Second
		skew := time.Duration(0)
		if round%2 == 1 {
			skew = time.Duration(rng.IntN(30)) * time.Second
		}
		w := spamrun.NewWindow()
		var all []event
		now := t0
		for i := range 60 {
			now = now.Add(time.Duration(rng.IntN(20)) * time.Second)
			ev := event{now, 1}
			if skew > 0 {
				ev.at = now.Add(-time.Duration(rng.Int64N(int64(skew) + 1)))
			}
			switch rng.IntN(4) {
			case 0:
				ev.weight = 1 + rng.IntN(2*max+3)
			case 1:
				ev.weight = 1 + rng.IntN(3)
			}
			all = append(all, ev)
			count, tripped := w.Add("k", ev.at, ev.weight, max, width)
			newest := all[0].at
			for _, e := range all {
				if e.at.After(newest) {
					newest = e.at
				}
			}
			want := 0
			for _, e := range all {
				if e.at.After(newest.Add(-width)) {
					want += e.weight
				}
			}
			if tripped != (want > max) || (want <= max && count != want) || (want > max && (count <= max || count > want)) {
				t.Fatalf("round %d event %d (max %d width %v skew %v weight %d): got %d/%v, want %d/%v",
					round, i, max, width, skew, ev.weight, count, tripped, want, want > max)
			}
		}
	}
}

func TestWindowConcurrent(t *testing.T) {
	w := spamrun.NewWindow()
	const writers, each = 16, 200
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				w.Add(fmt.Sprintf("site%d", i%4), at(0, g*each+i), 1+i%3, spamrun.MaxSpamLimit, 24*time.Hour)
			}
		})
	}
	wg.Wait()
	for k := range 4 {
		want := 0
		for i := k; i < each; i += 4 {
			want += writers * (1 + i%3)
		}
		if n := w.Count(fmt.Sprintf("site%d", k), at(0, writers*each), 24*time.Hour); n != want {
			t.Errorf("site%d: count %d, want %d", k, n, want)
		}
	}
}

// BenchmarkWindowAdd records events for 1,000 keys per goroutine, each
// goroutine with its own keys and clock, as sites' submissions come in
// time order, one in eight of them weighing 25; TestWindowMatchesBruteForce
// covers the out-of-order path.
func BenchmarkWindowAdd(b *testing.B) {
	w := spamrun.NewWindow()
	var seq atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		g := seq.Add(1)
		keys := make([]string, 1000)
		for i := range keys {
			keys[i] = fmt.Sprintf("g%d-site%d", g, i)
		}
		i := 0
		now := t0
		for pb.Next() {
			now = now.Add(time.Millisecond)
			weight := 1
			if i%8 == 7 {
				weight = 25
			}
			w.Add(keys[i%len(keys)], now, weight, 10, time.Hour)
			i++
		}
	})
}

func ExampleWindow() {
	w := spamrun.NewWindow()
	const maxSpam = 2
	start := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for _, offset := range []time.Duration{0, 30 * time.Minute, 60 * time.Minute, 61 * time.Minute} {
		count, tripped := w.Add("shop1", start.Add(offset), 1, maxSpam, time.Hour)
		fmt.Printf("+%v: %d in the last hour, tripped=%v\n", offset, count, tripped)
	}
	// Output:
	// +0s: 1 in the last hour, tripped=false
	// +30m0s: 2 in the last hour, tripped=false
	// +1h0m0s: 2 in the last hour, tripped=false
	// +1h1m0s: 3 in the last hour, tripped=true
}

// BenchmarkWindowMemoryPerKey reports the heap a key with a full log of
// max_spam 10 (11 times) costs, over a million keys.
func BenchmarkWindowMemoryPerKey(b *testing.B) {
	const keys = 1_000_000
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprintf("site%07d", i)
	}
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		w := spamrun.NewWindow()
		for i, k := range names {
			for j := range 11 {
				w.Add(k, t0.Add(time.Duration(i+j)*time.Second), 1, 10, time.Hour)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/keys, "bytes/key")
		runtime.KeepAlive(w)
	}
}
