package spamruntest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"testing"
)

// SiteUser is a system user created for a test, as a host creates one per
// website: a group of its own, no home directory, no login shell.
type SiteUser struct {
	Login    string
	UID, GID int
}

// NeedSiteUsers stops a test that cannot create site users and run
// programs as them: it needs root, useradd and setpriv. In CI that fails
// the test, elsewhere it skips it.
func NeedSiteUsers(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		Missing(tb, "root (the test creates website users)")
	}
	NeedCommand(tb, "setpriv", "util-linux")
	NeedCommand(tb, "useradd", "passwd")
}

// AddSiteUser creates a system user named prefix and six random hex
// digits, and removes it and its group when the test ends. prefix should
// be short: logins longer than 32 bytes are refused.
func AddSiteUser(tb testing.TB, prefix string) SiteUser {
	tb.Helper()
	b := make([]byte, 3)
	rand.Read(b)
	return AddNamedSiteUser(tb, prefix+hex.EncodeToString(b))
}

// AddNamedSiteUser creates the system user login, as AddSiteUser does.
func AddNamedSiteUser(tb testing.TB, login string) SiteUser {
	tb.Helper()
	out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", login).CombinedOutput()
	if err != nil {
		tb.Fatalf("useradd %s: %v: %s", login, err, out)
	}
	tb.Cleanup(func() {
		if out, err := exec.Command("userdel", login).CombinedOutput(); err != nil {
			tb.Errorf("userdel %s: %v: %s", login, err, out)
		}
		if _, err := user.LookupGroup(login); err == nil {
			if out, err := exec.Command("groupdel", login).CombinedOutput(); err != nil {
				tb.Errorf("groupdel %s: %v: %s", login, err, out)
			}
		}
	})
	u, err := user.Lookup(login)
	if err != nil {
		tb.Fatal(err)
	}
	s := SiteUser{Login: login}
	s.UID, _ = strconv.Atoi(u.Uid)
	s.GID, _ = strconv.Atoi(u.Gid)
	return s
}

// Command returns a command that runs program as u, as PHP-FPM runs a
// site's scripts: real and effective UID and GID the site's, no
// supplementary groups, "/" as working directory, and an environment of
// PATH, LC_ALL=C and env.
//
// setpriv keeps root's capabilities until its own execve, so what it
// executes passes every permission check; it executes a shell, which
// executes program in its place with the site's rights alone. A program
// the site may not execute fails as it does for PHP's shell: exit status
// 126 and "Permission denied" on stderr.
func (u SiteUser) Command(ctx context.Context, env []string, program string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "setpriv", append([]string{
		"--reuid=" + strconv.Itoa(u.UID), "--regid=" + strconv.Itoa(u.GID), "--clear-groups", "--",
		"/bin/sh", "-c", `exec "$0" "$@"`, program,
	}, args...)...)
	cmd.Dir = "/"
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}, env...)
	return cmd
}

// ExecDenied reports whether a command from Command failed, with the
// output given, because the site may not execute its program.
func ExecDenied(err error, output []byte) bool {
	var exit *exec.ExitError
	return errors.As(err, &exit) && exit.ExitCode() == 126 && bytes.Contains(output, []byte("Permission denied"))
}
