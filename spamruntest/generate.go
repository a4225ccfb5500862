package spamruntest

import (
	"fmt"
	"strings"
	"time"
)

// The generators make any number of distinct messages for demos, load tests
// and benchmarks. The same arguments always give the same bytes. Parse one
// with Sample{Raw: raw}.Message(tb).

// pick is a deterministic stream of choices for message i of a generator.
type pick struct{ state uint64 }

func newPick(seed string, i int) *pick {
	h := uint64(14695981039346656037)
	for j := 0; j < len(seed); j++ {
		h = (h ^ uint64(seed[j])) * 1099511628211
	}
	return &pick{state: h ^ uint64(i)*0x9E3779B97F4A7C15}
}

// next is splitmix64.
func (p *pick) next() uint64 {
	p.state += 0x9E3779B97F4A7C15
	z := p.state
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func (p *pick) intn(n int) int { return int(p.next() % uint64(n)) }

func (p *pick) of(list []string) string { return list[p.intn(len(list))] }

var (
	firstNames = []string{"Emma", "Daan", "Sophie", "Lucas", "Julia", "Noah", "Mila", "Sem", "Anna", "Thomas", "Laura", "Pieter", "Olivia", "James", "Hannah", "Jonas", "Marie", "Felix", "Clara", "Ruben"}
	lastNames  = []string{"de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "Mulder", "Clarke", "Taylor", "Wright", "Schneider", "Fischer", "Weber", "Martin", "Bernard", "Dubois", "Peeters", "Maes", "Novak", "Horvat"}
	streets    = []string{"Orchard Lane", "Kerkstraat", "Station Road", "Dorpsstraat", "Hauptstraße", "Mill Street", "Lindenlaan", "Rue des Lilas", "Church Road", "Molenweg"}
	cities     = []string{"Utrecht", "Bath", "Leiden", "Freiburg", "York", "Gent", "Zwolle", "Lyon", "Haarlem", "Norwich"}
	products   = []struct {
		name  string
		cents int
	}{
		{"Darjeeling First Flush 100g", 895}, {"Sencha Kyoto Organic 50g", 650},
		{"Glass teapot with infuser 600ml", 1900}, {"Earl Grey Blue Flower 100g", 725},
		{"Rooibos Vanilla 100g", 595}, {"Matcha Ceremonial Grade 30g", 2450},
		{"Stoneware mug, sage green", 1250}, {"Bamboo tea scoop", 395},
		{"Gift box: four seasons", 3400}, {"Loose-leaf filter bags (100)", 450},
		{"Chai Masala 100g", 675}, {"Gunpowder Green 250g", 1150},
	}
	payments = []string{"Credit card (Visa)", "PayPal", "iDEAL", "Bank transfer", "Cash on delivery", "Klarna Pay Later"}
	carriers = []string{"Royal Mail 2nd Class", "PostNL", "DHL Parcel", "DPD Classic", "Local pickup"}
)

// OrderConfirmation returns a legitimate order confirmation from the shop
// at the domain shop, as WooCommerce sends it through PHPMailer: a text and
// an HTML part, with an order number, customer, items and totals that vary
// with i.
func OrderConfirmation(shop string, i int) []byte {
	p := newPick("order:"+shop, i)
	first, last := p.of(firstNames), p.of(lastNames)
	customer := first + " " + last
	email := strings.ToLower(strings.ReplaceAll(first+"."+last, " ", "")) + "@example.net"
	order := 10000 + i
	date := T0.Add(time.Duration(i) * 7 * time.Minute)
	address := fmt.Sprintf("%d %s, %s", 1+p.intn(120), p.of(streets), p.of(cities))
	payment, carrier := p.of(payments), p.of(carriers)

	var lines, rows strings.Builder
	subtotal := 0
	for n := 1 + p.intn(4); n > 0; n-- {
		item := products[p.intn(len(products))]
		qty := 1 + p.intn(3)
		subtotal += qty * item.cents
		fmt.Fprintf(&lines, "%s × %d = €%s\r\n", item.name, qty, euros(qty*item.cents))
		fmt.Fprintf(&rows, "<tr><td>%s</td><td>%d</td><td>&euro;%s</td></tr>\r\n", item.name, qty, euros(qty*item.cents))
	}
	shipping := 395
	if subtotal >= 5000 {
		shipping = 0
	}
	total := subtotal + shipping

	boundary := fmt.Sprintf("b1=_%016x", p.next())
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	w("Return-Path: <shop@%s>", shop)
	w("To: %s <%s>", customer, email)
	w("Subject: Your order #%d has been received!", order)
	w("X-PHP-Originating-Script: 1001:class-wp-phpmailer.php")
	w("Date: %s", date.Format(time.RFC1123Z))
	w("From: %s <shop@%s>", shop, shop)
	w("Reply-To: %s <shop@%s>", shop, shop)
	w("Message-ID: <%016x%08x@%s>", p.next(), order, shop)
	w("X-Mailer: PHPMailer 6.9.1 (https://github.com/PHPMailer/PHPMailer)")
	w("MIME-Version: 1.0")
	w("Content-Type: multipart/alternative;")
	w(" boundary=\"%s\"", boundary)
	w("")
	w("--%s", boundary)
	w("Content-Type: text/plain; charset=UTF-8")
	w("Content-Transfer-Encoding: 8bit")
	w("")
	w("Hi %s,", first)
	w("")
	w("Just to let you know: we've received your order #%d, and it is now being processed.", order)
	w("")
	w("[Order #%d] (%s)", order, date.Format("2 January 2006"))
	w("")
	b.WriteString(lines.String())
	w("")
	w("Subtotal: €%s", euros(subtotal))
	w("Shipping: €%s via %s", euros(shipping), carrier)
	w("Payment method: %s", payment)
	w("Total: €%s", euros(total))
	w("")
	w("Shipping address: %s, %s", customer, address)
	w("")
	w("You can follow your order in your account: https://%s/my-account/view-order/%d/", shop, order)
	w("")
	w("Thanks for shopping with us!")
	w("%s", shop)
	w("")
	w("--%s", boundary)
	w("Content-Type: text/html; charset=UTF-8")
	w("Content-Transfer-Encoding: 8bit")
	w("")
	w("<html><body style=\"font-family:Helvetica,Arial,sans-serif\">")
	w("<h1>Thank you for your order</h1>")
	w("<p>Hi %s,</p><p>Just to let you know: we've received your order #%d, and it is now being processed.</p>", first, order)
	w("<h2><a href=\"https://%s/my-account/view-order/%d/\">[Order #%d]</a> (%s)</h2>", shop, order, order, date.Format("2 January 2006"))
	w("<table cellpadding=\"6\" border=\"1\"><tr><th>Product</th><th>Quantity</th><th>Price</th></tr>")
	b.WriteString(rows.String())
	w("<tr><th colspan=\"2\">Subtotal:</th><td>&euro;%s</td></tr>", euros(subtotal))
	w("<tr><th colspan=\"2\">Shipping:</th><td>&euro;%s via %s</td></tr>", euros(shipping), carrier)
	w("<tr><th colspan=\"2\">Payment method:</th><td>%s</td></tr>", payment)
	w("<tr><th colspan=\"2\">Total:</th><td>&euro;%s</td></tr></table>", euros(total))
	w("<h2>Shipping address</h2><address>%s<br>%s</address>", customer, address)
	w("<p>Thanks for shopping with <a href=\"https://%s/\">%s</a>!</p>", shop, shop)
	w("</body></html>")
	w("")
	w("--%s--", boundary)
	return []byte(b.String())
}

func euros(cents int) string { return fmt.Sprintf("%d.%02d", cents/100, cents%100) }

// spamKit is what one kind of injected guestbook spam is made of.
type spamKit struct {
	lines []string // %s is a link
	words []string // words for link host names
}

var spamKits = []spamKit{
	{ // pharmacy
		lines: []string{
			"cheap viagra online no prescription %s",
			"buy cialis 20mg best price, generic cialis %s",
			"levitra and kamagra from online pharmacy %s",
			"tramadol without prescription, overnight delivery %s",
			"erectile dysfunction pills discreet shipping %s",
		},
		words: []string{"pills", "rx", "pharm", "meds", "health", "cure"},
	},
	{ // casino
		lines: []string{
			"best online casino 2026, 200 free spins no deposit %s",
			"claim your deposit bonus at the new casino %s",
			"play roulette and blackjack live, jackpot every hour %s",
			"slots with free spins and welcome bonus %s",
			"sportsbook and betting odds, bonus code WIN500 %s",
		},
		words: []string{"casino", "spin", "slots", "jackpot", "bet", "royal"},
	},
	{ // crypto investment
		lines: []string{
			"bitcoin trading bot with guaranteed returns %s",
			"passive income from crypto trading, start with $250 %s",
			"investment opportunity: double your bitcoin in 7 days %s",
			"trading platform Elon Musk uses for guaranteed profit %s",
			"financial freedom with the best crypto trading signals %s",
		},
		words: []string{"crypto", "coin", "profit", "invest", "btc", "trade"},
	},
	{ // loans
		lines: []string{
			"payday loans same day, no credit check %s",
			"bad credit loans with guaranteed approval %s",
			"instant approval cash advance up to $5000 %s",
			"fast cash personal loan, low interest %s",
			"quick cash today, payday loan online %s",
		},
		words: []string{"loan", "cash", "credit", "fund", "money", "lend"},
	},
}

var (
	spamTLDs   = []string{"top", "xyz", "click", "icu", "buzz", "com", "ru", "info", "net", "online"}
	spamNames  = []string{"KevinRom", "Jamesbag", "Robertvog", "Davidsob", "Michaelfah", "Thomasexarf", "Williamhoact", "Richardmop"}
	spamCities = []string{"New York", "London", "Moscow", "Lagos", "Berlin", "Paris", "Madrid", "Dubai"}
	// victims are the addresses a spammer types into a form's e-mail field:
	// strangers at large providers and small businesses alike.
	victimUsers   = []string{"j.smith", "maria.k", "info", "sales", "peter1979", "anna.w", "office", "tom.b"}
	victimDomains = []string{"example.com", "example.net", "example.org", "mail.example", "inbox.example", "office.example"}
)

// GuestbookSpam returns the spam that an abused guestbook or contact form
// of site sends: the site's own fixed "copy of your entry" template, to a
// stranger whose address the spammer typed in, with injected pharmacy,
// casino, crypto or loan text and links that vary with i.
func GuestbookSpam(site string, i int) []byte {
	p := newPick("guestbook:"+site, i)
	kit := spamKits[i%len(spamKits)]
	date := T0.Add(time.Duration(i) * 90 * time.Second)
	id := 2000 + i

	link := func() string {
		host := fmt.Sprintf("%s-%s%d.%s", p.of(kit.words), p.of(kit.words), p.intn(100), p.of(spamTLDs))
		return fmt.Sprintf("http://%s/%s", host, p.of([]string{"", "order", "bonus", "apply", "go?id=" + fmt.Sprint(p.intn(9999))}))
	}
	website := link()
	var msg strings.Builder
	n := 3 + p.intn(3)
	start := p.intn(len(kit.lines))
	for j := 0; j < n; j++ {
		fmt.Fprintf(&msg, kit.lines[(start+j)%len(kit.lines)]+"\n", link())
	}

	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	// The guestbook mails "a copy of your entry" to the address the poster
	// typed, so the spammer types a victim's address and the spam text.
	w("To: %s%d@%s", p.of(victimUsers), p.intn(1000), p.of(victimDomains))
	w("Subject: Thank you for signing the guestbook of %s", site)
	w("X-PHP-Originating-Script: 1008:guestbook.php")
	w("From: Guestbook <noreply@%s>", site)
	w("Content-Type: text/plain; charset=UTF-8")
	w("Content-Transfer-Encoding: 8bit")
	w("")
	w("Thank you for signing our guestbook! This is a copy of your entry.")
	w("")
	w("Name: %s", p.of(spamNames))
	w("Location: %s", p.of(spamCities))
	w("Website: %s", website)
	w("Date: %s", date.Format("02-01-2006 15:04"))
	w("")
	w("Message:")
	b.WriteString(msg.String())
	w("")
	w("See all entries: https://%s/guestbook/?page=1#entry-%d", site, id)
	return []byte(b.String())
}
