package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spamrun/spamrun"
)

func (s *Store) scriptsKey(site string) string     { return s.siteKey(site, "scripts") }
func (s *Store) scriptsSeenKey(site string) string { return s.siteKey(site, "scripts-seen") }
func (s *Store) scriptsSpamKey(site string) string { return s.siteKey(site, "scripts-spam") }
func (s *Store) minutesKey(site string) string     { return s.siteKey(site, "activity-minutes") }

// minuteKeyPrefix starts the name of each of the site's minute hashes,
// which ends in the minute's time key; they share the site's hash tag.
func (s *Store) minuteKeyPrefix(site string) string { return s.siteKey(site, "activity:") }

// A record in scripts:SITE: first time key, last time key, count, then
// the JSON of scriptName. The record predates the spam count, which lives
// in scripts-spam:SITE instead, so that records written before it still
// read, and nodes still running the release before it can share the
// server during an upgrade.
const (
	recordFirstEnd = timeKeyLen
	recordLastEnd  = 2 * timeKeyLen
	recordCountEnd = recordLastEnd + 20
)

// scriptName is the part of a record only Go reads.
type scriptName struct {
	Script string `json:"script"`
	Cwd    string `json:"cwd"`
}

// recordScriptScript is RecordScript. First the activity: count the
// submission in its minute's hash, index the minute, drop the minutes
// spamrun.ActivityRetention before it, and extend the lives of the minute
// and the index. Then, for a submission naming a script or directory, its
// history: count it, widen the first and last times, take the name of the
// latest submission, move the script in the recency index, evict the least
// recently seen beyond the bound, and extend the history's life.
//
// KEYS: scripts:SITE, scripts-seen:SITE, scripts-spam:SITE,
// activity-minutes:SITE, the submission's minute hash. The minutes it
// drops are found in the index, so they cannot be declared; they share
// the site's hash tag, and so its slot. ARGV: the ScriptKey, the time key, the scriptName
// JSON, the bound, the history's TTL in milliseconds, 1 when spam-marked
// else 0, the minute's time key, the time key of the first minute kept,
// the prefix of the minute hashes, their TTL in milliseconds.
//
// Time keys are compared as two 32-bit numbers, since Lua compares strings
// in the server's locale; the indexes leave their ordering to Redis.
var recordScriptScript = redis.NewScript(`
local h, z, sp, mz, k, t = KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2]
local spam = tonumber(ARGV[6])
local minute = KEYS[5]
local field = 'l' .. k
if spam > 0 then
	field = 's' .. k
end
redis.call('HINCRBY', minute, field, 1)
redis.call('PEXPIRE', minute, ARGV[10])
redis.call('ZADD', mz, 0, ARGV[7])
for _, m in ipairs(redis.call('ZRANGEBYLEX', mz, '-', '(' .. ARGV[8])) do
	redis.call('DEL', ARGV[9] .. m)
	redis.call('ZREM', mz, m)
end
redis.call('PEXPIRE', mz, ARGV[10])
if k == '' then
	return 0
end

local function before(a, b)
	local ah, bh = tonumber(string.sub(a, 1, 8), 16), tonumber(string.sub(b, 1, 8), 16)
	if ah ~= bh then
		return ah < bh
	end
	return tonumber(string.sub(a, 9, 16), 16) < tonumber(string.sub(b, 9, 16), 16)
end
local first, last, count, name = t, t, 1, ARGV[3]
local old = redis.call('HGET', h, k)
if old then
	first, last = string.sub(old, 1, 16), string.sub(old, 17, 32)
	count = tonumber(string.sub(old, 33, 52)) + 1
	if before(t, first) then
		first = t
	end
	if before(t, last) then
		name = string.sub(old, 53)
	else
		redis.call('ZREM', z, last .. k)
		last = t
	end
	if spam > 0 then
		redis.call('HINCRBY', sp, k, spam)
	end
elseif spam > 0 then
	redis.call('HSET', sp, k, spam)
else
	-- Left by a node of an earlier release, which evicts without it.
	redis.call('HDEL', sp, k)
end
redis.call('HSET', h, k, first .. last .. string.format('%020d', count) .. name)
redis.call('ZADD', z, 0, last .. k)
local over = redis.call('ZCARD', z) - tonumber(ARGV[4])
if over > 0 then
	for _, e in ipairs(redis.call('ZRANGE', z, 0, over - 1)) do
		redis.call('HDEL', h, string.sub(e, 17))
		redis.call('HDEL', sp, string.sub(e, 17))
	end
	redis.call('ZREMRANGEBYRANK', z, 0, over - 1)
end
redis.call('PEXPIRE', h, ARGV[5])
redis.call('PEXPIRE', z, ARGV[5])
redis.call('PEXPIRE', sp, ARGV[5])
return 0
`)

// RecordScript implements spamrun.ScriptHistory in one script, so that
// submissions from every node are each counted once, in the history and in
// the activity together, at the cost of one round trip. It also sets the
// site's script history to expire ScriptTTL from now, and the submission's
// minute and the site's minute index spamrun.ActivityRetention from now.
func (s *Store) RecordScript(ctx context.Context, site string, sub spamrun.Submission) error {
	key := spamrun.ScriptKey(sub.Script, sub.Cwd)
	name, err := json.Marshal(scriptName{strings.TrimSpace(sub.Script), strings.TrimSpace(sub.Cwd)})
	if err != nil {
		return fmt.Errorf("redisstore: recording script of site %q: %w", site, err)
	}
	spam := 0
	if sub.Spam {
		spam = 1
	}
	minute := sub.Time.UTC().Truncate(time.Minute)
	keys := []string{s.scriptsKey(site), s.scriptsSeenKey(site), s.scriptsSpamKey(site), s.minutesKey(site),
		s.minuteKeyPrefix(site) + timeKey(minute)}
	err = recordScriptScript.Run(ctx, s.rdb, keys, key, timeKey(sub.Time), name, spamrun.MaxScripts,
		max(s.scriptTTL.Milliseconds(), 1), spam,
		timeKey(minute), timeKey(minute.Add(-spamrun.ActivityRetention)), s.minuteKeyPrefix(site),
		spamrun.ActivityRetention.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("redisstore: recording script of site %q: %w", site, err)
	}
	return nil
}

// scriptsScript reads the recency index newest first and, for each script,
// its record and spam count, in one step, so that a concurrent eviction
// cannot leave a hole.
//
// KEYS: scripts:SITE, scripts-seen:SITE, scripts-spam:SITE.
var scriptsScript = redis.NewScript(`
local out = {}
for _, e in ipairs(redis.call('ZREVRANGE', KEYS[2], 0, -1)) do
	local k = string.sub(e, 17)
	out[#out + 1] = redis.call('HGET', KEYS[1], k) or ''
	out[#out + 1] = redis.call('HGET', KEYS[3], k) or '0'
end
return out
`)

// Scripts implements spamrun.ScriptHistory.
func (s *Store) Scripts(ctx context.Context, site string) ([]spamrun.ScriptSeen, error) {
	keys := []string{s.scriptsKey(site), s.scriptsSeenKey(site), s.scriptsSpamKey(site)}
	records, err := scriptsScript.Run(ctx, s.rdb, keys).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redisstore: reading scripts of site %q: %w", site, err)
	}
	out := make([]spamrun.ScriptSeen, 0, len(records)/2)
	for i := 0; i+1 < len(records); i += 2 {
		seen, err := parseScriptRecord(records[i])
		if err == nil {
			seen.Spam, err = strconv.ParseInt(records[i+1], 10, 64)
		}
		if err != nil {
			return nil, fmt.Errorf("redisstore: reading scripts of site %q: %w", site, err)
		}
		out = append(out, seen)
	}
	return out, nil
}

func parseScriptRecord(r string) (spamrun.ScriptSeen, error) {
	var seen spamrun.ScriptSeen
	if len(r) < recordCountEnd {
		return seen, fmt.Errorf("malformed script record %q", r)
	}
	first, err1 := strconv.ParseUint(r[:recordFirstEnd], 16, 64)
	last, err2 := strconv.ParseUint(r[recordFirstEnd:recordLastEnd], 16, 64)
	count, err3 := strconv.ParseInt(r[recordLastEnd:recordCountEnd], 10, 64)
	var name scriptName
	err4 := json.Unmarshal([]byte(r[recordCountEnd:]), &name)
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			return seen, fmt.Errorf("malformed script record %q: %w", r, err)
		}
	}
	seen.Script, seen.Cwd, seen.Count = name.Script, name.Cwd, count
	seen.First, seen.Last = unbiased(first), unbiased(last)
	return seen, nil
}

// unbiased is the time whose biased value is u.
func unbiased(u uint64) time.Time { return time.Unix(0, int64(u^1<<63)) }

// activityScript reads the minutes of a range from the index and the
// counts of each, in one step, as triples: the minute's time key, the
// field ('l' or 's' and the ScriptKey), the count.
//
// KEYS: activity-minutes:SITE. ARGV: the range's bounds, the prefix of the
// minute hashes, which share the site's slot.
var activityScript = redis.NewScript(`
local out = {}
for _, m in ipairs(redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2])) do
	local h = redis.call('HGETALL', ARGV[3] .. m)
	for i = 1, #h, 2 do
		out[#out + 1] = m
		out[#out + 1] = h[i]
		out[#out + 1] = h[i + 1]
	end
end
return out
`)

// Activity implements spamrun.ScriptHistory. It reads only the minutes the
// site has in the range, through the site's minute index, so a range of
// any width costs at most spamrun.ActivityRetention's worth of minutes.
func (s *Store) Activity(ctx context.Context, site string, from, to time.Time) ([]spamrun.Minute, error) {
	lo, hi := ceilMinute(from), ceilMinute(to)
	if !lo.Before(hi) {
		return nil, nil
	}
	triples, err := activityScript.Run(ctx, s.rdb, []string{s.minutesKey(site)},
		"["+timeKey(lo), "("+timeKey(hi), s.minuteKeyPrefix(site)).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redisstore: reading activity of site %q: %w", site, err)
	}
	out, err := parseActivity(triples)
	if err != nil {
		return nil, fmt.Errorf("redisstore: reading activity of site %q: %w", site, err)
	}
	return out, nil
}

// parseActivity gathers activityScript's triples into Minutes, in
// ScriptHistory's order.
func parseActivity(triples []string) ([]spamrun.Minute, error) {
	type key struct {
		minute, script string
	}
	index := make(map[key]int)
	var out []spamrun.Minute
	for i := 0; i+2 < len(triples); i += 3 {
		m, field, count := triples[i], triples[i+1], triples[i+2]
		u, err1 := strconv.ParseUint(m, 16, 64)
		n, err2 := strconv.Atoi(count)
		if err1 != nil || err2 != nil || len(m) != timeKeyLen || field == "" || (field[0] != 'l' && field[0] != 's') {
			return nil, fmt.Errorf("malformed activity %q %q %q", m, field, count)
		}
		k := key{m, field[1:]}
		j, ok := index[k]
		if !ok {
			j = len(out)
			index[k] = j
			out = append(out, spamrun.Minute{Time: unbiased(u).UTC(), Script: k.script})
		}
		if field[0] == 's' {
			out[j].Spam += n
		} else {
			out[j].Legit += n
		}
	}
	spamrun.SortMinutes(out)
	return out, nil
}

// ceilMinute is the start of the first minute that starts at or after t.
func ceilMinute(t time.Time) time.Time {
	m := t.UTC().Truncate(time.Minute)
	if m.Before(t) {
		m = m.Add(time.Minute)
	}
	return m
}
