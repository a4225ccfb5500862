// Package egress builds and loads the egress lock: an nftables table of
// its own, inet spamrun, that keeps the websites of a host from sending
// mail by SMTP past spamrun.
//
// A site that opens an SMTP connection itself, to the local MTA on
// 127.0.0.1:25 or to a remote MX, would bypass the sendmail binary and so
// the count of its spam. With the lock in Redirect mode, every TCP
// connection that a user other than the exempt ones (root, the
// installation's user, the MTA's users) opens to port 25 or 587, on any
// address, IPv4 or IPv6, loopback included, is redirected by the kernel
// to spamrun's SMTP listener on 127.0.0.1 or ::1, which takes the site
// from the UID that owns the client's socket and learns the original
// destination from SO_ORIGINAL_DST. Port 465 (SMTPS) is reset: TLS from
// the first byte cannot be answered by a listener that is not the server
// the client meant. In Reject mode all three ports are reset. Off removes
// the table.
//
// Port 587 is redirected although the issue that asked for the lock said
// "587 without TLS": a redirect happens at the connection's first packet,
// long before the client's STARTTLS, so the rule cannot know. The listener
// offers no STARTTLS, so a client that insists on TLS fails, which closes
// the door; a client that would send without TLS goes through spamrun.
//
// A site that relays through an outside provider with its own credentials
// may be allowed its destinations: each is a UID with an address and
// port, for which the lock does nothing. Host names are resolved when the
// lock is built, to every IPv4 and IPv6 address they have then; a
// provider that moves its addresses needs the lock applied again.
//
// The rules match the socket's owner (meta skuid), which the kernel sets
// from the process that opened the socket; packets that no local socket
// owns, such as forwarded ones, are never touched. The table is replaced
// in one nftables transaction, so there is no moment without the lock
// while it is applied again, and it does not touch any other table.
package egress

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Table is the nftables table the lock lives in, in the inet family.
const Table = "spamrun"

// Mode is what the lock does with a site's SMTP connection.
type Mode string

// The modes of the lock.
const (
	// Redirect sends connections to ports 25 and 587 to the listener and
	// resets those to port 465.
	Redirect Mode = "redirect"
	// Reject resets connections to ports 25, 465 and 587.
	Reject Mode = "reject"
	// Off removes the table.
	Off Mode = "off"
)

// The ports the lock guards.
var (
	// RedirectPorts are SMTP and submission: plain text at first, so a
	// listener can take them.
	RedirectPorts = []uint16{25, 587}
	// RejectPorts are SMTP over TLS, which only the real server could
	// answer.
	RejectPorts = []uint16{465}
)

// Lock is the lock as it is loaded: every name resolved to a number.
type Lock struct {
	Mode Mode
	// Port4 and Port6 are the listener's ports on 127.0.0.1 and ::1,
	// where a redirect lands. 0 means no listener for that family: its
	// connections are reset instead of redirected. Reject mode needs
	// neither.
	Port4, Port6 uint16
	// Exempt are the UIDs the lock leaves alone. Root is always exempt.
	Exempt []int
	// Allow are the destinations a site may reach by itself.
	Allow []Allowed
	// Notes say what was left out when the lock was built from names:
	// users that do not exist, host names that did not resolve. A name
	// left out of Exempt or Allow leaves its traffic locked.
	Notes []string
}

// Allowed is one destination that one UID may reach past the lock.
type Allowed struct {
	UID int
	Dst netip.AddrPort
}

// Ruleset returns the nftables script that replaces the table with the
// lock, for nft -f: the table is created empty if it is missing, deleted,
// and created again with its rules, all in one transaction. In Off mode it
// only removes the table, which is not an error when there is none.
func (l Lock) Ruleset() (string, error) {
	var b strings.Builder
	// Adding a table that exists is no error, deleting one that does not
	// is: the pair makes the delete safe.
	fmt.Fprintf(&b, "table inet %s\ndelete table inet %s\n", Table, Table)
	switch l.Mode {
	case Off:
		return b.String(), nil
	case Redirect:
		if l.Port4 == 0 && l.Port6 == 0 {
			return "", fmt.Errorf("egress: mode %q needs a listener on 127.0.0.1 or ::1 to redirect to", l.Mode)
		}
	case Reject:
	default:
		return "", fmt.Errorf("egress: mode %q is not %q, %q or %q", l.Mode, Redirect, Reject, Off)
	}
	for _, a := range l.Allow {
		if a.UID < 0 || !a.Dst.IsValid() || a.Dst.Port() == 0 {
			return "", fmt.Errorf("egress: allowed destination %v for UID %d is not a UID with an address and port", a.Dst, a.UID)
		}
	}
	exempt := []int{0}
	for _, uid := range l.Exempt {
		if uid < 0 {
			return "", fmt.Errorf("egress: exempt UID %d is negative", uid)
		}
		exempt = append(exempt, uid)
	}
	slices.Sort(exempt)
	exempt = slices.Compact(exempt)
	uids := make([]string, len(exempt))
	for i, uid := range exempt {
		uids[i] = strconv.Itoa(uid)
	}

	var allow4, allow6 []string
	for _, a := range l.Allow {
		addr := a.Dst.Addr().Unmap().WithZone("")
		elem := fmt.Sprintf("%d . %s . %d", a.UID, addr, a.Dst.Port())
		if addr.Is4() {
			allow4 = append(allow4, elem)
		} else {
			allow6 = append(allow6, elem)
		}
	}
	slices.Sort(allow4)
	slices.Sort(allow6)

	fmt.Fprintf(&b, "table inet %s {\n", Table)
	fmt.Fprintf(&b, "\tcomment %q\n", "spamrun egress lock, mode "+string(l.Mode)+"; spamrun egress show|apply|remove")
	set(&b, "exempt", "meta skuid", uids)
	set(&b, "allow4", "meta skuid . ip daddr . tcp dport", slices.Compact(allow4))
	set(&b, "allow6", "meta skuid . ip6 daddr . tcp dport", slices.Compact(allow6))

	fams := []family{
		{name: "ipv4", version: "IPv4", proto: "ip", loopback: "127.0.0.1", listener: l.Port4},
		{name: "ipv6", version: "IPv6", proto: "ip6", loopback: "::1", listener: l.Port6},
	}
	redirect := false
	for i := range fams {
		fams[i].redirect = l.Mode == Redirect && fams[i].listener != 0
		redirect = redirect || fams[i].redirect
	}
	if redirect {
		// The NAT chain sees the first packet of each connection; the
		// rest follow its translation.
		b.WriteString("\n\tchain redirect_smtp {\n\t\ttype nat hook output priority -100; policy accept;\n")
		allowRules(&b)
		for _, f := range fams {
			if !f.redirect {
				continue
			}
			f.listenerRule(&b, RedirectPorts)
			fmt.Fprintf(&b, "\t\tmeta nfproto %s tcp dport %s meta skuid != @exempt redirect to :%d comment %q\n",
				f.name, ports(RedirectPorts), f.listener, f.version+" SMTP of site users to the listener on "+f.loopback)
		}
		b.WriteString("\t}\n")
	}
	// The filter chain comes after the NAT chain (priority 0 > -100), so
	// a redirected connection reaches it with the listener's port.
	b.WriteString("\n\tchain reject_smtp {\n\t\ttype filter hook output priority 0; policy accept;\n")
	allowRules(&b)
	for _, f := range fams {
		reject := slices.Clone(RejectPorts)
		if !f.redirect {
			reject = append(reject, RedirectPorts...)
		}
		slices.Sort(reject)
		f.listenerRule(&b, reject)
		why := f.version + " SMTPS of site users"
		if !f.redirect {
			why = f.version + " SMTP and SMTPS of site users"
			if l.Mode == Redirect {
				why += ": no listener on " + f.loopback
			}
		}
		fmt.Fprintf(&b, "\t\tmeta nfproto %s tcp dport %s meta skuid != @exempt reject with tcp reset comment %q\n", f.name, ports(reject), why)
	}
	b.WriteString("\t}\n}\n")
	return b.String(), nil
}

// family is what the rules of one IP version need.
type family struct {
	name     string // for meta nfproto
	version  string // for people
	proto    string // the expression's protocol: ip or ip6
	loopback string // where a redirect lands
	listener uint16 // the listener's port on loopback, or 0
	redirect bool   // whether SMTP is redirected rather than reset
}

// listenerRule lets connections to the listener itself pass when its
// port is one of guarded: a listener on 127.0.0.1:587 stays reachable.
func (f family) listenerRule(b *strings.Builder, guarded []uint16) {
	if f.listener != 0 && slices.Contains(guarded, f.listener) {
		fmt.Fprintf(b, "\t\t%s daddr %s tcp dport %d return comment %q\n", f.proto, f.loopback, f.listener, "the listener itself")
	}
}

// set writes a named set; "meta skuid != @exempt" and the allow-lists
// are easier to read, and to change by hand in an emergency, than
// anonymous sets in each rule.
func set(b *strings.Builder, name, typeof string, elems []string) {
	fmt.Fprintf(b, "\n\tset %s {\n\t\ttypeof %s\n", name, typeof)
	if len(elems) > 0 {
		fmt.Fprintf(b, "\t\telements = { %s }\n", strings.Join(elems, ", "))
	}
	b.WriteString("\t}\n")
}

// allowRules let a site's allowed destinations pass untouched. A packet
// without a local socket has no skuid and matches no rule.
func allowRules(b *strings.Builder) {
	b.WriteString("\t\tmeta skuid . ip daddr . tcp dport @allow4 return comment \"smtp_allow\"\n")
	b.WriteString("\t\tmeta skuid . ip6 daddr . tcp dport @allow6 return comment \"smtp_allow\"\n")
}

// ports writes a port or an anonymous set of them.
func ports(ps []uint16) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(int(p))
	}
	if len(s) == 1 {
		return s[0]
	}
	return "{ " + strings.Join(s, ", ") + " }"
}
