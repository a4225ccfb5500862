package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spamrun/spamrun/config"
	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

// ownedByShop1 reports whether addr belongs to site shop1 as the tests
// configure it: its domain, or the default sender of the UID it runs as.
func ownedByShop1(addr string) bool {
	a := strings.ToLower(addr)
	return strings.HasSuffix(a, "@shop1.example") || strings.HasSuffix(a, "@"+testHost) && !strings.Contains(a, "mailer-daemon")
}

// TestSpamRun1000 is the spam run of the specification: 1,000 messages
// from 20 concurrent senders of one site, half of them sendmail processes
// and half SMTP connections to spamrun serve's listener, while the queue
// runner works and another site's order confirmations keep flowing. With
// hold mode no spam reaches the relay, without at most MaxSpam; either way
// every accepted message ends in exactly one place and every DSN goes to
// the site's own address as a DSN bounce parsers read.
func TestSpamRun1000(t *testing.T) {
	if os.Geteuid() != 0 {
		spamruntest.Missing(t, "root (the other site's mail is sent as another user, with setpriv)")
	}
	spamruntest.NeedCommand(t, "setpriv", "util-linux")
	spamruntest.NeedCommand(t, "useradd", "passwd")
	other := addSiteUser(t, randomName("srr"), "shop2")
	for _, v := range []struct{ name, holdFor string }{{"hold", "15m"}, {"no hold", "0s"}} {
		t.Run(v.name, func(t *testing.T) { spamRun1000(t, other, v.holdFor) })
	}
}

func spamRun1000(t *testing.T, other *siteUser, holdFor string) {
	const (
		messages, processes, maxSpam = 1000, 20, 10
		orders, orderProcesses       = 100, 4
	)
	hold := holdFor != "0s"
	e, sharedBin := newSharedEnv(t, fmt.Sprintf("[policy]\nmax_spam = %d\nwindow = \"1h\"\nhold_for = %q\n", maxSpam, holdFor))
	e.appendConfig(fmt.Sprintf("[sites.shop2]\nuid = %d\ndomains = [\"shop2.example\"]\n", other.UID))
	runner, listener := e.startServe()
	began := time.Now()

	var (
		mu       sync.Mutex
		exits    = map[string]exit{}
		problems []string
		wg       sync.WaitGroup
	)
	record := func(seq string, x exit, err error) {
		mu.Lock()
		defer mu.Unlock()
		exits[seq] = x
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", seq, err))
		}
	}
	// The run: each process submits its share one message after another,
	// as a form script called in a loop does. Every third message forges a
	// stranger's address as envelope sender.
	for p := range processes {
		wg.Go(func() {
			for i := p; i < messages; i += processes {
				seq := fmt.Sprintf("spam-%04d", i)
				from := "-fnoreply@shop1.example"
				if i%3 == 0 {
					from = fmt.Sprintf("-fvictim%d@foreign.example", i)
				}
				msg := tagged(seq, spamruntest.GuestbookSpam("shop1.example", i))
				var (
					x   exit
					err error
				)
				if p%2 == 0 {
					x, err = start(e.sendmailCmd(sendmailBin, os.Getuid(), "-t", "-i", from), msg, 0)
				} else {
					x, err = submitSMTP(listener, strings.TrimPrefix(from, "-f"), msg)
				}
				record(seq, x, err)
			}
		})
	}
	// Meanwhile the other site's shop confirms orders.
	for p := range orderProcesses {
		wg.Go(func() {
			for i := p; i < orders; i += orderProcesses {
				seq := fmt.Sprintf("order-%04d", i)
				x, err := start(e.sendmailCmd(sharedBin, other.UID, "-t", "-i", "-fshop@shop2.example"), tagged(seq, spamruntest.OrderConfirmation("shop2.example", i)), 0)
				record(seq, x, err)
			}
		})
	}
	wg.Wait()
	submitted := time.Since(began)
	for _, p := range problems {
		t.Error(p)
	}

	accepted, refused := map[string]bool{}, 0
	for seq, x := range exits {
		switch {
		case strings.HasPrefix(seq, "order-"):
			if x.code != 0 {
				t.Errorf("%s of the other site: exit %d %q", seq, x.code, x.stderr)
			}
		case x.code == 0:
			accepted[seq] = true
		case x.code == 69:
			refused++
		default:
			t.Errorf("%s: exit %d %q", seq, x.code, x.stderr)
		}
	}
	if len(accepted) != maxSpam || refused != messages-maxSpam {
		t.Errorf("%d accepted and %d refused; want exactly %d accepted before the site tripped", len(accepted), refused, maxSpam)
	}

	// The order confirmations all arrive; the runner sends every DSN and
	// returns what the site still had queued.
	if !waitFor(60*time.Second, func() bool {
		c := e.take()
		for i := range orders {
			if c.relayed[fmt.Sprintf("order-%04d", i)] == 0 {
				return false
			}
		}
		return true
	}) {
		t.Error("not every order confirmation of the other site reached the relay within 60s")
	}
	if !waitFor(60*time.Second, func() bool {
		for _, q := range e.queue() {
			if q.Kind == spool.KindDSN || q.Site == "shop1" {
				return false
			}
		}
		return true
	}) {
		t.Errorf("after 60s the runner still has not sent every DSN and returned the disabled site's queue: %d queued", len(e.queue()))
	}
	runner.stop()

	c := e.take()
	for i := range orders {
		if n := c.places(fmt.Sprintf("order-%04d", i)); n != 1 || c.relayed[fmt.Sprintf("order-%04d", i)] != 1 {
			t.Errorf("order-%04d of the other site: relayed %d times, found %d times", i, c.relayed[fmt.Sprintf("order-%04d", i)], n)
		}
	}
	relayed, held := 0, 0
	for seq := range accepted {
		if n := c.places(seq); n != 1 {
			t.Errorf("accepted %s found %d times (relayed %d, bounced %v, kept %v, queued %v)", seq, n, c.relayed[seq], c.bounced[seq] != nil, c.kept[seq] != nil, c.queued[seq] != nil)
		}
		relayed += c.relayed[seq]
	}
	for _, seq := range c.seqs() {
		if strings.HasPrefix(seq, "spam-") && !accepted[seq] {
			t.Errorf("%s was refused, yet is relayed or in the spool", seq)
		}
	}
	for _, q := range c.queued {
		if q.State == spool.Held {
			held++
		}
	}
	held += len(c.kept)
	spamRelayed := 0
	for seq, n := range c.relayed {
		if strings.HasPrefix(seq, "spam-") {
			spamRelayed += n
		}
	}
	if hold && spamRelayed != 0 {
		t.Errorf("hold mode: %d spam messages reached the relay, want none", spamRelayed)
	}
	if !hold && spamRelayed > maxSpam {
		t.Errorf("without hold mode %d spam messages reached the relay, want at most %d", spamRelayed, maxSpam)
	}
	if sum := relayed + len(c.bounced) + held; sum != len(accepted) || len(c.twice) > 0 {
		t.Errorf("relayed %d + bounced %d + held %d = %d, want the %d accepted; in the spool twice: %v", relayed, len(c.bounced), held, sum, len(accepted), c.twice)
	}

	// One DSN per bounced message, to its sender, which the site owns.
	var rcpts []string
	var dsns [][]byte
	for _, m := range c.dsnMsgs {
		rcpts = append(rcpts, checkDSN(t, m, dsnWant{status: "5.7.1", article: true, owns: ownedByShop1})...)
		dsns = append(dsns, m.Data)
		seq := quotedSeq(m.Data)
		orig := c.bounced[seq]
		switch {
		case orig == nil:
			t.Errorf("a DSN quotes %q, which is not a bounced message", seq)
		case len(m.To) != 1 || !strings.EqualFold(m.To[0], orig.Sender):
			t.Errorf("the DSN of %s went to %q, not to its sender <%s>", seq, m.To, orig.Sender)
		}
	}
	for seq, b := range c.bounced {
		if c.dsns[seq] != 1 {
			t.Errorf("bounced %s (from <%s>) got %d DSNs at the relay, want 1", seq, b.Sender, c.dsns[seq])
		}
		if !ownedByShop1(b.Sender) {
			t.Errorf("bounced %s to <%s>, an address the site does not own", seq, b.Sender)
		}
	}
	for seq, k := range c.kept {
		if ownedByShop1(k.Sender) {
			t.Errorf("%s kept without a DSN although the site owns <%s>: %s", seq, k.Sender, k.Reason)
		}
	}
	if len(c.dsnMsgs) != len(c.bounced) {
		t.Errorf("%d DSNs at the relay for %d bounced messages", len(c.dsnMsgs), len(c.bounced))
	}
	spamruntest.CheckSisimai(t, spamruntest.SisimaiWant{Recipients: rcpts, Status: "5.7.1", Reasons: []string{"spamdetected", "policyviolation"}}, dsns...)

	t.Logf("hold_for %s: %d submitted in %v (whole run %v): accepted %d, refused %d; relayed %d, bounced %d, kept %d, held %d; DSNs %d; other site's orders relayed %d",
		holdFor, messages+orders, submitted.Round(time.Millisecond), time.Since(began).Round(time.Millisecond),
		len(accepted), refused, relayed, len(c.bounced), len(c.kept), held-len(c.kept), len(c.dsnMsgs), orders)
}

// submitSMTP sends msg to the listener at addr, to the recipients of its
// To field, as a script's SMTP client does, and reports the outcome as
// sendmail's exit status would: 0 accepted, 69 refused with 550 5.7.1.
func submitSMTP(addr, from string, msg []byte) (exit, error) {
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		return exit{}, err
	}
	to, err := m.Header.AddressList("To")
	if err != nil {
		return exit{}, err
	}
	c, err := smtp.Dial(addr)
	if err != nil {
		return exit{}, err
	}
	defer c.Close()
	refused := func(err error) (exit, error) {
		var tp *textproto.Error
		if errors.As(err, &tp) && tp.Code == 550 && strings.HasPrefix(tp.Msg, "5.7.1") {
			return exit{code: exUnavailable, stderr: tp.Msg}, nil
		}
		return exit{}, err
	}
	if err := c.Mail(from); err != nil {
		return refused(err)
	}
	for _, a := range to {
		if err := c.Rcpt(a.Address); err != nil {
			return exit{}, err
		}
	}
	w, err := c.Data()
	if err != nil {
		return exit{}, err
	}
	if _, err := w.Write(msg); err != nil {
		return exit{}, err
	}
	if err := w.Close(); err != nil {
		return refused(err)
	}
	return exit{}, c.Quit()
}

// hamOf is an order confirmation of shop1 with sequence header seq.
func hamOf(seq string, i int) []byte {
	return tagged(seq, spamruntest.OrderConfirmation("shop1.example", i))
}

// TestRelayDownThenBack: while the relay is down, mail is accepted and
// queued with the relay's error; once it is back, the runner delivers every
// message exactly once.
func TestRelayDownThenBack(t *testing.T) {
	const n = 20
	e := newEnv(t, "")
	e.setRelay(spamruntest.FreeAddr(t))
	runner := e.startRunner(true)
	for i := range n {
		if r := e.run(string(hamOf(fmt.Sprintf("ham-%02d", i), i)), "-t", "-i", "-fshop@shop1.example"); r.code != 0 {
			t.Fatalf("ham %d while the relay is down: exit %d %q", i, r.code, r.stderr)
		}
	}
	// The runner, woken or not, cannot deliver either: once it has tried
	// every message, all are still queued.
	tried := func() bool {
		for _, m := range e.queue() {
			if m.Attempts < 1 {
				return false
			}
		}
		return true
	}
	if !waitFor(30*time.Second, tried) {
		t.Fatalf("the runner did not try every message within 30s: %+v", e.queue())
	}
	q := e.queue()
	if len(q) != n {
		t.Fatalf("%d queued while the relay is down, want %d", len(q), n)
	}
	for _, m := range q {
		if m.State != spool.Queued || m.Attempts < 1 || m.LastError == "" || m.NextAttempt.IsZero() {
			t.Errorf("queued while the relay is down: %+v", m)
		}
	}
	runner.stop()
	if len(e.sink.Messages()) != 0 {
		t.Fatal("the sink got mail while it was not the relay")
	}

	// The relay is back; the retries are made due, as a minute passing
	// would, and a runner started on the new configuration delivers.
	e.setRelay(e.sink.Addr())
	e.makeDue()
	runner = e.startRunner(true)
	e.sink.WaitFor(t, n, 60*time.Second)
	if !waitFor(30*time.Second, func() bool { return len(e.queue()) == 0 }) {
		t.Errorf("still queued after delivery: %d", len(e.queue()))
	}
	runner.stop()
	e.drain()
	c := e.take()
	for i := range n {
		seq := fmt.Sprintf("ham-%02d", i)
		if c.relayed[seq] != 1 || c.places(seq) != 1 {
			t.Errorf("%s relayed %d times, found %d times; want exactly once", seq, c.relayed[seq], c.places(seq))
		}
	}
	if len(c.dsnMsgs) != 0 || len(c.bounced)+len(c.kept) != 0 {
		t.Errorf("%d DSNs, %d bounced, %d kept; want none", len(c.dsnMsgs), len(c.bounced), len(c.kept))
	}
	t.Logf("%d messages accepted while the relay was down, each relayed once when it was back", n)
}

// TestRelay5xx: a relay that refuses a recipient for good gets the sender a
// failure DSN that quotes the relay's reply, and the original is kept in
// quarantine as bounced.
func TestRelay5xx(t *testing.T) {
	const gone, text = "gone@example.org", "mailbox unavailable here"
	t.Run("every recipient refused", func(t *testing.T) {
		e := newEnv(t, "", spamruntest.SinkRejectRcpt(gone, 550, "5.1.1", text))
		runner := e.startRunner(true)
		msg := "To: " + gone + "\nSubject: Your order\nFrom: Shop One <orders@shop1.example>\n\nThank you for your order.\n"
		if r := e.run(string(tagged("refused", []byte(msg))), "-t", "-i", "-forders@shop1.example"); r.code != 0 {
			t.Fatalf("exit %d %q", r.code, r.stderr)
		}
		e.sink.WaitFor(t, 1, 30*time.Second)
		runner.stop()
		if e.runOnce() {
			t.Error("a pass after the DSN found more to do")
		}
		msgs := e.sink.Messages()
		if len(msgs) != 1 {
			t.Fatalf("%d messages at the relay, want the DSN alone", len(msgs))
		}
		rcpts := checkDSN(t, msgs[0], dsnWant{status: "5.1.1", diag: text})
		if len(msgs[0].To) != 1 || msgs[0].To[0] != "orders@shop1.example" || len(rcpts) != 1 || rcpts[0] != gone {
			t.Errorf("DSN to %q reporting %q, want to the sender reporting <%s>", msgs[0].To, rcpts, gone)
		}
		spamruntest.CheckSisimai(t, spamruntest.SisimaiWant{Recipients: rcpts, Status: "5.1.1", Reasons: []string{"userunknown"}, Sender: "orders@shop1.example"}, msgs[0].Data)
		q := e.quarantine()
		if len(q) != 1 || q[0].State != spool.Bounced || q[0].DSN == "" {
			// queue.Runner.deliver takes a relay.Error listing every
			// recipient for a partial delivery, removes the original and
			// logs it as relayed.
			t.Errorf("quarantine %+v, want the original bounced: a relay that refuses every recipient at RCPT made the original vanish", q)
		}
		if len(e.queue()) != 0 {
			t.Errorf("left in the queue: %+v", e.queue())
		}
	})
	t.Run("one of two refused", func(t *testing.T) {
		e := newEnv(t, "", spamruntest.SinkRejectRcpt(gone, 550, "5.1.1", text))
		runner := e.startRunner(true)
		msg := "To: " + gone + ", friend@example.net\nSubject: Your order\nFrom: Shop One <orders@shop1.example>\n\nThank you for your order.\n"
		if r := e.run(string(tagged("partly", []byte(msg))), "-t", "-i", "-forders@shop1.example"); r.code != 0 {
			t.Fatalf("exit %d %q", r.code, r.stderr)
		}
		e.sink.WaitFor(t, 2, 30*time.Second)
		runner.stop()
		if e.runOnce() {
			t.Error("a pass after the delivery and the DSN found more to do")
		}
		c := e.take()
		if c.relayed["partly"] != 1 || len(c.dsnMsgs) != 1 {
			t.Fatalf("relayed %d times with %d DSNs, want once and one DSN", c.relayed["partly"], len(c.dsnMsgs))
		}
		rcpts := checkDSN(t, c.dsnMsgs[0], dsnWant{status: "5.1.1", diag: text})
		if len(rcpts) != 1 || rcpts[0] != gone || c.dsnMsgs[0].To[0] != "orders@shop1.example" {
			t.Errorf("DSN to %q reporting %q", c.dsnMsgs[0].To, rcpts)
		}
		if c.places("partly") != 1 {
			t.Errorf("the message delivered to one recipient is also in the spool")
		}
	})
}

// TestQueueLifetime: a message the relay never took is returned with an
// expiry DSN once it outlived queue_lifetime.
func TestQueueLifetime(t *testing.T) {
	e := newEnv(t, "queue_lifetime = \"2s\"\n")
	cfg, err := config.Load(e.config)
	if err != nil {
		t.Fatalf("queue_lifetime: %v", err)
	}
	if cfg.QueueLifetime != 2*time.Second {
		t.Fatalf("queue_lifetime loaded as %v", cfg.QueueLifetime)
	}
	e.setRelay(spamruntest.FreeAddr(t))
	if r := e.run(string(hamOf("old", 1)), "-t", "-i", "-fshop@shop1.example"); r.code != 0 {
		t.Fatalf("exit %d %q", r.code, r.stderr)
	}
	q := e.queue()
	if len(q) != 1 || q[0].LastError == "" {
		t.Fatalf("queue: %+v", q)
	}
	lastError := q[0].LastError
	// Two seconds pass, as far as the queue can tell.
	e.age(2 * time.Second)
	e.setRelay(e.sink.Addr())
	if !e.runOnce() {
		t.Error("the pass after the lifetime did nothing")
	}
	msgs := e.sink.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d at the relay, want the expiry DSN alone", len(msgs))
	}
	rcpts := checkDSN(t, msgs[0], dsnWant{status: "4.4.7", diag: firstWords(lastError)})
	if len(msgs[0].To) != 1 || msgs[0].To[0] != "shop@shop1.example" || len(rcpts) == 0 {
		t.Errorf("expiry DSN to %q reporting %q", msgs[0].To, rcpts)
	}
	spamruntest.CheckSisimai(t, spamruntest.SisimaiWant{Recipients: rcpts, Status: "4.4.7", Reasons: []string{"expired"}, Sender: "shop@shop1.example"}, msgs[0].Data)
	if qq := e.quarantine(); len(qq) != 1 || qq[0].State != spool.Bounced {
		t.Errorf("quarantine %+v, want the expired message bounced", qq)
	}
	if e.runOnce() {
		t.Error("a second pass found more work")
	}
	if n := len(e.sink.Messages()); n != 1 {
		t.Errorf("%d at the relay after a second pass", n)
	}
}

// firstWords is the start of an error, as a diagnostic may fold the rest.
func firstWords(s string) string {
	f := strings.Fields(s)
	return strings.Join(f[:min(3, len(f))], " ")
}

// TestReenable: after the operator enables a tripped site it sends again,
// and its window starts empty: MaxSpam more spam-marked messages are
// accepted before it trips again.
func TestReenable(t *testing.T) {
	const maxSpam = 3
	e := newEnv(t, fmt.Sprintf("[policy]\nmax_spam = %d\nwindow = \"1h\"\nhold_for = \"15m\"\n", maxSpam))
	runner := e.startRunner(true)
	spam := func(i int) result {
		return e.run(string(tagged(fmt.Sprintf("spam-%d", i), spamruntest.GuestbookSpam("shop1.example", i))), "-t", "-i", "-fnoreply@shop1.example")
	}
	trip := func(from int) {
		t.Helper()
		for i := from; i < from+maxSpam; i++ {
			if r := spam(i); r.code != 0 {
				t.Fatalf("spam %d: exit %d %q", i, r.code, r.stderr)
			}
		}
		if r := spam(from + maxSpam); r.code != 69 {
			t.Fatalf("spam %d: exit %d, want the trip (69)", from+maxSpam, r.code)
		}
	}
	trip(0)
	if r := e.run(string(hamOf("ham-refused", 1)), "-t", "-i", "-fshop@shop1.example"); r.code != 69 {
		t.Fatalf("ham of the disabled site: exit %d", r.code)
	}
	e.sink.WaitFor(t, maxSpam, 30*time.Second) // the DSNs of the first run

	en := e.runCmd(exec.Command(spamrunBinary(t), "enable", "shop1"), "")
	if en.code != 0 {
		t.Fatalf("spamrun enable shop1: exit %d %q %q", en.code, en.stdout, en.stderr)
	}
	if r := e.run(string(hamOf("ham-again", 2)), "-t", "-i", "-fshop@shop1.example"); r.code != 0 {
		t.Fatalf("ham after enable: exit %d %q", r.code, r.stderr)
	}
	trip(100)
	e.sink.WaitFor(t, 2*maxSpam+1, 30*time.Second)
	if !waitFor(30*time.Second, func() bool { return len(e.queue()) == 0 }) {
		t.Errorf("left in the queue: %d", len(e.queue()))
	}
	runner.stop()
	c := e.take()
	if c.relayed["ham-again"] != 1 || c.places("ham-refused") != 0 {
		t.Errorf("ham after enable relayed %d times; refused ham found %d times", c.relayed["ham-again"], c.places("ham-refused"))
	}
	if len(c.bounced) != 2*maxSpam || len(c.dsnMsgs) != 2*maxSpam {
		t.Errorf("%d bounced, %d DSNs; want %d of each", len(c.bounced), len(c.dsnMsgs), 2*maxSpam)
	}
	for _, m := range c.dsnMsgs {
		checkDSN(t, m, dsnWant{status: "5.7.1", article: true, owns: ownedByShop1})
	}
	for seq, n := range c.relayed {
		if strings.HasPrefix(seq, "spam-") {
			t.Errorf("%s reached the relay %d times", seq, n)
		}
	}
}
