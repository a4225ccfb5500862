// Package redisstore is the [spamrun.Store] for hosts with several web
// nodes: the spam logs, the disabled flags and the incident history live in
// Redis (one server, a master under Sentinel, or a Cluster), so a site is
// counted across every node it runs on and a trip on one node refuses the
// site on all of them.
//
// Each decision is one Lua script, which Redis runs atomically: two nodes
// never read the same count. The script implements spamrun.Window exactly,
// to the nanosecond, although a sorted set's scores are float64 and cannot
// hold today's Unix time in nanoseconds (about 1.8e18, beyond 2^53). So no
// score is used at all. Every entry of a log has score 0, and Redis orders
// entries of equal score by their bytes; each entry starts with a key that
// sorts as the log must:
//
//	entry = time (16 hex digits) + seq (10 decimal digits)
//	        + weight (10 decimal digits) + event JSON
//
// time is the event's Unix nanoseconds with the sign bit flipped, written
// big-endian in lowercase hex, so that byte order is time order for every
// int64, negative ones included. seq orders events of the same nanosecond
// in the order they were recorded: it is one more than the greatest seq
// the log holds for that time, or 0. Every bound the store needs, "after
// time x", is then the string x+"\xff", which lies after every entry of
// time x (their 17th byte is a digit) and before every later one; counts
// and ranges are ZLEXCOUNT and ZRANGE BYLEX on such bounds. The only
// arithmetic, the newest time minus the window, is done in the script on
// two 32-bit halves, which float64 holds exactly. An entry written before
// weights has no weight digits, its JSON following the seq, and weighs 1;
// a node of a release before weights cannot read the entries written since,
// so every node of a server is upgraded at once.
//
// Submissions did not change the entries, so nodes of the release before
// them may run beside later ones. They neither look in log-subs nor keep
// it: what they record is counted each time it is recorded, as in their
// release, and the entries they drop, or the log they clear with Enable,
// leave fields behind. A later node trusts a field only while the log
// holds an entry of its time key and seq, so a field left behind hides
// nothing, unless an entry of the very nanosecond has taken its place;
// the hash then grows beyond the log until it expires.
//
// Keys, under a prefix ("spamrun:" by default). Every key of a site
// starts with the prefix and the site in braces, {SITE}, its hash tag: in
// Redis Cluster all of them lie in one slot, so that each decision is one
// atomic script on one shard, and every script touches only the keys of
// one site, each given to it in KEYS (the minute hashes an activity
// script drops, found in the site's minute index, share the tag).
//
//	{SITE}:log     sorted set, the site's newest spam events that weigh
//	               max+1 together, as above; it expires window+IdleTTL
//	               after the site's last spam
//	{SITE}:log-weight
//	               string, the sum of the weights in the log, so that a
//	               decision need not read the log to know it; it expires
//	               with the log, and is summed afresh when it is missing
//	{SITE}:log-subs
//	               hash, the submissions of the entries in the log, so
//	               that a decision made again is recognised (see
//	               RecordSpam): "s" + submission → the entry's time key
//	               and seq, and "e" + time key and seq → the submission,
//	               by which an entry dropped from the log takes its
//	               fields along; every decision with a submission sets
//	               it to expire with the log
//	{SITE}:disabled
//	               string, the JSON of the incident that disabled SITE;
//	               no expiry: a site stays disabled until it is enabled
//	{SITE}:incident
//	               hash, incident ID → incident JSON, the site's history
//	{SITE}:incident-at
//	               hash, incident ID → its time key, to find the index
//	               entry of an ID that is recorded again
//	{SITE}:incidents
//	               sorted set, time key + incident ID of each of the
//	               site's incidents
//	{incident-sites:N}
//	               set, the sites with incidents whose FNV-1a hash is N
//	               modulo 16; Incidents("") gathers the histories of the
//	               sites of the sixteen sets
//	{incident-site:N}
//	               hash, incident ID → the site it was last recorded for,
//	               for the IDs whose hash is N modulo 16: an ID recorded
//	               for another site leaves the earlier site's history
//	{SITE}:scripts hash, spamrun.ScriptKey → the script's record: its
//	               first and last time keys, its count in 20 decimal
//	               digits, then the JSON of its script and directory
//	{SITE}:scripts-seen
//	               sorted set, last time key + ScriptKey of every script
//	               in the site's scripts, least recently seen first: the
//	               order of Scripts and of eviction beyond
//	               spamrun.MaxScripts
//	{SITE}:scripts-spam
//	               hash, ScriptKey → how many of the script's submissions
//	               were spam-marked, absent for none. It is not part of the
//	               record, so that records written before it still read;
//	               it counts from the release that added it
//	{SITE}:activity:MINUTE
//	               hash, the site's submissions in the minute whose start
//	               has the time key MINUTE: "l" + ScriptKey → legitimate,
//	               "s" + ScriptKey → spam-marked
//	{SITE}:activity-minutes
//	               sorted set, the time key of every minute of SITE that
//	               has a hash, by which the minutes of a range are found
//	               and those spamrun.ActivityRetention before the newest
//	               submission dropped
//
// The incident history is kept for good, as in sqlitestore. No Prune is
// needed: the logs expire by themselves, a site's script history
// ScriptTTL after it last recorded a script, a site that sends nothing for
// so long having no history worth comparing with, and each minute of
// activity, like the site's minute index, spamrun.ActivityRetention after
// it was last written.
//
// The store runs on one Redis server, 6.2 or later, on a master with
// replicas watched by Redis Sentinel, or on a Redis Cluster: see Open.
//
// When a master fails, Sentinel or the cluster promotes a replica. Until it
// has, every call on the master's sites fails, within the dial timeout,
// and sendmail accepts their mail undecided, for the queue to decide later.
// A decision is never counted twice across a failover: a decision made
// again, by the queue after a lost reply, carries its submission, which
// the promoted replica recognises when it holds the first decision, and
// counts once when it does not. Replication is asynchronous, though: what
// the master acknowledged in its last milliseconds may not have reached
// the replica, so a site may be counted short by those decisions, or a
// trip of those milliseconds lost, in which case the site trips again on
// its next spam. min-replicas-to-write and min-replicas-max-lag on the
// master narrow that window.
//
// Releases before the hash tags named the keys prefix + "log:SITE",
// "disabled:SITE", "incident" and so on. Their keys are not read: a node of
// this release does not see the sites disabled, the incidents or the
// script histories recorded by an earlier one. Upgrade every node at once,
// and run Migrate once on the one server the earlier release used, before
// the nodes start (spamrun store migrate); Migrate renames the earlier keys
// to this layout, entries unchanged. What is said above of nodes of earlier
// releases running beside later ones held until the hash tags; it still
// says how the entries those releases wrote are read.
package redisstore

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"

	"github.com/spamrun/spamrun"
)

// Options configures Open. The zero value, like a nil *Options, means the
// defaults. Timeouts given in the URL (dial_timeout, read_timeout,
// write_timeout) win over the defaults, not over values set here.
type Options struct {
	// Prefix starts the name of every key; "" means DefaultPrefix. Hosts
	// that share a Redis between clusters of web nodes give each its own.
	Prefix string
	// DialTimeout bounds connecting to Redis; 0 means DefaultDialTimeout.
	DialTimeout time.Duration
	// ReadTimeout bounds waiting for each reply, and writing each request;
	// 0 means DefaultReadTimeout.
	ReadTimeout time.Duration
	// IdleTTL is how long a site's spam log outlives its window after the
	// site's last spam-marked submission; 0 means DefaultIdleTTL. The log
	// expires by the Redis server's clock while event times come from the
	// nodes' clocks, so IdleTTL must cover the clock skew between them and
	// the age of the oldest submission still decided late.
	IdleTTL time.Duration
	// ScriptTTL is how long a site's script history outlives the last
	// script it records; 0 means DefaultScriptTTL. The history is what
	// tells a script that has sent mail for months from one that appeared
	// today, so it must outlive the spam window by far.
	ScriptTTL time.Duration
	// TLS, when not nil, replaces the TLS settings of the URL: see
	// LoadTLS. The URL must use TLS: rediss://, or the "s" forms of the
	// Sentinel and Cluster schemes.
	TLS *tls.Config
}

// DefaultPrefix is the Prefix of the zero Options.
const DefaultPrefix = "spamrun:"

// DefaultDialTimeout and DefaultReadTimeout are the timeouts of the zero
// Options. sendmail waits for Redis while the site's PHP waits for sendmail:
// when Redis is down or hung, sendmail must give up quickly and keep the
// message undecided, not hang the website. A healthy Redis on the local
// network answers in well under a millisecond.
const (
	DefaultDialTimeout = 500 * time.Millisecond
	DefaultReadTimeout = 500 * time.Millisecond
)

// DefaultIdleTTL is the IdleTTL of the zero Options.
const DefaultIdleTTL = time.Hour

// DefaultScriptTTL is the ScriptTTL of the zero Options: over a year, so
// that a script used once a year, a yearly newsletter or renewal reminder,
// is still known the next time.
const DefaultScriptTTL = 400 * 24 * time.Hour

// Store is a spamrun.Store in Redis. It is safe for concurrent use, and any
// number of Stores, in any number of processes and nodes, may share one
// Redis and prefix.
type Store struct {
	rdb       redis.UniversalClient
	prefix    string
	idleTTL   time.Duration
	scriptTTL time.Duration
}

var (
	_ spamrun.Store         = (*Store)(nil)
	_ spamrun.IncidentLog   = (*Store)(nil)
	_ spamrun.ScriptHistory = (*Store)(nil)
)

// Open returns a Store on the Redis at url:
//
//   - one server: redis://, rediss:// (TLS) or unix://, as redis.ParseURL
//     reads them, e.g. "redis://:password@10.0.0.5:6379/0" or
//     "unix:///run/redis/redis.sock?db=2";
//   - a master and its replicas watched by Redis Sentinel:
//     redis+sentinel:// (rediss+sentinel:// for TLS) with the sentinels
//     as the host part, separated by commas, and the master's name, e.g.
//     "redis+sentinel://10.0.0.5:26379,10.0.0.6:26379,10.0.0.7:26379/0?master_name=spamrun&password=secret",
//     where the user information of the URL is the sentinels' own and
//     password= the master's;
//   - a Redis Cluster: redis+cluster:// (rediss+cluster:// for TLS) with
//     some of its nodes, e.g. "redis+cluster://:secret@10.0.0.5:6379,10.0.0.6:6379".
//
// The query parameters are those of go-redis's ParseURL, ParseFailoverURL
// and ParseClusterURL. Open does not connect; the first call does, so that
// a sendmail run pays for no round trip it does not need. Use Ping to
// check the server.
//
// A command is not retried on one server or through Sentinel: a reply
// lost after a decision was made would otherwise record the submission
// twice. The cluster client follows a slot that moved to another node,
// and may send a command again after its connection broke; the
// submission of each event keeps that from counting it twice.
func Open(url string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.IdleTTL <= 0 {
		o.IdleTTL = DefaultIdleTTL
	}
	if o.ScriptTTL <= 0 {
		o.ScriptTTL = DefaultScriptTTL
	}
	rdb, err := newClient(url, o)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	return &Store{rdb: rdb, prefix: o.Prefix, idleTTL: o.IdleTTL, scriptTTL: o.ScriptTTL}, nil
}

// SetLogger sends the log lines of go-redis itself, such as a failed dial,
// to l at level Warn, or nowhere when l is nil. By default go-redis writes
// them to standard error, where sendmail must write only its own messages,
// and nothing at all before the greeting of -bs. Like go-redis's logger, the
// setting is process-wide.
func SetLogger(l *slog.Logger) {
	if l == nil {
		redis.SetLogger(&logging.VoidLogger{})
		return
	}
	redis.SetLogger(slogPrinter{l})
}

type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Printf(ctx context.Context, format string, args ...any) {
	p.l.Log(ctx, slog.LevelWarn, fmt.Sprintf(format, args...))
}

// pick returns set when it is positive, else what the URL set, which may
// be negative (no timeout), else def.
func pick(set, fromURL, def time.Duration) time.Duration {
	switch {
	case set > 0:
		return set
	case fromURL != 0:
		return fromURL
	}
	return def
}

// Close closes the connections to Redis.
func (s *Store) Close() error {
	if err := s.rdb.Close(); err != nil {
		return fmt.Errorf("redisstore: closing: %w", err)
	}
	return nil
}

// Ping checks that the Redis server answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisstore: %w", err)
	}
	return nil
}

// siteKey is the key name of one of site's keys. Every key of a site
// carries the site as its hash tag, so that Redis Cluster keeps them in
// one slot, where one script may touch them all. Redis ignores an empty
// tag, so the site "" has the tag "\x00" instead.
func (s *Store) siteKey(site, name string) string {
	if site == "" {
		site = "\x00"
	}
	return s.prefix + "{" + site + "}:" + name
}

func (s *Store) logKey(site string) string        { return s.siteKey(site, "log") }
func (s *Store) logWeightKey(site string) string  { return s.siteKey(site, "log-weight") }
func (s *Store) logSubsKey(site string) string    { return s.siteKey(site, "log-subs") }
func (s *Store) disabledKey(site string) string   { return s.siteKey(site, "disabled") }
func (s *Store) incidentKey(site string) string   { return s.siteKey(site, "incident") }
func (s *Store) incidentAtKey(site string) string { return s.siteKey(site, "incident-at") }
func (s *Store) incidentsKey(site string) string  { return s.siteKey(site, "incidents") }

// buckets is how many keys the two store-wide indexes are spread over, so
// that in Redis Cluster they are not all on one shard.
const buckets = 16

// bucket is the bucket of a site or an incident ID.
func bucket(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	return strconv.Itoa(int(h.Sum32() % buckets))
}

// incidentSitesKey is the bucket of the set of sites with incidents that
// site belongs in; incidentSiteKey the bucket of the hash of incident IDs
// to their sites that id belongs in. Each has its own hash tag.
func (s *Store) incidentSitesKey(b string) string { return s.prefix + "{incident-sites:" + b + "}" }
func (s *Store) incidentSiteKey(id string) string {
	return s.prefix + "{incident-site:" + bucket(id) + "}"
}

// timeKeyLen is the length of a time key; entryPrefixLen adds the seq,
// weightLen is the length of the weight after it.
const (
	timeKeyLen     = 16
	entryPrefixLen = timeKeyLen + 10
	weightLen      = 10
	maxEntryWeight = 9_999_999_999
)

// timeKey is t as 16 hex digits whose byte order is time order.
func timeKey(t time.Time) string { return biasedKey(biased(t)) }

// biased is t's Unix nanoseconds with the sign bit flipped: the int64
// order as unsigned numbers.
func biased(t time.Time) uint64 { return uint64(t.UnixNano()) ^ 1<<63 }

func biasedKey(u uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], u)
	return hex.EncodeToString(b[:])
}

// after is the lexicographic range bound that lies after every log entry or
// index entry of the time key k and before those of any later time.
func after(k string) string { return "[" + k + "\xff" }

// recordScript is RecordSpam, in the order spamrun.Window does it: cut the
// log to the newest entries that weigh size; drop the event when the log
// weighs size and the event is not newer than all of it, else insert it
// and drop the oldest entries the newer ones make redundant; then count
// the weight of the entries after newest−window, reading whichever side of
// that bound holds fewer entries.
//
// Between the cut and the insertion, an event whose submission the log
// holds is let go, and the count is that of the log as it stands. Each
// entry dropped takes its fields in log-subs along.
//
// KEYS: the log, its weight, its submissions. ARGV: the event's time key,
// its JSON, size (max+1), the window's high and low 32 bits, the log's
// TTL in milliseconds, the event's weight, its submission or "".
//
// String comparison in Lua follows the server's locale, so every
// comparison of keys is left to Redis's ZLEXCOUNT, which compares bytes.
var recordScript = redis.NewScript(`
local log, wkey, subs, t, event = KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2]
local size, weight, sub = tonumber(ARGV[3]), tonumber(ARGV[7]), ARGV[8]
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
-- forget drops the fields of entry e, which has left the log. Only the
-- JSON of an event with a submission holds the bytes '"submission":"'
-- outside a string, where a quote is escaped.
local function forget(e)
	if not string.find(e, '"submission":"', 27, true) then
		return
	end
	local id = string.sub(e, 1, 26)
	local s = redis.call('HGET', subs, 'e' .. id)
	if not s then
		return
	end
	if redis.call('HGET', subs, 's' .. s) == id then
		redis.call('HDEL', subs, 'e' .. id, 's' .. s)
	else
		redis.call('HDEL', subs, 'e' .. id)
	end
end
local function trim()
	while total > size do
		local e = redis.call('ZRANGE', log, 0, 0)[1]
		local w = weighs(e)
		if total - w < size then
			return
		end
		redis.call('ZREMRANGEBYRANK', log, 0, 0)
		total = total - w
		forget(e)
	end
end
-- logged is whether the log holds an entry of sub: the entry its field
-- names, since a node of an earlier release drops entries without
-- their fields.
local function logged()
	if sub == '' then
		return false
	end
	local id = redis.call('HGET', subs, 's' .. sub)
	return id ~= false and redis.call('ZLEXCOUNT', log, '[' .. id, '[' .. id .. '\255') > 0
end
trim()
if not logged() and (total < size or redis.call('ZLEXCOUNT', log, '-', '(' .. t) > 0) then
	local seq = 0
	local last = redis.call('ZREVRANGEBYLEX', log, '[' .. t .. '\255', '[' .. t, 'LIMIT', 0, 1)[1]
	if last then
		seq = tonumber(string.sub(last, 17, 26)) + 1
	end
	local id = t .. string.format('%010d', seq)
	redis.call('ZADD', log, 0, id .. string.format('%010d', weight) .. event)
	if sub ~= '' then
		redis.call('HSET', subs, 's' .. sub, id, 'e' .. id, sub)
	end
	total = total + weight
	trim()
end
redis.call('PEXPIRE', log, ARGV[6])
redis.call('SET', wkey, total, 'PX', ARGV[6])
if sub ~= '' then
	redis.call('PEXPIRE', subs, ARGV[6])
end
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

// RecordSpam implements spamrun.Store with the semantics of spamrun.Window,
// in one script: see the package documentation for how the log is kept in
// order. It also sets the log to expire window+IdleTTL from now.
//
// An error does not always mean that nothing was recorded: when Redis
// stalls past the read timeout, the script may still run once it recovers.
// Recording the same event again counts it once if it has a Submission,
// which log-subs recognises, and twice if it has none.
func (s *Store) RecordSpam(ctx context.Context, site string, ev spamrun.SpamEvent, maxSpam int, window time.Duration) (int, error) {
	return s.recordSpam(ctx, recordScript, site, ev, maxSpam, window)
}

// recordSpam is RecordSpam by script, which takes recordScript's keys and
// arguments: tests run the script of an earlier release with it.
func (s *Store) recordSpam(ctx context.Context, script *redis.Script, site string, ev spamrun.SpamEvent, maxSpam int, window time.Duration) (int, error) {
	size := 1 + min(max(maxSpam, 0), spamrun.MaxSpamLimit)
	window = max(window, 0)
	event, err := json.Marshal(ev)
	if err != nil {
		return 0, fmt.Errorf("redisstore: recording spam of site %q: %w", site, err)
	}
	w := uint64(window)
	// In milliseconds, the sum cannot overflow, however wide the window.
	ttl := max(window.Milliseconds()+s.idleTTL.Milliseconds(), 1)
	keys := []string{s.logKey(site), s.logWeightKey(site), s.logSubsKey(site)}
	count, err := script.Run(ctx, s.rdb, keys, timeKey(ev.Time), event, size,
		w>>32, w&0xffffffff, ttl, min(ev.Weighs(), maxEntryWeight), ev.Submission).Int()
	if err != nil {
		return 0, fmt.Errorf("redisstore: recording spam of site %q: %w", site, err)
	}
	return count, nil
}

// SpamLog implements spamrun.Store.
func (s *Store) SpamLog(ctx context.Context, site string, now time.Time, window time.Duration) ([]spamrun.SpamEvent, error) {
	if window <= 0 {
		return nil, nil
	}
	end := biased(now)
	from := "-"
	if uint64(window) <= end {
		from = after(biasedKey(end - uint64(window)))
	}
	entries, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.logKey(site), ByLex: true, Start: from, Stop: after(biasedKey(end))}).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: reading spam log of site %q: %w", site, err)
	}
	evs := make([]spamrun.SpamEvent, 0, len(entries))
	for _, e := range entries {
		data, ok := entryEvent(e)
		if !ok {
			return nil, fmt.Errorf("redisstore: reading spam log of site %q: malformed entry %q", site, e)
		}
		var ev spamrun.SpamEvent
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return nil, fmt.Errorf("redisstore: reading spam log of site %q: %w", site, err)
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// entryEvent returns the event JSON of a log entry, with or without the
// weight written since weights.
func entryEvent(e string) (string, bool) {
	if len(e) > entryPrefixLen && e[entryPrefixLen] == '{' {
		return e[entryPrefixLen:], true
	}
	if len(e) < entryPrefixLen+weightLen {
		return "", false
	}
	return e[entryPrefixLen+weightLen:], true
}

// disableScript sets the disabled flag unless it is set, and then records
// the incident in the site's history, replacing an incident of the same ID.
// It returns the incident in force when the flag was set already, nil
// otherwise.
//
// KEYS: the flag, the site's incident hash, its incident-at hash, its
// index. ARGV: the incident's JSON, its time key, its ID.
var disableScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
	return cur
end
redis.call('SET', KEYS[1], ARGV[1])
local old = redis.call('HGET', KEYS[3], ARGV[3])
if old then
	redis.call('ZREM', KEYS[4], old .. ARGV[3])
end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[4], 0, ARGV[2] .. ARGV[3])
return false
`)

// claimScript names site as the one an incident ID belongs to, and returns
// the site it belonged to before, if any.
//
// KEYS: the incident-site bucket of the ID. ARGV: the ID, the site.
var claimScript = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return old
`)

// forgetScript drops an incident from the history of a site it no longer
// belongs to.
//
// KEYS: the site's incident hash, its incident-at hash, its index. ARGV:
// the ID.
var forgetScript = redis.NewScript(`
local at = redis.call('HGET', KEYS[2], ARGV[1])
if at then
	redis.call('ZREM', KEYS[3], at .. ARGV[1])
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 0
`)

// SetDisabled implements spamrun.Store. The incident that disables the site
// is also added to the history Incidents reads; an incident with the ID of
// one already there replaces it.
//
// The flag and the site's history change in one script on the site's
// shard. The store-wide indexes are kept around it: the site joins the
// set of sites with incidents first, so that Incidents("") finds every
// history, and an ID recorded earlier for another site is then taken out
// of that site's history.
func (s *Store) SetDisabled(ctx context.Context, site string, inc *spamrun.Incident) (*spamrun.Incident, bool, error) {
	if inc == nil {
		return nil, false, fmt.Errorf("redisstore: disabling site %q: no incident", site)
	}
	data, err := json.Marshal(inc)
	if err != nil {
		return nil, false, fmt.Errorf("redisstore: disabling site %q: %w", site, err)
	}
	if err := s.rdb.SAdd(ctx, s.incidentSitesKey(bucket(site)), site).Err(); err != nil {
		return nil, false, fmt.Errorf("redisstore: disabling site %q: %w", site, err)
	}
	keys := []string{s.disabledKey(site), s.incidentKey(site), s.incidentAtKey(site), s.incidentsKey(site)}
	cur, err := disableScript.Run(ctx, s.rdb, keys, data, timeKey(inc.Time), inc.ID).Text()
	if errors.Is(err, redis.Nil) {
		// The site is disabled and its history holds the incident: that
		// is the trip, and the caller must act on it. A failed claim only
		// leaves an ID recorded earlier for another site in that site's
		// history too, so it is not the trip's error.
		_ = s.claim(ctx, site, inc.ID)
		return inc, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redisstore: disabling site %q: %w", site, err)
	}
	in := new(spamrun.Incident)
	if err := json.Unmarshal([]byte(cur), in); err != nil {
		return nil, false, fmt.Errorf("redisstore: disabling site %q: reading the incident in force: %w", site, err)
	}
	return in, false, nil
}

// claim records that incident id is site's, and drops it from the history
// of the site it was recorded for before.
func (s *Store) claim(ctx context.Context, site, id string) error {
	old, err := claimScript.Run(ctx, s.rdb, []string{s.incidentSiteKey(id)}, id, site).Text()
	if errors.Is(err, redis.Nil) || err == nil && old == site {
		return nil
	}
	if err != nil {
		return err
	}
	return forgetScript.Run(ctx, s.rdb, []string{s.incidentKey(old), s.incidentAtKey(old), s.incidentsKey(old)}, id).Err()
}

// Disabled implements spamrun.Store.
func (s *Store) Disabled(ctx context.Context, site string) (*spamrun.Incident, error) {
	data, err := s.rdb.Get(ctx, s.disabledKey(site)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: state of site %q: %w", site, err)
	}
	inc := new(spamrun.Incident)
	if err := json.Unmarshal(data, inc); err != nil {
		return nil, fmt.Errorf("redisstore: state of site %q: %w", site, err)
	}
	return inc, nil
}

// Enable implements spamrun.Store: one DEL of the flag and the log, so no
// node sees the one gone and the other still there. The site's incidents
// stay in the history.
func (s *Store) Enable(ctx context.Context, site string) error {
	keys := []string{s.disabledKey(site), s.logKey(site), s.logWeightKey(site), s.logSubsKey(site)}
	if err := s.rdb.Del(ctx, keys...).Err(); err != nil {
		return fmt.Errorf("redisstore: enabling site %q: %w", site, err)
	}
	return nil
}

// incidentsScript reads a site's index newest first and the incidents it
// names, in one step, so that a concurrent replacement cannot leave a
// hole.
//
// KEYS: the index, the incident hash.
var incidentsScript = redis.NewScript(`
local entries = redis.call('ZREVRANGEBYLEX', KEYS[1], '+', '-')
local out = {}
for i, e in ipairs(entries) do
	out[i] = redis.call('HGET', KEYS[2], string.sub(e, 17)) or ''
end
return out
`)

// Incidents returns the incidents that disabled site, newest first (of
// incidents at the same nanosecond, the greater ID first), or those of every
// site when site is "". Re-enabling a site keeps its incidents.
//
// Every site keeps its own history, on its own shard in Redis Cluster; the
// history of every site is the sites' histories gathered, in one pipeline,
// over the set of sites with incidents, and merged.
func (s *Store) Incidents(ctx context.Context, site string) ([]*spamrun.Incident, error) {
	if site != "" {
		incs, err := s.siteIncidents(ctx, site)
		if err != nil {
			return nil, fmt.Errorf("redisstore: reading incidents: %w", err)
		}
		return incs, nil
	}
	sites, err := s.incidentSites(ctx)
	if err != nil {
		return nil, fmt.Errorf("redisstore: reading incidents: %w", err)
	}
	cmds := make([]*redis.Cmd, len(sites))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, site := range sites {
			cmds[i] = incidentsScript.Eval(ctx, p, []string{s.incidentsKey(site), s.incidentKey(site)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redisstore: reading incidents: %w", err)
	}
	var all []*spamrun.Incident
	for i, c := range cmds {
		data, err := c.StringSlice()
		if err != nil {
			return nil, fmt.Errorf("redisstore: reading incidents of site %q: %w", sites[i], err)
		}
		incs, err := parseIncidents(sites[i], data)
		if err != nil {
			return nil, fmt.Errorf("redisstore: reading incidents: %w", err)
		}
		all = append(all, incs...)
	}
	slices.SortStableFunc(all, func(a, b *spamrun.Incident) int {
		return strings.Compare(timeKey(b.Time)+b.ID, timeKey(a.Time)+a.ID)
	})
	return all, nil
}

// siteIncidents reads the history of one site.
func (s *Store) siteIncidents(ctx context.Context, site string) ([]*spamrun.Incident, error) {
	data, err := incidentsScript.Run(ctx, s.rdb, []string{s.incidentsKey(site), s.incidentKey(site)}).StringSlice()
	if err != nil {
		return nil, err
	}
	return parseIncidents(site, data)
}

// incidentSites returns the sites with incidents, from every bucket.
func (s *Store) incidentSites(ctx context.Context) ([]string, error) {
	cmds := make([]*redis.StringSliceCmd, buckets)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range cmds {
			cmds[i] = p.SMembers(ctx, s.incidentSitesKey(strconv.Itoa(i)))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var sites []string
	for _, c := range cmds {
		sites = append(sites, c.Val()...)
	}
	slices.Sort(sites)
	return sites, nil
}

// parseIncidents reads incidentsScript's reply for site.
func parseIncidents(site string, data []string) ([]*spamrun.Incident, error) {
	incs := make([]*spamrun.Incident, 0, len(data))
	for i, d := range data {
		if d == "" {
			return nil, fmt.Errorf("entry %d of the index of site %q has no incident", i, site)
		}
		inc := new(spamrun.Incident)
		if err := json.Unmarshal([]byte(d), inc); err != nil {
			return nil, err
		}
		incs = append(incs, inc)
	}
	return incs, nil
}

// enforceScript replaces an incident in the site's history, and in the
// disabled flag when that holds it, unless either changed since
// SetEnforced read them. It returns 1 when it wrote, 0 on a change, and -1
// when the incident is not, or no longer, one of the site's.
//
// KEYS: the site's incident hash, the flag. ARGV: the ID, the incident as
// read and as it is to be, 1 when the flag was set and then the flag as
// read and as it is to be ("" to leave it).
var enforceScript = redis.NewScript(`
local hist = redis.call('HGET', KEYS[1], ARGV[1])
if not hist then
	return -1
end
if hist ~= ARGV[2] then
	return 0
end
local cur = redis.call('GET', KEYS[2])
if ARGV[4] == '1' then
	if cur ~= ARGV[5] then
		return 0
	end
elseif cur then
	return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[6] ~= '' then
	redis.call('SET', KEYS[2], ARGV[6])
end
return 1
`)

// enforceAttempts bounds SetEnforced's retries. Only a trip or an Enable
// of the same site in the few microseconds between its read and its write
// makes it try again.
const enforceAttempts = 10

// SetEnforced implements spamrun.IncidentLog. The incident JSON is changed
// in Go, since Lua's cjson would round the nanoseconds it holds, and
// written back by a script that first checks nothing changed meanwhile.
func (s *Store) SetEnforced(ctx context.Context, site, id string, e spamrun.Enforcement) error {
	for range enforceAttempts {
		done, err := s.setEnforced(ctx, site, id, e)
		if err != nil {
			return fmt.Errorf("redisstore: recording enforcement of incident %q of site %q: %w", id, site, err)
		}
		if done {
			return nil
		}
	}
	return fmt.Errorf("redisstore: recording enforcement of incident %q of site %q: changed by others %d times", id, site, enforceAttempts)
}

// setEnforced makes one attempt of SetEnforced, and reports whether it is
// done.
func (s *Store) setEnforced(ctx context.Context, site, id string, e spamrun.Enforcement) (bool, error) {
	var hist, flag *redis.StringCmd
	// Pipelined reports only the first error, which may be a redis.Nil
	// hiding a real one behind it.
	s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		hist = p.HGet(ctx, s.incidentKey(site), id)
		flag = p.Get(ctx, s.disabledKey(site))
		return nil
	})
	for _, c := range []*redis.StringCmd{hist, flag} {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return false, err
		}
	}
	oldHist, err := hist.Result()
	if errors.Is(err, redis.Nil) {
		return true, nil
	}
	newHist, err := withEnforced(oldHist, e, "")
	if err != nil {
		return false, err
	}
	oldFlag, err := flag.Result()
	flagSet := "1"
	if errors.Is(err, redis.Nil) {
		flagSet = "0"
	}
	newFlag := ""
	if flagSet == "1" {
		if newFlag, err = withEnforced(oldFlag, e, id); err != nil {
			return false, err
		}
	}
	keys := []string{s.incidentKey(site), s.disabledKey(site)}
	n, err := enforceScript.Run(ctx, s.rdb, keys, id, oldHist, newHist, flagSet, oldFlag, newFlag).Int()
	if err != nil {
		return false, err
	}
	return n != 0, nil
}

// withEnforced returns the incident JSON data with e recorded, or "" when
// id is not "" and the incident is not id.
func withEnforced(data string, e spamrun.Enforcement, id string) (string, error) {
	inc := new(spamrun.Incident)
	if err := json.Unmarshal([]byte(data), inc); err != nil {
		return "", err
	}
	if id != "" && inc.ID != id {
		return "", nil
	}
	inc.Enforced = &e
	out, err := json.Marshal(inc)
	return string(out), err
}
