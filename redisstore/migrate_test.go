package redisstore

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamruntest"
)

// TestMigrate writes a site's state under the names of the layout before
// hash tags, as that release did, and checks that after Migrate the store
// reads all of it: the log with its submissions, the disabled flag, the
// incidents and the script history.
func TestMigrate(t *testing.T) {
	srv := spamruntest.StartRedis(t)
	s := open(t, srv, nil)
	ctx := context.Background()
	for i := range 3 {
		if _, err := s.RecordSpam(ctx, "shop1", submission(string(rune('a'+i)), string(rune('a'+i)), t0.Add(time.Duration(i)*time.Minute), 1), 10, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordScript(ctx, "shop1", spamrun.Submission{Time: t0, Script: "1001:contact.php", Cwd: "/"}); err != nil {
		t.Fatal(err)
	}
	old := &spamrun.Incident{ID: "old1", Site: "shop1", Time: t0}
	data, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	// The earlier layout's names, and its store-wide incident keys.
	minute := timeKey(t0.UTC().Truncate(time.Minute))
	for from, to := range map[string]string{
		s.logKey("shop1"):                   s.prefix + "log:shop1",
		s.logWeightKey("shop1"):             s.prefix + "log-weight:shop1",
		s.logSubsKey("shop1"):               s.prefix + "log-subs:shop1",
		s.scriptsKey("shop1"):               s.prefix + "scripts:shop1",
		s.scriptsSeenKey("shop1"):           s.prefix + "scripts-seen:shop1",
		s.minutesKey("shop1"):               s.prefix + "activity-minutes:shop1",
		s.minuteKeyPrefix("shop1") + minute: s.prefix + "activity:shop1:" + minute,
	} {
		if err := s.rdb.Rename(ctx, from, to).Err(); err != nil {
			t.Fatalf("rename %s: %v", from, err)
		}
	}
	tk := timeKey(old.Time)
	for _, err := range []error{
		s.rdb.Set(ctx, s.prefix+"disabled:shop1", data, 0).Err(),
		s.rdb.HSet(ctx, s.prefix+"incident", "old1", data).Err(),
		s.rdb.HSet(ctx, s.prefix+"incident:at", "old1", tk+"shop1").Err(),
		s.rdb.ZAdd(ctx, s.prefix+"incidents", redis.Z{Member: tk + "old1"}).Err(),
		s.rdb.ZAdd(ctx, s.prefix+"incidents:shop1", redis.Z{Member: tk + "old1"}).Err(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if inc, err := s.Disabled(ctx, "shop1"); err != nil || inc != nil {
		t.Fatalf("before Migrate: Disabled = %v, %v; want nothing seen", inc, err)
	}

	n, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 9 {
		t.Errorf("Migrate moved %d keys, want 8 keys and 1 incident", n)
	}
	if inc, err := s.Disabled(ctx, "shop1"); err != nil || inc == nil || inc.ID != "old1" {
		t.Errorf("after Migrate: Disabled = %v, %v; want old1", inc, err)
	}
	for _, site := range []string{"", "shop1"} {
		if incs, err := s.Incidents(ctx, site); err != nil || len(incs) != 1 || incs[0].ID != "old1" {
			t.Errorf("after Migrate: Incidents(%q) = %v, %v; want old1", site, incs, err)
		}
	}
	// The log is whole: a submission recorded before counts once more.
	if c, err := s.RecordSpam(ctx, "shop1", submission("b", "b", t0.Add(time.Minute), 1), 10, time.Hour); err != nil || c != 3 {
		t.Errorf("after Migrate: a decision made again counts %d, %v; want 3", c, err)
	}
	if seen, err := s.Scripts(ctx, "shop1"); err != nil || len(seen) != 1 || seen[0].Count != 1 {
		t.Errorf("after Migrate: Scripts = %v, %v; want contact.php once", seen, err)
	}
	if act, err := s.Activity(ctx, "shop1", t0.Add(-time.Hour), t0.Add(time.Hour)); err != nil || len(act) != 1 {
		t.Errorf("after Migrate: Activity = %v, %v; want one minute", act, err)
	}
	keys, err := s.rdb.Keys(ctx, s.prefix+"[^{]*").Result()
	if err != nil || len(keys) != 0 {
		t.Errorf("after Migrate: keys of the earlier layout %q, %v; want none", keys, err)
	}
	if n, err := s.Migrate(ctx); err != nil || n != 0 {
		t.Errorf("Migrate again = %d, %v; want 0", n, err)
	}
}
