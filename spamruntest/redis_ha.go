package spamruntest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RedisMasterName is the name under which StartRedisSentinel's sentinels
// watch the master.
const RedisMasterName = "spamrun"

// haWait bounds each wait for Redis replication, Sentinel and Cluster to
// settle.
const haWait = 30 * time.Second

// RedisSentinel is a master, its replica and three sentinels watching
// them, on loopback ports, started for one test and killed when it ends.
type RedisSentinel struct {
	tb        testing.TB
	cli       string
	Servers   []*RedisServer // the master first, then the replica
	Sentinels []*RedisServer
}

// StartRedisSentinel starts a redis-server, a replica of it and three
// sentinels with a quorum of two, which declare the master down one second
// after it stops answering, and waits until the replica is in sync and the
// sentinels know each other. A machine without redis-server and redis-cli
// fails the test in CI and skips it elsewhere.
func StartRedisSentinel(tb testing.TB) *RedisSentinel {
	tb.Helper()
	s := &RedisSentinel{tb: tb, cli: NeedCommand(tb, "redis-cli", "redis-tools")}
	master := StartRedis(tb)
	replica := StartRedis(tb, withArgs("--replicaof", "127.0.0.1", strconv.Itoa(master.port)))
	s.Servers = []*RedisServer{master, replica}
	s.wait("the replica to sync", func() bool {
		return strings.Contains(s.run(replica.port, "INFO", "replication"), "master_link_status:up")
	})
	for range 3 {
		s.Sentinels = append(s.Sentinels, startSentinel(tb, master.port))
	}
	s.wait("the sentinels to know each other and the replica", func() bool {
		for _, sen := range s.Sentinels {
			info := s.run(sen.port, "SENTINEL", "MASTER", RedisMasterName)
			if !strings.Contains(info, "num-other-sentinels\n2\n") || !strings.Contains(info, "num-slaves\n1\n") {
				return false
			}
		}
		return true
	})
	return s
}

// startSentinel starts one sentinel watching the master on masterPort.
func startSentinel(tb testing.TB, masterPort int) *RedisServer {
	tb.Helper()
	conf := filepath.Join(tb.TempDir(), "sentinel.conf")
	text := fmt.Sprintf(`sentinel monitor %[1]s 127.0.0.1 %[2]d 2
sentinel down-after-milliseconds %[1]s 1000
sentinel failover-timeout %[1]s 10000
sentinel parallel-syncs %[1]s 1
`, RedisMasterName, masterPort)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		tb.Fatal(err)
	}
	return StartRedis(tb, func(r *RedisServer) { r.conf = conf })
}

// withArgs adds arguments to redis-server's command line.
func withArgs(args ...string) RedisOption {
	return func(r *RedisServer) { r.args = append(r.args, args...) }
}

// URL returns the redis+sentinel:// URL of the master, naming the three
// sentinels.
func (s *RedisSentinel) URL() string {
	addrs := make([]string, len(s.Sentinels))
	for i, sen := range s.Sentinels {
		addrs[i] = sen.Addr()
	}
	return "redis+sentinel://" + strings.Join(addrs, ",") + "/0?master_name=" + RedisMasterName
}

// Master returns the server the sentinels name as the master now.
func (s *RedisSentinel) Master() *RedisServer {
	s.tb.Helper()
	port := s.masterPort(s.Sentinels[0])
	for _, r := range s.Servers {
		if r.port == port {
			return r
		}
	}
	s.tb.Fatalf("spamruntest: the sentinels name port %d as the master, not one of the servers", port)
	return nil
}

// masterPort returns the port sen names as the master's, or 0.
func (s *RedisSentinel) masterPort(sen *RedisServer) int {
	f := strings.Fields(s.run(sen.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", RedisMasterName))
	if len(f) != 2 {
		return 0
	}
	port, _ := strconv.Atoi(f[1])
	return port
}

// WaitFailover waits until every sentinel names a master other than old,
// and that master answers as one, and returns it.
func (s *RedisSentinel) WaitFailover(old *RedisServer) *RedisServer {
	s.tb.Helper()
	s.wait("the sentinels to promote the replica", func() bool {
		for _, sen := range s.Sentinels {
			if p := s.masterPort(sen); p == 0 || p == old.port {
				return false
			}
		}
		return true
	})
	m := s.Master()
	s.wait("the new master to take writes", func() bool {
		return strings.Contains(s.run(m.port, "ROLE"), "master")
	})
	return m
}

// run runs one redis-cli command against the port and returns its output,
// "" when it failed.
func (s *RedisSentinel) run(port int, args ...string) string {
	return redisCLI(s.cli, port, args...)
}

func (s *RedisSentinel) wait(what string, ok func() bool) {
	s.tb.Helper()
	waitFor(s.tb, what, ok)
}

// RedisCluster is a Redis Cluster of three masters, and with
// RedisClusterReplicas a replica of each, on loopback ports, started for
// one test and killed when it ends.
type RedisCluster struct {
	tb    testing.TB
	cli   string
	Nodes []*RedisServer
}

// RedisClusterOption changes how StartRedisCluster builds the cluster.
type RedisClusterOption func(*clusterSpec)

type clusterSpec struct{ replicas int }

// RedisClusterReplicas gives each master a replica, which the cluster
// promotes two seconds after its master stops answering.
func RedisClusterReplicas() RedisClusterOption {
	return func(s *clusterSpec) { s.replicas = 1 }
}

// StartRedisCluster starts three redis-servers with cluster mode on (six
// with RedisClusterReplicas), joins them with redis-cli --cluster create,
// which spreads the slots over the three masters, and waits until every
// node reports the cluster ok and every replica is in sync. A machine
// without redis-server and redis-cli fails the test in CI and skips it
// elsewhere.
func StartRedisCluster(tb testing.TB, opts ...RedisClusterOption) *RedisCluster {
	tb.Helper()
	var spec clusterSpec
	for _, o := range opts {
		o(&spec)
	}
	c := &RedisCluster{tb: tb, cli: NeedCommand(tb, "redis-cli", "redis-tools")}
	for range 3 * (1 + spec.replicas) {
		bus, err := freePort()
		if err != nil {
			tb.Fatal(err)
		}
		dir := tb.TempDir()
		c.Nodes = append(c.Nodes, StartRedis(tb, withArgs("--cluster-enabled", "yes", "--dir", dir,
			"--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000", "--cluster-port", strconv.Itoa(bus))))
	}
	args := []string{"--cluster", "create"}
	for _, n := range c.Nodes {
		args = append(args, n.Addr())
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(spec.replicas), "--cluster-yes")
	out, err := exec.Command(c.cli, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("spamruntest: redis-cli --cluster create: %v: %s", err, out)
	}
	waitFor(tb, "the cluster to be ok on every node, its replicas in sync", func() bool {
		for _, n := range c.Nodes {
			if !strings.Contains(redisCLI(c.cli, n.port, "CLUSTER", "INFO"), "cluster_state:ok") {
				return false
			}
			info := redisCLI(c.cli, n.port, "INFO", "replication")
			if strings.Contains(info, "role:slave") && !strings.Contains(info, "master_link_status:up") {
				return false
			}
		}
		return len(c.masters("")) == 3
	})
	return c
}

// MasterOf returns the node that is master of key's slot now.
func (c *RedisCluster) MasterOf(key string) *RedisServer {
	c.tb.Helper()
	slot, err := strconv.Atoi(strings.TrimSpace(redisCLI(c.cli, c.Nodes[0].port, "CLUSTER", "KEYSLOT", key)))
	if err != nil {
		c.tb.Fatalf("spamruntest: CLUSTER KEYSLOT %q: %v", key, err)
	}
	for port, ranges := range c.masters("") {
		for _, r := range ranges {
			if r[0] <= slot && slot <= r[1] {
				return c.node(port)
			}
		}
	}
	c.tb.Fatalf("spamruntest: no master serves slot %d", slot)
	return nil
}

// WaitFailover waits until a replica has taken over every slot of the
// killed master old, as every live node sees it, and the cluster is ok
// again.
func (c *RedisCluster) WaitFailover(old *RedisServer) {
	c.tb.Helper()
	waitFor(c.tb, "a replica to take over the slots of the killed master", func() bool {
		for _, n := range c.Nodes {
			if n == old {
				continue
			}
			if !strings.Contains(redisCLI(c.cli, n.port, "CLUSTER", "INFO"), "cluster_state:ok") {
				return false
			}
			m := c.masters(n.Addr())
			if _, ok := m[old.port]; ok || len(m) != 3 {
				return false
			}
		}
		return true
	})
}

// masters returns the slot ranges of each master by its port, as the node
// at addr sees them ("" for the first live node), leaving out the masters
// it marks failed.
func (c *RedisCluster) masters(addr string) map[int][][2]int {
	port := 0
	for _, n := range c.Nodes {
		if (addr == "" && n.cmd != nil) || n.Addr() == addr {
			port = n.port
			break
		}
	}
	out := map[int][][2]int{}
	for line := range strings.Lines(redisCLI(c.cli, port, "CLUSTER", "NODES")) {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.Contains(f[2], "master") || strings.Contains(f[2], "fail") {
			continue
		}
		hostPort, _, _ := strings.Cut(f[1], "@")
		_, p, _ := strings.Cut(hostPort, ":")
		mport, err := strconv.Atoi(p)
		if err != nil {
			continue
		}
		for _, r := range f[8:] {
			lo, hi, found := strings.Cut(r, "-")
			if !found {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 == nil && err2 == nil {
				out[mport] = append(out[mport], [2]int{a, b})
			}
		}
	}
	return out
}

// node returns the node on port.
func (c *RedisCluster) node(port int) *RedisServer {
	for _, n := range c.Nodes {
		if n.port == port {
			return n
		}
	}
	c.tb.Fatalf("spamruntest: no node on port %d", port)
	return nil
}

// URL returns the redis+cluster:// URL naming every node.
func (c *RedisCluster) URL() string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr()
	}
	return "redis+cluster://" + strings.Join(addrs, ",")
}

// redisCLI runs redis-cli against a loopback port, with a timeout, and
// returns its output, "" when it failed.
func redisCLI(cli string, port int, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, cli, append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(port)}, args...)...).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// waitFor polls ok until it holds, failing the test after haWait.
func waitFor(tb testing.TB, what string, ok func() bool) {
	tb.Helper()
	deadline := time.Now().Add(haWait)
	for !ok() {
		if time.Now().After(deadline) {
			tb.Fatalf("spamruntest: waited %v for %s", haWait, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
