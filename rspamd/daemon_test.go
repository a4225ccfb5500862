package rspamd_test

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/spamrun/spamrun/internal/filterd"
	"github.com/spamrun/spamrun/spamruntest"
)

// daemon is the one rspamd the package's tests share: it takes 10-20 s to
// start (it compiles its whole rule set), far too long to pay per test.
var daemon struct {
	once   sync.Once
	rspamd *filterd.Rspamd
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if daemon.rspamd != nil {
		daemon.rspamd.Close()
	}
	os.Exit(code)
}

// rspamdURL returns the base URL of the shared rspamd, starting it the
// first time. A machine without rspamd fails the test in CI and skips it
// elsewhere.
func rspamdURL(t *testing.T) string {
	t.Helper()
	path := spamruntest.NeedCommand(t, "rspamd", "rspamd")
	daemon.once.Do(func() {
		daemon.rspamd, daemon.err = filterd.StartRspamd(context.Background(), &filterd.RspamdOptions{Path: path})
	})
	if daemon.err != nil {
		t.Fatal(daemon.err)
	}
	return daemon.rspamd.URL
}
