package spamruntest_test

import (
	"context"
	"errors"
	"net/smtp"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun/spamruntest"
)

// TestPostfixRelaysToSink: a message sent over SMTP to the instance
// reaches the next hop with its envelope, and smtpd_recipient_limit
// refuses the recipient past it with 452.
func TestPostfixRelaysToSink(t *testing.T) {
	sink := spamruntest.NewSMTPSink(t)
	pf := spamruntest.StartPostfix(t, spamruntest.PostfixOptions{Relay: sink.Addr(), RecipientLimit: 2})

	c, err := smtp.Dial(pf.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("site@example.org"); err != nil {
		t.Fatal(err)
	}
	for _, rcpt := range []string{"one@example.net", "two@example.net"} {
		if err := c.Rcpt(rcpt); err != nil {
			t.Fatalf("RCPT TO:<%s>: %v", rcpt, err)
		}
	}
	var tpErr *textproto.Error
	if err := c.Rcpt("three@example.net"); !errors.As(err, &tpErr) || tpErr.Code != 452 {
		t.Fatalf("third RCPT: %v, want 452", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("From: site@example.org\r\nSubject: through Postfix\r\n\r\nhello\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()

	got := sink.WaitFor(t, 1, 30*time.Second)[0]
	if got.From != "site@example.org" || !slices.Equal(got.To, []string{"one@example.net", "two@example.net"}) {
		t.Errorf("the sink got MAIL FROM:<%s> RCPT TO:%v, want site@example.org and the two recipients Postfix took", got.From, got.To)
	}
	if !strings.Contains(string(got.Data), "Subject: through Postfix") || got.Helo != "postfix.spamrun.test" {
		t.Errorf("the sink got HELO %q and:\n%s", got.Helo, got.Data)
	}
}

// TestPostfixInstances: two instances run side by side, each with its
// own queue and next hop; mail the next hop cannot take waits in the
// queue as deferred, and Flush sends it once the next hop is back.
func TestPostfixInstances(t *testing.T) {
	sinkA, sinkB := spamruntest.NewSMTPSink(t), spamruntest.NewSMTPSink(t)
	pfA := spamruntest.StartPostfix(t, spamruntest.PostfixOptions{Relay: sinkA.Addr()})
	pfB := spamruntest.StartPostfix(t, spamruntest.PostfixOptions{Relay: sinkB.Addr()})
	if pfA.Addr() == pfB.Addr() || pfA.QueueDir() == pfB.QueueDir() {
		t.Fatalf("two instances share %s or %s", pfA.Addr(), pfA.QueueDir())
	}
	sinkB.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, pf := range []*spamruntest.Postfix{pfA, pfB} {
		cmd := pf.Sendmail(ctx, "", "-f", "root@example.org", "-i", "rcpt@example.net")
		cmd.Stdin = strings.NewReader("Subject: by sendmail -C\n\nhello\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", cmd.Args, err, out)
		}
	}
	if got := sinkA.WaitFor(t, 1, 30*time.Second)[0]; got.From != "root@example.org" || !slices.Equal(got.To, []string{"rcpt@example.net"}) {
		t.Errorf("sink A got MAIL FROM:<%s> RCPT TO:%v", got.From, got.To)
	}

	var deferred spamruntest.PostfixMessage
	for deadline := time.Now().Add(30 * time.Second); deferred.ID == ""; time.Sleep(100 * time.Millisecond) {
		for _, m := range pfB.Queue() {
			if m.Queue == "deferred" {
				deferred = m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no deferred message in instance B after 30s: %+v", pfB.Queue())
		}
	}
	if deferred.Sender != "root@example.org" || len(deferred.Recipients) != 1 ||
		!strings.Contains(deferred.Recipients[0].DelayReason, "Connection refused") {
		t.Errorf("deferred: %+v", deferred)
	}
	if n := len(sinkA.Messages()); n != 1 {
		t.Errorf("sink A has %d messages, want only its instance's one", n)
	}

	if err := sinkB.Start(); err != nil {
		t.Fatal(err)
	}
	pfB.Flush()
	if got := sinkB.WaitFor(t, 1, 30*time.Second)[0]; got.From != "root@example.org" {
		t.Errorf("sink B got MAIL FROM:<%s>", got.From)
	}
}

// TestPostfixInNetNS: inside a network namespace the instance takes
// 127.0.0.1:25, the address site users' mailers try first.
func TestPostfixInNetNS(t *testing.T) {
	if !spamruntest.InNetNS(t) {
		return
	}
	sink := spamruntest.NewSMTPSink(t)
	pf := spamruntest.StartPostfix(t, spamruntest.PostfixOptions{Listen: "127.0.0.1:25", Relay: sink.Addr()})
	if err := smtp.SendMail(pf.Addr(), nil, "site@example.org", []string{"mx@example.net"},
		[]byte("Subject: port 25\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	if got := sink.WaitFor(t, 1, 30*time.Second)[0]; !slices.Equal(got.To, []string{"mx@example.net"}) {
		t.Errorf("the sink got RCPT TO:%v", got.To)
	}
}
