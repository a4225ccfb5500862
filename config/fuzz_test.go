package config_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/config"
	"github.com/spamrun/spamrun/internal/host"
)

// FuzzParse checks that whatever the file, Parse returns a config that
// passes its own validation and from which package host builds what
// sendmail builds, or an error that names the file, the same error every
// time.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("spamrun.toml.example")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(example),
		"",
		"[policy]\nmax_spam = -1\nwindow = \"0s\"\n",
		"[relay]\nsmtp = \"127.0.0.1:25\"\ncommand = \"/usr/sbin/sendmail -i\"\n",
		"relay = { smtp = \"[::1]:25\", starttls = \"required\" }\n",
		"[sites.\"a.example\"]\nuid = 7\ndomains = [\"a.example\"]\n[sites.b]\nuid = 7\n",
		"sites.x.max_spam = 0\nsites.x.exempt = true\n",
		"article_url = \"\"\"\nhttps://a.example/\n\"\"\"\n[store]\nkind = \"redis\"\nurl = \"unix:///run/redis.sock\"\n",
		"[enforce]\ncommand = \"/bin/panel '{site}' \\\"x\\\"\"\nwebhook = \"http://u:p@h/x?y\"\n",
		"[[sites]]\n[x]\ny = 1979-05-27T07:32:00Z\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse("fuzz.toml", data)
		if err != nil {
			if c != nil {
				t.Fatalf("a config and an error: %v", err)
			}
			for _, e := range configErrors(err) {
				if e.File != "fuzz.toml" {
					t.Fatalf("error without the file name: %#v", e)
				}
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz.toml") {
					t.Fatalf("error line without the file name: %q", line)
				}
			}
			if _, again := config.Parse("fuzz.toml", data); again == nil || again.Error() != err.Error() {
				t.Fatalf("a second parse said %v, the first %v", again, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("parsed config does not validate: %v", err)
		}
		def, sites := c.Policies()
		if _, err := spamrun.NewDetector(&spamrun.DetectorOptions{Policy: def, Sites: sites}); err != nil {
			t.Fatalf("policies rejected by NewDetector: %v", err)
		}
		if _, err := host.NewEnforcer(c); err != nil {
			t.Fatalf("enforcer of a valid config: %v", err)
		}
		if _, err := host.NewScorer(c); err != nil {
			t.Fatalf("scorer of a valid config: %v", err)
		}
		if _, err := host.NewRelay(c); err != nil {
			t.Fatalf("relay of a valid config: %v", err)
		}
	})
}

// configErrors returns every *Error in err, joined or not; it fails with a
// nil *Error when err holds something else.
func configErrors(err error) []*config.Error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var all []*config.Error
		for _, e := range j.Unwrap() {
			all = append(all, configErrors(e)...)
		}
		return all
	}
	var e *config.Error
	if errors.As(err, &e) {
		return []*config.Error{e}
	}
	return []*config.Error{{}}
}
