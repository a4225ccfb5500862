package filterd

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// RspamdOptions changes how StartRspamd runs rspamd; nil means the
// defaults.
type RspamdOptions struct {
	// Path is the rspamd program; "rspamd" from $PATH when empty.
	Path string
	// Workers is the number of normal worker processes; 1 when zero. Each
	// serves many requests at once, but on one CPU.
	Workers int
}

// Rspamd is a running rspamd: one normal worker on a loopback port, its
// network modules off.
type Rspamd struct {
	// URL is the base URL of the normal worker, as rspamd.Scorer takes it.
	URL string
	// Version is rspamd's version, such as "3.4".
	Version string

	p process
}

// The config reuses the packaged rules ($CONFDIR/common.conf) and replaces
// everything about the installation: normal workers on a loopback port,
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
  count = %d;
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

// StartRspamd starts rspamd and returns once it answers /ping, which takes
// 10-20 s while it compiles its rules. ctx bounds the start, not the
// daemon's life: Close stops it.
func StartRspamd(ctx context.Context, opts *RspamdOptions) (*Rspamd, error) {
	if opts == nil {
		opts = &RspamdOptions{}
	}
	path, err := lookPath(opts.Path, "rspamd")
	if err != nil {
		return nil, err
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = 1
	}
	d := &Rspamd{p: process{name: "rspamd"}}
	if d.Version, err = version(path); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	d.URL = "http://" + addr
	if d.p.dir, err = os.MkdirTemp("", "spamrun-rspamd-"); err != nil {
		return nil, fmt.Errorf("filterd: %w", err)
	}
	if err := writeRspamdConf(d.p.dir, addr, workers); err != nil {
		d.p.stop()
		return nil, fmt.Errorf("filterd: %w", err)
	}
	dir := d.p.dir
	args := []string{"-f", "-c", filepath.Join(dir, "rspamd.conf"),
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
	if err := d.p.start(path, args, os.Environ()); err != nil {
		d.p.stop()
		return nil, err
	}
	if err := d.p.waitReady(ctx, d.ping); err != nil {
		log := d.Log()
		d.p.stop()
		return nil, fmt.Errorf("%w\n%s", err, tail(log))
	}
	return d, nil
}

func writeRspamdConf(dir, addr string, workers int) error {
	for _, sub := range []string{"local.d", "db", "run", "log"} {
		// Open to all: the workers may run as another user.
		if err := os.Mkdir(filepath.Join(dir, sub), 0o777); err != nil {
			return err
		}
	}
	for _, m := range disabledModules {
		if err := os.WriteFile(filepath.Join(dir, "local.d", m+".conf"), []byte("enabled = false;\n"), 0o666); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "rspamd.conf"), fmt.Appendf(nil, rspamdConf, addr, workers), 0o666)
}

var pingClient = &http.Client{Timeout: 5 * time.Second}

func (d *Rspamd) ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL+"/ping", nil)
	if err != nil {
		return err
	}
	resp, err := pingClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/ping answered %s", resp.Status)
	}
	return nil
}

// Log returns rspamd's standard output and error, then its log file.
func (d *Rspamd) Log() string {
	s := d.p.out.String()
	if d.p.dir != "" {
		b, _ := os.ReadFile(filepath.Join(d.p.dir, "log", "rspamd.log"))
		s += string(b)
	}
	return s
}

// Close stops rspamd and its workers and removes its directory.
func (d *Rspamd) Close() error { return d.p.stop() }
