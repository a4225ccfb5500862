package spamrun

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"math"
	"path"
	"strings"
	"unicode"

	"github.com/spamrun/spamrun/internal/textmodel"
)

// BuiltinScorer scores a message with rules for what outbound form abuse
// looks like. It is pure Go, needs no network, is deterministic and safe for
// concurrent use, and scores tens of thousands of parsed messages per second
// on one core, so every sendmail process can afford it.
//
// Its score is on the SpamAssassin scale: 5 is spam. Each rule adds a few
// points and says why; no single rule except GTUBE and an executable
// attachment comes near 5, so a message is spam-marked only when several
// signs agree. Ordinary shop and site mail (order confirmations, password
// resets, shipping notices with tracking links, newsletters, invoices with
// a PDF, contact-form notifications) stays around 0 to 2: a false positive
// can take a customer's shop offline.
//
// The rules, with their points:
//
//	GTUBE                     1000  the GTUBE test string
//	URI_SHORTENER             1.5, 2.5 for two or more  links through URL shorteners
//	URI_IP_HOST               1.5   links to a bare IP address
//	URI_USERINFO              1.5   links with user@ before the host, hiding where they go
//	URI_ODD_TLD               1.0 / 1.5 / 2.0 for 1 / 2 / 3+ domains  cheap, abused TLDs (.top, .xyz, .click …)
//	URI_IDN                   1.0   punycode or Unicode host names not the sender's
//	URI_BRAND_LOOKALIKE       2.5   a host naming a phished brand on another domain (paypal-login.example)
//	HTML_LINK_TEXT_MISMATCH   1.5   an anchor showing one domain and linking to another
//	URI_MANY_DOMAINS          1.0 for 4+, 2.0 for 8+  outside domains linked to
//	URI_DENSITY               1.0, 2.0  many outside links for little text
//	PHARMA_WORDS              up to 3.0  pharmacy spam vocabulary
//	CASINO_WORDS              up to 3.0  gambling vocabulary
//	LOAN_WORDS                up to 2.5  loan spam vocabulary
//	CRYPTO_INVEST_WORDS       up to 3.0  investment and crypto scam vocabulary
//	ADULT_WORDS               up to 3.0  adult vocabulary
//	SEO_SPAM_WORDS            up to 2.5  SEO and link-selling vocabulary
//	SPAM_PHRASES              up to 1.5  stock spam phrases ("you have won", "act now")
//	EXTORTION_WORDS           up to 3.5  the sextortion story: webcam, video, contacts, pay in bitcoin
//	DATING_WORDS              up to 2.5  dating and adult contact spam vocabulary
//	PRIZE_SCAM_WORDS          up to 2.5  prize, lottery, survey and gift-card scam vocabulary
//	ADVANCE_FEE_WORDS         up to 2.5  inheritance and advance-fee fraud vocabulary
//	REPLICA_WORDS             up to 2.5  replica goods vocabulary
//	CRYPTO_WALLET             1.5   a bitcoin or ether wallet address in the text
//	SPAM_WORDS_WITH_LINKS     1.0   spam vocabulary together with outside links
//	PHISH_PHRASES             up to 3.0  credential phishing phrases, with a link
//	PHISH_LINK_OFFSITE        1.5   … and the link goes to another domain than the sender's
//	FROM_BRAND_SPOOF          2.0   From claims a phished brand the message cannot be from
//	FROM_NAME_OTHER_DOMAIN    1.2   From display name shows another domain
//	REPLYTO_FREEMAIL_LINKS    0.8   Reply-To at a free mail provider, with outside links
//	GIBBERISH                 1.0, 2.0  random-looking words (hash-busters)
//	MIXED_SCRIPT_WORD         1.5, 2.5 for two or more  Latin words with Cyrillic or Greek look-alike letters
//	CHARSET_MISMATCH          1.0   Cyrillic text under a Latin charset
//	ATTACH_EXECUTABLE         4.0   executable or script attachment (.exe .js .vbs .iso …)
//	ATTACH_DOUBLE_EXT         2.0   document-looking name hiding an executable (invoice.pdf.exe)
//	ATTACH_ARCHIVE            1.0   zip, rar or 7z attachment
//	ATTACH_ARCHIVE_EXECUTABLE 3.5   a zip attachment holding an executable
//	ATTACH_ARCHIVE_PASSWORD   1.5   an encrypted zip, or an archive with a password in the text
//	ATTACH_HTML               1.0   an HTML file attached (a local phishing page)
//	ATTACH_MACRO              3.0   a macro-enabled Office document (.docm, .xlsm …)
//	HTML_HIDDEN_TEXT          1.5   styled-away content with outside links or much text
//	SUBJECT_ALL_CAPS          0.6   a shouted subject
//	MANY_RECIPIENTS           1.0 for 10+, 2.0 for 25+  recipients of one message
//	SCRIPT_IN_UPLOAD_DIR      1.0   sent from an uploads, cache or temp directory
//	PARSE_WARNINGS            0.3, 0.8 when parts were lost  malformed MIME
//	MISSING_MESSAGE_ID        0.1   (PHP mail() never adds one; the relay does)
//	MISSING_DATE              0.1
//	TEXT_MODEL                -1.0 … 4.5, 5.0 alone  the embedded statistical text model, see TextModel
//	                                and MarkingModel
//	RULES_AND_MODEL           what brings it to 5  rules and model weighed together, see CombiningModel
//	WP_COMMENT_NOTICE         0     a WordPress notice to the owner quoting a comment,
//	                                whose quoted part is not scored (see commentNotice)
//
// The rules read the subject, the body and every part Message.Parts
// yields, within bounds of bytes and work: further text and HTML parts,
// text, HTML and SVG attachments, the text of PDFs, the file names inside
// zip archives and the archives in them, and forwarded messages with their
// subject; spam moved into an attachment scores as it does in the body.
//
// The vocabulary rules know English, Dutch, German, French, Spanish,
// Italian, Portuguese, Polish, Turkish, Russian, Ukrainian, Arabic,
// Chinese, Japanese and Korean, and sum the distinct words and phrases
// found, each weighted; the
// words a shop also uses ("bonus", "loan", "bitcoin") add at most 1.0 to
// their category together. "Outside" links go to domains other than the
// From and envelope sender domains and common platforms (social networks,
// payment providers, parcel carriers).
type BuiltinScorer struct {
	model TextModel // nil: rules only
}

// BuiltinOptions adjust a BuiltinScorer. The zero value and nil are the
// defaults.
type BuiltinOptions struct {
	// TextModel classifies the message's words and adds its verdict as
	// the rule TEXT_MODEL. Nil means the embedded model, trained on the
	// public SpamAssassin corpus and hosting mail.
	TextModel TextModel
	// RulesOnly leaves the text model out: the score is the rules' alone.
	RulesOnly bool
}

// TextModel is a statistical classifier of message text, such as the
// logistic model trained on a public corpus that the scorer embeds.
//
// SpamProbability returns the probability, in [0, 1], that a message with
// the given features is spam. features yields, in order, the subject's and
// body's words (lower case, letters and digits only, without URLs and
// English function words, the tokens the vocabulary rules see, so a
// message is tokenised once) and then features named with a colon: the
// subject's words again as "s:word", links as "h:host", "d:domain" and
// "t:tld", writing systems as "script:cyrillic" and so on, attachments
// as "attach:pdf". Chinese, Japanese, Korean and Thai text comes as pairs
// of characters. The strings may be kept; the sequence is valid only
// during the call.
//
// The probability becomes points like SpamAssassin's BAYES rules: at
// least 0.999 adds 4.5, 0.99 adds 4.0, 0.95 adds 3.0, 0.80 adds 2.0, 0.60
// adds 1.0; below 0.01 subtracts 1.0 and below 0.05 subtracts 0.5;
// anything else, including NaN, adds no rule. The model alone never
// reaches 5: a message is spam only when a rule agrees. A model must be
// safe for concurrent use.
type TextModel interface {
	SpamProbability(features iter.Seq[string]) float64
}

var _ Scorer = (*BuiltinScorer)(nil)

// NewBuiltinScorer returns a BuiltinScorer with the default options.
func NewBuiltinScorer() *BuiltinScorer { return NewBuiltinScorerWithOptions(nil) }

// NewBuiltinScorerWithOptions returns a BuiltinScorer with opts; nil means
// the defaults.
func NewBuiltinScorerWithOptions(opts *BuiltinOptions) *BuiltinScorer {
	s := &BuiltinScorer{}
	switch {
	case opts == nil || opts.TextModel == nil && !opts.RulesOnly:
		s.model = embeddedModel{}
	case !opts.RulesOnly:
		s.model = opts.TextModel
	}
	return s
}

// embeddedModel is the model embedded in the binary, decoded on its first
// use: decoding takes a few milliseconds, which a sendmail run that
// refuses a disabled site before scoring need not pay.
type embeddedModel struct{}

func (embeddedModel) SpamProbability(features iter.Seq[string]) float64 {
	return textmodel.Default().SpamProbability(features)
}

func (embeddedModel) MarkAlone() float64 { return textmodel.Default().MarkAlone }

func (embeddedModel) Combine(p float64, rules iter.Seq2[string, float64]) (q, threshold float64) {
	c := &textmodel.Default().Combiner
	return c.Probability(p, rules), c.Threshold
}

// gtube is SpamAssassin's Generic Test for Unsolicited Bulk Email.
const gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

// Score scores msg. It never fails: the error is always nil, and a nil or
// empty message scores 0.
func (s *BuiltinScorer) Score(_ context.Context, msg *Message) (Score, error) {
	var sc Score
	if msg == nil {
		return sc, nil
	}
	t := getScan()
	defer putScan(t)

	from := fromOf(msg)
	own := ownDomains{registrable(Domain(from.addr)), registrable(Domain(msg.Sender))}

	t.textBudget = maxScanText
	t.addText(msg.Subject)
	t.subjectSpans = len(t.spans)
	text := msg.Text
	kept, notice := commentNotice(msg)
	switch {
	case notice:
		text = kept
		sc.Add("WP_COMMENT_NOTICE", 0, "a WordPress notice to the site's owner about a comment; the quoted comment is not scored")
	case msg.HTML != "" && textFromHTML(msg):
		// The HTML's visible words are read instead, as a reader sees them.
		text = ""
	}
	t.addText(text)
	switch {
	case msg.HTML == "":
	case notice:
		// A notice's HTML would quote the comment its text leaves out.
		t.readHTML(msg.HTML, own, false)
	default:
		t.scanHTML(msg.HTML, own)
	}
	parts := t.scanParts(msg, own)
	t.matchPhrases()
	t.matchWide()

	if strings.Contains(msg.Text, gtube) || strings.Contains(msg.HTML, gtube) || strings.Contains(msg.Subject, gtube) || parts.gtube {
		sc.Add("GTUBE", 1000, "the GTUBE test string")
	}
	ls := classifyLinks(t.links, own)
	ls.total += t.moreLinks
	scoreLinks(&sc, t, &ls)
	scoreAttachments(&sc, t, msg, &parts)
	scoreVocabulary(&sc, t, &ls)
	scoreSender(&sc, msg, from, &ls)
	scoreText(&sc, t, msg)
	scoreWallets(&sc, msg)
	scoreStructure(&sc, t, msg)
	if s.model != nil {
		scoreModel(&sc, t, msg, s.model)
	}
	return sc, nil
}

// linkStats sums up a message's links.
type linkStats struct {
	total      int      // distinct links followed (not embedded images)
	foreign    int      // distinct links to outside domains
	foreignReg []string // distinct outside registrable domains
	shortener  []string
	ip         []string
	userinfo   []string
	odd        []string // distinct registrable domains on odd TLDs
	idn        []string
	lookalike  []string // "brand (host)"
}

func classifyLinks(links []link, own ownDomains) linkStats {
	var ls linkStats
	for i := range links {
		l := &links[i]
		if !l.embedded {
			ls.total++
		}
		if own.has(l.reg) {
			continue
		}
		if l.userinfo {
			ls.userinfo = appendDistinct(ls.userinfo, l.host)
		}
		if commonLinkDomains[l.reg] {
			continue
		}
		// Images and style sheets on other hosts are how newsletters are
		// built: they count for what their hosts are, not how many.
		if !l.embedded {
			ls.foreign++
			ls.foreignReg = appendDistinct(ls.foreignReg, l.reg)
		}
		switch {
		case shortenerDomains[l.host] || shortenerDomains[l.reg]:
			ls.shortener = appendDistinct(ls.shortener, l.url)
		case isIPHost(l.host):
			ls.ip = appendDistinct(ls.ip, l.host)
		default:
			if oddTLDs[tld(l.host)] {
				ls.odd = appendDistinct(ls.odd, l.reg)
			}
			if isIDN(l.host) {
				ls.idn = appendDistinct(ls.idn, l.host)
			}
			if b := brandLookalike(l.host, l.reg); b != "" {
				ls.lookalike = appendDistinct(ls.lookalike, b+" ("+l.host+")")
			}
		}
	}
	return ls
}

func appendDistinct(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// examples joins at most three items for a reason.
func examples(list []string) string {
	if len(list) <= maxExamples {
		return strings.Join(list, ", ")
	}
	return fmt.Sprintf("%s (+%d more)", strings.Join(list[:maxExamples], ", "), len(list)-maxExamples)
}

func scoreLinks(sc *Score, t *textScan, ls *linkStats) {
	switch n := len(ls.shortener); {
	case n >= 2:
		sc.Add("URI_SHORTENER", 2.5, fmt.Sprintf("%d links through URL shorteners: %s", n, examples(ls.shortener)))
	case n == 1:
		sc.Add("URI_SHORTENER", 1.5, "link through a URL shortener: "+ls.shortener[0])
	}
	if len(ls.ip) > 0 {
		sc.Add("URI_IP_HOST", 1.5, "link to an IP address: "+examples(ls.ip))
	}
	if len(ls.userinfo) > 0 {
		sc.Add("URI_USERINFO", 1.5, "link hides its host behind user@: "+examples(ls.userinfo))
	}
	if n := len(ls.odd); n > 0 {
		pts := []float64{1.0, 1.5, 2.0}[min(n, 3)-1]
		sc.Add("URI_ODD_TLD", pts, "links on cheap, abused TLDs: "+examples(ls.odd))
	}
	if len(ls.idn) > 0 {
		sc.Add("URI_IDN", 1.0, "link to an internationalised host name: "+examples(ls.idn))
	}
	if len(ls.lookalike) > 0 {
		sc.Add("URI_BRAND_LOOKALIKE", 2.5, "link host imitates a brand: "+examples(ls.lookalike))
	}
	if len(t.mismatch) > 0 {
		sc.Add("HTML_LINK_TEXT_MISMATCH", 1.5, "link text shows another domain than the link: "+examples(t.mismatch))
	}
	switch n := len(ls.foreignReg); {
	case n >= 8:
		sc.Add("URI_MANY_DOMAINS", 2.0, fmt.Sprintf("links to %d outside domains", n))
	case n >= 4:
		sc.Add("URI_MANY_DOMAINS", 1.0, fmt.Sprintf("links to %d outside domains", n))
	}
	if f := ls.foreign; f >= 3 {
		switch {
		case f >= 5 && t.words < 12*f:
			sc.Add("URI_DENSITY", 2.0, fmt.Sprintf("%d outside links in %d words", f, t.words))
		case t.words < 25*f:
			sc.Add("URI_DENSITY", 1.0, fmt.Sprintf("%d outside links in %d words", f, t.words))
		}
	}
}

func scoreVocabulary(sc *Score, t *textScan, ls *linkStats) {
	var spamWords float64
	for c := range numCategories {
		rule := vocabRules[c]
		if rule.name == "" || t.catHits[c] == 0 || c == catPhish {
			continue
		}
		pts := round1(min(t.category(c), rule.cap))
		spamWords += pts
		sc.Add(rule.name, pts, rule.label+": "+t.termExamples(c))
	}
	if spamWords >= 1.5 && ls.foreign > 0 {
		sc.Add("SPAM_WORDS_WITH_LINKS", 1.0, "spam vocabulary together with links to outside domains")
	}
	if t.catHits[catPhish] > 0 && (ls.total > 0 || t.htmlAttachment) {
		pts := round1(min(t.category(catPhish), vocabRules[catPhish].cap))
		sc.Add("PHISH_PHRASES", pts, vocabRules[catPhish].label+": "+t.termExamples(catPhish))
		// "Within 24 hours" alone is also what an honest shop says.
		if ls.foreign > 0 && t.catSum[catPhish] > 0 {
			sc.Add("PHISH_LINK_OFFSITE", 1.5, "asks for credentials and links to another domain: "+examples(ls.foreignReg))
		}
	}
}

// round1 rounds to one decimal, so that sums of weights print as written.
func round1(x float64) float64 { return math.Round(x*10) / 10 }

// termExamples lists the first few terms hit in category c.
func (t *textScan) termExamples(c category) string {
	var list []string
	n := 0
	for _, id := range t.hits {
		if lexicon.terms[id].cat != c {
			continue
		}
		n++
		if len(list) < maxExamples {
			list = append(list, lexicon.terms[id].text)
		}
	}
	if n > len(list) {
		return fmt.Sprintf("%s (+%d more)", strings.Join(list, ", "), n-len(list))
	}
	return strings.Join(list, ", ")
}

// fromAddr is the From header's first address.
type fromAddr struct {
	name, addr string
}

func fromOf(m *Message) fromAddr {
	if list := m.Addresses("From"); len(list) > 0 && list[0] != nil {
		return fromAddr{list[0].Name, list[0].Address}
	}
	// An unparseable From still usually holds an address.
	v := m.Header("From")
	if lt := strings.LastIndexByte(v, '<'); lt >= 0 {
		addr := v[lt+1:]
		if gt := strings.IndexByte(addr, '>'); gt >= 0 {
			addr = addr[:gt]
		}
		return fromAddr{strings.Trim(strings.TrimSpace(v[:lt]), `"`), strings.TrimSpace(addr)}
	}
	return fromAddr{addr: strings.TrimSpace(v)}
}

// serviceWords make an ambiguous brand name in a display name ("Apple")
// read as the company's service rather than, say, an orchard.
var serviceWords = setOf("support", "service", "services", "security", "billing", "account", "accounts", "id", "team", "klantenservice", "kundenservice", "служба", "поддержка", "notification", "notifications", "alert", "online", "bank")

var ambiguousBrands = setOf("apple", "amazon", "ing", "adobe", "outlook", "dropbox")

func scoreSender(sc *Score, m *Message, from fromAddr, ls *linkStats) {
	fromReg := registrable(Domain(from.addr))
	if brand := displayBrand(from.name); brand != "" && !brandOwns(brand, fromReg) {
		sc.Add("FROM_BRAND_SPOOF", 2.0, fmt.Sprintf("From name says %q, address is at %s", from.name, fromReg))
	} else if brand := brandOfDomain(fromReg); brand != "" {
		sc.Add("FROM_BRAND_SPOOF", 2.0, "From claims "+fromReg+", which a hosted website cannot send for")
	}
	if host := domainInName(from.name); host != "" {
		if reg := registrable(host); reg != fromReg && !freemailDomains[reg] {
			sc.Add("FROM_NAME_OTHER_DOMAIN", 1.2, fmt.Sprintf("From name shows %s, address is at %s", host, fromReg))
		}
	}
	if ls.foreign >= 2 {
		for _, a := range m.Addresses("Reply-To") {
			if a == nil {
				continue
			}
			if d := Domain(a.Address); freemailDomains[d] && registrable(d) != fromReg {
				sc.Add("REPLYTO_FREEMAIL_LINKS", 0.8, "Reply-To at "+d+" while the body pushes outside links")
				break
			}
		}
	}
	n := len(m.Recipients)
	if h := len(m.Addresses("To")) + len(m.Addresses("Cc")); h > n {
		n = h
	}
	switch {
	case n >= 25:
		sc.Add("MANY_RECIPIENTS", 2.0, fmt.Sprintf("%d recipients", n))
	case n >= 10:
		sc.Add("MANY_RECIPIENTS", 1.0, fmt.Sprintf("%d recipients", n))
	}
}

// displayBrand returns the phished brand a From display name claims.
func displayBrand(name string) string {
	if name == "" {
		return ""
	}
	var brand string
	service := false
	for w := range strings.FieldsFuncSeq(strings.ToLower(name), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if brand == "" {
			if _, ok := phishedBrands[w]; ok {
				brand = w
			} else if _, ok := phishedBrands[skeleton(w)]; ok {
				brand = skeleton(w)
			}
		}
		if serviceWords[w] {
			service = true
		}
	}
	if brand == "" || (ambiguousBrands[brand] && !service) {
		return ""
	}
	return brand
}

// brandOfDomain returns the brand whose own domain reg is: mail from a web
// host claiming it is forged. Free mail domains are not brands here: old
// contact scripts put the visitor's address in From.
func brandOfDomain(reg string) string {
	label, _, ok := strings.Cut(reg, ".")
	if !ok || freemailDomains[reg] {
		return ""
	}
	if _, ok := phishedBrands[label]; ok && !ambiguousBrands[label] && brandOwns(label, reg) {
		return label
	}
	return ""
}

// domainInName returns a host name or address domain written in a display
// name, or "".
func domainInName(name string) string {
	for _, w := range strings.Fields(name) {
		w = strings.Trim(w, `"'()[]<>,;`)
		if at := strings.LastIndexByte(w, '@'); at >= 0 {
			w = w[at+1:]
		}
		if k := strings.Index(w, "://"); k >= 0 {
			w = w[k+3:]
		}
		if d := bareDomain(w); d != "" {
			h, _ := parseHost(d)
			return h
		}
	}
	return ""
}

func scoreText(sc *Score, t *textScan, m *Message) {
	if g, w := t.gibberish, t.words; g >= 3 {
		ex := t.spanExamples(t.gibEx)
		switch {
		case g >= 6 && g*10 >= w:
			sc.Add("GIBBERISH", 2.0, fmt.Sprintf("%d random-looking words of %d: %s", g, w, ex))
		case g*20 >= w:
			sc.Add("GIBBERISH", 1.0, fmt.Sprintf("%d random-looking words of %d: %s", g, w, ex))
		}
	}
	switch {
	case t.mixed >= 2:
		sc.Add("MIXED_SCRIPT_WORD", 2.5, fmt.Sprintf("%d words mix Latin with Cyrillic or Greek letters: %s", t.mixed, t.spanExamples(t.mixedEx)))
	case t.mixed == 1:
		sc.Add("MIXED_SCRIPT_WORD", 1.5, "a word mixes Latin with Cyrillic or Greek letters: "+t.spanExamples(t.mixedEx))
	}
	if t.mojibake >= 10 {
		sc.Add("CHARSET_MISMATCH", 1.0, "Cyrillic UTF-8 text sent under a Latin charset")
	} else if t.cyrillic >= 20 && t.cyrillic*2 >= t.cyrillic+t.latin && declaresLatinCharset(m) {
		sc.Add("CHARSET_MISMATCH", 1.0, "Cyrillic text in a message declaring a Latin charset")
	}
}

// declaresLatinCharset reports whether every charset the message declares
// is a Latin one.
func declaresLatinCharset(m *Message) bool {
	raw := m.Raw
	found := false
	for {
		k := bytes.Index(raw, []byte("harset="))
		if k < 0 {
			return found
		}
		v := raw[k+len("harset="):]
		v = bytes.TrimLeft(v, `"'`)
		end := bytes.IndexAny(v, "\"'; \t\r\n")
		if end < 0 {
			end = len(v)
		}
		cs := strings.ToLower(string(v[:end]))
		switch {
		case strings.HasPrefix(cs, "iso-8859-1"), cs == "iso-8859-15", cs == "windows-1252", cs == "us-ascii", cs == "latin1":
			found = true
		default:
			return false
		}
		raw = v[end:]
	}
}

func (t *textScan) spanExamples(list []span) string {
	var words []string
	for _, s := range list {
		words = appendDistinct(words, t.token(s))
	}
	return strings.Join(words, ", ")
}

var executableExts = setOf("exe", "scr", "js", "jse", "vbs", "vbe", "bat", "cmd", "jar", "com", "pif", "lnk", "hta", "iso", "img", "msi", "ps1", "wsf", "cpl", "vhd", "vhdx", "appx", "msix")

var executableTypes = setOf(
	"application/x-msdownload", "application/x-msdos-program", "application/x-dosexec",
	"application/x-executable", "application/vnd.microsoft.portable-executable",
	"application/java-archive", "application/x-java-archive", "application/hta",
	"application/x-ms-shortcut", "application/x-iso9660-image", "application/x-ms-installer",
	"application/javascript", "application/x-javascript", "text/javascript", "text/vbscript",
)

var documentExts = setOf("pdf", "doc", "docx", "xls", "xlsx", "xlsm", "ppt", "pptx", "odt", "ods", "rtf", "txt", "csv", "jpg", "jpeg", "png", "gif", "zip", "html", "htm", "mp3", "mp4", "wav")

var archiveExts = setOf("zip", "rar", "7z", "ace", "arj", "cab", "r00", "z")

var archiveTypes = setOf("application/zip", "application/x-zip-compressed", "application/x-rar-compressed", "application/vnd.rar", "application/x-rar", "application/x-7z-compressed")

func scoreAttachments(sc *Score, t *textScan, m *Message, parts *partFacts) {
	var exe, double, archive, html, macro []string
	for _, list := range [][]Attachment{m.Attachments, parts.forwarded} {
		for _, a := range list {
			name, ext := fileExt(a.Name)
			shown := a.Name
			if shown == "" {
				shown = a.ContentType
			}
			switch {
			case executableExts[ext] || executableTypes[a.ContentType]:
				exe = append(exe, shown)
				if disguised(name, ext) {
					double = append(double, shown)
				}
			case archiveExts[ext] || archiveTypes[a.ContentType]:
				archive = append(archive, shown)
			case macroExts[ext] || strings.Contains(a.ContentType, "macroenabled"):
				macro = append(macro, shown)
			case ext == "html" || ext == "htm" || ext == "shtml" || ext == "xhtml" || (a.ContentType == "text/html" && a.Name != ""):
				html = append(html, shown)
			}
		}
	}
	double = append(double, parts.doubleExt...)
	t.htmlAttachment = len(html) > 0
	if len(exe) > 0 {
		sc.Add("ATTACH_EXECUTABLE", 4.0, "executable attachment: "+examples(exe))
	}
	if len(double) > 0 {
		sc.Add("ATTACH_DOUBLE_EXT", 2.0, "executable disguised as a document: "+examples(double))
	}
	if len(archive) > 0 {
		sc.Add("ATTACH_ARCHIVE", 1.0, "archive attachment: "+examples(archive))
		if len(parts.inArchive) > 0 {
			sc.Add("ATTACH_ARCHIVE_EXECUTABLE", 3.5, "archive holds an executable: "+examples(parts.inArchive))
		}
		switch {
		case parts.encrypted:
			sc.Add("ATTACH_ARCHIVE_PASSWORD", 1.5, "encrypted archive, which virus scanners cannot open")
		case t.catHits[catPassword] > 0:
			sc.Add("ATTACH_ARCHIVE_PASSWORD", 1.5, "archive attachment with a password in the text")
		}
	}
	if len(html) > 0 {
		sc.Add("ATTACH_HTML", 1.0, "HTML file attached: "+examples(html))
	}
	if len(macro) > 0 {
		sc.Add("ATTACH_MACRO", 3.0, "macro-enabled Office document attached: "+examples(macro))
	}
}

// fileExt returns a file name in lower case, without the blanks around it
// and the dots after it, and its extension without the dot.
func fileExt(name string) (lower, ext string) {
	lower = strings.ToLower(strings.TrimRight(strings.TrimSpace(name), ". "))
	return lower, strings.TrimPrefix(path.Ext(lower), ".")
}

// disguised reports whether an executable's name, as fileExt gives it,
// poses as a document: invoice.pdf.exe, or a run of blanks that pushes
// the real extension out of sight.
func disguised(name, ext string) bool {
	stem := strings.TrimRight(strings.TrimSuffix(name, "."+ext), " ")
	return documentExts[strings.TrimPrefix(path.Ext(stem), ".")] || strings.Contains(name, "     ")
}

// macroExts are Office documents that carry macros: a site's invoices and
// order lists are PDFs or plain spreadsheets, and macro documents are how
// malware asks to be let in ("enable content").
var macroExts = setOf("docm", "dotm", "xlsm", "xltm", "xlam", "xlsb", "pptm", "potm", "ppam", "ppsm", "sldm")

func scoreStructure(sc *Score, t *textScan, m *Message) {
	if t.hiddenText {
		sc.Add("HTML_HIDDEN_TEXT", 1.5, t.hiddenWhy)
	}
	if subjectShouts(m.Subject) {
		sc.Add("SUBJECT_ALL_CAPS", 0.6, "subject in capitals")
	}
	if cwd := m.Evidence.Cwd; UploadDir(cwd) != "" {
		sc.Add("SCRIPT_IN_UPLOAD_DIR", 1.0, "sent by a script running in "+cwd)
	}
	var lost, other int
	for _, w := range m.Warnings {
		switch {
		case strings.Contains(w, "Plain Text from HTML"):
			// HTML-only mail is what most shop software sends.
		case strings.HasPrefix(w, "[E]"), strings.HasPrefix(w, "unreadable"), strings.Contains(w, "NUL"):
			lost++
		default:
			other++
		}
	}
	switch {
	case lost > 0:
		sc.Add("PARSE_WARNINGS", 0.8, fmt.Sprintf("malformed message, parts lost (%d problems)", lost+other))
	case other > 0:
		sc.Add("PARSE_WARNINGS", 0.3, fmt.Sprintf("malformed message (%d problems)", other))
	}
	if m.env != nil {
		if !m.HasHeader("Message-ID") {
			sc.Add("MISSING_MESSAGE_ID", 0.1, "no Message-ID (the relay will add one)")
		}
		if !m.HasHeader("Date") {
			sc.Add("MISSING_DATE", 0.1, "no Date (the relay will add one)")
		}
	}
}

// subjectShouts reports whether a subject of some length has no lower-case
// letters.
func subjectShouts(s string) bool {
	upper, words := 0, 0
	inWord := false
	for _, r := range s {
		if unicode.IsLower(r) {
			return false
		}
		if unicode.IsUpper(r) {
			upper++
			if !inWord {
				words++
			}
			inWord = true
		} else if unicode.IsSpace(r) {
			inWord = false
		}
	}
	return upper >= 10 && words >= 3
}
