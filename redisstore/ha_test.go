package redisstore

import (
	"context"
	"strings"
	"sync/atomic"
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
	var masters atomic.Int32 // ForEachMaster calls on every master at once
	err := s.rdb.(*redis.ClusterClient).ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		n, err := m.DBSize(ctx).Result()
		if n > 0 {
			masters.Add(1)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := masters.Load(); n != 3 {
		t.Errorf("%d sites are kept on %d of 3 masters, want all three", sites, n)
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
	// No client read the command table, which would cost each sendmail
	// run some 90 KB.
	for _, n := range c.Nodes {
		stats := redis.NewClient(&redis.Options{Addr: n.Addr()})
		info, err := stats.Info(ctx, "commandstats").Result()
		stats.Close()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(info, "cmdstat_command:") {
			t.Errorf("node %s was sent COMMAND", n.Addr())
		}
	}
}

// TestTLS runs the contract over TLS, against a server that requires a
// client certificate, and checks that without one, or with the wrong CA,
// nothing passes.
func TestTLS(t *testing.T) {
	srv := spamruntest.StartRedis(t, spamruntest.RedisTLS())
	f := srv.TLSFiles()
	tc, err := LoadTLS(f.CA, f.Cert, f.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	spamruntest.TestStore(t, func(t *testing.T) spamrun.Store { return openURL(t, srv.URL(), &Options{TLS: tc}) })

	ctx := context.Background()
	noCert, err := LoadTLS(f.CA, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := openURL(t, srv.URL(), &Options{TLS: noCert}).Ping(ctx); err == nil {
		t.Error("Ping without a client certificate succeeded")
	}
	if err := openURL(t, srv.URL(), nil).Ping(ctx); err == nil {
		t.Error("Ping trusting the system's CAs succeeded")
	}
}

func TestLoadTLSErrors(t *testing.T) {
	srv := spamruntest.StartRedis(t, spamruntest.RedisTLS())
	f := srv.TLSFiles()
	for _, tc := range []struct {
		name, ca, cert, key, want string
	}{
		{"missing CA", "/nonexistent/ca.pem", "", "", "reading the CA file"},
		{"CA not PEM", f.Key + ".none", "", "", "reading the CA file"},
		{"key is no CA", f.Key, "", "", "holds no PEM certificate"},
		{"cert without key", f.CA, f.Cert, "", "needs both"},
		{"key of another cert", f.CA, f.Cert, f.ServerKey, "loading the client certificate"},
	} {
		if _, err := LoadTLS(tc.ca, tc.cert, tc.key, ""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: LoadTLS = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
