package packaging

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/spamrun/spamrun/spamruntest"
)

// TestVersionScript checks that scripts/version.sh names the checkout with
// a version dpkg accepts, and one the binaries can print.
func TestVersionScript(t *testing.T) {
	dpkg := spamruntest.NeedCommand(t, "dpkg", "dpkg")
	spamruntest.NeedCommand(t, "git", "git")
	deb := run(t, "../../scripts/version.sh", "--debian")
	if out, err := exec.Command(dpkg, "--validate-version", deb).CombinedOutput(); err != nil {
		t.Errorf("dpkg rejects the package version %q: %v %s", deb, err, out)
	}
	if !regexp.MustCompile(`^(0\.1\.0~git[0-9]{8}\.[0-9a-f]{7,}|[0-9][0-9A-Za-z.]*(\+git[0-9]{8}\.[0-9a-f]{7,})?)(\.dirty)?$`).MatchString(deb) {
		t.Errorf("package version %q is neither a tag nor 0.1.0~git<date>.<sha>", deb)
	}
	plain := run(t, "../../scripts/version.sh")
	if !regexp.MustCompile(`^(0\.0\.0\+git[0-9a-f]{7,}(-dirty)?|[0-9][0-9A-Za-z.+-]*)$`).MatchString(plain) {
		t.Errorf("version %q is neither git describe nor 0.0.0+git<sha>", plain)
	}
	if out, err := exec.Command("../../scripts/version.sh", "--bogus").CombinedOutput(); err == nil {
		t.Errorf("version.sh --bogus succeeded: %s", out)
	}
}

// TestBuildDebRefusesArchitectures checks that build-deb.sh builds only
// for the architectures it supports, before building anything.
func TestBuildDebRefusesArchitectures(t *testing.T) {
	for _, args := range [][]string{{"--arch", "i386"}, {"--arch"}, {"--bogus"}} {
		out, err := exec.Command("../../scripts/build-deb.sh", args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "build-deb.sh: ") {
			t.Errorf("build-deb.sh %q: %v\n%s", args, err, out)
		}
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}
