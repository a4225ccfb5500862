package relay_test

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun/relay"
	"github.com/spamrun/spamrun/spamruntest"
)

// rcpts returns n distinct recipient addresses.
// deliveredOnce checks that the sink got data for each of want exactly
// once and for nobody else, and returns its messages.
func deliveredOnce(t *testing.T, sink *spamruntest.SMTPSink, want []string, data string) []spamruntest.SinkMessage {
	t.Helper()
	msgs := sink.Messages()
	got := make(map[string]int)
	for _, m := range msgs {
		if !bytes.Equal(m.Data, []byte(data)) {
			t.Fatalf("a message to %d recipients arrived as %.80q..., want %.80q...", len(m.To), m.Data, data)
		}
		for _, to := range m.To {
			got[to]++
		}
	}
	for _, to := range want {
		if got[to] != 1 {
			t.Errorf("%s got the message %d times, want once", to, got[to])
		}
		delete(got, to)
	}
	for to, n := range got {
		t.Errorf("%s, not to be delivered, got the message %d times", to, n)
	}
	return msgs
}

// refused returns the recipients listed in e.Rcpts, failing the test if
// one is listed twice.
func refused(t *testing.T, e *relay.Error) []string {
	t.Helper()
	var to []string
	for _, r := range e.Rcpts {
		to = append(to, r.Rcpt)
	}
	if sorted := slices.Sorted(slices.Values(to)); len(slices.Compact(sorted)) != len(to) {
		t.Errorf("a recipient is listed twice in %d refusals", len(to))
	}
	return to
}

// without returns to less the recipients in drop.
func without(to []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(to), func(s string) bool { return slices.Contains(drop, s) })
}

// onlyRefusals checks that every refusal in e carries want's reply.
func onlyRefusals(t *testing.T, e *relay.Error, want relay.Refusal) {
	t.Helper()
	for _, r := range e.Rcpts {
		if r.Code != want.Code || r.Enhanced != want.Enhanced || !strings.Contains(r.Message, want.Message) {
			t.Fatalf("refusal %v, want %d %s %q", r, want.Code, want.Enhanced, want.Message)
		}
	}
}

func TestSMTPBatches(t *testing.T) {
	to := spamruntest.Recipients(3000)
	for _, tc := range []struct {
		name           string
		limit, size    int // the sink's recipient limit (0: none) and MaxRecipients
		perTransaction int
	}{
		{"default batches", 0, 0, relay.DefaultMaxRecipients},
		{"one recipient each", 0, 1, 1},
		{"Postfix's 1000 under batches of 5000", 1000, 5000, 1000},
		{"Postfix's 1000 over default batches", 1000, 0, relay.DefaultMaxRecipients},
		{"a limit of 7 under default batches", 7, 0, 7},
		{"a limit of 7 under batches of 100", 7, 100, 7},
		{"a limit of 7 over batches of 1", 7, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []spamruntest.SinkOption
			if tc.limit > 0 {
				opts = append(opts, spamruntest.SinkRecipientLimit(tc.limit))
			}
			sink := spamruntest.NewSMTPSink(t, opts...)
			r := &relay.SMTP{Addr: sink.Addr(), MaxRecipients: tc.size, Timeout: time.Minute}
			if err := deliver(r, envelope(to...), order); err != nil {
				t.Fatal(err)
			}
			msgs := deliveredOnce(t, sink, to, order)
			want := (len(to) + tc.perTransaction - 1) / tc.perTransaction
			if len(msgs) != want || sink.Transactions() != want {
				t.Errorf("%d messages in %d transactions, want %d of at most %d recipients", len(msgs), sink.Transactions(), want, tc.perTransaction)
			}
			for _, m := range msgs {
				if m.Conn != 1 {
					t.Fatalf("a message came on connection %d: every transaction belongs on the first", m.Conn)
				}
			}
			// Each transaction but the last offered more than the limit
			// when the batches were larger.
			var full int
			for _, rj := range sink.Rejections() {
				if rj.Code == 452 && rj.Enhanced == "4.5.3" {
					full++
				}
			}
			if wantFull := 0; tc.limit > 0 && batchOf(tc.size) > tc.limit {
				wantFull = want - 1
				if full != wantFull {
					t.Errorf("%d RCPTs answered 452 4.5.3, want %d", full, wantFull)
				}
			} else if full != 0 {
				t.Errorf("%d RCPTs answered 452 4.5.3 with batches within the limit", full)
			}
		})
	}
}

func batchOf(size int) int {
	if size == 0 {
		return relay.DefaultMaxRecipients
	}
	return size
}

// oneWay hides every method but Read, as a pipe would.
type oneWay struct{ r io.Reader }

func (o oneWay) Read(p []byte) (int, error) { return o.r.Read(p) }

// countingReader counts the bytes its caller took.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestSMTPBatchesReadTheMessageOnce(t *testing.T) {
	big := order + strings.Repeat("a long newsletter line, sent to every batch\r\n", 20000)
	to := spamruntest.Recipients(250)
	sink := spamruntest.NewSMTPSink(t, spamruntest.SinkRecipientLimit(60))
	src := &countingReader{r: strings.NewReader(big)}
	r := &relay.SMTP{Addr: sink.Addr()}
	if err := r.Deliver(t.Context(), envelope(to...), oneWay{src}); err != nil {
		t.Fatal(err)
	}
	if msgs := deliveredOnce(t, sink, to, big); len(msgs) != 5 {
		t.Errorf("%d messages, want 5 of at most 60 recipients", len(msgs))
	}
	if src.n != len(big) {
		t.Errorf("%d bytes read from a reader that cannot seek, want the message's %d once", src.n, len(big))
	}
}

func TestSMTPBatchesSeekBackToWhereTheMessageBegan(t *testing.T) {
	// The message starts where the reader stands, not at offset 0.
	src := strings.NewReader("not part of the message\n" + order)
	if _, err := src.Seek(int64(len("not part of the message\n")), io.SeekStart); err != nil {
		t.Fatal(err)
	}
	to := spamruntest.Recipients(5)
	sink := spamruntest.NewSMTPSink(t)
	r := &relay.SMTP{Addr: sink.Addr(), MaxRecipients: 2}
	if err := r.Deliver(t.Context(), envelope(to...), src); err != nil {
		t.Fatal(err)
	}
	if msgs := deliveredOnce(t, sink, to, order); len(msgs) != 3 {
		t.Errorf("%d messages, want 3", len(msgs))
	}
}

func TestSMTPBatchesMixedRefusals(t *testing.T) {
	to := spamruntest.Recipients(300)
	gone := []string{to[3], to[8], to[150], to[299]}
	full := []string{to[9], to[200]}
	opts := []spamruntest.SinkOption{spamruntest.SinkRecipientLimit(7)}
	for _, rcpt := range gone {
		opts = append(opts, spamruntest.SinkRejectRcpt(rcpt, 550, "5.1.1", "no such user"))
	}
	for _, rcpt := range full {
		opts = append(opts, spamruntest.SinkRejectRcpt(rcpt, 452, "4.2.2", "mailbox full"))
	}
	sink := spamruntest.NewSMTPSink(t, opts...)
	err := deliver(&relay.SMTP{Addr: sink.Addr()}, envelope(to...), order)
	// A full mailbox is worth another try; 452 4.2.2 concerns its
	// recipient alone, unlike 452 4.5.3.
	e := wantTemporary(t, err)
	if got := refused(t, e); !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(append(slices.Clone(gone), full...)))) {
		t.Fatalf("Rcpts list %q, want %q and %q", got, gone, full)
	}
	for _, rf := range e.Rcpts {
		if wantGone := slices.Contains(gone, rf.Rcpt); rf.Temporary() == wantGone {
			t.Errorf("refusal %v: Temporary %v", rf, rf.Temporary())
		}
	}
	deliveredOnce(t, sink, without(to, append(gone, full...)...), order)
}

func TestSMTPBatchesDataRefusedInOneBatch(t *testing.T) {
	to := spamruntest.Recipients(250)
	second := to[100:200]
	for _, tc := range []struct {
		code     int
		enhanced string
	}{{451, "4.3.0"}, {554, "5.7.1"}} {
		sink := spamruntest.NewSMTPSink(t,
			spamruntest.SinkRejectRcpt(to[120], 550, "5.1.1", "no such user"),
			spamruntest.SinkRejectDataFor(to[150], tc.code, tc.enhanced, "not this time"))
		err := deliver(&relay.SMTP{Addr: sink.Addr()}, envelope(to...), order)
		var e *relay.Error
		if tc.code/100 == 4 {
			e = wantTemporary(t, err)
		} else {
			e = wantPermanent(t, err)
		}
		if got := refused(t, e); !slices.Equal(got, append([]string{to[120]}, without(second, to[120])...)) {
			t.Errorf("%d: Rcpts list %d recipients from %s to %s, want the second batch's 100", tc.code, len(got), got[0], got[len(got)-1])
		}
		onlyRefusals(t, &relay.Error{Rcpts: e.Rcpts[:1]}, relay.Refusal{Code: 550, Enhanced: "5.1.1", Message: "no such user"})
		onlyRefusals(t, &relay.Error{Rcpts: e.Rcpts[1:]}, relay.Refusal{Code: tc.code, Enhanced: tc.enhanced, Message: "not this time"})
		deliveredOnce(t, sink, slices.Concat(to[:100], to[200:]), order)
	}
}

func TestSMTPBatchesOnANewConnection(t *testing.T) {
	to := spamruntest.Recipients(550)
	sink := spamruntest.NewSMTPSink(t, spamruntest.SinkMessagesPerConnection(2))
	if err := deliver(&relay.SMTP{Addr: sink.Addr()}, envelope(to...), order); err != nil {
		t.Fatal(err)
	}
	var conns []int
	for _, m := range deliveredOnce(t, sink, to, order) {
		conns = append(conns, m.Conn)
	}
	if want := []int{1, 1, 2, 2, 3, 3}; !slices.Equal(conns, want) {
		t.Errorf("messages came on connections %v, want %v", conns, want)
	}
}

func TestSMTPBatchesConnectionLost(t *testing.T) {
	to := spamruntest.Recipients(300)
	sink := spamruntest.NewSMTPSink(t, spamruntest.SinkHangUpAt(to[150]))
	err := deliver(&relay.SMTP{Addr: sink.Addr()}, envelope(to...), order)
	e := wantTemporary(t, err)
	// The first batch went; the second died at its 51st RCPT, and the
	// third was never offered. A lost connection is not tried again.
	if got := refused(t, e); !slices.Equal(got, to[100:]) {
		t.Errorf("Rcpts list %d recipients, want the 200 of the second and third batches", len(got))
	}
	onlyRefusals(t, e, relay.Refusal{Enhanced: "4.4.2", Message: "RCPT TO"})
	deliveredOnce(t, sink, to[:100], order)
	if n := sink.Transactions(); n != 2 {
		t.Errorf("%d transactions, want 2", n)
	}
}

func TestSMTPBatchesStopWhenTheFirstRecipientIsTooMany(t *testing.T) {
	// A server that answers 452 4.5.3 to the very first RCPT of a
	// transaction will not take that recipient in the next one either.
	to := spamruntest.Recipients(12)
	sink := spamruntest.NewSMTPSink(t, spamruntest.SinkRejectRcpt(to[5], 452, "4.5.3", "too many recipients"))
	// Should it loop, the timeout ends it with a different error.
	err := deliver(&relay.SMTP{Addr: sink.Addr(), Timeout: 10 * time.Second}, envelope(to...), order)
	e := wantTemporary(t, err)
	if got := refused(t, e); !slices.Equal(got, to[5:]) {
		t.Errorf("Rcpts list %q, want %q", got, to[5:])
	}
	onlyRefusals(t, e, relay.Refusal{Code: 452, Enhanced: "4.5.3", Message: "too many recipients"})
	deliveredOnce(t, sink, to[:5], order)
	if n := sink.Transactions(); n != 2 {
		t.Errorf("%d transactions, want 2: the one that delivered and the one refused at once", n)
	}

	// When it is the envelope's first recipient, nothing went: the
	// reply is the whole answer.
	sink = spamruntest.NewSMTPSink(t, spamruntest.SinkRejectRcpt(to[0], 452, "", "insufficient system storage"))
	e = wantTemporary(t, deliver(&relay.SMTP{Addr: sink.Addr()}, envelope(to...), order))
	if e.Code != 452 || e.Rcpts != nil {
		t.Errorf("got %v with %d Rcpts, want the 452 alone", e, len(e.Rcpts))
	}
	wantNoMessages(t, sink)
}

func TestSMTPBatchesAfterABatchAllRefused(t *testing.T) {
	to := []string{"gone1@example.org", "gone2@example.org", "a@example.org", "b@example.org"}
	sink := spamruntest.NewSMTPSink(t,
		spamruntest.SinkAuth("web1", "secret"),
		spamruntest.SinkRejectRcpt(to[0], 550, "5.1.1", "no such user"),
		spamruntest.SinkRejectRcpt(to[1], 550, "5.1.1", "no such user"))
	r := &relay.SMTP{Addr: sink.Addr(), Username: "web1", Password: "secret", MaxRecipients: 2}
	e := wantPermanent(t, deliver(r, envelope(to...), order))
	if got := refused(t, e); !slices.Equal(got, to[:2]) {
		t.Errorf("Rcpts list %q, want %q", got, to[:2])
	}
	// The first transaction ends with RSET, and the second, on the same
	// connection and still authenticated, delivers.
	msgs := deliveredOnce(t, sink, to[2:], order)
	if len(msgs) != 1 || msgs[0].User != "web1" || msgs[0].Conn != 1 {
		t.Errorf("messages %+v, want one as web1 on the first connection", msgs)
	}
	if tr := finishedTranscript(t, sink); !strings.Contains(tr, "RSET\r\n") {
		t.Errorf("no RSET between the transactions:\n%s", tr)
	}
}

func TestSMTPConnectionLostInTheOnlyBatch(t *testing.T) {
	// Nobody got the message, for one reason: that reason is the answer,
	// with no list of recipients.
	to := spamruntest.Recipients(5)
	sink := spamruntest.NewSMTPSink(t, spamruntest.SinkHangUpAt(to[2]))
	e := wantTemporary(t, deliver(&relay.SMTP{Addr: sink.Addr()}, envelope(to...), order))
	if e.Rcpts != nil || e.Enhanced != "4.4.2" || e.Err == nil {
		t.Errorf("got %v with %d Rcpts, want the lost connection alone", e, len(e.Rcpts))
	}
	wantNoMessages(t, sink)
}
