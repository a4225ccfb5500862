package spamrun

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrBadAddress is wrapped by the errors of ParseAddress, JoinAddress and
// ParseAddressList.
var ErrBadAddress = errors.New("spamrun: bad address")

// MaxAddressLength is the longest address ParseAddress accepts, in octets
// of its canonical form: RFC 5321 §4.5.3.1.3 allows a path of 256 octets,
// angle brackets included.
//
// The local part has no limit of its own. RFC 5321 §4.5.3.1.1 sets 64
// octets, but the addresses that mailing lists, SRS forwarders and
// bounce trackers (VERP) generate often exceed it, every common MTA
// delivers them, and refusing them would refuse real mail for no gain.
const MaxAddressLength = 254

// ParseAddress reads one envelope address as a sendmail command line or an
// SMTP command gives it, and returns it in the canonical form to write
// between the angle brackets of MAIL FROM or RCPT TO.
//
// The address is an RFC 5321 §4.1.2 Mailbox, Local-part "@" (Domain /
// address-literal), with UTF-8 in the local part and in the domain as RFC
// 6531 allows, optionally enclosed in angle brackets. A local part alone
// ("root", as cron sends to) is accepted; the MTA adds its own domain. "" and
// "<>" are the null sender and return "".
//
// The canonical form quotes the local part only when it is not a
// Dot-string, with no escapes but for `"` and `\`, as RFC 5321 §4.1.2 asks
// of a sender: `"a.b"@example.org` becomes a.b@example.org, and
// `"a\ b"@example.org` becomes "a b"@example.org.
//
// Refused, besides what the grammar refuses: any control character, even
// escaped in a quoted string, since one could end the SMTP command or a
// header line it is copied into; angle brackets, even quoted, since many
// SMTP servers end the path at the first ">"; an empty local part; and
// addresses longer than MaxAddressLength.
func ParseAddress(s string) (string, error) {
	addr := s
	if strings.HasPrefix(addr, "<") && strings.HasSuffix(addr, ">") {
		addr = addr[1 : len(addr)-1]
	}
	if addr == "" {
		return "", nil
	}
	if why := checkText(addr); why != "" {
		return "", badAddress(s, why)
	}
	local, rest, err := splitLocalPart(addr)
	if err != nil {
		return "", badAddress(s, err.Error())
	}
	if rest == "" {
		return canonical(s, local, "", false)
	}
	return canonical(s, local, rest[1:], true)
}

// JoinAddress makes an address of a local part and a domain as an SMTP
// server library hands them over, the local part with the quotes and
// escapes of the wire already removed: go-smtp gives a Session `a b@x` for
// RCPT TO:<"a b"@x>. Everything up to the last "@" of such an address is
// its local part, since a domain holds no "@". It checks the parts as
// ParseAddress does and returns the same canonical form.
func JoinAddress(local, domain string) (string, error) {
	s := local + "@" + domain
	if why := checkText(s); why != "" {
		return "", badAddress(s, why)
	}
	return canonical(s, local, domain, true)
}

// canonical checks a decoded local part and a domain (when hasDomain) and
// joins them in canonical form; s is the address as given, for errors.
func canonical(s, local, domain string, hasDomain bool) (string, error) {
	if local == "" {
		return "", badAddress(s, "the local part is empty")
	}
	var b strings.Builder
	if isDotString(local) {
		b.WriteString(local)
	} else {
		if strings.ContainsAny(local, "<>") {
			return "", badAddress(s, "the local part holds an angle bracket")
		}
		b.WriteByte('"')
		for i := 0; i < len(local); i++ {
			if local[i] == '"' || local[i] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(local[i])
		}
		b.WriteByte('"')
	}
	if hasDomain {
		if why := checkDomain(domain); why != "" {
			return "", badAddress(s, why)
		}
		b.WriteByte('@')
		b.WriteString(domain)
	}
	if b.Len() > MaxAddressLength {
		return "", badAddress(s, fmt.Sprintf("it is longer than %d bytes", MaxAddressLength))
	}
	return b.String(), nil
}

func badAddress(s, why string) error {
	const show = 100
	q := fmt.Sprintf("%q", s)
	if len(s) > show {
		q = fmt.Sprintf("%q…", s[:show])
	}
	return fmt.Errorf("%w %s: %s", ErrBadAddress, q, why)
}

// checkText refuses what no part of an address may hold in any form:
// invalid UTF-8 and control characters, the Unicode line and paragraph
// separators among them.
func checkText(s string) string {
	if !utf8.ValidString(s) {
		return "it is not valid UTF-8"
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return "it holds a control character"
		}
	}
	return ""
}

// splitLocalPart reads the Local-part at the start of addr, a Dot-string or
// a Quoted-string, and returns it decoded with the rest of addr, which is
// "" or starts with "@".
func splitLocalPart(addr string) (local, rest string, err error) {
	if !strings.HasPrefix(addr, `"`) {
		at := strings.IndexByte(addr, '@')
		if at < 0 {
			at = len(addr)
		}
		local, rest = addr[:at], addr[at:]
		if local == "" {
			return "", "", errors.New("the local part is empty")
		}
		if !isDotString(local) {
			return "", "", dotStringError(local)
		}
		return local, rest, nil
	}
	var b strings.Builder
	for i := 1; i < len(addr); i++ {
		switch c := addr[i]; c {
		case '\\':
			// quoted-pairSMTP: a backslash and one printable ASCII
			// character; checkText has refused the control characters.
			if i+1 == len(addr) || addr[i+1] >= utf8.RuneSelf {
				return "", "", errors.New("a backslash in the quoted local part escapes nothing printable")
			}
			i++
			b.WriteByte(addr[i])
		case '"':
			rest = addr[i+1:]
			if rest != "" && rest[0] != '@' {
				return "", "", errors.New("the quoted local part is not followed by \"@\"")
			}
			return b.String(), rest, nil
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errors.New("the quoted local part has no closing quote")
}

// isDotString reports whether s is an RFC 5321 Dot-string, with RFC 6531's
// UTF-8 in its atoms.
func isDotString(s string) bool {
	return dotStringError(s) == nil
}

func dotStringError(s string) error {
	if s == "" {
		return errors.New("the local part is empty")
	}
	if s[0] == '.' || s[len(s)-1] == '.' {
		return errors.New("the local part starts or ends with a dot")
	}
	if strings.Contains(s, "..") {
		return errors.New("the local part has two dots in a row")
	}
	for _, r := range s {
		if r != '.' && !isAtext(r) {
			if r == ' ' || unicode.IsSpace(r) {
				return errors.New("white space outside a quoted string")
			}
			return fmt.Errorf("%q outside a quoted string", r)
		}
	}
	return nil
}

// isAtext reports whether r may stand in an atom (RFC 5321 §4.1.2, RFC 5322
// §3.2.3, RFC 6531 §3.3).
func isAtext(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	case r < utf8.RuneSelf:
		return strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
	}
	return !unicode.IsSpace(r) && !unicode.IsControl(r)
}

// checkDomain checks an RFC 5321 Domain, with RFC 6531 U-labels, or an
// address-literal, and says what is wrong with it.
func checkDomain(d string) string {
	switch {
	case d == "":
		return "the domain is empty"
	case d[0] == '[':
		return checkAddressLiteral(d)
	case len(d) > 255:
		return "the domain is longer than 255 bytes"
	}
	for _, label := range strings.Split(d, ".") {
		switch {
		case label == "":
			return "the domain has an empty label"
		case label[0] == '-' || label[len(label)-1] == '-':
			return fmt.Sprintf("the domain label %q starts or ends with a hyphen", label)
		}
		ascii := true
		for _, r := range label {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-':
			case r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)):
				ascii = false
			default:
				return fmt.Sprintf("the domain holds %q", r)
			}
		}
		if ascii && len(label) > 63 {
			return fmt.Sprintf("the domain label %.20q… is longer than 63 bytes", label)
		}
	}
	return ""
}

// checkAddressLiteral checks an RFC 5321 §4.1.3 address literal: an IPv4
// address, or an IPv6 address after the tag "IPv6:". No other tag is
// standardized.
func checkAddressLiteral(d string) string {
	if !strings.HasSuffix(d, "]") {
		return "the address literal has no closing bracket"
	}
	lit := d[1 : len(d)-1]
	if len(lit) > 5 && strings.EqualFold(lit[:5], "IPv6:") {
		ip, err := netip.ParseAddr(lit[5:])
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return fmt.Sprintf("%q is not an IPv6 address", lit[5:])
		}
		return ""
	}
	ip, err := netip.ParseAddr(lit)
	if err != nil || !ip.Is4() {
		return fmt.Sprintf("%q is not an IPv4 address or IPv6:address", lit)
	}
	return ""
}
