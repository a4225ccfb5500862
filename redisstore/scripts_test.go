package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamruntest"
)

// TestScriptTTL: a site's script history outlives its spam log by far, and
// is kept as long as the site keeps sending.
func TestScriptTTL(t *testing.T) {
	srv := spamruntest.StartRedis(t)
	ctx := context.Background()
	ttl := func(s *Store, key string) time.Duration {
		t.Helper()
		d, err := s.rdb.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	record := func(s *Store, at time.Time) {
		t.Helper()
		if err := s.RecordScript(ctx, "shop1", spamrun.Submission{Time: at, Script: "1001:contact.php", Cwd: "/"}); err != nil {
			t.Fatal(err)
		}
	}

	s := open(t, srv, nil)
	record(s, t0)
	for _, key := range []string{s.scriptsKey("shop1"), s.scriptsSeenKey("shop1")} {
		if d := ttl(s, key); d < DefaultScriptTTL-time.Minute || d > DefaultScriptTTL {
			t.Errorf("TTL of %s = %v, want %v", key, d, DefaultScriptTTL)
		}
	}

	const short = 400 * time.Millisecond
	s = open(t, srv, &Options{ScriptTTL: short})
	record(s, t0)
	time.Sleep(short / 2)
	record(s, t0.Add(time.Second))
	time.Sleep(short / 2)
	if got, err := s.Scripts(ctx, "shop1"); err != nil || len(got) != 1 || got[0].Count != 2 {
		t.Errorf("Scripts within ScriptTTL of the last record = %+v, %v; want contact.php twice", got, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := s.rdb.Exists(ctx, s.scriptsKey("shop1"), s.scriptsSeenKey("shop1")).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d script history keys left long after ScriptTTL", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestScriptRecordMalformed: a record that is not this package's is an
// error, not a zero ScriptSeen.
func TestScriptRecordMalformed(t *testing.T) {
	for _, r := range []string{"", "0123", "zz" + string(make([]byte, 60)), timeKey(t0) + timeKey(t0) + "00000000000000000001" + "{"} {
		if seen, err := parseScriptRecord(r); err == nil {
			t.Errorf("parseScriptRecord(%q) = %+v, want an error", r, seen)
		}
	}
	r := timeKey(t0) + timeKey(t0.Add(time.Nanosecond)) + "00000000000000000007" + `{"script":"1001:a.php","cwd":"/"}`
	seen, err := parseScriptRecord(r)
	if err != nil || seen.Script != "1001:a.php" || seen.Cwd != "/" || seen.Count != 7 || !seen.First.Equal(t0) || !seen.Last.Equal(t0.Add(time.Nanosecond)) {
		t.Errorf("parseScriptRecord(%q) = %+v, %v", r, seen, err)
	}
}

// TestActivityTTL: each minute of activity and the site's minute index
// expire spamrun.ActivityRetention after they were last written, and the
// spam counts with the script history, so that a site that falls silent
// leaves nothing behind. The conformance suite checks the retention by
// submission times, which it can move; the TTL runs on the server's clock,
// which it cannot.
func TestActivityTTL(t *testing.T) {
	srv := spamruntest.StartRedis(t)
	ctx := context.Background()
	s := open(t, srv, nil)
	if err := s.RecordScript(ctx, "shop1", spamrun.Submission{Time: t0, Script: "1001:contact.php", Spam: true}); err != nil {
		t.Fatal(err)
	}
	minute := s.minuteKeyPrefix("shop1") + timeKey(t0)
	for key, want := range map[string]time.Duration{
		minute:                    spamrun.ActivityRetention,
		s.minutesKey("shop1"):     spamrun.ActivityRetention,
		s.scriptsSpamKey("shop1"): DefaultScriptTTL,
		s.scriptsKey("shop1"):     DefaultScriptTTL,
		s.scriptsSeenKey("shop1"): DefaultScriptTTL,
	} {
		d, err := s.rdb.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if d < want-time.Minute || d > want {
			t.Errorf("TTL of %s = %v, want %v", key, d, want)
		}
	}
}

// TestScriptRecordBeforeSpam reads a record written before spam was
// counted, as hosts have them, and counts on from it.
func TestScriptRecordBeforeSpam(t *testing.T) {
	srv := spamruntest.StartRedis(t)
	ctx := context.Background()
	s := open(t, srv, nil)
	const key = "1001:contact.php"
	old := timeKey(t0) + timeKey(t0.Add(time.Hour)) + "00000000000000000041" + `{"script":"1001:contact.php","cwd":"/"}`
	if err := s.rdb.HSet(ctx, s.scriptsKey("shop1"), key, old).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.ZAdd(ctx, s.scriptsSeenKey("shop1"), redis.Z{Member: timeKey(t0.Add(time.Hour)) + key}).Err(); err != nil {
		t.Fatal(err)
	}
	check := func(count, spam int64) {
		t.Helper()
		got, err := s.Scripts(ctx, "shop1")
		if err != nil || len(got) != 1 || got[0].Count != count || got[0].Spam != spam || !got[0].First.Equal(t0) {
			t.Errorf("Scripts = %+v, %v; want count %d, spam %d", got, err, count, spam)
		}
	}
	check(41, 0)
	if err := s.RecordScript(ctx, "shop1", spamrun.Submission{Time: t0.Add(2 * time.Hour), Script: key, Cwd: "/", Spam: true}); err != nil {
		t.Fatal(err)
	}
	check(42, 1)
}
