package mtalock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spamrun/spamrun/spamruntest"
)

const script = "../../scripts/mta-lock.sh"

// programs are the MTA's programs each test copies under its root, by
// their name there, from the system's.
var programs = map[string]string{
	"sendmail.distrib": "/usr/sbin/sendmail", // Postfix's, as install.sh diverts it
	"postdrop":         "/usr/sbin/postdrop",
	"postqueue":        "/usr/sbin/postqueue",
}

// fileMode is what the lock is about: a file's owner, group and mode with
// its setuid and setgid bits.
type fileMode struct {
	UID, GID uint32
	Mode     uint32 // the low 12 bits of st_mode
}

func (m fileMode) String() string { return fmt.Sprintf("%d:%d %04o", m.UID, m.GID, m.Mode) }

func statMode(t *testing.T, path string) fileMode {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return fileMode{st.Uid, st.Gid, st.Mode & 0o7777}
}

func statAll(t *testing.T, root string) map[string]fileMode {
	t.Helper()
	m := make(map[string]fileMode)
	for name := range programs {
		m[name] = statMode(t, filepath.Join(root, "usr/sbin", name))
	}
	return m
}

// need stops a test that lacks what the script and its checks use.
func need(t *testing.T) {
	t.Helper()
	spamruntest.NeedSiteUsers(t)
	spamruntest.NeedCommand(t, "bash", "bash")
	spamruntest.NeedCommand(t, "setpriv", "util-linux")
	for _, src := range programs {
		if _, err := os.Stat(src); err != nil {
			spamruntest.Missing(t, src+" (apt-get install postfix)")
		}
	}
	// The tests copy the system's programs and compare the system's dpkg
	// overrides, which installing the Debian package changes for a while.
	spamruntest.LockSystem(t)
}

// newRoot makes a root for the script, searchable by everyone so that
// only the programs' own modes keep site users out, holding copies of the
// system's programs with their owners and modes, and spamrun's sendmail
// linked as /usr/sbin/sendmail, as install.sh leaves it. With dpkg, it
// also holds a dpkg database with Debian's overrides for postdrop and
// postqueue.
func newRoot(t *testing.T, dpkg bool) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{root, filepath.Dir(root)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"usr/sbin", "usr/local/sbin"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, src := range programs {
		if out, err := exec.Command("cp", "-p", src, filepath.Join(root, "usr/sbin", name)).CombinedOutput(); err != nil {
			t.Fatalf("cp -p %s: %v: %s", src, err, out)
		}
	}
	spamrun := filepath.Join(root, "usr/local/sbin/spamrun-sendmail")
	if err := os.WriteFile(spamrun, []byte("#!/bin/sh\nexit 75\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(spamrun, filepath.Join(root, "usr/sbin/sendmail")); err != nil {
		t.Fatal(err)
	}
	if dpkg {
		spamruntest.NeedCommand(t, "dpkg-statoverride", "dpkg")
		if err := os.MkdirAll(filepath.Join(root, "var/lib/dpkg"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/statoverride"), []byte(debianOverrides), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// debianOverrides are the overrides Debian's postfix package keeps.
const debianOverrides = "root postdrop 2555 /usr/sbin/postdrop\nroot postdrop 2555 /usr/sbin/postqueue\n"

// mtaLock runs the script with args and returns its output.
func mtaLock(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", append([]string{script}, args...)...).CombinedOutput()
	return string(out), err
}

func mustLock(t *testing.T, args ...string) string {
	t.Helper()
	out, err := mtaLock(t, args...)
	if err != nil {
		t.Fatalf("mta-lock.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// probe is an argument on which each of Postfix's programs stops before
// it reads or writes any queue: an option none of them has.
const probe = "-Z"

// runs reports whether cmd could execute the Postfix program at path: nil
// when the program ran, as its own usage message shows.
func runs(cmd *exec.Cmd, path string) error {
	cmd.Stdin = bytes.NewReader(nil)
	out, err := cmd.CombinedOutput()
	// Postfix names itself in its messages as it was called. Installed
	// without a configuration, as the tests install it, it stops at
	// main.cf instead, having run all the same.
	name := filepath.Base(path)
	if !bytes.Contains(out, []byte(name+": fatal: usage")) && !bytes.Contains(out, []byte(name+": fatal: open /etc/postfix/main.cf")) {
		return fmt.Errorf("%s did not run and refuse %s: %v: %s", path, probe, err, out)
	}
	return nil
}

// denied reports whether cmd failed because its user may not execute its
// program, whether the shell of SiteUser.Command or Go's exec says so.
func denied(cmd *exec.Cmd) error {
	cmd.Stdin = bytes.NewReader(nil)
	out, err := cmd.CombinedOutput()
	if spamruntest.ExecDenied(err, out) || errors.Is(err, fs.ErrPermission) {
		return nil
	}
	return fmt.Errorf("%v: %v: %s, want permission denied", cmd.Args, err, out)
}

// asUser is a command running program as uid and gid with the
// supplementary groups given, nothing else.
func asUser(uid, gid int, groups []uint32, program string, args ...string) *exec.Cmd {
	cmd := exec.Command(program, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}}
	cmd.Dir = "/"
	return cmd
}

// TestLockClosesProgramsToSiteUsers: a site user runs every MTA program
// before the lock and none after it; root and the installation user run
// them all; a lock undone by a package upgrade is made again; unlock
// restores exactly what was there.
func TestLockClosesProgramsToSiteUsers(t *testing.T) {
	need(t)
	inst := spamruntest.AddSiteUser(t, "srun") // the installation's user and group
	site := spamruntest.AddSiteUser(t, "site")
	member := spamruntest.AddSiteUser(t, "memb")
	root := newRoot(t, false)
	ctx := context.Background()
	path := func(name string) string { return filepath.Join(root, "usr/sbin", name) }
	lockArgs := []string{"--group", inst.Login, "--root", root}

	before := statAll(t, root)
	for name := range programs {
		if err := runs(site.Command(ctx, nil, path(name), probe), path(name)); err != nil {
			t.Fatalf("before the lock, the site cannot run %s: %v", name, err)
		}
	}

	out := mustLock(t, append([]string{"lock"}, lockArgs...)...)
	if !strings.Contains(out, "no dpkg database under --root") {
		t.Errorf("lock does not say it leaves dpkg-statoverride alone:\n%s", out)
	}
	postdrop := before["postdrop"].GID
	want := map[string]fileMode{
		"sendmail.distrib": {0, uint32(inst.GID), 0o750},
		"postdrop":         {uint32(inst.UID), postdrop, 0o2550},
		"postqueue":        {uint32(inst.UID), postdrop, 0o2550},
	}
	if got := statAll(t, root); !mapsEqual(got, want) {
		t.Fatalf("after lock: %v, want %v", got, want)
	}
	for name := range programs {
		if err := denied(site.Command(ctx, nil, path(name), probe)); err != nil {
			t.Errorf("the site after the lock: %v", err)
		}
		if err := runs(exec.Command(path(name), probe), path(name)); err != nil {
			t.Errorf("root: %v", err)
		}
		if err := runs(inst.Command(ctx, nil, path(name), probe), path(name)); err != nil {
			t.Errorf("the installation user: %v", err)
		}
	}
	// A member of the installation's group runs the MTA's sendmail but
	// not the setgid programs, which only their owner, the installation
	// user, may run: the group bits of postdrop are postdrop's.
	cmd := asUser(member.UID, member.GID, []uint32{uint32(inst.GID)}, path("sendmail.distrib"), probe)
	if err := runs(cmd, path("sendmail.distrib")); err != nil {
		t.Errorf("a member of %s: %v", inst.Login, err)
	}
	cmd = asUser(member.UID, member.GID, []uint32{uint32(inst.GID)}, path("postdrop"), probe)
	if err := denied(cmd); err != nil {
		t.Errorf("a member of %s: %v", inst.Login, err)
	}

	// Locking again changes nothing, and keeps the first record.
	mustLock(t, append([]string{"lock"}, lockArgs...)...)
	if got := statAll(t, root); !mapsEqual(got, want) {
		t.Fatalf("after a second lock: %v, want %v", got, want)
	}
	// An upgrade of postfix puts postdrop back as Debian has it; the lock
	// the apt hook runs closes it again.
	if out, err := exec.Command("sh", "-c", "chown root:postdrop "+path("postdrop")+" && chmod 2555 "+path("postdrop")).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if err := runs(site.Command(ctx, nil, path("postdrop"), probe), path("postdrop")); err != nil {
		t.Fatalf("postdrop as Debian installs it: %v", err)
	}
	mustLock(t, append([]string{"lock"}, lockArgs...)...)
	if err := denied(site.Command(ctx, nil, path("postdrop"), probe)); err != nil {
		t.Errorf("the site after the second lock: %v", err)
	}

	mustLock(t, append([]string{"unlock"}, lockArgs...)...)
	if got := statAll(t, root); !mapsEqual(got, before) {
		t.Errorf("after unlock: %v, want what was there before: %v", got, before)
	}
	for name := range programs {
		if err := runs(site.Command(ctx, nil, path(name), probe), path(name)); err != nil {
			t.Errorf("after unlock, the site cannot run %s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/spamrun-mta-lock/state")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the state outlives unlock: %v", err)
	}
}

// TestLockRefusesWhileSendmailIsTheMTAs: with the MTA's own sendmail
// still at /usr/sbin/sendmail, locking postdrop would cut every site off
// from mail; lock refuses and changes nothing.
func TestLockRefusesWhileSendmailIsTheMTAs(t *testing.T) {
	need(t)
	inst := spamruntest.AddSiteUser(t, "srun")
	root := newRoot(t, false)
	sendmail := filepath.Join(root, "usr/sbin/sendmail")
	if err := os.Remove(sendmail); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-p", "/usr/sbin/sendmail", sendmail).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	before := statAll(t, root)
	out, err := mtaLock(t, "lock", "--group", inst.Login, "--root", root)
	if err == nil || !strings.Contains(out, "is still the MTA's") {
		t.Fatalf("lock with the MTA's sendmail in place: %v\n%s", err, out)
	}
	if got := statAll(t, root); !mapsEqual(got, before) {
		t.Errorf("a refused lock changed %v to %v", before, got)
	}
}

// TestLockKeepsDpkgOverrides: where dpkg is, lock records the locked
// modes as dpkg-statoverride entries, so that dpkg applies them to a new
// version, and unlock puts back the entries it found; the system's dpkg
// database is not touched.
func TestLockKeepsDpkgOverrides(t *testing.T) {
	need(t)
	inst := spamruntest.AddSiteUser(t, "srun")
	root := newRoot(t, true)
	system, _ := os.ReadFile("/var/lib/dpkg/statoverride")
	db := filepath.Join(root, "var/lib/dpkg/statoverride")
	before := statAll(t, root)

	mustLock(t, "lock", "--group", inst.Login, "--root", root)
	wantDB := []string{
		inst.Login + " postdrop 2550 /usr/sbin/postdrop",
		inst.Login + " postdrop 2550 /usr/sbin/postqueue",
		"root " + inst.Login + " 750 /usr/sbin/sendmail.distrib",
	}
	slices.Sort(wantDB)
	if got := lines(t, db); !slices.Equal(got, wantDB) {
		t.Errorf("dpkg overrides after lock:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantDB, "\n"))
	}
	mustLock(t, "unlock", "--group", inst.Login, "--root", root)
	if got, want := lines(t, db), lines(t, "", debianOverrides); !slices.Equal(got, want) {
		t.Errorf("dpkg overrides after unlock:\n%s\nwant Debian's:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := statAll(t, root); !mapsEqual(got, before) {
		t.Errorf("after unlock: %v, want %v", got, before)
	}
	if now, _ := os.ReadFile("/var/lib/dpkg/statoverride"); !bytes.Equal(now, system) {
		t.Errorf("the system's dpkg overrides changed")
	}
}

// TestLockedPostfixTakesRootsMail: after the lock, root's mail through
// the locked sendmail and postdrop reaches a Postfix instance and its
// next hop, check passes, and the site cannot use them; check fails once
// a program is open to others again.
func TestLockedPostfixTakesRootsMail(t *testing.T) {
	need(t)
	spamruntest.NeedPostfix(t)
	inst := spamruntest.AddSiteUser(t, "srun")
	site := spamruntest.AddSiteUser(t, "site")
	root := newRoot(t, false)
	sbin := filepath.Join(root, "usr/sbin")
	// The instance's command directory is the root's: its sendmail runs
	// the locked postdrop. Postfix's other commands are the system's.
	entries, err := os.ReadDir("/usr/sbin")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if name := e.Name(); strings.HasPrefix(name, "post") && programs[name] == "" {
			if err := os.Symlink(filepath.Join("/usr/sbin", name), filepath.Join(sbin, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	mustLock(t, "lock", "--group", inst.Login, "--root", root)

	sink := spamruntest.NewSMTPSink(t)
	pf := spamruntest.StartPostfix(t, spamruntest.PostfixOptions{Relay: sink.Addr(), CommandDirectory: sbin})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := pf.Sendmail(ctx, filepath.Join(sbin, "sendmail.distrib"), "-f", "root@example.org", "-i", "admin@example.net")
	cmd.Stdin = strings.NewReader("Subject: cron output\n\nroot's mail still flows\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("root's sendmail: %v: %s", err, out)
	}
	got := sink.WaitFor(t, 1, 30*time.Second)[0]
	if got.From != "root@example.org" || !slices.Equal(got.To, []string{"admin@example.net"}) ||
		!bytes.Contains(got.Data, []byte("root's mail still flows")) {
		t.Errorf("the next hop got MAIL FROM:<%s> RCPT TO:%v\n%s", got.From, got.To, got.Data)
	}

	cmd = site.Command(ctx, nil, filepath.Join(sbin, "sendmail.distrib"), "-C", pf.ConfigDir(), "-i", "victim@example.net")
	if err := denied(cmd); err != nil {
		t.Errorf("the site's sendmail: %v", err)
	}

	checkArgs := []string{"check", "--group", inst.Login, "--root", root, "--user", site.Login, "--postfix-config", pf.ConfigDir()}
	out := mustLock(t, checkArgs...)
	for _, want := range []string{
		"ok: " + site.Login + " cannot run " + filepath.Join(sbin, "postdrop"),
		"ok: " + inst.Login + " runs " + filepath.Join(sbin, "postdrop"),
		"ok: root runs " + filepath.Join(sbin, "sendmail.distrib"),
		"ok: Postfix answers root",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check does not say %q:\n%s", want, out)
		}
	}
	if err := syscall.Chmod(filepath.Join(sbin, "postdrop"), 0o2551); err != nil {
		t.Fatal(err)
	}
	out, err = mtaLock(t, checkArgs...)
	if err == nil || !strings.Contains(out, "FAIL: "+site.Login+" can run "+filepath.Join(sbin, "postdrop")) {
		t.Errorf("check with postdrop open to others: %v\n%s", err, out)
	}
	if n := len(sink.Messages()); n != 1 {
		t.Errorf("the next hop got %d messages, want root's alone", n)
	}
}

func mapsEqual(a, b map[string]fileMode) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// lines returns the sorted, non-empty lines of the file at path, or of
// text when path is "".
func lines(t *testing.T, path string, text ...string) []string {
	t.Helper()
	s := strings.Join(text, "")
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s = string(b)
	}
	var ls []string
	for l := range strings.Lines(s) {
		if l = strings.TrimSpace(l); l != "" {
			ls = append(ls, l)
		}
	}
	slices.Sort(ls)
	return ls
}

// TestLockExim: Exim's setuid binary, reached also through the diverted
// sendmail that links to it, is locked once, to root and Exim's group,
// keeping its setuid bit; Exim's user runs it, a site user and the
// installation user do not (spamrun relays to Exim by SMTP); check passes
// and unlock restores it. The binary is a copy of true(1), which does
// nothing with the root it runs as.
func TestLockExim(t *testing.T) {
	need(t)
	inst := spamruntest.AddSiteUser(t, "srun")
	site := spamruntest.AddSiteUser(t, "site")
	exim := spamruntest.AddSiteUser(t, "exim") // Exim's user and group
	root := t.TempDir()
	for _, d := range []string{root, filepath.Dir(root)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sbin := filepath.Join(root, "usr/sbin")
	if err := os.MkdirAll(sbin, 0o755); err != nil {
		t.Fatal(err)
	}
	binary := filepath.Join(sbin, "exim4")
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(binary, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Chmod(binary, 0o4755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("exim4", filepath.Join(sbin, "sendmail.distrib")); err != nil {
		t.Fatal(err)
	}
	before := statMode(t, binary)
	ctx := context.Background()
	if out, err := site.Command(ctx, nil, binary).CombinedOutput(); err != nil {
		t.Fatalf("before the lock, the site cannot run Exim: %v: %s", err, out)
	}

	args := []string{"--group", inst.Login, "--root", root, "--exim-group", exim.Login}
	out := mustLock(t, append([]string{"lock"}, args...)...)
	if n := strings.Count(out, "locked "); n != 1 {
		t.Errorf("lock locked %d files, want Exim's binary once:\n%s", n, out)
	}
	if got, want := statMode(t, binary), (fileMode{0, uint32(exim.GID), 0o4750}); got != want {
		t.Errorf("after lock: %v, want %v", got, want)
	}
	if out, err := exim.Command(ctx, nil, binary).CombinedOutput(); err != nil {
		t.Errorf("Exim's user: %v: %s", err, out)
	}
	for _, u := range []spamruntest.SiteUser{site, inst} {
		if err := denied(u.Command(ctx, nil, filepath.Join(sbin, "sendmail.distrib"))); err != nil {
			t.Errorf("%s: %v", u.Login, err)
		}
	}
	out = mustLock(t, append([]string{"check", "--user", site.Login}, args...)...)
	for _, want := range []string{
		"ok: " + site.Login + " cannot run " + binary,
		"ok: " + exim.Login + " runs " + binary,
		"ok: Exim answers root",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check does not say %q:\n%s", want, out)
		}
	}
	mustLock(t, append([]string{"unlock"}, args...)...)
	if got := statMode(t, binary); got != before {
		t.Errorf("after unlock: %v, want %v", got, before)
	}
}
