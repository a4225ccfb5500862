package redisstore

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spamrun/spamrun/spamruntest"
)

var prefixes atomic.Int64

// open returns a Store on srv under a prefix no other open call returns,
// which makes it a fresh, empty store.
func open(tb testing.TB, srv *spamruntest.RedisServer, opts *Options) *Store {
	tb.Helper()
	return openURL(tb, srv.URL(), opts)
}

// openURL is open on the Redis at url: a server, Sentinel or a Cluster.
func openURL(tb testing.TB, url string, opts *Options) *Store {
	tb.Helper()
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Prefix == "" {
		o.Prefix = fmt.Sprintf("test%d:", prefixes.Add(1))
	}
	s, err := Open(url, &o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		topo Topology
		tls  bool
	}{
		{"redis://127.0.0.1:6379/0", Single, false},
		{"rediss://:pw@redis.example.net:6380/2", Single, true},
		{"unix:///run/redis/redis.sock?db=2", Single, false},
		{"redis+sentinel://:spw@10.0.0.5:26379,10.0.0.6:26379,[::1]:26379/1?master_name=spamrun&password=secret", Sentinel, false},
		{"rediss+sentinel://10.0.0.5:26379/0?master_name=spamrun", Sentinel, true},
		{"redis+cluster://10.0.0.5:6379,10.0.0.6:6379,[::1]:6379", Cluster, false},
		{"rediss+cluster://:pw@10.0.0.5:6379/0?read_timeout=1s", Cluster, true},
	} {
		topo, tlsOn, err := ParseURL(tc.url)
		if err != nil || topo != tc.topo || tlsOn != tc.tls {
			t.Errorf("ParseURL(%q) = %v, %v, %v; want %v, %v", tc.url, topo, tlsOn, err, tc.topo, tc.tls)
		}
	}
	if _, err := Open("redis://127.0.0.1:6379/0", &Options{TLS: &tls.Config{}}); err == nil || !strings.Contains(err.Error(), "without TLS") {
		t.Errorf("Open of a redis:// URL with TLS settings = %v, want an error", err)
	}
	for _, bad := range []string{
		"redis+sentinel://10.0.0.5:26379/0",
		"redis+cluster://10.0.0.5:6379/3",
		"redis+cluster://10.0.0.5:6379?bogus=1",
		"http://10.0.0.5:6379",
	} {
		if _, _, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted it", bad)
		}
	}
}

// TestOpenSeeds checks that every seed of a Sentinel or Cluster URL
// reaches the client, with the passwords where they belong.
func TestOpenSeeds(t *testing.T) {
	s, err := Open("redis+sentinel://:spw@10.0.0.5:26379,10.0.0.6:26379/1?master_name=spamrun&password=secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	fo, err := redis.ParseFailoverURL(seedURL("redis+sentinel://:spw@10.0.0.5:26379,10.0.0.6:26379/1?master_name=spamrun&password=secret"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fo.SentinelAddrs, []string{"10.0.0.5:26379", "10.0.0.6:26379"}) || fo.SentinelPassword != "spw" ||
		fo.Password != "secret" || fo.MasterName != "spamrun" || fo.DB != 1 {
		t.Errorf("sentinel options: %+v", fo)
	}
	s, err = Open("redis+cluster://:pw@10.0.0.5:6379,10.0.0.6:6379,10.0.0.7:6379/0", &Options{ReadTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	co := s.rdb.(*redis.ClusterClient).Options()
	if !slices.Equal(co.Addrs, []string{"10.0.0.5:6379", "10.0.0.6:6379", "10.0.0.7:6379"}) || co.Password != "pw" ||
		co.ReadTimeout != time.Second || co.DialTimeout != DefaultDialTimeout || co.MaxRetries > 0 {
		t.Errorf("cluster options: %+v", co)
	}
}
