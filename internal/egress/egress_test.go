package egress

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// ruleset is a script of Ruleset taken apart: what comes before the
// table's body, its sets' elements and its chains.
type ruleset struct {
	prelude []string
	comment string
	sets    map[string][]string // name → elements
	types   map[string]string   // set name → typeof
	chains  map[string]*chain
}

type chain struct {
	hook  string // the chain's type line
	rules []string
}

// parse takes a script apart line by line, failing t on anything it does
// not expect, so that a change of layout shows up here first.
func parse(t *testing.T, script string) ruleset {
	t.Helper()
	r := ruleset{sets: map[string][]string{}, types: map[string]string{}, chains: map[string]*chain{}}
	var set string
	var ch *chain
	inTable := false
	for _, line := range strings.Split(strings.TrimSuffix(script, "\n"), "\n") {
		l := strings.TrimSpace(line)
		switch {
		case l == "":
		case !inTable && l == "table inet spamrun {":
			inTable = true
		case !inTable:
			r.prelude = append(r.prelude, l)
		case strings.HasPrefix(l, "comment "):
			r.comment = l
		case strings.HasPrefix(l, "set ") && strings.HasSuffix(l, " {"):
			set = strings.Fields(l)[1]
			r.sets[set] = nil
		case strings.HasPrefix(l, "chain ") && strings.HasSuffix(l, " {"):
			ch = &chain{}
			r.chains[strings.Fields(l)[1]] = ch
		case set != "" && strings.HasPrefix(l, "typeof "):
			r.types[set] = strings.TrimPrefix(l, "typeof ")
		case set != "" && strings.HasPrefix(l, "elements = { ") && strings.HasSuffix(l, " }"):
			r.sets[set] = strings.Split(strings.TrimSuffix(strings.TrimPrefix(l, "elements = { "), " }"), ", ")
		case ch != nil && strings.HasPrefix(l, "type "):
			ch.hook = l
		case ch != nil && l != "}":
			ch.rules = append(ch.rules, l)
		case l == "}" && (set != "" || ch != nil):
			set, ch = "", nil
		case l == "}":
			inTable = false
		default:
			t.Fatalf("unexpected line %q in\n%s", line, script)
		}
	}
	if inTable || set != "" || ch != nil {
		t.Fatalf("unbalanced braces in\n%s", script)
	}
	return r
}

func mustRuleset(t *testing.T, l Lock) (ruleset, string) {
	t.Helper()
	script, err := l.Ruleset()
	if err != nil {
		t.Fatal(err)
	}
	return parse(t, script), script
}

// indexOf returns the index of the first rule that contains every part,
// or -1.
func (c *chain) indexOf(parts ...string) int {
	return slices.IndexFunc(c.rules, func(r string) bool {
		for _, p := range parts {
			if !strings.Contains(r, p) {
				return false
			}
		}
		return true
	})
}

var replaceTable = []string{"table inet spamrun", "delete table inet spamrun"}

func TestRulesetRedirect(t *testing.T) {
	l := Lock{
		Mode:  Redirect,
		Port4: 10025, Port6: 10025,
		Exempt: []int{108, 999, 108, 0},
		Allow: []Allowed{
			{UID: 1001, Dst: netip.MustParseAddrPort("198.51.100.30:587")},
			{UID: 1001, Dst: netip.MustParseAddrPort("[2001:db8::30]:587")},
			{UID: 1002, Dst: netip.MustParseAddrPort("[::ffff:198.51.100.31]:2525")},
		},
	}
	r, script := mustRuleset(t, l)
	if !slices.Equal(r.prelude, replaceTable) {
		t.Errorf("the script starts %q, want %q: one transaction that replaces the table", r.prelude, replaceTable)
	}
	if !strings.Contains(r.comment, "redirect") {
		t.Errorf("the table's comment %q does not name the mode", r.comment)
	}
	if got, want := r.sets["exempt"], []string{"0", "108", "999"}; !slices.Equal(got, want) {
		t.Errorf("exempt = %q, want %q (root, sorted, once each)", got, want)
	}
	if got, want := r.sets["allow4"], []string{"1001 . 198.51.100.30 . 587", "1002 . 198.51.100.31 . 2525"}; !slices.Equal(got, want) {
		t.Errorf("allow4 = %q, want %q (a mapped address is IPv4)", got, want)
	}
	if got, want := r.sets["allow6"], []string{"1001 . 2001:db8::30 . 587"}; !slices.Equal(got, want) {
		t.Errorf("allow6 = %q, want %q", got, want)
	}
	if r.types["allow6"] != "meta skuid . ip6 daddr . tcp dport" || r.types["exempt"] != "meta skuid" {
		t.Errorf("set types %q", r.types)
	}

	nat := r.chains["redirect_smtp"]
	if nat == nil || nat.hook != "type nat hook output priority -100; policy accept;" {
		t.Fatalf("no NAT chain on the output hook:\n%s", script)
	}
	for _, c := range []struct{ proto string }{{"ipv4"}, {"ipv6"}} {
		redirect := nat.indexOf("meta nfproto "+c.proto, "tcp dport { 25, 587 }", "meta skuid != @exempt", "redirect to :10025")
		if redirect < 0 {
			t.Fatalf("%s: no redirect of ports 25 and 587 for UIDs not exempt:\n%s", c.proto, script)
		}
		for _, set := range []string{"@allow4 return", "@allow6 return"} {
			if i := nat.indexOf(set); i < 0 || i > redirect {
				t.Errorf("%s: %q must come before the redirect:\n%s", c.proto, set, script)
			}
		}
	}
	if nat.indexOf("465") >= 0 {
		t.Errorf("port 465 is redirected:\n%s", script)
	}

	filter := r.chains["reject_smtp"]
	if filter == nil || filter.hook != "type filter hook output priority 0; policy accept;" {
		t.Fatalf("no filter chain on the output hook after NAT:\n%s", script)
	}
	for _, proto := range []string{"ipv4", "ipv6"} {
		reject := filter.indexOf("meta nfproto "+proto, "tcp dport 465 ", "meta skuid != @exempt", "reject with tcp reset")
		if reject < 0 || filter.indexOf("@allow4 return") > reject {
			t.Errorf("%s: 465 not reset after the allow-list:\n%s", proto, script)
		}
	}
	if len(filter.rules) != 4 || len(nat.rules) != 4 {
		t.Errorf("rules that this test does not know of:\n%s", script)
	}
	if len(r.chains) != 2 {
		t.Errorf("chains %d, want 2", len(r.chains))
	}
}

// TestRulesetOneFamily resets the SMTP of a family without a listener
// rather than leaving it open.
func TestRulesetOneFamily(t *testing.T) {
	r, script := mustRuleset(t, Lock{Mode: Redirect, Port4: 10025})
	nat := r.chains["redirect_smtp"]
	if nat.indexOf("meta nfproto ipv4", "redirect to :10025") < 0 || nat.indexOf("ipv6") >= 0 {
		t.Errorf("want IPv4 alone redirected:\n%s", script)
	}
	filter := r.chains["reject_smtp"]
	if filter.indexOf("meta nfproto ipv6", "tcp dport { 25, 465, 587 }", "reject with tcp reset", `comment "IPv6 SMTP and SMTPS of site users: no listener on ::1"`) < 0 {
		t.Errorf("IPv6 SMTP without a listener is not reset:\n%s", script)
	}
	if filter.indexOf("meta nfproto ipv4", "tcp dport 465 ", "reject with tcp reset") < 0 {
		t.Errorf("IPv4 465 is not reset:\n%s", script)
	}
	if got := r.sets["allow4"]; got != nil {
		t.Errorf("allow4 = %q, want an empty set", got)
	}
	if got := r.sets["exempt"]; !slices.Equal(got, []string{"0"}) {
		t.Errorf("exempt = %q, want root alone", got)
	}
}

func TestRulesetReject(t *testing.T) {
	r, script := mustRuleset(t, Lock{Mode: Reject, Port4: 10025, Port6: 10026, Exempt: []int{5}})
	if _, ok := r.chains["redirect_smtp"]; ok {
		t.Errorf("reject mode has a NAT chain:\n%s", script)
	}
	for _, proto := range []string{"ipv4", "ipv6"} {
		if r.chains["reject_smtp"].indexOf("meta nfproto "+proto, "tcp dport { 25, 465, 587 }", "meta skuid != @exempt", "reject with tcp reset") < 0 {
			t.Errorf("%s: 25, 465 and 587 not reset:\n%s", proto, script)
		}
	}
	if strings.Contains(script, "10025") {
		t.Errorf("reject mode names the listener, whose port is not guarded:\n%s", script)
	}
}

// TestRulesetListenerOnGuardedPort keeps a listener on a port the lock
// guards reachable: on 127.0.0.1:587 it is redirected to itself, and in
// reject mode it must not be reset.
func TestRulesetListenerOnGuardedPort(t *testing.T) {
	r, script := mustRuleset(t, Lock{Mode: Redirect, Port4: 587, Port6: 10025})
	nat := r.chains["redirect_smtp"]
	if i := nat.indexOf("ip daddr 127.0.0.1 tcp dport 587 return"); i < 0 || i > nat.indexOf("redirect to :587") {
		t.Errorf("the listener's own address is not let through before the redirect:\n%s", script)
	}
	if nat.indexOf("ip6 daddr ::1") >= 0 {
		t.Errorf("a return for the IPv6 listener, whose port is not guarded:\n%s", script)
	}

	r, script = mustRuleset(t, Lock{Mode: Reject, Port4: 25})
	filter := r.chains["reject_smtp"]
	if i := filter.indexOf("ip daddr 127.0.0.1 tcp dport 25 return"); i < 0 || i > filter.indexOf("reject") {
		t.Errorf("reject mode resets the listener on 127.0.0.1:25:\n%s", script)
	}
}

func TestRulesetOff(t *testing.T) {
	script, err := Lock{Mode: Off, Port4: 10025, Exempt: []int{1}}.Ruleset()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Split(strings.TrimSpace(script), "\n"); !slices.Equal(got, replaceTable) {
		t.Errorf("off: %q, want the table created and deleted, nothing else", got)
	}
}

func TestRulesetErrors(t *testing.T) {
	for _, c := range []struct {
		lock Lock
		want string
	}{
		{Lock{Mode: Redirect}, "needs a listener on 127.0.0.1 or ::1"},
		{Lock{Mode: "drop", Port4: 10025}, `mode "drop" is not "redirect", "reject" or "off"`},
		{Lock{Mode: "", Port4: 10025}, `mode "" is not`},
		{Lock{Mode: Reject, Exempt: []int{-1}}, "exempt UID -1 is negative"},
		{Lock{Mode: Reject, Allow: []Allowed{{UID: 5, Dst: netip.MustParseAddrPort("198.51.100.1:0")}}}, "is not a UID with an address and port"},
		{Lock{Mode: Reject, Allow: []Allowed{{UID: 5}}}, "is not a UID with an address and port"},
	} {
		script, err := c.lock.Ruleset()
		if err == nil || !strings.Contains(err.Error(), c.want) || script != "" {
			t.Errorf("%+v: %q, %v; want an error containing %q", c.lock, script, err, c.want)
		}
	}
}

// TestAllowSite takes addresses as they are written, resolves a name from
// /etc/hosts, and turns bad destinations into notes that name the site.
func TestAllowSite(t *testing.T) {
	// No DNS: a name that is not in /etc/hosts fails at once.
	noDNS := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no DNS in this test")
	}}
	var l Lock
	l.AllowSite(context.Background(), noDNS, "shop1", 1001, []string{
		"198.51.100.30:587", "[2001:db8::30]:2525", "[::ffff:198.51.100.31]:25", "localhost:2587",
		"198.51.100.32", ":25", "198.51.100.33:0", "198.51.100.34:65536", "smtp.example.com:587",
	})
	want := []Allowed{
		{1001, netip.MustParseAddrPort("198.51.100.30:587")},
		{1001, netip.MustParseAddrPort("[2001:db8::30]:2525")},
		{1001, netip.MustParseAddrPort("198.51.100.31:25")},
	}
	// localhost resolves to what /etc/hosts says.
	hosts, err := noDNS.LookupNetIP(context.Background(), "ip", "localhost")
	if err != nil || len(hosts) == 0 {
		t.Fatalf("localhost: %v, %v", hosts, err)
	}
	for _, a := range hosts {
		want = append(want, Allowed{1001, netip.AddrPortFrom(a.Unmap(), 2587)})
	}
	if !slices.Equal(l.Allow, want) {
		t.Errorf("Allow = %v, want %v", l.Allow, want)
	}
	if len(l.Notes) != 5 {
		t.Fatalf("notes %q, want one for each of 5 bad destinations", l.Notes)
	}
	for _, n := range l.Notes {
		if !strings.HasPrefix(n, "site shop1: smtp_allow ") {
			t.Errorf("note %q does not name the site and key", n)
		}
	}
}

func TestExemptUsers(t *testing.T) {
	var l Lock
	missing := l.ExemptUsers("root", "spamrun-no-such-user", "root")
	if !slices.Equal(l.Exempt, []int{0}) {
		t.Errorf("Exempt = %v, want [0]", l.Exempt)
	}
	if len(missing) != 1 || !strings.Contains(missing[0].Error(), "spamrun-no-such-user") {
		t.Errorf("missing = %q, want one error naming the missing user", missing)
	}
	if len(l.Notes) != 0 {
		t.Errorf("Notes = %q", l.Notes)
	}
}
