package spamrun

import "slices"

// The vocabulary of outbound form abuse, by category and language.
//
// Each entry is a word or a phrase of up to four words, written as a reader
// would; entries are run through the same tokeniser as message text at init,
// so "sign-in" matches "sign in" and "учётную" matches "учетную". A trailing
// "*" makes a stem that matches any word it begins (for inflected languages;
// at least six bytes). Weights are the points one distinct hit adds to its
// category, before the category's cap. Words that also occur in honest shop
// mail ("bonus", "loan", "bitcoin") weigh less than weakWeight, and all of
// them together add at most weakCap to a category: a crypto exchange or a
// pharmacy uses its trade's words, spam adds the unambiguous phrases.

type category uint8

const (
	weakWeight = 0.5
	weakCap    = 1.0
)

const (
	catPharma category = iota
	catCasino
	catLoan
	catCrypto
	catAdult
	catSEO
	catSpamPhrase
	catPhish
	catPassword // not scored alone: says an attached archive is password protected
	catExtortion
	catDating
	catPrize
	catAdvanceFee
	catReplica
	numCategories
)

// vocabRules names the rule of each scored category, its cap and what the
// reason calls it.
var vocabRules = [numCategories]struct {
	name  string
	cap   float64
	label string
}{
	catPharma:     {"PHARMA_WORDS", 3.0, "pharmacy spam words"},
	catCasino:     {"CASINO_WORDS", 3.0, "gambling words"},
	catLoan:       {"LOAN_WORDS", 2.5, "loan spam words"},
	catCrypto:     {"CRYPTO_INVEST_WORDS", 3.0, "investment scam words"},
	catAdult:      {"ADULT_WORDS", 3.0, "adult words"},
	catSEO:        {"SEO_SPAM_WORDS", 2.5, "SEO spam words"},
	catSpamPhrase: {"SPAM_PHRASES", 1.5, "stock spam phrases"},
	catPhish:      {"PHISH_PHRASES", 3.0, "credential phishing phrases"},
	catPassword:   {"", 0, ""},
	catExtortion:  {"EXTORTION_WORDS", 3.5, "extortion words"},
	catDating:     {"DATING_WORDS", 2.5, "dating spam words"},
	catPrize:      {"PRIZE_SCAM_WORDS", 2.5, "prize and gift-card scam words"},
	catAdvanceFee: {"ADVANCE_FEE_WORDS", 2.5, "advance-fee fraud words"},
	catReplica:    {"REPLICA_WORDS", 2.5, "replica goods words"},
}

type termGroup struct {
	cat    category
	weight float64
	terms  string // "|"-separated
}

// lexiconSource is every term group: these, and those of the other kinds
// and languages in builtin_lexicon.go.
var lexiconSource = slices.Concat(lexiconBase, lexiconKinds, lexiconLanguages)

var lexiconBase = []termGroup{
	// Pharmacy.
	{catPharma, 1.2, "viagra|cialis|levitra|kamagra|vardenafil|propecia|phentermine|xanax|tramadol|valium|ambien|oxycodone|oxycontin|adderall|modafinil|clonazepam|lorazepam"},
	{catPharma, 0.8, "sildenafil|tadalafil|erectile dysfunction|online pharmacy|no prescription|without prescription|without a prescription|cheap pills|diet pills|generic viagra|buy viagra|penis enlargement|male enhancement"},
	{catPharma, 0.4, "pharmacy|pills|meds|erection|weight loss|lose weight|prescription drugs|painkillers|fat burner"},
	{catPharma, 1.0, "zonder recept|erectiepillen|potentiemiddel|potentiemiddelen|afslankpillen|ohne rezept|potenzmittel|potenzpillen|rezeptfrei|schlankheitspillen|sans ordonnance|pharmacie en ligne|sin receta|farmacia online|farmacia sin receta|виагр*|сиалис*|левитр*|без рецепта|потенция|потенции|потенцию|дженерик*"},
	{catPharma, 0.5, "online apotheek|online apotheke|afvallen|abnehmen|perdre du poids|adelgazar|похудени*|похудеть|таблетки|аптека"},

	// Gambling.
	{catCasino, 1.2, "online casino|casino online|free spins|no deposit|deposit bonus|sportsbook|1xbet|gratis spins|online gokken|freispiele|einzahlungsbonus|ohne einzahlung|casino en ligne|tours gratuits|machines à sous|giros gratis|tiradas gratis|tragamonedas|sin depósito|казино онлайн|онлайн казино|игровые автоматы|фриспин*|без депозита|zonder storting|stortingsbonus"},
	{catCasino, 0.7, "casino|casinos|roulette|jackpot|gambling|bookmaker|betting|slot machines|gokken|gokkasten|speelautomaten|welkomstbonus|sportweddenschappen|spielautomaten|sportwetten|glücksspiel|spielothek|paris sportifs|jeux d argent|apuestas|казино|слоты|букмекер*|джекпот|рулетк*|ставки на спорт"},
	{catCasino, 0.3, "poker|blackjack|welcome bonus|wager|wedden|bonus code|bonuscode|wetten|cagnotte|apuesta|бонус|депозит|ставки"},

	// Loans.
	{catLoan, 1.2, "payday loan|payday loans|no credit check|guaranteed approval|bad credit loans|zonder bkr|bkr toetsing|flitskrediet|minilening|snel lenen|ohne schufa|schufafrei|sofortkredit|crédit rapide|sans justificatif|préstamo rápido|préstamos rápidos|crédito rápido|sin aval|микрозайм*|займ|займа|займы|займов|займу|займом|деньги в долг|без отказа|без справок"},
	{catLoan, 0.6, "bad credit|instant approval|cash advance|quick cash|fast cash|get approved|debt consolidation|snel geld|geld lenen|sofortzusage|schnelles geld|rachat de crédit|argent rapide|dinero rápido|быстрые деньги|кредит наличными|плохой кредитной|кредит онлайн"},
	{catLoan, 0.3, "loan|loans|lender|personal loan|low interest|lening|leningen|kredit|kredite|privatkredit|prêt|préstamo|préstamos|кредит|кредиты"},

	// Investment and crypto scams.
	{catCrypto, 1.5, "guaranteed returns|guaranteed profit|guaranteed profits|double your bitcoin|double your money|gegarandeerd rendement|garantierte rendite|garantierte gewinne|rendement garanti|rentabilidad garantizada|гарантированный доход|гарантированная прибыль"},
	{catCrypto, 1.0, "binary options|trading bot|trading platform|crypto trading|investment opportunity|passive income|financial freedom|elon musk|bitcoin profit|crypto profit|passief inkomen|passives einkommen|revenu passif|ingresos pasivos|пассивный доход|инвестиционн*|криптобирж*"},
	{catCrypto, 0.4, "bitcoin|btc|ethereum|usdt|cryptocurrency|crypto|forex|blockchain|invest|investment|investors|profit|profits|rendement|beleggen|krypto|kryptowährung|bitcoins|criptomoneda|criptomonedas|inversión|биткоин*|криптовалют*|инвестиц*|прибыль"},

	// Adult.
	{catAdult, 1.2, "porn|porno|xxx videos|horny|milf|hot singles|sex chat|sexdating|sexdate|webcam girls|neuken|ficken|sextreffen|salopes|rencontre coquine|putas|порно|шлюх*|проститутк*|интим услуги"},
	{catAdult, 0.5, "geile|sex|sexy|nude|nudes|escort|escorts|hookup|adult dating|sexe|sexo|секс|интим"},

	// SEO and link spam.
	{catSEO, 1.0, "backlink|backlinks|link building|guest post|guest posts|domain authority|seo services|first page of google|rank your website|rank higher|high da|dofollow|pbn|netlinking|linkbuilding|posicionamiento web|продвижение сайтов|продвижение сайта|раскрутка сайта|раскрутк*|прогон|вечные ссылки|закупка ссылок"},
	{catSEO, 0.5, "seo|website traffic|organic traffic|increase traffic|search engine optimization|zoekmachineoptimalisatie|suchmaschinenoptimierung|référencement|posicionamiento|сео|трафик|посещаемост*|продвижени*|в топ"},

	// Stock spam phrases.
	{catSpamPhrase, 0.8, "you have won|claim your prize|you have been selected|work from home|earn money from home|make money online|u heeft gewonnen|sie haben gewonnen|vous avez gagné|has ganado|вы выиграли|работа на дому|заработок в интернете"},
	{catSpamPhrase, 0.5, "act now|limited time offer|risk free|100 free|100 guaranteed|dear friend|make money|earn money|extra income|geld verdienen|gagner de l argent|ganar dinero|заработок|быстрый заработок"},
	{catSpamPhrase, 0.2, "click here|klik hier|hier klicken|cliquez ici|haga clic aquí|нажмите здесь"},

	// Credential phishing.
	{catPhish, 1.2, "verify your account|confirm your identity|verify your identity|account has been suspended|account has been locked|account has been limited|limited your account|account will be suspended|account will be closed|unusual sign in activity|restore your account|reactivate your account|validate your account|mailbox is full|mailbox will be|password will expire|password expires|verifieer uw account|bevestig uw identiteit|account is geblokkeerd|rekening is geblokkeerd|pas verloopt|konto wurde gesperrt|konto verifizieren|identität bestätigen|identität zu bestätigen|vérifiez votre compte|confirmer votre identité|compte a été suspendu|compte suspendu|verifique su cuenta|confirme su identidad|cuenta suspendida|cuenta ha sido suspendida|подтвердите учетную запись|аккаунт заблокирован|запись заблокирована|карта заблокирована|подтвердите личность"},
	{catPhish, 0.7, "unusual activity|suspicious activity|unauthorized access|unauthorised access|update your payment|update your billing|confirm your account|verify your information|security reasons|shared a document|storage is full|login to restore|verify now|ongebruikelijke activiteit|verdachte activiteit|gegevens bij te werken|ungewöhnliche aktivität|verdächtige aktivität|sicherheitsgründen|daten aktualisieren|activité inhabituelle|actividad inusual|actividad sospechosa|подозрительная активность|необычная активность"},
	{catPhish, 0.4, "within 24 hours|within 48 hours|binnen 24 uur|innerhalb von 24 stunden|dans les 24 heures|próximas 24 horas|в течение 24 часов|gesperrt|geblokkeerd|suspended|заблокирован"},

	// Said of an attachment's protection.
	{catPassword, 1, "password|passcode|wachtwoord|passwort|kennwort|mot de passe|contraseña|пароль"},
}

// Link hosts that are neither the sender's own nor telling: social networks,
// big platforms, payment providers and parcel carriers that honest shop
// mail links to every day.
var commonLinkDomains = setOf(
	"facebook.com", "fb.com", "fb.me", "instagram.com", "twitter.com", "x.com",
	"youtube.com", "youtu.be", "linkedin.com", "pinterest.com", "tiktok.com",
	"whatsapp.com", "wa.me", "google.com", "apple.com", "microsoft.com",
	"wordpress.org", "wordpress.com", "gravatar.com", "woocommerce.com",
	"trustpilot.com", "vimeo.com", "spotify.com", "paypal.com", "mollie.com",
	"stripe.com", "klarna.com", "dhl.com", "dhl.de", "dhl.nl", "dhlparcel.nl",
	"postnl.nl", "ups.com", "fedex.com", "dpd.com", "dpd.de", "dpd.nl", "gls-group.eu",
	"usps.com", "royalmail.com", "laposte.fr", "colissimo.fr", "correos.es",
	"pochta.ru", "cdek.ru", "bpost.be", "myhermes.de", "hermesworld.com",
	"vk.com", "ok.ru", "yandex.ru",
)

// URL shortening services: a link whose target the reader cannot see.
var shortenerDomains = setOf(
	"bit.ly", "bitly.com", "tinyurl.com", "t.co", "goo.su", "cutt.ly", "is.gd",
	"v.gd", "rebrand.ly", "ow.ly", "buff.ly", "shorturl.at", "tiny.cc", "rb.gy",
	"t.ly", "bit.do", "s.id", "clck.ru", "u.to", "adf.ly", "shorte.st",
	"surl.li", "soo.gd", "tiny.one", "shorturl.com", "short.io", "bl.ink",
	"lnkd.in", "qr.ae", "urlz.fr", "kutt.it", "vk.cc",
)

// Top-level domains that cost next to nothing and carry a large share of the
// abuse seen in outbound form spam. Popular business TLDs (.shop, .online,
// .store, .info) are left out on purpose: honest small shops use them.
var oddTLDs = setOf(
	"top", "xyz", "click", "icu", "buzz", "cfd", "sbs", "rest", "monster",
	"cyou", "bond", "quest", "lol", "mom", "cam", "tk", "ml", "ga", "cf", "gq",
	"loan", "win", "bid", "racing", "date", "download", "stream", "review",
	"accountant", "science", "party", "trade", "faith", "cricket", "men",
	"work", "kim", "country", "zip", "mov", "su", "pw", "link", "autos",
	"boats", "beauty", "hair", "skin", "makeup", "yachts", "motorcycles",
)

// TLDs recognised when a bare domain appears in text without a scheme;
// the rest of the text's dotted words (file names, versions) are not links.
var bareTLDs = setOf(
	"com", "net", "org", "info", "biz", "io", "co", "me", "ru", "su", "ua",
	"by", "kz", "nl", "de", "be", "fr", "es", "it", "pl", "uk", "eu", "ch",
	"at", "cz", "se", "dk", "fi", "pt", "us", "ca", "au", "in", "cn", "br",
	"tv", "cc", "ws", "online", "site", "store", "shop", "live", "pro", "club",
	"top", "xyz", "click", "icu", "buzz", "cfd", "sbs", "rest", "monster",
	"cyou", "bond", "quest", "lol", "tk", "ml", "ga", "cf", "gq", "pw", "link",
	"win", "bid", "loan", "work", "fun", "space", "website", "today", "example",
)

// Second-level labels under which ccTLDs register names (example.co.uk).
var secondLevelLabels = setOf(
	"co", "com", "net", "org", "gov", "ac", "edu", "ltd", "plc", "me", "ne",
	"or", "gob", "nic", "spb", "msk", "in", "biz",
)

// Free mail providers: anyone can have an address there in a minute.
var freemailDomains = setOf(
	"gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr",
	"yahoo.de", "ymail.com", "hotmail.com", "hotmail.nl", "hotmail.de",
	"hotmail.fr", "hotmail.co.uk", "outlook.com", "outlook.de", "outlook.fr",
	"live.com", "live.nl", "msn.com", "aol.com", "icloud.com", "me.com",
	"mail.ru", "bk.ru", "inbox.ru", "list.ru", "yandex.ru", "yandex.com",
	"ya.ru", "rambler.ru", "gmx.de", "gmx.net", "gmx.com", "web.de",
	"t-online.de", "protonmail.com", "proton.me", "zoho.com", "mail.com",
	"qq.com", "163.com", "laposte.net", "orange.fr", "free.fr",
)

// Brands that phishing impersonates, by the names they appear under in a
// display name or a host label, grouped into the company that owns them.
var phishedBrands = map[string]string{
	"paypal": "paypal", "microsoft": "microsoft", "office365": "microsoft",
	"microsoft365": "microsoft", "outlook": "microsoft", "onedrive": "microsoft",
	"sharepoint": "microsoft", "hotmail": "microsoft", "netflix": "netflix",
	"amazon": "amazon", "apple": "apple", "icloud": "apple", "dhl": "dhl",
	"postnl": "postnl", "ing": "ing", "rabobank": "rabobank", "abnamro": "abnamro",
	"sparkasse": "sparkasse", "volksbank": "volksbank", "commerzbank": "commerzbank",
	"postbank": "postbank", "sberbank": "sberbank", "сбербанк": "sberbank",
	"tinkoff": "tinkoff", "docusign": "docusign", "dropbox": "dropbox",
	"wetransfer": "wetransfer", "coinbase": "coinbase", "binance": "binance",
	"metamask": "metamask", "wellsfargo": "wellsfargo", "bankofamerica": "bankofamerica",
	"adobe": "adobe",
}

// brandDomains are the registrable domains of a company that are not
// simply one of its brand names followed by a TLD (paypal.com, dhl.de).
var brandDomains = map[string][]string{
	"paypal":    {"paypalobjects.com"},
	"microsoft": {"microsoftonline.com", "office.com", "live.com", "msn.com", "microsoft365.com"},
	"amazon":    {"amazonaws.com"},
	"dhl":       {"dhlparcel.nl"},
	"sberbank":  {"sber.ru"},
	"tinkoff":   {"tbank.ru"},
	"docusign":  {"docusign.net"},
}
