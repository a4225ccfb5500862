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
// returns its topology and whether it uses TLS. It is what configuration
// validation calls.
func ParseURL(rawURL string) (Topology, bool, error) {
	topo, tlsOn, err := parse(rawURL)
	if err != nil {
		return 0, false, fmt.Errorf("redisstore: %w", err)
	}
	return topo, tlsOn, nil
}

func parse(rawURL string) (Topology, bool, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return 0, false, err
	}
	switch u.Scheme {
	case SchemeSentinel, SchemeSentinelTLS:
		o, err := redis.ParseFailoverURL(seedURL(u))
		if err != nil {
			return 0, false, err
		}
		if o.MasterName == "" {
			return 0, false, errors.New("a redis+sentinel:// URL needs ?master_name=")
		}
		return Sentinel, u.Scheme == SchemeSentinelTLS, nil
	case SchemeCluster, SchemeClusterTLS:
		if u.Path != "" && u.Path != "/" && u.Path != "/0" {
			return 0, false, fmt.Errorf("a Redis Cluster has only database 0, not %q", strings.TrimPrefix(u.Path, "/"))
		}
		v := *u
		v.Path = ""
		if _, err := redis.ParseClusterURL(seedURL(&v)); err != nil {
			return 0, false, err
		}
		return Cluster, u.Scheme == SchemeClusterTLS, nil
	}
	if _, err := redis.ParseURL(rawURL); err != nil {
		return 0, false, err
	}
	return Single, u.Scheme == "rediss", nil
}

// seedURL rewrites a redis+sentinel:// or redis+cluster:// URL, whose host
// part lists the seed nodes separated by commas, as the redis:// URL with
// addr parameters that go-redis's ParseFailoverURL and ParseClusterURL
// read.
func seedURL(u *url.URL) string {
	v := *u
	v.Scheme = "redis"
	if strings.HasPrefix(u.Scheme, "rediss") {
		v.Scheme = "rediss"
	}
	hosts := strings.Split(u.Host, ",")
	v.Host = hosts[0]
	q := v.Query()
	for _, h := range hosts[1:] {
		if h != "" {
			q.Add("addr", h)
		}
	}
	v.RawQuery = q.Encode()
	return v.String()
}

// newClient returns the client of rawURL with the settings of o: each
// command tried once, each dial once, the timeouts of o or the URL, and
// none of the handshake extras that cost a round trip per connection.
func newClient(rawURL string, o Options) (redis.UniversalClient, error) {
	topo, _, err := parse(rawURL)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(rawURL)
	disabled := &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	switch topo {
	case Sentinel:
		fo, _ := redis.ParseFailoverURL(seedURL(u))
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
		v := *u
		v.Path = ""
		co, _ := redis.ParseClusterURL(seedURL(&v))
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
