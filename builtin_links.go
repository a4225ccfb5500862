package spamrun

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// link is one distinct link of a message: a URL in the text or an href, or
// a bare domain written in the text.
type link struct {
	url      string // as written, trailing punctuation removed
	host     string // lower case, without user info, port or trailing dot
	reg      string // registrable domain; the host itself for IP addresses
	userinfo bool   // "http://paypal.com@evil.example/": the host is after the @
	embedded bool   // loaded with the message (an image, a style sheet), not followed
}

// addLink records the link s whose host begins at hostAt, unless it is
// already known.
func (t *textScan) addLink(s string, hostAt int) { t.addLinkKind(s, hostAt, false) }

// addLinkKind is addLink for a link that is embedded (an image source, a
// style sheet) or followed. A link known as embedded that is also
// followed is followed.
func (t *textScan) addLinkKind(s string, hostAt int, embedded bool) {
	for len(s) > 0 && linkTail[s[len(s)-1]] {
		s = s[:len(s)-1]
	}
	if hostAt >= len(s) {
		return
	}
	if strings.Contains(s, "&amp;") {
		s = strings.ReplaceAll(s, "&amp;", "&")
	}
	s = strings.TrimSuffix(s, "/")
	for i := range t.links {
		if len(t.links[i].url) == len(s) && strings.EqualFold(t.links[i].url, s) {
			t.links[i].embedded = t.links[i].embedded && embedded
			return
		}
	}
	host, userinfo := parseHost(s[hostAt:])
	if host == "" {
		return
	}
	if len(t.links) >= maxLinks {
		t.moreLinks++
		return
	}
	t.links = append(t.links, link{url: s, host: host, reg: registrable(host), userinfo: userinfo, embedded: embedded})
}

// linkTail are the characters trimmed from the end of a link: the
// punctuation of the sentence or markup around it.
var linkTail = [256]bool{'.': true, ',': true, ';': true, ':': true, '!': true, '?': true, '\'': true, '"': true, ')': true, ']': true, '}': true, '>': true, '*': true}

// domainEdge are the characters trimmed from either end of a bare domain.
var domainEdge = [256]bool{'.': true, ',': true, ';': true, ':': true, '!': true, '?': true, '*': true}

// parseHost returns the host of an authority-and-path, such as
// "user@Example.COM:8080/path", in lower case.
func parseHost(s string) (host string, userinfo bool) {
	if i := strings.IndexAny(s, "/?#\\"); i >= 0 {
		s = s[:i]
	}
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		userinfo = true
		s = s[at+1:]
	}
	if strings.HasPrefix(s, "[") {
		if j := strings.IndexByte(s, ']'); j > 0 {
			return strings.ToLower(s[:j+1]), userinfo
		}
		return "", userinfo
	}
	n := 0
	for n < len(s) {
		b := s[n]
		if b < utf8.RuneSelf {
			if asciiClass[b]&(clsLetter|clsDigit) == 0 && b != '-' && b != '.' && b != '_' {
				break
			}
			n++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[n:])
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			break
		}
		n += size
	}
	s = strings.Trim(s[:n], ".")
	return strings.ToLower(s), userinfo
}

// bareDomain returns the domain written in a chunk of text without a
// scheme ("casino-win.top", "example.com/offer"), or "" when the chunk is
// not one. Only known TLDs count, so that file names and version numbers
// do not.
func bareDomain(c string) string {
	for len(c) > 0 && domainEdge[c[len(c)-1]] {
		c = c[:len(c)-1]
	}
	for len(c) > 0 && domainEdge[c[0]] {
		c = c[1:]
	}
	if i := strings.IndexByte(c, '/'); i >= 0 {
		c = c[:i]
	}
	if len(c) < 4 || len(c) > 253 {
		return ""
	}
	lastDot, prevDot := -1, -1
	for i := 0; i < len(c); i++ {
		b := c[i]
		switch {
		case b == '.':
			if i == 0 || c[i-1] == '.' || c[i-1] == '-' {
				return ""
			}
			prevDot, lastDot = lastDot, i
		case b == '-' || (b < utf8.RuneSelf && asciiClass[b]&(clsLetter|clsDigit) != 0):
		default:
			return ""
		}
	}
	if lastDot < 0 || lastDot == len(c)-1 {
		return ""
	}
	if !bareTLDs[lowerASCII(c[lastDot+1:])] {
		return ""
	}
	label := c[prevDot+1 : lastDot]
	for i := 0; i < len(label); i++ {
		if asciiClass[label[i]]&clsLetter != 0 {
			return c
		}
	}
	return ""
}

// lowerASCII lower-cases s, allocating only when s has upper-case letters.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// registrable approximates the registrable domain of host: the last two
// labels, or three under a ccTLD's second level (shop.co.uk). It is used to
// tell one party's hosts from another's, where an approximation is enough.
func registrable(host string) string {
	if isIPHost(host) {
		return host
	}
	last := strings.LastIndexByte(host, '.')
	if last < 0 {
		return host
	}
	second := strings.LastIndexByte(host[:last], '.')
	if second < 0 {
		return host
	}
	if len(host)-last-1 == 2 && secondLevelLabels[host[second+1:last]] {
		return host[strings.LastIndexByte(host[:second], '.')+1:]
	}
	return host[second+1:]
}

// isIPHost reports whether host is an IP address in any of the notations
// browsers accept: dotted, a bare decimal or hex number, or [IPv6].
func isIPHost(host string) bool {
	if host == "" {
		return false
	}
	if host[0] == '[' {
		return true
	}
	if strings.HasPrefix(host, "0x") && len(host) > 2 {
		host = host[2:]
		for i := 0; i < len(host); i++ {
			if !isHexDigit(host[i]) && host[i] != '.' {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(host); i++ {
		if (host[i] < '0' || host[i] > '9') && host[i] != '.' {
			return false
		}
	}
	return true
}

func isHexDigit(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F'
}

// tld returns the last label of host.
func tld(host string) string { return host[strings.LastIndexByte(host, '.')+1:] }

// isIDN reports whether host is an internationalised name, in punycode or
// in Unicode.
func isIDN(host string) bool {
	if strings.HasPrefix(host, "xn--") || strings.Contains(host, ".xn--") {
		return true
	}
	for i := 0; i < len(host); i++ {
		if host[i] >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// brandLookalike returns the brand a host pretends to be: a label, or a
// hyphen-separated part of one, that names a phished brand (also spelt
// with digits for letters, "paypa1") on a domain that is not the brand's.
func brandLookalike(host, reg string) string {
	if isIPHost(host) {
		return ""
	}
	for i := 0; i < len(host); {
		j := i
		for j < len(host) && host[j] != '.' && host[j] != '-' {
			j++
		}
		piece := host[i:j]
		i = j + 1
		if len(piece) < 3 {
			continue
		}
		brand := skeleton(piece)
		if _, ok := phishedBrands[brand]; !ok {
			brand = unLeet(brand)
			if _, ok := phishedBrands[brand]; !ok {
				continue
			}
		}
		if brandOwns(brand, reg) {
			return ""
		}
		return brand
	}
	return ""
}

// brandOwns reports whether the registrable domain reg belongs to the
// company behind brand.
func brandOwns(brand, reg string) bool {
	company := phishedBrands[brand]
	if label, _, ok := strings.Cut(reg, "."); ok && company != "" && phishedBrands[label] == company {
		return true
	}
	for _, d := range brandDomains[company] {
		if d == reg {
			return true
		}
	}
	return false
}

// skeleton replaces the Cyrillic and Greek letters that look like Latin
// ones, so that "pаypal" with a Cyrillic "а" reads as the brand it shows,
// after NFKC has made full-width and mathematical letters plain ones.
func skeleton(s string) string {
	for _, r := range s {
		if r >= 0x370 {
			return strings.Map(func(r rune) rune {
				r = unicode.ToLower(r)
				if l, ok := confusables[r]; ok {
					return l
				}
				return r
			}, norm.NFKC.String(s))
		}
	}
	return s
}

var confusables = map[rune]rune{
	'а': 'a', 'в': 'b', 'е': 'e', 'к': 'k', 'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p',
	'с': 'c', 'т': 't', 'у': 'y', 'х': 'x', 'і': 'i', 'ј': 'j', 'ѕ': 's', 'ԁ': 'd',
	'ԛ': 'q', 'ԝ': 'w', 'ѵ': 'v', 'ο': 'o', 'α': 'a', 'ν': 'v', 'ρ': 'p', 'τ': 't',
	'ι': 'i', 'κ': 'k', 'χ': 'x', 'υ': 'u', 'ε': 'e',
	'ӏ': 'l', 'һ': 'h', 'ԍ': 'g', 'ѡ': 'w', 'η': 'n', 'ϲ': 'c', 'ϳ': 'j', 'ϱ': 'p',
}

var leetReplacer = strings.NewReplacer("0", "o", "1", "l", "3", "e", "4", "a", "5", "s", "rn", "m", "vv", "w")

// unLeet undoes the usual look-alike spellings of a host label.
func unLeet(s string) string {
	if strings.ContainsAny(s, "01345") || strings.Contains(s, "rn") || strings.Contains(s, "vv") {
		return leetReplacer.Replace(s)
	}
	return s
}

// espTrackingDomains are the click trackers of mailing services, whose
// links always show another domain than they go to.
var espTrackingDomains = setOf(
	"list-manage.com", "mailchi.mp", "sendgrid.net", "mandrillapp.com",
	"mailgun.org", "rs6.net", "createsend.com", "mailjet.com", "sendinblue.com",
	"brevo.com", "klclick.com", "hubspotlinks.com", "awstrack.me",
)

// checkAnchor compares the domain an anchor shows, word, with where it
// goes, hrefRest (the href after its scheme).
func (t *textScan) checkAnchor(word, hrefRest string) {
	if word == "" || len(t.mismatch) >= maxExamples {
		return
	}
	var shown string
	if k := strings.Index(word, "://"); k > 0 {
		shown, _ = parseHost(word[k+3:])
	} else if strings.HasPrefix(word, "www.") || bareDomain(word) != "" {
		shown, _ = parseHost(word)
	}
	if shown == "" || !strings.Contains(shown, ".") {
		return
	}
	host, _ := parseHost(hrefRest)
	if host == "" {
		return
	}
	shownReg, hrefReg := registrable(shown), registrable(host)
	if shownReg == hrefReg || espTrackingDomains[hrefReg] {
		return
	}
	t.mismatch = append(t.mismatch, shownReg+" → "+hrefReg)
}

// ownDomains are the registrable domains of the message's From address and
// envelope sender: links there are the site's own.
type ownDomains [2]string

func (o ownDomains) has(reg string) bool {
	return reg != "" && (reg == o[0] || reg == o[1])
}
