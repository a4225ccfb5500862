package spamruntest

import (
	"fmt"
	"strings"
	"time"
)

// Businesses that send newsletters from their websites. Each has its own
// trade, goods and events, so that generated newsletters differ in words as
// real ones do, not only in names and numbers.
var businesses = []struct {
	name, trade string
	goods       []string
	events      []string
}{
	{"Leaf & Kettle", "tea shop", []string{"Assam breakfast blend", "white peony tea", "cast iron teapot", "oolong tasting set", "honey from the Veluwe"}, []string{"tea tasting evening", "workshop: brewing green tea"}},
	{"Spoke & Chain", "bicycle shop", []string{"city bike with hub gears", "LED light set", "waterproof panniers", "e-bike battery service", "kids' balance bike"}, []string{"free safety check day", "group ride on Sunday"}},
	{"Boekhandel De Zolder", "bookshop", []string{"signed first edition", "children's picture books", "travel guides for Portugal", "reading lamp", "gift voucher"}, []string{"author reading", "book club meeting"}},
	{"Crumb Bakery", "bakery", []string{"sourdough loaf", "cinnamon buns", "spelt bread", "birthday cake to order", "Christmas stollen"}, []string{"baking class for children", "open kitchen morning"}},
	{"Northwind Outdoor", "outdoor shop", []string{"merino base layer", "two-person tent", "hiking boots", "down sleeping bag", "trekking poles"}, []string{"navigation course", "repair café"}},
	{"Studio Vinyl", "record shop", []string{"jazz reissues", "turntable cartridge", "record cleaning kit", "local band's new LP", "second-hand soul records"}, []string{"record fair", "in-store gig"}},
	{"Greenhouse Garden Centre", "garden centre", []string{"spring bulbs", "olive tree in pot", "organic compost", "pruning shears", "bird feeders"}, []string{"pruning demonstration", "plant swap"}},
	{"Pixelwerk", "software company", []string{"version 4.2 of the desktop app", "team plan", "API for invoices", "mobile app update", "new integrations"}, []string{"webinar: automating your invoices", "user meetup"}},
	{"Hotel Zeezicht", "seaside hotel", []string{"weekend arrangement", "breakfast buffet", "sea-view room", "bicycle rental", "wellness package"}, []string{"New Year's dinner", "wine evening"}},
	{"Theater De Kroon", "theatre", []string{"season tickets", "matinee performances", "gift cards", "backstage tour", "family show"}, []string{"premiere of the new play", "open rehearsal"}},
	{"FC Rijnvogels", "football club", []string{"new home shirt", "youth training kit", "season pass", "club scarf", "canteen vouchers"}, []string{"members' meeting", "youth tournament"}},
	{"Yoga Studio Ananda", "yoga studio", []string{"ten-class card", "beginners' course", "yoga mats", "meditation cushion", "online classes"}, []string{"weekend retreat", "workshop on breathing"}},
}

var (
	newsletterOpenings = []string{
		"Dear %s,", "Hello %s,", "Hi %s,", "Good morning %s,", "Dear customer,", "Dear members,",
	}
	newsletterIntros = []string{
		"Autumn has arrived, and so have a few new things at our %s.",
		"This month we have news from the %s, and a few dates for your diary.",
		"Thank you for another year with us. Here is what is new at the %s.",
		"It has been a busy few weeks in the %s; here is a short update.",
		"Our %s turns ten this year, and we want to celebrate with you.",
		"A quick note from the %s with our plans for the coming weeks.",
	}
	newsletterOffers = []string{
		"Members get %d%% off everything until Sunday with the code %s.",
		"Free delivery on orders over €%d this week; use code %s at checkout.",
		"Our end-of-season sale has started: up to %d%% off selected items (code %s for an extra discount).",
		"Bring a friend and you both get %d%% off your next visit. Mention code %s.",
		"Loyalty card holders collect double points this month, and code %s gives %d%% off.",
	}
	newsletterClosers = []string{
		"We hope to see you soon.", "Thank you for your support.", "See you in the shop!",
		"Questions? Just reply to this email.", "Kind regards from the whole team.",
	}
	openingHours = []string{
		"Opening hours: Tuesday to Saturday 9:00–18:00, Sunday 12:00–17:00.",
		"We are closed on public holidays; the web shop is open as always.",
		"From next month we open on Mondays too, from 13:00.",
	}
	codes = []string{"AUTUMN15", "WELCOME10", "FRIENDS", "SPRING20", "THANKYOU", "MEMBERS24", "CLUB5"}
)

// ShopNewsletter returns a legitimate newsletter from a small business's
// website at the domain shop: news, products, an event, an offer with a
// discount code, and an unsubscribe link on the business's own domain,
// as a text and an HTML part. Newsletters are the legitimate mail that
// looks most like spam; a scorer must let them through.
func ShopNewsletter(shop string, i int) []byte {
	p := newPick("newsletter", i)
	b := businesses[p.intn(len(businesses))]
	first, last := p.of(firstNames), p.of(lastNames)
	to := strings.ToLower(strings.ReplaceAll(first+"."+last, " ", "")) + "@example.net"
	date := time.Date(2026, time.Month(1+p.intn(12)), 1+p.intn(28), 9, p.intn(60), 0, 0, time.UTC)
	var text strings.Builder
	text.WriteString(strings.Replace(p.of(newsletterOpenings), "%s", first, 1) + "\n\n")
	fmt.Fprintf(&text, p.of(newsletterIntros)+"\n\n", b.trade)
	goods := append([]string(nil), b.goods...)
	for range 2 + p.intn(3) {
		k := p.intn(len(goods))
		g := goods[k]
		goods = append(goods[:k], goods[k+1:]...)
		fmt.Fprintf(&text, "* New: %s, from €%s. https://%s/shop/%s\n", g, euros(500+p.intn(20000)), shop, slug(g))
	}
	ev := p.of(b.events)
	fmt.Fprintf(&text, "\nSave the date: %s on %s at 19:30. Places are limited, so please sign up at https://%s/events.\n\n",
		ev, date.AddDate(0, 0, 7+p.intn(30)).Format("Monday 2 January"), shop)
	code := p.of(codes)
	offer := p.of(newsletterOffers)
	switch {
	case strings.Index(offer, "%d") < strings.Index(offer, "%s"):
		fmt.Fprintf(&text, offer+"\n\n", 5+5*p.intn(6), code)
	default:
		fmt.Fprintf(&text, offer+"\n\n", code, 5+5*p.intn(6))
	}
	fmt.Fprintf(&text, "%s\n\n%s\n%s\n\n", p.of(openingHours), p.of(newsletterClosers), b.name)
	fmt.Fprintf(&text, "-- \n%s, %d %s, %s\nYou receive this newsletter because you signed up at %s.\nUnsubscribe: https://%s/newsletter/unsubscribe?id=%d\n",
		b.name, 1+p.intn(120), p.of(streets), p.of(cities), shop, shop, 100000+i)

	var html strings.Builder
	html.WriteString("<!DOCTYPE html><html><body style=\"font-family:Arial,sans-serif;background:#f4f4f4\">\n<table width=\"600\" align=\"center\" style=\"background:#ffffff\">\n")
	fmt.Fprintf(&html, "<tr><td><img src=\"https://%s/img/logo.png\" alt=\"%s\" width=\"200\"></td></tr>\n", shop, b.name)
	for line := range strings.SplitSeq(strings.TrimSpace(text.String()), "\n") {
		if line == "" || line == "-- " {
			continue
		}
		fmt.Fprintf(&html, "<tr><td><p>%s</p></td></tr>\n", linkify(htmlEscape(line)))
	}
	html.WriteString("</table></body></html>\n")

	subjects := []string{
		"News from " + b.name, b.name + ": " + ev, "Our " + date.Month().String() + " newsletter",
		"New at " + b.name + " and a discount for you", "Save the date: " + ev,
	}
	return multipartAlternative(headers{
		from: fmt.Sprintf("%s <newsletter@%s>", b.name, shop), to: to, subject: p.of(subjects),
		date: date, id: fmt.Sprintf("<nl-%d@%s>", i, shop), mailer: "PHPMailer 6.9.1 (https://github.com/PHPMailer/PHPMailer)",
		extra: fmt.Sprintf("List-Unsubscribe: <https://%s/newsletter/unsubscribe?id=%d>\n", shop, 100000+i),
	}, text.String(), html.String(), fmt.Sprintf("nl%08x", p.next()))
}

// accountNotices are the messages a site sends one user about their
// account: each with a subject, a text with %[1]s the user's first name,
// %[2]s the site and %[3]s a link token, and the link's path.
var accountNotices = []struct{ subject, text, path string }{
	{"Reset your password", "Hi %[1]s,\n\nSomeone asked to reset the password of your account at %[2]s. If that was you, choose a new password here; the link works for one hour:\n\n  https://%[2]s/account/reset?token=%[3]s\n\nIf you did not ask for this, you can ignore this email: your password stays as it is.\n", "/account/reset"},
	{"Please confirm your email address", "Welcome %[1]s!\n\nThanks for creating an account at %[2]s. Please confirm your email address by opening this link:\n\n  https://%[2]s/account/verify?token=%[3]s\n\nYou will not get any newsletters unless you ask for them.\n", "/account/verify"},
	{"Your booking is confirmed", "Dear %[1]s,\n\nThank you for your booking. We look forward to seeing you. You can view, change or cancel the booking up to 24 hours in advance:\n\n  https://%[2]s/bookings/%[3]s\n\nPlease let us know about allergies or wheelchair access by replying to this email.\n", "/bookings"},
	{"Your order has been shipped", "Hello %[1]s,\n\nGood news: your order has left our warehouse and is on its way. Track the parcel here:\n\n  https://%[2]s/orders/track/%[3]s\n\nDelivery usually takes one to three working days. Not home? The carrier leaves a card.\n", "/orders/track"},
	{"Your invoice is ready", "Dear %[1]s,\n\nYour invoice for this month is ready. The amount will be collected by direct debit in five working days. Download the PDF from your account:\n\n  https://%[2]s/invoices/%[3]s\n\nQuestions about the invoice? Reply to this email and we will help.\n", "/invoices"},
	{"Your verification code", "Hi %[1]s,\n\nYour sign-in code for %[2]s is %[3]s. It expires in 10 minutes. Never share this code with anyone; we will never ask for it by phone.\n", ""},
	{"Reminder: your appointment tomorrow", "Dear %[1]s,\n\nThis is a reminder of your appointment tomorrow. Please arrive five minutes early. Need to reschedule? Use this link:\n\n  https://%[2]s/appointments/%[3]s\n\nSee you tomorrow!\n", "/appointments"},
	{"Your membership renews next month", "Dear %[1]s,\n\nYour membership renews automatically next month. Nothing changes unless you want it to; manage your membership here:\n\n  https://%[2]s/membership/%[3]s\n\nThank you for being a member.\n", "/membership"},
}

// AccountNotice returns a legitimate message about one user's account from
// the site at the domain site: a password reset, an address confirmation,
// a booking, a shipping notice, an invoice, a sign-in code, a reminder or a
// renewal, text only, as plain PHP mail() scripts and many plugins send it.
func AccountNotice(site string, i int) []byte {
	p := newPick("account", i)
	n := accountNotices[p.intn(len(accountNotices))]
	first, last := p.of(firstNames), p.of(lastNames)
	token := fmt.Sprintf("%016x", p.next())
	if n.path == "" {
		token = fmt.Sprintf("%06d", p.intn(1000000))
	}
	text := fmt.Sprintf(n.text, first, site, token)
	text += fmt.Sprintf("\n-- \n%s\nhttps://%s\n", siteName(site), site)
	date := time.Date(2026, time.Month(1+p.intn(12)), 1+p.intn(28), p.intn(24), p.intn(60), 0, 0, time.UTC)
	to := strings.ToLower(strings.ReplaceAll(first+"."+last, " ", "")) + "@example.org"
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s <no-reply@%s>\nTo: %s %s <%s>\nSubject: %s\nDate: %s\n", siteName(site), site, first, last, to, n.subject, date.Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n")
	b.WriteString(text)
	return []byte(b.String())
}

type headers struct {
	from, to, subject, id, mailer, extra string
	date                                 time.Time
}

func multipartAlternative(h headers, text, html, boundary string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\nTo: %s\nSubject: %s\nDate: %s\nMessage-ID: %s\nX-Mailer: %s\n%sMIME-Version: 1.0\n",
		h.from, h.to, h.subject, h.date.Format(time.RFC1123Z), h.id, h.mailer, h.extra)
	fmt.Fprintf(&b, "Content-Type: multipart/alternative; boundary=\"%s\"\n\n", boundary)
	fmt.Fprintf(&b, "--%s\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n%s\n", boundary, text)
	fmt.Fprintf(&b, "--%s\nContent-Type: text/html; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n%s\n", boundary, html)
	fmt.Fprintf(&b, "--%s--\n", boundary)
	return []byte(b.String())
}

func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// siteName makes a display name of a domain: "bakery-crumb.example" gives
// "Bakery Crumb".
func siteName(domain string) string {
	label, _, _ := strings.Cut(domain, ".")
	words := strings.FieldsFunc(label, func(r rune) bool { return r == '-' || r == '_' })
	for k, w := range words {
		words[k] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(words, " ")
}

// htmlEscape escapes text for an HTML paragraph; apostrophes stay as
// they are, as shop software writes them.
var htmlEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace

// linkify turns the URLs of an escaped line into anchors.
func linkify(s string) string {
	fields := strings.Fields(s)
	for k, f := range fields {
		url := strings.TrimRight(f, ".,")
		if strings.HasPrefix(url, "https://") {
			fields[k] = strings.Replace(f, url, fmt.Sprintf("<a href=\"%s\">%s</a>", url, url), 1)
		}
	}
	return strings.Join(fields, " ")
}
