package submit

import (
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spamrun/spamrun"
)

// scriptFile finds and stats the script that sent a message, for the
// incident report: an uploaded mailer is a file changed shortly before the
// run. Under php-cli the script is on the caller's command line; under
// PHP-FPM and mod_php the caller's working directory is the directory of
// the script PHP ran, and X-PHP-Originating-Script names the file that
// called mail(), "UID:basename". The result is evidence like the rest: nil
// when the file cannot be found or stat'ed.
func scriptFile(ev spamrun.Evidence) *spamrun.ScriptFile {
	p := cliScript(ev.Command)
	if p == "" {
		_, base, ok := strings.Cut(strings.TrimSpace(ev.Script), ":")
		if !ok || base == "" || strings.ContainsRune(base, '/') || base == "." || base == ".." {
			return nil
		}
		p = base
	}
	if !filepath.IsAbs(p) {
		if ev.Cwd == "" {
			return nil
		}
		p = filepath.Join(ev.Cwd, p)
	}
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	f := &spamrun.ScriptFile{Path: p, Size: fi.Size(), ModTime: fi.ModTime().UTC()}
	f.ChangeTime, f.UID = statOwner(fi)
	return f
}

// cliScript returns the script of a php-cli command line: the first
// operand after the interpreter's options.
func cliScript(cmd []string) string {
	if len(cmd) < 2 {
		return ""
	}
	if !isPHPCLI(path.Base(cmd[0])) {
		return ""
	}
	for _, arg := range cmd[1:] {
		if arg == "--" {
			continue
		}
		if strings.HasPrefix(arg, "-") {
			// Options with a separate value (-c php.ini, -d k=v) hide the
			// script behind their value; such command lines are left alone
			// unless the value is joined.
			if arg == "-c" || arg == "-d" || arg == "-z" {
				return ""
			}
			continue
		}
		return arg
	}
	return ""
}

// isPHPCLI says whether a program name is PHP's command-line or CGI
// interpreter: php, php8.2, php-cgi; not php-fpm, whose command line is
// "php-fpm: pool www", nor phpunit.
func isPHPCLI(name string) bool {
	rest, ok := strings.CutPrefix(name, "php")
	if !ok {
		return false
	}
	rest = strings.TrimPrefix(rest, "-cgi")
	return strings.Trim(rest, "0123456789.") == ""
}
