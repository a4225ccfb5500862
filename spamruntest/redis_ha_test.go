package spamruntest

import (
	"strings"
	"testing"
	"time"
)

func TestStartRedisSentinel(t *testing.T) {
	s := StartRedisSentinel(t)
	if !strings.HasPrefix(s.URL(), "redis+sentinel://") || strings.Count(s.URL(), ",") != 2 {
		t.Errorf("URL %q does not name three sentinels", s.URL())
	}
	old := s.Master()
	if old != s.Servers[0] {
		t.Fatalf("the sentinels name port %d as the master, want %d", old.port, s.Servers[0].port)
	}
	killed := time.Now()
	old.Kill()
	m := s.WaitFailover(old)
	t.Logf("the sentinels promoted the replica %v after the master was killed", time.Since(killed).Round(10*time.Millisecond))
	if m != s.Servers[1] {
		t.Errorf("after the master died, the master is port %d, want the replica %d", m.port, s.Servers[1].port)
	}
}

func TestStartRedisCluster(t *testing.T) {
	c := StartRedisCluster(t)
	cli := NeedCommand(t, "redis-cli", "redis-tools")
	nodes := redisCLI(cli, c.Nodes[0].port, "CLUSTER", "NODES")
	if n := strings.Count(nodes, "master"); n != 3 {
		t.Errorf("CLUSTER NODES lists %d masters, want 3:\n%s", n, nodes)
	}
	if !strings.HasPrefix(c.URL(), "redis+cluster://") {
		t.Errorf("URL %q", c.URL())
	}
}

func TestStartRedisTLS(t *testing.T) {
	r := StartRedis(t, RedisTLS())
	if !r.ping() {
		t.Fatal("no PONG over TLS with the client certificate")
	}
	if !strings.HasPrefix(r.URL(), "rediss://") {
		t.Errorf("URL %q is not rediss://", r.URL())
	}
	// Plain TCP gets nothing.
	if redisCLI(NeedCommand(t, "redis-cli", "redis-tools"), r.port, "PING") == "PONG\n" {
		t.Error("the TLS server answered a plain PING")
	}
}

func TestStartRedisClusterFailover(t *testing.T) {
	c := StartRedisCluster(t, RedisClusterReplicas())
	if len(c.Nodes) != 6 {
		t.Fatalf("%d nodes, want 6", len(c.Nodes))
	}
	old := c.MasterOf("{shop1}:log")
	killed := time.Now()
	old.Kill()
	c.WaitFailover(old)
	t.Logf("a replica took over the slots %v after their master was killed", time.Since(killed).Round(10*time.Millisecond))
	if m := c.MasterOf("{shop1}:log"); m == old {
		t.Errorf("the killed node on port %d still serves the slot", old.port)
	}
}
