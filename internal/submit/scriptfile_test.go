package submit

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
)

func TestScriptFile(t *testing.T) {
	docroot := t.TempDir()
	uploads := filepath.Join(docroot, "wp-content", "uploads")
	if err := os.MkdirAll(uploads, 0o755); err != nil {
		t.Fatal(err)
	}
	mailer := filepath.Join(uploads, "cache.php")
	code := "<?php mail($_POST['to'], 'x', 'y');"
	if err := os.WriteFile(mailer, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	// An uploaded mailer's mtime is often set back to look old; its ctime
	// cannot be.
	old := time.Date(2019, 4, 2, 10, 0, 0, 0, time.UTC)
	if err := os.Chtimes(mailer, old, old); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		ev   spamrun.Evidence
		want string
	}{
		{"FPM: cwd and the header's base name", spamrun.Evidence{Script: "33:cache.php", Cwd: uploads}, mailer},
		{"php-cli with the script relative to cwd", spamrun.Evidence{Cwd: docroot, Command: []string{"/usr/bin/php8.2", "-q", "wp-content/uploads/cache.php", "x"}}, mailer},
		{"php-cli with an absolute script", spamrun.Evidence{Cwd: "/", Command: []string{"php", mailer}}, mailer},
		{"php-fpm's command line names no script", spamrun.Evidence{Script: "33:cache.php", Cwd: uploads, Command: []string{"php-fpm: pool www"}}, mailer},
		{"a header naming a path is not followed", spamrun.Evidence{Script: "33:../uploads/cache.php", Cwd: uploads}, ""},
		{"php -c hides the script behind its value", spamrun.Evidence{Cwd: docroot, Command: []string{"php", "-c", "php.ini", "x.php"}}, ""},
		{"no such file", spamrun.Evidence{Script: "33:gone.php", Cwd: uploads}, ""},
		{"a directory is not a script", spamrun.Evidence{Script: "33:uploads", Cwd: filepath.Join(docroot, "wp-content")}, ""},
		{"nothing to go on", spamrun.Evidence{Script: "33:cache.php"}, ""},
		{"phpunit is not php", spamrun.Evidence{Cwd: docroot, Command: []string{"phpunit", mailer}}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := scriptFile(c.ev)
			if c.want == "" {
				if f != nil {
					t.Fatalf("scriptFile = %+v, want nil", f)
				}
				return
			}
			if f == nil || f.Path != c.want {
				t.Fatalf("scriptFile = %+v, want %s", f, c.want)
			}
			if !f.ModTime.Equal(old) || f.Size != int64(len(code)) || f.UID != os.Getuid() {
				t.Errorf("stat: %+v", f)
			}
			if time.Since(f.ChangeTime) > time.Minute {
				t.Errorf("ctime %v is not the time the file was written", f.ChangeTime)
			}
		})
	}
}
