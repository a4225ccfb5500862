package main

import (
	"fmt"
	"strings"
	"time"
)

// message is one mail() call of the shop: what PHP hands sendmail.
type message struct {
	kind   string // kindOrder or kindSpam
	n      int    // the order number, or the guestbook entry's number in the run
	sender string // the -f argument
	to     string // the one recipient, unique in the demo
	raw    []byte
}

const (
	kindOrder = "order"
	kindSpam  = "guestbook"
)

func (m message) label() string {
	if m.kind == kindOrder {
		return fmt.Sprintf("order #%d", m.n)
	}
	return fmt.Sprintf("guestbook entry %d", m.n)
}

var (
	customers = []string{"Emma Jansen", "Lucas Bakker", "Sophie Visser", "Noah Clarke", "Julia Meijer", "Felix Weber",
		"Anna Dubois", "Thomas Wright", "Mila de Vries", "Ruben Peeters", "Clara Novak", "Pieter Smit", "Hannah Maes", "Jonas Fischer"}
	products = []struct {
		name  string
		cents int
	}{
		{"Darjeeling First Flush 100g", 895}, {"Sencha Kyoto Organic 50g", 650}, {"Glass teapot with infuser 600ml", 1900},
		{"Earl Grey Blue Flower 100g", 725}, {"Rooibos Vanilla 100g", 595}, {"Stoneware mug, sage green", 1250},
		{"Gift box: four seasons", 3400},
	}
	carriers = []string{"PostNL", "DHL Parcel", "DPD Classic"}
)

// orderConfirmation is the shop's confirmation of order n, for the i-th
// customer, as a WooCommerce shop sends it through mail().
func orderConfirmation(i, n int, uid int, now time.Time) message {
	name := customers[i%len(customers)]
	first := strings.Fields(name)[0]
	to := strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@example.net"
	var items strings.Builder
	total := 0
	for j := range 1 + i%3 {
		p := products[(i*3+j)%len(products)]
		qty := 1 + (i+j)%2
		total += qty * p.cents
		fmt.Fprintf(&items, "  %d x %-34s EUR %6s\n", qty, p.name, euros(qty*p.cents))
	}
	shipping := 395
	total += shipping
	body := fmt.Sprintf(`Hi %s,

Thank you for your order. We have received it and will ship it within two
working days.

Order #%d, placed %s
%s  %-38s EUR %6s
  %-38s EUR %6s

You can follow your order in your account:
https://shop1.example/my-account/view-order/%d/

Kind regards,
Shop One, Kerkstraat 12, Utrecht
`, first, n, now.Format("2 January 2006"), items.String(), "Shipping ("+carriers[i%len(carriers)]+")", euros(shipping), "Total", euros(total), n)
	header := fmt.Sprintf("To: %s <%s>\nSubject: Your order #%d at Shop One\nFrom: Shop One <%s>\n"+
		"Date: %s\nMessage-ID: <order-%d@shop1.example>\nX-PHP-Originating-Script: %d:class-wc-emails.php\n"+
		"MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n",
		name, to, n, orderSender, now.Format(time.RFC1123Z), n, uid)
	return message{kind: kindOrder, n: n, sender: orderSender, to: to, raw: []byte(header + body)}
}

func euros(cents int) string { return fmt.Sprintf("%d.%02d", cents/100, cents%100) }

var (
	spamLines = [][]string{
		{"cheap viagra online no prescription %s", "buy cialis 20mg best price, generic cialis %s", "erectile dysfunction pills discreet shipping %s"},
		{"best online casino 2026, 200 free spins no deposit %s", "claim your deposit bonus at the new casino %s", "slots with free spins and welcome bonus %s"},
		{"bitcoin trading bot with guaranteed returns %s", "passive income from crypto trading, start with $250 %s", "double your bitcoin in 7 days %s"},
		{"payday loans same day, no credit check %s", "bad credit loans with guaranteed approval %s", "instant approval cash advance up to $5000 %s"},
	}
	spamHosts   = [][]string{{"pills", "rx", "meds"}, {"casino", "spin", "slots"}, {"crypto", "coin", "profit"}, {"loan", "cash", "credit"}}
	spamTLDs    = []string{"top", "xyz", "click", "icu", "buzz"}
	spamNames   = []string{"KevinRom", "Jamesbag", "Robertvog", "Davidsob", "Michaelfah", "Thomasexarf"}
	victimUsers = []string{"j.smith", "maria.k", "info", "sales", "peter", "anna.w", "office", "tom.b"}
	victimHosts = []string{"example.com", "example.org", "inbox.example", "office.example"}
)

// guestbookSpam is entry n of the spam run: the guestbook mails "a copy of
// your entry" to whatever address the poster typed, so the spammer types a
// stranger's address and pharmacy, casino, crypto or loan links. sender is
// the -f the script passes, and its From: field.
func guestbookSpam(n int, sender string, uid int) message {
	kit := n % len(spamLines)
	link := func(j int) string {
		hosts := spamHosts[kit]
		return fmt.Sprintf("http://%s-%s%d.%s/", hosts[j%3], hosts[(j+1)%3], n*7+j, spamTLDs[(n+j)%len(spamTLDs)])
	}
	to := fmt.Sprintf("%s%d@%s", victimUsers[n%len(victimUsers)], 100+n, victimHosts[n%len(victimHosts)])
	var text strings.Builder
	for j, l := range spamLines[kit] {
		fmt.Fprintf(&text, l+"\n", link(j+1))
	}
	raw := fmt.Sprintf(`To: %s
Subject: Thank you for signing the guestbook of Shop One
From: Shop One guestbook <%s>
X-PHP-Originating-Script: %d:guestbook.php
Content-Type: text/plain; charset=UTF-8

Thank you for signing our guestbook! This is a copy of your entry.

Name: %s
Website: %s

Message:
%s
See all entries: https://shop1.example/guestbook/#entry-%d
`, to, sender, uid, spamNames[n%len(spamNames)], link(0), text.String(), 2000+n)
	return message{kind: kindSpam, n: n, sender: sender, to: to, raw: []byte(raw)}
}
