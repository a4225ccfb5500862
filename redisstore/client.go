package redisstore

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// The URL schemes Open accepts beyond those of redis.ParseURL: a master
// found through Redis Sentinel, and a Redis Cluster given by seed nodes.
// The "s" forms use TLS, to the sentinels and to the servers alike.
const (
	SchemeSentinel    = "redis+sentinel"
	SchemeSentinelTLS = "rediss+sentinel"
	SchemeCluster     = "redis+cluster"
	SchemeClusterTLS  = "rediss+cluster"
)

// Topology is how a URL reaches Redis.
type Topology int

// The topologies of a URL.
const (
	Single   Topology = iota // one server: redis://, rediss://, unix://
	Sentinel                 // a master found through sentinels
	Cluster                  // a Redis Cluster
)

// String returns the topology's name as the documentation uses it.
func (t Topology) String() string {
	switch t {
	case Sentinel:
		return "sentinel"
	case Cluster:
		return "cluster"
	}
	return "single"
}

// ParseURL checks a store URL as Open reads it, without connecting, and
// returns its topology and whether it uses TLS.
func ParseURL(rawURL string) (Topology, bool, error) {
	topo, tlsOn, err := parse(rawURL)
	if err != nil {
		return 0, false, fmt.Errorf("redisstore: %w", err)
	}
	return topo, tlsOn, nil
}

func parse(rawURL string) (Topology, bool, error) {
	scheme, _, _ := strings.Cut(rawURL, "://")
	switch scheme {
	case SchemeSentinel, SchemeSentinelTLS:
		o, err := redis.ParseFailoverURL(seedURL(rawURL))
		if err != nil {
			return 0, false, err
		}
		if o.MasterName == "" {
			return 0, false, errors.New("a redis+sentinel:// URL needs ?master_name=")
		}
		return Sentinel, scheme == SchemeSentinelTLS, nil
	case SchemeCluster, SchemeClusterTLS:
		if u, err := url.Parse(seedURL(rawURL)); err == nil && u.Path != "" {
			return 0, false, errors.New("a Redis Cluster has only database 0")
		}
		if _, err := redis.ParseClusterURL(seedURL(rawURL)); err != nil {
			return 0, false, err
		}
		return Cluster, scheme == SchemeClusterTLS, nil
	}
	if _, err := redis.ParseURL(rawURL); err != nil {
		return 0, false, err
	}
	return Single, scheme == "rediss", nil
}

// seedURL rewrites a redis+sentinel:// or redis+cluster:// URL, whose host
// part lists the seed nodes separated by commas, as the redis:// URL with
// addr parameters that go-redis's ParseFailoverURL and ParseClusterURL
// read. A cluster has only database 0, which go-redis takes no path for.
func seedURL(rawURL string) string {
	scheme, rest, _ := strings.Cut(rawURL, "://")
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	user, hosts, tail := "", rest[:end], rest[end:]
	if i := strings.LastIndex(hosts, "@"); i >= 0 {
		user, hosts = hosts[:i+1], hosts[i+1:]
	}
	path, query, _ := strings.Cut(tail, "?")
	if strings.HasSuffix(scheme, "+cluster") && (path == "/0" || path == "/") {
		path = ""
	}
	seeds := strings.Split(hosts, ",")
	q, err := url.ParseQuery(query)
	if err != nil {
		return rawURL // for go-redis to reject
	}
	for _, h := range seeds[1:] {
		if h != "" {
			q.Add("addr", h)
		}
	}
	base, _, _ := strings.Cut(scheme, "+")
	out := base + "://" + user + seeds[0] + path
	if len(q) > 0 {
		out += "?" + q.Encode()
	}
	return out
}

// newClient returns the client of rawURL with the settings of o: each
// command tried once, each dial once, the timeouts of o or the URL, and
// none of the handshake extras that cost a round trip per connection.
func newClient(rawURL string, o Options) (redis.UniversalClient, error) {
	topo, tlsOn, err := parse(rawURL)
	if err != nil {
		return nil, err
	}
	if o.TLS != nil && !tlsOn {
		return nil, errors.New("TLS settings for a URL without TLS: use rediss://, rediss+sentinel:// or rediss+cluster://")
	}
	disabled := &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	switch topo {
	case Sentinel:
		fo, _ := redis.ParseFailoverURL(seedURL(rawURL))
		fo.DialTimeout = pick(o.DialTimeout, fo.DialTimeout, DefaultDialTimeout)
		fo.ReadTimeout = pick(o.ReadTimeout, fo.ReadTimeout, DefaultReadTimeout)
		fo.WriteTimeout = pick(o.ReadTimeout, fo.WriteTimeout, DefaultReadTimeout)
		fo.MaxRetries = -1
		fo.DialerRetries = 1
		fo.ContextTimeoutEnabled = true
		fo.DisableIdentity = true
		if o.TLS != nil {
			fo.TLSConfig = o.TLS
		}
		return redis.NewFailoverClient(fo), nil
	case Cluster:
		co, _ := redis.ParseClusterURL(seedURL(rawURL))
		co.DialTimeout = pick(o.DialTimeout, co.DialTimeout, DefaultDialTimeout)
		co.ReadTimeout = pick(o.ReadTimeout, co.ReadTimeout, DefaultReadTimeout)
		co.WriteTimeout = pick(o.ReadTimeout, co.WriteTimeout, DefaultReadTimeout)
		// A cluster client must follow MOVED replies to the node that now
		// holds a slot, which it counts as redirects, not retries.
		co.MaxRetries = -1
		co.DialerRetries = 1
		co.ContextTimeoutEnabled = true
		co.DisableIdentity = true
		co.MaintNotificationsConfig = disabled
		// The routing policies read the server's whole command table
		// (COMMAND, some 90 KB) on each new client, and every sendmail
		// run is one. Every command of the store names its key, so the
		// slot alone routes it.
		co.DisableRoutingPolicies = true
		if o.TLS != nil {
			co.TLSConfig = o.TLS
		}
		return redis.NewClusterClient(co), nil
	}
	ro, _ := redis.ParseURL(rawURL)
	ro.DialTimeout = pick(o.DialTimeout, ro.DialTimeout, DefaultDialTimeout)
	ro.ReadTimeout = pick(o.ReadTimeout, ro.ReadTimeout, DefaultReadTimeout)
	ro.WriteTimeout = pick(o.ReadTimeout, ro.WriteTimeout, DefaultReadTimeout)
	ro.MaxRetries = -1
	// One dial per call: go-redis would otherwise dial five times with
	// pauses between, many times the dial timeout when Redis is down.
	ro.DialerRetries = 1
	ro.ContextTimeoutEnabled = true
	// Each of these would cost a round trip on every new connection, and
	// every sendmail run makes a new one.
	ro.DisableIdentity = true
	ro.MaintNotificationsConfig = disabled
	if o.TLS != nil {
		ro.TLSConfig = o.TLS
	}
	return redis.NewClient(ro), nil
}

// LoadTLS returns the TLS settings of a rediss:// URL from PEM files: the
// CA that signed the servers' certificates ("" for the system's roots),
// and the client certificate and its key, both or neither. serverName is
// the name the servers' certificates must carry; "" takes each server's
// host name.
func LoadTLS(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("redisstore: reading the CA file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redisstore: the CA file %s holds no PEM certificate", caFile)
		}
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("redisstore: a client certificate needs both its certificate and its key file")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("redisstore: loading the client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
