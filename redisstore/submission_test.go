package redisstore

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamruntest"
)

// submission is an event of the submission sub, named id.
func submission(id, sub string, at time.Time, weight int) spamrun.SpamEvent {
	return spamrun.SpamEvent{Time: at, MessageID: id, Submission: sub, Recipients: weight, Weight: weight}
}

// TestLostReplyCountsOnce: Redis stalls past the read timeout while a
// decision is on its way, so sendmail gives up and accepts the message
// undecided; Redis runs the script when it recovers, answering no one.
// When the queue runner decides the message again, the store recognises
// it: it counts once.
func TestLostReplyCountsOnce(t *testing.T) {
	srv := spamruntest.StartRedis(t)
	s := open(t, srv, &Options{ReadTimeout: 200 * time.Millisecond})
	ctx := context.Background()
	// Another site's decision loads the script, as the host's earlier
	// decisions have: the stalled EVALSHA then finds it.
	if _, err := s.RecordSpam(ctx, "other", submission("x", "x", t0, 1), 10, time.Hour); err != nil {
		t.Fatal(err)
	}
	ev := submission("late", "20261102T090000.000000-5A17E0C3D9", t0, 4)
	srv.Pause()
	_, err := s.RecordSpam(ctx, "shop1", ev, 10, time.Hour)
	srv.Resume()
	if err == nil {
		t.Fatal("RecordSpam succeeded while Redis was stopped")
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(ids(t, s, "shop1", t0, time.Hour)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Redis has not run the stalled script 10s after it resumed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n, err := s.RecordSpam(ctx, "shop1", ev, 10, time.Hour); err != nil || n != 4 {
		t.Errorf("the decision made again: count %d, %v; want 4, the submission's weight once", n, err)
	}
	if got := ids(t, s, "shop1", t0, time.Hour); !slices.Equal(got, []string{"late"}) {
		t.Errorf("SpamLog = %q, want the submission once", got)
	}
}

// TestSubmissionsBounded: the submissions of a log are kept as the log is,
// two fields per entry, and expire with it.
func TestSubmissionsBounded(t *testing.T) {
	srv := spamruntest.StartRedis(t)
	s := open(t, srv, nil)
	ctx := context.Background()
	const maxSpam = 10
	for i := range 100 {
		sub := ""
		if i%10 != 9 {
			sub = "sub" + string(rune('a'+i/26)) + string(rune('a'+i%26))
		}
		if _, err := s.RecordSpam(ctx, "shop1", submission("m", sub, t0.Add(time.Duration(i)*time.Second), 1), maxSpam, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	// The log keeps the newest 11, events 89 to 99, of which 90 and 99
	// have no submission.
	n, err := s.rdb.HLen(ctx, s.logSubsKey("shop1")).Result()
	if err != nil {
		t.Fatal(err)
	}
	if n != 2*(maxSpam+1-2) {
		t.Errorf("log-subs holds %d fields for a log of %d entries with submissions, want two each", n, maxSpam+1-2)
	}
	logTTL, err := s.rdb.PTTL(ctx, s.logKey("shop1")).Result()
	if err != nil {
		t.Fatal(err)
	}
	subsTTL, err := s.rdb.PTTL(ctx, s.logSubsKey("shop1")).Result()
	if err != nil {
		t.Fatal(err)
	}
	if subsTTL <= 0 || logTTL-subsTTL > time.Second || subsTTL-logTTL > time.Second {
		t.Errorf("log-subs expires in %v, the log in %v; want them together", subsTTL, logTTL)
	}
	if err := s.Enable(ctx, "shop1"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.rdb.Exists(ctx, s.logSubsKey("shop1")).Result(); err != nil || n != 0 {
		t.Errorf("log-subs after Enable: %d keys, %v; want none", n, err)
	}
}

// TestSubmissionsBesideEarlierNodes runs a node of the release before
// submissions beside this one: what it records counts every time, the
// entries it drops and the log it clears leave fields behind, and a field
// left behind hides nothing.
func TestSubmissionsBesideEarlierNodes(t *testing.T) {
	srv := spamruntest.StartRedis(t)
	s := open(t, srv, nil)
	ctx := context.Background()
	record := func(script *redis.Script, ev spamrun.SpamEvent, maxSpam, want int) {
		t.Helper()
		if n, err := s.recordSpam(ctx, script, "shop1", ev, maxSpam, time.Hour); err != nil || n != want {
			t.Errorf("RecordSpam(%s of submission %q, max %d) = %d, %v; want %d", ev.MessageID, ev.Submission, maxSpam, n, err, want)
		}
	}
	a, b, c := submission("a", "sub-a", t0, 1), submission("b", "sub-b", t0.Add(time.Minute), 1), submission("c", "sub-c", t0.Add(2*time.Minute), 1)
	record(recordScript, a, 1, 1)
	record(recordScript, b, 1, 2)
	// The earlier node counts c twice, and drops a with its fields left.
	record(recordBeforeSubmissions, c, 1, 2)
	record(recordBeforeSubmissions, c, 1, 2)
	if got := ids(t, s, "shop1", t0.Add(2*time.Minute), time.Hour); !slices.Equal(got, []string{"c", "c"}) {
		t.Fatalf("SpamLog after the earlier node = %q, want c twice", got)
	}
	if n, err := s.rdb.HExists(ctx, s.logSubsKey("shop1"), "ssub-a").Result(); err != nil || !n {
		t.Fatalf("the field of a dropped by the earlier node: %v, %v; want it left behind", n, err)
	}
	// With max raised, a is not in the log and goes back in: its field
	// does not hide it.
	record(recordScript, a, 10, 3)
	record(recordScript, a, 10, 3)
	if got := ids(t, s, "shop1", t0.Add(2*time.Minute), time.Hour); !slices.Equal(got, []string{"a", "c", "c"}) {
		t.Errorf("SpamLog = %q, want a, c, c", got)
	}
	// The earlier node's Enable clears the log and leaves log-subs.
	if err := s.rdb.Del(ctx, s.disabledKey("shop1"), s.logKey("shop1"), s.logWeightKey("shop1")).Err(); err != nil {
		t.Fatal(err)
	}
	record(recordScript, a, 10, 1)
	record(recordScript, a, 10, 1)
	if got := ids(t, s, "shop1", t0.Add(2*time.Minute), time.Hour); !slices.Equal(got, []string{"a"}) {
		t.Errorf("SpamLog after the earlier node's Enable = %q, want a once", got)
	}
}

// recordBeforeSubmissions is recordScript as the release before
// submissions had it, for the node of that release in the tests.
var recordBeforeSubmissions = redis.NewScript(`
local log, wkey, t, event = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local size, weight = tonumber(ARGV[3]), tonumber(ARGV[7])
local function weighs(e)
	if string.sub(e, 27, 27) == '{' then
		return 1
	end
	return tonumber(string.sub(e, 27, 36))
end
local function sum(entries)
	local w = 0
	for _, e in ipairs(entries) do
		w = w + weighs(e)
	end
	return w
end
local total = 0
if redis.call('ZCARD', log) > 0 then
	total = tonumber(redis.call('GET', wkey) or '') or sum(redis.call('ZRANGE', log, 0, -1))
end
local function trim()
	while total > size do
		local w = weighs(redis.call('ZRANGE', log, 0, 0)[1])
		if total - w < size then
			return
		end
		redis.call('ZREMRANGEBYRANK', log, 0, 0)
		total = total - w
	end
end
trim()
if total < size or redis.call('ZLEXCOUNT', log, '-', '(' .. t) > 0 then
	local seq = 0
	local last = redis.call('ZREVRANGEBYLEX', log, '[' .. t .. '\255', '[' .. t, 'LIMIT', 0, 1)[1]
	if last then
		seq = tonumber(string.sub(last, 17, 26)) + 1
	end
	redis.call('ZADD', log, 0, t .. string.format('%010d%010d', seq, weight) .. event)
	total = total + weight
	trim()
end
redis.call('PEXPIRE', log, ARGV[6])
redis.call('SET', wkey, total, 'PX', ARGV[6])
local newest = redis.call('ZRANGE', log, -1, -1)[1]
local hi = tonumber(string.sub(newest, 1, 8), 16) - tonumber(ARGV[4])
local lo = tonumber(string.sub(newest, 9, 16), 16) - tonumber(ARGV[5])
if lo < 0 then
	lo = lo + 4294967296
	hi = hi - 1
end
if hi < 0 then
	return total
end
local bound = string.format('%08x%08x\255', hi, lo)
local inside = redis.call('ZLEXCOUNT', log, '[' .. bound, '+')
if 2 * inside <= redis.call('ZCARD', log) then
	return sum(redis.call('ZRANGE', log, '[' .. bound, '+', 'BYLEX'))
end
return total - sum(redis.call('ZRANGE', log, '-', '(' .. bound, 'BYLEX'))
`)
