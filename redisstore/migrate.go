package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The keys of the layout before hash tags, after the prefix: the site
// follows each of siteKeys, and is all of the name but the prefix.
var siteKeys = []string{"log:", "log-weight:", "log-subs:", "disabled:", "scripts:", "scripts-seen:", "scripts-spam:", "activity-minutes:"}

// The store-wide keys of the layout before hash tags.
const (
	oldIncident   = "incident"
	oldIncidentAt = "incident:at"
	oldIncidents  = "incidents"
)

// Migrate moves what a release before the hash tags recorded under the
// store's prefix to this release's keys, and returns how many keys it
// moved or rewrote. It is for the one server that release used, run once
// while no node runs: every spam log, disabled flag, script history and
// minute of activity is renamed to its site's key, and every incident is
// written into its site's history, in the order of the earlier index.
// Running it again moves nothing.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	if _, ok := s.rdb.(*redis.ClusterClient); ok {
		return 0, errors.New("redisstore: migrating: the layout before hash tags was never on a cluster; migrate on its one server")
	}
	moved := 0
	iter := s.rdb.Scan(ctx, 0, escapeGlob(s.prefix)+"*", 1000).Iterator()
	var renames [][2]string
	for iter.Next(ctx) {
		if to := s.migratedName(iter.Val()); to != "" {
			renames = append(renames, [2]string{iter.Val(), to})
		}
	}
	if err := iter.Err(); err != nil {
		return 0, fmt.Errorf("redisstore: migrating: %w", err)
	}
	for _, r := range renames {
		if err := s.rdb.Rename(ctx, r[0], r[1]).Err(); err != nil {
			return moved, fmt.Errorf("redisstore: migrating %s: %w", r[0], err)
		}
		moved++
	}
	n, err := s.migrateIncidents(ctx)
	if err != nil {
		return moved, fmt.Errorf("redisstore: migrating incidents: %w", err)
	}
	return moved + n, nil
}

// migratedName is the name of key in this layout, or "" when key is not
// one of a site's keys of the earlier layout.
func (s *Store) migratedName(key string) string {
	rest, ok := strings.CutPrefix(key, s.prefix)
	if !ok || strings.HasPrefix(rest, "{") {
		return ""
	}
	for _, k := range siteKeys {
		if site, ok := strings.CutPrefix(rest, k); ok && site != "" {
			return s.siteKey(site, strings.TrimSuffix(k, ":"))
		}
	}
	// activity:SITE:MINUTE, the minute a time key of fixed length.
	if r, ok := strings.CutPrefix(rest, "activity:"); ok && len(r) > timeKeyLen+1 && r[len(r)-timeKeyLen-1] == ':' {
		site, minute := r[:len(r)-timeKeyLen-1], r[len(r)-timeKeyLen:]
		return s.minuteKeyPrefix(site) + minute
	}
	return ""
}

// migrateIncidents writes each incident of the earlier store-wide hash into
// its site's history, and then drops the earlier hash and indexes.
func (s *Store) migrateIncidents(ctx context.Context) (int, error) {
	incs, err := s.rdb.HGetAll(ctx, s.prefix+oldIncident).Result()
	if err != nil {
		return 0, err
	}
	at, err := s.rdb.HGetAll(ctx, s.prefix+oldIncidentAt).Result()
	if err != nil {
		return 0, err
	}
	var drop []string
	n := 0
	for id, data := range incs {
		a := at[id]
		if len(a) <= timeKeyLen {
			return n, fmt.Errorf("incident %q has no site in %s", id, s.prefix+oldIncidentAt)
		}
		tk, site := a[:timeKeyLen], a[timeKeyLen:]
		if err := s.rdb.SAdd(ctx, s.incidentSitesKey(bucket(site)), site).Err(); err != nil {
			return n, err
		}
		_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, s.incidentKey(site), id, data)
			p.HSet(ctx, s.incidentAtKey(site), id, tk)
			p.ZAdd(ctx, s.incidentsKey(site), redis.Z{Member: tk + id})
			return nil
		})
		if err != nil {
			return n, err
		}
		if err := s.rdb.HSet(ctx, s.incidentSiteKey(id), id, site).Err(); err != nil {
			return n, err
		}
		drop = append(drop, s.prefix+"incidents:"+site)
		n++
	}
	drop = append(drop, s.prefix+oldIncident, s.prefix+oldIncidentAt, s.prefix+oldIncidents)
	if err := s.rdb.Del(ctx, drop...).Err(); err != nil {
		return n, err
	}
	return n, nil
}

// escapeGlob escapes the characters SCAN's MATCH gives a meaning.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
