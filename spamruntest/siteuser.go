package spamruntest

import (
	"crypto/rand"
	"encoding/hex"
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
// programs as them: it needs root and useradd. In CI that fails the test,
// elsewhere it skips it.
func NeedSiteUsers(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		Missing(tb, "root (the test creates website users)")
	}
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
