package redisstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamruntest"
)

// The benchmarks here measure what the README's section on scale rests
// on: decisions per second and server CPU per decision on each shard,
// bytes on the wire per decision and per sendmail run, and memory per
// site.

// infoFields returns the numeric fields of INFO section on one server.
func infoFields(tb testing.TB, c *redis.Client, section string) map[string]float64 {
	tb.Helper()
	info, err := c.Info(context.Background(), section).Result()
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]float64{}
	for line := range strings.Lines(info) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			out[k] = f
		}
	}
	return out
}

// serverCPU is the CPU seconds, user and system, that the servers have
// used.
func serverCPU(tb testing.TB, servers []*redis.Client) float64 {
	tb.Helper()
	sum := 0.0
	for _, c := range servers {
		f := infoFields(tb, c, "cpu")
		sum += f["used_cpu_user"] + f["used_cpu_sys"]
	}
	return sum
}

// clients returns a client of each server of a cluster's nodes.
func clients(tb testing.TB, nodes []*spamruntest.RedisServer) []*redis.Client {
	out := make([]*redis.Client, len(nodes))
	for i, n := range nodes {
		out[i] = redis.NewClient(&redis.Options{Addr: n.Addr()})
		tb.Cleanup(func() { out[i].Close() })
	}
	return out
}

// spamRun records realistic events for random sites of n, from 16
// callers per CPU, as the sendmail processes of busy nodes do.
func spamRun(b *testing.B, s *Store, sites int) {
	ctx := context.Background()
	names := make([]string, sites)
	for i := range names {
		names[i] = fmt.Sprint("site", i)
	}
	var seed atomic.Uint64
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(seed.Add(1), 7))
		i := 0
		for pb.Next() {
			if _, err := s.RecordSpam(ctx, names[rng.IntN(sites)], realisticEvent(i), 10, time.Hour); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkRecordSpamCluster is a spam run over 10,000 sites on a
// three-master cluster. It reports the decisions per second the client
// reached, and the server CPU each decision cost, from which a shard's
// ceiling follows: one core's second over that CPU.
func BenchmarkRecordSpamCluster(b *testing.B) {
	c := spamruntest.StartRedisCluster(b)
	s := openURL(b, c.URL(), nil)
	servers := clients(b, c.Nodes)
	cpu := serverCPU(b, servers)
	b.ResetTimer()
	spamRun(b, s, 10_000)
	b.StopTimer()
	perDecision := (serverCPU(b, servers) - cpu) / float64(b.N)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
	b.ReportMetric(perDecision*1e6, "server-cpu-µs/decision")
	b.ReportMetric(1/perDecision, "decisions/s/shard-core")
}

// BenchmarkRecordSpamShard is the same run on one server: one shard.
func BenchmarkRecordSpamShard(b *testing.B) {
	srv := spamruntest.StartRedis(b)
	s := open(b, srv, nil)
	servers := clients(b, []*spamruntest.RedisServer{srv})
	cpu := serverCPU(b, servers)
	b.ResetTimer()
	spamRun(b, s, 10_000)
	b.StopTimer()
	perDecision := (serverCPU(b, servers) - cpu) / float64(b.N)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
	b.ReportMetric(perDecision*1e6, "server-cpu-µs/decision")
	b.ReportMetric(1/perDecision, "decisions/s/shard-core")
}

// BenchmarkWireBytes counts, with the server's net counters, the bytes a
// decision puts on the wire over a warm connection, and what a whole
// sendmail run of a spam-marked message costs: a new connection, the
// disabled flag, the decision and the script history.
func BenchmarkWireBytes(b *testing.B) {
	srv := spamruntest.StartRedis(b)
	prefix := open(b, srv, nil).prefix
	admin := clients(b, []*spamruntest.RedisServer{srv})[0]
	ctx := context.Background()
	net := func() (float64, float64) {
		f := infoFields(b, admin, "stats")
		return f["total_net_input_bytes"], f["total_net_output_bytes"]
	}
	warm, err := Open(srv.URL(), &Options{Prefix: prefix})
	if err != nil {
		b.Fatal(err)
	}
	defer warm.Close()
	// Load the script, so that the decisions below are EVALSHA.
	if _, err := warm.RecordSpam(ctx, "warm", realisticEvent(0), 10, time.Hour); err != nil {
		b.Fatal(err)
	}
	const decisions = 2000
	in0, out0 := net()
	for i := range decisions {
		if _, err := warm.RecordSpam(ctx, fmt.Sprint("site", i%100), realisticEvent(i), 10, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	in1, out1 := net()
	// b.Loop resets the metrics reported before it.
	inDecision, outDecision := (in1-in0)/decisions, (out1-out0)/decisions

	i := 0
	in0, out0 = net()
	for b.Loop() {
		s, err := Open(srv.URL(), &Options{Prefix: prefix})
		if err != nil {
			b.Fatal(err)
		}
		site := fmt.Sprint("site", i%100)
		ev := realisticEvent(i)
		if _, err := s.Disabled(ctx, site); err != nil {
			b.Fatal(err)
		}
		if _, err := s.RecordSpam(ctx, site, ev, 10, time.Hour); err != nil {
			b.Fatal(err)
		}
		if err := s.RecordScript(ctx, site, spamrun.Submission{Time: ev.Time, Script: ev.Evidence.Script, Cwd: ev.Evidence.Cwd, Spam: true}); err != nil {
			b.Fatal(err)
		}
		s.Close()
		i++
	}
	in1, out1 = net()
	b.ReportMetric(inDecision, "in-bytes/decision")
	b.ReportMetric(outDecision, "out-bytes/decision")
	b.ReportMetric((in1-in0)/float64(i), "in-bytes/run")
	b.ReportMetric((out1-out0)/float64(i), "out-bytes/run")
}

// BenchmarkSiteMemory reports the growth of used_memory per site over
// 10,000 sites in two states: a site that sent one spam-marked message
// (its log, its script history and a minute of activity), and a site
// that tripped (that, with a full log of 11 events and an incident).
func BenchmarkSiteMemory(b *testing.B) {
	srv := spamruntest.StartRedis(b)
	admin := clients(b, []*spamruntest.RedisServer{srv})[0]
	ctx := context.Background()
	used := func() float64 { return infoFields(b, admin, "memory")["used_memory"] }
	const sites = 10_000
	fill := func(s *Store, events int, trip bool) float64 {
		var wg sync.WaitGroup
		before := used()
		for w := range 8 {
			wg.Go(func() {
				for i := w; i < sites; i += 8 {
					site := fmt.Sprint("site", i)
					for j := range events {
						ev := realisticEvent(i*100 + j)
						if _, err := s.RecordSpam(ctx, site, ev, 10, time.Hour); err != nil {
							b.Error(err)
							return
						}
						if err := s.RecordScript(ctx, site, spamrun.Submission{Time: ev.Time, Script: ev.Evidence.Script, Cwd: ev.Evidence.Cwd, Spam: true}); err != nil {
							b.Error(err)
							return
						}
					}
					if trip {
						inc := &spamrun.Incident{ID: fmt.Sprint("inc", i), Site: site, Time: t0, Count: events}
						if _, _, err := s.SetDisabled(ctx, site, inc); err != nil {
							b.Error(err)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		return (used() - before) / sites
	}
	one := fill(open(b, srv, nil), 1, false)
	tripped := fill(open(b, srv, nil), 11, true)
	for b.Loop() {
		used()
	}
	b.ReportMetric(one, "bytes/site-one-spam")
	b.ReportMetric(tripped, "bytes/site-tripped")
}

// BenchmarkWireBytesCluster is the sendmail run of BenchmarkWireBytes on a
// three-master cluster, over all nodes: each new client also reads the
// cluster's slot map.
func BenchmarkWireBytesCluster(b *testing.B) {
	c := spamruntest.StartRedisCluster(b)
	sendmailRuns(b, c.URL(), clients(b, c.Nodes))
}

// BenchmarkWireBytesSentinel is the sendmail run of BenchmarkWireBytes
// through Sentinel, over the master, its replica and the sentinels: each
// new client first asks a sentinel for the master.
func BenchmarkWireBytesSentinel(b *testing.B) {
	s := spamruntest.StartRedisSentinel(b)
	sendmailRuns(b, s.URL(), clients(b, append(s.Servers, s.Sentinels...)))
}

// sendmailRuns opens a new store on url for each iteration, as each
// sendmail run does, asks it whether the site is disabled, records a
// decision and a script, and reports the bytes the servers received and
// sent per run.
func sendmailRuns(b *testing.B, url string, servers []*redis.Client) {
	prefix := openURL(b, url, nil).prefix
	ctx := context.Background()
	net := func() (in, out float64) {
		for _, s := range servers {
			f := infoFields(b, s, "stats")
			in += f["total_net_input_bytes"]
			out += f["total_net_output_bytes"]
		}
		return in, out
	}
	i := 0
	in0, out0 := net()
	for b.Loop() {
		s, err := Open(url, &Options{Prefix: prefix})
		if err != nil {
			b.Fatal(err)
		}
		site := fmt.Sprint("site", i%100)
		ev := realisticEvent(i)
		if _, err := s.Disabled(ctx, site); err != nil {
			b.Fatal(err)
		}
		if _, err := s.RecordSpam(ctx, site, ev, 10, time.Hour); err != nil {
			b.Fatal(err)
		}
		if err := s.RecordScript(ctx, site, spamrun.Submission{Time: ev.Time, Script: ev.Evidence.Script, Cwd: ev.Evidence.Cwd, Spam: true}); err != nil {
			b.Fatal(err)
		}
		s.Close()
		i++
	}
	in1, out1 := net()
	b.ReportMetric((in1-in0)/float64(i), "in-bytes/run")
	b.ReportMetric((out1-out0)/float64(i), "out-bytes/run")
}
