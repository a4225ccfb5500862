package spamrun

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// The HTML of a message is read with golang.org/x/net/html's tokenizer,
// which decodes entities in text and attribute values the way a mail
// client does, so that "https&#58;//" is a link and "V&#105;agra" a word.
// One pass gathers:
//
//   - links: every href, src, action, formaction, srcset and background
//     attribute, and CSS url() in style attributes and <style>;
//   - anchors whose text shows another domain than their href;
//   - hidden content: elements styled away (display:none,
//     visibility:hidden, opacity:0, a font size of at most 1px, zero
//     height with overflow hidden, text coloured like its background) or
//     carrying the hidden attribute;
//   - the visible text, with inline elements (b, span, font, a …) joining
//     the letters on either side and block elements (p, div, br, td …)
//     separating them, for the word scan.
//
// Script, style and title contents are never words. <noscript>,
// <noembed> and <noframes> contents are read as HTML: mail clients run no
// scripts, and many show them.

const (
	maxHTMLDepth  = 256       // open elements tracked; deeper ones are read as text only
	maxHTMLNested = 2         // levels of <noscript> read as HTML inside one another
	maxAnchorText = 256       // bytes of an anchor's text kept to compare with its href
	hiddenTextMin = 500       // characters of hidden text that make HTML_HIDDEN_TEXT
	colorUnknown  = int32(-1) // no colour known
	colorWhite    = 0xffffff  // white
	colorNear     = 0x10      // per channel: closer colours are the same to a reader
)

// What a style attribute does to an element.
const (
	styleHidden   = 1 << iota // the element is styled away
	styleTinyFont             // its font is at most 1px
)

// htmlElem is an open element of the HTML being read.
type htmlElem struct {
	name  uint32 // hash of the tag name
	color int32  // the text colour in effect, or colorUnknown
	bg    int32  // the background colour in effect, or colorUnknown
}

// htmlReader is the state of one readHTML call.
type htmlReader struct {
	t     *textScan
	own   ownDomains
	words bool // gather the visible text

	skip       atom.Atom // inside script, style, title or the like: its text is no word
	hiddenAt   int       // depth of the outermost hidden element, or -1
	hiddenLen  int       // visible characters inside it
	hiddenLink bool      // it links to an outside domain
	tagForeign bool      // the start tag being read links to an outside domain

	inAnchor   bool
	anchorHref string // the anchor's href after its scheme
}

// scanHTML reads an HTML body or part: its links, its anchors, its hidden
// content, and its visible words, which join the word scan where they say
// more than the text read before (see addHTMLWords).
func (t *textScan) scanHTML(doc string, own ownDomains) {
	t.readHTML(doc, own, true)
}

// readHTML is scanHTML; with words false the visible text is not scanned.
func (t *textScan) readHTML(doc string, own ownDomains, words bool) {
	if len(doc) > maxScanHTML {
		doc = doc[:maxScanHTML]
	}
	t.htmlText = t.htmlText[:0]
	t.htmlStack = t.htmlStack[:0]
	h := htmlReader{t: t, own: own, words: words, hiddenAt: -1}
	h.read(doc, 0)
	h.endAnchor()
	if h.hiddenAt >= 0 {
		h.endHidden()
	}
	if words {
		t.addHTMLWords()
	}
}

func (h *htmlReader) read(doc string, nested int) {
	z := html.NewTokenizer(strings.NewReader(doc))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return
		case html.TextToken:
			h.text(z.Text(), nested)
		case html.StartTagToken:
			h.start(z, false)
		case html.SelfClosingTagToken:
			h.start(z, true)
		case html.EndTagToken:
			name, _ := z.TagName()
			h.end(name)
		}
	}
}

// rawAsHTML reports whether the raw text content of a is read again as
// HTML: a mail client shows it.
func rawAsHTML(a atom.Atom) bool {
	return a == atom.Noscript || a == atom.Noembed || a == atom.Noframes
}

// rawSkipped reports whether the content of a is no visible text.
func rawSkipped(a atom.Atom) bool {
	switch a {
	case atom.Script, atom.Style, atom.Title, atom.Iframe, atom.Template, atom.Xmp:
		return true
	}
	return false
}

// isBlock reports whether a separates the words before and after it;
// other elements (b, i, u, span, font, a, em, strong, small, sup, sub, img
// …) do not.
func isBlock(a atom.Atom) bool {
	switch a {
	case atom.Address, atom.Article, atom.Aside, atom.Blockquote, atom.Body, atom.Br,
		atom.Button, atom.Caption, atom.Center, atom.Dd, atom.Details, atom.Div, atom.Dl,
		atom.Dt, atom.Fieldset, atom.Figcaption, atom.Figure, atom.Footer, atom.Form,
		atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Head, atom.Header,
		atom.Hr, atom.Html, atom.Input, atom.Legend, atom.Li, atom.Main, atom.Nav, atom.Ol,
		atom.Option, atom.P, atom.Pre, atom.Section, atom.Select, atom.Summary, atom.Table,
		atom.Tbody, atom.Td, atom.Textarea, atom.Tfoot, atom.Th, atom.Thead, atom.Tr, atom.Ul:
		return true
	}
	return false
}

// isVoid reports whether a never has content or an end tag.
func isVoid(a atom.Atom) bool {
	switch a {
	case atom.Area, atom.Base, atom.Br, atom.Col, atom.Embed, atom.Hr, atom.Img,
		atom.Input, atom.Link, atom.Meta, atom.Param, atom.Source, atom.Track, atom.Wbr:
		return true
	}
	return false
}

func (h *htmlReader) text(b []byte, nested int) {
	if h.skip != 0 {
		switch {
		case h.skip == atom.Style:
			h.cssLinks(b)
		case rawAsHTML(h.skip) && nested < maxHTMLNested:
			skip := h.skip
			h.skip = 0
			h.read(string(b), nested+1)
			h.skip = skip
		}
		return
	}
	if h.hiddenAt >= 0 {
		if h.hiddenLen < hiddenTextMin {
			h.hiddenLen += visibleLen(b)
		}
		return
	}
	if h.inAnchor && len(h.t.anchorText) < maxAnchorText {
		h.t.anchorText = append(h.t.anchorText, b[:min(len(b), maxAnchorText-len(h.t.anchorText))]...)
	}
	if h.words && len(h.t.htmlText) < maxScanText {
		h.t.htmlText = append(h.t.htmlText, b[:min(len(b), maxScanText-len(h.t.htmlText))]...)
	}
}

// visibleLen counts the bytes of b that are not white space.
func visibleLen(b []byte) int {
	n := 0
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' {
			n++
		}
	}
	return n
}

// separate ends the word being gathered.
func (h *htmlReader) separate() {
	if h.words && h.hiddenAt < 0 {
		if n := len(h.t.htmlText); n > 0 && h.t.htmlText[n-1] != '\n' {
			h.t.htmlText = append(h.t.htmlText, '\n')
		}
	}
}

func (h *htmlReader) start(z *html.Tokenizer, selfClosing bool) {
	name, hasAttr := z.TagName()
	a := atom.Lookup(name)
	if isBlock(a) {
		h.separate()
	}
	if a == atom.A {
		h.endAnchor()
	}
	h.tagForeign = false
	var (
		style            int
		color, bg        = colorUnknown, colorUnknown
		ownColor, ownBg  bool
		class, bgUnknown bool
	)
	for hasAttr {
		var key, val []byte
		key, val, hasAttr = z.TagAttr()
		switch string(key) {
		case "href":
			if a == atom.Base {
				continue
			}
			if rest := h.link(val, a == atom.Link); a == atom.A && rest != "" {
				h.inAnchor, h.anchorHref = true, rest
				h.t.anchorText = h.t.anchorText[:0]
			}
		case "action", "formaction":
			h.link(val, false)
		case "src", "background", "poster":
			h.link(val, true)
		case "srcset":
			for c := range bytes.SplitSeq(val, []byte(",")) {
				if f := bytes.Fields(c); len(f) > 0 {
					h.link(f[0], true)
				}
			}
		case "style":
			var c, g int32
			var img bool
			style, c, g, img = h.parseStyle(val)
			if c != colorUnknown {
				color, ownColor = c, true
			}
			if g != colorUnknown {
				bg, ownBg = g, true
			}
			bgUnknown = bgUnknown || img
		case "hidden":
			style |= styleHidden
		case "bgcolor":
			if c := parseColor(val); c != colorUnknown && !ownBg {
				bg, ownBg = c, true
			}
		case "color":
			if c := parseColor(val); c != colorUnknown && a == atom.Font && !ownColor {
				color, ownColor = c, true
			}
		case "class":
			class = true
		}
	}
	switch {
	case rawSkipped(a) || rawAsHTML(a):
		if !selfClosing {
			h.skip = a
		}
		return
	case selfClosing || isVoid(a):
		return
	}
	stack := h.t.htmlStack
	if len(stack) >= maxHTMLDepth {
		return
	}
	if len(stack) > 0 {
		parent := stack[len(stack)-1]
		if !ownColor {
			color = parent.color
		}
		if !ownBg {
			bg = parent.bg
		}
	}
	if bgUnknown {
		bg = colorUnknown
	}
	// Text coloured like the background it stands on: only where the
	// element itself sets one of the two, and no class may set the other.
	if (ownColor || ownBg) && !class && color != colorUnknown && bg != colorUnknown && sameColor(color, bg) {
		style |= styleHidden
	}
	h.t.htmlStack = append(stack, htmlElem{name: hashName(name), color: color, bg: bg})
	if style != 0 && h.hiddenAt < 0 {
		h.hiddenAt, h.hiddenLen, h.hiddenLink = len(stack), 0, h.tagForeign
	}
}

func (h *htmlReader) end(name []byte) {
	a := atom.Lookup(name)
	if h.skip != 0 {
		if a == h.skip {
			h.skip = 0
		}
		return
	}
	if isBlock(a) {
		h.separate()
	}
	if a == atom.A {
		h.endAnchor()
	}
	stack := h.t.htmlStack
	key := hashName(name)
	for i := len(stack) - 1; i >= 0; i-- {
		if stack[i].name != key {
			continue
		}
		h.t.htmlStack = stack[:i]
		if h.hiddenAt >= i {
			h.endHidden()
		}
		return
	}
}

// hashName is the FNV-1a hash of an element name.
func hashName(b []byte) uint32 {
	x := uint32(2166136261)
	for _, c := range b {
		x = (x ^ uint32(c)) * 16777619
	}
	return x
}

// endHidden judges a hidden element that ended. A short hidden preheader,
// or a hidden mobile menu of the shop's own links, is what honest
// templates do.
func (h *htmlReader) endHidden() {
	switch {
	case h.t.hiddenText:
	case h.hiddenLink:
		h.t.hiddenText, h.t.hiddenWhy = true, "hidden element links to another domain"
	case h.hiddenLen >= hiddenTextMin:
		h.t.hiddenText, h.t.hiddenWhy = true, "hidden element holds a lot of text"
	}
	h.hiddenAt = -1
}

// endAnchor compares the domain an anchor's text shows with its href.
func (h *htmlReader) endAnchor() {
	if !h.inAnchor {
		return
	}
	h.inAnchor = false
	text := dropInvisible(h.t.anchorText)
	if i := bytes.IndexFunc(text, func(r rune) bool { return !unicode.IsSpace(r) }); i >= 0 {
		text = text[i:]
		if j := bytes.IndexFunc(text, unicode.IsSpace); j >= 0 {
			text = text[:j]
		}
		h.t.checkAnchor(lowerASCII(string(text)), h.anchorHref)
	}
}

// dropInvisible removes the characters that show nothing from b, in place.
func dropInvisible(b []byte) []byte {
	out := b[:0]
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if !isInvisible(r) {
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}

// link records the URL v of an attribute, and returns what follows its
// scheme, or "" when v is no absolute link. embedded says the URL is
// loaded with the message (an image, a stylesheet), not followed.
func (h *htmlReader) link(v []byte, embedded bool) string {
	v = bytes.TrimSpace(v)
	// Browsers ignore tabs and line breaks inside a URL.
	if bytes.ContainsAny(v, "\t\r\n") {
		v = bytes.Map(func(r rune) rune {
			if r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, v)
	}
	var hostAt int
	if k := bytes.Index(v, []byte("://")); k >= 3 && k <= 6 {
		hostAt = k + 3
	} else if len(v) > 2 && v[0] == '/' && v[1] == '/' && v[2] != '/' {
		hostAt = 2
	} else {
		return ""
	}
	s := string(v)
	h.t.addLinkKind(s, hostAt, embedded)
	if !embedded {
		host, _ := parseHost(s[hostAt:])
		if reg := registrable(host); host != "" && !h.own.has(reg) && !commonLinkDomains[reg] {
			h.tagForeign = true
			h.hiddenLink = h.hiddenLink || h.hiddenAt >= 0
		}
	}
	return s[hostAt:]
}

// cssLinks records the url() references of a style sheet or attribute.
func (h *htmlReader) cssLinks(css []byte) {
	for n := 0; n < 64; n++ {
		k := indexFold(css, "url(")
		if k < 0 {
			return
		}
		css = css[k+4:]
		end := bytes.IndexByte(css, ')')
		if end < 0 {
			end = len(css)
		}
		h.link(bytes.Trim(css[:end], " \t\r\n\"'"), true)
		css = css[end:]
	}
}

// indexFold is bytes.Index for a lower-case ASCII pattern, ignoring case.
func indexFold(b []byte, pat string) int {
	for i := 0; i+len(pat) <= len(b); i++ {
		j := 0
		for j < len(pat) && b[i+j]|0x20 == pat[j] {
			j++
		}
		if j == len(pat) {
			return i
		}
	}
	return -1
}

// parseStyle reads the declarations of a style attribute that matter: the
// ways to hide an element, its colours, and url() references. img says a
// background image makes the background colour unknown.
func (h *htmlReader) parseStyle(v []byte) (style int, color, bg int32, img bool) {
	color, bg = colorUnknown, colorUnknown
	var zeroHeight, overflowHidden bool
	for decl := range bytes.SplitSeq(v, []byte(";")) {
		prop, val, ok := bytes.Cut(decl, []byte(":"))
		if !ok {
			continue
		}
		prop = bytes.TrimSpace(prop)
		val = bytes.TrimSpace(val)
		if k := bytes.IndexByte(val, '!'); k >= 0 {
			val = bytes.TrimSpace(val[:k])
		}
		switch {
		case equalFold(prop, "display"):
			if equalFold(val, "none") {
				style |= styleHidden
			}
		case equalFold(prop, "visibility"):
			if equalFold(val, "hidden") || equalFold(val, "collapse") {
				style |= styleHidden
			}
		case equalFold(prop, "opacity"):
			if n, _, ok := cssNumber(val); ok && n < 0.1 {
				style |= styleHidden
			}
		case equalFold(prop, "font-size"):
			if tinyFont(val) {
				style |= styleHidden | styleTinyFont
			}
		case equalFold(prop, "max-height"), equalFold(prop, "height"):
			if n, _, ok := cssNumber(val); ok && n == 0 {
				zeroHeight = true
			}
		case equalFold(prop, "overflow"):
			overflowHidden = equalFold(val, "hidden")
		case equalFold(prop, "color"):
			color = parseColor(val)
		case equalFold(prop, "background-color"):
			bg = parseColor(val)
		case equalFold(prop, "background"):
			if indexFold(val, "url(") >= 0 || indexFold(val, "gradient") >= 0 {
				img = true
				h.cssLinks(val)
			} else if f := bytes.Fields(val); len(f) > 0 {
				bg = parseColor(f[0])
			}
		case equalFold(prop, "background-image"):
			if !equalFold(val, "none") {
				img = true
				h.cssLinks(val)
			}
		default:
			if indexFold(val, "url(") >= 0 {
				h.cssLinks(val)
			}
		}
	}
	if zeroHeight && overflowHidden {
		style |= styleHidden
	}
	return style, color, bg, img
}

// equalFold reports whether b is the lower-case ASCII s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if b[i]|0x20 != s[i] && b[i] != s[i] {
			return false
		}
	}
	return true
}

// cssNumber parses the number at the start of a CSS value and returns it
// with the unit after it.
func cssNumber(v []byte) (n float64, unit []byte, ok bool) {
	i := 0
	whole, frac, scale := 0.0, 0.0, 1.0
	for ; i < len(v) && '0' <= v[i] && v[i] <= '9'; i++ {
		whole = whole*10 + float64(v[i]-'0')
		ok = true
	}
	if i < len(v) && v[i] == '.' {
		for i++; i < len(v) && '0' <= v[i] && v[i] <= '9'; i++ {
			scale /= 10
			frac += float64(v[i]-'0') * scale
			ok = true
		}
	}
	return whole + frac, v[i:], ok
}

// tinyFont reports whether a font-size value makes text unreadable: 0 in
// any unit, at most 1px or 1pt, under 0.2em, or under 20%.
func tinyFont(v []byte) bool {
	n, unit, ok := cssNumber(v)
	if !ok {
		return false
	}
	switch {
	case n == 0:
		return true
	case equalFold(unit, "px"), equalFold(unit, "pt"):
		return n < 2
	case equalFold(unit, "em"), equalFold(unit, "rem"):
		return n < 0.2
	case equalFold(unit, "%"):
		return n < 20
	}
	return false
}

// parseColor reads a CSS or HTML colour: #rgb, #rrggbb, rgb(r, g, b), or
// white and black by name. Anything else is colorUnknown.
func parseColor(v []byte) int32 {
	v = bytes.TrimSpace(v)
	switch {
	case len(v) == 0:
		return colorUnknown
	case v[0] == '#':
		v = v[1:]
		var x int32
		for _, c := range v {
			d := hexVal(c)
			if d < 0 {
				return colorUnknown
			}
			x = x<<4 | d
		}
		switch len(v) {
		case 6:
			return x
		case 3:
			r, g, b := x>>8, x>>4&0xf, x&0xf
			return r*0x110000 | g*0x1100 | b*0x11
		}
		return colorUnknown
	case equalFold(v, "white"):
		return colorWhite
	case equalFold(v, "black"):
		return 0
	case len(v) > 4 && equalFold(v[:4], "rgb("), len(v) > 5 && equalFold(v[:5], "rgba("):
		v = v[bytes.IndexByte(v, '(')+1:]
		var x int32
		for i := range 3 {
			sep := bytes.IndexAny(v, ",) ")
			if sep < 0 {
				return colorUnknown
			}
			n, unit, ok := cssNumber(bytes.TrimSpace(v[:sep]))
			if !ok || len(unit) > 0 || n > 255 {
				return colorUnknown
			}
			x |= int32(n) << (16 - 8*i)
			v = bytes.TrimLeft(v[sep:], ", ")
		}
		return x
	}
	return colorUnknown
}

func hexVal(c byte) int32 {
	switch {
	case '0' <= c && c <= '9':
		return int32(c - '0')
	case 'a' <= c|0x20 && c|0x20 <= 'f':
		return int32(c|0x20-'a') + 10
	}
	return -1
}

// sameColor reports whether a reader cannot tell the colours a and b apart.
func sameColor(a, b int32) bool {
	for shift := 0; shift <= 16; shift += 8 {
		d := (a>>shift)&0xff - (b>>shift)&0xff
		if d > colorNear || d < -colorNear {
			return false
		}
	}
	return true
}

// addHTMLWords scans the visible text the last readHTML gathered. A word
// the body text already has adds no statistics (word count, gibberish,
// mixed scripts) again, so that the text and HTML alternatives of one
// message count once, while the words only the HTML shows are scanned as
// body text: the alternative a mail client shows may be the spam.
// Distinct-term rules and the text model count a term once anyway.
//
// Where the HTML says what the text does, give or take a heading and a
// table's column names, its new words are looked up in the vocabulary
// only: they add no statistics and no model features, so that a shop's
// mail with both alternatives scores as its text does.
func (t *textScan) addHTMLWords() {
	if len(t.htmlText) == 0 {
		return
	}
	body := t.spans[t.subjectSpans:]
	t.tokenSet.reset(len(body))
	for _, s := range body {
		t.tokenSet.add(hashToken(t.norm[s.start:s.end]))
	}
	budget := t.textBudget
	t.textBudget = maxScanText
	t.dedupe, t.chunksOld, t.chunksNew = true, 0, 0
	normLen, spansLen, phrasesLen := len(t.norm), len(t.spans), len(t.phraseAt)
	words, gib, gibEx, mixed, mixedEx := t.words, t.gibberish, len(t.gibEx), t.mixed, len(t.mixedEx)
	cyr, lat, moji := t.cyrillic, t.latin, t.mojibake
	t.addText(string(t.htmlText))
	if len(body) > 0 && t.chunksNew*5 < t.chunksOld+t.chunksNew {
		// Less than a fifth is new: keep the vocabulary hits and links,
		// and forget the rest.
		t.matchPhrases()
		t.norm, t.spans, t.phraseAt = t.norm[:normLen], t.spans[:spansLen], t.phraseAt[:phrasesLen]
		t.phrasesDone = phrasesLen
		t.words, t.gibberish, t.gibEx, t.mixed, t.mixedEx = words, gib, t.gibEx[:gibEx], mixed, t.mixedEx[:mixedEx]
		t.cyrillic, t.latin, t.mojibake = cyr, lat, moji
	}
	t.dedupe = false
	t.textBudget = budget
}

// textFromHTML reports whether msg.Text was made from msg.HTML by the
// parser, the message having no text part.
func textFromHTML(msg *Message) bool {
	for _, w := range msg.Warnings {
		if strings.Contains(w, "Plain Text from HTML") {
			return true
		}
	}
	return false
}
