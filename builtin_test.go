package spamrun_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"iter"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamruntest"
)

// hamTarget is where ordinary site mail must stay: well below the spam
// score of 5, so that two unlucky rules together still leave a margin.
const hamTarget = 2.5

func score(tb testing.TB, s *spamrun.BuiltinScorer, m *spamrun.Message) spamrun.Score {
	tb.Helper()
	sc, err := s.Score(context.Background(), m)
	if err != nil {
		tb.Fatalf("Score: %v", err)
	}
	return sc
}

func describe(sc spamrun.Score) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%.1f", sc.Value)
	for _, r := range sc.Rules {
		fmt.Fprintf(&b, " %s=%.1f (%s)", r.Name, r.Points, r.Reason)
	}
	return b.String()
}

// hamRulesAllowed are the rules that may fire on the ham samples at all;
// anything else firing there is a false positive in the making.
var hamRulesAllowed = map[string][]string{
	"MISSING_MESSAGE_ID": nil, // nil: on any ham sample
	"MISSING_DATE":       nil,
	"SEO_SPAM_WORDS":     {"ham-wp-auto-update"}, // "Yoast SEO" is a plugin name
}

func TestBuiltinSamples(t *testing.T) {
	s := spamrun.NewBuiltinScorer()
	maxHam, minSpam := math.Inf(-1), math.Inf(1)
	var maxHamName, minSpamName string
	for _, smp := range spamruntest.Samples() {
		sc := score(t, s, smp.Message(t))
		t.Logf("%-30s %s", smp.Name, describe(sc))
		if smp.Spam {
			if sc.Value < 5 {
				t.Errorf("%s: spam scored %s, want ≥ 5", smp.Name, describe(sc))
			}
			if sc.Value < minSpam {
				minSpam, minSpamName = sc.Value, smp.Name
			}
			continue
		}
		if sc.Value > hamTarget {
			t.Errorf("%s: ham scored %s, want ≤ %.1f", smp.Name, describe(sc), hamTarget)
		}
		if sc.Value > maxHam {
			maxHam, maxHamName = sc.Value, smp.Name
		}
		for _, r := range sc.Rules {
			if r.Points <= 0 {
				continue // evidence of ham, such as a low TEXT_MODEL
			}
			allowed, ok := hamRulesAllowed[r.Name]
			if !ok || (allowed != nil && !slices.Contains(allowed, smp.Name)) {
				t.Errorf("%s: rule %s fired on ham: %s", smp.Name, r.Name, r.Reason)
			}
		}
	}
	t.Logf("max ham score %.1f (%s), min spam score %.1f (%s)", maxHam, maxHamName, minSpam, minSpamName)
}

func TestBuiltinGenerators(t *testing.T) {
	s := spamrun.NewBuiltinScorer()
	maxHam, minSpam := math.Inf(-1), math.Inf(1)
	for i := range 200 {
		ham := score(t, s, spamruntest.Sample{Name: "order", Raw: spamruntest.OrderConfirmation("shop1.example", i)}.Message(t))
		if ham.Value > hamTarget {
			t.Errorf("OrderConfirmation(%d) scored %s, want ≤ %.1f", i, describe(ham), hamTarget)
		}
		maxHam = max(maxHam, ham.Value)
		spam := score(t, s, spamruntest.Sample{Name: "guestbook", Raw: spamruntest.GuestbookSpam("site7.example", i)}.Message(t))
		if spam.Value < 5 {
			t.Errorf("GuestbookSpam(%d) scored %s, want ≥ 5", i, describe(spam))
		}
		minSpam = min(minSpam, spam.Value)
	}
	t.Logf("OrderConfirmation max %.1f, GuestbookSpam min %.1f over i in [0, 200)", maxHam, minSpam)
}

var ruleName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// checkInvariants is what every score must satisfy, whatever the input.
func checkInvariants(tb testing.TB, sc spamrun.Score) {
	tb.Helper()
	if math.IsNaN(sc.Value) || math.IsInf(sc.Value, 0) {
		tb.Fatalf("score %v is not finite", sc.Value)
	}
	sum := 0.0
	seen := map[string]bool{}
	for _, r := range sc.Rules {
		sum += r.Points
		if !ruleName.MatchString(r.Name) {
			tb.Errorf("rule name %q is not UPPER_CASE", r.Name)
		}
		if seen[r.Name] {
			tb.Errorf("rule %s fired twice in %s", r.Name, describe(sc))
		}
		seen[r.Name] = true
		if strings.TrimSpace(r.Reason) == "" {
			tb.Errorf("rule %s has no reason", r.Name)
		}
		if (r.Points == 0 && r.Name != "WP_COMMENT_NOTICE") || math.IsNaN(r.Points) {
			tb.Errorf("rule %s has %v points", r.Name, r.Points)
		}
	}
	if math.Abs(sum-sc.Value) > 1e-9 {
		tb.Fatalf("Value %v is not the sum of the rule points %v", sc.Value, sum)
	}
}

func TestBuiltinInvariants(t *testing.T) {
	s := spamrun.NewBuiltinScorer()
	var msgs []*spamrun.Message
	for _, smp := range spamruntest.Samples() {
		msgs = append(msgs, smp.Message(t))
	}
	for i := range 20 {
		msgs = append(msgs,
			spamruntest.Sample{Raw: spamruntest.OrderConfirmation("shop2.example", i)}.Message(t),
			spamruntest.Sample{Raw: spamruntest.GuestbookSpam("site9.example", i)}.Message(t))
	}
	for _, m := range msgs {
		first := score(t, s, m)
		checkInvariants(t, first)
		// Same input, same score, however often and after whatever else
		// was scored in between (the scratch buffers are pooled).
		for _, other := range msgs[:3] {
			score(t, s, other)
		}
		again := score(t, s, m)
		if describe(first) != describe(again) {
			t.Errorf("not deterministic:\n%s\n%s", describe(first), describe(again))
		}
	}
}

func TestBuiltinConcurrent(t *testing.T) {
	s := spamrun.NewBuiltinScorer()
	samples := spamruntest.Samples()
	want := make([]string, len(samples))
	msgs := make([]*spamrun.Message, len(samples))
	for i, smp := range samples {
		msgs[i] = smp.Message(t)
		want[i] = describe(score(t, s, msgs[i]))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for round := range 20 {
				i := (g*7 + round) % len(msgs)
				sc, _ := s.Score(context.Background(), msgs[i])
				if got := describe(sc); got != want[i] {
					t.Errorf("%s scored concurrently:\n%s\nwant\n%s", samples[i].Name, got, want[i])
				}
			}
		})
	}
	wg.Wait()
}

// build makes a message from extra header lines and a body. From, To,
// Subject, Date, Message-ID and a plain-text Content-Type are added unless
// the header already has them.
func build(tb testing.TB, header, body string) *spamrun.Message {
	tb.Helper()
	var h strings.Builder
	has := func(name string) bool {
		return strings.HasPrefix(header, name+":") || strings.Contains(header, "\n"+name+":")
	}
	for _, d := range []struct{ name, value string }{
		{"From", "Shop One <shop@shop1.example>"},
		{"To", "customer@example.net"},
		{"Subject", "About your order"},
		{"Date", "Mon, 2 Nov 2026 09:00:00 +0000"},
		{"Message-ID", "<test-1@shop1.example>"},
		{"Content-Type", "text/plain; charset=utf-8"},
	} {
		if !has(d.name) {
			fmt.Fprintf(&h, "%s: %s\n", d.name, d.value)
		}
	}
	h.WriteString(header)
	if header != "" && !strings.HasSuffix(header, "\n") {
		h.WriteString("\n")
	}
	raw := h.String() + "\n" + body
	return spamruntest.Sample{Name: "crafted", Raw: []byte(raw)}.Message(tb)
}

func zipBase64(tb testing.TB, encrypted bool, names ...string) string {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		fh := &zip.FileHeader{Name: n, Method: zip.Store}
		if encrypted {
			fh.Flags |= 0x1
		}
		w, err := zw.CreateHeader(fh)
		if err != nil {
			tb.Fatal(err)
		}
		fmt.Fprintf(w, "content of %s\n", n)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func withAttachment(name, ctype, b64 string) (header, body string) {
	header = "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"XX\""
	body = "--XX\nContent-Type: text/plain; charset=utf-8\n\nPlease see the attached file.\n" +
		"--XX\nContent-Type: " + ctype + "; name=\"" + name + "\"\nContent-Transfer-Encoding: base64\n" +
		"Content-Disposition: attachment; filename=\"" + name + "\"\n\n" + b64 + "\n--XX--\n"
	return header, body
}

// TestBuiltinRules crafts a message for each rule that makes it fire, and
// near misses that must not.
func TestBuiltinRules(t *testing.T) {
	exe := base64.StdEncoding.EncodeToString([]byte("MZ\x90\x00test fixture"))
	zipExe := zipBase64(t, false, "docs/Invoice_2291.exe", "readme.txt")
	zipPlain := zipBase64(t, false, "report.csv")
	zipLocked := zipBase64(t, true, "report.csv")
	attach := func(name, ctype, b64 string) func(testing.TB) *spamrun.Message {
		return func(tb testing.TB) *spamrun.Message {
			h, b := withAttachment(name, ctype, b64)
			return build(tb, h, b)
		}
	}
	attachWithText := func(name, ctype, b64, text string) func(testing.TB) *spamrun.Message {
		return func(tb testing.TB) *spamrun.Message {
			h, b := withAttachment(name, ctype, b64)
			return build(tb, h, strings.Replace(b, "Please see the attached file.", text, 1))
		}
	}
	text := func(header, body string) func(testing.TB) *spamrun.Message {
		return func(tb testing.TB) *spamrun.Message { return build(tb, header, body) }
	}
	html := func(header, body string) func(testing.TB) *spamrun.Message {
		return func(tb testing.TB) *spamrun.Message {
			return build(tb, "Content-Type: text/html; charset=utf-8\n"+header, body)
		}
	}
	const hiddenPreheader = `<span style="display:none;font-size:0px;max-height:0">Our autumn collection is here.</span>`

	tests := []struct {
		name string
		rule string
		msg  func(testing.TB) *spamrun.Message
		want bool
	}{
		{"shortener", "URI_SHORTENER", text("", "Look at this: https://bit.ly/3abcDEF\n"), true},
		{"shortener without scheme", "URI_SHORTENER", text("", "Look at this: tinyurl.com/y7d2k4\n"), true},
		{"own link is no shortener", "URI_SHORTENER", text("", "Your order: https://shop1.example/o/1\n"), false},
		{"dotted IP", "URI_IP_HOST", text("", "Log in at http://192.0.2.44/login.php\n"), true},
		{"decimal IP", "URI_IP_HOST", text("", "Log in at http://3232235777/login\n"), true},
		{"IP in text is no link", "URI_IP_HOST", text("", "Request came from 192.0.2.44.\n"), false},
		{"userinfo", "URI_USERINFO", text("", "Go to http://www.bank.example.com@203.0.113.9/secure\n"), true},
		{"odd TLD", "URI_ODD_TLD", text("", "Deals at https://mega-deals.top/x\n"), true},
		{"odd TLD bare", "URI_ODD_TLD", text("", "Deals at mega-deals.xyz today\n"), true},
		{"own odd TLD", "URI_ODD_TLD", text("From: Shop <shop@teashop.xyz>", "Your order: https://teashop.xyz/o/1\n"), false},
		{".shop is not odd", "URI_ODD_TLD", text("", "See https://bakery.shop/bread\n"), false},
		{"file names are no links", "URI_ODD_TLD", text("", "Attached: photos.zip and movie.mov\n"), false},
		{"punycode", "URI_IDN", text("", "See https://xn--bcher-kva.example/\n"), true},
		{"own punycode", "URI_IDN", text("From: Shop <info@xn--mller-kva.example>", "See https://xn--mller-kva.example/\n"), false},
		{"brand lookalike", "URI_BRAND_LOOKALIKE", text("", "Log in: https://paypa1-secure.example.net/login\n"), true},
		{"brand subdomain trick", "URI_BRAND_LOOKALIKE", text("", "Log in: https://paypal.com.secure-check.example.org/\n"), true},
		{"brand's own domain", "URI_BRAND_LOOKALIKE", text("", "Pay at https://www.paypal.com/checkout and https://outlook.office365.com/owa\n"), false},
		{"brand's other domain", "URI_BRAND_LOOKALIKE", text("", "Files at https://s3.amazonaws.com/bucket/x\n"), false},
		{"anchor text mismatch", "HTML_LINK_TEXT_MISMATCH", html("", `<p><a href="https://evil.example.net/x">https://www.bank.example.com/login</a></p>`), true},
		{"anchor text same site", "HTML_LINK_TEXT_MISMATCH", html("", `<p><a href="https://www.shop1.example/track?id=1">shop1.example</a></p>`), false},
		{"anchor text not a domain", "HTML_LINK_TEXT_MISMATCH", html("", `<p><a href="https://evil.example.net/x">Click for details.</a></p>`), false},
		{"mailing service tracker", "HTML_LINK_TEXT_MISMATCH", html("", `<p><a href="https://shop.us1.list-manage.com/track/click?u=1">www.shop1.example</a></p>`), false},
		{"many domains", "URI_MANY_DOMAINS", text("", "https://a.example.com https://b.example.net https://c.example.org https://d.example.info\n"), true},
		{"social links are common", "URI_MANY_DOMAINS", text("", "Follow us: https://facebook.com/x https://instagram.com/x https://youtube.com/x https://linkedin.com/x https://pinterest.com/x\n"), false},
		{"dense links", "URI_DENSITY", text("", "Best: https://a.example.com/1 https://b.example.net/2 https://c.example.org/3\n"), true},
		{"links in a long text", "URI_DENSITY", text("", strings.Repeat("We visited the market and bought bread and cheese for the picnic. ", 10)+
			"https://a.example.com/1 https://b.example.net/2 https://c.example.org/3\n"), false},
		{"pharma", "PHARMA_WORDS", text("", "cheap viagra and cialis\n"), true},
		{"pharma Dutch", "PHARMA_WORDS", text("", "erectiepillen zonder recept\n"), true},
		{"pharma Russian stem", "PHARMA_WORDS", text("", "купить виагру без рецепта\n"), true},
		{"Russian potential is no potency", "PHARMA_WORDS", text("", "потенциальный клиент\n"), false},
		{"casino", "CASINO_WORDS", text("", "online casino with free spins\n"), true},
		{"casino German", "CASINO_WORDS", text("", "Freispiele ohne Einzahlung\n"), true},
		{"time slots are no casino", "CASINO_WORDS", text("", "Available time slots: 10:00, 11:30.\n"), false},
		{"loan", "LOAN_WORDS", text("", "payday loans with no credit check\n"), true},
		{"loan Russian", "LOAN_WORDS", text("", "займы без отказа\n"), true},
		{"Russian 'will take' is no loan", "LOAN_WORDS", text("", "Доставка займёт 2 дня.\n"), false},
		{"crypto", "CRYPTO_INVEST_WORDS", text("", "guaranteed returns with our trading bot\n"), true},
		{"adult", "ADULT_WORDS", text("", "horny milf waiting\n"), true},
		{"SEO", "SEO_SPAM_WORDS", text("", "cheap backlinks and guest posts\n"), true},
		{"SEO Russian", "SEO_SPAM_WORDS", text("", "прогон и вечные ссылки\n"), true},
		{"stock phrases", "SPAM_PHRASES", text("", "Dear friend, you have won! Act now.\n"), true},
		{"spam words with links", "SPAM_WORDS_WITH_LINKS", text("", "cheap viagra cialis https://pills.example.com/\n"), true},
		{"spam words, own links", "SPAM_WORDS_WITH_LINKS", text("", "cheap viagra cialis https://shop1.example/\n"), false},
		{"phishing", "PHISH_PHRASES", text("", "Please verify your account: https://shop1.example/v\n"), true},
		{"phishing German", "PHISH_PHRASES", text("", "Ihr Konto wurde gesperrt. https://shop1.example/v\n"), true},
		{"phishing without a link", "PHISH_PHRASES", text("", "Please verify your account at the desk.\n"), false},
		{"phishing offsite", "PHISH_LINK_OFFSITE", text("", "Your account has been suspended. Restore your account: https://secure.example.net/\n"), true},
		{"phishing own link", "PHISH_LINK_OFFSITE", text("", "Your account has been suspended. Restore your account: https://shop1.example/\n"), false},
		{"within 24 hours is no phishing", "PHISH_LINK_OFFSITE", text("", "We reply within 24 hours. Partner: https://partner.example.net/\n"), false},
		{"brand display name", "FROM_BRAND_SPOOF", text("From: PayPal Service <service@site1.example>", "Hello\n"), true},
		{"brand display name, homoglyph", "FROM_BRAND_SPOOF", text("From: =?UTF-8?B?"+base64.StdEncoding.EncodeToString([]byte("PаyPal"))+"?= <service@site1.example>", "Hello\n"), true},
		{"brand display name, Cyrillic", "FROM_BRAND_SPOOF", text("From: =?UTF-8?B?"+base64.StdEncoding.EncodeToString([]byte("Сбербанк Онлайн"))+"?= <info@site1.example>", "Hello\n"), true},
		{"brand address", "FROM_BRAND_SPOOF", text("From: Service <service@paypal.com>", "Hello\n"), true},
		{"visitor's free mail in From", "FROM_BRAND_SPOOF", text("From: Jane <jane.doe@hotmail.com>", "Hello\n"), false},
		{"visitor's iCloud in From", "FROM_BRAND_SPOOF", text("From: Tim <tim@icloud.com>", "Hello\n"), false},
		{"ambiguous brand word", "FROM_BRAND_SPOOF", text("From: Apple Tree Nursery <info@site1.example>", "Hello\n"), false},
		{"domain in display name", "FROM_NAME_OTHER_DOMAIN", text("From: \"www.casino-royal.example.net\" <wp@site1.example>", "Hello\n"), true},
		{"own domain in display name", "FROM_NAME_OTHER_DOMAIN", text("From: shop1.example <wp@shop1.example>", "Hello\n"), false},
		{"visitor's free mail in display name", "FROM_NAME_OTHER_DOMAIN", text("From: jane.doe@gmail.com <wp@shop1.example>", "Hello\n"), false},
		{"free mail Reply-To with links", "REPLYTO_FREEMAIL_LINKS", text("Reply-To: x@gmail.com", "https://a.example.com/ https://b.example.net/\n"), true},
		{"free mail Reply-To, contact form", "REPLYTO_FREEMAIL_LINKS", text("Reply-To: x@gmail.com", "Do you deliver on Saturdays?\n"), false},
		{"gibberish", "GIBBERISH", text("", "hello qzvbkt xkcdwmfp plmkjhgf zxvbnmqw trvxqpld\n"), true},
		{"mixed case noise", "GIBBERISH", text("", "hi kXqZtrPw bNmVcXzL qWeRtYuI\n"), true},
		{"codes are not gibberish", "GIBBERISH", text("", "Order WC-10482, tracking 1Z999AA10123456784, JVGL06123456789012345678, token a8f3c9e1b2d4.\n"), false},
		{"German compounds are not gibberish", "GIBBERISH", text("", "Rechtsschutzversicherung, Nachtschicht, Deutschland, Rechnungsstellung.\n"), false},
		{"Dutch ij is not gibberish", "GIBBERISH", text("", "Bedrijfsleider, prijslijst, tijdschriften, bijvoorbeeld, vrijdag.\n"), false},
		{"homoglyph", "MIXED_SCRIPT_WORD", text("", "Your Pаypal account\n"), true},
		{"Cyrillic words", "MIXED_SCRIPT_WORD", text("", "Заказ № 58213 from shop1.example\n"), false},
		{"Cyrillic under Latin-1", "CHARSET_MISMATCH", text("Content-Type: text/plain; charset=iso-8859-1", "Продвижение сайтов в топ Яндекса, недорого и быстро\n"), true},
		{"Cyrillic under UTF-8", "CHARSET_MISMATCH", text("Content-Type: text/plain; charset=utf-8", "Продвижение сайтов в топ Яндекса, недорого и быстро\n"), false},
		{"executable", "ATTACH_EXECUTABLE", attach("setup.exe", "application/octet-stream", exe), true},
		{"script", "ATTACH_EXECUTABLE", attach("invoice.js", "application/octet-stream", exe), true},
		{"disk image", "ATTACH_EXECUTABLE", attach("scan.iso", "application/octet-stream", exe), true},
		{"PDF is no executable", "ATTACH_EXECUTABLE", attach("invoice.pdf", "application/pdf", exe), false},
		{"double extension", "ATTACH_DOUBLE_EXT", attach("invoice.pdf.exe", "application/octet-stream", exe), true},
		{"padded extension", "ATTACH_DOUBLE_EXT", attach("invoice          .exe", "application/octet-stream", exe), true},
		{"version is no double extension", "ATTACH_DOUBLE_EXT", attach("setup-2.1.exe", "application/octet-stream", exe), false},
		{"archive", "ATTACH_ARCHIVE", attach("report.zip", "application/zip", zipPlain), true},
		{"tarball is no archive", "ATTACH_ARCHIVE", attach("backup.tar.gz", "application/gzip", zipPlain), false},
		{"executable in archive", "ATTACH_ARCHIVE_EXECUTABLE", attach("invoice.zip", "application/zip", zipExe), true},
		{"no executable in archive", "ATTACH_ARCHIVE_EXECUTABLE", attach("report.zip", "application/zip", zipPlain), false},
		{"encrypted archive", "ATTACH_ARCHIVE_PASSWORD", attach("report.zip", "application/zip", zipLocked), true},
		{"archive password in text", "ATTACH_ARCHIVE_PASSWORD", attachWithText("docs.rar", "application/vnd.rar", zipPlain, "The password is 1234."), true},
		{"password reset is no archive", "ATTACH_ARCHIVE_PASSWORD", text("", "Reset your password: https://shop1.example/r\n"), false},
		{"HTML attachment", "ATTACH_HTML", attach("Secure_Message.html", "text/html", base64.StdEncoding.EncodeToString([]byte("<form>login</form>"))), true},
		{"hidden outside links", "HTML_HIDDEN_TEXT", html("", `<p>Hello</p><div style="display:none">`+
			`<a href="https://pills.example.net/">cheap pills</a></div>`), true},
		{"hidden wall of text", "HTML_HIDDEN_TEXT", html("", `<p>Hello</p><div style="font-size:0px">`+strings.Repeat("filler words to poison filters ", 20)+`</div>`), true},
		{"hidden preheader", "HTML_HIDDEN_TEXT", html("", hiddenPreheader+`<p>Hello</p>`), false},
		{"hidden mobile menu of own links", "HTML_HIDDEN_TEXT", html("", `<div class="m" style="display:none"><a href="https://shop1.example/a">A</a> <a href="https://shop1.example/b">B</a></div>`), false},
		{"small font is not hidden", "HTML_HIDDEN_TEXT", html("", `<div style="font-size:0.8em"><a href="https://partner.example.net/">partner</a></div>`), false},
		{"CSS rule is not hidden text", "HTML_HIDDEN_TEXT", html("", `<style>.m{display:none}</style><p><a href="https://partner.example.net/">partner</a></p>`), false},
		{"shouted subject", "SUBJECT_ALL_CAPS", text("Subject: BUY NOW AND SAVE BIG", "Hello\n"), true},
		{"short capitals", "SUBJECT_ALL_CAPS", text("Subject: ORDER #1234", "Hello\n"), false},
		{"many recipients", "MANY_RECIPIENTS", text("To: a@example.com, b@example.com, c@example.com, d@example.com, e@example.com, f@example.com, g@example.com, h@example.com, i@example.com, j@example.com", "Hello\n"), true},
		{"a few recipients", "MANY_RECIPIENTS", text("To: a@example.com, b@example.com, c@example.com", "Hello\n"), false},
		{"parse warnings", "PARSE_WARNINGS", text("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"B\"\n", "--B\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n!!!!not base64@@@@\n--B--\n"), true},
		{"HTML only is not malformed", "PARSE_WARNINGS", html("", "<p>Hello</p>"), false},
		{"no Message-ID", "MISSING_MESSAGE_ID", func(tb testing.TB) *spamrun.Message {
			return spamruntest.Sample{Raw: []byte("From: a@shop1.example\nTo: b@example.net\nSubject: hi\n\nhello\n")}.Message(tb)
		}, true},
		{"no Date", "MISSING_DATE", func(tb testing.TB) *spamrun.Message {
			return spamruntest.Sample{Raw: []byte("From: a@shop1.example\nTo: b@example.net\nSubject: hi\n\nhello\n")}.Message(tb)
		}, true},
		{"GTUBE", "GTUBE", text("", "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\n"), true},
		{"upload dir", "SCRIPT_IN_UPLOAD_DIR", func(tb testing.TB) *spamrun.Message {
			m := build(tb, "", "Hello\n")
			m.Evidence.Cwd = "/var/www/site1/wp-content/uploads/2026/11"
			return m
		}, true},
		{"site root", "SCRIPT_IN_UPLOAD_DIR", func(tb testing.TB) *spamrun.Message {
			m := build(tb, "", "Hello\n")
			m.Evidence.Cwd = "/var/www/site1/public_html"
			return m
		}, false},
		{"docroot below /tmp", "SCRIPT_IN_UPLOAD_DIR", func(tb testing.TB) *spamrun.Message {
			m := build(tb, "", "Hello\n")
			m.Evidence.Cwd = "/tmp/build-42/www/shop1"
			return m
		}, false},
		{"images of a docroot below /srv/files", "SCRIPT_IN_UPLOAD_DIR", func(tb testing.TB) *spamrun.Message {
			m := build(tb, "", "Hello\n")
			m.Evidence.Cwd = "/srv/files/shop1/images"
			return m
		}, true},
	}
	s := spamrun.NewBuiltinScorer()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := score(t, s, tt.msg(t))
			checkInvariants(t, sc)
			if got := sc.Has(tt.rule); got != tt.want {
				t.Errorf("%s fired = %v, want %v; score %s", tt.rule, got, tt.want, describe(sc))
			}
		})
	}
}

func TestBuiltinGTUBE(t *testing.T) {
	s := spamrun.NewBuiltinScorer()
	for _, smp := range spamruntest.SpamSamples() {
		if smp.Name != "spam-gtube" {
			continue
		}
		sc := score(t, s, smp.Message(t))
		if sc.Value < 1000 || !sc.Has("GTUBE") {
			t.Fatalf("GTUBE scored %s, want ≥ 1000", describe(sc))
		}
		return
	}
	t.Fatal("no spam-gtube sample")
}

// TestBuiltinHardHam is honest mail that looks a little like spam: it must
// stay clear of 5, and mostly of 2.5.
func TestBuiltinHardHam(t *testing.T) {
	tests := []struct {
		name, header, body string
	}{
		{"security plugin alert", "From: Wordfence <wordpress@shop1.example>\nSubject: [Shop One] Unusual sign-in activity",
			"Unusual sign in activity was detected on your account: user admin logged in from a new location.\n" +
				"If this was not you, change your password within 24 hours: https://shop1.example/wp-admin/profile.php\n"},
		{"exchange identity check", "From: CoinDesk Exchange <support@exchange1.example>\nSubject: Verify your identity to continue trading",
			"To keep trading bitcoin, ethereum and other cryptocurrency on our platform, please verify your identity.\n" +
				"Upload your ID at https://exchange1.example/kyc. BTC withdrawals are paused until then.\n"},
		{"pharmacy order", "From: Apotheek Centrum <bestel@apotheek1.example>\nSubject: Uw bestelling 4471",
			"Bedankt voor uw bestelling bij onze online apotheek.\n- Paracetamol 500 mg, zonder recept verkrijgbaar (2x)\n- Pijnstillers gel (1x)\n" +
				"Volg uw bestelling: https://apotheek1.example/bestelling/4471\n"},
		{"partner newsletter", "Content-Type: text/html; charset=utf-8\nFrom: City Guide <news@guide1.example>\nList-Unsubscribe: <https://guide1.example/u>",
			`<h1>This weekend in town</h1><p>Our picks for the first weekend of November:</p><ul>` +
				`<li><a href="https://museumnight.example">Museum night</a>: twenty museums stay open until midnight, with live music and one ticket for all.</li>` +
				`<li><a href="https://bluenotejazz.example/">Jazz at the Blue Note</a>: a trio from Antwerp plays standards on Friday and Saturday from nine.</li>` +
				`<li><a href="https://streetfood-market.example/">Street food market</a>: forty stalls on the harbour square, vegetarian options at most of them.</li>` +
				`<li><a href="https://openaircinema.example/">Open air cinema</a>: a classic on Sunday evening, blankets and hot chocolate provided.</li>` +
				`<li><a href="https://stadsschouwburg.example/">Theatre premiere</a>: a new Dutch comedy about a family reunion that goes wrong.</li></ul>` +
				`<p><a href="https://guide1.example/u">Unsubscribe</a></p>`},
		{"contact form with links", "From: WordPress <wordpress@studio1.example>\nReply-To: Tom <tom.designer@gmail.com>\nSubject: New message",
			"Name: Tom\nMessage: Hi, I'm a web designer. Examples of my work: https://portfolio.example.com and https://bakery-redesign.example.net. Could we talk about your new site?\n"},
		{"Russian shipping", "From: Shop <zakaz@shop4.example>\nSubject: Заказ отправлен",
			"Ваш заказ №58213 отправлен. Доставка займёт 2–3 дня. Оплата кредитной картой прошла успешно.\nОтследить: https://shop4.example/track/58213\n"},
		{"hotel with casino", "From: Hotel Kurhaus <booking@hotel1.example>\nSubject: Your stay",
			"Thank you for booking. The casino and the spa are next door; guests get a welcome bonus drink at the bar.\nhttps://hotel1.example/stay/991\n"},
		{"invoice zip from accounting", "From: Admin <admin@shop1.example>\nSubject: Monthly export\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"XX\"",
			"--XX\nContent-Type: text/plain\n\nThe monthly order export is attached.\n--XX\nContent-Type: application/zip; name=\"orders-2026-10.zip\"\n" +
				"Content-Transfer-Encoding: base64\n\n" + zipBase64(t, false, "orders-2026-10.csv") + "\n--XX--\n"},
	}
	s := spamrun.NewBuiltinScorer()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := score(t, s, build(t, tt.header, tt.body))
			t.Logf("%s", describe(sc))
			if sc.Value > hamTarget {
				t.Errorf("scored %s, want ≤ %.1f", describe(sc), hamTarget)
			}
		})
	}
}

func TestBuiltinOddInput(t *testing.T) {
	s := spamrun.NewBuiltinScorer()
	if sc := score(t, s, nil); sc.Value != 0 || len(sc.Rules) != 0 {
		t.Errorf("nil message scored %s", describe(sc))
	}
	checkInvariants(t, score(t, s, &spamrun.Message{}))
	checkInvariants(t, score(t, s, &spamrun.Message{
		Subject: "ÐŸÑ€Ð¸Ð²ÐµÑ‚",
		Text:    strings.Repeat("\xff\xfe http://[::1 www. ://x a@ <a href=", 1000),
		HTML:    `<a href="https://x.example/">` + strings.Repeat("<div style=\"display:none\"><div>", 500),
		Attachments: []spamrun.Attachment{
			{Name: "....exe"}, {Name: ".zip", ContentType: "application/zip"}, {},
		},
	}))
	huge := bytes.Repeat([]byte("viagra https://pills.example.top/ "), 100_000)
	m, err := spamrun.ParseMessage(append([]byte("Subject: x\n\n"), huge...), "a@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, score(t, s, m))
}

// TestBuiltinLinearTime feeds pages built to make a naive HTML scan
// quadratic. Each takes milliseconds; the budget is generous so that only a
// regression to quadratic work fails, not a busy machine.
func TestBuiltinLinearTime(t *testing.T) {
	var distinct strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&distinct, `<a href="http://x%d.example/">w</a>`, i)
	}
	s := spamrun.NewBuiltinScorer()
	for name, html := range map[string]string{
		"style without tag end":  "<" + strings.Repeat("display:none", 21000),
		"nested hidden elements": strings.Repeat(`<div style="display:none">`, 10000),
		"anchors without text":   strings.Repeat(`<a href="http://x.example/">`, 10000),
		"distinct anchors":       distinct.String(),
		"hidden hrefs":           `<div style="display:none">` + strings.Repeat("href=", 50000),
	} {
		start := time.Now()
		sc := score(t, s, &spamrun.Message{HTML: html, Text: html})
		checkInvariants(t, sc)
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s (%d bytes) took %v", name, len(html), d)
		}
	}
}

// fakeModel returns a fixed probability and remembers the words it saw.
type fakeModel struct {
	p     float64
	mu    sync.Mutex
	words []string
}

func (f *fakeModel) SpamProbability(words iter.Seq[string]) float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.words = slices.Collect(words)
	return f.p
}

func TestBuiltinTextModel(t *testing.T) {
	m := build(t, "Subject: Cheap Viagra", "Buy now at https://pills.example.net/x?id=7 today\n")
	if sc := score(t, spamrun.NewBuiltinScorerWithOptions(&spamrun.BuiltinOptions{RulesOnly: true}), m); sc.Has("TEXT_MODEL") {
		t.Errorf("TEXT_MODEL fired with RulesOnly: %s", describe(sc))
	}
	if sc := score(t, spamrun.NewBuiltinScorer(), m); !sc.Has("TEXT_MODEL") {
		t.Errorf("the default scorer has no text model: %s", describe(sc))
	}
	for _, tt := range []struct {
		p    float64
		want float64 // 0: no rule
	}{
		{0.9995, 4.5}, {0.999, 4.5}, {0.995, 4.0}, {0.96, 3.0}, {0.85, 2.0}, {0.7, 1.0}, {0.5, 0}, {0.03, -0.5}, {0.001, -1.0},
		{math.NaN(), 0}, {-1, 0}, {2, 0},
	} {
		model := &fakeModel{p: tt.p}
		sc := score(t, spamrun.NewBuiltinScorerWithOptions(&spamrun.BuiltinOptions{TextModel: model}), m)
		checkInvariants(t, sc)
		var got float64
		for _, r := range sc.Rules {
			if r.Name == "TEXT_MODEL" {
				got = r.Points
			}
		}
		if got != tt.want {
			t.Errorf("p=%v: TEXT_MODEL points %v, want %v", tt.p, got, tt.want)
		}
		// "now" and "at" are function words; the subject's words come
		// twice, the second time marked; the link by host, domain, TLD.
		want := []string{"cheap", "s:cheap", "viagra", "s:viagra", "buy", "today",
			"h:pills.example.net", "d:example.net", "t:net"}
		if !slices.Equal(model.words, want) {
			t.Errorf("model saw %q, want %q", model.words, want)
		}
	}
}

func TestModelFeatures(t *testing.T) {
	for _, tt := range []struct {
		name          string
		header, body  string
		want, notWant []string
	}{
		{"japanese in pairs", "Subject: お知らせ", "限定セール\n", []string{"お知", "知ら", "らせ", "限定", "定セ", "セー", "ール", "script:cjk"}, []string{"お知らせ", "s:お知らせ"}},
		{"one kanji alone", "Subject: x", "猫\n", []string{"猫", "script:cjk"}, nil},
		{"cyrillic", "Subject: x", "скидка сегодня\n", []string{"скидка", "сегодня", "script:cyrillic"}, []string{"script:cjk"}},
		{"greek and arabic", "Subject: x", "Καλημέρα مرحبا\n", []string{"script:greek", "script:arabic"}, nil},
		{"attachment", "Subject: invoice\nContent-Type: multipart/mixed; boundary=b", "--b\nContent-Type: text/plain\n\nsee attached\n--b\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=\"INV-7.PDF\"\n\n%PDF-1.4\n--b--\n", []string{"attach:pdf", "s:invoice"}, nil},
		{"ip link", "Subject: x", "go to http://192.0.2.7/login now\n", []string{"h:192.0.2.7"}, []string{"t:7"}},
		{"function words left out", "Subject: Your order", "Thank you for your order at our shop\n", []string{"thank", "order", "shop", "s:order"}, []string{"your", "you", "our", "s:your", "for", "at"}},
	} {
		model := &fakeModel{p: 0.5}
		m := build(t, tt.header, tt.body)
		score(t, spamrun.NewBuiltinScorerWithOptions(&spamrun.BuiltinOptions{TextModel: model}), m)
		for _, w := range tt.want {
			if !slices.Contains(model.words, w) {
				t.Errorf("%s: no feature %q in %q", tt.name, w, model.words)
			}
		}
		for _, w := range tt.notWant {
			if slices.Contains(model.words, w) {
				t.Errorf("%s: feature %q in %q", tt.name, w, model.words)
			}
		}
		for _, w := range model.words {
			if len(w) > 40 || strings.ToLower(w) != w {
				t.Errorf("%s: feature %q is not lower case within 40 bytes", tt.name, w)
			}
		}
	}
}

func FuzzBuiltinScore(f *testing.F) {
	for _, smp := range spamruntest.Samples() {
		f.Add(smp.Raw)
	}
	f.Add([]byte("Subject: x\n\nhttp://[::1]:80@ http://0x7f.1/ www. a.top/ Pаypal"))
	s := spamrun.NewBuiltinScorer()
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := spamrun.ParseMessage(raw, "site@example.com", []string{"rcpt@example.net"})
		if err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, score(t, s, m))
		// The same bytes as every part, unparsed, reach the tokeniser and
		// the HTML scanner without what enmime cleans up.
		checkInvariants(t, score(t, s, &spamrun.Message{
			Subject: string(raw), Text: string(raw), HTML: string(raw), Raw: raw,
			Attachments: []spamrun.Attachment{{Name: string(raw)}},
		}))
	})
}

func TestCommentNotice(t *testing.T) {
	const notice = "To: owner@blog.example\n" +
		"Subject: [Blog] Please moderate: \"Week one\"\n" +
		"From: WordPress <wordpress@blog.example>\n" +
		"Content-Type: text/plain; charset=UTF-8\n\n" +
		"A new comment on the post \"Week one\" is waiting for your approval\n" +
		"https://blog.example/2026/week-one/\n\n" +
		"Author: Best Casino (IP address: 192.0.2.1)\n" +
		"Email: promo@example.net\n" +
		"URL: https://casino-bonus.top\n" +
		"Comment: \n" +
		"200 free spins, online casino bonus, cheap viagra and cialis online, crypto trading profits https://casino-bonus.top/x https://bit.ly/abc\n\n" +
		"Approve it: https://blog.example/wp-admin/comment.php?action=approve&c=4\n" +
		"Spam it: https://blog.example/wp-admin/comment.php?action=spam&c=4\n" +
		"%s"
	one := []string{"owner@blog.example"}
	site := []string{"blog.example"}
	// A spam run chooses its From domain and links the made-up admin
	// links there: only the site's configured domains are its own.
	fake := strings.NewReplacer("blog.example/wp-admin", "casino-bonus.top/wp-admin", "wordpress@blog.example", "wordpress@casino-bonus.top",
		"https://blog.example/2026", "https://casino-bonus.top/2026").Replace(fmt.Sprintf(notice, ""))
	for _, tt := range []struct {
		name   string
		raw    string
		sender string
		rcpts  []string
		site   []string
		notice bool
	}{
		{"the notice", fmt.Sprintf(notice, ""), "site@blog.example", one, site, true},
		{"the notice, the site's www host", strings.ReplaceAll(fmt.Sprintf(notice, ""), "https://blog.example/", "https://www.blog.example/"), "site@blog.example", one, site, true},
		{"no site domains known", fmt.Sprintf(notice, ""), "site@blog.example", one, nil, false},
		{"to two recipients", fmt.Sprintf(notice, ""), "site@blog.example", []string{"owner@blog.example", "x@example.net"}, site, false},
		{"a link elsewhere after the quote", fmt.Sprintf(notice, "Claim now: https://casino-bonus.top/claim\n"), "site@blog.example", one, site, false},
		{"admin links on another domain", strings.ReplaceAll(fmt.Sprintf(notice, ""), "https://blog.example/wp-admin", "https://evil.example/wp-admin"), "site@blog.example", one, site, false},
		{"no author line", strings.Replace(fmt.Sprintf(notice, ""), "Author:", "Name:", 1), "site@blog.example", one, site, false},
		{"fake notice on the spammer's From domain", fake, "wordpress@casino-bonus.top", one, site, false},
	} {
		m, err := spamrun.ParseMessage([]byte(tt.raw), tt.sender, tt.rcpts)
		if err != nil {
			t.Fatal(err)
		}
		m.SiteDomains = tt.site
		sc := score(t, spamrun.NewBuiltinScorer(), m)
		checkInvariants(t, sc)
		if sc.Has("WP_COMMENT_NOTICE") != tt.notice {
			t.Errorf("%s: WP_COMMENT_NOTICE %v, want %v: %s", tt.name, !tt.notice, tt.notice, describe(sc))
		}
		if tt.notice && (sc.Value >= 5 || sc.Has("CASINO_WORDS") || sc.Has("URI_SHORTENER")) {
			t.Errorf("%s: the quoted comment was scored: %s", tt.name, describe(sc))
		}
		if !tt.notice && sc.Value < 5 {
			t.Errorf("%s: the same spam, not a notice, scored %s", tt.name, describe(sc))
		}
	}
}
