package host_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spamrun/spamrun/config"
	"github.com/spamrun/spamrun/internal/host"
	"github.com/spamrun/spamrun/redisstore"
	"github.com/spamrun/spamrun/spamruntest"
)

// openRedisHost opens a host whose [store] is the redis table given.
func openRedisHost(t *testing.T, store string) *host.Host {
	t.Helper()
	dir := t.TempDir()
	file := fmt.Sprintf("state_dir = %q\nspool_dir = %q\n[store]\nkind = \"redis\"\n%s\n",
		filepath.Join(dir, "state"), filepath.Join(dir, "spool"), store)
	cfg, err := config.Parse("spamrun.toml", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// ping checks that the host's store is a Redis store that answers.
func ping(t *testing.T, h *host.Host) {
	t.Helper()
	s, ok := h.Store.(*redisstore.Store)
	if !ok {
		t.Fatalf("store %T, %v; want a redisstore", h.Store, h.StoreErr)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Error(err)
	}
}

// TestOpenRedisTLS opens the store over TLS with the [store] table's CA
// and client certificate, against a server that requires the certificate.
func TestOpenRedisTLS(t *testing.T) {
	srv := spamruntest.StartRedis(t, spamruntest.RedisTLS())
	f := srv.TLSFiles()
	ping(t, openRedisHost(t, fmt.Sprintf("url = %q\ntls_ca = %q\ntls_cert = %q\ntls_key = %q", srv.URL(), f.CA, f.Cert, f.Key)))

	// A key that is not the certificate's: the store is unavailable, and
	// says why.
	h := openRedisHost(t, fmt.Sprintf("url = %q\ntls_ca = %q\ntls_cert = %q\ntls_key = %q", srv.URL(), f.CA, f.Cert, f.ServerKey))
	if h.Store != nil || h.StoreErr == nil || !strings.Contains(h.StoreErr.Error(), "client certificate") {
		t.Errorf("mismatched key: store %v, error %v; want no store and the certificate's error", h.Store, h.StoreErr)
	}
}

// TestOpenRedisSentinelAndCluster opens the store from redis+sentinel://
// and redis+cluster:// URLs.
func TestOpenRedisSentinelAndCluster(t *testing.T) {
	ping(t, openRedisHost(t, fmt.Sprintf("url = %q", spamruntest.StartRedisSentinel(t).URL())))
	ping(t, openRedisHost(t, fmt.Sprintf("url = %q", spamruntest.StartRedisCluster(t).URL())))
}
