package spamrun

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Bounds on the work done per message. Spam shows itself in the first
// pages; a megabyte of text costs more than it tells.
const (
	maxScanText  = 64 << 10
	maxScanHTML  = 256 << 10
	maxLinks     = 256
	maxExamples  = 3
	stemHeadSize = 6 // bytes of a stem used as its map key
)

// span is a token's place in textScan.norm.
type span struct{ start, end int32 }

// phraseStart is a token that begins at least one lexicon phrase, of at
// most maxWords words.
type phraseStart struct {
	token    int32
	maxWords uint8
}

// textScan is everything the rules need from one message, gathered in one
// pass over the text. Values are pooled: the buffers grow to the largest
// message seen and are reused.
type textScan struct {
	// norm holds every token in lower case, each followed by one space, so
	// that the n tokens from spans[i] on are the contiguous bytes
	// norm[spans[i].start:spans[i+n-1].end]: a phrase is a map key without
	// copying.
	norm         []byte
	spans        []span
	subjectSpans int // spans[:subjectSpans] are the subject's
	phraseAt     []phraseStart
	phrasesDone  int // phraseAt[:phrasesDone] are matched
	seen         []uint64
	hits         []int32                // lexicon terms in order of first hit
	catSum       [numCategories]float64 // strong terms
	catWeak      [numCategories]float64 // weak terms, capped at weakCap when read
	catHits      [numCategories]int

	words      int // tokens with at least one letter
	gibberish  int
	gibEx      []span
	mixed      int
	mixedEx    []span
	cyrillic   int // letters
	latin      int
	mojibake   int
	prevRune   rune
	textBudget int
	dedupe     bool     // tokens in tokenSet add no statistics
	chunksOld  int      // with dedupe: chunks the body has said, and
	chunksNew  int      // chunks it has not
	tokenSet   tokenSet // the body's tokens, see addHTMLWords
	normBuf    []byte   // addText's normalised text, see normalise
	nfkcBuf    []byte
	normalised bool // the text being read was normalised; mojibake was counted before

	links          []link
	moreLinks      int // distinct links beyond maxLinks, not examined
	hiddenText     bool
	hiddenWhy      string
	htmlAttachment bool
	mismatch       []string   // "text → href" of anchors showing another domain
	htmlText       []byte     // the visible text of the HTML being read
	htmlStack      []htmlElem // its open elements
	anchorText     []byte     // the text of its open anchor

	features featureBuf // the text model's input, see modelFeatures
}

var scanPool = sync.Pool{New: func() any { return new(textScan) }}

func getScan() *textScan {
	t := scanPool.Get().(*textScan)
	if len(t.seen) < (len(lexicon.terms)+63)/64 {
		t.seen = make([]uint64, (len(lexicon.terms)+63)/64)
	}
	return t
}

func putScan(t *textScan) {
	for _, id := range t.hits {
		t.seen[id/64] = 0
	}
	*t = textScan{
		norm:     t.norm[:0],
		spans:    t.spans[:0],
		phraseAt: t.phraseAt[:0],
		seen:     t.seen,
		hits:     t.hits[:0],
		gibEx:    t.gibEx[:0],
		mixedEx:  t.mixedEx[:0],
		links:    t.links[:0],
		mismatch: t.mismatch[:0],
		features: featureBuf{b: t.features.b[:0], ends: t.features.ends[:0]},

		tokenSet:   tokenSet{slots: t.tokenSet.slots[:0]},
		normBuf:    t.normBuf[:0],
		nfkcBuf:    t.nfkcBuf[:0],
		htmlText:   t.htmlText[:0],
		htmlStack:  t.htmlStack[:0],
		anchorText: t.anchorText[:0],
	}
	// Drop the references into the last message, so the pool does not keep
	// it alive.
	clear(t.links[:cap(t.links)])
	clear(t.mismatch[:cap(t.mismatch)])
	scanPool.Put(t)
}

// token returns the text of a span.
func (t *textScan) token(s span) string { return string(t.norm[s.start:s.end]) }

// chunkDelim separates the white-space words of a text; within one, a URL
// or a bare domain is recognised before the word tokeniser splits it.
var chunkDelim = [128]bool{
	' ': true, '\t': true, '\n': true, '\r': true, '\f': true, '\v': true,
	'<': true, '>': true, '"': true, '\'': true, '(': true, ')': true,
	'[': true, ']': true, '{': true, '}': true, '|': true, '\\': true,
	'^': true, '`': true,
}

// addText tokenises s. Calls append: the subject first, then the body.
func (t *textScan) addText(s string) {
	if t.textBudget <= 0 {
		return
	}
	if len(s) > t.textBudget {
		s = s[:t.textBudget]
	}
	t.textBudget -= len(s)
	if needsNormalising(s) {
		s = t.normalise(s)
	}
	// In dedupe mode a chunk whose words the body has all said is skipped,
	// unless it stands next to a new one, where it may begin or end a
	// phrase.
	var skipped string
	context := false
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf && chunkDelim[c] {
			i++
			continue
		}
		j := i + 1
		for j < len(s) && (s[j] >= utf8.RuneSelf || !chunkDelim[s[j]]) {
			j++
		}
		c := s[i:j]
		i = j
		if t.dedupe {
			if !context && t.knownChunk(c) {
				skipped = c
				t.chunksOld++
				continue
			}
			if skipped != "" {
				t.addChunk(skipped)
				skipped = ""
			}
			if context && t.knownChunk(c) {
				t.chunksOld++
				context = false
			} else {
				t.chunksNew++
				context = true
			}
		}
		t.addChunk(c)
	}
	t.prevRune = 0
	t.normalised = false
}

func (t *textScan) addChunk(c string) {
	if k := strings.Index(c, "://"); k > 0 {
		start := k
		for start > 0 && isASCIILetter(c[start-1]) {
			start--
		}
		if n := k - start; n >= 3 && n <= 6 {
			t.addWords(c[:start])
			t.addLink(c[start:], k-start+3)
			return
		}
	}
	if len(c) > 4 && (c[0] == 'w' || c[0] == 'W') && strings.EqualFold(c[:4], "www.") {
		t.addLink(c, 0)
		return
	}
	if strings.IndexByte(c, '.') > 0 && strings.IndexByte(c, '@') < 0 {
		if host := bareDomain(c); host != "" {
			t.addLink(c, 0)
		}
	}
	t.addWords(c)
}

// tokStats is what is learnt about one token while it is read.
type tokStats struct {
	letters, digits  int
	latin, cyr, grk  int
	vowels, run, max int
	caseUps          int // lower-case letter followed by an upper-case one
	rare             int // letter pairs rare in European languages
	nonASCII         bool
	prev, prev2      byte // previous ASCII letters, lower case
	prevLower        bool
}

const (
	clsLetter = 1 << iota
	clsDigit
	clsVowel
	clsUpper
)

var asciiClass = func() (c [128]uint8) {
	for b := 'a'; b <= 'z'; b++ {
		c[b] = clsLetter
		c[b-'a'+'A'] = clsLetter | clsUpper
	}
	for _, b := range "aeiouyAEIOUY" {
		c[b] |= clsVowel
	}
	for b := '0'; b <= '9'; b++ {
		c[b] = clsDigit
	}
	return c
}()

// rarePair marks letter pairs that European words almost never contain
// and random strings often do. "j" after "i" is exempt (Dutch "ij").
var rarePair = func() (p [26][26]bool) {
	for _, pair := range strings.Fields(`
		qb qc qd qf qg qh qj qk ql qm qn qp qq qr qs qt qv qw qx qy qz
		bq dq fq gq hq kq mq pq tq vq wq xq zq jq
		xb xd xf xg xj xk xm xn xr xv xw xz
		jb jc jd jf jg jh jj jk jl jm jn jp jr js jt jv jw jx jz
		vb vc vd vf vg vh vj vk vm vn vp vs vt vw vx vz
		zb zc zf zg zj zk zp zx
		wj wv ww wx wz kx kz fv fj fx gx gj gz hx cx cj cv px pj bx dx mx lx sx`) {
		p[pair[0]-'a'][pair[1]-'a'] = true
	}
	return p
}()

// addWords tokenises s into letters-and-digits words.
func (t *textScan) addWords(s string) {
	var st tokStats
	start := -1
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			cls := asciiClass[b]
			if cls == 0 {
				t.endToken(start, &st)
				start = -1
				t.prevRune = rune(b)
				i++
				continue
			}
			if start < 0 {
				start = len(t.norm)
				st = tokStats{}
			}
			if cls&clsDigit != 0 {
				st.digits++
				st.run = 0
				st.prev, st.prevLower = 0, false
			} else {
				lb := b | 0x20
				st.letters++
				st.latin++
				if cls&clsUpper != 0 {
					if st.prevLower {
						st.caseUps++
					}
					st.prevLower = false
				} else {
					st.prevLower = true
				}
				if cls&clsVowel != 0 {
					st.vowels++
					st.run = 0
				} else {
					st.run++
					st.max = max(st.max, st.run)
				}
				if st.prev != 0 && rarePair[st.prev-'a'][lb-'a'] && (st.prev != 'j' || st.prev2 != 'i') {
					st.rare++
				}
				st.prev2, st.prev = st.prev, lb
				b = lb
			}
			t.norm = append(t.norm, b)
			t.prevRune = rune(b)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (t.prevRune == 'Ð' || t.prevRune == 'Ñ') && isMojibakeTail(r) && !t.normalised {
			t.mojibake++
		}
		t.prevRune = r
		i += size
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.Is(unicode.Mn, r) {
			t.endToken(start, &st)
			start = -1
			continue
		}
		if start < 0 {
			start = len(t.norm)
			st = tokStats{}
		}
		st.nonASCII = true
		st.prev, st.prevLower = 0, false
		switch {
		case r >= 0x400 && r <= 0x4FF:
			st.cyr++
			st.letters++
		case r >= 0xC0 && r <= 0x24F && r != 0xD7 && r != 0xF7:
			st.latin++
			st.letters++
		case r >= 0x370 && r <= 0x3FF:
			st.grk++
			st.letters++
		case unicode.IsLetter(r):
			st.letters++
		}
		lr := unicode.ToLower(r)
		if lr == 'ё' {
			lr = 'е'
		}
		t.norm = utf8.AppendRune(t.norm, lr)
	}
	t.endToken(start, &st)
}

// isMojibakeTail reports whether r is what the second byte of a two-byte
// UTF-8 sequence becomes when the text is decoded as Latin-1 or
// Windows-1252.
func isMojibakeTail(r rune) bool {
	if r >= 0x80 && r <= 0xBF {
		return true
	}
	switch r {
	case '€', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 'Ž',
		'‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 'ž', 'Ÿ':
		return true
	}
	return false
}

func (t *textScan) endToken(start int, st *tokStats) {
	if start < 0 {
		return
	}
	if st.letters > 0 && (st.digits > 0 || st.latin > 0 && (st.cyr > 0 || st.grk > 0)) {
		t.foldToken(start, st)
	}
	end := len(t.norm)
	sp := span{int32(start), int32(end)}
	idx := int32(len(t.spans))
	t.spans = append(t.spans, sp)
	t.norm = append(t.norm, ' ')
	if st.letters == 0 {
		return
	}
	// A word the body has said adds no statistics again, see addHTMLWords.
	if !t.dedupe || !t.tokenSet.has(hashToken(t.norm[start:end])) {
		t.words++
		t.cyrillic += st.cyr
		t.latin += st.latin
		if st.latin > 0 && (st.cyr > 0 || st.grk > 0) {
			t.mixed++
			if len(t.mixedEx) < maxExamples {
				t.mixedEx = append(t.mixedEx, sp)
			}
		}
		if isGibberish(st, end-start) {
			t.gibberish++
			if len(t.gibEx) < maxExamples {
				t.gibEx = append(t.gibEx, sp)
			}
		}
	}
	tok := t.norm[start:end]
	if e, ok := lexicon.words[string(tok)]; ok {
		if e.term >= 0 {
			t.hit(e.term)
		}
		if e.phraseMax > 1 {
			t.phraseAt = append(t.phraseAt, phraseStart{idx, e.phraseMax})
		}
	} else if len(tok) >= stemHeadSize {
		for _, se := range lexicon.stems[string(tok[:stemHeadSize])] {
			if len(tok) >= len(se.prefix) && string(tok[:len(se.prefix)]) == se.prefix {
				t.hit(se.term)
			}
		}
	}
}

// isGibberish judges one token. Only plain ASCII-letter words are judged:
// order numbers, tracking codes and hex tokens mix in digits, and accented
// or Cyrillic words follow other rules. Mixed case inside a word is judged
// for every token, as hash-busters use it and honest text almost never
// changes case three times within a word.
func isGibberish(st *tokStats, n int) bool {
	if st.caseUps >= 3 && !st.nonASCII {
		return true
	}
	if st.nonASCII || st.digits > 0 || n < 6 || n > 40 {
		return false
	}
	switch {
	case st.vowels == 0:
		return true
	case st.max >= 6:
		return true
	case st.max >= 5 && st.rare >= 1:
		return true
	case st.rare >= 2:
		return true
	case n >= 8 && st.vowels*100 < n*15:
		return true
	}
	return false
}

func (t *textScan) hit(id int32) {
	w, bit := id/64, uint64(1)<<(id%64)
	if t.seen[w]&bit != 0 {
		return
	}
	t.seen[w] |= bit
	t.hits = append(t.hits, id)
	term := &lexicon.terms[id]
	if term.weight < weakWeight {
		t.catWeak[term.cat] += term.weight
	} else {
		t.catSum[term.cat] += term.weight
	}
	t.catHits[term.cat]++
}

// category returns the points of category c before its cap.
func (t *textScan) category(c category) float64 {
	return t.catSum[c] + min(t.catWeak[c], weakCap)
}

// matchPhrases looks up the multi-word lexicon entries, once all tokens are
// known.
// It may be called again after more text: it matches what is new.
func (t *textScan) matchPhrases() {
	for _, p := range t.phraseAt[t.phrasesDone:] {
		i := int(p.token)
		for n := 2; n <= int(p.maxWords) && i+n <= len(t.spans); n++ {
			key := t.norm[t.spans[i].start:t.spans[i+n-1].end]
			if id, ok := lexicon.phrases[string(key)]; ok {
				t.hit(id)
			}
		}
	}
	t.phrasesDone = len(t.phraseAt)
}

// lexiconIndex is lexiconSource, tokenised and indexed.
type lexiconIndex struct {
	terms   []lexTerm
	words   map[string]wordEntry
	phrases map[string]int32
	stems   map[string][]stemEntry
	wide    []wideTerm // Chinese, Japanese and Korean terms, see matchWide
	// inPhrases are the words of phrases, wherever they stand in one.
	inPhrases map[string]struct{}
}

type lexTerm struct {
	cat    category
	weight float64
	text   string
}

type wordEntry struct {
	term      int32 // -1: the word only begins phrases
	phraseMax uint8
}

type stemEntry struct {
	prefix string
	term   int32
}

var lexicon = buildLexicon(lexiconSource)

func buildLexicon(src []termGroup) *lexiconIndex {
	lx := &lexiconIndex{
		words:     make(map[string]wordEntry),
		phrases:   make(map[string]int32),
		stems:     make(map[string][]stemEntry),
		inPhrases: make(map[string]struct{}),
	}
	var scratch textScan
	for _, g := range src {
		for _, raw := range strings.Split(g.terms, "|") {
			stem := strings.HasSuffix(raw, "*")
			raw = strings.TrimSuffix(raw, "*")
			scratch.norm, scratch.spans = scratch.norm[:0], scratch.spans[:0]
			scratch.tokeniseOnly(raw)
			if len(scratch.spans) == 0 {
				panic("spamrun: empty lexicon entry in " + g.terms)
			}
			words := make([]string, len(scratch.spans))
			for i, sp := range scratch.spans {
				words[i] = scratch.token(sp)
				// A Latin letter typed into a Cyrillic word, or the other
				// way round, would never match anything.
				if strings.ContainsFunc(words[i], isCyrillic) && strings.ContainsFunc(words[i], isLatinLetter) {
					panic("spamrun: lexicon word mixes scripts: " + words[i])
				}
			}
			norm := strings.Join(words, " ")
			id := int32(len(lx.terms))
			text := norm
			if stem {
				text += "…"
			}
			lx.terms = append(lx.terms, lexTerm{cat: g.cat, weight: g.weight, text: text})
			switch {
			case isWideTerm(norm):
				lx.wide = append(lx.wide, wideTerm{text: []byte(norm), id: id})
			case stem:
				if len(words) != 1 || len(norm) < stemHeadSize {
					panic("spamrun: bad lexicon stem " + raw)
				}
				head := norm[:stemHeadSize]
				lx.stems[head] = append(lx.stems[head], stemEntry{prefix: norm, term: id})
			case len(words) == 1:
				e, ok := lx.words[norm]
				if !ok {
					e.term = -1
				}
				if e.term >= 0 {
					panic("spamrun: duplicate lexicon entry " + norm)
				}
				e.term = id
				lx.words[norm] = e
			default:
				if len(words) > 4 {
					panic("spamrun: lexicon phrase longer than four words: " + norm)
				}
				if _, dup := lx.phrases[norm]; dup {
					panic("spamrun: duplicate lexicon entry " + norm)
				}
				lx.phrases[norm] = id
				for _, w := range words {
					lx.inPhrases[w] = struct{}{}
				}
				e, ok := lx.words[words[0]]
				if !ok {
					e.term = -1
				}
				e.phraseMax = max(e.phraseMax, uint8(len(words)))
				lx.words[words[0]] = e
			}
		}
	}
	return lx
}

// tokeniseOnly splits s into tokens as addWords does, without statistics
// or lookups, for building the lexicon.
func (t *textScan) tokeniseOnly(s string) {
	start := -1
	end := func() {
		if start >= 0 {
			t.spans = append(t.spans, span{int32(start), int32(len(t.norm))})
			t.norm = append(t.norm, ' ')
			start = -1
		}
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.Is(unicode.Mn, r) {
			end()
			continue
		}
		if start < 0 {
			start = len(t.norm)
		}
		r = unicode.ToLower(r)
		if r == 'ё' {
			r = 'е'
		}
		t.norm = utf8.AppendRune(t.norm, r)
	}
	end()
}

func isCyrillic(r rune) bool { return r >= 0x400 && r <= 0x4FF }

func isLatinLetter(r rune) bool {
	return r < 0x250 && unicode.IsLetter(r)
}

func isASCIILetter(b byte) bool { return asciiClass[b&0x7f]&clsLetter != 0 && b < utf8.RuneSelf }

func setOf(items ...string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, s := range items {
		m[s] = true
	}
	return m
}

// needsNormalising reports whether s has anything but ASCII, which alone
// is always in normal form.
func needsNormalising(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// nfkcStable reports whether r is a character that the common text of
// European languages is made of and that NFKC leaves alone, whatever
// surrounds it: Latin letters with accents, Cyrillic, typographic quotes
// and dashes, the euro sign. Text of these alone needs no NFKC pass.
func nfkcStable(r rune) bool {
	switch {
	case 0xC0 <= r && r <= 0x131, 0x134 <= r && r <= 0x13E, 0x141 <= r && r <= 0x148, 0x14A <= r && r <= 0x17E:
		return true
	case 0x400 <= r && r <= 0x4FF:
		return true
	}
	// Or whose normal form splits words where it does: a no-break space
	// is a space, an ellipsis three full stops.
	switch r {
	case '–', '—', '‘', '’', '‚', '“', '”', '„', '•', '€', '…', '\u00a0', '©', '®', '°', '«', '»', '£', '§', '·':
		return true
	}
	return false
}

// normalise returns s as rules and model read it: in Unicode NFKC, so
// that full-width, mathematical and circled letters, ligatures and
// composed accents are the letters they show, and without the characters
// that show nothing but split a word to a filter (zero-width spaces and
// joiners, soft hyphens, bidi controls). It counts mojibake on the text as
// written, before NFKC folds some of its tell-tale characters.
func (t *textScan) normalise(s string) string {
	invisible, stable := false, true
	var prev rune
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			prev = 0
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if (prev == 'Ð' || prev == 'Ñ') && isMojibakeTail(r) {
			t.mojibake++
		}
		prev = r
		if !nfkcStable(r) {
			stable = false
			invisible = invisible || isInvisible(r)
		}
	}
	t.normalised = true
	b := t.normBuf[:0]
	if invisible {
		for _, r := range s {
			if !isInvisible(r) {
				b = utf8.AppendRune(b, r)
			}
		}
		t.normBuf = b
	}
	switch {
	case invisible && !norm.NFKC.IsNormal(b):
		t.nfkcBuf = norm.NFKC.Append(t.nfkcBuf[:0], b...)
		return string(t.nfkcBuf)
	case invisible:
		return string(b)
	case !stable && !norm.NFKC.IsNormalString(s):
		t.nfkcBuf = norm.NFKC.AppendString(t.nfkcBuf[:0], s)
		return string(t.nfkcBuf)
	}
	return s
}

// isInvisible reports whether r is a format character that shows nothing:
// zero-width space, joiners and word joiner, the byte order mark, the soft
// hyphen, the combining grapheme joiner, invisible operators, and the
// bidirectional controls.
func isInvisible(r rune) bool {
	switch {
	case r < 0xAD:
		return false
	case r == 0xAD, r == 0x34F, r == 0x61C, r == 0x180E, r == 0xFEFF:
		return true
	case 0x200B <= r && r <= 0x200F, 0x202A <= r && r <= 0x202E, 0x2060 <= r && r <= 0x2064, 0x2066 <= r && r <= 0x2069:
		return true
	}
	return false
}

// leetLetters are the letters digits stand for in spam spellings; '1'
// stands for "i" or "l" and is tried both ways.
var leetLetters = [10]byte{0: 'o', 1: 'i', 3: 'e', 4: 'a', 5: 's', 7: 't', 8: 'b', 9: 'g'}

// foldToken rewrites the token that norm[start:] holds into the lexicon
// word it spells with digits for letters ("v1agra", "c4s1no", "l0an",
// "fr33") or with Cyrillic or Greek look-alike letters ("viаgra" with a
// Cyrillic "а"), when, and only when, that word is in the lexicon. Order
// numbers, SKUs, codes and brand names like "4you" spell none, and keep
// their digits.
func (t *textScan) foldToken(start int, st *tokStats) {
	tok := t.norm[start:]
	if len(tok) > 40 {
		return
	}
	if _, ok := lexicon.words[string(tok)]; ok {
		return
	}
	var buf [48]byte
	f := buf[:0]
	if st.cyr > 0 || st.grk > 0 {
		for _, r := range string(tok) {
			if l, ok := confusables[r]; ok {
				r = l
			}
			f = utf8.AppendRune(f, r)
		}
	} else {
		f = append(f, tok...)
	}
	var ones uint64 // where f has an "i" for a "1"
	if st.digits > 0 {
		if len(f) < 4 || st.letters < 2 || st.digits > st.letters+1 {
			return
		}
		for i, c := range f {
			if c < '0' || c > '9' {
				continue
			}
			if leetLetters[c-'0'] == 0 {
				return
			}
			if c == '1' {
				ones |= 1 << i
			}
			f[i] = leetLetters[c-'0']
		}
	}
	if !lexicon.knows(f) {
		if ones == 0 {
			return
		}
		for i := range f {
			if ones&(1<<i) != 0 {
				f[i] = 'l'
			}
		}
		if !lexicon.knows(f) {
			return
		}
	}
	t.norm = append(t.norm[:start], f...)
}

// knows reports whether the token w is a lexicon word, a word of a
// phrase, or has a lexicon stem.
func (lx *lexiconIndex) knows(w []byte) bool {
	if _, ok := lx.words[string(w)]; ok {
		return true
	}
	if _, ok := lx.inPhrases[string(w)]; ok {
		return true
	}
	if len(w) < stemHeadSize {
		return false
	}
	for _, se := range lx.stems[string(w[:stemHeadSize])] {
		if len(w) >= len(se.prefix) && string(w[:len(se.prefix)]) == se.prefix {
			return true
		}
	}
	return false
}

// knownChunk reports whether the chunk c holds only words the body has
// said already, or is a link to a host the body has linked to. Words with letters other than ASCII ones are
// never known: their rules are Unicode's.
func (t *textScan) knownChunk(c string) bool {
	x := uint64(fnvOffset)
	n := 0
	dot, at, unknown := false, false, false
	for i := 0; i <= len(c); {
		b := byte(' ')
		if i < len(c) {
			b = c[i]
		}
		i++
		if cls := asciiClass[b&0x7f]; cls != 0 && b < utf8.RuneSelf {
			x = (x ^ uint64(b|cls&clsUpper<<2)) * fnvPrime
			n++
			continue
		}
		switch b {
		case '.':
			if i == 4 && n == 3 && len(c) > 4 && x == hashWWW {
				return t.knownHost(c)
			}
			dot = true
		case ':':
			if strings.HasPrefix(c[i:], "//") {
				return t.knownHost(c[i+2:])
			}
		case '@':
			at = true
		}
		if b >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(c[i-1:])
			if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) {
				return false
			}
			i += size - 1
		}
		if n > 0 {
			// A word the body lacks may be part of a domain it linked to.
			if !t.tokenSet.has(x) {
				if !dot {
					return false
				}
				unknown = true
			}
			x, n = fnvOffset, 0
		}
	}
	if !dot || at || bareDomain(c) == "" {
		return !unknown
	}
	return t.knownHost(c)
}

// knownHost reports whether the host that s begins with is a known
// link's: the text said it as a link, which is no words.
func (t *textScan) knownHost(s string) bool {
	host, _ := parseHost(strings.TrimLeft(s, "\"'(<["))
	for i := range t.links {
		if t.links[i].host == host {
			return host != ""
		}
	}
	return false
}

var hashWWW = hashToken([]byte("www"))

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// hashToken is the 64-bit FNV-1a hash of a token.
func hashToken(b []byte) uint64 {
	x := uint64(fnvOffset)
	for _, c := range b {
		x = (x ^ uint64(c)) * fnvPrime
	}
	return x
}

// tokenSet is a set of token hashes: an open-addressing table, cheaper
// than a map for the few hundred tokens of a message and reused from one
// message to the next.
type tokenSet struct {
	slots []uint64 // 0 is empty; a power of two long
	n     int
}

// reset empties the set and sizes it for about n hashes.
func (s *tokenSet) reset(n int) {
	size := 64
	for size < 2*n {
		size *= 2
	}
	if cap(s.slots) < size {
		s.slots = make([]uint64, size)
	} else {
		s.slots = s.slots[:size]
		clear(s.slots)
	}
	s.n = 0
}

func (s *tokenSet) add(h uint64) {
	if h == 0 {
		h = 1
	}
	if 2*(s.n+1) > len(s.slots) {
		old := s.slots
		s.slots = make([]uint64, 2*len(old))
		s.n = 0
		for _, x := range old {
			if x != 0 {
				s.add(x)
			}
		}
	}
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case h:
			return
		case 0:
			s.slots[i] = h
			s.n++
			return
		}
	}
}

func (s *tokenSet) has(h uint64) bool {
	if len(s.slots) == 0 {
		return false
	}
	if h == 0 {
		h = 1
	}
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case h:
			return true
		case 0:
			return false
		}
	}
}
