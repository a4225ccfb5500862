package relay_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spamrun/spamrun/relay"
	"github.com/spamrun/spamrun/spamruntest"
)

const order = "From: Shop <shop@example.com>\r\n" +
	"To: a@example.org\r\n" +
	"Subject: Your order 1042\r\n" +
	"\r\n" +
	"Thank you for your order.\r\n" +
	".a line that starts with a dot\r\n" +
	".\r\n" +
	"Grüße, caf\xc3\xa9\r\n"

func envelope(to ...string) relay.Envelope {
	return relay.Envelope{From: "shop@example.com", To: to}
}

func deliver(r relay.Relay, env relay.Envelope, data string) error {
	return r.Deliver(context.Background(), env, strings.NewReader(data))
}

// relayErr returns err as an *Error, failing the test if it is not one.
func relayErr(t *testing.T, err error) *relay.Error {
	t.Helper()
	var e *relay.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %T %v, want a *relay.Error", err, err)
	}
	return e
}

func wantTemporary(t *testing.T, err error) *relay.Error {
	t.Helper()
	e := relayErr(t, err)
	if !e.Temporary() || !relay.IsTemporary(err) || relay.IsPermanent(err) {
		t.Fatalf("%v: Temporary %v, IsTemporary %v, IsPermanent %v; want temporary", err, e.Temporary(), relay.IsTemporary(err), relay.IsPermanent(err))
	}
	if !strings.HasPrefix(err.Error(), "relay: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
	return e
}

func wantPermanent(t *testing.T, err error) *relay.Error {
	t.Helper()
	e := relayErr(t, err)
	if e.Temporary() || relay.IsTemporary(err) || !relay.IsPermanent(err) {
		t.Fatalf("%v: Temporary %v, IsTemporary %v, IsPermanent %v; want permanent", err, e.Temporary(), relay.IsTemporary(err), relay.IsPermanent(err))
	}
	if !strings.HasPrefix(err.Error(), "relay: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
	return e
}

func wantNoMessages(t *testing.T, sink *spamruntest.SMTPSink) {
	t.Helper()
	if msgs := sink.Messages(); len(msgs) != 0 {
		t.Errorf("the sink accepted %d messages, want none; first to %q", len(msgs), msgs[0].To)
	}
}

// finishedTranscript waits until the sink has read the client's QUIT or
// the connection ended, so a check that a command was never sent is not
// made too early.
func finishedTranscript(t *testing.T, sink *spamruntest.SMTPSink) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		tr := sink.Transcript()
		if strings.Contains(tr, "QUIT\r\n") || time.Now().After(deadline) {
			return tr
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSMTPDeliversExactly(t *testing.T) {
	sink := spamruntest.NewSMTPSink(t)
	r := &relay.SMTP{Addr: sink.Addr(), Helo: "web1.example.net"}
	env := envelope("a@example.org", "b@example.net", "c@example.com")
	if err := deliver(r, env, order); err != nil {
		t.Fatal(err)
	}
	m := sink.WaitFor(t, 1, time.Second)[0]
	if !bytes.Equal(m.Data, []byte(order)) {
		t.Errorf("data arrived as\n%q\nwant\n%q", m.Data, order)
	}
	if m.From != env.From || !slices.Equal(m.To, env.To) {
		t.Errorf("envelope arrived as %q -> %q, want %q -> %q", m.From, m.To, env.From, env.To)
	}
	if m.Helo != "web1.example.net" || m.TLS || m.User != "" || m.SMTPUTF8 {
		t.Errorf("Helo %q, TLS %v, User %q, SMTPUTF8 %v", m.Helo, m.TLS, m.User, m.SMTPUTF8)
	}
	if n := len(sink.Messages()); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}

func TestSMTPBareLinefeedsBecomeCRLF(t *testing.T) {
	sink := spamruntest.NewSMTPSink(t)
	if err := deliver(&relay.SMTP{Addr: sink.Addr()}, envelope("a@example.org"), "Subject: x\n\nline\n.\nend"); err != nil {
		t.Fatal(err)
	}
	// SMTP lines end in CRLF, and a message must end with one.
	if got, want := string(sink.WaitFor(t, 1, time.Second)[0].Data), "Subject: x\r\n\r\nline\r\n.\r\nend\r\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSMTPNullSender(t *testing.T) {
	sink := spamruntest.NewSMTPSink(t)
	env := relay.Envelope{From: "", To: []string{"shop@example.com"}}
	if err := deliver(&relay.SMTP{Addr: sink.Addr()}, env, order); err != nil {
		t.Fatal(err)
	}
	if m := sink.WaitFor(t, 1, time.Second)[0]; m.From != "" {
		t.Errorf("From = %q, want the null sender", m.From)
	}
	if tr := sink.Transcript(); !strings.Contains(tr, "MAIL FROM:<> ") && !strings.Contains(tr, "MAIL FROM:<>\r\n") {
		t.Errorf("no MAIL FROM:<> in\n%s", tr)
	}
}

func TestSMTPDefaultHelo(t *testing.T) {
	host, err := os.Hostname()
	if err != nil || host == "" || strings.ContainsAny(host, " \t") {
		t.Skip("no usable host name")
	}
	sink := spamruntest.NewSMTPSink(t)
	if err := deliver(&relay.SMTP{Addr: sink.Addr()}, envelope("a@example.org"), order); err != nil {
		t.Fatal(err)
	}
	if m := sink.WaitFor(t, 1, time.Second)[0]; m.Helo != host {
		t.Errorf("Helo = %q, want the host name %q", m.Helo, host)
	}
}

func TestSMTPSomeRecipientsRefused(t *testing.T) {
	sink := spamruntest.NewSMTPSink(t, spamruntest.SinkRejectRcpt("gone@example.org", 550, "5.1.1", "no such user"))
	env := envelope("a@example.org", "gone@example.org", "c@example.com")
	err := deliver(&relay.SMTP{Addr: sink.Addr()}, env, order)
	e := wantPermanent(t, err)
	want := []relay.Refusal{{Rcpt: "gone@example.org", Code: 550, Enhanced: "5.1.1", Message: "no such user"}}
	if !slices.Equal(e.Rcpts, want) {
		t.Errorf("Rcpts = %+v, want %+v", e.Rcpts, want)
	}
	if !strings.Contains(err.Error(), "<gone@example.org>: 550 5.1.1 no such user") {
		t.Errorf("error %q does not name the refusal", err)
	}
	m := sink.WaitFor(t, 1, time.Second)[0]
	if want := []string{"a@example.org", "c@example.com"}; !slices.Equal(m.To, want) {
		t.Errorf("delivered to %q, want %q", m.To, want)
	}
	if !bytes.Equal(m.Data, []byte(order)) {
		t.Errorf("data %q", m.Data)
	}
}

func TestSMTPRecipientRefusedTemporarily(t *testing.T) {
	sink := spamruntest.NewSMTPSink(t,
		spamruntest.SinkRejectRcpt("gone@example.org", 550, "5.1.1", "no such user"),
		spamruntest.SinkRejectRcpt("full@example.org", 452, "4.2.2", "mailbox full"))
	env := envelope("gone@example.org", "full@example.org", "a@example.org")
	err := deliver(&relay.SMTP{Addr: sink.Addr()}, env, order)
	// One recipient is worth retrying, so the whole is temporary; the
	// refusals say which is which.
	e := wantTemporary(t, err)
	if len(e.Rcpts) != 2 || e.Rcpts[0].Temporary() || !e.Rcpts[1].Temporary() || e.Rcpts[1].Rcpt != "full@example.org" {
		t.Errorf("Rcpts = %+v", e.Rcpts)
	}
	if m := sink.WaitFor(t, 1, time.Second)[0]; !slices.Equal(m.To, []string{"a@example.org"}) {
		t.Errorf("delivered to %q", m.To)
	}
}

func TestSMTPAllRecipientsRefused(t *testing.T) {
	sink := spamruntest.NewSMTPSink(t,
		spamruntest.SinkRejectRcpt("a@example.org", 550, "5.1.1", "no such user"),
		spamruntest.SinkRejectRcpt("b@example.org", 553, "", "relaying denied"))
	err := deliver(&relay.SMTP{Addr: sink.Addr()}, envelope("a@example.org", "b@example.org"), order)
	e := wantPermanent(t, err)
	want := []relay.Refusal{
		{Rcpt: "a@example.org", Code: 550, Enhanced: "5.1.1", Message: "no such user"},
		// No enhanced code from the MTA: one derived from the reply.
		{Rcpt: "b@example.org", Code: 553, Enhanced: "5.0.0", Message: "relaying denied"},
	}
	if !slices.Equal(e.Rcpts, want) {
		t.Errorf("Rcpts = %+v, want %+v", e.Rcpts, want)
	}
	wantNoMessages(t, sink)
	if tr := finishedTranscript(t, sink); strings.Contains(tr, "DATA") {
		t.Errorf("DATA sent with every recipient refused:\n%s", tr)
	}
}

func TestSMTPRefusedAtData(t *testing.T) {
	for _, tc := range []struct {
		code      int
		enhanced  string
		temporary bool
	}{
		{451, "4.3.0", true},
		{554, "5.7.1", false},
	} {
		sink := spamruntest.NewSMTPSink(t, spamruntest.SinkRejectData(tc.code, tc.enhanced, "not now"))
		err := deliver(&relay.SMTP{Addr: sink.Addr()}, envelope("a@example.org", "b@example.org"), order)
		var e *relay.Error
		if tc.temporary {
			e = wantTemporary(t, err)
		} else {
			e = wantPermanent(t, err)
		}
		if e.Code != tc.code || e.Enhanced != tc.enhanced || e.Message != "not now" || e.Rcpts != nil {
			t.Errorf("%d: got %d %q %q, Rcpts %v", tc.code, e.Code, e.Enhanced, e.Message, e.Rcpts)
		}
		if want := "relay: smtp " + sink.Addr() + ": " + strconv.Itoa(tc.code) + " " + tc.enhanced + " not now"; err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
		wantNoMessages(t, sink)
	}
}

func TestSMTPRefusedAtDataAfterSomeRecipients(t *testing.T) {
	sink := spamruntest.NewSMTPSink(t,
		spamruntest.SinkRejectRcpt("gone@example.org", 550, "5.1.1", "no such user"),
		spamruntest.SinkRejectData(451, "4.3.0", "try later"))
	err := deliver(&relay.SMTP{Addr: sink.Addr()}, envelope("gone@example.org", "a@example.org"), order)
	e := wantTemporary(t, err)
	// Every recipient is listed, because none got the message.
	want := []relay.Refusal{
		{Rcpt: "gone@example.org", Code: 550, Enhanced: "5.1.1", Message: "no such user"},
		{Rcpt: "a@example.org", Code: 451, Enhanced: "4.3.0", Message: "try later"},
	}
	if !slices.Equal(e.Rcpts, want) {
		t.Errorf("Rcpts = %+v, want %+v", e.Rcpts, want)
	}
	wantNoMessages(t, sink)
}

func TestSMTPSenderRefused(t *testing.T) {
	sink := spamruntest.NewSMTPSink(t, spamruntest.SinkRejectMail(550, "", "sender rejected"))
	e := wantPermanent(t, deliver(&relay.SMTP{Addr: sink.Addr()}, envelope("a@example.org"), order))
	if e.Code != 550 || e.Enhanced != "5.0.0" || e.Message != "sender rejected" {
		t.Errorf("got %d %q %q", e.Code, e.Enhanced, e.Message)
	}
	if tr := finishedTranscript(t, sink); strings.Contains(tr, "RCPT") {
		t.Errorf("RCPT sent after MAIL was refused:\n%s", tr)
	}
}

func TestSMTPRelayDown(t *testing.T) {
	sink := spamruntest.NewSMTPSink(t)
	sink.Close()
	err := deliver(&relay.SMTP{Addr: sink.Addr()}, envelope("a@example.org"), order)
	e := wantTemporary(t, err)
	if e.Code != 0 || e.Enhanced != "4.4.1" || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("got %d %q, %v; want 4.4.1 and ECONNREFUSED", e.Code, e.Enhanced, err)
	}
}

func TestSMTPTimeout(t *testing.T) {
	sink := spamruntest.NewSMTPSink(t, spamruntest.SinkDelay(time.Minute))
	const timeout = 300 * time.Millisecond
	start := time.Now()
	err := deliver(&relay.SMTP{Addr: sink.Addr(), Timeout: timeout}, envelope("a@example.org"), order)
	took := time.Since(start)
	e := wantTemporary(t, err)
	if !errors.Is(err, context.DeadlineExceeded) || e.Enhanced != "4.4.2" {
		t.Errorf("got %v (%s), want a 4.4.2 deadline error", err, e.Enhanced)
	}
	if took < timeout || took > timeout+2*time.Second {
		t.Errorf("gave up after %v with a %v timeout", took, timeout)
	}
}

func TestSMTPTimeoutBoundsTheWholeDelivery(t *testing.T) {
	// Each answer comes well within the timeout, their sum (EHLO, MAIL,
	// two RCPT, DATA) does not: an MTA that is slow at every step still
	// counts as down.
	sink := spamruntest.NewSMTPSink(t, spamruntest.SinkDelay(150*time.Millisecond))
	const timeout = 400 * time.Millisecond
	start := time.Now()
	err := deliver(&relay.SMTP{Addr: sink.Addr(), Timeout: timeout}, envelope("a@example.org", "b@example.org"), order)
	if wantTemporary(t, err); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want a deadline error", err)
	}
	if took := time.Since(start); took > timeout+time.Second {
		t.Errorf("took %v with a %v timeout", took, timeout)
	}
	wantNoMessages(t, sink)
}

func TestSMTPCancel(t *testing.T) {
	sink := spamruntest.NewSMTPSink(t, spamruntest.SinkDelay(time.Minute))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err := (&relay.SMTP{Addr: sink.Addr()}).Deliver(ctx, envelope("a@example.org"), strings.NewReader(order))
	wantTemporary(t, err)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("cancel took %v to end the delivery", took)
	}
}

func TestSMTPStartTLSRequired(t *testing.T) {
	tlsSink := spamruntest.NewSMTPSink(t, spamruntest.SinkStartTLS())
	r := &relay.SMTP{Addr: tlsSink.Addr(), StartTLS: relay.StartTLSRequired, TLSConfig: &tls.Config{RootCAs: tlsSink.CertPool()}}
	if err := deliver(r, envelope("a@example.org"), order); err != nil {
		t.Fatal(err)
	}
	if m := tlsSink.WaitFor(t, 1, time.Second)[0]; !m.TLS || !bytes.Equal(m.Data, []byte(order)) {
		t.Errorf("TLS %v, data %q", m.TLS, m.Data)
	}

	plainSink := spamruntest.NewSMTPSink(t)
	r = &relay.SMTP{Addr: plainSink.Addr(), StartTLS: relay.StartTLSRequired, TLSConfig: &tls.Config{RootCAs: tlsSink.CertPool()}}
	err := deliver(r, envelope("a@example.org"), order)
	if e := wantTemporary(t, err); !errors.Is(err, relay.ErrNoStartTLS) || e.Enhanced != "4.7.4" {
		t.Errorf("got %v (%s), want ErrNoStartTLS", err, e.Enhanced)
	}
	wantNoMessages(t, plainSink)
}

func TestSMTPStartTLSRequiredVerifies(t *testing.T) {
	sink := spamruntest.NewSMTPSink(t, spamruntest.SinkStartTLS())
	// No TLSConfig: the system roots, which do not hold the sink's
	// self-signed certificate.
	err := deliver(&relay.SMTP{Addr: sink.Addr(), StartTLS: relay.StartTLSRequired}, envelope("a@example.org"), order)
	var verr *tls.CertificateVerificationError
	if e := wantTemporary(t, err); !errors.As(err, &verr) || e.Enhanced != "4.7.5" {
		t.Errorf("got %v (%s), want a 4.7.5 certificate verification error", err, e.Enhanced)
	}
	wantNoMessages(t, sink)

	insecure := &relay.SMTP{Addr: sink.Addr(), StartTLS: relay.StartTLSRequired, TLSConfig: &tls.Config{InsecureSkipVerify: true}}
	err = deliver(insecure, envelope("a@example.org"), order)
	if wantTemporary(t, err); !errors.Is(err, relay.ErrBadConfig) {
		t.Errorf("required TLS without verification: got %v, want ErrBadConfig", err)
	}
	wantNoMessages(t, sink)
}

func TestSMTPStartTLSOpportunistic(t *testing.T) {
	tlsSink := spamruntest.NewSMTPSink(t, spamruntest.SinkStartTLS())
	if err := deliver(&relay.SMTP{Addr: tlsSink.Addr(), StartTLS: relay.StartTLSOpportunistic}, envelope("a@example.org"), order); err != nil {
		t.Fatal(err)
	}
	if m := tlsSink.WaitFor(t, 1, time.Second)[0]; !m.TLS {
		t.Error("opportunistic TLS did not encrypt although STARTTLS was offered")
	}

	plainSink := spamruntest.NewSMTPSink(t)
	if err := deliver(&relay.SMTP{Addr: plainSink.Addr(), StartTLS: relay.StartTLSOpportunistic, Helo: "web1.example.net"}, envelope("a@example.org"), order); err != nil {
		t.Fatal(err)
	}
	if m := plainSink.WaitFor(t, 1, time.Second)[0]; m.TLS || !bytes.Equal(m.Data, []byte(order)) || m.Helo != "web1.example.net" {
		t.Errorf("TLS %v, Helo %q, data %q", m.TLS, m.Helo, m.Data)
	}

	offSink := spamruntest.NewSMTPSink(t, spamruntest.SinkStartTLS())
	if err := deliver(&relay.SMTP{Addr: offSink.Addr()}, envelope("a@example.org"), order); err != nil {
		t.Fatal(err)
	}
	if m := offSink.WaitFor(t, 1, time.Second)[0]; m.TLS {
		t.Error("StartTLSOff used STARTTLS")
	}
}

func TestSMTPStartTLSOpportunisticVerifiesGivenConfig(t *testing.T) {
	sink := spamruntest.NewSMTPSink(t, spamruntest.SinkStartTLS())
	// A TLSConfig asks for verification; failing it must not fall back
	// to plain text.
	r := &relay.SMTP{Addr: sink.Addr(), StartTLS: relay.StartTLSOpportunistic, TLSConfig: &tls.Config{}}
	err := deliver(r, envelope("a@example.org"), order)
	var verr *tls.CertificateVerificationError
	if wantTemporary(t, err); !errors.As(err, &verr) {
		t.Errorf("got %v, want a certificate verification error", err)
	}
	wantNoMessages(t, sink)
}

func TestSMTPAuth(t *testing.T) {
	sink := spamruntest.NewSMTPSink(t, spamruntest.SinkAuth("shop1", "s3cret"))
	r := &relay.SMTP{Addr: sink.Addr(), Username: "shop1", Password: "s3cret"}
	if err := deliver(r, envelope("a@example.org"), order); err != nil {
		t.Fatal(err)
	}
	if m := sink.WaitFor(t, 1, time.Second)[0]; m.User != "shop1" {
		t.Errorf("User = %q", m.User)
	}

	// A wrong password is the host's to fix: the message waits, with the
	// server's reply kept for the log.
	r.Password = "wrong"
	err := deliver(r, envelope("a@example.org"), order)
	if e := wantTemporary(t, err); e.Code != 535 || e.Enhanced != "5.7.8" {
		t.Errorf("wrong password: %v", err)
	}
	if n := len(sink.Messages()); n != 1 {
		t.Errorf("%d messages after a failed AUTH, want still 1", n)
	}

	noAuth := spamruntest.NewSMTPSink(t)
	err = deliver(&relay.SMTP{Addr: noAuth.Addr(), Username: "shop1", Password: "s3cret"}, envelope("a@example.org"), order)
	if wantTemporary(t, err); !errors.Is(err, relay.ErrAuthUnavailable) {
		t.Errorf("AUTH not offered: got %v, want ErrAuthUnavailable", err)
	}
	wantNoMessages(t, noAuth)
}

func TestSMTPAuthOverStartTLS(t *testing.T) {
	// The sink offers AUTH only after STARTTLS.
	sink := spamruntest.NewSMTPSink(t, spamruntest.SinkStartTLS(), spamruntest.SinkAuth("shop1", "s3cret"))
	r := &relay.SMTP{
		Addr: sink.Addr(), StartTLS: relay.StartTLSRequired, TLSConfig: &tls.Config{RootCAs: sink.CertPool()},
		Username: "shop1", Password: "s3cret",
	}
	if err := deliver(r, envelope("a@example.org"), order); err != nil {
		t.Fatal(err)
	}
	if m := sink.WaitFor(t, 1, time.Second)[0]; m.User != "shop1" || !m.TLS {
		t.Errorf("User %q, TLS %v", m.User, m.TLS)
	}
}

func TestSMTPUTF8(t *testing.T) {
	sink := spamruntest.NewSMTPSink(t)
	r := &relay.SMTP{Addr: sink.Addr()}
	for _, tc := range []struct {
		env  relay.Envelope
		want bool
	}{
		{relay.Envelope{From: "jürgen@bücher.example", To: []string{"a@example.org"}}, true},
		{relay.Envelope{From: "shop@example.com", To: []string{"a@example.org", "zoë@example.org"}}, true},
		{relay.Envelope{From: "shop@example.com", To: []string{"a@example.org"}, SMTPUTF8: true}, true},
		{relay.Envelope{From: "shop@example.com", To: []string{"a@example.org"}}, false},
	} {
		if err := deliver(r, tc.env, order); err != nil {
			t.Fatal(err)
		}
		msgs := sink.Messages()
		if m := msgs[len(msgs)-1]; m.SMTPUTF8 != tc.want || m.From != tc.env.From || !slices.Equal(m.To, tc.env.To) {
			t.Errorf("%+v arrived as %q -> %q with SMTPUTF8 %v, want %v", tc.env, m.From, m.To, m.SMTPUTF8, tc.want)
		}
	}

	old := spamruntest.NewSMTPSink(t, spamruntest.SinkNoSMTPUTF8())
	err := deliver(&relay.SMTP{Addr: old.Addr()}, relay.Envelope{From: "shop@example.com", To: []string{"zoë@example.org"}}, order)
	if e := wantPermanent(t, err); !errors.Is(err, relay.ErrNoSMTPUTF8) || e.Enhanced != "5.6.7" {
		t.Errorf("got %v (%s), want ErrNoSMTPUTF8 5.6.7", err, e.Enhanced)
	}
	wantNoMessages(t, old)
}

func TestSMTPBadEnvelope(t *testing.T) {
	sink := spamruntest.NewSMTPSink(t)
	r := &relay.SMTP{Addr: sink.Addr()}
	for _, env := range []relay.Envelope{
		{From: "a@example.com>\r\nRCPT TO:<victim@example.org", To: []string{"a@example.org"}},
		{From: "shop@example.com", To: []string{"a@example.org> NOTIFY=NEVER"}},
		{From: "shop@example.com", To: []string{""}},
		{From: "shop@example.com", To: []string{"a@example.org\x00"}},
		{From: "shop@example.com", To: []string{"bad-\xff@example.org"}},
	} {
		if err := deliver(r, env, order); !errors.Is(err, relay.ErrBadAddress) {
			t.Errorf("%q -> %q: got %v, want ErrBadAddress", env.From, env.To, err)
		} else {
			wantPermanent(t, err)
		}
	}
	err := deliver(r, relay.Envelope{From: "shop@example.com"}, order)
	if wantPermanent(t, err); !errors.Is(err, relay.ErrNoRecipients) {
		t.Errorf("no recipients: got %v", err)
	}
	if tr := sink.Transcript(); tr != "" {
		t.Errorf("a bad envelope reached the MTA:\n%s", tr)
	}
}

func TestSMTPBadConfig(t *testing.T) {
	for _, r := range []*relay.SMTP{
		{Addr: "127.0.0.1"},
		{Addr: "127.0.0.1:25", Helo: "two words"},
		{Addr: "127.0.0.1:25", StartTLS: relay.StartTLSMode(7)},
	} {
		err := deliver(r, envelope("a@example.org"), order)
		if wantTemporary(t, err); !errors.Is(err, relay.ErrBadConfig) {
			t.Errorf("%+v: got %v, want ErrBadConfig", r, err)
		}
	}
}

type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

func TestSMTPReadErrorSendsNothing(t *testing.T) {
	sink := spamruntest.NewSMTPSink(t)
	broken := errors.New("spool file vanished")
	data := io.MultiReader(strings.NewReader("Subject: half\r\n\r\nthe first half\r\n"), failingReader{broken})
	err := (&relay.SMTP{Addr: sink.Addr()}).Deliver(context.Background(), envelope("a@example.org"), data)
	if wantTemporary(t, err); !errors.Is(err, broken) {
		t.Errorf("got %v, want the read error", err)
	}
	// Give a wrongly completed DATA time to arrive before looking.
	time.Sleep(100 * time.Millisecond)
	wantNoMessages(t, sink)
}

func TestParseStartTLSMode(t *testing.T) {
	for _, mode := range []relay.StartTLSMode{relay.StartTLSOff, relay.StartTLSOpportunistic, relay.StartTLSRequired} {
		text, _ := mode.MarshalText()
		var back relay.StartTLSMode
		if err := back.UnmarshalText(text); err != nil || back != mode {
			t.Errorf("%v: round trip gave %v, %v", mode, back, err)
		}
	}
	if m, err := relay.ParseStartTLSMode("Required"); err != nil || m != relay.StartTLSRequired {
		t.Errorf("Required: %v, %v", m, err)
	}
	if _, err := relay.ParseStartTLSMode("yes"); !errors.Is(err, relay.ErrBadConfig) {
		t.Errorf("yes: %v", err)
	}
}
