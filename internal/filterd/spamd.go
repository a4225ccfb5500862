package filterd

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// SpamdOptions changes how StartSpamd runs spamd; nil means the defaults.
type SpamdOptions struct {
	// Path is the spamd program; "spamd" from $PATH when empty.
	Path string
	// MaxChildren is how many messages spamd checks at once; 2 when zero,
	// enough for a test and a retry. Each child holds the rules, some
	// 100 MB.
	MaxChildren int
}

// Spamd is a running spamd, listening on a loopback port with SpamAssassin's
// network tests off (--local) and no user configuration.
type Spamd struct {
	// Addr is the host:port spamd listens on, as spamassassin.Scorer
	// takes it.
	Addr string
	// Version is SpamAssassin's version, such as "4.0.1".
	Version string

	p process
}

// StartSpamd starts spamd and returns once it has checked a message, which
// shows that its rules are loaded and a child is serving; that takes a
// second or more. ctx bounds the start, not the daemon's life: Close stops
// it.
func StartSpamd(ctx context.Context, opts *SpamdOptions) (*Spamd, error) {
	if opts == nil {
		opts = &SpamdOptions{}
	}
	path, err := lookPath(opts.Path, "spamd")
	if err != nil {
		return nil, err
	}
	children := opts.MaxChildren
	if children <= 0 {
		children = 2
	}
	d := &Spamd{p: process{name: "spamd"}}
	if d.Version, err = version(path); err != nil {
		return nil, err
	}
	if d.Addr, err = freeAddr(); err != nil {
		return nil, err
	}
	if d.p.dir, err = os.MkdirTemp("", "spamrun-spamd-"); err != nil {
		return nil, fmt.Errorf("filterd: %w", err)
	}
	// spamd may drop to nobody, which must be able to read its home.
	if err := os.Chmod(d.p.dir, 0o755); err != nil {
		d.p.stop()
		return nil, fmt.Errorf("filterd: %w", err)
	}
	args := []string{
		"--listen", d.Addr,
		"--local", // no DNS or network tests: results must not depend on the Internet
		"--max-children", strconv.Itoa(children),
		"--min-children", strconv.Itoa(children), // all ready before the first message
		"--nouser-config", // nothing read from or written to a home directory
		"--syslog", "stderr",
		"--pidfile", filepath.Join(d.p.dir, "spamd.pid"),
	}
	if os.Geteuid() == 0 {
		// spamd refuses to run its children as root.
		args = append(args, "--username", "nobody")
	}
	env := append(os.Environ(), "HOME="+d.p.dir, "LANG=C", "LC_ALL=C")
	if err := d.p.start(path, args, env); err != nil {
		d.p.stop()
		return nil, err
	}
	if err := d.p.waitReady(ctx, d.check); err != nil {
		log := d.Log()
		d.p.stop()
		return nil, fmt.Errorf("%w\n%s", err, tail(log))
	}
	return d, nil
}

// check asks spamd to check a one-line message and expects EX_OK.
func (d *Spamd) check(ctx context.Context) error {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", d.Addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline := time.Now().Add(30 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	conn.SetDeadline(deadline)
	const msg = "Subject: ping\r\n\r\nping\r\n"
	if _, err := fmt.Fprintf(conn, "CHECK SPAMC/1.5\r\nContent-length: %d\r\n\r\n%s", len(msg), msg); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "SPAMD/") || !strings.Contains(line, " EX_OK") {
		return fmt.Errorf("spamd answered %q", strings.TrimSpace(line))
	}
	return nil
}

// Log returns what spamd has written to its standard output and error.
func (d *Spamd) Log() string { return d.p.out.String() }

// Close stops spamd and its children and removes its directory.
func (d *Spamd) Close() error { return d.p.stop() }

// tail returns the end of a log, enough to show why a daemon failed.
func tail(log string) string {
	const n = 4000
	if len(log) > n {
		log = "…" + log[len(log)-n:]
	}
	return log
}
