package doctor

import (
	"errors"
	"fmt"
	"maps"
	"os/user"
	"slices"
	"strconv"

	"github.com/spamrun/spamrun/config"
)

// Nobody is the user tried when the configuration names no site: any
// website's user meets the same doors, and nobody exists everywhere.
const Nobody = "nobody"

// Users returns the users whose doors spamrun doctor tries: the site
// named, or every [sites.NAME] of cfg when site is "". A configuration
// without sites gets Nobody. A site whose user is missing is left out and
// named in the error; the others are returned.
func Users(cfg *config.Config, site string) ([]User, error) {
	if site != "" {
		sc, ok := cfg.SiteConfigs[site]
		if !ok {
			// A login without a [sites] table is a site of its own name.
			return one(LookupUser(cfg, site))
		}
		u, err := siteUser(cfg, site, sc)
		return one(u, err)
	}
	if len(cfg.SiteConfigs) == 0 {
		return one(LookupUser(cfg, Nobody))
	}
	var (
		users []User
		errs  []error
	)
	for _, name := range slices.Sorted(maps.Keys(cfg.SiteConfigs)) {
		u, err := siteUser(cfg, name, cfg.SiteConfigs[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		users = append(users, u)
	}
	return users, errors.Join(errs...)
}

func one(u User, err error) ([]User, error) {
	if err != nil {
		return nil, err
	}
	return []User{u}, nil
}

// siteUser is the user of a [sites.NAME] table.
func siteUser(cfg *config.Config, name string, sc config.SiteConfig) (User, error) {
	if sc.UID != nil {
		return userOf(cfg, strconv.Itoa(*sc.UID), *sc.UID, nil)
	}
	login := sc.User
	if login == "" {
		login = name
	}
	pw, err := user.Lookup(login)
	if err != nil {
		return User{}, fmt.Errorf("doctor: site %s: %w", name, err)
	}
	uid, err := strconv.Atoi(pw.Uid)
	if err != nil {
		return User{}, fmt.Errorf("doctor: site %s: user %s has the UID %q", name, login, pw.Uid)
	}
	return userOf(cfg, login, uid, pw)
}

// LookupUser returns the user of a login name or a numeric UID, with the
// site spamrun counts its mail as.
func LookupUser(cfg *config.Config, name string) (User, error) {
	if uid, err := strconv.Atoi(name); err == nil {
		return userOf(cfg, name, uid, nil)
	}
	pw, err := user.Lookup(name)
	if err != nil {
		return User{}, fmt.Errorf("doctor: %w", err)
	}
	uid, err := strconv.Atoi(pw.Uid)
	if err != nil {
		return User{}, fmt.Errorf("doctor: user %s has the UID %q", name, pw.Uid)
	}
	return userOf(cfg, name, uid, pw)
}

// userOf completes a user: its passwd entry, looked up when pw is nil,
// gives the login and the group; a UID without one gets the group of the
// same number, as useradd gives a user.
func userOf(cfg *config.Config, name string, uid int, pw *user.User) (User, error) {
	if uid == 0 {
		return User{}, fmt.Errorf("doctor: %s is root, whom no door is closed to", name)
	}
	if pw == nil {
		pw, _ = user.LookupId(strconv.Itoa(uid))
	}
	u := User{UID: uid, GID: uid}
	if pw != nil {
		u.Login = pw.Username
		gid, err := strconv.Atoi(pw.Gid)
		if err != nil {
			return User{}, fmt.Errorf("doctor: user %s has the GID %q", pw.Username, pw.Gid)
		}
		u.GID = gid
	}
	site, err := cfg.SiteForUID(uid)
	switch {
	case err == nil:
		u.Site = site.Name
	case pw == nil:
		u.Site = "uid" + strconv.Itoa(uid) // as sendmail names it
	default:
		return User{}, fmt.Errorf("doctor: %w", err)
	}
	return u, nil
}
