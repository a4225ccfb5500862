package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamruntest"
)

var t0 = spamruntest.T0

func TestConformance(t *testing.T) {
	srv := spamruntest.StartRedis(t)
	spamruntest.TestStore(t, func(t *testing.T) spamrun.Store { return open(t, srv, nil) })
}

// TestExtremeTimes drives the store with random events against a model of
// the bounded log, and, where its int64 arithmetic does not overflow, against
// a MemoryStore. The times and windows have random nanoseconds, so that the
// script's subtraction borrows between its 32-bit halves; some lie before
// 1970, and some windows reach back past the first representable time, where
// the time keys' sign handling shows.
func TestExtremeTimes(t *testing.T) {
	srv := spamruntest.StartRedis(t)
	s := open(t, srv, nil)
	m := spamrun.NewMemoryStore()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 6))
	centers := []time.Time{t0, time.Unix(0, 0), time.Unix(0, math.MinInt64/2)}
	for round := range 36 {
		site := fmt.Sprint("site", round)
		center := centers[round%len(centers)]
		// MemoryStore computes newest−window in int64, which wraps for
		// these times before 1970.
		compareMemory := center.Equal(t0)
		maxSpam := rng.IntN(5)
		var window time.Duration
		switch round / len(centers) % 3 {
		case 0:
			window = time.Duration(1 + rng.Int64N(1<<40))
		case 1:
			window = time.Duration(1 + rng.Int64N(1<<34))
		case 2:
			window = math.MaxInt64
		}
		var model logModel
		now := center.Add(-time.Duration(rng.Int64N(1 << 40)))
		for i := range 25 {
			now = now.Add(time.Duration(rng.Int64N(1 << 33)))
			at := now.Add(-time.Duration(rng.Int64N(1 << 34)))
			ev := spamrun.SpamEvent{Time: at, MessageID: fmt.Sprint(round, ".", i)}
			got, err := s.RecordSpam(ctx, site, ev, maxSpam, window)
			if err != nil {
				t.Fatal(err)
			}
			if want := model.add(at.UnixNano(), ev.MessageID, maxSpam, window); got != want {
				t.Fatalf("round %d event %d (max %d window %d): count %d, model %d", round, i, maxSpam, window, got, want)
			}
			if compareMemory {
				if want, _ := m.RecordSpam(ctx, site, ev, maxSpam, window); got != want {
					t.Fatalf("round %d event %d (max %d window %d): count %d, MemoryStore %d", round, i, maxSpam, window, got, want)
				}
			}
			logNow := now.Add(-time.Duration(rng.Int64N(1 << 33)))
			logWindow := time.Duration(1 + rng.Int64N(1<<35))
			if i%7 == 6 {
				logWindow = math.MaxInt64
			}
			got2 := ids(t, s, site, logNow, logWindow)
			if want := model.log(logNow.UnixNano(), logWindow); !slices.Equal(got2, want) {
				t.Fatalf("round %d event %d: SpamLog(window %d) = %q, model %q", round, i, logWindow, got2, want)
			}
			if compareMemory {
				if want := ids(t, m, site, logNow, logWindow); !slices.Equal(got2, want) {
					t.Fatalf("round %d event %d: SpamLog(window %d) = %q, MemoryStore %q", round, i, logWindow, got2, want)
				}
			}
		}
	}
}

// logModel is the bounded log with the window arithmetic done so that it
// cannot overflow: entries sorted by time, ties in the order recorded.
type logModel []modelEntry

type modelEntry struct {
	t  int64
	id string
}

// within reports whether t lies in (end−w, end], for any int64 times.
func within(t, end int64, w time.Duration) bool {
	return t <= end && uint64(end)-uint64(t) < uint64(w)
}

func (l *logModel) add(t int64, id string, maxSpam int, w time.Duration) int {
	size := maxSpam + 1
	if len(*l) > size {
		*l = (*l)[len(*l)-size:]
	}
	if len(*l) < size || t > (*l)[0].t {
		i := len(*l)
		for i > 0 && (*l)[i-1].t > t {
			i--
		}
		*l = slices.Insert(*l, i, modelEntry{t, id})
		if len(*l) > size {
			*l = slices.Clone((*l)[1:])
		}
	}
	newest := (*l)[len(*l)-1].t
	n := 0
	for _, e := range *l {
		if within(e.t, newest, w) {
			n++
		}
	}
	return n
}

func (l logModel) log(end int64, w time.Duration) []string {
	ids := []string{}
	for _, e := range l {
		if within(e.t, end, w) {
			ids = append(ids, e.id)
		}
	}
	return ids
}

func ids(t *testing.T, s spamrun.Store, site string, now time.Time, window time.Duration) []string {
	t.Helper()
	evs, err := s.SpamLog(context.Background(), site, now, window)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, ev := range evs {
		ids = append(ids, ev.MessageID)
	}
	return ids
}

// TestTimeKeyOrder checks what the whole store rests on: the byte order of
// time keys is the order of the times.
func TestTimeKeyOrder(t *testing.T) {
	ns := []int64{math.MinInt64, math.MinInt64 + 1, -1 << 32, -1<<32 + 1, -2, -1, 0, 1, 1<<32 - 1, 1 << 32,
		t0.UnixNano() - 1, t0.UnixNano(), t0.UnixNano() + 1, math.MaxInt64 - 1, math.MaxInt64}
	for i := 1; i < len(ns); i++ {
		a, b := timeKey(time.Unix(0, ns[i-1])), timeKey(time.Unix(0, ns[i]))
		if len(a) != timeKeyLen || len(b) != timeKeyLen {
			t.Fatalf("time keys %q, %q are not %d bytes", a, b, timeKeyLen)
		}
		if a >= b {
			t.Errorf("timeKey(%d) = %q is not before timeKey(%d) = %q", ns[i-1], a, ns[i], b)
		}
	}
}

// TestTwoNodes has two Stores on one Redis, as two web nodes have: each
// counts what the other recorded, a trip on one refuses the site on the
// other, and of trips racing on both exactly one enforces.
func TestTwoNodes(t *testing.T) {
	srv := spamruntest.StartRedis(t)
	a := open(t, srv, nil)
	b, err := Open(srv.URL(), &Options{Prefix: a.prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	nodes := []*Store{a, b}

	for i := range 6 {
		n, err := nodes[i%2].RecordSpam(ctx, "shop1", spamrun.SpamEvent{Time: t0.Add(time.Duration(i) * time.Second)}, 10, time.Hour)
		if err != nil || n != i+1 {
			t.Fatalf("spam %d on node %d: count %d, %v; want %d", i, i%2, n, err, i+1)
		}
	}
	inc := &spamrun.Incident{ID: "trip", Site: "shop1", Time: t0}
	if _, changed, err := a.SetDisabled(ctx, "shop1", inc); err != nil || !changed {
		t.Fatalf("SetDisabled on node a: changed %v, %v", changed, err)
	}
	if got, err := b.Disabled(ctx, "shop1"); err != nil || got == nil || got.ID != "trip" {
		t.Fatalf("node b: Disabled = %v, %v; want incident trip", got, err)
	}
	if err := b.Enable(ctx, "shop1"); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Disabled(ctx, "shop1"); err != nil || got != nil {
		t.Fatalf("node a after enabling on b: Disabled = %v, %v; want nil", got, err)
	}
	if n, err := a.RecordSpam(ctx, "shop1", spamrun.SpamEvent{Time: t0.Add(time.Minute)}, 10, time.Hour); err != nil || n != 1 {
		t.Fatalf("node a after enabling on b: count %d, %v; want 1", n, err)
	}

	// Goroutines on both nodes record at once: every place in line is
	// seen exactly once.
	const writers, each = 8, 40
	var mu sync.Mutex
	var counts []int
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				ev := spamrun.SpamEvent{Time: t0.Add(time.Duration(g*each+i) * time.Millisecond)}
				n, err := nodes[g%2].RecordSpam(ctx, "busy", ev, 1000, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				counts = append(counts, n)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(counts)
	for i, n := range counts {
		if n != i+1 {
			t.Fatalf("counts from both nodes, sorted: position %d holds %d; want 1…%d once each", i, n, writers*each)
		}
	}
	if len(counts) != writers*each {
		t.Fatalf("%d counts, want %d", len(counts), writers*each)
	}

	// And trips racing on both nodes: one enforces.
	const racers = 40
	start := make(chan struct{})
	var winners []string
	seen := map[string]bool{}
	for i := range racers {
		wg.Go(func() {
			<-start
			inc := &spamrun.Incident{ID: fmt.Sprint("race", i), Site: "busy", Time: t0.Add(time.Duration(i))}
			cur, changed, err := nodes[i%2].SetDisabled(ctx, "busy", inc)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			seen[cur.ID] = true
			if changed {
				winners = append(winners, inc.ID)
			}
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if len(winners) != 1 || len(seen) != 1 || !seen[winners[0]] {
		t.Fatalf("racing trips: winners %q, incidents seen %v; want one winner, seen by all", winners, seen)
	}
	for _, s := range nodes {
		if got, err := s.Disabled(ctx, "busy"); err != nil || got == nil || got.ID != winners[0] {
			t.Errorf("Disabled = %v, %v; want the winner %s", got, err, winners[0])
		}
		if incs, err := s.Incidents(ctx, "busy"); err != nil || len(incs) != 1 || incs[0].ID != winners[0] {
			t.Errorf("Incidents = %v, %v; want only the winner %s", incs, err, winners[0])
		}
	}
}

// TestRedisDown checks that a dead or hung Redis costs a caller at most a
// moment, never a hang or a panic, and that the store works again once
// Redis is back on the same address.
func TestRedisDown(t *testing.T) {
	srv := spamruntest.StartRedis(t)
	s := open(t, srv, nil)
	ctx := context.Background()
	ev := spamrun.SpamEvent{Time: t0}
	if _, err := s.RecordSpam(ctx, "shop1", ev, 10, time.Hour); err != nil {
		t.Fatal(err)
	}
	inc := &spamrun.Incident{ID: "x", Site: "shop2", Time: t0}
	calls := map[string]func() error{
		"RecordSpam": func() error { _, err := s.RecordSpam(ctx, "shop1", ev, 10, time.Hour); return err },
		"SpamLog":    func() error { _, err := s.SpamLog(ctx, "shop1", t0, time.Hour); return err },
		"SetDisabled": func() error {
			_, _, err := s.SetDisabled(ctx, "shop2", inc)
			return err
		},
		"Disabled":  func() error { _, err := s.Disabled(ctx, "shop1"); return err },
		"Enable":    func() error { return s.Enable(ctx, "shop1") },
		"Incidents": func() error { _, err := s.Incidents(ctx, ""); return err },
		"Ping":      func() error { return s.Ping(ctx) },
	}
	const limit = 2 * time.Second
	mustFailFast := func(state string) {
		t.Helper()
		for name, call := range calls {
			start := time.Now()
			err := call()
			took := time.Since(start)
			if err == nil {
				t.Errorf("Redis %s: %s succeeded", state, name)
			} else if !strings.HasPrefix(err.Error(), "redisstore: ") {
				t.Errorf("Redis %s: %s: error %q lacks the package prefix", state, name, err)
			}
			if took > limit {
				t.Errorf("Redis %s: %s took %v, want at most %v", state, name, took, limit)
			}
		}
	}
	// eventually waits for the store to work again. go-redis stops dialing
	// after as many failed dials as its pool has connections, and probes
	// once a second from then on.
	eventually := func(state string) {
		t.Helper()
		start := time.Now()
		for {
			err := s.Ping(ctx)
			if err == nil {
				t.Logf("working again %v after Redis %s", time.Since(start).Round(time.Millisecond), state)
				return
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("still failing 5s after Redis %s: %v", state, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	srv.Kill()
	mustFailFast("down")
	// Enough failures to exhaust the pool's dials.
	for range 50 {
		s.Disabled(ctx, "shop1")
	}
	srv.Start()
	eventually("restarted")
	// A restart without persistence forgets everything: a fresh count.
	if n, err := s.RecordSpam(ctx, "shop1", ev, 10, time.Hour); err != nil || n != 1 {
		t.Errorf("after the restart: count %d, %v; want 1", n, err)
	}

	srv.Pause()
	mustFailFast("hung")
	srv.Resume()
	eventually("resumed")
	if got, err := s.Disabled(ctx, "shop1"); err != nil || got != nil {
		t.Errorf("after resuming: Disabled = %v, %v; want nil, nil", got, err)
	}
}

// TestTTL checks what each key keeps: a log expires once its window and
// IdleTTL have passed, a disabled flag and the incidents never do.
func TestTTL(t *testing.T) {
	srv := spamruntest.StartRedis(t)
	const idle = 300 * time.Millisecond
	s := open(t, srv, &Options{IdleTTL: idle})
	ctx := context.Background()
	ttl := func(key string) time.Duration {
		t.Helper()
		d, err := s.rdb.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	if _, err := s.RecordSpam(ctx, "hourly", spamrun.SpamEvent{Time: t0}, 10, time.Hour); err != nil {
		t.Fatal(err)
	}
	if d := ttl(s.logKey("hourly")); d < time.Hour-10*time.Second || d > time.Hour+idle {
		t.Errorf("TTL of a log with a window of 1h = %v, want just under 1h%v", d, idle)
	}

	const window = time.Second
	if _, err := s.RecordSpam(ctx, "shop1", spamrun.SpamEvent{Time: t0}, 10, window); err != nil {
		t.Fatal(err)
	}
	recorded := time.Now()
	inc := &spamrun.Incident{ID: "one", Site: "shop1", Time: t0}
	if _, _, err := s.SetDisabled(ctx, "shop1", inc); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{s.disabledKey("shop1"), s.incidentKey("shop1"), s.incidentAtKey("shop1"), s.incidentsKey("shop1"),
		s.incidentSitesKey(bucket("shop1")), s.incidentSiteKey("one")} {
		if d := ttl(key); d != -1 {
			t.Errorf("TTL of %s = %v, want none", key, d)
		}
	}
	if d := ttl(s.logKey("shop1")); d <= 0 || d > window+idle {
		t.Errorf("TTL of the log = %v, want up to %v", d, window+idle)
	}
	if d := ttl(s.logWeightKey("shop1")); d <= 0 || d > window+idle {
		t.Errorf("TTL of the log's weight = %v, want up to %v", d, window+idle)
	}

	for {
		n, err := s.rdb.Exists(ctx, s.logKey("shop1")).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Since(recorded) > window+idle+2*time.Second {
			t.Fatalf("the log still exists %v after the last spam", time.Since(recorded))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if took := time.Since(recorded); took < window {
		t.Errorf("the log expired after %v, within its window %v", took, window)
	}
	if got, err := s.Disabled(ctx, "shop1"); err != nil || got == nil || got.ID != "one" {
		t.Errorf("Disabled after the log expired = %v, %v; want incident one", got, err)
	}
	if incs, err := s.Incidents(ctx, "shop1"); err != nil || len(incs) != 1 {
		t.Errorf("Incidents after the log expired = %v, %v; want one", incs, err)
	}
}

// TestLogBeforeWeights reads a log written before weights, whose entries
// have no weight digits and no log-weight key beside them: each weighs 1,
// SpamLog reads them, and the next decision counts them with its own.
func TestLogBeforeWeights(t *testing.T) {
	srv := spamruntest.StartRedis(t)
	s := open(t, srv, nil)
	ctx := context.Background()
	for i, id := range []string{"old0", "old1"} {
		ev, err := json.Marshal(spamrun.SpamEvent{Time: t0.Add(time.Duration(i) * time.Minute), MessageID: id, Recipients: 40})
		if err != nil {
			t.Fatal(err)
		}
		entry := timeKey(t0.Add(time.Duration(i)*time.Minute)) + "0000000000" + string(ev)
		if err := s.rdb.ZAdd(ctx, s.logKey("shop1"), redis.Z{Member: entry}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.RecordSpam(ctx, "shop1", spamrun.SpamEvent{Time: t0.Add(2 * time.Minute), MessageID: "new", Recipients: 3, Weight: 3}, 10, time.Hour)
	if err != nil || n != 5 {
		t.Errorf("count after two entries from before weights and one of weight 3 = %d, %v; want 5", n, err)
	}
	evs, err := s.SpamLog(ctx, "shop1", t0.Add(2*time.Minute), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ev := range evs {
		ids = append(ids, ev.MessageID)
	}
	if !slices.Equal(ids, []string{"old0", "old1", "new"}) || spamrun.SpamWeight(evs) != 5 {
		t.Errorf("SpamLog = %q weighing %d, want old0, old1, new weighing 5", ids, spamrun.SpamWeight(evs))
	}
	// With the weight key gone, as when it expires a moment before the
	// log, the next decision sums the log afresh.
	if err := s.rdb.Del(ctx, s.logWeightKey("shop1")).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RecordSpam(ctx, "shop1", spamrun.SpamEvent{Time: t0.Add(3 * time.Minute), Weight: 2}, 10, time.Hour); err != nil || n != 7 {
		t.Errorf("count with the weight key gone = %d, %v; want 7", n, err)
	}
}

// TestIdleSiteMemory reports what a site that sent one spam-marked message
// costs until its log expires: three keys, the log, its weight and its
// submissions.
func TestIdleSiteMemory(t *testing.T) {
	srv := spamruntest.StartRedis(t)
	s := open(t, srv, nil)
	ctx := context.Background()
	if _, err := s.RecordSpam(ctx, "shop1", realisticEvent(0), 10, time.Hour); err != nil {
		t.Fatal(err)
	}
	keys, err := s.rdb.Keys(ctx, s.prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{s.logKey("shop1"), s.logSubsKey("shop1"), s.logWeightKey("shop1")}) {
		t.Errorf("keys of a site after one spam: %q, want its log, its weight and its submissions", keys)
	}
	bytes, err := s.rdb.MemoryUsage(ctx, s.logKey("shop1")).Result()
	if err != nil {
		t.Fatal(err)
	}
	subs, err := s.rdb.MemoryUsage(ctx, s.logSubsKey("shop1")).Result()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("MEMORY USAGE of an idle site's log after one spam-marked message: %d bytes, and of its submissions %d", bytes, subs)
	// A listpack of two short fields.
	if subs > 512 {
		t.Errorf("an idle site's submissions cost %d bytes, want at most 512", subs)
	}
	// Most of it is the sorted set's skiplist, which Redis uses as soon as
	// an entry is longer than zset-max-listpack-value (64 bytes), and
	// whose header alone is some 500 bytes; the event is about 300.
	if bytes > 2048 {
		t.Errorf("an idle site costs %d bytes, want at most 2048", bytes)
	}
}

// realisticEvent is what the detector records of a typical form-abuse
// message.
func realisticEvent(i int) spamrun.SpamEvent {
	return spamrun.SpamEvent{
		Time:       t0.Add(time.Duration(i) * time.Millisecond),
		MessageID:  fmt.Sprintf("<%d.contact@shop1.example>", i),
		Score:      9.5,
		Rules:      []string{"PHARMA_WORDS", "URL_SHORTENER", "FRESH_TLD"},
		Sender:     "www-data@shop1.example",
		Recipients: 1,
		Subject:    "Cheap meds without prescription",
		Evidence: spamrun.Evidence{
			Script: "1001:/var/www/shop1/contact.php",
			Cwd:    "/var/www/shop1",
			UID:    1001,
		},
		Submission: fmt.Sprintf("20261102T090000.%06d-5A17E0C3D9", i%1_000_000),
	}
}

// TestDetector runs a spam run through the detector on this store, each
// submission from a new Store as each sendmail run opens its own.
func TestDetector(t *testing.T) {
	srv := spamruntest.StartRedis(t)
	prefix := open(t, srv, nil).prefix
	spamruntest.TestStoreAcrossOpens(t, func(t *testing.T) spamrun.Store {
		s, err := Open(srv.URL(), &Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestPrefixesAreSeparate(t *testing.T) {
	srv := spamruntest.StartRedis(t)
	a, b := open(t, srv, nil), open(t, srv, nil)
	ctx := context.Background()
	if _, err := a.RecordSpam(ctx, "shop1", spamrun.SpamEvent{Time: t0}, 10, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.SetDisabled(ctx, "shop1", &spamrun.Incident{ID: "x", Site: "shop1", Time: t0}); err != nil {
		t.Fatal(err)
	}
	if n, err := b.RecordSpam(ctx, "shop1", spamrun.SpamEvent{Time: t0}, 10, time.Hour); err != nil || n != 1 {
		t.Errorf("other prefix: count %d, %v; want 1", n, err)
	}
	if got, err := b.Disabled(ctx, "shop1"); err != nil || got != nil {
		t.Errorf("other prefix: Disabled = %v, %v; want nil", got, err)
	}
	if incs, err := b.Incidents(ctx, ""); err != nil || len(incs) != 0 {
		t.Errorf("other prefix: Incidents = %v, %v; want none", incs, err)
	}
}

// TestIncidentReplaced records an incident ID twice, for different sites:
// the history holds it once, under the later site.
func TestIncidentReplaced(t *testing.T) {
	srv := spamruntest.StartRedis(t)
	s := open(t, srv, nil)
	ctx := context.Background()
	if _, _, err := s.SetDisabled(ctx, "a", &spamrun.Incident{ID: "same", Site: "a", Time: t0}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SetDisabled(ctx, "b", &spamrun.Incident{ID: "same", Site: "b", Time: t0.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	for site, want := range map[string]int{"": 1, "a": 0, "b": 1} {
		incs, err := s.Incidents(ctx, site)
		if err != nil {
			t.Fatal(err)
		}
		if len(incs) != want || want == 1 && incs[0].Site != "b" {
			t.Errorf("Incidents(%q) = %v, want %d of site b", site, incs, want)
		}
	}
}

func TestOpenBadURL(t *testing.T) {
	for _, url := range []string{"http://127.0.0.1:6379", "redis://127.0.0.1:6379/notadb", "://"} {
		if _, err := Open(url, nil); err == nil || !strings.HasPrefix(err.Error(), "redisstore: ") {
			t.Errorf("Open(%q) = %v, want a redisstore error", url, err)
		}
	}
}

func TestOpenOptions(t *testing.T) {
	s, err := Open("redis://127.0.0.1:1/0?dial_timeout=3s", &Options{ReadTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	o := s.rdb.(*redis.Client).Options()
	if o.DialTimeout != 3*time.Second || o.ReadTimeout != 2*time.Second || o.WriteTimeout != 2*time.Second {
		t.Errorf("timeouts: dial %v, read %v, write %v; want 3s from the URL, 2s, 2s", o.DialTimeout, o.ReadTimeout, o.WriteTimeout)
	}
	if o.MaxRetries != 0 {
		t.Errorf("MaxRetries = %d, want none", o.MaxRetries)
	}
	if s.prefix != DefaultPrefix || s.idleTTL != DefaultIdleTTL {
		t.Errorf("prefix %q, idle TTL %v; want the defaults", s.prefix, s.idleTTL)
	}
	s, err = Open("unix:///run/redis/redis.sock?db=2", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if o := s.rdb.(*redis.Client).Options(); o.Network != "unix" || o.DB != 2 || o.DialTimeout != DefaultDialTimeout {
		t.Errorf("unix URL: network %q, db %d, dial timeout %v", o.Network, o.DB, o.DialTimeout)
	}
}

// BenchmarkRedisRecordSpam is many sites spamming at once from many
// sendmail processes, on one node.
func BenchmarkRedisRecordSpam(b *testing.B) {
	srv := spamruntest.StartRedis(b)
	s := open(b, srv, nil)
	ctx := context.Background()
	const sites = 10_000
	names := make([]string, sites)
	for i := range names {
		names[i] = fmt.Sprint("site", i)
	}
	var seed atomic.Uint64
	// Sixteen callers per CPU stand for the many sendmail processes of a
	// busy node, each waiting on its own round trip.
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(seed.Add(1), 7))
		i := 0
		for pb.Next() {
			ev := realisticEvent(i)
			if _, err := s.RecordSpam(ctx, names[rng.IntN(sites)], ev, 10, time.Hour); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

// BenchmarkRedisSendmailRun is what one sendmail run asks of Redis: a new
// connection, whether the site is disabled, and the decision.
func BenchmarkRedisSendmailRun(b *testing.B) {
	srv := spamruntest.StartRedis(b)
	prefix := open(b, srv, nil).prefix
	ctx := context.Background()
	i := 0
	for b.Loop() {
		s, err := Open(srv.URL(), &Options{Prefix: prefix})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Disabled(ctx, "shop1"); err != nil {
			b.Fatal(err)
		}
		if _, err := s.RecordSpam(ctx, "shop1", realisticEvent(i), 10, time.Hour); err != nil {
			b.Fatal(err)
		}
		s.Close()
		i++
	}
}

// BenchmarkRedisIdleSites reports what idle sites cost the server, keys and
// expiry included: the growth of used_memory over many sites with one spam
// each, per site.
func BenchmarkRedisIdleSites(b *testing.B) {
	srv := spamruntest.StartRedis(b)
	s := open(b, srv, nil)
	ctx := context.Background()
	usedMemory := func() int64 {
		info, err := s.rdb.Info(ctx, "memory").Result()
		if err != nil {
			b.Fatal(err)
		}
		for line := range strings.Lines(info) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
				var n int64
				fmt.Sscan(v, &n)
				return n
			}
		}
		b.Fatal("INFO memory has no used_memory")
		return 0
	}
	const sites = 10_000
	before := usedMemory()
	for i := range sites {
		if _, err := s.RecordSpam(ctx, fmt.Sprint("site", i), realisticEvent(i), 10, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	perSite := float64(usedMemory()-before) / sites
	usage, err := s.rdb.MemoryUsage(ctx, s.logKey("site0")).Result()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.rdb.MemoryUsage(ctx, s.logKey("site0")).Result(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(perSite, "used_memory-bytes/site")
	b.ReportMetric(float64(usage), "MEMORY-USAGE-bytes/site")
}
