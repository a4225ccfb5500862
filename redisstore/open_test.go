package redisstore

import (
	"fmt"
	"sync/atomic"
	"testing"

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
