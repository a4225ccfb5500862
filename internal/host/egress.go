package host

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os/user"
	"slices"
	"strconv"

	"github.com/spamrun/spamrun/config"
	"github.com/spamrun/spamrun/internal/egress"
)

// EgressLock returns the egress lock cfg describes, for egress.Apply:
// its mode, the listener's ports on 127.0.0.1 and ::1, the UIDs it
// exempts, and each site's smtp_allow destinations resolved with r (nil
// means the system's resolver).
//
// Exempt are root, installUser (the owner of the installation, whose
// daemon relays what the listener accepted; "" for none), those of the
// MTAs' users of egress.MTAUsers that exist, and smtpd.trusted_users.
// An installation or trusted user that does not exist is left out with a
// note, as are a site whose user does not exist and destinations that do
// not resolve: what is left out stays locked.
func EgressLock(ctx context.Context, cfg *config.Config, installUser string, r *net.Resolver) egress.Lock {
	l := egress.Lock{Mode: egress.Mode(cfg.Egress)}
	l.Port4, l.Port6 = cfg.RedirectPorts()
	// The MTAs that are not installed have no users; the users the
	// installation or the file names should exist.
	l.ExemptUsers(egress.MTAUsers...)
	named := append([]string{"root"}, cfg.SMTPD.TrustedUsers...)
	if installUser != "" {
		named = append(named, installUser)
	}
	for _, err := range l.ExemptUsers(named...) {
		l.Notes = append(l.Notes, fmt.Sprintf("exempt user left out: %v", err))
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.SiteConfigs)) {
		s := cfg.SiteConfigs[name]
		if len(s.SMTPAllow) == 0 {
			continue
		}
		uid, err := siteUID(name, s)
		if err != nil {
			l.Notes = append(l.Notes, fmt.Sprintf("site %s: smtp_allow left out: %v", name, err))
			continue
		}
		l.AllowSite(ctx, r, name, uid, s.SMTPAllow)
	}
	return l
}

// siteUID is the UID of a [sites.NAME] table: its uid, or the UID of its
// user, which defaults to the site's name.
func siteUID(name string, s config.SiteConfig) (int, error) {
	if s.UID != nil {
		return *s.UID, nil
	}
	login := s.User
	if login == "" {
		login = name
	}
	u, err := user.Lookup(login)
	if err != nil {
		return 0, err
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return 0, fmt.Errorf("user %q has the UID %q, which is not a number", login, u.Uid)
	}
	return uid, nil
}
