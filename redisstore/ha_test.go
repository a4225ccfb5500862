package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamruntest"
)

func TestConformanceSentinel(t *testing.T) {
	s := spamruntest.StartRedisSentinel(t)
	spamruntest.TestStore(t, func(t *testing.T) spamrun.Store { return openURL(t, s.URL(), nil) })
}

func TestConformanceCluster(t *testing.T) {
	c := spamruntest.StartRedisCluster(t)
	spamruntest.TestStore(t, func(t *testing.T) spamrun.Store { return openURL(t, c.URL(), nil) })
}

// TestClusterSpreadsSites checks that sites land on every shard of a
// cluster, and that the history of every site gathers the incidents of
// all of them, newest first.
func TestClusterSpreadsSites(t *testing.T) {
	c := spamruntest.StartRedisCluster(t)
	s := openURL(t, c.URL(), nil)
	ctx := context.Background()
	const sites = 30
	for i := range sites {
		site := "site" + string(rune('A'+i))
		inc := &spamrun.Incident{ID: "inc-" + site, Site: site, Time: t0.Add(time.Duration(i) * time.Second)}
		if _, changed, err := s.SetDisabled(ctx, site, inc); err != nil || !changed {
			t.Fatalf("SetDisabled(%s): %v, %v", site, changed, err)
		}
	}
	masters := 0
	err := s.rdb.(*redis.ClusterClient).ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		n, err := m.DBSize(ctx).Result()
		if n > 0 {
			masters++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if masters != 3 {
		t.Errorf("%d sites are kept on %d of 3 masters, want all three", sites, masters)
	}
	incs, err := s.Incidents(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(incs) != sites {
		t.Fatalf("Incidents(\"\") = %d incidents, want %d", len(incs), sites)
	}
	for i, inc := range incs {
		if want := "inc-site" + string(rune('A'+sites-1-i)); inc.ID != want {
			t.Errorf("incident %d is %s, want %s (newest first)", i, inc.ID, want)
		}
	}
}
