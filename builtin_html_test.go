package spamrun_test

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/spamrun/spamrun"
)

// wooOrder is an order confirmation as WooCommerce's HTML template sends
// it: a style sheet, a hidden preheader, white text on coloured buttons,
// a table of products with SKUs, and links to the shop, its payment
// provider and its social pages.
const wooOrder = `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8"><title>Your Tea House order has been received!</title>
<style type="text/css">
#wrapper { background-color: #f7f7f7; margin: 0; padding: 70px 0; }
#template_header { background-color: #7f54b3; color: #ffffff; }
.button { background-color: #7f54b3; color: #ffffff !important; }
.preheader { display: none !important; }
@font-face { font-family: "Shop"; src: url("https://shop1.example/wp-content/fonts/shop.woff2"); }
</style></head>
<body leftmargin="0" marginwidth="0" topmargin="0" marginheight="0" offset="0">
<span class="preheader" style="display:none;font-size:1px;color:#f7f7f7;max-height:0;overflow:hidden">Thanks for your order #10452 — we are getting it ready.</span>
<div id="wrapper" dir="ltr">
<table border="0" cellpadding="0" cellspacing="0" height="100%" width="100%"><tr><td align="center" valign="top">
<div id="template_header_image"><p style="margin-top:0;"><img src="https://shop1.example/wp-content/uploads/2026/03/logo.png" alt="Tea House" style="border:none;display:inline-block;font-size:14px;font-weight:bold;height:auto;outline:none;text-decoration:none;text-transform:capitalize;vertical-align:middle;max-width:100%;margin-left:0;margin-right:0;" border="0"></p></div>
<table border="0" cellpadding="0" cellspacing="0" width="600" id="template_container" style="background-color:#ffffff;border:1px solid #dedede;border-radius:3px">
<tr><td align="center" valign="top" id="template_header" bgcolor="#7f54b3" style="color:#ffffff">
<h1 style="font-family:&quot;Helvetica Neue&quot;,Helvetica,Roboto,Arial,sans-serif;font-size:30px;font-weight:300;color:#ffffff;background-color:inherit">Thank you for your order</h1>
</td></tr>
<tr><td align="left" valign="top" style="padding:48px 48px 32px;color:#636363">
<p style="margin:0 0 16px">Hi Anna,</p>
<p style="margin:0 0 16px">Just to let you know &#8212; we&#8217;ve received your order #10452, and it is now being processed:</p>
<p style="margin:0 0 16px">Pay with cash upon delivery.</p>
<h2 style="color:#7f54b3;display:block;font-size:18px;font-weight:bold;margin:0 0 18px">[Order #10452] (5 November 2026)</h2>
<table class="td" cellspacing="0" cellpadding="6" border="1" style="color:#636363;border:1px solid #e5e5e5;vertical-align:middle;width:100%">
<thead><tr><th class="td" scope="col" style="text-align:left">Product</th><th class="td" scope="col">Quantity</th><th class="td" scope="col">Price</th></tr></thead>
<tbody>
<tr class="order_item"><td class="td">Sencha 4you sampler (#TS-4411-B)</td><td class="td">2</td><td class="td"><span class="woocommerce-Price-amount amount">&euro;&nbsp;24,90</span></td></tr>
<tr class="order_item"><td class="td">Matcha whisk <small>(#BX7E3)</small></td><td class="td">1</td><td class="td"><span class="woocommerce-Price-amount amount">&euro;&nbsp;12,50</span></td></tr>
<tr class="order_item"><td class="td">Gift card code A1B3-C4D5</td><td class="td">1</td><td class="td"><span>&euro;&nbsp;25,00</span></td></tr>
</tbody>
<tfoot><tr><th class="td" scope="row" colspan="2">Subtotal:</th><td class="td">&euro;&nbsp;62,40</td></tr>
<tr><th class="td" scope="row" colspan="2">Shipping:</th><td class="td">PostNL &euro;&nbsp;4,95</td></tr>
<tr><th class="td" scope="row" colspan="2">Total:</th><td class="td">&euro;&nbsp;67,35</td></tr></tfoot>
</table>
<p style="margin:16px 0">Your login code for the app is 739104.</p>
<table cellspacing="0" cellpadding="0"><tr><td bgcolor="#ffffff" align="center">
<a class="button" href="https://shop1.example/my-account/view-order/10452/" style="color:#ffffff;background-color:#7f54b3;padding:12px 24px;text-decoration:none">View your order</a>
</td></tr></table>
<h2 style="color:#7f54b3">Billing address</h2>
<address class="address">Anna de Vries<br>Kerkstraat 12<br>1017 GC Amsterdam<br><a href="tel:+31201234567">+31 20 123 4567</a><br>anna@example.net</address>
<p style="margin:16px 0">Thanks for shopping with us.</p>
</td></tr></table>
<table border="0" cellpadding="10" cellspacing="0" width="600" id="template_footer"><tr><td valign="top">
<p style="text-align:center">
<a href="https://www.facebook.com/teahouse.example"><img src="https://shop1.example/wp-content/uploads/fb.png" alt="Facebook" width="24"></a>
<a href="https://www.instagram.com/teahouse.example"><img src="https://shop1.example/wp-content/uploads/ig.png" alt="Instagram" width="24"></a></p>
<p style="text-align:center;color:#8a8a8a;font-size:12px">Tea House &mdash; Built with <a href="https://woocommerce.com" style="color:#7f54b3">WooCommerce</a>, the e-commerce platform for WordPress.</p>
</td></tr></table>
</td></tr></table></div></body></html>
`

// newsletter is a shop's monthly newsletter with both alternatives: two
// dozen links to its own pages, images on a CDN, a partner's blog, and its
// social pages.
func newsletter() (text, html string) {
	var t, h strings.Builder
	h.WriteString(`<html><head><style>a{color:#2a6ebb} .hide{display:none}</style></head><body style="background:#eeeeee">` +
		`<div style="display:none;max-height:0;overflow:hidden">Autumn teas, a tasting evening and a new blog.</div>` +
		`<p style="font-size:11px"><a href="https://shop1.example/newsletter/2026-11/">View this email in your browser</a></p>` +
		`<table width="600" bgcolor="#ffffff"><tr><td><img src="https://cdn.shopimages.example.net/shop1/header-autumn.jpg" alt="Autumn at Tea House" width="600"></td></tr>`)
	t.WriteString("View this email in your browser: https://shop1.example/newsletter/2026-11/\n\nAutumn at Tea House\n\n")
	for i, p := range []string{"Darjeeling first flush", "Assam breakfast", "Genmaicha", "Rooibos vanilla", "Earl Grey blue flower",
		"Chai spice", "Oolong milk", "Jasmine pearls", "Lapsang souchong", "Peppermint", "Hojicha", "White peony"} {
		fmt.Fprintf(&h, `<tr><td style="padding:12px"><a href="https://shop1.example/product/%d/"><img src="https://cdn.shopimages.example.net/shop1/p%d.jpg" alt="%s" width="160"></a>`+
			`<h3 style="margin:0">%s</h3><p>New this season, from &euro;&nbsp;%d,50. <a href="https://shop1.example/product/%d/" style="color:#ffffff;background-color:#2a6ebb;padding:6px">Shop now</a></p></td></tr>`, i, i, p, p, 6+i, i)
		fmt.Fprintf(&t, "%s\nNew this season, from € %d,50. Shop now: https://shop1.example/product/%d/\n\n", p, 6+i, i)
	}
	h.WriteString(`<tr><td><h2>Tasting evening</h2><p>Join us on 20 November for a tasting of twelve teas. <a href="https://shop1.example/events/tasting/">Reserve a seat</a>.</p>` +
		`<p>Read the story of our Darjeeling growers on <a href="https://www.teablog.example.org/darjeeling-2026">the Tea Blog</a> and watch the harvest on <a href="https://www.youtube.com/watch?v=abc123">YouTube</a>.</p>` +
		`<p>Earn double loyalty points on every order this month.</p></td></tr>` +
		`<tr><td style="text-align:center;color:#888888;font-size:12px"><a href="https://www.facebook.com/teahouse.example">Facebook</a> | <a href="https://www.instagram.com/teahouse.example">Instagram</a> | <a href="https://www.pinterest.com/teahouse.example">Pinterest</a><br>` +
		`Tea House, Kerkstraat 12, 1017 GC Amsterdam<br>You receive this because you subscribed at shop1.example. <a href="https://shop1.example/newsletter/unsubscribe?u=8841">Unsubscribe</a> | <a href="https://shop1.example/privacy/">Privacy</a></td></tr></table></body></html>`)
	t.WriteString("Tasting evening\nJoin us on 20 November for a tasting of twelve teas. Reserve a seat: https://shop1.example/events/tasting/\n" +
		"Read the story of our Darjeeling growers on the Tea Blog: https://www.teablog.example.org/darjeeling-2026 and watch the harvest on YouTube: https://www.youtube.com/watch?v=abc123\n" +
		"Earn double loyalty points on every order this month.\n\nFacebook | Instagram | Pinterest\nTea House, Kerkstraat 12, 1017 GC Amsterdam\n" +
		"You receive this because you subscribed at shop1.example. Unsubscribe: https://shop1.example/newsletter/unsubscribe?u=8841\n")
	return t.String(), h.String()
}

// TestBuiltinHTMLShopMail scores a shop's HTML mail: it must stay low,
// whether sent as HTML alone or with a text alternative.
func TestBuiltinHTMLShopMail(t *testing.T) {
	const want = 3.0
	text, html := newsletter()
	for name, msg := range map[string]func(testing.TB) *spamrun.Message{
		"WooCommerce order": func(tb testing.TB) *spamrun.Message {
			return build(tb, "Subject: Your Tea House order has been received!\nContent-Type: text/html; charset=utf-8", wooOrder)
		},
		"newsletter": func(tb testing.TB) *spamrun.Message {
			return build(tb, "Subject: Autumn at Tea House\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"ALT\"",
				"--ALT\nContent-Type: text/plain; charset=utf-8\n\n"+text+"\n--ALT\nContent-Type: text/html; charset=utf-8\n\n"+html+"\n--ALT--\n")
		},
		"newsletter, HTML only": func(tb testing.TB) *spamrun.Message {
			return build(tb, "Subject: Autumn at Tea House\nContent-Type: text/html; charset=utf-8", html)
		},
	} {
		t.Run(name, func(t *testing.T) {
			for _, rulesOnly := range []bool{false, true} {
				sc := score(t, spamrun.NewBuiltinScorerWithOptions(&spamrun.BuiltinOptions{RulesOnly: rulesOnly}), msg(t))
				checkInvariants(t, sc)
				t.Logf("rules only %v: %s", rulesOnly, describe(sc))
				if sc.Value >= want {
					t.Errorf("rules only %v: scored %s, want < %.1f", rulesOnly, describe(sc), want)
				}
				for _, r := range sc.Rules {
					if r.Points > 0 && !strings.HasPrefix(r.Name, "MISSING_") && r.Name != "TEXT_MODEL" {
						t.Errorf("rule %s fired on shop mail: %s", r.Name, r.Reason)
					}
				}
			}
		})
	}
}

// htmlWords returns the words the scorer reads from an HTML-only message.
func htmlWords(t *testing.T, html string) []string {
	t.Helper()
	fm := &fakeModel{p: 0.5}
	s := spamrun.NewBuiltinScorerWithOptions(&spamrun.BuiltinOptions{TextModel: fm})
	score(t, s, &spamrun.Message{HTML: html})
	return fm.words
}

// TestBuiltinHTMLWords checks which of an HTML body's words the scan
// reads, and how elements join or separate them.
func TestBuiltinHTMLWords(t *testing.T) {
	tests := []struct {
		name      string
		html      string
		want, not []string
	}{
		{"inline elements join letters", `<p>V<b></b>i<span style="color:red">ag</span><font>ra</font> and c<i>i</i>al<a href="#">is</a></p>`,
			[]string{"viagra", "cialis"}, []string{"ag", "ra", "al"}},
		{"block elements separate words", `<table><tr><td>fresh</td><td>mint</td></tr></table><p>blue</p><div>berry</div>sun<br>flower`,
			[]string{"fresh", "mint", "blue", "berry", "sun", "flower"}, []string{"freshmint", "blueberry", "sunflower"}},
		{"entities decoded", `<p>ca&#115;ino&nbsp;r&#x6F;yale caf&eacute;</p>`, []string{"casino", "royale", "café"}, nil},
		{"script, style and title are no text", `<html><head><title>secret title</title><style>.x{color:red} hiddenstyle</style></head>` +
			`<body><script>var scriptword = 1;</script><p>shown</p></body></html>`,
			[]string{"shown"}, []string{"secret", "title", "hiddenstyle", "scriptword", "var"}},
		{"hidden content is no text", `<p>shown</p><div style="display:none">hiddenword</div><span hidden>otherhidden</span>`,
			[]string{"shown"}, []string{"hiddenword", "otherhidden"}},
		{"noscript is read as HTML", `<noscript><p>fallback<b>text</b></p></noscript>`, []string{"fallbacktext"}, []string{"p", "b"}},
		{"comments are no text", `<p>shown<!-- commentword --></p>`, []string{"shown"}, []string{"commentword"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			words := htmlWords(t, tt.html)
			for _, w := range tt.want {
				if !slices.Contains(words, w) {
					t.Errorf("%q not read; words: %q", w, words)
				}
			}
			for _, w := range tt.not {
				if slices.Contains(words, w) {
					t.Errorf("%q read; words: %q", w, words)
				}
			}
		})
	}
}

// TestBuiltinHTMLRules crafts HTML for the link and hidden-content rules.
func TestBuiltinHTMLRules(t *testing.T) {
	html := func(body string) func(testing.TB) *spamrun.Message {
		return func(tb testing.TB) *spamrun.Message {
			return build(tb, "Content-Type: text/html; charset=utf-8", body)
		}
	}
	long := strings.Repeat("filler words to poison filters ", 20)
	tests := []struct {
		name string
		rule string
		msg  func(testing.TB) *spamrun.Message
		want bool
	}{
		{"href scheme in an entity", "URI_ODD_TLD", html(`<a href="https&#58;&#47;&#47;deals.top/x">deals</a>`), true},
		{"href split by a line break", "URI_SHORTENER", html("<a href=\"ht\ntps://bit.ly/3abc\">go</a>"), true},
		{"unquoted href", "URI_IP_HOST", html(`<a href=http://192.0.2.7/login>log in</a>`), true},
		{"image source", "URI_ODD_TLD", html(`<img src="https://pix.deals.top/a.png">`), true},
		{"srcset", "URI_ODD_TLD", html(`<img srcset="https://pix.shop1.example/a.png 1x, https://pix.deals.top/a.png 2x">`), true},
		{"CSS url in a style attribute", "URI_ODD_TLD", html(`<td style="background-image:url(&quot;https://pix.deals.top/bg.png&quot;)">x</td>`), true},
		{"CSS url in a style sheet", "URI_ODD_TLD", html(`<style>body{background:url('https://pix.deals.top/bg.png')}</style><p>x</p>`), true},
		{"form action", "URI_IP_HOST", html(`<form action="http://198.51.100.4/post.php"><input name="password"></form>`), true},
		{"relative links are none", "URI_ODD_TLD", html(`<a href="/deals.top/x">deals</a><img src="cid:logo.top">`), false},
		{"anchor text mismatch with entities", "HTML_LINK_TEXT_MISMATCH", html(`<a href="https://evil.example.net/x">www.<b>bank</b>&#46;example.com</a>`), true},
		{"anchor text mismatch behind a > in an attribute", "HTML_LINK_TEXT_MISMATCH", html(`<a title="a>b" href="https://evil.example.net/x">https://www.bank.example.com/</a>`), true},
		{"anchor text with zero-width spaces", "HTML_LINK_TEXT_MISMATCH", html(`<a href="https://evil.example.net/x">www.bank&#8203;.example.com</a>`), true},
		{"anchor text same site", "HTML_LINK_TEXT_MISMATCH", html(`<a href="https://www.shop1.example/o/1"><span>shop1</span>.example</a>`), false},
		{"white on white", "HTML_HIDDEN_TEXT", html(`<p>Hello</p><div style="color:#fff;background-color:#ffffff">` + long + `</div>`), true},
		{"white on an inherited white background", "HTML_HIDDEN_TEXT", html(`<table bgcolor="white"><tr><td><font color="#fefefe">` + long + `</font></td></tr></table>`), true},
		{"white button text on colour", "HTML_HIDDEN_TEXT", html(`<td bgcolor="#7f54b3"><a href="https://partner.example.net/" style="color:#ffffff">` + long + `</a></td>`), false},
		{"white text with a class", "HTML_HIDDEN_TEXT", html(`<td bgcolor="#ffffff"><a class="button" href="https://partner.example.net/" style="color:#ffffff">Shop now</a></td>`), false},
		{"1px font", "HTML_HIDDEN_TEXT", html(`<p>Hello</p><span style="font-size:1px">` + long + `</span>`), true},
		{"hidden attribute with outside links", "HTML_HIDDEN_TEXT", html(`<p>Hello</p><div hidden><a href="https://casino-partner.example.net/">x</a></div>`), true},
		{"zero height, overflow hidden", "HTML_HIDDEN_TEXT", html(`<div style="max-height:0px;overflow:hidden"><a href="https://casino-partner.example.net/">x</a></div>`), true},
		{"opacity zero", "HTML_HIDDEN_TEXT", html(`<div style="opacity:0"><a href="https://casino-partner.example.net/">x</a></div>`), true},
		{"hidden anchor itself", "HTML_HIDDEN_TEXT", html(`<p>Hi</p><a href="https://casino-partner.example.net/" style="display:none">x</a>`), true},
		{"hidden element closed, outside link after", "HTML_HIDDEN_TEXT", html(`<div style="display:none">Preview text</div><p><a href="https://partner.example.net/">partner</a></p>`), false},
		{"full-width brand in a host", "URI_BRAND_LOOKALIKE", html(`<a href="https://ｐａｙｐａｌ-login.example.net/">log in</a>`), true},
		{"full-width brand in the From name", "FROM_BRAND_SPOOF", func(tb testing.TB) *spamrun.Message {
			return build(tb, "From: =?utf-8?b?"+base64.StdEncoding.EncodeToString([]byte("ＰａｙＰａｌ Service"))+"?= <info@shop1.example>", "Hello\n")
		}, true},
		{"hidden image", "HTML_HIDDEN_TEXT", html(`<img src="https://track.example.net/p.gif" style="display:none"><p>Hello</p>`), false},
	}
	s := spamrun.NewBuiltinScorerWithOptions(&spamrun.BuiltinOptions{RulesOnly: true})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := score(t, s, tt.msg(t))
			checkInvariants(t, sc)
			if got := fired(sc, tt.rule); got != tt.want {
				t.Errorf("%s fired: %v, want %v: %s", tt.rule, got, tt.want, describe(sc))
			}
		})
	}
}

// TestBuiltinFolding checks that spellings with digits and look-alike
// letters are read as the spam words they spell, and that codes, order
// numbers and brand names are left as they are.
func TestBuiltinFolding(t *testing.T) {
	fm := &fakeModel{p: 0.5}
	s := spamrun.NewBuiltinScorerWithOptions(&spamrun.BuiltinOptions{TextModel: fm})
	score(t, s, &spamrun.Message{Text: "V1agra c4s1no l0an cr3dit fr33 sp1ns bоnus ｃａｓｉｎｏ 𝐯𝐢𝐚𝐠𝐫𝐚 " +
		"order 10452 SKU TS-4411-B BX7E3 code A1B3 4you 2FA 739104 b2b mp3 h3llo s3x"})
	want := []string{"viagra", "casino", "loan", "credit", "free", "spins", "bonus", "10452", "4411", "bx7e3", "a1b3", "4you", "2fa", "739104", "b2b", "mp3", "h3llo", "s3x"}
	for _, w := range want {
		if !slices.Contains(fm.words, w) {
			t.Errorf("%q not read; words: %q", w, fm.words)
		}
	}
	for _, w := range []string{"v1agra", "c4s1no", "l0an", "fr33", "ｃａｓｉｎｏ", "ayou", "zfa", "hello"} {
		if slices.Contains(fm.words, w) {
			t.Errorf("%q read; words: %q", w, fm.words)
		}
	}
}

// TestBuiltinHTMLAlternativeAddsSpam slips a line of spam into the HTML
// alternative of a long newsletter whose text part is clean: the HTML's
// few new words are still looked up.
func TestBuiltinHTMLAlternativeAddsSpam(t *testing.T) {
	text, html := newsletter()
	html = strings.Replace(html, "<h2>Tasting evening</h2>", "<p>Buy viagra and cialis without prescription at our online pharmacy.</p><h2>Tasting evening</h2>", 1)
	m := build(t, "Subject: Autumn at Tea House\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"ALT\"",
		"--ALT\nContent-Type: text/plain; charset=utf-8\n\n"+text+"\n--ALT\nContent-Type: text/html; charset=utf-8\n\n"+html+"\n--ALT--\n")
	sc := score(t, spamrun.NewBuiltinScorer(), m)
	checkInvariants(t, sc)
	if !fired(sc, "PHARMA_WORDS") {
		t.Errorf("PHARMA_WORDS did not fire: %s", describe(sc))
	}
}
