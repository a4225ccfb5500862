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
				count, tripped := w.Add("site", ev.at, tt.max, tt.width)
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
		w.Add("a", at(i, 0), 5, time.Hour)
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
		w.Add("s", at(m, 0), 10, time.Hour)
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
		w.Add("s", at(m, 0), 10, time.Hour)
	}
	// The operator lowers max_spam to 2: the log shrinks to the newest 3.
	if count, tripped := w.Add("s", at(6, 0), 2, time.Hour); count != 3 || !tripped {
		t.Errorf("after shrinking: count %d tripped %v, want 3 true", count, tripped)
	}
	// And raises it again: what was dropped stays dropped, nothing is invented.
	if count, tripped := w.Add("s", at(7, 0), 10, time.Hour); count != 4 || tripped {
		t.Errorf("after growing: count %d tripped %v, want 4 false", count, tripped)
	}
}

func TestWindowPrune(t *testing.T) {
	w := spamrun.NewWindow()
	w.Add("old", at(0, 0), 3, time.Hour)
	w.Add("new", at(50, 0), 3, time.Hour)
	if n := w.Prune(at(61, 0).Add(-time.Hour)); n != 1 {
		t.Errorf("Prune dropped %d keys, want 1", n)
	}
	if w.Len() != 1 || w.Count("new", at(50, 0), time.Hour) != 1 {
		t.Errorf("Prune dropped the wrong key")
	}
}

// TestWindowMatchesBruteForce compares the window with the definition on
// random streams, in order and with clock skew between writers: after every
// event the count is the number of all events so far in (newest−width,
// newest], capped at max+1, which is all a bounded log can know.
func TestWindowMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		max := rng.IntN(6)
		width := time.Duration(1+rng.IntN(120)) * time.Second
		skew := time.Duration(0)
		if round%2 == 1 {
			skew = time.Duration(rng.IntN(30)) * time.Second
		}
		w := spamrun.NewWindow()
		var all []time.Time
		now := t0
		for i := range 60 {
			now = now.Add(time.Duration(rng.IntN(20)) * time.Second)
			ev := now
			if skew > 0 {
				ev = now.Add(-time.Duration(rng.Int64N(int64(skew) + 1)))
			}
			all = append(all, ev)
			count, tripped := w.Add("k", ev, max, width)
			newest := all[0]
			for _, e := range all {
				if e.After(newest) {
					newest = e
				}
			}
			want := 0
			for _, e := range all {
				if e.After(newest.Add(-width)) && !e.After(newest) {
					want++
				}
			}
			want = min(want, max+1)
			if count != want || tripped != (want > max) {
				t.Fatalf("round %d event %d (max %d width %v skew %v): got %d/%v, want %d/%v",
					round, i, max, width, skew, count, tripped, want, want > max)
			}
		}
	}
}

func TestWindowConcurrent(t *testing.T) {
	w := spamrun.NewWindow()
	const writers, each, max = 16, 200, 1000
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				w.Add(fmt.Sprintf("site%d", i%4), at(0, g*each+i), max, 24*time.Hour)
			}
		}()
	}
	wg.Wait()
	for k := range 4 {
		if n := w.Count(fmt.Sprintf("site%d", k), at(0, writers*each), 24*time.Hour); n != writers*each/4 {
			t.Errorf("site%d: count %d, want %d", k, n, writers*each/4)
		}
	}
}

func ExampleWindow() {
	w := spamrun.NewWindow()
	const maxSpam = 2
	start := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for _, offset := range []time.Duration{0, 30 * time.Minute, 60 * time.Minute, 61 * time.Minute} {
		count, tripped := w.Add("shop1", start.Add(offset), maxSpam, time.Hour)
		fmt.Printf("+%v: %d in the last hour, tripped=%v\n", offset, count, tripped)
	}
	// Output:
	// +0s: 1 in the last hour, tripped=false
	// +30m0s: 2 in the last hour, tripped=false
	// +1h0m0s: 2 in the last hour, tripped=false
	// +1h1m0s: 3 in the last hour, tripped=true
}

// BenchmarkWindowAdd records events for 1,000 keys per goroutine, each
// goroutine with its own keys and clock, as sites' submissions come in
// time order; TestWindowMatchesBruteForce covers the out-of-order path.
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
			w.Add(keys[i%len(keys)], now, 10, time.Hour)
			i++
		}
	})
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
				w.Add(k, t0.Add(time.Duration(i+j)*time.Second), 10, time.Hour)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/keys, "bytes/key")
		runtime.KeepAlive(w)
	}
}
