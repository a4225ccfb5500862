package egress

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/user"
	"slices"
	"strconv"
)

// MTAUsers are the users the MTAs spamrun relays through deliver as:
// Postfix's, Exim's on Debian and elsewhere, OpenSMTPD's. Their
// connections to remote MXes are the mail spamrun has already passed.
var MTAUsers = []string{"postfix", "Debian-exim", "exim", "_smtpd"}

// ExemptUsers adds the UIDs of the users names to l.Exempt, and returns
// the names that no user has, with why: an MTA that is not installed has
// no user, which is no concern of the lock's.
func (l *Lock) ExemptUsers(names ...string) (missing []error) {
	for _, name := range names {
		u, err := user.Lookup(name)
		if err != nil {
			missing = append(missing, err)
			continue
		}
		uid, err := strconv.Atoi(u.Uid)
		if err != nil {
			missing = append(missing, fmt.Errorf("user %q has the UID %q, which is not a number", name, u.Uid))
			continue
		}
		if !slices.Contains(l.Exempt, uid) {
			l.Exempt = append(l.Exempt, uid)
		}
	}
	return missing
}

// AllowSite adds the destinations, each "host:port", that the site with
// the given UID may reach past the lock. A host name is resolved with r
// (nil means net.DefaultResolver) to all its IPv4 and IPv6 addresses; a
// destination that is not host:port or does not resolve is left out with
// a note naming the site, and stays locked.
func (l *Lock) AllowSite(ctx context.Context, r *net.Resolver, site string, uid int, destinations []string) {
	if r == nil {
		r = net.DefaultResolver
	}
	for _, d := range destinations {
		addrs, port, err := resolve(ctx, r, d)
		if err != nil {
			l.Notes = append(l.Notes, fmt.Sprintf("site %s: smtp_allow %q left out: %v", site, d, err))
			continue
		}
		for _, a := range addrs {
			l.Allow = append(l.Allow, Allowed{UID: uid, Dst: netip.AddrPortFrom(a, port)})
		}
	}
}

// resolve returns the addresses and the port of host:port.
func resolve(ctx context.Context, r *net.Resolver, hostport string) ([]netip.Addr, uint16, error) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, 0, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, 0, fmt.Errorf("port %q is not a number from 1 to 65535", portStr)
	}
	if host == "" {
		return nil, 0, fmt.Errorf("no host")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap().WithZone("")}, uint16(port), nil
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, 0, err
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap().WithZone("")
	}
	return addrs, uint16(port), nil
}
