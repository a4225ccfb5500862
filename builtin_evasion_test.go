package spamrun_test

import (
	"strings"
	"testing"
	"unicode"

	"github.com/spamrun/spamrun"
)

// The spam of the evasion tests: pharmacy and casino vocabulary with links
// to a cheap TLD and a shortener, as a form-abuse run sends it. Only the
// prose is disguised; the links stay as they are.
const (
	evasionSubject = "Cheap pills, fast delivery"
	evasionProse   = "Buy viagra, cialis and levitra without prescription from our online pharmacy. " +
		"Cheap pills, no prescription needed, discreet shipping worldwide. " +
		"Also try our online casino: free spins and a deposit bonus for new players today!"
	evasionLinks = "Order now: https://cheap-meds.top/buy?ref=77 or https://bit.ly/3xYzQ1"
	// evasionHarmless is the text/plain part that hides the HTML's spam
	// from a filter reading only the text.
	evasionHarmless = "Hello,\n\nthank you for your message. We will get back to you soon.\n\nKind regards,\nThe team\n"
)

// disguise applies f to every word of at least four letters of s.
func disguise(s string, f func(string) string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && unicode.IsLetter(rune(s[j])) {
			j++
		}
		if j == i {
			b.WriteByte(s[i])
			i++
			continue
		}
		if w := s[i:j]; len(w) >= 4 {
			b.WriteString(f(w))
		} else {
			b.WriteString(w)
		}
		i = j
	}
	return b.String()
}

func insertAfterFirst(sep string) func(string) string {
	return func(w string) string { return w[:1] + sep + w[1:] }
}

func leet(w string) string {
	return strings.NewReplacer("a", "4", "e", "3", "i", "1", "o", "0").Replace(w)
}

// cyrillicLookalikes writes a word's "a", "o" and "e" in Cyrillic.
func cyrillicLookalikes(w string) string {
	return strings.NewReplacer("a", "а", "o", "о", "e", "е").Replace(w)
}

// fullWidth writes a word in full-width letters.
func fullWidth(w string) string {
	return strings.Map(func(r rune) rune {
		if r >= '!' && r <= '~' {
			return r - '!' + '！'
		}
		return r
	}, w)
}

func plainMessage(tb testing.TB, prose string) *spamrun.Message {
	return build(tb, "Subject: "+evasionSubject, prose+"\n\n"+evasionLinks+"\n")
}

func htmlMessage(tb testing.TB, prose, links string) *spamrun.Message {
	return build(tb, "Subject: "+evasionSubject+"\nContent-Type: text/html; charset=utf-8",
		"<html><body><p>"+prose+"</p><p>"+links+"</p></body></html>\n")
}

// alternative is a multipart/alternative message of a text and an HTML
// part.
func alternative(tb testing.TB, text, html string) *spamrun.Message {
	return build(tb, "Subject: "+evasionSubject+"\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"ALT\"",
		"--ALT\nContent-Type: text/plain; charset=utf-8\n\n"+text+
			"\n--ALT\nContent-Type: text/html; charset=utf-8\n\n"+html+"\n--ALT--\n")
}

const htmlLinks = `Order now: <a href="https://cheap-meds.top/buy?ref=77">our shop</a> or <a href="https://bit.ly/3xYzQ1">here</a>`

// TestBuiltinEvasions scores spam as written and disguised: each disguise
// must keep it spam, and cost it at most evasionMargin points.
func TestBuiltinEvasions(t *testing.T) {
	const evasionMargin = 1.0
	s := spamrun.NewBuiltinScorer()
	plain := score(t, s, plainMessage(t, evasionProse))
	t.Logf("%-34s %s", "plain", describe(plain))
	if plain.Value < 5 {
		t.Fatalf("the plain spam scored %s, want ≥ 5", describe(plain))
	}
	htmlPlain := score(t, s, htmlMessage(t, evasionProse, htmlLinks))
	t.Logf("%-34s %s", "html", describe(htmlPlain))

	tests := []struct {
		name string
		msg  func(testing.TB) *spamrun.Message
		// rules that must still fire
		rules []string
	}{
		{"harmless text, spam HTML", func(tb testing.TB) *spamrun.Message {
			return alternative(tb, evasionHarmless, "<p>"+evasionProse+"</p><p>"+htmlLinks+"</p>")
		}, []string{"PHARMA_WORDS", "CASINO_WORDS", "URI_ODD_TLD", "URI_SHORTENER"}},
		{"zero-width spaces in words", func(tb testing.TB) *spamrun.Message {
			return plainMessage(tb, disguise(evasionProse, insertAfterFirst("\u200b")))
		}, []string{"PHARMA_WORDS", "CASINO_WORDS"}},
		{"zero-width joiners in words", func(tb testing.TB) *spamrun.Message {
			return plainMessage(tb, disguise(evasionProse, insertAfterFirst("\u200d\u2060")))
		}, []string{"PHARMA_WORDS", "CASINO_WORDS"}},
		{"soft hyphens in words", func(tb testing.TB) *spamrun.Message {
			return plainMessage(tb, disguise(evasionProse, insertAfterFirst("\u00ad")))
		}, []string{"PHARMA_WORDS", "CASINO_WORDS"}},
		{"bidi controls in words", func(tb testing.TB) *spamrun.Message {
			return plainMessage(tb, disguise(evasionProse, insertAfterFirst("\u202d\u202c")))
		}, []string{"PHARMA_WORDS", "CASINO_WORDS"}},
		{"zero-width entities in HTML", func(tb testing.TB) *spamrun.Message {
			return htmlMessage(tb, disguise(evasionProse, insertAfterFirst("&#8203;")), htmlLinks)
		}, []string{"PHARMA_WORDS", "CASINO_WORDS"}},
		{"empty tags in words", func(tb testing.TB) *spamrun.Message {
			return htmlMessage(tb, disguise(evasionProse, insertAfterFirst("<b></b>")), htmlLinks)
		}, []string{"PHARMA_WORDS", "CASINO_WORDS"}},
		{"inline tags in words, harmless text", func(tb testing.TB) *spamrun.Message {
			return alternative(tb, evasionHarmless, "<p>"+disguise(evasionProse, func(w string) string {
				return `<span style="color:#333">` + w[:2] + `</span><font>` + w[2:] + `</font>`
			})+"</p><p>"+htmlLinks+"</p>")
		}, []string{"PHARMA_WORDS", "CASINO_WORDS"}},
		{"leetspeak", func(tb testing.TB) *spamrun.Message {
			return plainMessage(tb, disguise(evasionProse, leet))
		}, []string{"PHARMA_WORDS", "CASINO_WORDS"}},
		{"Cyrillic look-alike letters", func(tb testing.TB) *spamrun.Message {
			return plainMessage(tb, disguise(evasionProse, cyrillicLookalikes))
		}, []string{"PHARMA_WORDS", "CASINO_WORDS", "MIXED_SCRIPT_WORD"}},
		{"full-width letters", func(tb testing.TB) *spamrun.Message {
			return plainMessage(tb, disguise(evasionProse, fullWidth))
		}, []string{"PHARMA_WORDS", "CASINO_WORDS"}},
		{"entity in the href's scheme", func(tb testing.TB) *spamrun.Message {
			return alternative(tb, evasionProse, "<p>"+evasionProse+"</p><p>"+strings.ReplaceAll(htmlLinks, "https://", "https&#58;//")+"</p>")
		}, []string{"URI_ODD_TLD", "URI_SHORTENER"}},
		{"a > in an attribute before the href", func(tb testing.TB) *spamrun.Message {
			return alternative(tb, evasionProse, "<p>"+evasionProse+"</p><p>"+strings.ReplaceAll(htmlLinks, "<a href=", `<a title="go > on" href=`)+"</p>")
		}, []string{"URI_ODD_TLD", "URI_SHORTENER"}},
		{"links only in img and CSS", func(tb testing.TB) *spamrun.Message {
			return alternative(tb, evasionProse, "<p>"+evasionProse+`</p><img src="https://cheap-meds.top/logo.png">`+
				`<div style="background:url('https://bit.ly/3xYzQ1')">Order now</div>`)
		}, []string{"URI_ODD_TLD", "URI_SHORTENER"}},
	}
	// Images and style sheets count for what their hosts are, not as
	// links followed: SPAM_WORDS_WITH_LINKS does not fire.
	extra := map[string]float64{"links only in img and CSS": 1.0}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := score(t, s, tt.msg(t))
			checkInvariants(t, sc)
			t.Logf("%-34s %s", tt.name, describe(sc))
			if floor := plain.Value - evasionMargin - extra[tt.name]; sc.Value < 5 || sc.Value < floor {
				t.Errorf("scored %.1f, want ≥ 5 and ≥ %.1f (plain %.1f): %s", sc.Value, floor, plain.Value, describe(sc))
			}
			for _, r := range tt.rules {
				if !fired(sc, r) {
					t.Errorf("%s did not fire: %s", r, describe(sc))
				}
			}
		})
	}
}

func fired(sc spamrun.Score, rule string) bool {
	for _, r := range sc.Rules {
		if r.Name == rule {
			return true
		}
	}
	return false
}
