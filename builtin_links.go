package spamrun

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// link is one distinct link of a message: a URL in the text or an href, or
// a bare domain written in the text.
type link struct {
	url      string // as written, trailing punctuation removed
	host     string // lower case, without user info, port or trailing dot
	reg      string // registrable domain; the host itself for IP addresses
	userinfo bool   // "http://paypal.com@evil.example/": the host is after the @
}

// addLink records the link s whose host begins at hostAt, unless it is
// already known.
func (t *textScan) addLink(s string, hostAt int) {
	s = strings.TrimRight(s, ".,;:!?'\")]}>*")
	if hostAt >= len(s) {
		return
	}
	if strings.Contains(s, "&amp;") {
		s = strings.ReplaceAll(s, "&amp;", "&")
	}
	s = strings.TrimSuffix(s, "/")
	for i := range t.links {
		if len(t.links[i].url) == len(s) && strings.EqualFold(t.links[i].url, s) {
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
	t.links = append(t.links, link{url: s, host: host, reg: registrable(host), userinfo: userinfo})
}

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
	c = strings.Trim(c, ".,;:!?*")
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
// ones, so that "pаypal" with a Cyrillic "а" reads as the brand it shows.
func skeleton(s string) string {
	for _, r := range s {
		if r >= 0x370 {
			return strings.Map(func(r rune) rune {
				if l, ok := confusables[r]; ok {
					return l
				}
				return r
			}, s)
		}
	}
	return s
}

var confusables = map[rune]rune{
	'а': 'a', 'в': 'b', 'е': 'e', 'к': 'k', 'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p',
	'с': 'c', 'т': 't', 'у': 'y', 'х': 'x', 'і': 'i', 'ј': 'j', 'ѕ': 's', 'ԁ': 'd',
	'ԛ': 'q', 'ԝ': 'w', 'ѵ': 'v', 'ο': 'o', 'α': 'a', 'ν': 'v', 'ρ': 'p', 'τ': 't',
	'ι': 'i', 'κ': 'k', 'χ': 'x', 'υ': 'u', 'ε': 'e',
}

var leetReplacer = strings.NewReplacer("0", "o", "1", "l", "3", "e", "4", "a", "5", "s", "rn", "m", "vv", "w")

// unLeet undoes the usual look-alike spellings of a host label.
func unLeet(s string) string {
	if strings.ContainsAny(s, "01345") || strings.Contains(s, "rn") || strings.Contains(s, "vv") {
		return leetReplacer.Replace(s)
	}
	return s
}

// scanHTML finds the links of an HTML body, the anchors whose text shows
// another domain than they lead to, and text hidden from the reader.
func (t *textScan) scanHTML(html string, own ownDomains) {
	if len(html) > maxScanHTML {
		html = html[:maxScanHTML]
	}
	low := strings.ToLower(html)
	for i := 0; i < len(low); {
		k := strings.Index(low[i:], "<a")
		if k < 0 {
			break
		}
		p := i + k + 2
		i = p
		if p >= len(low) || !isHTMLSpace(low[p]) {
			continue
		}
		end := strings.IndexByte(low[p:], '>')
		if end < 0 {
			break
		}
		end += p
		i = end + 1
		href := strings.TrimSpace(attrValue(low[p:end], "href"))
		scheme := strings.Index(href, "://")
		if scheme < 3 || scheme > 6 {
			continue
		}
		t.addLink(href, scheme+3)
		t.checkAnchor(visibleFirstWord(low[end+1:]), href[scheme+3:])
	}
	t.findHidden(low, own)
}

func isHTMLSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f' }

// attrValue returns the value of the attribute name in the inside of a
// lower-cased tag.
func attrValue(tag, name string) string {
	const maxAttrLen = 4096
	for off := 0; off < len(tag); {
		k := strings.Index(tag[off:], name)
		if k < 0 {
			return ""
		}
		k += off
		off = k + len(name)
		if k > 0 && !isHTMLSpace(tag[k-1]) && tag[k-1] != '"' && tag[k-1] != '\'' && tag[k-1] != '/' {
			continue
		}
		j := off
		for j < len(tag) && isHTMLSpace(tag[j]) {
			j++
		}
		if j >= len(tag) || tag[j] != '=' {
			continue
		}
		j++
		for j < len(tag) && isHTMLSpace(tag[j]) {
			j++
		}
		if j >= len(tag) {
			return ""
		}
		// No honest attribute value is longer; a longer search only costs.
		if len(tag)-j > maxAttrLen {
			tag = tag[:j+maxAttrLen]
		}
		if q := tag[j]; q == '"' || q == '\'' {
			if e := strings.IndexByte(tag[j+1:], q); e >= 0 {
				return tag[j+1 : j+1+e]
			}
			return tag[j+1:]
		}
		if e := strings.IndexAny(tag[j:], " \t\r\n"); e >= 0 {
			return tag[j : j+e]
		}
		return tag[j:]
	}
	return ""
}

// visibleFirstWord returns the first word of text a reader sees at the
// start of s, skipping tags, white space and &nbsp;.
func visibleFirstWord(s string) string {
	// A link's text starts right after it; looking further only costs time
	// on pages made of nothing but tags.
	if len(s) > 1024 {
		s = s[:1024]
	}
	i := 0
	for i < len(s) {
		switch {
		case s[i] == '<':
			if strings.HasPrefix(s[i:], "</a") {
				return ""
			}
			e := strings.IndexByte(s[i:], '>')
			if e < 0 {
				return ""
			}
			i += e + 1
		case isHTMLSpace(s[i]):
			i++
		case strings.HasPrefix(s[i:], "&nbsp;"):
			i += len("&nbsp;")
		default:
			j := i
			for j < len(s) && s[j] != '<' && s[j] != '&' && !isHTMLSpace(s[j]) {
				j++
			}
			return s[i:j]
		}
	}
	return ""
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

var hiddenStyles = []string{
	"display:none", "display: none", "visibility:hidden", "visibility: hidden",
	"font-size:0", "font-size: 0",
}

// hideableTags are the elements whose hidden content is examined; a hidden
// img or input is a tracking pixel or a form detail, not hidden text.
var hideableTags = setOf("div", "span", "p", "td", "table", "font", "section", "center", "tr", "li", "ul", "a")

// findHidden looks for styled-away elements that carry outside links or a
// lot of text. A short hidden preheader, or a hidden mobile menu of the
// shop's own links, is what honest templates do.
func (t *textScan) findHidden(low string, own ownDomains) {
	// Each candidate costs up to elementContent's limit; honest templates
	// have a handful, and a page of thousands is after something else.
	const maxCandidates = 32
	const maxTagLen = 2048
	const maxHits = 256
	candidates, hits := 0, 0
	for _, pat := range hiddenStyles {
		for off := 0; off < len(low); {
			k := strings.Index(low[off:], pat)
			if k < 0 {
				break
			}
			if hits++; hits > maxHits {
				return
			}
			p := off + k
			off = p + len(pat)
			if strings.HasPrefix(pat, "font-size") && off < len(low) && (low[off] == '.' || ('0' <= low[off] && low[off] <= '9')) {
				continue
			}
			back := low[max(0, p-maxTagLen):p]
			lt := strings.LastIndexByte(back, '<')
			if lt < 0 || strings.LastIndexByte(back, '>') > lt {
				continue
			}
			lt += p - len(back)
			name := low[lt+1:]
			if n := strings.IndexFunc(name, func(r rune) bool { return r > 'z' || r < 'a' }); n >= 0 {
				name = name[:n]
			}
			if !hideableTags[name] {
				continue
			}
			if candidates++; candidates > maxCandidates {
				return
			}
			tagEnd := strings.IndexByte(low[p:], '>')
			if tagEnd < 0 {
				return
			}
			content := elementContent(low[p+tagEnd+1:], name)
			textLen, foreign := hiddenContent(content, own)
			switch {
			case foreign > 0:
				t.hiddenText, t.hiddenWhy = true, "hidden element links to another domain"
				return
			case textLen >= 500:
				t.hiddenText, t.hiddenWhy = true, "hidden element holds a lot of text"
				return
			}
		}
	}
}

// elementContent returns the inside of the element named name whose start
// tag ended just before s.
func elementContent(s, name string) string {
	const limit = 20 << 10
	if len(s) > limit {
		s = s[:limit]
	}
	depth := 1
	for i := 0; i < len(s); i++ {
		if s[i] != '<' {
			continue
		}
		rest := s[i+1:]
		closing := strings.HasPrefix(rest, "/")
		if closing {
			rest = rest[1:]
		}
		if !strings.HasPrefix(rest, name) || (len(rest) > len(name) && asciiClass[rest[len(name)]&0x7f]&clsLetter != 0) {
			continue
		}
		if closing {
			depth--
			if depth == 0 {
				return s[:i]
			}
		} else {
			depth++
		}
	}
	return s
}

// hiddenContent measures hidden content: its visible characters, and
// whether it links to domains that are neither the sender's nor common
// (foreign is 0 or 1).
func hiddenContent(s string, own ownDomains) (textLen, foreign int) {
	inTag := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '<':
			inTag = true
		case c == '>':
			inTag = false
		case !inTag && !isHTMLSpace(c):
			textLen++
		}
	}
	for off, n := 0, 0; off < len(s) && foreign == 0 && n < 64; n++ {
		k := strings.Index(s[off:], "href")
		if k < 0 {
			break
		}
		off += k + 4
		v := attrValue(s[off-4:], "href")
		scheme := strings.Index(v, "://")
		if scheme < 0 {
			continue
		}
		host, _ := parseHost(v[scheme+3:])
		if reg := registrable(host); host != "" && !own.has(reg) && !commonLinkDomains[reg] {
			foreign++
		}
	}
	return textLen, foreign
}

// ownDomains are the registrable domains of the message's From address and
// envelope sender: links there are the site's own.
type ownDomains [2]string

func (o ownDomains) has(reg string) bool {
	return reg != "" && (reg == o[0] || reg == o[1])
}
