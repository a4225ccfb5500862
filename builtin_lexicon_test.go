package spamrun

import (
	"context"
	"strings"
	"testing"
)

func TestWallets(t *testing.T) {
	for _, tc := range []struct {
		text string
		want bool
	}{
		{"send to bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh now", true},
		{"wallet: 1BoatSLRHtKNngkdXEeobR76b53LETtpyT.", true},
		{"3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", true},
		{"0x52908400098527886E0F7030069857D2E4169EE7", true},
		{"order 1234567890123456789012345678 shipped", false},        // digits only
		{"tracking 1ZX9999999999999999999999999 sent", false},        // no lower case
		{"id 3fa85f64-5717-4562-b3fc-2c963f66afa6", false},           // a UUID
		{"bc1 is a product code, bc1qshort too", false},              // too short
		{"hash 0x52908400098527886E0F7030069857D2E4169EE7AA", false}, // too long
	} {
		got := len(appendWallets(nil, tc.text)) > 0
		if got != tc.want {
			t.Errorf("%q: wallet found = %v, want %v", tc.text, got, tc.want)
		}
	}
}

// TestLexiconLanguages checks that each language's vocabulary is found
// in text written in it, including Chinese, Japanese and Korean, which
// are matched inside runs of characters.
func TestLexiconLanguages(t *testing.T) {
	for _, tc := range []struct {
		lang, text, rule string
	}{
		{"it", "Giri gratis e bonus senza deposito al nostro casinò online!", "CASINO_WORDS"},
		{"pt", "Empréstimo rápido, crédito sem consulta, dinheiro rápido hoje.", "LOAN_WORDS"},
		{"pl", "Chwilówki bez BIK, szybka pożyczka bez zaświadczeń.", "LOAN_WORDS"},
		{"tr", "Deneme bonusu ve bedava spin veren canlı casino siteleri.", "CASINO_WORDS"},
		{"uk", "Гарантований дохід та пасивний дохід від інвестицій.", "CRYPTO_INVEST_WORDS"},
		{"ar", "أرباح مضمونة مع منصة تداول العملات الرقمية", "CRYPTO_INVEST_WORDS"},
		{"zh", "我们的网上赌场提供百家乐和老虎机，首存送百分之百", "CASINO_WORDS"},
		{"ja", "オンラインカジノで入金不要ボーナスをゲット", "CASINO_WORDS"},
		{"ko", "무직자대출 당일대출 가능합니다", "LOAN_WORDS"},
		{"en", "I recorded you through your webcam and will send the video to all your contacts. Pay in bitcoin.", "EXTORTION_WORDS"},
		{"de", "Ich habe deine Webcam gehackt und schicke das Video an alle deine Kontakte.", "EXTORTION_WORDS"},
		{"en", "Lonely women near you want to chat with me tonight", "DATING_WORDS"},
		{"en", "Congratulations you won! Claim your reward: a free iPhone, shipping fee only.", "PRIZE_SCAM_WORDS"},
		{"en", "I am a barrister; my late client left unclaimed funds and you are next of kin.", "ADVANCE_FEE_WORDS"},
	} {
		msg := &Message{Subject: "x", Text: tc.text}
		sc, _ := NewBuiltinScorerWithOptions(&BuiltinOptions{RulesOnly: true}).Score(context.Background(), msg)
		found := false
		for _, r := range sc.Rules {
			found = found || r.Name == tc.rule
		}
		if !found {
			t.Errorf("%s: %q: %s did not fire; rules: %v", tc.lang, tc.text, tc.rule, sc.Rules)
		}
	}
}

// TestLexiconLanguagesHam checks that ordinary shop words of the new
// languages stay out of the vocabulary rules.
func TestLexiconLanguagesHam(t *testing.T) {
	for _, text := range []string{
		"Siparişiniz kargoya verildi. Kredi kartı ile ödeme alındı. Teşekkür ederiz!",
		"Zamówienie zostało wysłane przez InPost. Płatność BLIK przyjęta.",
		"ご注文ありがとうございます。ヤマト運輸で発送しました。お届け予定日は明日です。",
		"您的订单已发货，顺丰快递单号见下方。感谢您的购买！",
		"주문하신 상품이 CJ대한통운으로 발송되었습니다. 감사합니다.",
		"تم شحن طلبك عبر أرامكس. شكرا لتسوقك معنا.",
		"Il tuo ordine è stato spedito con Poste Italiane. Grazie per l'acquisto!",
		"Your time slot for the dentist is Monday; please update your profile.",
	} {
		msg := &Message{Subject: "x", Text: text}
		sc, _ := NewBuiltinScorerWithOptions(&BuiltinOptions{RulesOnly: true}).Score(context.Background(), msg)
		for _, r := range sc.Rules {
			if strings.HasSuffix(r.Name, "_WORDS") || r.Name == "SPAM_PHRASES" {
				t.Errorf("%q: %s fired: %s", text, r.Name, r.Reason)
			}
		}
	}
}
