// Command demo plays a spam run through spamrun with real processes.
//
// A web shop, shop1.example, sends its order confirmations with PHP's
// mail(), that is `sendmail -t -i -f...`, while a spammer abuses its
// unprotected guestbook to mail pharmacy, casino, crypto and loan links to
// strangers from the same website. The demo builds spamrun's sendmail and
// spamrun binaries, writes a configuration in a temporary directory that
// names the current user's website "shop1", starts an SMTP server on
// loopback to stand in for the host's MTA, starts the daemon that runs the
// queue and serves metrics (`spamrun serve`), and runs one sendmail process
// per message, several at a time. It shows the held spam, the trip at the eleventh spam-marked
// message within the hour, sendmail refusing the website from then on, the
// DSNs returned to the shop's own address and relayed by the runner, the
// notices that tell the shop's owner and the host's operator what
// happened, and the accounting: every accepted message relayed, bounced or
// kept, and none of the spam relayed.
//
//	go run ./examples/demo
//
// It needs Go and loopback networking; not root, not a real MTA.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jhillyerd/enmime/v2"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/config"
	"github.com/spamrun/spamrun/internal/host"
	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"

	"github.com/spamrun/spamrun/internal/syncbuf"
)

func main() {
	html := flag.String("html", filepath.Join(os.TempDir(), "spamrun-demo-incident.html"), "write the incident report, an HTML page, to `FILE`")
	flag.Parse()
	if err := run(os.Stdout, *html); err != nil {
		fmt.Fprintln(os.Stderr, "demo: FAILED:", err)
		os.Exit(1)
	}
}

const (
	hostname     = "web1.example.net"
	article      = "https://support.example.net/spam-run"
	siteName     = "shop1"
	siteDomain   = "shop1.example"
	orderSender  = "orders@shop1.example"
	spamSender   = "noreply@shop1.example"
	forgedSender = "victim@mail.example"
	shopOwner    = "owner@shopkeeper.example" // [sites.shop1] contact
	operator     = "ops@example.net"          // [notify] operator
	maxSpam      = 10
	parallel     = 3 // sendmail processes at a time, as a busy PHP-FPM pool runs them

	// commandTimeout bounds one sendmail or spamrun status run: a hung
	// process fails the demo rather than stalling it.
	commandTimeout = 30 * time.Second
)

// forged are the entries of the run whose -f the spammer set, through a
// form field the script passes on, to a stranger's address: a DSN there
// would be backscatter.
var forged = map[int]bool{4: true, 8: true}

// demo is one run of the story.
type demo struct {
	out      io.Writer
	dir      string
	sendmail string // the sendmail front
	socket   string // spamrun serve's sendmail socket
	spamrun  string
	config   string
	sink     *spamruntest.SMTPSink // the relay
	spool    *spool.Spool
	uid      int

	docroot string // the website's directory, the caller's cwd sendmail records
	html    string // where the incident report goes

	runner     *exec.Cmd
	runnerLog  *syncbuf.Buffer
	runnerDone chan error
	metrics    string // the address of spamrun serve's /metrics
	listener   string // and of its SMTP listener, for sites that send by SMTP

	results []result
}

// result is what one sendmail run did.
type result struct {
	msg    message
	code   int
	stderr string
}

func run(stdout io.Writer, html string) error {
	d := &demo{out: stdout, uid: os.Getuid(), html: html}
	dir, err := os.MkdirTemp("", "spamrun-demo-")
	if err != nil {
		return err
	}
	d.dir = dir
	defer func() {
		d.stopRunner()
		if d.sink != nil {
			d.sink.Close()
		}
		os.RemoveAll(dir)
	}()
	if err := d.setUp(); err != nil {
		return err
	}
	// sendmail records the working directory of the process that ran it,
	// as PHP-FPM's is the script's directory: the demo works from the
	// shop's document root.
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	if err := os.Chdir(d.docroot); err != nil {
		return err
	}
	defer os.Chdir(wd)
	if err := d.play(); err != nil {
		if log := d.runnerLog.String(); log != "" {
			err = fmt.Errorf("%w\nthe queue runner's log:\n%s", err, indent(log, "  "))
		}
		return err
	}
	return nil
}

func (d *demo) printf(format string, args ...any) { fmt.Fprintf(d.out, format, args...) }

// setUp builds the binaries, starts the relay, writes the configuration
// and starts the queue runner.
func (d *demo) setUp() error {
	d.printf("spamrun demo: a spam run from a web shop, told by real sendmail processes\n\n")
	d.printf("Setting up in %s\n", d.dir)
	start := time.Now()
	if err := d.build(); err != nil {
		return err
	}
	d.printf("  built the sendmail front, the full sendmail and spamrun with go build (%.1fs)\n", time.Since(start).Seconds())

	var err error
	if d.sink, err = spamruntest.StartSMTPSink(); err != nil {
		return fmt.Errorf("starting the relay: %w", err)
	}
	d.printf("  the relay: an SMTP server on %s standing in for the host's MTA\n", d.sink.Addr())

	if d.metrics, err = spamruntest.UnusedAddr(); err != nil {
		return err
	}
	if d.listener, err = spamruntest.UnusedAddr(); err != nil {
		return err
	}
	owner, err := d.writeConfig()
	if err != nil {
		return err
	}
	d.printf("  %s: website %q is %s, owns %s; bounces go only there\n", filepath.Base(d.config), siteName, owner, siteDomain)
	d.printf("  notices of a trip go to the shop's owner <%s> and the operator <%s>\n", shopOwner, operator)
	d.printf("  policy: spam score 5; more than %d spam-marked messages within 1h trips the site; spam-marked mail is held 15m\n", maxSpam)

	if d.spool, err = spool.Open(filepath.Join(d.dir, "spool")); err != nil {
		return err
	}
	d.docroot = filepath.Join(d.dir, "www", siteName)
	if err := os.MkdirAll(d.docroot, 0o755); err != nil {
		return err
	}
	if err := d.seedHistory(); err != nil {
		return err
	}
	d.printf("  the shop has sent mail for six weeks: order confirmations from class-wc-emails.php, and\n")
	d.printf("  copies of guestbook entries from guestbook.php (recorded in the state store, as sendmail does)\n")
	if err := d.startRunner(); err != nil {
		return err
	}
	d.printf("  the daemon: spamrun serve, pid %d: the queue runner, and Prometheus metrics on http://%s/metrics\n", d.runner.Process.Pid, d.metrics)
	d.printf("  every message is one process, `sendmail -t -i -f<sender>`, as PHP's mail() runs it: the\n")
	d.printf("  sendmail front, which hands the message to spamrun serve on %s\n", filepath.Base(d.socket))
	return nil
}

// build compiles both programs of the module the demo is part of.
func (d *demo) build() error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w (the demo needs the Go toolchain)", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return errors.New("not inside the spamrun module: run the demo from its checkout, go run ./examples/demo")
	}
	mod, err := os.ReadFile(gomod)
	if err != nil {
		return err
	}
	if !regexp.MustCompile(`(?m)^module\s+github\.com/spamrun/spamrun\s*$`).Match(mod) {
		return fmt.Errorf("%s is not spamrun's: run the demo from spamrun's checkout, go run ./examples/demo", gomod)
	}
	bin := filepath.Join(d.dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		return err
	}
	// The front finds the full sendmail beside it under its installed
	// name, as /usr/sbin/sendmail finds /usr/sbin/spamrun-sendmail.
	for _, b := range []struct{ out, pkg string }{
		{"spamrun-sendmail-front", "./sendmail/front"},
		{"spamrun-sendmail", "./sendmail"},
		{"spamrun", "./cmd/spamrun"},
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, b.out), b.pkg)
		cmd.Dir = filepath.Dir(gomod)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s in %s: %w\n%s", b.pkg, cmd.Dir, err, out)
		}
	}
	d.sendmail, d.spamrun = filepath.Join(bin, "spamrun-sendmail-front"), filepath.Join(bin, "spamrun")
	d.socket = filepath.Join(d.dir, "sendmail.sock")
	return nil
}

// writeConfig writes spamrun.toml and returns who the website is.
func (d *demo) writeConfig() (string, error) {
	// sendmail knows the website by the real UID it runs as: the demo's.
	owner := fmt.Sprintf("uid = %d", d.uid)
	who := fmt.Sprintf("UID %d", d.uid)
	if u, err := user.Current(); err == nil && u.Username != "" {
		owner = fmt.Sprintf("user = %q", u.Username)
		who = fmt.Sprintf("user %s (UID %s)", u.Username, u.Uid)
	}
	cfg := fmt.Sprintf(`state_dir   = %q
spool_dir   = %q
article_url = %q
hostname    = %q
syslog      = false
egress      = "off"

[relay]
smtp     = %q
starttls = "off"
timeout  = "10s"

[smtpd]
listen = [%q]
sendmail_socket = %q

[metrics]
listen = %q

[policy]
spam_score = 5.0
max_spam   = %d
window     = "1h"
hold_for   = "15m"

[notify]
operator = [%q]

[sites.%s]
%s
domains = [%q]
contact = [%q]
`, filepath.Join(d.dir, "state"), filepath.Join(d.dir, "spool"), article, hostname, d.sink.Addr(), d.listener, d.socket, d.metrics, maxSpam, operator, siteName, owner, siteDomain, shopOwner)
	d.config = filepath.Join(d.dir, "spamrun.toml")
	return who, os.WriteFile(d.config, []byte(cfg), 0o640)
}

func (d *demo) env() []string {
	return append(os.Environ(), "SPAMRUN_CONFIG="+d.config, "SPAMRUN_SENDMAIL_SOCKET="+d.socket)
}

// startRunner starts spamrun serve, whose queue runner relays and whose
// metrics the operator reads, and waits until it listens for sendmail's
// wake-ups, so that none is lost.
func (d *demo) startRunner() error {
	d.runnerLog = &syncbuf.Buffer{}
	cmd := exec.Command(d.spamrun, "serve", "-v")
	cmd.Env = d.env()
	cmd.Stdout, cmd.Stderr = d.runnerLog, d.runnerLog
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting spamrun serve: %w", err)
	}
	d.runner, d.runnerDone = cmd, make(chan error, 1)
	go func() { d.runnerDone <- cmd.Wait() }()
	wake := filepath.Join(d.spool.Dir(), "wake")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(wake); err == nil {
			return nil
		}
		select {
		case err := <-d.runnerDone:
			d.runner = nil
			return fmt.Errorf("spamrun serve exited at once (%v):\n%s", err, d.runnerLog.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("spamrun serve did not listen on %s within 10s:\n%s", wake, d.runnerLog.String())
		}
	}
}

// stopRunner stops the queue runner as systemd does, with SIGTERM, and
// reports how it ended.
func (d *demo) stopRunner() error {
	if d.runner == nil {
		return nil
	}
	cmd := d.runner
	d.runner = nil
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.runnerDone:
		if err != nil {
			return fmt.Errorf("spamrun serve ended with %v after SIGTERM", err)
		}
		return nil
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-d.runnerDone
		return errors.New("spamrun serve did not stop within 10s of SIGTERM; killed")
	}
}

// play is the story.
func (d *demo) play() error {
	now := time.Now()
	orders, spam := 0, 0
	nextOrder := func() message {
		orders++
		return orderConfirmation(orders-1, 10000+orders, d.uid, now)
	}
	nextSpam := func() message {
		spam++
		sender := spamSender
		if forged[spam] {
			sender = forgedSender
		}
		return guestbookSpam(spam, sender, d.uid)
	}

	d.printf("\n1. Business as usual: the shop confirms 6 orders\n")
	var batch []message
	for range 6 {
		batch = append(batch, nextOrder())
	}
	if err := d.submit(batch, 0); err != nil {
		return err
	}

	d.printf("\n2. A spammer finds the guestbook: its entries go out between the orders\n")
	batch = nil
	for range 5 {
		batch = append(batch, nextOrder(), nextSpam(), nextSpam())
	}
	if err := d.submit(batch, 0); err != nil {
		return err
	}
	held, err := d.settled()
	if err != nil {
		return err
	}
	d.printf("   The queue holds %d spam-marked messages for 15 minutes; none has reached the relay.\n", len(held))
	if len(held) != maxSpam {
		return fmt.Errorf("%d messages in the queue, the story needs the %d spam-marked ones held", len(held), maxSpam)
	}

	d.printf("\n3. Guestbook entry %d is the %s spam-marked message within the hour: the site trips\n", spam+1, ordinal(maxSpam+1))
	tripped := time.Now()
	if err := d.submit([]message{nextSpam()}, 69); err != nil {
		return err
	}
	trip := d.results[len(d.results)-1]
	if !strings.Contains(trip.stderr, article) {
		return fmt.Errorf("the refusal does not link %s: %q", article, trip.stderr)
	}
	d.printf("   sendmail exits 69, and PHP's mail() returns false; its standard error:\n     %s\n", strings.TrimSpace(trip.stderr))
	q, err := d.spool.Quarantine()
	if err != nil {
		return err
	}
	bounced, kept := map[string]int{}, map[string]int{}
	for _, e := range q {
		switch {
		case e.Kind == "" && e.State == spool.Bounced:
			bounced[e.Sender]++
		case e.Kind == "" && e.State == spool.Quarantined:
			kept[e.Sender]++
		}
	}
	d.printf("   The refused sendmail returned the site's queue before it exited:\n")
	for _, s := range slices.Sorted(maps.Keys(bounced)) {
		d.printf("     %d held messages from <%s>: a DSN each, queued for the runner\n", bounced[s], s)
	}
	for _, s := range slices.Sorted(maps.Keys(kept)) {
		d.printf("     %d held messages from <%s>: kept in quarantine, a DSN there would be backscatter\n", kept[s], s)
	}

	d.printf("\n4. The website keeps sending; sendmail refuses all of it until the operator runs `spamrun enable %s`\n", siteName)
	batch = []message{nextOrder(), nextSpam(), nextOrder(), nextSpam()}
	if err := d.submit(batch, 69); err != nil {
		return err
	}

	d.printf("\n5. The queue runner, woken by the refused sendmail, relays the DSNs and the notices\n")
	if err := d.waitForDSNs(15 * time.Second); err != nil {
		return err
	}
	dsns := d.dsns()
	d.printf("   %d DSNs relayed with MAIL FROM:<>, all within %.1fs of the trip (the runner's log: %d × action=relayed dsn)\n",
		len(dsns), time.Since(tripped).Seconds(), strings.Count(d.runnerLog.String(), "action=relayed dsn"))
	if len(dsns) > 0 {
		d.showDSN(dsns[0])
	}
	if err := d.showNotices(); err != nil {
		return err
	}
	if err := d.watch(); err != nil {
		return err
	}

	acct, err := d.account()
	if err != nil {
		return err
	}
	d.status()
	if err := d.stopRunner(); err != nil {
		return err
	}
	d.printf("\nThe queue runner stopped on SIGTERM.\n")
	if problems := acct.check(); len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	d.printf("OK: nothing of the spam run was relayed, and every accepted message is accounted for.\n")
	return d.incidentReport()
}

// seedHistory records six weeks of the shop's ordinary mail in the state
// store, as sendmail records every accepted message, so that the
// incident report can tell a long-standing script from a new one.
func (d *demo) seedHistory() error {
	cfg, err := config.Load(d.config)
	if err != nil {
		return err
	}
	h, err := host.Open(cfg, nil)
	if err != nil {
		return err
	}
	defer h.Close()
	if h.Scripts == nil {
		return fmt.Errorf("the state store keeps no script history: %v", h.StoreErr)
	}
	ctx := context.Background()
	start := time.Now().AddDate(0, 0, -42)
	for day := range 42 {
		for i, script := range []string{"class-wc-emails.php", "class-wc-emails.php", "class-wc-emails.php", "guestbook.php"} {
			at := start.AddDate(0, 0, day).Add(time.Duration(9+3*i) * time.Hour)
			sub := spamrun.Submission{Time: at, Script: fmt.Sprintf("%d:%s", d.uid, script), Cwd: d.docroot}
			if err := h.Scripts.RecordScript(ctx, siteName, sub); err != nil {
				return err
			}
		}
	}
	return nil
}

// incidentReport shows the operator's report of the trip and writes it
// as an HTML page.
func (d *demo) incidentReport() error {
	out, err := d.spamrunCmd("incidents", "--json")
	if err != nil {
		return err
	}
	var incs []struct{ ID string }
	if err := json.Unmarshal(out, &incs); err != nil || len(incs) != 1 {
		return fmt.Errorf("spamrun incidents --json: %v: %s", err, out)
	}
	text, err := d.spamrunCmd("incidents", "show", incs[0].ID)
	if err != nil {
		return err
	}
	verdict, _, _ := strings.Cut(string(text), "\nThe run:")
	d.printf("\n8. Why? spamrun incidents show %s\n%s\n", incs[0].ID, indent(strings.TrimSpace(verdict), "   "))
	if _, err := d.spamrunCmd("incidents", "show", "--html", d.html, incs[0].ID); err != nil {
		return err
	}
	d.printf("\nThe incident report, with a timeline of the run: %s\n", d.html)
	return nil
}

// spamrunCmd runs the operator's command and returns its output.
func (d *demo) spamrunCmd(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.spamrun, args...)
	cmd.Env = d.env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("spamrun %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// submit runs one sendmail process per message, parallel at a time, and
// prints what became of each, in the order given. want is the exit status
// every run must have; 0 means accepted, then relayed or held.
func (d *demo) submit(msgs []message, want int) error {
	results := make([]result, len(msgs))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, m := range msgs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = d.sendmailRun(m)
		}()
	}
	wg.Wait()
	queue, err := d.spool.List()
	if err != nil {
		return err
	}
	for _, r := range results {
		d.results = append(d.results, r)
		m := r.msg
		what := ""
		switch {
		case r.code == 0:
			what = d.fate(m, queue)
		case r.code == 69:
			what = "refused"
		default:
			what = "failed: " + strings.TrimSpace(r.stderr)
		}
		d.printf("   %-19s -f %-22s to %-28s exit %-2d  %s\n", m.label(), m.sender, m.to, r.code, what)
		if r.code != want {
			return fmt.Errorf("sendmail for %s exited %d, the story needs %d: %s", m.label(), r.code, want, strings.TrimSpace(r.stderr))
		}
		if want == 0 {
			ok := what == "relayed"
			if m.kind == kindSpam {
				ok = strings.HasPrefix(what, "held")
			}
			if !ok {
				return fmt.Errorf("%s: %s; the story needs orders relayed and spam held", m.label(), what)
			}
		}
	}
	return nil
}

// sendmailRun is what PHP's mail() does: start sendmail, write the message
// to it, wait for its exit status.
func (d *demo) sendmailRun(m message) result {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.sendmail, "-t", "-i", "-f"+m.sender)
	cmd.Env = d.env()
	cmd.Stdin = bytes.NewReader(m.raw)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		code = -1
		fmt.Fprintf(&stderr, "sendmail did not finish within %v", commandTimeout)
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		code = -1
		stderr.WriteString(err.Error())
	}
	return result{msg: m, code: code, stderr: stderr.String()}
}

// fate says what became of an accepted message: held or queued, as the
// queue has it, or relayed. A sendmail that found its message locked by
// the queue runner leaves the relaying to the runner, so the relay gets a
// moment.
func (d *demo) fate(m message, queue []*spool.Entry) string {
	for _, e := range queue {
		if e.Kind == "" && slices.Contains(e.Recipients, m.to) && e.State == spool.Held {
			return fmt.Sprintf("held, score %4.1f: %s", e.Score.Value, topRules(e, 3))
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, r := range d.sink.Messages() {
			if r.From != "" && slices.Contains(r.To, m.to) {
				return "relayed"
			}
		}
		if time.Now().After(deadline) {
			return "accepted, but neither held nor relayed"
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// queued returns the submitted messages still in the queue.
func (d *demo) queued() ([]*spool.Entry, error) {
	q, err := d.spool.List()
	var msgs []*spool.Entry
	for _, e := range q {
		if e.Kind == "" {
			msgs = append(msgs, e)
		}
	}
	return msgs, err
}

// settled returns the submitted messages in the queue once only held ones
// are left: spamrun serve relays a message the front handed it after the
// front has exited, and removes it from the spool a moment after the relay
// took it. It gives up after five seconds and returns what is there.
func (d *demo) settled() ([]*spool.Entry, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		q, err := d.queued()
		if err != nil || time.Now().After(deadline) || !slices.ContainsFunc(q, func(e *spool.Entry) bool { return e.State != spool.Held }) {
			return q, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitForDSNs waits until the runner has relayed every DSN and notice in
// the queue.
func (d *demo) waitForDSNs(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		q, err := d.spool.List()
		if err != nil {
			return err
		}
		left := 0
		for _, e := range q {
			if e.Kind == spool.KindDSN || e.Kind == spool.KindNotice {
				left++
			}
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d DSNs and notices still in the queue %v after the trip: the queue runner did not relay them", left, timeout)
		}
		select {
		case err := <-d.runnerDone:
			d.runner = nil
			return fmt.Errorf("the queue runner exited (%v) with %d DSNs and notices in the queue", err, left)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// dsns returns the DSNs the relay received: the messages with the null
// sender that are no notices.
func (d *demo) dsns() []spamruntest.SinkMessage {
	var out []spamruntest.SinkMessage
	for _, m := range d.sink.Messages() {
		if m.From == "" && !isNotice(m) {
			out = append(out, m)
		}
	}
	return out
}

// isNotice tells a notice of the incident from a DSN: both come from the
// null sender, but only a notice names its incident in the header.
func isNotice(m spamruntest.SinkMessage) bool {
	header, _, _ := bytes.Cut(m.Data, []byte("\r\n\r\n"))
	return m.From == "" && bytes.Contains(header, []byte("\r\nX-Spamrun-Incident: "))
}

// showNotices prints the notices the relay received, as their readers
// find them: who, what, and how it begins.
func (d *demo) showNotices() error {
	var notices []spamruntest.SinkMessage
	for _, m := range d.sink.Messages() {
		if isNotice(m) {
			notices = append(notices, m)
		}
	}
	if len(notices) != 2 {
		return fmt.Errorf("the relay got %d notices of the trip, the story needs one for the shop's owner and one for the operator", len(notices))
	}
	// The owner's first.
	slices.SortStableFunc(notices, func(a, b spamruntest.SinkMessage) int {
		return strings.Compare(strings.Join(b.To, ","), strings.Join(a.To, ","))
	})
	d.printf("\n6. The shop's owner and the operator are told, each once, from <> like the DSNs\n")
	for i, m := range notices {
		if i > 0 {
			d.printf("\n")
		}
		env, err := enmime.ReadEnvelope(bytes.NewReader(m.Data))
		if err != nil {
			return fmt.Errorf("a notice does not parse: %w", err)
		}
		for _, h := range []string{"From", "To", "Subject"} {
			d.printf("     %s: %s\n", h, env.GetHeader(h))
		}
		lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(env.Text, "\r\n", "\n")), "\n")
		d.printf("     |\n")
		for i, l := range lines {
			if i == 10 {
				d.printf("     | ...\n")
				break
			}
			d.printf("%s\n", strings.TrimRight("     | "+l, " "))
		}
		for _, a := range env.Attachments {
			d.printf("     attached: %s (%s, %d bytes)\n", a.FileName, a.ContentType, len(a.Content))
		}
	}
	return nil
}

// showDSN prints what the shop's owner reads first in a DSN, and what it
// is made of.
func (d *demo) showDSN(m spamruntest.SinkMessage) {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		d.printf("   (the first DSN does not parse: %v)\n", err)
		return
	}
	d.printf("   The first, as the shop's owner gets it:\n")
	for _, h := range []string{"From", "To", "Subject", "Auto-Submitted"} {
		d.printf("     %s: %s\n", h, msg.Header.Get(h))
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var parts []string
	for i := 0; ; i++ {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		body, _ := io.ReadAll(p)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch {
		case i == 0:
			// The explanation, up to the advice and the link.
			d.printf("     |\n")
			for _, l := range strings.Split(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n") {
				if strings.HasPrefix(l, "What to do") {
					d.printf("     | ...\n")
					break
				}
				d.printf("%s\n", strings.TrimRight("     | "+l, " "))
			}
			d.printf("     | More information: %s\n", article)
		case ct == "message/delivery-status":
			for _, l := range strings.Split(string(body), "\n") {
				if strings.HasPrefix(l, "Status:") {
					ct += " (" + strings.TrimSpace(l) + ")"
					break
				}
			}
		case ct == "text/rfc822-headers":
			ct += " (the original's header; never the spam itself)"
		}
		parts = append(parts, ct)
	}
	d.printf("     parts: %s\n", strings.Join(parts, ", "))
}

// accounting is the end of the story in numbers.
type accounting struct {
	accepted, refused          int
	relayedOrders, relayedSpam int
	bounced, kept, queued      int
	dsns                       int
	dsnTo                      map[string]int
	unaccounted                []string
}

func (a *accounting) relayed() int { return a.relayedOrders + a.relayedSpam }

// account counts what became of every message, from the relay's and the
// spool's side, and prints the table.
func (d *demo) account() (*accounting, error) {
	a := &accounting{dsnTo: map[string]int{}}
	relayed := map[string]int{}
	for _, m := range d.sink.Messages() {
		if isNotice(m) {
			continue
		}
		if m.From == "" {
			a.dsns++
			for _, to := range m.To {
				a.dsnTo[to]++
			}
			continue
		}
		for _, to := range m.To {
			relayed[to]++
		}
	}
	q, err := d.spool.Quarantine()
	if err != nil {
		return nil, err
	}
	final := map[string]spool.State{}
	for _, e := range q {
		if e.Kind != "" {
			continue
		}
		for _, to := range e.Recipients {
			final[to] = e.State
		}
		if e.State == spool.Bounced {
			a.bounced++
		} else {
			a.kept++
		}
	}
	left, err := d.settled()
	if err != nil {
		return nil, err
	}
	a.queued = len(left)
	for _, r := range d.results {
		if r.code != 0 {
			a.refused++
			continue
		}
		a.accepted++
		switch {
		case relayed[r.msg.to] > 0 && r.msg.kind == kindSpam:
			a.relayedSpam++
		case relayed[r.msg.to] > 0:
			a.relayedOrders++
		case final[r.msg.to] == "":
			a.unaccounted = append(a.unaccounted, r.msg.label())
		}
	}

	d.printf("\nAccounting\n")
	d.printf("   sendmail runs        %3d\n", a.accepted+a.refused)
	d.printf("   accepted (exit 0)    %3d = %d relayed + %d bounced + %d kept + %d still queued\n", a.accepted, a.relayed(), a.bounced, a.kept, a.queued)
	d.printf("   refused (exit 69)    %3d\n", a.refused)
	d.printf("   orders relayed       %3d\n", a.relayedOrders)
	d.printf("   spam relayed         %3d   (hold mode: the run was caught before any of it left)\n", a.relayedSpam)
	d.printf("   DSNs relayed         %3d   to %s\n", a.dsns, countList(a.dsnTo))
	return a, nil
}

// check returns what is off, if anything.
func (a *accounting) check() []string {
	var p []string
	if sum := a.relayed() + a.bounced + a.kept + a.queued; a.accepted != sum {
		p = append(p, fmt.Sprintf("%d messages accepted, but %d relayed, bounced, kept or queued", a.accepted, sum))
	}
	if a.queued != 0 {
		p = append(p, fmt.Sprintf("%d accepted messages are still in the queue", a.queued))
	}
	if len(a.unaccounted) > 0 {
		p = append(p, "neither relayed nor in quarantine: "+strings.Join(a.unaccounted, ", "))
	}
	if a.relayedSpam != 0 {
		p = append(p, fmt.Sprintf("%d spam messages reached the relay", a.relayedSpam))
	}
	if a.dsns != a.bounced {
		p = append(p, fmt.Sprintf("%d messages bounced, but %d DSNs reached the relay", a.bounced, a.dsns))
	}
	for to := range a.dsnTo {
		if !strings.HasSuffix(strings.ToLower(to), "@"+siteDomain) {
			p = append(p, fmt.Sprintf("a DSN went to <%s>, which %s does not own", to, siteName))
		}
	}
	return p
}

// status shows the operator's view, where this spamrun has it.
func (d *demo) status() {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.spamrun, "status")
	cmd.Env = d.env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 64 && strings.Contains(stderr.String(), "unknown command") {
		return
	}
	d.printf("\nThe operator's view, spamrun status:\n")
	if stdout.Len() > 0 {
		d.printf("%s", indent(stdout.String(), "   "))
	}
	if err != nil {
		d.printf("   (spamrun status: %v %s)\n", err, strings.TrimSpace(stderr.String()))
	}
}

func topRules(e *spool.Entry, n int) string {
	var names []string
	for _, r := range e.Score.Top(n) {
		names = append(names, r.Name)
	}
	return strings.Join(names, ", ")
}

func countList(m map[string]int) string {
	if len(m) == 0 {
		return "nobody"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("<%s> (%d)", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return strconv.Itoa(n) + suffix
}

func indent(s, prefix string) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		b.WriteString(prefix + sc.Text() + "\n")
	}
	return b.String()
}

// watch shows what the operator sees without a shell on the web node:
// spamrun top, and what Prometheus scrapes from spamrun serve.
func (d *demo) watch() error {
	top, err := d.spamrunCmd("top", "-n", "1")
	if err != nil {
		return err
	}
	d.printf("\n7. The operator watches: spamrun top -n 1\n%s\n", indent(strings.TrimRight(string(top), "\n"), "   "))
	m, err := spamruntest.ScrapeMetrics("http://" + d.metrics + "/metrics")
	if err != nil {
		return err
	}
	d.printf("   and Prometheus, scraping http://%s/metrics:\n", d.metrics)
	for _, row := range []struct {
		name   string
		labels []string
	}{
		{"spamrun_messages_total", []string{"door=sendmail", "action=relayed"}},
		{"spamrun_messages_total", []string{"door=sendmail", "action=held"}},
		{"spamrun_messages_total", []string{"door=sendmail", "action=refused"}},
		{"spamrun_messages_total", []string{"door=sendmail", "action=bounced"}},
		{"spamrun_messages_total", []string{"door=sendmail", "action=kept"}},
		{"spamrun_spam_marked_total", []string{"site=" + siteName}},
		{"spamrun_trips_total", nil},
		{"spamrun_disabled_sites", nil},
		{"spamrun_generated_messages_total", []string{"kind=dsn", "action=relayed"}},
		{"spamrun_generated_messages_total", []string{"kind=notice", "action=relayed"}},
	} {
		var pairs []string
		for _, l := range row.labels {
			k, v, _ := strings.Cut(l, "=")
			pairs = append(pairs, k+"="+strconv.Quote(v))
		}
		labels := ""
		if len(pairs) > 0 {
			labels = "{" + strings.Join(pairs, ",") + "}"
		}
		d.printf("     %-75s %g\n", row.name+labels, m.Value(row.name, row.labels...))
	}
	return nil
}
