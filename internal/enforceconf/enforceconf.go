// Package enforceconf parses the two values of spamrun.toml's [enforce]
// section that have a syntax of their own, a command template and a
// webhook URL, for the two packages that read them: enforce, which runs
// the command and posts to the URL, and config, which refuses a bad value
// when the file is loaded and must not link the enforcers to do so.
//
// Errors are bare descriptions, without a package prefix: the caller says
// which value was at fault.
package enforceconf

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/spamrun/spamrun/internal/safeexec"
)

// ParseCommand splits a command template into words as [safeexec.Parse]
// does, and refuses a program word that holds {site} or {incident}: a site
// must never choose which program runs.
func ParseCommand(tmpl string) ([]string, error) {
	words, err := safeexec.Parse(tmpl)
	if err != nil {
		return nil, err
	}
	if prog := words[0]; strings.Contains(prog, "{site}") || strings.Contains(prog, "{incident}") {
		return nil, fmt.Errorf("program %q contains {site} or {incident}", prog)
	}
	return words, nil
}

// ParseWebhookURL parses an http or https URL with a host. shown is the URL
// without its credentials, query and fragment, any of which may hold a
// token: the form to put in errors and logs. The errors never repeat the
// URL whole.
func ParseWebhookURL(raw string) (u *url.URL, shown string, err error) {
	u, err = url.Parse(raw)
	if err != nil {
		// url.Error repeats the URL.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, "", fmt.Errorf("bad webhook URL: %w", err)
	}
	s := *u
	s.User, s.RawQuery, s.ForceQuery, s.Fragment, s.RawFragment = nil, "", false, "", ""
	shown = s.String()
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, "", fmt.Errorf("bad webhook URL %s: scheme must be http or https", shown)
	case u.Host == "":
		return nil, "", fmt.Errorf("bad webhook URL %s: no host", shown)
	}
	return u, shown, nil
}
