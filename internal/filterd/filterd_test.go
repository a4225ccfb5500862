package filterd

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spamrun/spamrun/spamruntest"
)

func TestParseVersion(t *testing.T) {
	for out, want := range map[string]string{
		"SpamAssassin Server version 4.0.1\n  running on Perl 5.36.0\n": "4.0.1",
		"Rspamd daemon version 3.4\n":                                   "3.4",
		"rspamd 3.4\n":                                                  "",
		"version\n":                                                     "",
		"":                                                              "",
	} {
		got, ok := parseVersion(out)
		if got != want || ok != (want != "") {
			t.Errorf("parseVersion(%q) = %q, %v; want %q", out, got, ok, want)
		}
	}
}

func TestNotInstalled(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if _, err := StartSpamd(context.Background(), nil); !IsNotInstalled(err) {
		t.Errorf("StartSpamd without spamd = %v, want a not-installed error", err)
	}
	if _, err := StartRspamd(context.Background(), nil); !IsNotInstalled(err) {
		t.Errorf("StartRspamd without rspamd = %v, want a not-installed error", err)
	}
	if IsNotInstalled(errors.New("other")) {
		t.Error("any error counts as not installed")
	}
}

// A program that exits at once must fail the start quickly, with its
// output, and leave no directory behind.
func TestExitDuringStart(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "spamd")
	script := "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'SpamAssassin Server version 9.9'; exit 0; fi\necho 'cannot load rules' >&2\nexit 3\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // the daemon's directory is made here
	_, err := StartSpamd(context.Background(), &SpamdOptions{Path: bin})
	if err == nil {
		t.Fatal("a daemon that exited was reported started")
	}
	for _, want := range []string{"exited during start-up", "cannot load rules"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("%d files left in %s", len(left), tmp)
	}
}

// TestDaemons starts the real daemons, side by side as the evaluation
// program does, and checks that Close stops them and cleans up.
func TestDaemons(t *testing.T) {
	if testing.Short() {
		t.Skip("rspamd takes 10-20 s to start")
	}
	t.Run("spamd", func(t *testing.T) {
		t.Parallel()
		path := spamruntest.NeedCommand(t, "spamd", "spamd")
		d, err := StartSpamd(context.Background(), &SpamdOptions{Path: path, MaxChildren: 1})
		if err != nil {
			t.Fatal(err)
		}
		if d.Version == "" {
			t.Error("no version")
		}
		dir := d.p.dir
		if err := d.check(context.Background()); err != nil {
			t.Errorf("check after start: %v", err)
		}
		closeAndCheck(t, d.Close, d.Addr, dir)
	})
	t.Run("rspamd", func(t *testing.T) {
		t.Parallel()
		path := spamruntest.NeedCommand(t, "rspamd", "rspamd")
		d, err := StartRspamd(context.Background(), &RspamdOptions{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		if d.Version == "" {
			t.Error("no version")
		}
		dir := d.p.dir
		resp, err := http.Get(d.URL + "/ping")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		closeAndCheck(t, d.Close, d.URL[len("http://"):], dir)
	})
}

func closeAndCheck(t *testing.T, close func() error, addr, dir string) {
	t.Helper()
	if err := close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("directory %s still there: %v", dir, err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("something still listens on %s", addr)
	}
}
