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

func (s *Store) scriptsKey(site string) string     { return s.prefix + "scripts:" + site }
func (s *Store) scriptsSeenKey(site string) string { return s.prefix + "scripts-seen:" + site }

// A record in scripts:SITE: first time key, last time key, count, then
// the JSON of scriptName.
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

// recordScriptScript is RecordScript: count the submission, widen the first
// and last times, take the name of the latest submission, move the script in
// the recency index, evict the least recently seen beyond the bound, and
// extend both keys' lives.
//
// KEYS: scripts:SITE, scripts-seen:SITE. ARGV: the ScriptKey, the time key,
// the scriptName JSON, the bound, the TTL in milliseconds.
//
// Time keys are compared as two 32-bit numbers, since Lua compares strings
// in the server's locale; the index leaves its ordering to Redis.
var recordScriptScript = redis.NewScript(`
local h, z, k, t = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
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
end
redis.call('HSET', h, k, first .. last .. string.format('%020d', count) .. name)
redis.call('ZADD', z, 0, last .. k)
local over = redis.call('ZCARD', z) - tonumber(ARGV[4])
if over > 0 then
	for _, e in ipairs(redis.call('ZRANGE', z, 0, over - 1)) do
		redis.call('HDEL', h, string.sub(e, 17))
	end
	redis.call('ZREMRANGEBYRANK', z, 0, over - 1)
end
redis.call('PEXPIRE', h, ARGV[5])
redis.call('PEXPIRE', z, ARGV[5])
return 0
`)

// RecordScript implements spamrun.ScriptHistory in one script, so that
// submissions from every node are each counted once. It also sets the
// site's script history to expire ScriptTTL from now.
func (s *Store) RecordScript(ctx context.Context, site string, seen spamrun.ScriptSeen) error {
	key := spamrun.ScriptKey(seen.Script, seen.Cwd)
	if key == "" {
		return nil
	}
	name, err := json.Marshal(scriptName{strings.TrimSpace(seen.Script), strings.TrimSpace(seen.Cwd)})
	if err != nil {
		return fmt.Errorf("redisstore: recording script of site %q: %w", site, err)
	}
	keys := []string{s.scriptsKey(site), s.scriptsSeenKey(site)}
	ttl := max(s.scriptTTL.Milliseconds(), 1)
	err = recordScriptScript.Run(ctx, s.rdb, keys, key, timeKey(seen.Last), name, spamrun.MaxScripts, ttl).Err()
	if err != nil {
		return fmt.Errorf("redisstore: recording script of site %q: %w", site, err)
	}
	return nil
}

// scriptsScript reads the recency index newest first and the records it
// names, in one step, so that a concurrent eviction cannot leave a hole.
//
// KEYS: scripts:SITE, scripts-seen:SITE.
var scriptsScript = redis.NewScript(`
local out = {}
for i, e in ipairs(redis.call('ZREVRANGE', KEYS[2], 0, -1)) do
	out[i] = redis.call('HGET', KEYS[1], string.sub(e, 17)) or ''
end
return out
`)

// Scripts implements spamrun.ScriptHistory.
func (s *Store) Scripts(ctx context.Context, site string) ([]spamrun.ScriptSeen, error) {
	keys := []string{s.scriptsKey(site), s.scriptsSeenKey(site)}
	records, err := scriptsScript.Run(ctx, s.rdb, keys).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redisstore: reading scripts of site %q: %w", site, err)
	}
	out := make([]spamrun.ScriptSeen, 0, len(records))
	for _, r := range records {
		seen, err := parseScriptRecord(r)
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
