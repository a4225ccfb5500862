package spamrun

import (
	"fmt"
	"iter"
	"math"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The text model's features. The rules' word tokens are letters and digits
// only, so a feature with a colon can never be mistaken for a word:
//
//	word          every word of the subject and body, once per message
//	字符          two-character pieces of Chinese, Japanese, Korean and Thai
//	              text, which has no spaces to split words at
//	s:word        a word of the subject, again: subjects are short and
//	              written to be read in a list
//	h:host        the host of a link followed, not of an image or a style
//	              sheet; d:domain its registrable domain,
//	t:tld         its top-level domain
//	script:name   cyrillic, cjk, greek, arabic, hebrew, thai: a writing
//	              system other than Latin in the text
//	attach:ext    an attachment's extension, or its media type
//
// Markup, link counts and the like are left to the rules on purpose: the
// training ham is mailing-list mail of 2002, mostly plain text, while
// nearly all of a shop's legitimate mail today is HTML. A model that
// learnt "HTML means spam" there would disable shops here.
//
// Every feature is lower case and at most maxFeatureLen bytes.
const maxFeatureLen = 40

// featureBuf holds a message's features back to back, ends[i] being
// where feature i ends, so that building them costs no allocation per
// feature and handing them over costs one string.
type featureBuf struct {
	b    []byte
	ends []int32
}

// add adds the feature prefix+v, unless it is empty or too long.
func add[V string | []byte](f *featureBuf, prefix string, v V) {
	if n := len(prefix) + len(v); n == 0 || n > maxFeatureLen {
		return
	}
	f.b = append(f.b, prefix...)
	f.b = append(f.b, v...)
	f.ends = append(f.ends, int32(len(f.b)))
}

// modelFeatures fills t.features from the scan and the message.
func (t *textScan) modelFeatures(msg *Message) {
	f := &t.features
	var scripts [numScripts]bool
	for i, s := range t.spans {
		tok := t.norm[s.start:s.end]
		if hasWideScript(tok, &scripts) {
			addCJKPairs(f, tok)
			continue
		}
		if stopWords[string(tok)] {
			continue
		}
		add(f, "", tok)
		if i < t.subjectSpans {
			add(f, "s:", tok)
		}
	}
	if t.cyrillic > 0 {
		scripts[scriptCyrillic] = true
	}
	for i, on := range scripts {
		if on {
			add(f, "script:", scriptNames[i])
		}
	}

	for i := range t.links {
		l := &t.links[i]
		if l.embedded {
			// Images and style sheets are markup: the training ham is
			// plain text, and a model that learnt their hosts would learn
			// that HTML is spam.
			continue
		}
		add(f, "h:", l.host)
		if l.reg != l.host {
			add(f, "d:", l.reg)
		}
		if !isIPHost(l.host) {
			add(f, "t:", tld(l.host))
		}
	}
	for _, a := range msg.Attachments {
		ext := strings.TrimPrefix(path.Ext(strings.ToLower(a.Name)), ".")
		if ext == "" || len(ext) > 5 {
			ext = strings.ReplaceAll(a.ContentType, "/", "-")
		}
		add(f, "attach:", ext)
	}
}

const (
	scriptCyrillic = iota
	scriptCJK
	scriptGreek
	scriptArabic
	scriptHebrew
	scriptThai
	numScripts
)

var scriptNames = [numScripts]string{"cyrillic", "cjk", "greek", "arabic", "hebrew", "thai"}

// hasWideScript notes the writing systems of tok in scripts and reports
// whether it is Chinese, Japanese or Korean, or Thai: scripts written
// without spaces, whose "words" are whole phrases.
func hasWideScript(tok []byte, scripts *[numScripts]bool) bool {
	if isASCIIWord(tok) {
		return false
	}
	wide := false
	for _, r := range string(tok) {
		switch {
		case r < 0x370:
		case unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) ||
			unicode.Is(unicode.Katakana, r) || unicode.Is(unicode.Hangul, r):
			scripts[scriptCJK] = true
			wide = true
		case unicode.Is(unicode.Thai, r):
			scripts[scriptThai] = true
			wide = true
		case unicode.Is(unicode.Greek, r):
			scripts[scriptGreek] = true
		case unicode.Is(unicode.Arabic, r):
			scripts[scriptArabic] = true
		case unicode.Is(unicode.Hebrew, r):
			scripts[scriptHebrew] = true
		}
	}
	return wide
}

func isASCIIWord(tok []byte) bool {
	for _, b := range tok {
		if b >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// addCJKPairs adds each pair of neighbouring characters of tok, or tok
// itself when it is one character.
func addCJKPairs(f *featureBuf, tok []byte) {
	_, first := utf8.DecodeRune(tok)
	if first == len(tok) {
		add(f, "", tok)
		return
	}
	for i := 0; i < len(tok); {
		_, a := utf8.DecodeRune(tok[i:])
		if i+a >= len(tok) {
			break
		}
		_, b := utf8.DecodeRune(tok[i+a:])
		add(f, "", tok[i:i+a+b])
		i += a
	}
}

// MarkingModel is a TextModel that may mark a message spam on its own. At
// or above the probability MarkAlone returns, TEXT_MODEL adds 5 points,
// the default spam score, whatever the rules say; below it the points
// are those of TextModel's table. MarkAlone returns 0 when the model
// never marks alone.
//
// The embedded model is one: its probability is chosen when it is
// trained, on out-of-fold predictions of the training data, as the
// lowest at which no hosting ham and at most 0.05 % of the corpus ham
// would be marked.
type MarkingModel interface {
	TextModel
	MarkAlone() float64
}

// CombiningModel is a TextModel that also weighs its probability together
// with the points of the rules that fired, as a second stage fitted on
// training data. Combine returns the combination's spam probability q and
// the threshold at or above which it marks a message spam (0: never);
// such a message that the rules and the model's own points leave below 5
// gets RULES_AND_MODEL, the points that bring it to 5.
//
// The embedded model is one: a logistic regression over its log-odds and
// each rule's points, with weights that are never negative, and a
// threshold chosen like MarkingModel's.
type CombiningModel interface {
	TextModel
	Combine(p float64, rules iter.Seq2[string, float64]) (q, threshold float64)
}

// scoreModel asks the text model about the message and adds its verdict.
func scoreModel(sc *Score, t *textScan, msg *Message, model TextModel) {
	t.modelFeatures(msg)
	f := &t.features
	all := string(f.b) // one copy, shared by every feature
	p := model.SpamProbability(func(yield func(string) bool) {
		start := int32(0)
		for _, end := range f.ends {
			if !yield(all[start:end]) {
				return
			}
			start = end
		}
	})
	if m, ok := model.(MarkingModel); ok {
		if alone := m.MarkAlone(); alone > 0 && p >= alone {
			sc.Add("TEXT_MODEL", markAlonePoints, fmt.Sprintf("text model: spam probability %.3f, at or above %g, where it marks spam alone", p, alone))
			return
		}
	}
	if pts, ok := modelPoints(p); ok {
		sc.Add("TEXT_MODEL", pts, fmt.Sprintf("text model: spam probability %.3f", p))
	}
	c, ok := model.(CombiningModel)
	if !ok || sc.Value >= markAlonePoints || math.IsNaN(p) {
		return
	}
	q, threshold := c.Combine(p, func(yield func(string, float64) bool) {
		for _, r := range sc.Rules {
			if r.Name != "TEXT_MODEL" && !yield(r.Name, r.Points) {
				return
			}
		}
	})
	if threshold > 0 && q >= threshold {
		sc.Add("RULES_AND_MODEL", round1(markAlonePoints-sc.Value+0.05),
			fmt.Sprintf("the rules and the text model together: spam probability %.3f, at or above %g", q, threshold))
	}
}

// markAlonePoints is what a MarkingModel adds at or above its
// probability: the default spam score.
const markAlonePoints = 5.0

// modelPoints turns the model's probability into points, or reports that
// it adds no rule. The most it adds is 4.5: below a MarkingModel's
// probability, the model alone never marks a message spam, at least one
// rule must agree.
func modelPoints(p float64) (float64, bool) {
	switch {
	case math.IsNaN(p) || p < 0 || p > 1:
		return 0, false
	case p >= 0.999:
		return 4.5, true
	case p >= 0.99:
		return 4.0, true
	case p >= 0.95:
		return 3.0, true
	case p >= 0.80:
		return 2.0, true
	case p >= 0.60:
		return 1.0, true
	case p < 0.01:
		return -1.0, true
	case p < 0.05:
		return -0.5, true
	}
	return 0, false
}

// stopWords are English function words. They say how a message is
// written (to "you", from "our" shop) more than what it is about: the
// training ham is developers writing to each other, so a model that kept
// them would learn that addressing a customer is spam, and every shop
// addresses its customers.
var stopWords = setOf(strings.Fields(`
	a about above after again against all am an and any are as at be
	because been before being below between both but by can could did do
	does doing down during each few for from further had has have having
	he her here hers herself him himself his how i if in into is it its
	itself just me more most my myself no nor not now of off on once only
	or other our ours ourselves out over own same she should so some such
	than that the their theirs them themselves then there these they this
	those through to too under until up very was we were what when where
	which while who whom why will with would you your yours yourself
	yourselves s t d ll m re ve e get got go please`)...)
