package spamrun_test

import (
	"context"
	"fmt"

	"github.com/spamrun/spamrun"
)

// A contact form abused to advertise a casino: the site's own notification,
// with the spammer's text and links in the message field.
func ExampleBuiltinScorer() {
	raw := []byte("To: info@site1.example\n" +
		"Subject: New message from your website\n" +
		"X-PHP-Originating-Script: 1001:contact.php\n" +
		"From: website@site1.example\n" +
		"Reply-To: lucky.spins.promo@gmail.com\n" +
		"\n" +
		"Name: Lucky\n" +
		"Message: Best online casino of 2026! 200 free spins, no deposit needed.\n" +
		"Claim your bonus: https://lucky-spins.top/bonus\n" +
		"Live roulette and blackjack: https://roulette-live.xyz/\n")
	msg, err := spamrun.ParseMessage(raw, "site1@web1.example.net", []string{"info@site1.example"})
	if err != nil {
		panic(err)
	}
	score, _ := spamrun.NewBuiltinScorer().Score(context.Background(), msg)
	fmt.Printf("score %.1f, spam: %v\n", score.Value, score.Value >= spamrun.DefaultPolicy().SpamScore)
	for _, r := range score.Top(3) {
		fmt.Printf("%-21s %.1f  %s\n", r.Name, r.Points, r.Reason)
	}
	// Output:
	// score 11.5, spam: true
	// TEXT_MODEL            5.0  text model: spam probability 0.999, at or above 0.97, where it marks spam alone
	// CASINO_WORDS          3.0  gambling words: casino, roulette, blackjack (+3 more)
	// URI_ODD_TLD           1.5  links on cheap, abused TLDs: lucky-spins.top, roulette-live.xyz
}
