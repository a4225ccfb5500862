package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spamrun/spamrun/config"
	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
	"github.com/spamrun/spamrun/sqlitestore"
)

// The security tests install sendmail as a host does, with
// scripts/install.sh, setgid to a group of their own in a prefix of their
// own, and attack it as two website users. The other tests run the binary
// as the user running the tests, where nothing is privileged.

// hostInstall is one installation and its two websites: site "shop1" is
// user a, site "shop2" user b.
type hostInstall struct {
	t      *testing.T
	prefix string
	group  string
	gid    int
	bin    string
	config string
	state  string
	spool  string
	sink   *spamruntest.SMTPSink
	// bait is world-writable and every setting a website tries points
	// into it, so that sendmail could write there if it obeyed one.
	bait string
	// siteFiles holds what the websites forge, as their home directories
	// would.
	siteFiles string
	a, b      *siteUser
}

// siteUser is a website's user and the site it sends for.
type siteUser struct {
	spamruntest.SiteUser
	site string
}

// deferredRcpt is a recipient the relay refuses for now, so that a message
// to it stays in the queue.
const deferredRcpt = "defer@example.org"

// newHostInstall installs sendmail into a new prefix. siteA holds extra
// keys of [sites.shop1], such as a policy override.
func newHostInstall(t *testing.T, siteA string) *hostInstall {
	t.Helper()
	if os.Geteuid() != 0 {
		spamruntest.Missing(t, "root (the security tests create users)")
	}
	spamruntest.NeedCommand(t, "setpriv", "util-linux")
	spamruntest.NeedCommand(t, "useradd", "passwd")
	spamruntest.NeedCommand(t, "groupadd", "passwd")

	h := &hostInstall{t: t, group: randomName("spamrun-t")}
	// Not t.TempDir: website users must be able to reach the binary, and
	// TMPDIR may lie in a directory only root can enter.
	prefix, err := os.MkdirTemp("/tmp", "spamrun-security-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(prefix) })
	if err := os.Chmod(prefix, 0o755); err != nil {
		t.Fatal(err)
	}
	h.prefix = prefix
	h.bin = filepath.Join(prefix, "usr/local/sbin/spamrun-sendmail")
	h.config = filepath.Join(prefix, "etc/spamrun/spamrun.toml")
	h.state = filepath.Join(prefix, "var/lib/spamrun")
	h.spool = filepath.Join(prefix, "var/spool/spamrun")

	// Registered before the script runs, which creates the group, and so
	// run after the users are gone.
	t.Cleanup(func() {
		if _, err := user.Lookup(h.group); err == nil {
			if out, err := exec.Command("userdel", h.group).CombinedOutput(); err != nil {
				t.Errorf("userdel %s: %v: %s", h.group, err, out)
			}
		}
		if _, err := user.LookupGroup(h.group); err == nil {
			if out, err := exec.Command("groupdel", h.group).CombinedOutput(); err != nil {
				t.Errorf("groupdel %s: %v: %s", h.group, err, out)
			}
		}
	})
	h.install("--no-divert")
	g, err := user.LookupGroup(h.group)
	if err != nil {
		t.Fatalf("install.sh did not create the group: %v", err)
	}
	h.gid, _ = strconv.Atoi(g.Gid)
	h.checkInstalled()

	// The script's configuration is the example with the directories moved
	// into the prefix; it must load, and keep the state where the
	// installation made room for it.
	cfg, err := config.Load(h.config)
	if err != nil {
		t.Fatalf("installed configuration: %v", err)
	}
	if cfg.StateDir != h.state || cfg.SpoolDir != h.spool {
		t.Fatalf("installed configuration keeps the state in %q and the spool in %q, want %q and %q", cfg.StateDir, cfg.SpoolDir, h.state, h.spool)
	}
	if want := filepath.Join(prefix, "run/spamrun/sendmail.sock"); cfg.SMTPD.SendmailSocket != want {
		t.Fatalf("installed configuration has the sendmail front's socket at %q, want %q", cfg.SMTPD.SendmailSocket, want)
	}

	h.a = addSiteUser(t, randomName("srt")+"a", "shop1")
	h.b = addSiteUser(t, randomName("srt")+"b", "shop2")
	h.sink = spamruntest.NewSMTPSink(t, spamruntest.SinkRejectRcpt(deferredRcpt, 451, "4.3.0", "try again later"))

	h.bait = filepath.Join(prefix, "bait")
	h.siteFiles = filepath.Join(prefix, "site")
	for _, d := range []string{h.bait, h.siteFiles} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(h.bait, 0o1777); err != nil {
		t.Fatal(err)
	}
	h.writeSiteFile(h.config, fmt.Sprintf(`state_dir = %q
spool_dir = %q
hostname = %q
article_url = %q
syslog = false

[relay]
smtp = %q
starttls = "off"
timeout = "5s"

[policy]
max_spam = 10
window = "1h"
hold_for = "15m"

[sites.shop1]
user = %q
domains = ["shop1.example"]
%s

[sites.shop2]
user = %q
domains = ["shop2.example"]
`, h.state, h.spool, testHost, testArticle, h.sink.Addr(), h.a.Login, siteA, h.b.Login))
	if err := os.Chown(h.config, 0, h.gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(h.config, 0o640); err != nil {
		t.Fatal(err)
	}
	return h
}

// in returns h reporting to t, a subtest's.
func (h *hostInstall) in(t *testing.T) *hostInstall {
	c := *h
	c.t = t
	return &c
}

func randomName(prefix string) string {
	b := make([]byte, 3)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// install runs scripts/install.sh on the prefix and returns what it said.
func (h *hostInstall) install(args ...string) string {
	h.t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "scripts", "install.sh"))
	if err != nil {
		h.t.Fatal(err)
	}
	cmd := exec.Command(script, append([]string{"--prefix", h.prefix, "--group", h.group}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		h.t.Fatalf("install.sh %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, out)
	}
	return string(out)
}

// checkInstalled checks owners and modes as the security model needs them.
func (h *hostInstall) checkInstalled() {
	h.t.Helper()
	installUser, err := user.Lookup(h.group)
	if err != nil {
		h.t.Fatalf("the install user: %v", err)
	}
	uid, _ := strconv.Atoi(installUser.Uid)
	for _, c := range []struct {
		path string
		mode fs.FileMode
		uid  int
		gid  int
	}{
		// Setuid to the install user too: once it has noted the website's
		// UID, sendmail is that user alone, which the website cannot signal.
		{h.bin, 0o755 | fs.ModeSetgid | fs.ModeSetuid, uid, h.gid},
		// The sendmail front is not setuid: spamrun serve must see the
		// website's own UID on its socket.
		{filepath.Join(filepath.Dir(h.bin), "spamrun-sendmail-front"), 0o755, 0, 0},
		{filepath.Join(h.prefix, "run/spamrun"), fs.ModeDir | 0o755, uid, h.gid},
		{h.config, 0o640, 0, h.gid},
		{filepath.Dir(h.config), fs.ModeDir | 0o755, 0, 0},
		{h.state, fs.ModeDir | 0o770 | fs.ModeSetgid, 0, h.gid},
		{h.spool, fs.ModeDir | 0o770 | fs.ModeSetgid, 0, h.gid},
		{filepath.Join(h.spool, "tmp"), fs.ModeDir | 0o770 | fs.ModeSetgid, 0, h.gid},
		{filepath.Join(h.spool, "queue"), fs.ModeDir | 0o770 | fs.ModeSetgid, 0, h.gid},
		{filepath.Join(h.spool, "lock"), fs.ModeDir | 0o770 | fs.ModeSetgid, 0, h.gid},
	} {
		fi, err := os.Stat(c.path)
		if err != nil {
			h.t.Errorf("installed: %v", err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if got := fi.Mode() & (fs.ModeType | fs.ModePerm | fs.ModeSetgid | fs.ModeSetuid | fs.ModeSticky); got != c.mode || int(st.Uid) != c.uid || int(st.Gid) != c.gid {
			h.t.Errorf("%s: %v %d:%d, want %v %d:%d", c.path, got, st.Uid, st.Gid, c.mode, c.uid, c.gid)
		}
	}
}

func addSiteUser(t *testing.T, login, site string) *siteUser {
	t.Helper()
	return &siteUser{SiteUser: spamruntest.AddNamedSiteUser(t, login), site: site}
}

func (h *hostInstall) writeSiteFile(path, content string) {
	h.t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// evilConfig writes the configuration a website would like sendmail to
// use: its own state, spool and relay, and no limits. It is valid, so that
// only sendmail ignoring it keeps it from taking effect.
func (h *hostInstall) evilConfig(relay string) string {
	h.t.Helper()
	path := filepath.Join(h.siteFiles, "evil.toml")
	h.writeSiteFile(path, fmt.Sprintf(`state_dir = %q
spool_dir = %q
syslog = false

[relay]
smtp = %q
starttls = "off"

[policy]
max_spam = 99999
hold_for = "0s"

[sites.shop1]
user = %q
exempt = true

[sites.shop2]
user = %q
exempt = true
`, filepath.Join(h.bait, "state"), filepath.Join(h.bait, "spool"), relay, h.a.Login, h.b.Login))
	cfg, err := config.Load(path)
	if err != nil {
		h.t.Fatalf("the evil configuration would not even load: %v", err)
	}
	if cfg.Policy("shop1").MaxSpam != 99999 {
		h.t.Fatalf("the evil configuration leaves max_spam at %d", cfg.Policy("shop1").MaxSpam)
	}
	return path
}

// evilEnv is the environment of a website that tries to choose sendmail's
// configuration and state.
func (h *hostInstall) evilEnv(evil string) []string {
	return []string{"SPAMRUN_CONFIG=" + evil, "HOME=" + h.bait, "XDG_STATE_HOME=" + h.bait, "TMPDIR=" + h.bait}
}

// noBait fails the test when anything was written into the bait directory.
func (h *hostInstall) noBait() {
	h.t.Helper()
	names, err := os.ReadDir(h.bait)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, n := range names {
		h.t.Errorf("sendmail wrote %s, where only a website's setting pointed", filepath.Join(h.bait, n.Name()))
	}
}

// as runs a command as website u, as PHP-FPM would: real and effective
// UID and GID the site's, no supplementary groups, the environment env.
func (h *hostInstall) as(u *siteUser, env []string, stdin string, name string, args ...string) result {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return runCaptured(h.t, h.command(ctx, u, env, name, args...), stdin)
}

func (h *hostInstall) command(ctx context.Context, u *siteUser, env []string, name string, args ...string) *exec.Cmd {
	return u.Command(ctx, env, name, args...)
}

func runCaptured(t *testing.T, cmd *exec.Cmd, stdin string) result {
	t.Helper()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running %v: %v", cmd.Args, err)
	}
	return r
}

// sendmail runs the installed binary as website u.
func (h *hostInstall) sendmail(u *siteUser, env []string, stdin string, args ...string) result {
	h.t.Helper()
	return h.as(u, env, stdin, h.bin, args...)
}

// entries returns the spool's messages of site, or of every site for "".
func (h *hostInstall) entries(site string) []*spool.Entry {
	h.t.Helper()
	s, err := spool.Open(h.spool)
	if err != nil {
		h.t.Fatal(err)
	}
	all, err := s.List()
	if err != nil {
		h.t.Fatal(err)
	}
	var of []*spool.Entry
	for _, e := range all {
		if site == "" || e.Site == site {
			of = append(of, e)
		}
	}
	return of
}

// forgedOrder is an order confirmation that claims in every way a website
// controls to come from shop2.
const forgedOrder = "To: customer@example.org\n" +
	"Subject: Your order 2002 at Shop Two\n" +
	"From: Shop Two <orders@shop2.example>\n" +
	"X-PHP-Originating-Script: 1002:shop2/checkout.php\n" +
	"\n" +
	"Thank you for your order. We will ship it tomorrow.\n"

// TestSecurityInstall: the script installs what the security model needs,
// a second run keeps the configuration and everything working, and
// --uninstall removes the program but keeps the state.
func TestSecurityInstall(t *testing.T) {
	h := newHostInstall(t, "")
	if r := h.sendmail(h.a, nil, hamMessage, "-t", "-i"); r.code != 0 {
		t.Fatalf("before the second run: exit %d %q", r.code, r.stderr)
	}
	before, err := os.ReadFile(h.config)
	if err != nil {
		t.Fatal(err)
	}
	out := h.install("--no-divert")
	if !strings.Contains(out, "kept the existing "+h.config) {
		t.Errorf("second run:\n%s", out)
	}
	after, err := os.ReadFile(h.config)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("the second run changed the configuration:\n%s", after)
	}
	h.checkInstalled()
	if r := h.sendmail(h.b, nil, hamMessage, "-t", "-i"); r.code != 0 {
		t.Errorf("after the second run: exit %d %q", r.code, r.stderr)
	}
	if n := len(h.sink.Messages()); n != 2 {
		t.Errorf("%d messages relayed, want 2", n)
	}

	h.install("--uninstall")
	for _, gone := range []string{h.bin, filepath.Join(filepath.Dir(h.bin), "spamrun-sendmail-front"), filepath.Join(h.prefix, "run/spamrun")} {
		if _, err := os.Stat(gone); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("--uninstall left %s: %v", gone, err)
		}
	}
	for _, keep := range []string{h.config, filepath.Join(h.state, "state.db"), filepath.Join(h.spool, "queue")} {
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("--uninstall: %v", err)
		}
	}

	script, _ := filepath.Abs(filepath.Join("..", "scripts", "install.sh"))
	for _, args := range [][]string{{"--bogus"}, {"--prefix", "relative/dir"}, {"--prefix", h.prefix + `/"quoted"`}, {"--group", "Bad Name"}} {
		if out, err := exec.Command(script, args...).CombinedOutput(); err == nil || !strings.Contains(string(out), "install.sh: ") {
			t.Errorf("install.sh %q: %v\n%s", args, err, out)
		}
	}
}

// TestSecuritySiteIdentity: whatever a website forges, its mail is
// counted as its own, by real UID, and sendmail uses the host's
// configuration, state and relay.
func TestSecuritySiteIdentity(t *testing.T) {
	h := newHostInstall(t, "")
	evilSink := spamruntest.NewSMTPSink(t)
	env := h.evilEnv(h.evilConfig(evilSink.Addr()))

	r := h.sendmail(h.a, env, forgedOrder, "-t", "-i", "-f", "other@shop2.example")
	if r.code != 0 {
		t.Fatalf("site a: exit %d %q", r.code, r.stderr)
	}
	if n := len(evilSink.Messages()); n != 0 {
		t.Errorf("%d messages went to the website's own relay", n)
	}
	msgs := h.sink.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages relayed, want 1", len(msgs))
	}
	if want := fmt.Sprintf("(spamrun, from userid %d)", h.a.UID); !strings.Contains(header(msgs[0].Data), want) {
		t.Errorf("relayed header lacks %q:\n%s", want, header(msgs[0].Data))
	}

	// A message the relay defers stays in the spool, which shows whose
	// the spool thinks it is.
	r = h.sendmail(h.a, env, forgedOrder, "-i", "-f", "other@shop2.example", deferredRcpt)
	if r.code != 0 {
		t.Fatalf("site a, deferred: exit %d %q", r.code, r.stderr)
	}
	spam := string(spamruntest.GuestbookSpam("shop1.example", 1))
	spam = strings.Replace(spam, "X-PHP-Originating-Script: 1008:guestbook.php", "X-PHP-Originating-Script: 1001:shop1/guestbook.php", 1)
	r = h.sendmail(h.b, env, spam, "-t", "-i", "-fnoreply@shop1.example")
	if r.code != 0 {
		t.Fatalf("site b, spam: exit %d %q", r.code, r.stderr)
	}
	q := h.entries("")
	if len(q) != 2 {
		t.Fatalf("%d messages in the spool, want the deferred and the held one", len(q))
	}
	for _, e := range q {
		want := h.a
		if e.State == spool.Held {
			want = h.b
		}
		if e.Site != want.site || e.UID != want.UID || e.Evidence.UID != want.UID {
			t.Errorf("spooled as site %q, UID %d, evidence UID %d; sent by site %q, UID %d (sender %q, script %q)",
				e.Site, e.UID, e.Evidence.UID, want.site, want.UID, e.Sender, e.Evidence.Script)
		}
	}
	if n := len(evilSink.Messages()); n != 0 {
		t.Errorf("%d messages went to the website's own relay", n)
	}
	h.noBait()
}

// TestSecurityDisabledSite: a disabled website stays disabled, whatever
// it sets or passes, and cannot reach the state to reset itself; the
// other website is not affected.
func TestSecurityDisabledSite(t *testing.T) {
	h := newHostInstall(t, "max_spam = 0")
	evilSink := spamruntest.NewSMTPSink(t)
	evil := h.evilConfig(evilSink.Addr())

	if r := h.sendmail(h.a, nil, hamMessage, "-t", "-i"); r.code != 0 {
		t.Fatalf("site a, ham: exit %d %q", r.code, r.stderr)
	}
	if r := h.sendmail(h.b, nil, string(spamruntest.GuestbookSpam("shop2.example", 0)), "-t", "-i", "-fnoreply@shop2.example"); r.code != 0 {
		t.Fatalf("site b, spam: exit %d %q", r.code, r.stderr)
	}
	held := h.entries("shop2")
	if len(held) != 1 {
		t.Fatalf("site b has %d messages in the spool, want 1 held", len(held))
	}
	// The spam that trips site a claims to be shop2's in every way a
	// website controls.
	spam := strings.Replace(string(spamruntest.GuestbookSpam("shop1.example", 0)),
		"X-PHP-Originating-Script: 1008:guestbook.php", "X-PHP-Originating-Script: 1002:shop2/guestbook.php", 1)
	if r := h.sendmail(h.a, h.evilEnv(evil), spam, "-t", "-i", "-fother@shop2.example"); r.code != 69 {
		t.Fatalf("site a's spam with max_spam = 0: exit %d %q, want 69", r.code, r.stderr)
	}
	relayed := len(h.sink.Messages())

	refused := func(h *hostInstall, what string, env []string, args ...string) {
		h.t.Helper()
		r := h.sendmail(h.a, env, hamMessage, args...)
		if r.code != 69 || !strings.Contains(r.stderr, `"shop1" is disabled`) {
			h.t.Errorf("%s: exit %d %q, want 69", what, r.code, r.stderr)
		}
	}
	t.Run("evasion", func(t *testing.T) {
		h := h.in(t)
		refused(h, "plain", nil, "-t", "-i")
		refused(h, "own configuration in the environment", h.evilEnv(evil), "-t", "-i")
		refused(h, "-C", nil, "-C", evil, "-t", "-i")
		refused(h, "-C to a directory", nil, "-C"+h.bait, "-t", "-i")
		refused(h, "-oA", nil, "-oA"+filepath.Join(h.bait, "aliases"), "-t", "-i")
		refused(h, "-X", nil, "-X", filepath.Join(h.bait, "log"), "-t", "-i")
		refused(h, "forged sender", h.evilEnv(evil), "-i", "-f", "other@shop2.example", "--", "customer@example.org")
		refused(h, "-bm", nil, "-bm", "-t")
		dialogue := "EHLO shop2.example\r\nMAIL FROM:<other@shop2.example>\r\nRCPT TO:<customer@example.org>\r\nDATA\r\n" +
			strings.ReplaceAll(hamMessage, "\n", "\r\n") + ".\r\nQUIT\r\n"
		if r := h.sendmail(h.a, h.evilEnv(evil), dialogue, "-bs"); !strings.Contains(r.stdout, "550 5.7.1 ") {
			t.Errorf("-bs: exit %d, dialogue:\n%s", r.code, r.stdout)
		}
		if n := len(h.sink.Messages()); n != relayed {
			t.Errorf("%d messages relayed after the trip", n-relayed)
		}
		if n := len(evilSink.Messages()); n != 0 {
			t.Errorf("%d messages went to the website's own relay", n)
		}
		h.noBait()
	})

	t.Run("state out of reach", func(t *testing.T) {
		h := h.in(t)
		db := filepath.Join(h.state, "state.db")
		sum := fileDigest(t, db)
		heldFile := filepath.Join(h.spool, "queue", held[0].ID)
		for _, attack := range []struct{ what, script string }{
			{"read the state", "cat " + db},
			{"read the write lock", "cat " + db + "-lock"},
			{"list the state", "ls " + h.state},
			{"delete the state", "rm -f " + db},
			{"move the state away", "mv " + db + " " + db + ".old"},
			{"truncate the state", ": >" + db},
			{"write to the state", "echo x >>" + db},
			{"make the state writable", "chmod 0666 " + db},
			{"create a file in the state", ": >" + filepath.Join(h.state, "new.db")},
			{"remove the state directory", "rm -rf " + h.state},
			{"replace the state directory", "mv " + h.state + " " + h.state + ".old"},
			{"list the spool", "ls " + h.spool},
			{"list the queue", "ls " + filepath.Join(h.spool, "queue")},
			{"read another site's message", "cat " + heldFile},
			{"delete another site's message", "rm -f " + heldFile},
			{"put a message in the queue", ": >" + filepath.Join(h.spool, "queue", "forged")},
			{"read the configuration", "cat " + h.config},
			{"write the configuration", "echo '[sites.shop1]' >>" + h.config},
		} {
			r := h.as(h.a, nil, "", "sh", "-c", attack.script)
			if r.code == 0 || !strings.Contains(r.stderr, "Permission denied") {
				t.Errorf("site a could %s (%s): exit %d, stderr %q", attack.what, attack.script, r.code, r.stderr)
			}
		}
		if got := fileDigest(t, db); got != sum {
			t.Errorf("the state database changed under the attacks")
		}
		if _, err := os.Stat(heldFile); err != nil {
			t.Errorf("site b's held message: %v", err)
		}
		refused(h, "after the attacks", nil, "-t", "-i")
	})

	t.Run("other site unaffected", func(t *testing.T) {
		h := h.in(t)
		if r := h.sendmail(h.b, nil, hamMessage, "-t", "-i"); r.code != 0 {
			t.Errorf("site b: exit %d %q", r.code, r.stderr)
		}
		if n := len(h.sink.Messages()); n != relayed+1 {
			t.Errorf("%d of site b's messages relayed, want 1", n-relayed)
		}
	})

	// sendmail accepts mail undecided when the state store fails, so that
	// nothing is lost; the website sets the limits its sendmail runs
	// under, and must not be able to make the store fail on purpose.
	t.Run("descriptor limit", func(t *testing.T) {
		h := h.in(t)
		before := len(h.entries("shop1"))
		for n := 4; n <= 16; n++ {
			r := h.as(h.a, nil, hamMessage, "sh", "-c", fmt.Sprintf("ulimit -n %d && exec %s -t -i", n, h.bin))
			if r.code == 0 {
				t.Errorf("ulimit -n %d: a disabled site's message was accepted (exit 0, stderr %q)", n, r.stderr)
			}
		}
		if after := h.entries("shop1"); len(after) != before {
			for _, e := range after[before:] {
				t.Errorf("a disabled site's message is in the spool: %s, state %s", e.ID, e.State)
			}
		}
	})

	t.Run("incident", func(t *testing.T) {
		s, err := sqlitestore.Open(filepath.Join(h.state, "state.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx := context.Background()
		inc, err := s.Disabled(ctx, "shop1")
		if err != nil || inc == nil {
			t.Fatalf("site shop1 not disabled: %v", err)
		}
		if inc.Site != "shop1" || len(inc.Messages) != 1 || inc.Messages[0].Evidence.UID != h.a.UID || inc.Messages[0].Sender != "other@shop2.example" {
			t.Errorf("incident %+v, want site shop1 and one message from UID %d, its forged sender kept as evidence", inc, h.a.UID)
		}
		if inc, err := s.Disabled(ctx, "shop2"); err != nil || inc != nil {
			t.Errorf("site shop2: %+v, %v", inc, err)
		}
	})
}

func fileDigest(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// TestSecurityMailq: each website sees its own queue only.
func TestSecurityMailq(t *testing.T) {
	h := newHostInstall(t, "")
	if r := h.sendmail(h.a, nil, hamMessage, "-i", "-f", "orders@shop1.example", deferredRcpt); r.code != 0 {
		t.Fatalf("site a: exit %d %q", r.code, r.stderr)
	}
	if r := h.sendmail(h.b, nil, string(spamruntest.GuestbookSpam("shop2.example", 0)), "-t", "-i", "-fnoreply@shop2.example"); r.code != 0 {
		t.Fatalf("site b: exit %d %q", r.code, r.stderr)
	}
	a, b := h.entries("shop1"), h.entries("shop2")
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("spool: %d messages of site a, %d of site b; want 1 each", len(a), len(b))
	}
	for _, c := range []struct {
		u           *siteUser
		own, others *spool.Entry
	}{{h.a, a[0], b[0]}, {h.b, b[0], a[0]}} {
		r := h.sendmail(c.u, nil, "", "-bp")
		all := r.stdout + r.stderr
		switch {
		case strings.Contains(all, c.others.ID) || strings.Contains(all, c.others.Sender) || strings.Contains(all, c.others.Recipients[0]):
			t.Errorf("site %s's mailq shows the other site's message %s:\n%s", c.u.site, c.others.ID, all)
		case r.code != 0 || !strings.Contains(r.stdout, c.own.ID) || !strings.Contains(r.stdout, c.own.Sender) || !strings.Contains(r.stdout, "in 1 Request."):
			t.Errorf("site %s's mailq (exit %d) should list its own message %s, and only it:\n%s", c.u.site, r.code, c.own.ID, all)
		}
	}
}

// TestSecurityFileModes: what sendmail creates in the state and the spool
// belongs to the group and never to everyone, and stays usable by the
// other websites, whatever umask the website that happened to come first
// ran it with.
func TestSecurityFileModes(t *testing.T) {
	for _, umask := range []string{"000", "022", "077"} {
		t.Run("umask "+umask, func(t *testing.T) {
			h := newHostInstall(t, "")
			asA := func(stdin string, args ...string) result {
				t.Helper()
				shell := append([]string{"-c", "umask " + umask + ` && exec "$0" "$@"`, h.bin}, args...)
				return h.as(h.a, nil, stdin, "sh", shell...)
			}
			for _, m := range []struct {
				what  string
				stdin string
				args  []string
			}{
				{"relayed", hamMessage, []string{"-t", "-i"}},
				{"deferred", hamMessage, []string{"-i", deferredRcpt}},
				{"held", string(spamruntest.GuestbookSpam("shop1.example", 0)), []string{"-t", "-i", "-fnoreply@shop1.example"}},
			} {
				if r := asA(m.stdin, m.args...); r.code != 0 {
					t.Fatalf("site a, %s: exit %d %q", m.what, r.code, r.stderr)
				}
			}
			// An open -bs session keeps SQLite's -wal and -shm files
			// in place to be looked at.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			bs := h.command(ctx, h.a, nil, "sh", "-c", "umask "+umask+" && exec "+h.bin+" -bs")
			in, err := bs.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			out, err := bs.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := bs.Start(); err != nil {
				t.Fatal(err)
			}
			greeting, err := bufio.NewReader(out).ReadString('\n')
			if err != nil || !strings.HasPrefix(greeting, "220 ") {
				t.Errorf("-bs greeting %q: %v", greeting, err)
			}
			h.checkModes(t, "state.db", "state.db-wal", "state.db-shm", "state.db-lock")
			io.WriteString(in, "QUIT\r\n")
			in.Close()
			io.Copy(io.Discard, out)
			if err := bs.Wait(); err != nil {
				t.Errorf("-bs: %v", err)
			}

			if r := h.sendmail(h.b, nil, hamMessage, "-t", "-i"); r.code != 0 {
				t.Errorf("site b after site a with umask %s: exit %d %q", umask, r.code, r.stderr)
			}
			if r := h.sendmail(h.b, nil, "", "-bp"); r.code != 0 || r.stderr != "" {
				t.Errorf("site b's mailq after site a with umask %s: exit %d %q", umask, r.code, r.stderr)
			}

			// The manual installation README described before
			// install.sh made only the spool directory, and left its
			// subdirectories to the first sendmail.
			for _, d := range []string{"tmp", "queue", "lock"} {
				if err := os.RemoveAll(filepath.Join(h.spool, d)); err != nil {
					t.Fatal(err)
				}
			}
			if r := asA(hamMessage, "-i", deferredRcpt); r.code != 0 {
				t.Fatalf("site a, first in a bare spool: exit %d %q", r.code, r.stderr)
			}
			h.checkModes(t, "tmp", "queue", "lock")
			if r := h.sendmail(h.b, nil, hamMessage, "-i", deferredRcpt); r.code != 0 {
				t.Errorf("site b after site a made the spool with umask %s: exit %d %q", umask, r.code, r.stderr)
			}
		})
	}
}

// checkModes walks the state and the spool; each name in want must be
// among what it finds.
func (h *hostInstall) checkModes(t *testing.T, want ...string) {
	t.Helper()
	seen := map[string]bool{}
	for _, top := range []string{h.state, h.spool} {
		err := filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			seen[filepath.Base(path)] = true
			st := fi.Sys().(*syscall.Stat_t)
			mode := fi.Mode()
			switch {
			case int(st.Gid) != h.gid:
				t.Errorf("%s: group %d, want %s (%d)", path, st.Gid, h.group, h.gid)
			case mode.Perm()&0o007 != 0:
				t.Errorf("%s: mode %v gives everyone access", path, mode)
			case mode.IsDir() && mode&fs.ModeSetgid == 0:
				t.Errorf("%s: mode %v lacks the setgid bit", path, mode)
			case !mode.IsDir() && !mode.IsRegular():
				t.Errorf("%s: mode %v, not a file or directory", path, mode)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	}
	for _, name := range want {
		if !seen[name] {
			t.Errorf("no %s was created, so its mode went unchecked", name)
		}
	}
}

// TestSecuritySiteCannotStallOthers: a website may signal the sendmail it
// runs, since the real UID is its own. Stopping it must not stop the
// other websites' mail.
func TestSecuritySiteCannotStallOthers(t *testing.T) {
	h := newHostInstall(t, "max_spam = 99999")
	spam := filepath.Join(h.siteFiles, "spam.eml")
	h.writeSiteFile(spam, string(spamruntest.GuestbookSpam("shop1.example", 0)))

	// Spam-marked messages write the state; stopping one somewhere in its
	// short life, again and again, sooner or later stops it inside a
	// write. The shell waits for a line after each stop, while the test
	// tries site b's mail.
	const attempts = 120
	script := fmt.Sprintf(`i=0
while [ $i -lt %d ]; do
	i=$((i + 1))
	%s -t -i <%s >/dev/null 2>&1 &
	pid=$!
	sleep "$(printf '0.%%03d' $((2 + i %% 40)))"
	if kill -STOP $pid 2>/dev/null; then
		echo "stopped $pid"
		read -r answer
		kill -CONT $pid
		if [ "$answer" = stop ]; then wait $pid; exit 0; fi
	fi
	wait $pid
done
`, attempts, h.bin, spam)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	attack := h.command(ctx, h.a, nil, "sh", "-c", script)
	attack.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := attack.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := attack.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := attack.Start(); err != nil {
		t.Fatal(err)
	}
	// Whatever happens, no stopped sendmail outlives the test: the users
	// cannot be deleted while it runs.
	t.Cleanup(func() {
		syscall.Kill(-attack.Process.Pid, syscall.SIGCONT)
		syscall.Kill(-attack.Process.Pid, syscall.SIGKILL)
		attack.Wait()
	})

	const patience = 2 * time.Second
	probe := func() (time.Duration, result, bool) {
		pctx, pcancel := context.WithTimeout(context.Background(), patience)
		defer pcancel()
		start := time.Now()
		cmd := h.command(pctx, h.b, nil, h.bin, "-t", "-i")
		r := runCaptured(t, cmd, hamMessage)
		return time.Since(start), r, pctx.Err() != nil
	}
	stops, stalled := 0, ""
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		pid, ok := strings.CutPrefix(lines.Text(), "stopped ")
		if !ok {
			continue
		}
		stops++
		took, r, timedOut := probe()
		if !timedOut {
			if r.code != 0 {
				t.Errorf("site b while site a's sendmail %s is stopped: exit %d %q", pid, r.code, r.stderr)
			}
			io.WriteString(in, "go\n")
			continue
		}
		stalled = fmt.Sprintf("site a stopped its own sendmail (pid %s, kill -STOP, attempt %d of %d) and site b's next message was still not accepted after %v", pid, stops, attempts, took.Round(time.Millisecond))
		io.WriteString(in, "stop\n")
		break
	}
	in.Close()
	if err := attack.Wait(); err != nil {
		t.Errorf("attack script: %v", err)
	}
	if stalled != "" {
		took, r, timedOut := probe()
		t.Errorf("%s; once it continued, site b's took %v (exit %d, timed out %v)", stalled, took.Round(time.Millisecond), r.code, timedOut)
	}
	t.Logf("site a stopped %d of its %d sendmail runs", stops, attempts)
}
