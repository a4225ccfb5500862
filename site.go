package spamrun

import (
	"errors"
	"fmt"
	"os/user"
	"slices"
	"strconv"
	"strings"
)

// Site is a hosted website as spamrun knows it.
//
// A site is identified by the real UID of the process that submits its mail
// (the PHP-FPM pool user), which the site cannot change. Everything a site
// writes itself, the -f flag, From:, X-PHP-Originating-Script, its
// environment, is evidence at most.
type Site struct {
	// Name is the site's name in configuration, reports and enforcer
	// commands; by default the login name of its UID.
	Name string `json:"name"`
	// UID is the real user ID its mail is submitted as.
	UID int `json:"uid"`
	// Domains are the mail domains the site owns. Bounces go only to
	// addresses at these domains or to DefaultSender; anything else would be
	// backscatter to a stranger whose address the spammer put in -f.
	Domains []string `json:"domains,omitempty"`
	// DefaultSender is the envelope sender mail gets when the site gives
	// none: login@hostname, as Postfix does.
	DefaultSender string `json:"default_sender,omitempty"`
}

// Owns reports whether addr belongs to the site: its default sender, or an
// address at one of its domains (compared without regard to case).
func (s Site) Owns(addr string) bool {
	if addr == "" {
		return false
	}
	if s.DefaultSender != "" && strings.EqualFold(addr, s.DefaultSender) {
		return true
	}
	d := Domain(addr)
	return d != "" && slices.ContainsFunc(s.Domains, func(o string) bool { return strings.EqualFold(o, d) })
}

// ErrUnknownUID is returned by SiteForUID for a UID that is neither
// configured nor known to the system.
var ErrUnknownUID = errors.New("spamrun: unknown uid")

// SiteForUID returns the site of a real UID: the configured site with that
// UID, or else a site named after the UID's login name. hostname completes
// the default sender.
func SiteForUID(uid int, configured []Site, hostname string) (Site, error) {
	for _, s := range configured {
		if s.UID == uid {
			if s.DefaultSender == "" {
				s.DefaultSender = defaultSender(uid, hostname)
			}
			return s, nil
		}
	}
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return Site{}, fmt.Errorf("%w %d: %v", ErrUnknownUID, uid, err)
	}
	return Site{Name: u.Username, UID: uid, DefaultSender: u.Username + "@" + hostname}, nil
}

func defaultSender(uid int, hostname string) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username + "@" + hostname
	}
	return ""
}

// ValidSiteName reports why name cannot name a site, or nil. Site names
// appear in file names, store keys and enforcer command lines, so they are
// kept to what a login name or a domain name may contain.
func ValidSiteName(name string) error {
	if name == "" {
		return errors.New("spamrun: empty site name")
	}
	if len(name) > 253 {
		return fmt.Errorf("spamrun: site name %.20q... is longer than 253 bytes", name)
	}
	if name[0] == '-' || name[0] == '.' {
		return fmt.Errorf("spamrun: site name %q starts with %q", name, name[0])
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return fmt.Errorf("spamrun: site name %q contains %q; use letters, digits, '-', '_' and '.'", name, r)
		}
	}
	return nil
}

// uploadDirs are the directories of a website that its visitors, its
// software or the host's tools write and its developer never does:
// uploads (wp-content/uploads, Drupal's files, Magento's media), images,
// caches, temporary files, backups, and .well-known, which ACME clients
// write and phishing kits hide in. The developer's own asset directories
// (assets, css, js, fonts, static) are not among them: themes and
// plugins keep PHP there, and HTML templates their contact form.
var uploadDirs = []string{
	"uploads", "upload", "files", "media",
	"images", "image", "img", "imgs", "pictures", "photos",
	"cache", "caches", "tmp", "temp",
	"backup", "backups", ".well-known",
}

// UploadDir returns dir up to its deepest upload-like directory, or ""
// when it lies in none. Upload-like directories hold what a site's
// visitors and software write (uploads, images, media, caches, temporary
// files, backups), so a script found in one was most likely put there by
// an intruder; the builtin rule SCRIPT_IN_UPLOAD_DIR, sitediff and the
// incident report all ask this function. Names are compared without
// regard to case. In an absolute dir the first two levels are the
// system's (/tmp, /var/cache, /srv/files), below which a docroot can lie,
// so they are passed over; a relative dir is taken to be relative to the
// site's root and read whole.
func UploadDir(dir string) string {
	abs := strings.HasPrefix(dir, "/")
	parts := strings.Split(strings.Trim(dir, "/"), "/")
	first := 0
	if abs {
		first = 2
	}
	for i := len(parts) - 1; i >= first; i-- {
		if slices.ContainsFunc(uploadDirs, func(d string) bool { return strings.EqualFold(d, parts[i]) }) {
			up := strings.Join(parts[:i+1], "/")
			if abs {
				up = "/" + up
			}
			return up
		}
	}
	return ""
}
