package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamruntest"
)

// TestClusterFailover is a spam run of one site from 20 callers, each
// opening a new Store for every message as a sendmail process does, on a
// cluster whose masters have replicas. When a third of the messages are
// decided, the master of the site's slot is killed (SIGKILL). A message
// whose decision fails is kept undecided, as sendmail spools it, and is
// decided again once the replica has taken over, as the queue does. Then
// the site has tripped exactly once, its log holds max_spam+1 distinct
// submissions (no decision counted twice), and every message has exactly
// one outcome: counted, refused because the site was disabled, or let go
// as a decision the log had already dropped.
func TestClusterFailover(t *testing.T) {
	const callers, perCaller, maxSpam, site = 20, 5, 60, "shop1"
	c := spamruntest.StartRedisCluster(t, spamruntest.RedisClusterReplicas())
	url := c.URL()
	prefix := openURL(t, url, nil).prefix
	master := c.MasterOf(prefix + "{" + site + "}:log")

	var decided atomic.Int32
	killed := make(chan struct{})
	var killOnce sync.Once
	var (
		mu        sync.Mutex
		undecided []spamrun.SpamEvent
		outcomes  = map[string]string{} // submission → outcome
	)
	record := func(sub, outcome string) {
		mu.Lock()
		defer mu.Unlock()
		if prev, ok := outcomes[sub]; ok {
			t.Errorf("submission %s decided twice: %s, then %s", sub, prev, outcome)
		}
		outcomes[sub] = outcome
	}
	var wg sync.WaitGroup
	for w := range callers {
		wg.Go(func() {
			for i := range perCaller {
				n := w*perCaller + i
				ev := spamrun.SpamEvent{Time: t0.Add(time.Duration(n) * time.Millisecond), MessageID: fmt.Sprint(n),
					Submission: fmt.Sprintf("sub-%03d", n), Recipients: 1}
				if decided.Load() >= callers*perCaller/3 {
					killOnce.Do(func() { master.Kill(); close(killed) })
				}
				outcome, err := decide(t, url, prefix, site, ev, maxSpam)
				if err != nil {
					mu.Lock()
					undecided = append(undecided, ev)
					mu.Unlock()
					continue
				}
				decided.Add(1)
				record(ev.Submission, outcome)
			}
		})
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatal("the run ended before the master was killed")
	}
	c.WaitFailover(master)
	t.Logf("decided during the run: %d; undecided: %d", decided.Load(), len(undecided))

	// The queue: each undecided message decided again until it is.
	deadline := time.Now().Add(20 * time.Second)
	for _, ev := range undecided {
		for {
			outcome, err := decide(t, url, prefix, site, ev, maxSpam)
			if err == nil {
				record(ev.Submission, outcome)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("submission %s still undecided: %v", ev.Submission, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	s := openURL(t, url, &Options{Prefix: prefix})
	ctx := context.Background()
	incs, err := s.Incidents(ctx, site)
	if err != nil {
		t.Fatal(err)
	}
	if len(incs) != 1 {
		t.Errorf("%d incidents, want exactly 1", len(incs))
	}
	log, err := s.SpamLog(ctx, site, t0.Add(time.Hour), 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	subs := map[string]bool{}
	for _, ev := range log {
		if subs[ev.Submission] {
			t.Errorf("submission %s is in the log twice", ev.Submission)
		}
		subs[ev.Submission] = true
	}
	if len(subs) != maxSpam+1 {
		t.Errorf("the log holds %d submissions, want the %d that tripped the site", len(subs), maxSpam+1)
	}
	if len(outcomes) != callers*perCaller {
		t.Errorf("%d of %d messages have an outcome", len(outcomes), callers*perCaller)
	}
	counts := map[string]int{}
	for _, o := range outcomes {
		counts[o]++
	}
	t.Logf("outcomes: %v", counts)
}

// decide is what sendmail asks of the store for one spam-marked message,
// through a Store of its own: refused when the site is disabled, else
// recorded, and the site disabled when the count passes maxSpam.
func decide(t *testing.T, url, prefix, site string, ev spamrun.SpamEvent, maxSpam int) (string, error) {
	s, err := Open(url, &Options{Prefix: prefix})
	if err != nil {
		t.Error(err)
		return "", err
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	inc, err := s.Disabled(ctx, site)
	if err != nil {
		return "", err
	}
	if inc != nil {
		return "refused", nil
	}
	count, err := s.RecordSpam(ctx, site, ev, maxSpam, 2*time.Hour)
	if err != nil {
		return "", err
	}
	if count <= maxSpam {
		return "counted", nil
	}
	_, _, err = s.SetDisabled(ctx, site, &spamrun.Incident{ID: "trip-" + ev.Submission, Site: site, Time: ev.Time, Count: count})
	if err != nil {
		return "", errors.Join(errors.New("tripping"), err)
	}
	return "tripped", nil
}
