package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/redisstore"
	"github.com/spamrun/spamrun/spamruntest"
)

// TestStoreMigrate: a site disabled by a release before the hash tags,
// under the earlier key names, is disabled again, with its incident in the
// history, after spamrun store migrate.
func TestStoreMigrate(t *testing.T) {
	srv := spamruntest.StartRedis(t)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	inc := &spamrun.Incident{ID: "20261101-shop1", Site: "shop1", Time: testNow.Add(-24 * 3600e9)}
	data, err := json.Marshal(inc)
	if err != nil {
		t.Fatal(err)
	}
	// The time key of the earlier layout: Unix nanoseconds with the sign
	// bit flipped, in hex.
	tk := fmt.Sprintf("%016x", uint64(inc.Time.UnixNano())^1<<63)
	for _, err := range []error{
		rdb.Set(ctx, "spamrun:disabled:shop1", data, 0).Err(),
		rdb.HSet(ctx, "spamrun:incident", inc.ID, data).Err(),
		rdb.HSet(ctx, "spamrun:incident:at", inc.ID, tk+"shop1").Err(),
		rdb.ZAdd(ctx, "spamrun:incidents", redis.Z{Member: tk + inc.ID}).Err(),
		rdb.ZAdd(ctx, "spamrun:incidents:shop1", redis.Z{Member: tk + inc.ID}).Err(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	c := newCLI(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "spamrun.toml")
	text := fmt.Sprintf("state_dir = %q\nspool_dir = %q\n[store]\nkind = \"redis\"\nurl = %q\n",
		filepath.Join(dir, "state"), filepath.Join(dir, "spool"), srv.URL())
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c.vars["SPAMRUN_CONFIG"] = cfg

	if out := c.mustRun("store", "migrate"); !strings.HasPrefix(out, "2 keys and incidents moved") {
		t.Errorf("store migrate said %q, want 2 moved (the flag and the incident)", out)
	}
	s, err := redisstore.Open(srv.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Disabled(ctx, "shop1"); err != nil || got == nil || got.ID != inc.ID {
		t.Errorf("after migrate: Disabled = %v, %v; want %s", got, err, inc.ID)
	}
	if out := c.mustRun("incidents"); !strings.Contains(out, inc.ID) {
		t.Errorf("spamrun incidents after migrate does not list %s:\n%s", inc.ID, out)
	}
	if out := c.mustRun("store", "migrate"); !strings.HasPrefix(out, "0 keys") {
		t.Errorf("store migrate again said %q, want 0 moved", out)
	}
	if _, _, code := c.run("store", "compact"); code != exitUsage {
		t.Errorf("store compact: exit %d, want %d", code, exitUsage)
	}
}
