package spamruntest_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/spamrun/spamrun/spamruntest"
)

func dial(t *testing.T, s *spamruntest.SMTPSink) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c.CommandTimeout = 5 * time.Second
	t.Cleanup(func() { c.Close() })
	return c
}

func send(c *smtp.Client, from string, to []string, data string) error {
	if err := c.Mail(from, nil); err != nil {
		return fmt.Errorf("MAIL: %w", err)
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return fmt.Errorf("RCPT %s: %w", rcpt, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write([]byte(data)); err != nil {
		return err
	}
	return w.Close()
}

func wantReply(t *testing.T, err error, code int, enhanced smtp.EnhancedCode) {
	t.Helper()
	var reply *smtp.SMTPError
	if !errors.As(err, &reply) {
		t.Fatalf("got %v, want an SMTP reply %d", err, code)
	}
	if reply.Code != code || reply.EnhancedCode != enhanced {
		t.Fatalf("got %d %v %q, want %d %v", reply.Code, reply.EnhancedCode, reply.Message, code, enhanced)
	}
}

func TestSMTPSinkKeepsWhatArrives(t *testing.T) {
	s := spamruntest.NewSMTPSink(t)
	c := dial(t, s)
	if err := c.Hello("web1.example.net"); err != nil {
		t.Fatal(err)
	}
	// The client dot-stuffs ".hidden" and the sink must undo it; LF
	// becomes CRLF on the wire and must stay CRLF.
	data := "Subject: hi\n\n.hidden\nlast line\n"
	if err := send(c, "", []string{"a@example.org", "b@example.org"}, data); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	msgs := s.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	want := "Subject: hi\r\n\r\n.hidden\r\nlast line\r\n"
	if string(m.Data) != want {
		t.Errorf("Data = %q, want %q", m.Data, want)
	}
	if m.From != "" || !slices.Equal(m.To, []string{"a@example.org", "b@example.org"}) {
		t.Errorf("envelope %q -> %q", m.From, m.To)
	}
	if m.Helo != "web1.example.net" || m.TLS || m.User != "" || m.SMTPUTF8 {
		t.Errorf("Helo %q, TLS %v, User %q, SMTPUTF8 %v", m.Helo, m.TLS, m.User, m.SMTPUTF8)
	}
	// The caller's copy is its own.
	msgs[0].Data[0] = 'X'
	msgs[0].To[0] = "changed"
	if again := s.Messages()[0]; again.Data[0] != 'S' || again.To[0] != "a@example.org" {
		t.Error("Messages shares memory with the sink")
	}
	if tr := s.Transcript(); !strings.Contains(tr, "MAIL FROM:<>") || !strings.Contains(tr, "..hidden") {
		t.Errorf("transcript lacks the dialogue:\n%s", tr)
	}
}

// TestStartSMTPSink: a sink started without a test, as the demo starts
// its relay, takes mail until its owner closes it.
func TestStartSMTPSink(t *testing.T) {
	s, err := spamruntest.StartSMTPSink()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := dial(t, s)
	if err := send(c, "shop@shop1.example", []string{"a@example.org"}, "Subject: hi\n\nhello\n"); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	if msgs := s.Messages(); len(msgs) != 1 || msgs[0].From != "shop@shop1.example" {
		t.Fatalf("messages %+v, want the one sent", msgs)
	}
	s.Close()
	if conn, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		conn.Close()
		t.Error("a closed sink still accepts connections")
	}
}

// TestSMTPSinkListen: a sink listens where SinkListen says, there alone,
// and keeps that address; Set cannot move it.
func TestSMTPSinkListen(t *testing.T) {
	addr := spamruntest.FreeAddr(t)
	s := spamruntest.NewSMTPSink(t, spamruntest.SinkListen(addr))
	if s.Addr() != addr {
		t.Fatalf("sink on %s, want %s", s.Addr(), addr)
	}
	c := dial(t, s)
	if err := send(c, "shop@shop1.example", []string{"a@example.org"}, "Subject: hi\n\nhello\n"); err != nil {
		t.Fatal(err)
	}
	if msgs := s.WaitFor(t, 1, 5*time.Second); msgs[0].From != "shop@shop1.example" {
		t.Fatalf("messages %+v, want the one sent", msgs)
	}
	if err := s.Set(spamruntest.SinkListen(spamruntest.FreeAddr(t))); err == nil {
		t.Error("Set moved the sink to another address")
	}
	if _, err := spamruntest.StartSMTPSink(spamruntest.SinkListen(addr)); err == nil {
		t.Error("a second sink started on the first one's address")
	}
}

func TestSMTPSinkSMTPUTF8(t *testing.T) {
	s := spamruntest.NewSMTPSink(t)
	c := dial(t, s)
	if err := c.Mail("jürgen@bücher.example", &smtp.MailOptions{UTF8: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("zoë@example.org", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: grüße\r\n\r\nhallo\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	m := s.WaitFor(t, 1, time.Second)[0]
	if !m.SMTPUTF8 || m.From != "jürgen@bücher.example" || m.To[0] != "zoë@example.org" {
		t.Errorf("got %+v", m)
	}

	plain := spamruntest.NewSMTPSink(t, spamruntest.SinkNoSMTPUTF8())
	if ok, _ := dial(t, plain).Extension("SMTPUTF8"); ok {
		t.Error("SinkNoSMTPUTF8 still offers SMTPUTF8")
	}
}

func TestSMTPSinkRejectMail(t *testing.T) {
	s := spamruntest.NewSMTPSink(t, spamruntest.SinkRejectMail(451, "4.3.0", "try later"))
	err := send(dial(t, s), "shop@example.com", []string{"a@example.org"}, "x\r\n")
	wantReply(t, err, 451, smtp.EnhancedCode{4, 3, 0})
	if n := len(s.Messages()); n != 0 {
		t.Errorf("%d messages kept", n)
	}
	rej := s.Rejections()
	if len(rej) != 1 || rej[0].Stage != "MAIL" || rej[0].From != "shop@example.com" || rej[0].Code != 451 || rej[0].Enhanced != "4.3.0" {
		t.Errorf("Rejections = %+v", rej)
	}
}

func TestSMTPSinkRejectMailWithoutEnhancedCode(t *testing.T) {
	s := spamruntest.NewSMTPSink(t, spamruntest.SinkRejectMail(550, "", "go away"))
	err := send(dial(t, s), "shop@example.com", []string{"a@example.org"}, "x\r\n")
	wantReply(t, err, 550, smtp.EnhancedCode{})
	// Wait for the reply to reach the transcript (see Transcript).
	for deadline := time.Now().Add(2 * time.Second); !strings.Contains(s.Transcript(), "550 go away\r\n"); {
		if time.Now().After(deadline) {
			t.Fatalf("transcript lacks the bare 550:\n%s", s.Transcript())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSMTPSinkRejectRcpt(t *testing.T) {
	s := spamruntest.NewSMTPSink(t,
		spamruntest.SinkRejectRcpt("bad@example.org", 550, "5.1.1", "no such user"),
		spamruntest.SinkRejectRcpt("full@example.org", 452, "4.2.2", "mailbox full"))
	c := dial(t, s)
	if err := c.Mail("shop@example.com", nil); err != nil {
		t.Fatal(err)
	}
	wantReply(t, c.Rcpt("bad@example.org", nil), 550, smtp.EnhancedCode{5, 1, 1})
	if err := c.Rcpt("good@example.org", nil); err != nil {
		t.Fatal(err)
	}
	wantReply(t, c.Rcpt("full@example.org", nil), 452, smtp.EnhancedCode{4, 2, 2})
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("x\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if m := s.WaitFor(t, 1, time.Second); !slices.Equal(m[0].To, []string{"good@example.org"}) {
		t.Errorf("To = %q", m[0].To)
	}
	var refused []string
	for _, r := range s.Rejections() {
		refused = append(refused, fmt.Sprintf("%s %s %d", r.Stage, r.Rcpt, r.Code))
	}
	if want := []string{"RCPT bad@example.org 550", "RCPT full@example.org 452"}; !slices.Equal(refused, want) {
		t.Errorf("Rejections = %q, want %q", refused, want)
	}
}

func TestSMTPSinkRejectData(t *testing.T) {
	s := spamruntest.NewSMTPSink(t, spamruntest.SinkRejectData(554, "5.7.1", "spam"))
	err := send(dial(t, s), "shop@example.com", []string{"a@example.org"}, "x\r\n")
	wantReply(t, err, 554, smtp.EnhancedCode{5, 7, 1})
	if n := len(s.Messages()); n != 0 {
		t.Errorf("%d messages kept", n)
	}
	if rej := s.Rejections(); len(rej) != 1 || rej[0].Stage != "DATA" || !slices.Equal(rej[0].To, []string{"a@example.org"}) {
		t.Errorf("Rejections = %+v", rej)
	}
}

func TestSMTPSinkRejectDataFor(t *testing.T) {
	s := spamruntest.NewSMTPSink(t, spamruntest.SinkRejectDataFor("b@example.org", 554, "5.7.1", "not for b"))
	c := dial(t, s)
	wantReply(t, send(c, "shop@example.com", []string{"a@example.org", "b@example.org"}, "x\r\n"), 554, smtp.EnhancedCode{5, 7, 1})
	if err := send(c, "shop@example.com", []string{"a@example.org", "c@example.org"}, "y\r\n"); err != nil {
		t.Fatalf("a transaction without b: %v", err)
	}
	if m := s.Messages(); len(m) != 1 || !slices.Equal(m[0].To, []string{"a@example.org", "c@example.org"}) {
		t.Errorf("Messages = %+v", m)
	}
	if rej := s.Rejections(); len(rej) != 1 || rej[0].Stage != "DATA" || !slices.Equal(rej[0].To, []string{"a@example.org", "b@example.org"}) {
		t.Errorf("Rejections = %+v", rej)
	}
}

func TestSMTPSinkRecipientLimit(t *testing.T) {
	s := spamruntest.NewSMTPSink(t,
		spamruntest.SinkRecipientLimit(2),
		spamruntest.SinkRejectRcpt("bad@example.org", 550, "5.1.1", "no such user"))
	c := dial(t, s)
	for round := range 2 {
		if err := c.Mail("shop@example.com", nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("a@example.org", nil); err != nil {
			t.Fatal(err)
		}
		// A refused recipient does not count against the limit.
		wantReply(t, c.Rcpt("bad@example.org", nil), 550, smtp.EnhancedCode{5, 1, 1})
		if err := c.Rcpt("b@example.org", nil); err != nil {
			t.Fatal(err)
		}
		err := c.Rcpt("c@example.org", nil)
		wantReply(t, err, 452, smtp.EnhancedCode{4, 5, 3})
		if !strings.Contains(err.Error(), "too many recipients") {
			t.Errorf("452 reads %q", err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, "n: %d\r\n", round)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if got := s.Transactions(); got != round+1 {
			t.Errorf("Transactions = %d after %d", got, round+1)
		}
	}
	for _, m := range s.WaitFor(t, 2, time.Second) {
		if !slices.Equal(m.To, []string{"a@example.org", "b@example.org"}) || m.Conn != 1 {
			t.Errorf("message to %q on connection %d, want a and b on 1", m.To, m.Conn)
		}
	}
	var limited int
	for _, r := range s.Rejections() {
		if r.Stage == "RCPT" && r.Rcpt == "c@example.org" && r.Code == 452 && r.Enhanced == "4.5.3" {
			limited++
		}
	}
	if limited != 2 {
		t.Errorf("Rejections = %+v, want c refused with 452 4.5.3 twice", s.Rejections())
	}
}

func TestSMTPSinkMessagesPerConnection(t *testing.T) {
	s := spamruntest.NewSMTPSink(t, spamruntest.SinkMessagesPerConnection(1))
	c := dial(t, s)
	if err := send(c, "shop@example.com", []string{"a@example.org"}, "1\r\n"); err != nil {
		t.Fatal(err)
	}
	wantReply(t, c.Mail("shop@example.com", nil), 421, smtp.EnhancedCode{4, 7, 0})
	var reply *smtp.SMTPError
	if err := c.Noop(); err == nil || errors.As(err, &reply) {
		t.Errorf("NOOP after the 421: %v, want the connection closed", err)
	}
	if err := send(dial(t, s), "shop@example.com", []string{"b@example.org"}, "2\r\n"); err != nil {
		t.Fatalf("a new connection: %v", err)
	}
	msgs := s.WaitFor(t, 2, time.Second)
	if msgs[0].Conn != 1 || msgs[1].Conn != 2 {
		t.Errorf("messages on connections %d and %d, want 1 and 2", msgs[0].Conn, msgs[1].Conn)
	}
	if got := s.Transactions(); got != 2 {
		t.Errorf("Transactions = %d, want 2: the refused MAIL began none", got)
	}
}

func TestSMTPSinkHangUpAt(t *testing.T) {
	s := spamruntest.NewSMTPSink(t, spamruntest.SinkHangUpAt("crash@example.org"))
	c := dial(t, s)
	if err := c.Mail("shop@example.com", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("a@example.org", nil); err != nil {
		t.Fatal(err)
	}
	var reply *smtp.SMTPError
	if err := c.Rcpt("crash@example.org", nil); err == nil || errors.As(err, &reply) {
		t.Fatalf("RCPT of the crashing recipient: %v, want the connection closed without a reply", err)
	}
	if n := len(s.Messages()); n != 0 {
		t.Errorf("%d messages kept", n)
	}
}

func set(t *testing.T, s *spamruntest.SMTPSink, opts ...spamruntest.SinkOption) {
	t.Helper()
	if err := s.Set(opts...); err != nil {
		t.Fatal(err)
	}
}

func TestSMTPSinkSet(t *testing.T) {
	s := spamruntest.NewSMTPSink(t)
	c := dial(t, s)
	if err := c.Mail("shop@example.com", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("a@example.org", nil); err != nil {
		t.Fatal(err)
	}
	// A session under way meets the change at its next command.
	set(t, s, spamruntest.SinkRecipientLimit(1))
	wantReply(t, c.Rcpt("b@example.org", nil), 452, smtp.EnhancedCode{4, 5, 3})
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}

	set(t, s, spamruntest.SinkRejectMail(451, "4.3.0", "try later"))
	wantReply(t, send(c, "shop@example.com", []string{"a@example.org"}, "x\r\n"), 451, smtp.EnhancedCode{4, 3, 0})
	set(t, s, spamruntest.SinkRejectRcptsPast(0, 550, "5.1.1", "nobody here"))
	wantReply(t, send(c, "shop@example.com", []string{"a@example.org"}, "x\r\n"), 550, smtp.EnhancedCode{5, 1, 1})
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	set(t, s)
	if err := send(c, "shop@example.com", []string{"a@example.org", "b@example.org"}, "x\r\n"); err != nil {
		t.Fatalf("after Set with no options: %v", err)
	}
	if m := s.WaitFor(t, 1, time.Second); !slices.Equal(m[0].To, []string{"a@example.org", "b@example.org"}) {
		t.Errorf("To = %q", m[0].To)
	}

	for _, opt := range []spamruntest.SinkOption{
		spamruntest.SinkStartTLS(),
		spamruntest.SinkAuth("web1", "secret"),
		spamruntest.SinkNoSMTPUTF8(),
		spamruntest.SinkRecipientLimit(0),
	} {
		if err := s.Set(spamruntest.SinkRejectMail(554, "5.7.1", "go away"), opt); err == nil || !strings.HasPrefix(err.Error(), "spamruntest: SMTPSink.Set") {
			t.Errorf("Set accepted a fixed or bad option: %v", err)
		}
	}
	// A refused Set changes nothing.
	if err := send(c, "shop@example.com", []string{"a@example.org"}, "x\r\n"); err != nil {
		t.Errorf("after refused Sets: %v", err)
	}
}

func TestSMTPSinkSetFault(t *testing.T) {
	s := spamruntest.NewSMTPSink(t)
	c := dial(t, s)
	for _, tc := range []struct {
		fault    spamruntest.SinkFault
		code     int
		enhanced smtp.EnhancedCode
	}{
		{spamruntest.SinkFault{Stage: "MAIL", Code: 421, Enhanced: "4.3.2", Text: "shutting down"}, 421, smtp.EnhancedCode{4, 3, 2}},
		{spamruntest.SinkFault{Stage: "RCPT", Code: 452, Enhanced: "4.5.3", Text: "too many", AfterRcpts: 1}, 452, smtp.EnhancedCode{4, 5, 3}},
		{spamruntest.SinkFault{Stage: "DATA", Code: 554, Enhanced: "5.6.0", Text: "content rejected"}, 554, smtp.EnhancedCode{5, 6, 0}},
	} {
		if err := s.SetFault(tc.fault); err != nil {
			t.Fatal(err)
		}
		wantReply(t, send(c, "shop@example.com", []string{"a@example.org", "b@example.org"}, "x\r\n"), tc.code, tc.enhanced)
		if err := c.Reset(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetFault(spamruntest.SinkFault{}); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "shop@example.com", []string{"a@example.org", "b@example.org"}, "x\r\n"); err != nil {
		t.Errorf("after the zero fault: %v", err)
	}
	for _, f := range []spamruntest.SinkFault{{Stage: "EHLO", Code: 421}, {Stage: "MAIL", Code: 250}} {
		if err := s.SetFault(f); err == nil {
			t.Errorf("SetFault(%+v) accepted", f)
		}
	}
}

func TestSMTPSinkStopStart(t *testing.T) {
	s := spamruntest.NewSMTPSink(t)
	if err := send(dial(t, s), "shop@example.com", []string{"a@example.org"}, "1\r\n"); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	s.Stop() // twice is harmless
	if conn, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		conn.Close()
		t.Fatal("a stopped sink accepts connections")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start on a running sink: %v", err)
	}
	if err := send(dial(t, s), "shop@example.com", []string{"b@example.org"}, "2\r\n"); err != nil {
		t.Fatalf("after Start: %v", err)
	}
	if msgs := s.WaitFor(t, 2, time.Second); !slices.Equal(msgs[0].To, []string{"a@example.org"}) || !slices.Equal(msgs[1].To, []string{"b@example.org"}) {
		t.Errorf("messages %+v, want both, the first kept over the restart", msgs)
	}
	s.Close()
	if err := s.Start(); err == nil {
		t.Error("Start brought a closed sink back")
	}
}

func TestSMTPSinkStartTLS(t *testing.T) {
	s := spamruntest.NewSMTPSink(t, spamruntest.SinkStartTLS())
	if s.CertPool() == nil {
		t.Fatal("no CertPool")
	}
	// Without the sink's certificate the handshake must fail: otherwise
	// a test of certificate verification against the sink proves nothing.
	c, err := smtp.DialStartTLS(s.Addr(), &tls.Config{})
	if err == nil {
		err = c.Hello("client.example")
		c.Close()
	}
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		t.Fatalf("untrusted certificate: got %v, want a verification error", err)
	}

	c, err = smtp.DialStartTLS(s.Addr(), &tls.Config{RootCAs: s.CertPool()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := send(c, "shop@example.com", []string{"a@example.org"}, "x\r\n"); err != nil {
		t.Fatal(err)
	}
	if m := s.WaitFor(t, 1, time.Second)[0]; !m.TLS || m.Conn != 2 {
		// The session after STARTTLS is still the second connection's.
		t.Errorf("message over STARTTLS has TLS = %v, Conn = %d; want true, 2", m.TLS, m.Conn)
	}

	plain := spamruntest.NewSMTPSink(t)
	if ok, _ := dial(t, plain).Extension("STARTTLS"); ok {
		t.Error("a sink without SinkStartTLS offers STARTTLS")
	}
	if plain.CertPool() != nil {
		t.Error("a sink without SinkStartTLS has a CertPool")
	}
}

func TestSMTPSinkAuth(t *testing.T) {
	s := spamruntest.NewSMTPSink(t, spamruntest.SinkAuth("shop1", "s3cret"))

	err := send(dial(t, s), "shop@example.com", []string{"a@example.org"}, "x\r\n")
	wantReply(t, err, 530, smtp.EnhancedCode{5, 7, 0})

	c := dial(t, s)
	wantReply(t, c.Auth(sasl.NewPlainClient("", "shop1", "wrong")), 535, smtp.EnhancedCode{5, 7, 8})

	c = dial(t, s)
	if err := c.Auth(sasl.NewPlainClient("", "shop1", "s3cret")); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "shop@example.com", []string{"a@example.org"}, "x\r\n"); err != nil {
		t.Fatal(err)
	}
	if m := s.WaitFor(t, 1, time.Second)[0]; m.User != "shop1" {
		t.Errorf("User = %q", m.User)
	}
	var stages []string
	for _, r := range s.Rejections() {
		stages = append(stages, fmt.Sprintf("%s %d", r.Stage, r.Code))
	}
	if want := []string{"MAIL 530", "AUTH 535"}; !slices.Equal(stages, want) {
		t.Errorf("Rejections = %q, want %q", stages, want)
	}
}

func TestSMTPSinkAuthOnlyAfterStartTLS(t *testing.T) {
	s := spamruntest.NewSMTPSink(t, spamruntest.SinkStartTLS(), spamruntest.SinkAuth("shop1", "s3cret"))
	if dial(t, s).SupportsAuth(sasl.Plain) {
		t.Error("AUTH offered before STARTTLS")
	}
	c, err := smtp.DialStartTLS(s.Addr(), &tls.Config{RootCAs: s.CertPool()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "shop1", "s3cret")); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "shop@example.com", []string{"a@example.org"}, "x\r\n"); err != nil {
		t.Fatal(err)
	}
	if m := s.WaitFor(t, 1, time.Second)[0]; m.User != "shop1" || !m.TLS {
		t.Errorf("User %q, TLS %v", m.User, m.TLS)
	}
}

func TestSMTPSinkDelay(t *testing.T) {
	const delay = 300 * time.Millisecond
	s := spamruntest.NewSMTPSink(t, spamruntest.SinkDelay(delay))
	c := dial(t, s)
	start := time.Now()
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < delay {
		t.Errorf("EHLO answered after %v, want at least %v", took, delay)
	}

	c = dial(t, s)
	c.CommandTimeout = 50 * time.Millisecond
	var netErr net.Error
	if err := c.Hello("client.example"); !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Errorf("EHLO with a 50ms timeout: %v, want a timeout", err)
	}
}

func TestSMTPSinkClose(t *testing.T) {
	s := spamruntest.NewSMTPSink(t, spamruntest.SinkDelay(time.Minute))
	c := dial(t, s)
	done := make(chan error, 1)
	go func() { done <- c.Hello("client.example") }()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	s.Close()
	s.Close() // twice is harmless
	select {
	case err := <-done:
		if err == nil {
			t.Error("EHLO succeeded on a closed sink")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close left a session waiting out its delay")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %v to drop the session", took)
	}
	if conn, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		conn.Close()
		t.Error("a closed sink still accepts connections")
	}
}

func TestSMTPSinkConcurrentSessions(t *testing.T) {
	s := spamruntest.NewSMTPSink(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			c, err := smtp.Dial(s.Addr())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			errs <- send(c, fmt.Sprintf("s%d@example.com", i), []string{"a@example.org"}, fmt.Sprintf("n: %d\r\n", i))
		})
	}
	msgs := s.WaitFor(t, n, 5*time.Second)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	var senders []string
	for _, m := range msgs {
		senders = append(senders, m.From)
	}
	slices.Sort(senders)
	if len(slices.Compact(senders)) != n {
		t.Errorf("senders %q, want %d distinct", senders, n)
	}
}

// fatalTB records a Fatalf and stops the goroutine, as testing does, so
// a helper's own failure can be tested.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper()           {}
func (f *fatalTB) Cleanup(fn func()) { f.TB.Cleanup(fn) }
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func runFatal(t *testing.T, fn func(tb testing.TB)) string {
	tb := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(tb)
	}()
	<-done
	return tb.msg
}

func TestSMTPSinkWaitForTimesOut(t *testing.T) {
	s := spamruntest.NewSMTPSink(t)
	start := time.Now()
	msg := runFatal(t, func(tb testing.TB) { s.WaitFor(tb, 1, 100*time.Millisecond) })
	if !strings.Contains(msg, "0 messages") {
		t.Errorf("WaitFor on an empty sink: Fatalf %q", msg)
	}
	if took := time.Since(start); took < 100*time.Millisecond || took > 3*time.Second {
		t.Errorf("WaitFor gave up after %v", took)
	}
}

func TestSMTPSinkBadOption(t *testing.T) {
	for _, opt := range []spamruntest.SinkOption{
		spamruntest.SinkRejectMail(250, "2.0.0", "not a refusal"),
		spamruntest.SinkRejectData(550, "5.7", "short enhanced code"),
		spamruntest.SinkRejectRcpt("a@example.org", 550, "x.y.z", "letters"),
		spamruntest.SinkRejectDataFor("a@example.org", 250, "", "not a refusal"),
		spamruntest.SinkRecipientLimit(0),
		spamruntest.SinkRejectRcptsPast(-1, 550, "5.1.1", "negative"),
		spamruntest.SinkMessagesPerConnection(-1),
	} {
		s, err := spamruntest.StartSMTPSink(opt)
		if err == nil {
			s.Close()
			t.Errorf("StartSMTPSink accepted a bad option")
			continue
		}
		if !strings.Contains(err.Error(), "StartSMTPSink") {
			t.Errorf("StartSMTPSink: error %q does not name it", err)
		}
		if msg := runFatal(t, func(tb testing.TB) { spamruntest.NewSMTPSink(tb, opt) }); msg != err.Error() {
			t.Errorf("NewSMTPSink with a bad option: Fatalf %q, want %q", msg, err)
		}
	}
}
