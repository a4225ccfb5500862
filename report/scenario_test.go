package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/report"
)

// The scenarios run realistic mail through the real detector and builtin
// scorer on a MemoryStore, weeks of a site's ordinary mail and then a
// run, the way sendmail would record it, and check the report's top
// finding and the facts it rests on.

// T0 is when the runs start.
var T0 = time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)

type scenario struct {
	t      *testing.T
	site   string
	store  *spamrun.MemoryStore
	det    *spamrun.PolicyDetector
	scorer spamrun.Scorer
	seq    int
	inc    *spamrun.Incident
}

func newScenario(t *testing.T, site string) *scenario {
	t.Helper()
	store := spamrun.NewMemoryStore()
	// The scenarios are runs of several messages, as the analysis needs
	// them, so they count messages: counting recipients, a run with Bcc
	// would trip at its first message.
	det, err := spamrun.NewDetector(&spamrun.DetectorOptions{Store: store,
		Policy: spamrun.Policy{SpamScore: 5, MaxSpam: 10, Window: time.Hour, Count: spamrun.CountMessages}})
	if err != nil {
		t.Fatal(err)
	}
	return &scenario{t: t, site: site, store: store, det: det, scorer: spamrun.NewBuiltinScorer()}
}

// mail is one submission.
type mail struct {
	from, subject, body string
	to                  []string // header To:
	bcc                 []string // envelope-only recipients, as header injection adds them
	html                bool
	evidence            spamrun.Evidence
	// score replaces the builtin score: a host's stricter filter.
	score *spamrun.Score
}

// send submits m at t. It returns whether the message was spam-marked
// and stops the scenario's sending once the site is disabled.
func (s *scenario) send(t time.Time, m mail) bool {
	s.t.Helper()
	if s.inc != nil {
		return true
	}
	s.seq++
	ctype := "text/plain; charset=utf-8"
	if m.html {
		ctype = "text/html; charset=utf-8"
	}
	raw := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d.%d@%s>\r\nMIME-Version: 1.0\r\nContent-Type: %s\r\nX-PHP-Originating-Script: %s\r\n\r\n%s",
		m.from, strings.Join(m.to, ", "), m.subject, t.Format(time.RFC1123Z), t.UnixNano(), s.seq,
		spamrun.Domain(m.from), ctype, m.evidence.Script, strings.ReplaceAll(m.body, "\n", "\r\n"))
	msg, err := spamrun.ParseMessage([]byte(raw), m.from, append(append([]string(nil), m.to...), m.bcc...))
	if err != nil {
		s.t.Fatal(err)
	}
	msg.Evidence = m.evidence
	ctx := context.Background()
	var score spamrun.Score
	if m.score != nil {
		score = *m.score
	} else if score, err = s.scorer.Score(ctx, msg); err != nil {
		s.t.Fatal(err)
	}
	v, err := s.det.Decide(ctx, s.site, msg, score, t)
	if err != nil {
		s.t.Fatal(err)
	}
	if v.Action == spamrun.Refuse {
		s.inc = v.Incident
		return true
	}
	err = s.store.RecordScript(ctx, s.site, spamrun.Submission{Time: t, Script: m.evidence.Script, Cwd: m.evidence.Cwd, Spam: v.Spam})
	if err != nil {
		s.t.Fatal(err)
	}
	return v.Spam
}

// history sends one of ordinary mail a few times a day for days before T0.
func (s *scenario) history(days, perDay int, ordinary func(i int) mail) {
	s.t.Helper()
	rng := rand.New(rand.NewPCG(uint64(days), uint64(perDay)))
	i := 0
	for d := days; d >= 1; d-- {
		for range perDay {
			at := T0.Add(-time.Duration(d)*24*time.Hour + time.Duration(rng.IntN(20*60))*time.Minute)
			if s.send(at, ordinary(i)) {
				s.t.Fatalf("ordinary mail %d of the history was spam-marked", i)
			}
			i++
		}
	}
}

// report builds the report of the incident the run tripped.
func (s *scenario) report() *report.Report {
	s.t.Helper()
	if s.inc == nil {
		s.t.Fatal("the run did not trip the site")
	}
	r := report.Build(s.inc, &report.Options{Now: func() time.Time { return T0.Add(time.Hour) },
		ArticleURL: "https://hosting.example/help/site-disabled"})
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		s.t.Fatal(err)
	}
	s.t.Logf("report:\n%s", text.String())
	if _, err := json.Marshal(r); err != nil {
		s.t.Fatal(err)
	}
	return r
}

// expect checks the top finding's cause, script, confidence and facts.
func expect(t *testing.T, r *report.Report, cause report.Cause, script string, minConfidence float64, facts ...string) {
	t.Helper()
	top := r.Findings[0]
	if top.Cause != cause || top.Script != script {
		t.Fatalf("top finding = %s of %q (%.2f), want %s of %q", top.Cause, top.Script, top.Confidence, cause, script)
	}
	if top.Confidence < minConfidence {
		t.Errorf("confidence = %.2f, want at least %.2f", top.Confidence, minConfidence)
	}
	if len(r.Findings) > 1 && r.Findings[1].Confidence > top.Confidence-0.2 {
		t.Errorf("second finding %s (%.2f) is within 0.2 of the first (%.2f): the report does not tell them apart",
			r.Findings[1].Cause, r.Findings[1].Confidence, top.Confidence)
	}
	all := strings.Join(top.Facts, "\n")
	for _, f := range facts {
		if !strings.Contains(all, f) {
			t.Errorf("no fact says %q; facts:\n%s", f, all)
		}
	}
	if len(top.Advice) == 0 {
		t.Error("the finding gives no advice")
	}
}

var spamLinks = []string{
	"https://bit.ly/3xCas1n0", "http://lucky-spins.top/bonus", "https://casino-royale-win.xyz/free",
	"http://cheap-meds-online.click/viagra", "https://tinyurl.com/cashprize77", "http://crypto-double.icu/btc",
}

func TestScenarioAbusedGuestbook(t *testing.T) {
	s := newScenario(t, "bakkerij")
	const dir = "/var/www/clients/client3/web12/web"
	ev := spamrun.Evidence{Script: "5012:guestbook.php", Cwd: dir, UID: 5012, File: &spamrun.ScriptFile{
		Path: dir + "/guestbook.php", Size: 4812, UID: 5012,
		ModTime: time.Date(2023, 3, 2, 11, 4, 0, 0, time.UTC), ChangeTime: time.Date(2023, 3, 2, 11, 4, 0, 0, time.UTC)}}
	entry := func(name, text string) string {
		return "A new entry was posted in the guestbook of Bakkerij Jansen.\n\nName: " + name +
			"\nMessage:\n" + text + "\n\nApprove or delete it: https://bakkerij-jansen.nl/gastenboek/beheer\n\n-- \nThe guestbook of bakkerij-jansen.nl\n"
	}
	names := []string{"Marieke", "Henk de Vries", "Anouk", "Jeroen", "Fatima", "Willem"}
	s.history(40, 2, func(i int) mail {
		return mail{from: "gastenboek@bakkerij-jansen.nl", to: []string{"info@bakkerij-jansen.nl"},
			subject: "New guestbook entry", evidence: ev,
			body: entry(names[i%len(names)], "Heerlijke appeltaart gehaald voor de verjaardag van mijn moeder, iedereen was enthousiast! Tot volgende week.")}
	})
	// The abuser puts line breaks into the e-mail field: every entry's
	// notification goes to 25 addresses by Bcc, with links in the text.
	for i := range 15 {
		var bcc []string
		for j := range 25 {
			bcc = append(bcc, fmt.Sprintf("user%d@mail%d.example-%d.com", i*25+j, j%9, i))
		}
		s.send(T0.Add(time.Duration(i)*40*time.Second), mail{
			from: "gastenboek@bakkerij-jansen.nl", to: []string{"info@bakkerij-jansen.nl"}, bcc: bcc,
			subject: "New guestbook entry", evidence: ev,
			body: entry("Best Casino Bonus", fmt.Sprintf("WIN BIG today!!! Free spins and casino bonus, cheap viagra, crypto doubler: %s %s claim your prize now",
				spamLinks[i%len(spamLinks)], spamLinks[(i+1)%len(spamLinks)]))})
	}
	r := s.report()
	expect(t, r, report.AbusedForm, "5012:guestbook.php", 0.75,
		"has sent mail since", "is the name of a form", "fixed lines of text", "recipients in")
	if r.Summary.Recipients < 11*26 {
		t.Errorf("Summary.Recipients = %d, want the Bcc recipients counted", r.Summary.Recipients)
	}
}

func TestScenarioAbusedTellAFriend(t *testing.T) {
	s := newScenario(t, "bloemenhuis")
	const dir = "/home/bloemenhuis/public_html"
	taf := spamrun.Evidence{Script: "1007:tell-a-friend.php", Cwd: dir, UID: 1007, File: &spamrun.ScriptFile{
		Path: dir + "/tell-a-friend.php", Size: 2210, UID: 1007,
		ModTime: time.Date(2021, 6, 14, 9, 0, 0, 0, time.UTC), ChangeTime: time.Date(2024, 1, 8, 3, 12, 0, 0, time.UTC)}}
	shop := spamrun.Evidence{Script: "1007:checkout.php", Cwd: dir + "/shop", UID: 1007}
	recommend := func(friend, name, text string) string {
		return "Hi " + friend + ",\n\nYour friend " + name + " thinks you will like this page on Bloemenhuis:\n" +
			"https://bloemenhuis.example/boeketten/herfst\n\nPersonal message:\n" + text +
			"\n\nYou get this e-mail because " + name + " entered your address on bloemenhuis.example.\n" +
			"We have not stored it.\n"
	}
	s.history(30, 3, func(i int) mail {
		if i%3 == 0 {
			return mail{from: "noreply@bloemenhuis.example", to: []string{fmt.Sprintf("friend%d@gmail.com", i)},
				subject: "Anna recommends Bloemenhuis", evidence: taf,
				body: recommend("Sophie", "Anna", "Look at these, for mum's birthday?")}
		}
		return mail{from: "orders@bloemenhuis.example", to: []string{fmt.Sprintf("customer%d@hotmail.com", i)},
			subject: fmt.Sprintf("Your order #%d at Bloemenhuis", 20000+i), evidence: shop,
			body: fmt.Sprintf("Thank you for your order #%d.\n\nAutumn bouquet, large: EUR 34.95\nDelivery on Friday between 9:00 and 17:00.\n\nBloemenhuis, Dorpsstraat 4, Utrecht\n", 20000+i)}
	})
	for i := range 14 {
		at := T0.Add(time.Duration(i) * 25 * time.Second)
		if i%4 == 0 {
			s.send(at, mail{from: "orders@bloemenhuis.example", to: []string{"klant@ziggo.nl"}, evidence: shop,
				subject: fmt.Sprintf("Your order #%d at Bloemenhuis", 30000+i),
				body:    "Thank you for your order.\n\nRoses, red, 12: EUR 24.50\nDelivery tomorrow.\n"})
		}
		if i == 6 {
			// A real visitor recommends the shop in the middle of the run.
			s.send(at, mail{from: "noreply@bloemenhuis.example", to: []string{"oma.jansen@kpnmail.nl"},
				subject: "Peter recommends Bloemenhuis", evidence: taf,
				body: recommend("Oma", "Peter", "Deze zijn mooi voor de kamer, toch?")})
		}
		s.send(at, mail{from: "noreply@bloemenhuis.example", to: []string{fmt.Sprintf("target%d@provider%d.example", i, i)},
			subject: "Best Casino recommends Bloemenhuis", evidence: taf,
			body: recommend("friend", "Best Casino", fmt.Sprintf("CASINO BONUS 500%% free spins, win money now, cheap viagra and cialis without prescription: %s %s", spamLinks[i%len(spamLinks)], spamLinks[(i+2)%len(spamLinks)]))})
	}
	r := s.report()
	expect(t, r, report.AbusedForm, "1007:tell-a-friend.php", 0.75,
		"has sent mail since", "tell-a-friend.php is the name of a form", "one template", "sets of links were put into the template", "real visitors still use")
}

func TestScenarioUploadedMailer(t *testing.T) {
	s := newScenario(t, "wpsite")
	const root = "/var/www/wpsite/htdocs"
	wp := spamrun.Evidence{Script: "33:class-wp-phpmailer.php", Cwd: root, UID: 33}
	mailer := spamrun.Evidence{Script: "33:wp-cache-update.php", Cwd: root + "/wp-content/uploads/2026/11", UID: 33,
		File: &spamrun.ScriptFile{Path: root + "/wp-content/uploads/2026/11/wp-cache-update.php", Size: 31544, UID: 33,
			ModTime: time.Date(2019, 4, 2, 10, 0, 0, 0, time.UTC), ChangeTime: T0.Add(-4 * time.Minute)}}
	s.history(20, 4, func(i int) mail {
		return mail{from: "wordpress@wpsite.example", to: []string{fmt.Sprintf("reader%d@gmail.com", i)},
			subject: "[Garden Blog] Please confirm your subscription", evidence: wp,
			body: "Hello,\n\nPlease confirm your subscription to Garden Blog:\nhttps://wpsite.example/?confirm=abc\n\nIf you did not ask for this, ignore this e-mail.\n"}
	})
	pitches := []struct{ subject, body string }{
		{"Cheap Viagra 80% OFF", "Buy viagra cialis online without prescription, cheap meds shipped worldwide: %s"},
		{"Loan approved: $25,000", "Your payday loan is approved, no credit check, instant cash today: %s"},
		{"Bitcoin doubler – guaranteed returns", "Invest in bitcoin now and double your crypto in 24 hours, guaranteed profit: %s"},
		{"Hot singles near you", "Lonely hot singles in your area want to meet tonight, click here: %s"},
	}
	for i := range 14 {
		p := pitches[i%len(pitches)]
		s.send(T0.Add(time.Duration(i)*10*time.Second), mail{
			from: fmt.Sprintf("%s@wpsite.example", []string{"info", "admin", "support", "promo"}[i%4]), to: []string{fmt.Sprintf("victim%d@example-%d.net", i, i)},
			subject: p.subject, evidence: mailer, body: fmt.Sprintf(p.body, spamLinks[i%len(spamLinks)]) + fmt.Sprintf("\nRef %x\n", i*7919)})
	}
	r := s.report()
	expect(t, r, report.UploadedScript, "33:wp-cache-update.php", 0.75,
		"had never sent mail before the run", "wp-content/uploads", "written 4 minutes before the run", "set back to look old", "the messages vary")
}

func TestScenarioPhishingKitInImages(t *testing.T) {
	s := newScenario(t, "kapsalon")
	const root = "/home/kapsalon/domains/kapsalon-lisa.nl/public_html"
	contact := spamrun.Evidence{Script: "1044:contact.php", Cwd: root, UID: 1044}
	kit := spamrun.Evidence{Script: "1044:verify.php", Cwd: root + "/images/ssl/office365", UID: 1044,
		File: &spamrun.ScriptFile{Path: root + "/images/ssl/office365/verify.php", Size: 8120, UID: 1044,
			ModTime: T0.Add(-2 * time.Hour), ChangeTime: T0.Add(-2 * time.Hour)}}
	s.history(60, 1, func(i int) mail {
		return mail{from: "website@kapsalon-lisa.nl", to: []string{"lisa@kapsalon-lisa.nl"}, subject: "Appointment request",
			evidence: contact, body: "Name: Joke\nPhone: 06-12345678\nPreferred day: Saturday morning\nMessage: cut and colour please\n"}
	})
	for i := range 12 {
		s.send(T0.Add(time.Duration(i)*15*time.Second), mail{
			from: "no-reply@microsoft-office365-support.com", to: []string{fmt.Sprintf("staff%d@company%d.example", i, i%5)},
			subject: "Action required: verify your account", evidence: kit, html: true,
			body: fmt.Sprintf(`<html><body><p>Dear user,</p><p>Your mailbox password expires today. Verify your account now to keep access to your Microsoft 365 mailbox, or it will be suspended.</p><p><a href="http://login-microsoftonline.%s.top/verify?u=%d">https://login.microsoftonline.com/verify</a></p><p>Microsoft Security Team</p></body></html>`,
				[]string{"secure-auth", "acc-check", "mx-verify"}[i%3], i)})
	}
	r := s.report()
	expect(t, r, report.UploadedScript, "1044:verify.php", 0.75,
		"had never sent mail before the run", "images/ssl/office365", "written 2 hours before the run", "phishing")
}

func TestScenarioNewsletterBurstIsNotAnAttack(t *testing.T) {
	s := newScenario(t, "voetbalclub")
	const root = "/var/www/vv-de-zwaluwen/web"
	nl := spamrun.Evidence{Script: "2001:nieuwsbrief.php", Cwd: root + "/admin", UID: 2001,
		File: &spamrun.ScriptFile{Path: root + "/admin/nieuwsbrief.php", Size: 6120, UID: 2001,
			ModTime: time.Date(2022, 8, 1, 12, 0, 0, 0, time.UTC), ChangeTime: time.Date(2022, 8, 1, 12, 0, 0, 0, time.UTC)}}
	letter := func(member string) string {
		return "<html><body><h1>Nieuwsbrief november</h1><p>Beste " + member + ",</p>" +
			"<p>Zaterdag speelt het eerste elftal thuis tegen VV Oranje. De kantine is open vanaf 12:00.</p>" +
			"<p><a href=\"https://www.vv-de-zwaluwen.nl/programma\">Het programma</a> · <a href=\"https://www.vv-de-zwaluwen.nl/kantine\">Kantinediensten</a></p>" +
			"<p><a href=\"https://www.vv-de-zwaluwen.nl/nieuwsbrief/afmelden\">Afmelden</a></p></body></html>"
	}
	// Every month the club sends its newsletter to its members; this month
	// the host's stricter filter scores it just over the line.
	strict := &spamrun.Score{Value: 5.6, Rules: []spamrun.RuleHit{
		{Name: "HTML_IMAGE_RATIO_02", Points: 2.1}, {Name: "BULK_MAILER", Points: 1.9}, {Name: "MIME_HTML_ONLY", Points: 1.6}}}
	for month := 6; month >= 1; month-- {
		for i := range 30 {
			at := T0.AddDate(0, -month, 0).Add(time.Duration(i) * 2 * time.Second)
			s.send(at, mail{from: "secretaris@vv-de-zwaluwen.nl", to: []string{fmt.Sprintf("lid%d@%s", i, []string{"gmail.com", "ziggo.nl", "kpnmail.nl", "hotmail.com"}[i%4])},
				subject: "Nieuwsbrief", evidence: nl, html: true, body: letter("lid")})
		}
	}
	for i := range 30 {
		s.send(T0.Add(time.Duration(i)*2*time.Second), mail{from: "secretaris@vv-de-zwaluwen.nl",
			to:      []string{fmt.Sprintf("lid%d@%s", i, []string{"gmail.com", "ziggo.nl", "kpnmail.nl", "hotmail.com"}[i%4])},
			subject: "Nieuwsbrief november", evidence: nl, html: true, body: letter("lid"), score: strict})
	}
	r := s.report()
	top := r.Findings[0]
	if top.Cause == report.AbusedForm || top.Cause == report.UploadedScript {
		t.Fatalf("a newsletter burst was called an attack: %s (%.2f): %s", top.Cause, top.Confidence, top.Title)
	}
	expect(t, r, report.Bulk, "2001:nieuwsbrief.php", 0.6,
		"every link goes to the sender's own site", "has sent mail since", "close to the threshold")
	var page bytes.Buffer
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "The site&#39;s own bulk mail") {
		t.Error("the page does not name the verdict")
	}
}

// A run whose messages name no script, from a caller whose directory could
// not be read, is not pinned on anything.
func TestScenarioThinEvidenceIsUnknown(t *testing.T) {
	s := newScenario(t, "oldsite")
	for i := range 12 {
		s.send(T0.Add(time.Duration(i)*time.Minute), mail{from: "www-data@oldsite.example", to: []string{fmt.Sprintf("x%d@example-%d.com", i, i)},
			subject: "Cheap Viagra 80% OFF", body: fmt.Sprintf("Buy viagra cialis online without prescription, cheap meds shipped worldwide: %s\n", spamLinks[i%len(spamLinks)])})
	}
	r := s.report()
	expect(t, r, report.Unknown, "", 0.5, "11 of 11 spam-marked messages named neither a script nor a directory")
	if len(r.Findings) != 1 {
		t.Errorf("findings: %+v, want only the unknown one", r.Findings)
	}
}
