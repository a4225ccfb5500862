package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/config"
	"github.com/spamrun/spamrun/internal/host"
	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

// install is a host as the tests set it up: a configuration in
// SPAMRUN_CONFIG, state and spool in a temporary directory, and a sink as
// the relay. The user running the tests is site shop1; shop2 is a UID
// without a passwd entry.
type install struct {
	*cli
	dir    string
	config string
	sink   *spamruntest.SMTPSink
}

const testMaxSpam = 3

func newInstall(t *testing.T) *install {
	t.Helper()
	in := &install{cli: newCLI(t), dir: t.TempDir(), sink: spamruntest.NewSMTPSink(t)}
	in.config = filepath.Join(in.dir, "spamrun.toml")
	in.write(fmt.Sprintf(`state_dir = %q
spool_dir = %q
hostname = "web1.example.net"
article_url = "https://support.example.net/spam-run"
syslog = false

[relay]
smtp = %q
starttls = "off"
timeout = "5s"

[policy]
max_spam = %d
window = "1h"
hold_for = "15m"

[store]
kind = "sqlite"

[sites.shop1]
uid = %d
domains = ["shop1.example"]

[sites.shop2]
uid = 4200000
domains = ["shop2.example"]
`, filepath.Join(in.dir, "state"), filepath.Join(in.dir, "spool"), in.sink.Addr(), testMaxSpam, os.Getuid()))
	return in
}

func (in *install) write(cfg string) {
	in.t.Helper()
	if err := os.WriteFile(in.config, []byte(cfg), 0o640); err != nil {
		in.t.Fatal(err)
	}
	in.vars["SPAMRUN_CONFIG"] = in.config
}

// open opens the installation as sendmail does, on the commands' clock.
func (in *install) open() *host.Host {
	in.t.Helper()
	cfg, err := config.LoadDefault(in.getenv, false)
	if err != nil {
		in.t.Fatal(err)
	}
	h, err := host.Open(cfg, &host.Options{Now: in.now})
	if err != nil {
		in.t.Fatal(err)
	}
	if h.StoreErr != nil {
		in.t.Fatal(h.StoreErr)
	}
	in.t.Cleanup(func() { h.Close() })
	return h
}

// submit does what sendmail does with a message of site at time at,
// except that a submission that trips its site does not bounce the queue,
// as when the run tripped on another web node: the queue is left for the
// runner. It returns the spooled entry, or nil when it was refused.
func (in *install) submit(h *host.Host, site string, uid int, raw []byte, from string, to []string, at time.Time) *spool.Entry {
	in.t.Helper()
	ctx := context.Background()
	msg, err := spamrun.ParseMessage(raw, from, to)
	if err != nil {
		in.t.Fatal(err)
	}
	msg.Evidence.Cwd, msg.Evidence.UID = "/var/www/"+site, uid
	e := &spool.Entry{
		ID: spool.NewID(at), Site: site, UID: uid, Sender: msg.Sender, Recipients: msg.Recipients,
		Received: at, Evidence: msg.Evidence,
	}
	v, err := h.Detector.CheckAt(ctx, site, msg, at)
	if err != nil {
		in.t.Fatal(err)
	}
	e.Score, e.Spam = v.Score, v.Spam
	switch v.Action {
	case spamrun.Refuse:
		return nil
	case spamrun.Hold:
		e.State, e.HoldUntil = spool.Held, v.HoldUntil
	default:
		e.State = spool.Queued
	}
	if err := h.Spool.Add(e, raw); err != nil {
		in.t.Fatal(err)
	}
	if err := h.Scripts.RecordScript(ctx, site, spamrun.Submission{Time: at, Script: e.Evidence.Script, Cwd: e.Evidence.Cwd, Spam: e.Spam}); err != nil {
		in.t.Fatal(err)
	}
	return e
}

func decode[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	return v
}

// lineOf returns the line of a table that starts with first, or fails.
func lineOf(t *testing.T, table, first string) string {
	t.Helper()
	for _, l := range strings.Split(table, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == first {
			return l
		}
	}
	t.Fatalf("no line for %q in\n%s", first, table)
	return ""
}

// spamRun sets up shop1 tripped by a spam run while its messages wait:
// two order confirmations queued, three spam messages held (one of them
// with a sender the site does not own), and the fourth refused; shop2 and
// an unconfigured site "blog" have one message queued each.
type spamRun struct {
	in                    *install
	ham                   []*spool.Entry
	held                  []*spool.Entry // owned sender, forged sender, owned sender
	shop2, blog           *spool.Entry
	victims               []string
	shop1Sender, stranger string
}

func newSpamRun(t *testing.T) *spamRun {
	in := newInstall(t)
	h := in.open()
	uid := os.Getuid()
	r := &spamRun{in: in, shop1Sender: "noreply@shop1.example", stranger: "someone@elsewhere.example"}
	base := in.now().Add(-10 * time.Minute)
	for i := range 2 {
		e := in.submit(h, "shop1", uid, spamruntest.OrderConfirmation("shop1.example", i), r.shop1Sender, []string{fmt.Sprintf("customer%d@example.org", i)}, base.Add(time.Duration(i)*time.Second))
		if e.State != spool.Queued {
			t.Fatalf("order confirmation %d: %s, score %.1f", i, e.State, e.Score.Value)
		}
		r.ham = append(r.ham, e)
	}
	for i := range testMaxSpam + 1 {
		from := r.shop1Sender
		if i == 1 {
			from = r.stranger
		}
		to := fmt.Sprintf("victim%d@example.com", i)
		e := in.submit(h, "shop1", uid, spamruntest.GuestbookSpam("shop1.example", i), from, []string{to}, base.Add(time.Minute+time.Duration(i)*time.Second))
		if i == testMaxSpam {
			if e != nil {
				t.Fatalf("the spam message that trips the site was accepted: %+v", e)
			}
			break
		}
		if e == nil || e.State != spool.Held {
			t.Fatalf("spam %d not held: %+v", i, e)
		}
		r.held = append(r.held, e)
		r.victims = append(r.victims, to)
	}
	r.shop2 = in.submit(h, "shop2", 4200000, spamruntest.OrderConfirmation("shop2.example", 7), "orders@shop2.example", []string{"buyer@example.org"}, base)
	r.blog = in.submit(h, "blog", 4200001, spamruntest.OrderConfirmation("blog.example", 8), "", []string{"reader@example.org"}, base)
	return r
}

func TestOperatorSpamRun(t *testing.T) {
	t.Parallel()
	r := newSpamRun(t)
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}

	// status: every site, shop1 disabled with its window over the limit.
	table := r.in.mustRun("status")
	t.Logf("spamrun status:\n%s", table)
	shop1 := lineOf(t, table, "shop1")
	for _, want := range []string{"disabled since", "(incident ", "4/3", "1h"} {
		if !strings.Contains(shop1, want) {
			t.Errorf("shop1 row lacks %q: %s", want, shop1)
		}
	}
	// QUEUED 2, HELD 3, QUARANTINED 0, SUBMITTED 5.
	if f := strings.Fields(shop1[strings.Index(shop1, "4/3"):]); strings.Join(f[2:6], " ") != "2 3 0 5" {
		t.Errorf("shop1 counts: %q", f)
	}
	if l := lineOf(t, table, "shop2"); !strings.Contains(l, "enabled") || !strings.Contains(l, "0/3") {
		t.Errorf("shop2 row: %s", l)
	}
	lineOf(t, table, "blog") // unconfigured, but has mail in the queue
	if !strings.Contains(table, "SUBMITTED counts") {
		t.Errorf("no footnote on SUBMITTED:\n%s", table)
	}

	rows := decode[[]siteStatus](t, r.in.mustRun("status", "--json"))
	if len(rows) != 3 || rows[0].Site != "blog" || rows[1].Site != "shop1" || rows[2].Site != "shop2" {
		t.Fatalf("status --json: %+v", rows)
	}
	if s := rows[1]; !s.Disabled || s.Spam != 4 || s.Policy.MaxSpam != 3 || s.Held != 3 || s.Queued != 2 || s.Submitted == nil || *s.Submitted != 5 || s.IncidentID == "" || s.Incident != nil {
		t.Errorf("shop1 in status --json: %+v", s)
	}
	one := decode[siteStatus](t, r.in.mustRun("status", "shop1", "--json"))
	if one.Incident == nil || one.Incident.Count != 4 || len(one.Scripts) == 0 {
		t.Errorf("status shop1 --json: %+v", one)
	}
	raw := r.in.mustRun("status", "--json", "shop1")
	for _, key := range []string{`"incident_id"`, `"disabled_since"`, `"max_spam": 3`, `"scripts"`, `"first"`, `"last"`, `"count"`} {
		if !strings.Contains(raw, key) {
			t.Errorf("status --json shop1 lacks %s:\n%s", key, raw)
		}
	}
	detail := r.in.mustRun("status", "shop1")
	t.Logf("spamrun status shop1:\n%s", detail)
	for _, want := range []string{"Incident " + one.IncidentID, "top rules:", "1008:guestbook.php (4)", "Scripts (", "/var/www/shop1"} {
		if !strings.Contains(detail, want) {
			t.Errorf("status shop1 lacks %q", want)
		}
	}

	// incidents
	incTable := r.in.mustRun("incidents")
	t.Logf("spamrun incidents:\n%s", incTable)
	l := lineOf(t, incTable, one.IncidentID)
	// The refused message that tripped the site counts in the incident.
	for _, want := range []string{"shop1", " 4 ", "3/1h", "TEXT_MODEL (4)", "URI_ODD_TLD", "1008:guestbook.php (4)", "disabled"} {
		if !strings.Contains(l, want) {
			t.Errorf("incident row lacks %q: %s", want, l)
		}
	}
	incs := decode[[]*spamrun.Incident](t, r.in.mustRun("incidents", "--json"))
	if len(incs) != 1 || incs[0].ID != one.IncidentID || len(incs[0].Messages) != 4 {
		t.Errorf("incidents --json: %+v", incs)
	}
	if out := r.in.mustRun("incidents", "shop2"); !strings.Contains(out, "no incidents") {
		t.Errorf("incidents shop2: %q", out)
	}

	// queue list: the held spam with the time it is held until.
	list := r.in.mustRun("queue", "list")
	t.Logf("spamrun queue list:\n%s", list)
	for _, e := range r.held {
		if l := lineOf(t, list, e.ID); !strings.Contains(l, "held") || !strings.Contains(l, "held until") || !strings.Contains(l, "spam") {
			t.Errorf("held row: %s", l)
		}
	}
	if l := lineOf(t, list, r.blog.ID); !strings.Contains(l, "<>") || !strings.Contains(l, "queued") {
		t.Errorf("blog row: %s", l)
	}
	if !strings.Contains(list, "-- 7 messages") {
		t.Errorf("queue list footer:\n%s", list)
	}
	entries := decode[[]spool.Entry](t, r.in.mustRun("queue", "list", "--json", "shop1"))
	if len(entries) != 5 {
		t.Errorf("queue list --json shop1: %d entries", len(entries))
	}

	// release: the operator lets the first spam message go; an unknown ID
	// next to it fails alone.
	out, errOut, code := r.in.run("queue", "release", "no-such-id", r.held[0].ID)
	if code != 1 || !strings.Contains(errOut, "no-such-id") || !strings.Contains(out, "released "+r.held[0].ID) {
		t.Fatalf("release: exit %d\n%s\n%s", code, out, errOut)
	}
	out = r.in.mustRun("queue", "run", "--once")
	// Relayed: the released message, three DSNs, shop2's and blog's mail.
	if !strings.Contains(out, "relayed 6") || !strings.Contains(out, "bounced 3") || !strings.Contains(out, "quarantined 1") {
		t.Errorf("queue run --once: %s", out)
	}
	var released, other int
	for _, m := range r.in.sink.Messages() {
		switch {
		case m.From == r.shop1Sender && len(m.To) == 1 && m.To[0] == r.victims[0]:
			released++
		case m.From == "":
			// DSNs of the ham and of the spam with an owned sender
		case m.From == "orders@shop2.example" || strings.HasPrefix(m.To[0], "reader@"):
			// the other sites' mail
		default:
			other++
			t.Errorf("relayed: from <%s> to %v", m.From, m.To)
		}
	}
	if released != 1 || other != 0 {
		t.Errorf("released message relayed %d times, %d others", released, other)
	}

	// The spam with a stranger's sender was kept, not bounced.
	all := r.in.mustRun("queue", "list", "--all")
	t.Logf("spamrun queue list --all:\n%s", all)
	if l := lineOf(t, all, r.held[1].ID); !strings.Contains(l, "quarantined") || !strings.Contains(l, "backscatter") {
		t.Errorf("kept row: %s", l)
	}
	if l := lineOf(t, all, r.held[2].ID); !strings.Contains(l, "bounced") || !strings.Contains(l, "DSN ") {
		t.Errorf("bounced row: %s", l)
	}
	if q := r.in.mustRun("queue", "list", "--quarantine"); strings.Contains(q, r.shop2.ID) || !strings.Contains(q, r.held[1].ID) {
		t.Errorf("queue list --quarantine:\n%s", q)
	}

	// purge
	out = r.in.mustRun("queue", "purge", r.held[1].ID)
	if !strings.Contains(out, "purged "+r.held[1].ID) || !strings.Contains(out, r.stranger) {
		t.Errorf("purge: %q", out)
	}
	for _, e := range decode[[]spool.Entry](t, r.in.mustRun("queue", "list", "--all", "--json")) {
		if e.ID == r.held[1].ID {
			t.Errorf("purged message still listed")
		}
	}
	if _, errOut, code := r.in.run("queue", "purge", r.held[1].ID); code != 1 || !strings.Contains(errOut, "no such message") {
		t.Errorf("purge again: exit %d %q", code, errOut)
	}

	// enable: the window starts empty and the operator is on record.
	if out := r.in.mustRun("enable", "shop1"); !strings.Contains(out, "site shop1 enabled") || !strings.Contains(out, one.IncidentID) {
		t.Errorf("enable: %q", out)
	}
	after := decode[siteStatus](t, r.in.mustRun("status", "--json", "shop1"))
	if after.Disabled || after.Spam != 0 || after.Incident != nil {
		t.Errorf("after enable: %+v", after)
	}
	if l := lineOf(t, r.in.mustRun("status"), "shop1"); !strings.Contains(l, "enabled") || !strings.Contains(l, "0/3") {
		t.Errorf("shop1 after enable: %s", l)
	}
	if l := lineOf(t, r.in.mustRun("incidents"), one.IncidentID); !strings.Contains(l, "re-enabled") {
		t.Errorf("incident after enable: %s", l)
	}
	if out := r.in.mustRun("enable", "shop2"); !strings.Contains(out, "was not disabled") {
		t.Errorf("enable shop2: %q", out)
	}

	recs, err := readAudit(filepath.Join(r.in.dir, "state", "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ event, site, id, incident string }{
		{"release", "shop1", r.held[0].ID, ""},
		{"purge", "shop1", r.held[1].ID, one.IncidentID},
		{"enable", "shop1", "", one.IncidentID},
		{"enable", "shop2", "", ""},
	}
	if len(recs) != len(want) {
		t.Fatalf("audit log: %+v", recs)
	}
	for i, w := range want {
		got := recs[i]
		if got.Event != w.event || got.Site != w.site || got.ID != w.id || got.Incident != w.incident || got.Operator != me.Username || !got.Time.Equal(testNow) {
			t.Errorf("audit record %d: %+v, want %+v by %s", i, got, w, me.Username)
		}
	}
	if recs[1].Sender == nil || *recs[1].Sender != r.stranger {
		t.Errorf("purge record without the sender: %+v", recs[1])
	}
	fi, err := os.Stat(filepath.Join(r.in.dir, "state", "audit.log"))
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("audit.log: %v %v", fi.Mode(), err)
	}
	auditTable := r.in.mustRun("audit")
	t.Logf("spamrun audit:\n%s", auditTable)
	if !strings.Contains(lineOf(t, auditTable, strings.Fields(fmtTime(recs[2].Time))[0]), me.Username) {
		t.Errorf("audit table:\n%s", auditTable)
	}
	if n := len(decode[[]auditRecord](t, r.in.mustRun("audit", "--json"))); n != 4 {
		t.Errorf("audit --json: %d records", n)
	}
}

func TestEnableSudoUser(t *testing.T) {
	t.Parallel()
	in := newInstall(t)
	in.vars["SUDO_USER"] = "alice"
	in.mustRun("enable", "shop1")
	out := in.mustRun("audit", "--json")
	recs := decode[[]auditRecord](t, out)
	if len(recs) != 1 || recs[0].SudoUser != "alice" || recs[0].Event != "enable" || recs[0].Site != "shop1" {
		t.Errorf("audit: %s", out)
	}
	if table := in.mustRun("audit"); !strings.Contains(table, "(sudo by alice)") {
		t.Errorf("audit table:\n%s", table)
	}
}

func TestQueueRunProgress(t *testing.T) {
	t.Parallel()
	in := newSpamRun(t).in
	in.terminal = true
	out, errOut, code := in.run("queue", "run", "--once")
	if code != 0 || !strings.Contains(out, "relayed ") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.HasPrefix(errOut, "\rpass: ") || !strings.HasSuffix(errOut, "pass: 7/7\n") {
		t.Errorf("progress on a terminal: %q", errOut)
	}
	in.terminal = false
	if _, errOut, _ := in.run("queue", "run", "--once"); errOut != "" {
		t.Errorf("progress when not a terminal: %q", errOut)
	}
}

func TestStatusEmpty(t *testing.T) {
	t.Parallel()
	in := newInstall(t)
	in.write(strings.Replace(mustRead(t, in.config), "[sites.shop1]", "[sites.shop1]\nmax_spam = 25", 1))
	table := in.mustRun("status")
	if l := lineOf(t, table, "shop1"); !strings.Contains(l, "0/25") || !strings.Contains(l, "enabled") {
		t.Errorf("shop1: %s", l)
	}
	if rows := decode[[]siteStatus](t, in.mustRun("status", "--json")); len(rows) != 2 {
		t.Errorf("status --json: %+v", rows)
	}
	// A site named on the command line is shown even when nothing is known.
	one := decode[siteStatus](t, in.mustRun("status", "--json", "newsite"))
	if one.Site != "newsite" || one.Disabled || one.Policy.MaxSpam != 3 {
		t.Errorf("status newsite: %+v", one)
	}
	if out := in.mustRun("queue", "list"); !strings.Contains(out, "no messages") {
		t.Errorf("queue list: %q", out)
	}
	if out := in.mustRun("queue", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("queue list --json: %q", out)
	}
	if out := in.mustRun("incidents", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("incidents --json: %q", out)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	in := newInstall(t)
	for _, c := range []struct {
		args []string
		code int
		say  string
	}{
		{nil, 64, "usage: spamrun COMMAND"},
		{[]string{"frobnicate"}, 64, "unknown command"},
		{[]string{"status", "a", "b"}, 64, "at most one SITE"},
		{[]string{"status", "--bogus"}, 64, "-bogus"},
		{[]string{"status", "../etc"}, 64, "site name"},
		{[]string{"enable"}, 64, "usage: spamrun enable SITE"},
		{[]string{"enable", "a", "b"}, 64, "usage: spamrun enable SITE"},
		{[]string{"enable", "-rf"}, 64, "-rf"},
		{[]string{"enable", "--", "-rf"}, 64, "starts with"},
		{[]string{"enable", "shop 1"}, 64, "contains"},
		{[]string{"incidents", "x", "y"}, 64, "at most one SITE"},
		{[]string{"queue"}, 64, "usage: spamrun queue list"},
		{[]string{"queue", "frob"}, 64, "unknown queue command"},
		{[]string{"queue", "release"}, 64, "no message IDs"},
		{[]string{"queue", "purge"}, 64, "no message IDs"},
		{[]string{"queue", "list", "a", "b"}, 64, "at most one SITE"},
		{[]string{"queue", "run", "extra"}, 64, "no operands"},
		{[]string{"audit", "x"}, 64, "no operands"},
		{[]string{"queue", "release", "nope"}, 1, "nope: no such message"},
	} {
		out, errOut, code := in.run(c.args...)
		// The error is printed once, whoever found it.
		if code != c.code || strings.Count(errOut, c.say) != 1 {
			t.Errorf("spamrun %q: exit %d, stderr %q, want %d and %q once (stdout %q)", c.args, code, errOut, c.code, c.say, out)
		}
	}
	// Every failure of a command that goes on past one is on a line of
	// its own, prefixed.
	if _, errOut, code := in.run("queue", "purge", "nope", "nope\ntoo"); code != 1 ||
		errOut != "spamrun: nope: no such message in the queue or in quarantine\n"+
			"spamrun: nope\nspamrun: too: no such message in the queue or in quarantine\n" {
		t.Errorf("purge of two unknown IDs: exit %d, stderr %q", code, errOut)
	}
	for _, args := range [][]string{{"help"}, {"status", "-h"}} {
		out, errOut, code := in.run(args...)
		if code != 0 || !strings.Contains(out+errOut, "usage: spamrun") {
			t.Errorf("spamrun %q: exit %d %q %q", args, code, out, errOut)
		}
	}
	if out := in.mustRun("help"); !strings.Contains(out, "incidents") || !strings.Contains(out, "queue release") {
		t.Errorf("help lists not every command:\n%s", out)
	}

	cfg := mustRead(t, in.config)
	// A broken configuration is 78, naming the key.
	in.write(cfg + "\n[policy]\nbogus = 1\n")
	for _, args := range [][]string{{"status"}, {"enable", "shop1"}, {"queue", "list"}, {"incidents"}, {"audit"}} {
		if _, errOut, code := in.run(args...); code != 78 || !strings.HasPrefix(errOut, "spamrun: ") {
			t.Errorf("spamrun %q with a bad configuration: exit %d %q", args, code, errOut)
		}
	}
	// A state directory that cannot be made is a store that is
	// unavailable: 75 for what needs it.
	file := filepath.Join(in.dir, "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	in.write(strings.Replace(cfg, strconv.Quote(filepath.Join(in.dir, "state")), strconv.Quote(filepath.Join(file, "state")), 1))
	for _, args := range [][]string{{"status"}, {"enable", "shop1"}, {"incidents"}} {
		if _, errOut, code := in.run(args...); code != 75 || !strings.Contains(errOut, "state store is unavailable") {
			t.Errorf("spamrun %q without a store: exit %d %q", args, code, errOut)
		}
	}
	// The queue is the spool's: it is listed without the store.
	in.mustRun("queue", "list")
	in.write(strings.Replace(cfg, strconv.Quote(filepath.Join(in.dir, "spool")), strconv.Quote(filepath.Join(file, "spool")), 1))
	if _, errOut, code := in.run("queue", "list"); code != 75 || !strings.Contains(errOut, "spool") {
		t.Errorf("queue list without a spool: exit %d %q", code, errOut)
	}
}
