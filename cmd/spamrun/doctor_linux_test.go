package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun/internal/doctor"
	"github.com/spamrun/spamrun/spamruntest"
)

// TestMain answers doctor-probe as the spamrun binary does: spamrun
// doctor, run in process, runs this test binary again as each site's
// user.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == doctor.ProbeArg {
		os.Exit(run(os.Args[1:], &env{
			getenv: os.Getenv, now: time.Now,
			stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
			terminal: func(io.Writer) bool { return false },
		}))
	}
	os.Exit(m.Run())
}

// doctorCLI runs spamrun doctor in process on the configuration in toml
// and the doors given.
func doctorCLI(t *testing.T, toml string, doors *doctor.Options, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "spamrun.toml")
	if err := os.WriteFile(path, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"SPAMRUN_CONFIG": path}
	var out, errOut bytes.Buffer
	code = run(append([]string{"doctor"}, args...), &env{
		getenv: func(k string) string { return vars[k] }, now: func() time.Time { return testNow },
		stdout: &out, stderr: &errOut, terminal: func(io.Writer) bool { return false },
		doors: doors,
	})
	return out.String(), errOut.String(), code
}

// greet serves SMTP on addr until the returned function is called: a
// greeting, then 221 to whatever comes.
func greet(t *testing.T, addr, greeting string) (stop func()) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(c, "%s\r\n", greeting)
			bufio.NewReader(c).ReadString('\n')
			fmt.Fprint(c, "221 Bye\r\n")
			c.Close()
		}
	}()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			l.Close()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

// doctorReport is spamrun doctor --json's output.
type doctorReport struct {
	Open  int `json:"open"`
	Sites []struct {
		Site  string `json:"site"`
		User  string `json:"user"`
		UID   int    `json:"uid"`
		Doors []struct {
			Door, Kind, Status, Seen, Fix string
		} `json:"doors"`
	} `json:"sites"`
}

// TestDoctor runs spamrun doctor as an operator would, in a network
// namespace, for two real site users: exit 1 and the fix while an MTA
// answers on 127.0.0.1:25, as JSON too, and exit 0 once only spamrun
// answers there.
func TestDoctor(t *testing.T) {
	if !spamruntest.InNetNS(t) {
		return
	}
	spamruntest.NeedSiteUsers(t)
	shop := spamruntest.AddSiteUser(t, "drs")
	blog := spamruntest.AddSiteUser(t, "drb")
	toml := fmt.Sprintf("[sites.shop]\nuser = %q\n\n[sites.blog]\nuid = %d\n", shop.Login, blog.UID)
	// The doors of this test: no programs (the host's sendmail is not to be
	// run), loopback :25 and :587, the outside address on lo.
	doors := &doctor.Options{Binaries: []string{}, Droppers: []string{}}
	if out, err := exec.Command("ip", "addr", "add", doctor.DefaultRemote+"/32", "dev", "lo").CombinedOutput(); err != nil {
		t.Fatalf("ip addr add: %v: %s", err, out)
	}
	stopMTA := greet(t, "127.0.0.1:25", "220 h ESMTP Postfix")

	out, errOut, code := doctorCLI(t, toml, doors, "--site", "shop", "--timeout", "2s")
	t.Logf("spamrun doctor --site shop:\n%s%s", out, errOut)
	if code != 1 {
		t.Errorf("exit %d with an MTA on 127.0.0.1:25, want 1", code)
	}
	for _, want := range []string{
		fmt.Sprintf("site shop: user %s, UID %d\n", shop.Login, shop.UID),
		"fix 127.0.0.1:25: egress = \"redirect\" in spamrun.toml and `spamrun egress apply`",
		"1 door is OPEN",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q", want)
		}
	}
	if strings.Contains(out, "site blog") {
		t.Errorf("--site shop tried blog too")
	}
	if errOut != "spamrun: doctor: 1 door is open\n" {
		t.Errorf("stderr %q", errOut)
	}

	out, _, code = doctorCLI(t, toml, doors, "--json", "--timeout", "2s")
	var rep doctorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if code != 1 || rep.Open != 2 || len(rep.Sites) != 2 {
		t.Fatalf("every site, as JSON: exit %d, %s", code, out)
	}
	for i, want := range []struct {
		site string
		uid  int
	}{{"blog", blog.UID}, {"shop", shop.UID}} {
		s := rep.Sites[i]
		if s.Site != want.site || s.UID != want.uid || len(s.Doors) != 6 {
			t.Errorf("site %d: %+v, want %s with UID %d and 6 doors", i, s, want.site, want.uid)
		}
		for _, d := range s.Doors {
			wantStatus := "closed"
			if d.Door == "127.0.0.1:25" {
				wantStatus = "OPEN"
			}
			if d.Status != wantStatus || (d.Fix != "") != (wantStatus == "OPEN") {
				t.Errorf("site %s, door %s: %+v, want %s", s.Site, d.Door, d, wantStatus)
			}
		}
	}

	stopMTA()
	greet(t, "127.0.0.1:25", "220 h ESMTP spamrun")
	out, errOut, code = doctorCLI(t, toml, doors, "--user", shop.Login, "--timeout", "2s")
	if code != 0 || errOut != "" || !strings.HasSuffix(out, "\nevery door is closed or leads through spamrun\n") {
		t.Errorf("with spamrun on 127.0.0.1:25: exit %d\n%s%s", code, out, errOut)
	}
}

// TestDoctorUsage checks the flags before anything is tried.
func TestDoctorUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--site", "shop", "--user", "shop"},
		{"shop"},
		{"--timeout", "0s"},
		{"--site", "../etc"},
	} {
		if _, errOut, code := doctorCLI(t, "", nil, args...); code != exitUsage || !strings.Contains(errOut, "usage: spamrun doctor") {
			t.Errorf("doctor %q: exit %d, stderr %q; want %d and the usage", args, code, errOut, exitUsage)
		}
	}
}

// buildSpamrun builds the spamrun command into a directory every user
// can enter and returns its path.
func buildSpamrun(t *testing.T) string {
	t.Helper()
	goTool := spamruntest.NeedCommand(t, "go", "golang-go")
	dir, err := os.MkdirTemp("", "spamrun-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "spamrun")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestDoctorNeedsRoot runs the built spamrun as a site user: it refuses,
// with exit 77, before it reads anything.
func TestDoctorNeedsRoot(t *testing.T) {
	spamruntest.NeedSiteUsers(t)
	bin := buildSpamrun(t)
	u := spamruntest.AddSiteUser(t, "drn")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := u.Command(ctx, nil, bin, "doctor")
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitNoPerm {
		t.Fatalf("spamrun doctor as %s: %v, want exit %d; stderr %q", u.Login, err, exitNoPerm, stderr.String())
	}
	if want := "spamrun: doctor: must run as root, to try the doors as each website's user\n"; stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
}

// hideMTA runs a program in a network namespace and a mount namespace of
// its own, where the MTA's programs at their real paths are replaced by
// bind mounts, and where the outside address is on loopback with nothing
// listening: /usr/sbin/sendmail by one that greets as spamrun,
// postdrop and postqueue by the files given, and every other MTA program
// by one only root may run. The real files are not touched.
const hideMTA = `set -e
ip link set lo up
ip addr add 203.0.113.1/32 dev lo
mount --make-rprivate /
mount --bind "$FAKES/sendmail" /usr/sbin/sendmail
mount --bind "$FAKES/postdrop" /usr/sbin/postdrop
mount --bind "$FAKES/postqueue" /usr/sbin/postqueue
for f in /usr/sbin/sendmail.distrib /usr/sbin/sendmail.postfix /usr/lib/sendmail /usr/sbin/exim4 /usr/sbin/exim; do
	if [ -e "$f" ] && [ ! -L "$f" ]; then mount --bind "$FAKES/closed" "$f"; fi
done
exec "$@"
`

// TestDoctorBinaryOnTheHostsDoors runs the built spamrun doctor on its
// default doors, the real paths of sendmail and Postfix's programs, with
// fakes mounted over them in a namespace: exit 1 and the fix while
// postqueue is everyone's, exit 0 once it is not.
func TestDoctorBinaryOnTheHostsDoors(t *testing.T) {
	spamruntest.NeedSiteUsers(t)
	spamruntest.NeedCommand(t, "unshare", "util-linux")
	spamruntest.NeedCommand(t, "mount", "mount")
	for _, path := range []string{"/usr/sbin/sendmail", "/usr/sbin/postdrop", "/usr/sbin/postqueue"} {
		if _, err := os.Stat(path); err != nil {
			spamruntest.Missing(t, path+" (apt-get install postfix)")
		}
	}
	// The fakes are mounted over the system's paths, which installing the
	// Debian package changes for a while.
	spamruntest.LockSystem(t)
	bin := buildSpamrun(t)
	u := spamruntest.AddSiteUser(t, "drh")
	fakes, err := os.MkdirTemp("", "doctor-fakes-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(fakes) })
	for name, p := range map[string]struct {
		mode   os.FileMode
		script string
	}{
		"sendmail":  {0o755, "#!/bin/sh\nprintf '220 h ESMTP spamrun\\r\\n'\nread -r line\nprintf '221 Bye\\r\\n'\n"},
		"postdrop":  {0o750, "#!/bin/sh\nexit 0\n"},
		"postqueue": {0o755, "#!/bin/sh\nexit 0\n"},
		"closed":    {0o700, "#!/bin/sh\nexit 0\n"},
	} {
		path := filepath.Join(fakes, name)
		if err := os.WriteFile(path, []byte(p.script), p.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, p.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(fakes, 0o755); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(fakes, "spamrun.toml")
	if err := os.WriteFile(config, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	doctor := func() (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "unshare", "-n", "-m", "--", "sh", "-c", hideMTA, "sh",
			bin, "doctor", "--user", u.Login, "--timeout", "2s")
		cmd.Env = append(os.Environ(), "FAKES="+fakes, "SPAMRUN_CONFIG="+config)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("spamrun doctor: %v\n%s", err, out)
		}
		return string(out), cmd.ProcessState.ExitCode()
	}

	out, code := doctor()
	t.Logf("spamrun doctor, postqueue open:\n%s", out)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		`(?m)^  /usr/sbin/sendmail +sendmail +through spamrun +220 h ESMTP spamrun$`,
		`(?m)^  /usr/sbin/postdrop +dropper +closed +this user may not execute it$`,
		`(?m)^  /usr/sbin/postqueue +dropper +OPEN +this user may execute it$`,
		`(?m)^  203\.0\.113\.1:465 +smtp-outside +closed +`,
		`(?m)^  fix /usr/sbin/postqueue: chmod o-x /usr/sbin/postqueue \(scripts/install\.sh does this\)$`,
		`(?m)^1 door is OPEN\nspamrun: doctor: 1 door is open\n$`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("the output does not match %s", want)
		}
	}

	if err := os.Chmod(filepath.Join(fakes, "postqueue"), 0o750); err != nil {
		t.Fatal(err)
	}
	if out, code := doctor(); code != 0 || !strings.Contains(out, "every door is closed or leads through spamrun") {
		t.Errorf("postqueue closed: exit %d\n%s", code, out)
	}
}
