package rspamd_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spamrun/spamrun/spamruntest"
)

// daemon is the one rspamd the package's tests share: it takes 10-20 s to
// start (it compiles its whole rule set), far too long to pay per test.
var daemon struct {
	once sync.Once
	url  string
	err  error
	cmd  *exec.Cmd
	dir  string
	// exited is closed when cmd has been waited for.
	exited chan struct{}
}

func TestMain(m *testing.M) {
	code := m.Run()
	stopRspamd()
	os.Exit(code)
}

// rspamdURL returns the base URL of the shared rspamd, starting it the
// first time. A machine without rspamd fails the test in CI and skips it
// elsewhere.
func rspamdURL(t *testing.T) string {
	t.Helper()
	path := spamruntest.NeedCommand(t, "rspamd", "rspamd")
	daemon.once.Do(func() { daemon.url, daemon.err = startRspamd(path) })
	if daemon.err != nil {
		t.Fatal(daemon.err)
	}
	return daemon.url
}

// The config reuses the packaged rules ($CONFDIR/common.conf) and replaces
// everything about the installation: one normal worker on a loopback port,
// no controller or proxy, databases, pid and log in a temporary directory.
// The modules that ask the network (DNS blocklists, SPF, DKIM, DMARC,
// fuzzy hashes, rule updates) are turned off, and DNS points at a closed
// port, so that results do not depend on the machine's resolver and no
// check waits for a timeout. Hyperscan is off: compiling its databases is
// most of the start-up time and buys nothing for a handful of messages.
const rspamdConf = `.include "$CONFDIR/common.conf"
options {
  pidfile = "$RUNDIR/rspamd.pid";
  filters = "chartable,regexp";
  url_tld = "${SHAREDIR}/effective_tld_names.dat";
  explicit_modules = ["settings"];
  allow_raw_input = true;
  cache_file = "$DBDIR/symbols.cache";
  hs_cache_dir = "${DBDIR}/";
  disable_hyperscan = true;
  task_timeout = 8s;
  local_addrs = [];
  dns { nameserver = ["127.0.0.1:1"]; timeout = 0.1s; retransmits = 1; }
}
logging { type = "file"; filename = "$LOGDIR/rspamd.log"; level = "warning"; }
worker "normal" {
  bind_socket = "%s";
  count = 1;
  mime = true;
}
`

// disabledModules are turned off with local.d/<module>.conf overrides.
var disabledModules = []string{
	"antivirus", "arc", "asn", "clickhouse", "dcc", "dkim", "dkim_signing", "dmarc",
	"elastic", "external_services", "fuzzy_check", "greylist", "hfilter",
	"history_redis", "metric_exporter", "mx_check", "neural", "phishing",
	"ratelimit", "rbl", "replies", "reputation", "rspamd_update", "spf", "surbl",
	"url_redirector", "whitelist",
}

func startRspamd(path string) (string, error) {
	dir, err := os.MkdirTemp("", "spamrun-rspamd-")
	if err != nil {
		return "", err
	}
	daemon.dir = dir
	for _, sub := range []string{"local.d", "db", "run", "log"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o777); err != nil {
			return "", err
		}
	}
	for _, m := range disabledModules {
		if err := os.WriteFile(filepath.Join(dir, "local.d", m+".conf"), []byte("enabled = false;\n"), 0o666); err != nil {
			return "", err
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return "", err
	}
	conf := filepath.Join(dir, "rspamd.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, rspamdConf, addr), 0o666); err != nil {
		return "", err
	}
	args := []string{"-f", "-c", conf,
		"--var", "LOCAL_CONFDIR=" + dir,
		"--var", "DBDIR=" + filepath.Join(dir, "db"),
		"--var", "RUNDIR=" + filepath.Join(dir, "run"),
		"--var", "LOGDIR=" + filepath.Join(dir, "log"),
	}
	if os.Geteuid() == 0 {
		// rspamd refuses to run its workers as root unless told it may;
		// a test has no unprivileged user to hand to -u.
		args = append(args, "-i")
	}
	var out bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting rspamd: %v", err)
	}
	daemon.cmd = cmd
	exited := make(chan struct{})
	daemon.exited = exited
	go func() { cmd.Wait(); close(exited) }()

	url := "http://" + addr
	start := time.Now()
	for time.Since(start) < 60*time.Second {
		select {
		case <-exited:
			return "", fmt.Errorf("rspamd exited during start-up:\n%s%s", out.String(), logTail(dir))
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(url + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url, nil
			}
		}
	}
	return "", fmt.Errorf("rspamd did not answer /ping on %s within 60 s:\n%s", addr, logTail(dir))
}

func stopRspamd() {
	if daemon.cmd != nil {
		// SIGTERM lets the main process stop its workers; a kill would
		// leave them running.
		daemon.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-daemon.exited:
		case <-time.After(10 * time.Second):
			daemon.cmd.Process.Kill()
			<-daemon.exited
		}
	}
	if daemon.dir != "" {
		os.RemoveAll(daemon.dir)
	}
}

func logTail(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "log", "rspamd.log"))
	const n = 4000
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
