package packaging

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jhillyerd/enmime/v2"

	"github.com/spamrun/spamrun/internal/syncbuf"
	"github.com/spamrun/spamrun/spamruntest"
)

// The paths the package installs and the machine's own it changes.
const (
	sendmail     = "/usr/sbin/sendmail"
	distrib      = "/usr/sbin/sendmail.distrib"
	spamSendmail = "/usr/sbin/spamrun-sendmail"
	front        = "/usr/sbin/spamrun-sendmail-front"
	runDir       = "/run/spamrun"
	frontSocket  = runDir + "/sendmail.sock"
	tmpfilesConf = "/usr/lib/tmpfiles.d/spamrun.conf"
	operator     = "/usr/sbin/spamrun"
	configFile   = "/etc/spamrun/spamrun.toml"
	stateDir     = "/var/lib/spamrun"
	spoolDir     = "/var/spool/spamrun"
	cronFile     = "/etc/cron.d/spamrun"
	aptHook      = "/etc/apt/apt.conf.d/99spamrun-mta-lock"
	mtaLockState = "/var/lib/spamrun-mta-lock"
	installUser  = "spamrun"
)

// mtaPrograms are Postfix's programs the package locks and must give back
// as they were.
var mtaPrograms = []string{"/usr/sbin/postdrop", "/usr/sbin/postqueue"}

// TestDebianPackage builds the package with scripts/build-deb.sh (or takes
// the one SPAMRUN_DEB names), finds no lintian error in it, and installs
// it with apt-get on this machine, next to Postfix, in a network
// namespace of its own so that the egress lock it loads stays there. PHP's
// mail(), run as a site user, goes through the diverted
// /usr/sbin/sendmail, the sendmail front, to the relay the test
// configures, an SMTP sink: once through spamrun serve, which the test
// starts as the package's user, while the full sendmail cannot run, and
// once, with the daemon stopped, through the full sendmail the front falls
// back to. apt-get remove gives Postfix its sendmail and its programs' modes back
// and keeps the state, the spool and the configuration; apt-get purge
// removes them and the user. The machine ends as it began, also when the
// test fails.
func TestDebianPackage(t *testing.T) {
	if !spamruntest.InNetNS(t) {
		return
	}
	for _, c := range [][2]string{
		{"dpkg-deb", "dpkg"}, {"dpkg-divert", "dpkg"}, {"dpkg-statoverride", "dpkg"},
		{"apt-get", "apt"}, {"lintian", "lintian"}, {"nft", "nftables"},
	} {
		spamruntest.NeedCommand(t, c[0], c[1])
	}
	php := spamruntest.NeedCommand(t, "php", "php-cli")
	spamruntest.NeedPostfix(t)
	spamruntest.NeedSiteUsers(t)
	spamruntest.LockSystem(t)

	before := takeSnapshot(t)
	if before.installed != "" {
		t.Fatalf("spamrun is installed on this machine already (%s): the test installs and purges it", before.installed)
	}
	if _, err := user.Lookup(installUser); err == nil {
		t.Fatalf("a user %s exists already (from install.sh?): purging the package would remove it", installUser)
	}
	if before.diverted {
		t.Fatalf("%s is diverted already: %s", sendmail, before.diversions)
	}
	t.Cleanup(func() {
		if takeSnapshot(t).installed != "" {
			t.Log("purging the package the test installed")
			aptGet(t, "purge", "spamrun")
		}
		if after := takeSnapshot(t); !after.equal(before) {
			t.Errorf("the machine is not as the test found it:\nbefore: %+v\nafter:  %+v", before, after)
		}
	})

	deb := buildPackage(t)
	lint(t, deb)

	out := aptGet(t, "install", deb)
	t.Logf("apt-get install:\n%s", out)
	version := dpkgVersion(t)
	checkInstalled(t, before, version)
	// Installing again, as an upgrade does, keeps it all in place.
	out = aptGet(t, "install", "--reinstall", deb)
	t.Logf("apt-get install --reinstall:\n%s", out)
	checkInstalled(t, before, version)

	sink := spamruntest.NewSMTPSink(t)
	relayTo(t, sink.Addr())
	site := spamruntest.AddSiteUser(t, "deb")

	// Through spamrun serve: the full sendmail cannot run meanwhile, so
	// only the daemon can have taken the message.
	d := startServe(t)
	withoutFullSendmail(t, func() {
		sendWithPHP(t, php, site, sink, "Order 1001 is on its way")
	})
	d.waitForEvent(t, "sendmail")
	d.stop(t)
	// Without the daemon the front runs the full sendmail.
	if _, err := os.Lstat(frontSocket); err == nil {
		t.Errorf("%s is left after spamrun serve stopped", frontSocket)
	}
	sendWithPHP(t, php, site, sink, "Order 1002 is on its way")

	out = aptGet(t, "remove", "spamrun")
	t.Logf("apt-get remove:\n%s", out)
	checkRemoved(t, before)

	out = aptGet(t, "purge", "spamrun")
	t.Logf("apt-get purge:\n%s", out)
	checkPurged(t, before)

	// A host that installed from source first has a local diversion and
	// a link to /usr/local/sbin: the package takes the diversion over, and
	// its purge gives Postfix its sendmail back.
	sourceInstallDiversion(t)
	aptGet(t, "install", deb)
	if diversions := list(t, "dpkg-divert", "--list", sendmail); !strings.Contains(diversions, "diversion of /usr/sbin/sendmail to /usr/sbin/sendmail.distrib by spamrun") {
		t.Errorf("after installing over a source install, dpkg-divert --list %s:\n%s", sendmail, diversions)
	}
	if target, err := os.Readlink(sendmail); err != nil || target != front {
		t.Errorf("after installing over a source install, %s links to %q (%v), want %s", sendmail, target, err, front)
	}
	aptGet(t, "purge", "spamrun")
	checkPurged(t, before)
}

// sourceInstallDiversion diverts Postfix's sendmail as scripts/install.sh
// does, locally, and links the front of a source install in its place;
// the test's cleanup undoes it if the package did not.
func sourceInstallDiversion(t *testing.T) {
	const sourceFront = "/usr/local/sbin/spamrun-sendmail-front"
	t.Helper()
	if out, err := exec.Command("dpkg-divert", "--local", "--rename", "--divert", distrib, "--add", sendmail).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-divert --local: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if strings.Contains(list(t, "dpkg-divert", "--list", sendmail), "local diversion") {
			if target, err := os.Readlink(sendmail); err == nil && target == sourceFront {
				os.Remove(sendmail)
			}
			if out, err := exec.Command("dpkg-divert", "--local", "--rename", "--remove", sendmail).CombinedOutput(); err != nil {
				t.Errorf("removing the local diversion: %v\n%s", err, out)
			}
		}
	})
	if err := os.Symlink(sourceFront, sendmail); err != nil {
		t.Fatal(err)
	}
}

// buildPackage returns the package SPAMRUN_DEB names, or builds one.
func buildPackage(t *testing.T) string {
	t.Helper()
	if deb := os.Getenv("SPAMRUN_DEB"); deb != "" {
		abs, err := filepath.Abs(deb)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	out := t.TempDir()
	script, err := filepath.Abs("../../scripts/build-deb.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(script, "--out", out)
	output, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("build-deb.sh: %v\n%s", err, output)
	}
	lines := strings.Split(strings.TrimSpace(string(output)), "\n")
	deb := lines[len(lines)-1]
	if !strings.HasPrefix(filepath.Base(deb), "spamrun_") || !strings.HasSuffix(deb, ".deb") {
		t.Fatalf("build-deb.sh did not name a package last:\n%s", output)
	}
	return deb
}

// lint runs lintian on the package: no error may be left.
func lint(t *testing.T, deb string) {
	t.Helper()
	out, err := exec.Command("lintian", "--fail-on", "error", deb).CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "E: ") {
			t.Errorf("lintian: %s", line)
		}
	}
	if err != nil {
		t.Fatalf("lintian %s: %v\n%s", filepath.Base(deb), err, out)
	}
	t.Logf("lintian:\n%s", out)
}

// aptGet runs apt-get unattended, waiting for the dpkg lock when another
// apt-get holds it.
func aptGet(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	args = append([]string{"-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300"}, args...)
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("apt-get %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func dpkgVersion(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "spamrun").Output()
	if err != nil {
		t.Fatalf("dpkg-query spamrun: %v", err)
	}
	return string(out)
}

// checkInstalled checks what postinst did: the user, the modes, the
// diversion, the lock of the MTA's programs, the cron job and the egress
// lock.
func checkInstalled(t *testing.T, before *snapshot, version string) {
	t.Helper()
	if _, err := user.Lookup(installUser); err != nil {
		t.Errorf("no user %s after install: %v", installUser, err)
	}
	for path, want := range map[string]string{
		spamSendmail:        "spamrun:spamrun 6755",
		front:               "root:root 755",
		runDir:              "spamrun:spamrun 755",
		operator:            "root:spamrun 750",
		configFile:          "root:spamrun 640",
		stateDir:            "root:spamrun 2770",
		spoolDir:            "root:spamrun 2770",
		spoolDir + "/queue": "root:spamrun 2770",
	} {
		if got := describe(t, path); got != want {
			t.Errorf("%s is %s, want %s", path, got, want)
		}
	}
	if target, err := os.Readlink(sendmail); err != nil || target != front {
		t.Errorf("%s links to %q (%v), want %s", sendmail, target, err, front)
	}
	if resolved, err := filepath.EvalSymlinks(sendmail); err != nil || resolved != front {
		t.Errorf("%s resolves to %q (%v), want %s", sendmail, resolved, err, front)
	}
	if fi, err := os.Stat(runDir); err != nil || !fi.IsDir() {
		t.Errorf("%s is no directory: %v", runDir, err)
	}
	if conf, err := os.ReadFile(tmpfilesConf); err != nil || !strings.Contains(string(conf), "\nd "+runDir+" 0755 spamrun spamrun -\n") {
		t.Errorf("%s does not make %s at boot: %v\n%s", tmpfilesConf, runDir, err, conf)
	}
	if cfg, err := os.ReadFile(configFile); err != nil || !strings.Contains(string(cfg), "\nsendmail_socket = \""+frontSocket+"\"") {
		t.Errorf("%s does not set sendmail_socket to %s: %v", configFile, frontSocket, err)
	}
	if sum := fileSum(t, distrib); sum != before.sendmailSum {
		t.Errorf("%s is not Postfix's sendmail (sha256 %s, Postfix's %s)", distrib, sum, before.sendmailSum)
	}
	if diversions := list(t, "dpkg-divert", "--list", "spamrun"); !strings.Contains(diversions, "diversion of /usr/sbin/sendmail to /usr/sbin/sendmail.distrib by spamrun") {
		t.Errorf("dpkg-divert --list spamrun:\n%s", diversions)
	}
	for _, p := range mtaPrograms {
		if got := describe(t, p); got != "spamrun:postdrop 2550" {
			t.Errorf("%s is %s, want spamrun:postdrop 2550 (locked)", p, got)
		}
	}
	if got := describe(t, distrib); got != "root:spamrun 750" {
		t.Errorf("%s is %s, want root:spamrun 750 (locked)", distrib, got)
	}
	if _, err := os.Stat(aptHook); err != nil {
		t.Errorf("the apt hook that locks the MTA again: %v", err)
	}
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		if cron, err := os.ReadFile(cronFile); err != nil || !strings.Contains(string(cron), installUser+" flock -n "+stateDir+"/serve.lock "+operator+" serve") {
			t.Errorf("without systemd, %s runs spamrun serve: %v\n%s", cronFile, err, cron)
		} else if !strings.Contains(string(cron), "@reboot root install -d -o spamrun -g spamrun -m 0755 /run/spamrun\n") {
			t.Errorf("without systemd, %s does not make /run/spamrun at boot:\n%s", cronFile, cron)
		}
	}
	if tables := list(t, "nft", "list", "tables"); !strings.Contains(tables, "table inet spamrun") {
		t.Errorf("the egress lock is not loaded: nft list tables:\n%s", tables)
	}
	if out := list(t, operator, "version"); out != "spamrun "+version+"\n" {
		t.Errorf("spamrun version printed %q, the package is %s", out, version)
	}
	for _, f := range []string{
		"/usr/share/man/man8/spamrun.8.gz", "/usr/share/man/man8/spamrun-sendmail.8.gz",
		"/usr/share/man/man8/spamrun-sendmail-front.8.gz",
		"/usr/share/man/man5/spamrun.toml.5.gz", "/usr/share/bash-completion/completions/spamrun",
		"/usr/share/doc/spamrun/copyright", "/usr/share/doc/spamrun/changelog.gz",
		"/lib/systemd/system/spamrun-queue.service", "/lib/systemd/system/spamrun-egress.service",
	} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("the package lacks %s: %v", f, err)
		}
	}
	if out := list(t, "man", "-w", "spamrun.toml"); strings.TrimSpace(out) != "/usr/share/man/man5/spamrun.toml.5.gz" {
		t.Errorf("man -w spamrun.toml: %q", out)
	}
}

// relayTo points the installed configuration's relay at addr, as an
// operator edits it after installing.
func relayTo(t *testing.T, addr string) {
	t.Helper()
	cfg, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	edited := 0
	for _, line := range strings.Split(string(cfg), "\n") {
		switch {
		case strings.HasPrefix(line, "smtp = "):
			line = fmt.Sprintf("smtp = %q", addr)
			edited++
		case strings.HasPrefix(line, "starttls = "):
			line = `starttls = "off"`
			edited++
		case strings.HasPrefix(line, "username = "), strings.HasPrefix(line, "password = "):
			continue
		case strings.HasPrefix(line, "syslog "):
			line = "syslog = false"
		}
		lines = append(lines, line)
	}
	if edited != 2 {
		t.Fatalf("%s: found %d of the lines smtp and starttls to edit", configFile, edited)
	}
	if err := os.WriteFile(configFile, []byte(strings.Join(lines, "\n")), 0o640); err != nil {
		t.Fatal(err)
	}
}

// phpMail is a script that sends with PHP's mail(), as a website does.
const phpMail = `$ok = mail($argv[1], $argv[3], "Thank you for your order.\nIt ships tomorrow from our store.\n", "From: orders@" . $argv[2]);
echo $ok ? "sent\n" : "failed\n";
exit($ok ? 0 : 1);`

// sendWithPHP sends a message with mail() as site, with the subject
// given, and checks that the relay got it, and it alone, through spamrun.
func sendWithPHP(t *testing.T, php string, site spamruntest.SiteUser, sink *spamruntest.SMTPSink, subject string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	relayed := len(sink.Messages())
	cmd := site.Command(ctx, nil, php, "-d", "sendmail_path="+sendmail+" -t -i", "-r", phpMail,
		"customer@example.org", "shop.example", subject)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "sent") {
		t.Fatalf("mail() as %s: %v\n%s", site.Login, err, out)
	}
	msgs := sink.WaitFor(t, relayed+1, time.Minute)
	if len(msgs) != relayed+1 {
		t.Fatalf("the relay got %d messages, want %d", len(msgs), relayed+1)
	}
	m := msgs[relayed]
	if !slices.Equal(m.To, []string{"customer@example.org"}) {
		t.Errorf("relayed to %v", m.To)
	}
	env, err := enmime.ReadEnvelope(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("parsing the relayed message: %v", err)
	}
	if got := env.GetHeader("Subject"); got != subject {
		t.Errorf("Subject %q, want %q", got, subject)
	}
	if !strings.Contains(env.Text, "It ships tomorrow") {
		t.Errorf("body %q", env.Text)
	}
	if env.GetHeader("Message-Id") == "" {
		t.Errorf("spamrun's sendmail adds a Message-ID; the relayed message has none:\n%s", m.Data)
	}
}

// checkRemoved checks what prerm and postrm did on remove: Postfix has its
// sendmail and its programs' modes back, the lock and the cron job are
// gone, and the state, the spool, the configuration and the user stay.
func checkRemoved(t *testing.T, before *snapshot) {
	t.Helper()
	now := takeSnapshot(t)
	if now.sendmailSum != before.sendmailSum || now.diverted || now.diversions != before.diversions {
		t.Errorf("after remove, %s is not Postfix's: sha256 %s (Postfix's %s), diversions:\n%s", sendmail, now.sendmailSum, before.sendmailSum, now.diversions)
	}
	if !slices.Equal(now.mtaModes, before.mtaModes) {
		t.Errorf("after remove, Postfix's programs are %v, were %v", now.mtaModes, before.mtaModes)
	}
	if !strings.HasPrefix(now.installed, "deinstall ok config-files") {
		t.Errorf("after remove, dpkg says spamrun is %q", now.installed)
	}
	for _, gone := range []string{spamSendmail, front, operator, distrib, cronFile, aptHook, mtaLockState, runDir, tmpfilesConf} {
		if _, err := os.Lstat(gone); err == nil {
			t.Errorf("after remove, %s is still there", gone)
		}
	}
	for _, kept := range []string{stateDir, spoolDir + "/queue", configFile} {
		if _, err := os.Stat(kept); err != nil {
			t.Errorf("remove did not keep %s: %v", kept, err)
		}
	}
	if entries, _ := os.ReadDir(stateDir); len(entries) == 0 {
		t.Errorf("remove kept %s empty: the state of the message sent is gone", stateDir)
	}
	if _, err := user.Lookup(installUser); err != nil {
		t.Errorf("remove did not keep the user %s: %v", installUser, err)
	}
	if tables := list(t, "nft", "list", "tables"); strings.Contains(tables, "spamrun") {
		t.Errorf("the egress lock stays after remove:\n%s", tables)
	}
}

// checkPurged checks that purge leaves the machine as it was.
func checkPurged(t *testing.T, before *snapshot) {
	t.Helper()
	now := takeSnapshot(t)
	if !now.equal(before) {
		t.Errorf("after purge:\n%+v\nbefore install:\n%+v", now, before)
	}
	for _, gone := range []string{stateDir, spoolDir, "/etc/spamrun", runDir, tmpfilesConf, front} {
		if _, err := os.Lstat(gone); err == nil {
			t.Errorf("after purge, %s is still there", gone)
		}
	}
	if _, err := user.Lookup(installUser); err == nil {
		t.Errorf("after purge, the user %s is still there", installUser)
	}
	if _, err := user.LookupGroup(installUser); err == nil {
		t.Errorf("after purge, the group %s is still there", installUser)
	}
	units, _ := filepath.Glob("/etc/systemd/system/*/spamrun-*")
	masks, _ := filepath.Glob("/etc/systemd/system/spamrun-*")
	if left := append(units, masks...); len(left) > 0 {
		t.Errorf("after purge, systemd links are left: %v", left)
	}
}

// snapshot is what the package may change on the machine and must give
// back.
type snapshot struct {
	installed     string // dpkg's status of spamrun, "" when it has none
	sendmailSum   string // sha256 of /usr/sbin/sendmail, followed
	diverted      bool
	diversions    string // dpkg-divert --list of the sendmail's paths
	statOverrides string // dpkg-statoverride --list, sorted
	mtaModes      []string
}

func takeSnapshot(t *testing.T) *snapshot {
	t.Helper()
	s := &snapshot{sendmailSum: fileSum(t, sendmail)}
	if out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", "spamrun").Output(); err == nil && !strings.HasPrefix(string(out), "unknown") && !strings.Contains(string(out), "not-installed") {
		s.installed = string(out)
	}
	s.diversions = list(t, "dpkg-divert", "--list", "*sendmail*") + list(t, "dpkg-divert", "--list", "*mailq*")
	s.diverted = strings.Contains(s.diversions, sendmail+" to")
	lines := strings.Split(strings.TrimSpace(list(t, "dpkg-statoverride", "--list")), "\n")
	slices.Sort(lines)
	s.statOverrides = strings.Join(lines, "\n")
	for _, p := range mtaPrograms {
		s.mtaModes = append(s.mtaModes, p+" "+describe(t, p))
	}
	return s
}

func (s *snapshot) equal(o *snapshot) bool {
	return s.installed == o.installed && s.sendmailSum == o.sendmailSum && s.diverted == o.diverted &&
		s.diversions == o.diversions && s.statOverrides == o.statOverrides && slices.Equal(s.mtaModes, o.mtaModes)
}

// list runs a command that prints a listing; a listing of nothing may
// exit 1 (dpkg-statoverride, dpkg-divert).
func list(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil && (len(out) > 0 || stderr.Len() > 0) {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// describe is a file's owner, group and mode as "owner:group mode", the
// mode in octal with its setuid, setgid and sticky bits.
func describe(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		return "missing"
	}
	st := fi.Sys().(*syscall.Stat_t)
	owner, group := fmt.Sprint(st.Uid), fmt.Sprint(st.Gid)
	if u, err := user.LookupId(owner); err == nil {
		owner = u.Username
	}
	if g, err := user.LookupGroupId(group); err == nil {
		group = g.Name
	}
	return fmt.Sprintf("%s:%s %o", owner, group, st.Mode&0o7777)
}

// fileSum is the sha256 of the file path leads to.
func fileSum(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		return "missing: " + err.Error()
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// serveProcess is spamrun serve as the test runs it, where no systemd
// runs the unit: as the package's user, with the unit's umask, its JSON
// log on standard error kept.
type serveProcess struct {
	cmd     *exec.Cmd
	log     *syncbuf.Buffer
	done    chan error
	stopped bool
}

// startServe starts spamrun serve and waits for its socket for the
// sendmail front.
func startServe(t *testing.T) *serveProcess {
	t.Helper()
	if _, err := os.Lstat(frontSocket); err == nil {
		t.Fatalf("%s exists before the test starts spamrun serve: another one runs", frontSocket)
	}
	cmd := exec.Command("setpriv", "--reuid="+installUser, "--regid="+installUser, "--clear-groups",
		"/bin/sh", "-c", "umask 0007 && exec "+operator+" serve")
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	d := &serveProcess{cmd: cmd, log: &syncbuf.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = d.log, d.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting spamrun serve: %v", err)
	}
	go func() { d.done <- cmd.Wait() }()
	t.Cleanup(func() { d.stop(t) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if fi, err := os.Lstat(frontSocket); err == nil && fi.Mode().Type() == os.ModeSocket {
			if got := describe(t, frontSocket); got != "spamrun:spamrun 666" {
				t.Errorf("%s is %s, want spamrun:spamrun 666: websites connect to it", frontSocket, got)
			}
			return d
		}
		select {
		case err := <-d.done:
			d.stopped = true
			t.Fatalf("spamrun serve ended before it made %s: %v\n%s", frontSocket, err, d.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("spamrun serve made no %s in 30s:\n%s", frontSocket, d.log.String())
		}
	}
}

// waitForEvent waits for the daemon to log an event of a message that
// came in by door.
func (d *serveProcess) waitForEvent(t *testing.T, door string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, line := range strings.Split(d.log.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["door"] == door && rec["id"] != nil {
				t.Logf("spamrun serve logged: %s", line)
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("spamrun serve logged no event of door %q in 30s:\n%s", door, d.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop stops the daemon with SIGTERM, as systemd does, and checks that
// it ended cleanly.
func (d *serveProcess) stop(t *testing.T) {
	t.Helper()
	if d.stopped {
		return
	}
	d.stopped = true
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("spamrun serve: %v\n%s", err, d.log.String())
		}
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		t.Errorf("spamrun serve did not end within 30s of SIGTERM:\n%s", d.log.String())
	}
}

// withoutFullSendmail runs f while no one can run the full sendmail, so
// that the front cannot fall back to it, and gives it its mode back.
func withoutFullSendmail(t *testing.T, f func()) {
	t.Helper()
	restored := false
	restore := func() {
		if restored {
			return
		}
		restored = true
		if err := os.Chmod(spamSendmail, 0o755|os.ModeSetuid|os.ModeSetgid); err != nil {
			t.Errorf("giving %s its mode back: %v", spamSendmail, err)
		}
	}
	if err := os.Chmod(spamSendmail, 0); err != nil {
		t.Fatal(err)
	}
	defer restore()
	// The front's fallback fails now: mailq is always the full sendmail's.
	probe := spamruntest.AddSiteUser(t, "debq")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := probe.Command(ctx, nil, sendmail, "-bp").CombinedOutput(); err == nil || !strings.Contains(string(out), "spamrun-sendmail") {
		t.Fatalf("with %s unrunnable, %s -bp: %v\n%s", spamSendmail, sendmail, err, out)
	}
	f()
	restore()
	if got := describe(t, spamSendmail); got != "spamrun:spamrun 6755" {
		t.Errorf("%s is %s after the test gave it its mode back", spamSendmail, got)
	}
}
