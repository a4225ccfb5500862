//go:build linux

package spamruntest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PostfixOptions says how StartPostfix sets up its instance.
type PostfixOptions struct {
	// Listen is the "host:port" on which the instance's smtpd listens,
	// a literal IP address: "127.0.0.1:25" inside a network namespace
	// of the test's own. "" takes a free port on 127.0.0.1.
	Listen string
	// Relay is the "host:port" of the next hop to which the instance
	// relays every message (relayhost = [host]:port), such as the Addr
	// of an SMTPSink standing for the remote MX. It is required.
	Relay string
	// RecipientLimit is smtpd_recipient_limit, the recipients smtpd
	// takes in one transaction before it answers "452 4.5.3 Error: too
	// many recipients"; 0 keeps Postfix's default of 1000.
	RecipientLimit int
	// CommandDirectory is the instance's command_directory, from which
	// its sendmail takes postdrop and postqueue and its postfix-script
	// takes postconf, postlog and postsuper: a test that runs copies of
	// the MTA's programs names the directory holding them, and links
	// the rest there. "" keeps the system's, /usr/sbin.
	CommandDirectory string
	// Main holds more main.cf parameters, written after StartPostfix's
	// own so that they replace them: "maximal_queue_lifetime": "1h".
	Main map[string]string
}

// Postfix is a Postfix instance of one test's own: its own
// configuration directory, queue and data directories in the test's
// temporary directory, listening on the address its options give and
// relaying everything from loopback to one next hop. It never touches
// the system's Postfix: not /etc/postfix, not /var/spool/postfix, not
// its master. The test's cleanup stops it.
//
// Root alone may submit to it with Postfix's sendmail (Sendmail): for
// anyone else Postfix's setgid postdrop accepts only the configuration
// directories that /etc/postfix/main.cf lists, and the test does not
// edit that file. Site users reach it over SMTP.
type Postfix struct {
	tb       testing.TB
	addr     string
	dir      string // config_directory
	queueDir string
	logFile  string
	cmdDir   string
	postfix  string // the postfix(1) command
}

// PostfixMessage is one message in the instance's queue, as
// postqueue -j reports it (postqueue(1), "JSON object format").
type PostfixMessage struct {
	// Queue is "maildrop", "incoming", "active", "deferred" or "hold".
	Queue      string             `json:"queue_name"`
	ID         string             `json:"queue_id"`
	Arrival    int64              `json:"arrival_time"` // seconds since the epoch
	Size       int64              `json:"message_size"`
	Sender     string             `json:"sender"`
	Recipients []PostfixRecipient `json:"recipients"`
}

// PostfixRecipient is one recipient of a queued message.
type PostfixRecipient struct {
	Address string `json:"address"`
	// DelayReason says why delivery was deferred, such as "connect to
	// 127.0.0.1[127.0.0.1]:2525: Connection refused"; "" before the
	// first attempt.
	DelayReason string `json:"delay_reason"`
}

// NeedPostfix stops a test that cannot run a Postfix instance of its
// own: it needs root and Postfix's programs. In CI that fails the test,
// elsewhere it skips it.
func NeedPostfix(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		Missing(tb, "root (the test starts a Postfix instance of its own)")
	}
	NeedCommand(tb, "postfix", "postfix")
	NeedCommand(tb, "postconf", "postfix")
	NeedCommand(tb, "postqueue", "postfix")
}

// StartPostfix starts a Postfix instance for tb and waits, up to 30
// seconds, until its smtpd accepts connections. It writes main.cf and
// master.cf in a configuration directory of its own, creates the queue
// and data directories with the owners Postfix requires, and runs
// "postfix -c DIR start". Postfix logs to the file Log reads, which
// tb's log shows when the test fails. A machine without Postfix fails
// the test in CI and skips it elsewhere.
func StartPostfix(tb testing.TB, opts PostfixOptions) *Postfix {
	tb.Helper()
	NeedPostfix(tb)
	if _, _, err := net.SplitHostPort(opts.Relay); err != nil {
		tb.Fatalf("spamruntest: StartPostfix: Relay %q is not host:port: %v", opts.Relay, err)
	}
	p := &Postfix{tb: tb, postfix: NeedCommand(tb, "postfix", "postfix"), cmdDir: opts.CommandDirectory}
	if p.cmdDir == "" {
		out, err := exec.Command("postconf", "-dh", "command_directory").Output()
		if err != nil {
			tb.Fatalf("spamruntest: postconf -dh command_directory: %v", err)
		}
		p.cmdDir = strings.TrimSpace(string(out))
	}
	// With a port of its choosing, another process may take it between
	// the look and the master's bind; a few tries make that harmless.
	tries := 1
	if opts.Listen == "" {
		tries = 3
	}
	var err error
	for range tries {
		p.addr = opts.Listen
		if p.addr == "" {
			port, perr := freePort()
			if perr != nil {
				tb.Fatalf("spamruntest: StartPostfix: %v", perr)
			}
			p.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		}
		if err = p.start(opts); err == nil {
			return p
		}
	}
	tb.Fatalf("spamruntest: StartPostfix: %v", err)
	return nil
}

// start sets up a new instance in a new temporary directory and starts
// it; its cleanup stops it whether or not it started.
func (p *Postfix) start(opts PostfixOptions) error {
	base := p.tb.TempDir()
	p.dir = filepath.Join(base, "etc")
	p.queueDir = filepath.Join(base, "queue")
	data := filepath.Join(base, "data")
	p.logFile = filepath.Join(base, "maillog")
	// The temporary directory is root's, mode 0700: Postfix's daemons
	// chdir into the queue as root before dropping privileges, and the
	// postfix user reaches the data directory through it.
	for _, d := range []string{p.dir, p.queueDir, data} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	for _, d := range []string{base, filepath.Dir(base)} {
		if err := os.Chmod(d, 0o755); err != nil {
			return err
		}
	}
	if err := chownToUser(data, "postfix"); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(p.addr)
	if err != nil {
		return fmt.Errorf("listen address %q is not host:port: %w", p.addr, err)
	}
	relayHost, relayPort, _ := net.SplitHostPort(opts.Relay)
	main := [][2]string{
		{"compatibility_level", "3.6"},
		{"queue_directory", p.queueDir},
		{"data_directory", data},
		{"command_directory", p.cmdDir},
		{"myhostname", "postfix.spamrun.test"},
		{"mydomain", "spamrun.test"},
		{"myorigin", "$myhostname"},
		// Nothing is local: every recipient is relayed, and nothing
		// reaches the system's mailboxes or aliases.
		{"mydestination", ""},
		{"local_recipient_maps", ""},
		{"local_transport", "error:local delivery is disabled in this test instance"},
		{"alias_maps", ""},
		{"alias_database", ""},
		{"relayhost", "[" + relayHost + "]:" + relayPort},
		{"smtp_host_lookup", "dns, native"},
		{"mynetworks", "127.0.0.0/8 [::1]/128"},
		{"smtpd_relay_restrictions", "permit_mynetworks, reject"},
		{"inet_interfaces", host},
		{"inet_protocols", inetProtocols(host, relayHost)},
		{"smtpd_tls_security_level", "none"},
		{"smtp_tls_security_level", "none"},
		// A test waits on what it sent: no delays Postfix adds under
		// load or after errors, and deferred mail is retried within
		// seconds.
		{"in_flow_delay", "0"},
		{"smtpd_error_sleep_time", "0"},
		{"queue_run_delay", "1s"},
		{"minimal_backoff_time", "1s"},
		{"maximal_backoff_time", "10s"},
		{"biff", "no"},
		{"append_dot_mydomain", "no"},
		{"syslog_name", "postfix-spamruntest"},
		{"maillog_file", p.logFile},
		{"maillog_file_prefixes", base},
	}
	if opts.RecipientLimit > 0 {
		main = append(main, [2]string{"smtpd_recipient_limit", strconv.Itoa(opts.RecipientLimit)})
	}
	keys := make([]string, 0, len(opts.Main))
	for k := range opts.Main {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		main = append(main, [2]string{k, opts.Main[k]})
	}
	var mainCF bytes.Buffer
	for _, kv := range main {
		fmt.Fprintf(&mainCF, "%s = %s\n", kv[0], kv[1])
	}
	if err := os.WriteFile(filepath.Join(p.dir, "main.cf"), mainCF.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(p.dir, "master.cf"), []byte(masterCF(p.addr)), 0o644); err != nil {
		return err
	}
	// The cleanup stops this attempt's instance, whose directories a
	// retry on another port replaces in p.
	inst := *p
	p.tb.Cleanup(inst.stop)
	if out, err := p.run(p.postfix, "-c", p.dir, "start"); err != nil {
		return fmt.Errorf("postfix -c %s start: %v: %s\n%s", p.dir, err, out, p.Log())
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postfix started but nothing accepts on %s after 30s: %v\n%s", p.addr, err, p.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// masterCF is the instance's master.cf: the services of Debian's, none of
// them chrooted (the queue is not laid out for it), smtpd on addr only,
// and postlogd for maillog_file.
func masterCF(addr string) string {
	return addr + ` inet n - n - - smtpd
pickup     unix n - n 60    1 pickup
cleanup    unix n - n -     0 cleanup
qmgr       unix n - n 300   1 qmgr
rewrite    unix - - n -     - trivial-rewrite
bounce     unix - - n -     0 bounce
defer      unix - - n -     0 bounce
trace      unix - - n -     0 bounce
verify     unix - - n -     1 verify
flush      unix n - n 1000? 0 flush
proxymap   unix - - n -     - proxymap
proxywrite unix - - n -     1 proxymap
smtp       unix - - n -     - smtp
relay      unix - - n -     - smtp
showq      unix n - n -     - showq
error      unix - - n -     - error
retry      unix - - n -     - error
discard    unix - - n -     - discard
anvil      unix - - n -     1 anvil
scache     unix - - n -     1 scache
postlog    unix-dgram n - n - 1 postlogd
`
}

// inetProtocols is inet_protocols for the listening and relay hosts:
// only the families they use, so that a namespace without IPv6 works.
func inetProtocols(hosts ...string) string {
	var v4, v6 bool
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil && ip.To4() == nil {
			v6 = true
		} else {
			v4 = true
		}
	}
	switch {
	case v4 && v6:
		return "all"
	case v6:
		return "ipv6"
	}
	return "ipv4"
}

func chownToUser(path, login string) error {
	out, err := exec.Command("chown", login+":", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("chown %s: %v: %s", path, err, out)
	}
	return nil
}

// run runs a program to completion, its output combined, with a bound.
func (p *Postfix) run(program string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return exec.CommandContext(ctx, program, args...).CombinedOutput()
}

// stop stops the instance, at tb's cleanup: "postfix stop", then, if the
// master has not gone within ten seconds, SIGKILL to its process group.
// The test's log shows the mail log when the test failed.
func (p *Postfix) stop() {
	pid := p.masterPID()
	if pid > 0 {
		p.run(p.postfix, "-c", p.dir, "stop")
		if !waitGone(pid, 10*time.Second) {
			syscall.Kill(-pid, syscall.SIGKILL)
			if !waitGone(pid, 5*time.Second) {
				p.tb.Errorf("spamruntest: the Postfix master %d of %s does not end", pid, p.dir)
			}
		}
	}
	if p.tb.Failed() {
		p.tb.Logf("Postfix instance %s, its mail log:\n%s", p.dir, p.Log())
	}
}

// masterPID is the master's process ID from its pid file; 0 when there
// is none.
func (p *Postfix) masterPID() int {
	b, err := os.ReadFile(filepath.Join(p.queueDir, "pid", "master.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// waitGone waits up to d for process pid to end. A master Postfix has
// daemonized is no child of the test, and may stay a zombie where no
// process reaps orphans: that counts as ended.
func waitGone(pid int, d time.Duration) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		// The state follows the command name, which is in parentheses.
		if i := bytes.LastIndex(stat, []byte(") ")); i >= 0 && bytes.HasPrefix(stat[i+2:], []byte("Z")) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// Addr returns the host:port on which the instance's smtpd listens.
func (p *Postfix) Addr() string { return p.addr }

// ConfigDir returns the instance's configuration directory, for the -c
// of Postfix's commands and the -C of its sendmail.
func (p *Postfix) ConfigDir() string { return p.dir }

// QueueDir returns the instance's queue_directory.
func (p *Postfix) QueueDir() string { return p.queueDir }

// Log returns the instance's mail log so far.
func (p *Postfix) Log() string {
	b, _ := os.ReadFile(p.logFile)
	return string(b)
}

// Sendmail returns a command that runs Postfix's sendmail at path with
// "-C" and the instance's configuration directory before args, so that
// what it submits goes into this instance's queue through the postdrop
// of the instance's command directory. path "" is the sendmail of that
// directory. The command runs as the test, which must be root (see
// Postfix).
func (p *Postfix) Sendmail(ctx context.Context, path string, args ...string) *exec.Cmd {
	if path == "" {
		path = filepath.Join(p.cmdDir, "sendmail")
	}
	return exec.CommandContext(ctx, path, append([]string{"-C", p.dir}, args...)...)
}

// Queue returns the messages in the instance's queue (postqueue -j):
// those not yet delivered, deferred or held. It fails the test if
// postqueue does.
func (p *Postfix) Queue() []PostfixMessage {
	p.tb.Helper()
	out, err := p.run(filepath.Join(p.cmdDir, "postqueue"), "-c", p.dir, "-j")
	if err != nil {
		p.tb.Fatalf("spamruntest: postqueue -c %s -j: %v: %s", p.dir, err, out)
	}
	var msgs []PostfixMessage
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m PostfixMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			p.tb.Fatalf("spamruntest: postqueue -j printed %q: %v", sc.Bytes(), err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// Flush makes the instance try every queued message again at once
// (postqueue -f), as after the next hop comes back.
func (p *Postfix) Flush() {
	p.tb.Helper()
	if out, err := p.run(filepath.Join(p.cmdDir, "postqueue"), "-c", p.dir, "-f"); err != nil {
		p.tb.Fatalf("spamruntest: postqueue -c %s -f: %v: %s", p.dir, err, out)
	}
}
