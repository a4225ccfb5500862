package smtpd_test

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun/spamruntest"
)

// Bad input gets a clear SMTP error and costs nothing accepted: after
// each, the listener still takes a good message on the same or a new
// connection, and every message that got 250 reached the relay.
func TestBadInput(t *testing.T) {
	l := startListener(t, "[smtpd]\ntrusted_users = []\ncommand_timeout = \"2s\"\nmax_recipients = 50\n")
	accepted := 0
	good := func(c *conn, what string) {
		t.Helper()
		c.expect("MAIL FROM:<root@web1.example.net>", 250)
		c.expect("RCPT TO:<friend@example.org>", 250)
		if code, msg := c.message([]byte("Subject: after " + what + "\n\nStill here.\n")); code != 250 {
			t.Fatalf("a good message after %s: %d %s", what, code, msg)
		}
		accepted++
	}

	t.Run("bare LF", func(t *testing.T) {
		c := dialRaw(t, "tcp", l.tcp)
		c.hello()
		c.expect("MAIL FROM:<root@web1.example.net>", 250)
		c.expect("RCPT TO:<friend@example.org>", 250)
		c.expect("DATA", 354)
		c.send("Subject: bare\nX: y\n\nline one\nline two\r\n.\r\n")
		code, msg := c.reply()
		switch code {
		case 250:
			accepted++
		case 500, 550, 554:
		default:
			t.Errorf("bare LF in DATA: %d %s", code, msg)
		}
		if msg == "" {
			t.Errorf("bare LF in DATA: %d without a reason", code)
		}
		good(dialHello(t, l), "bare LF")
	})

	t.Run("NUL", func(t *testing.T) {
		c := dialRaw(t, "tcp", l.tcp)
		c.hello()
		if code, _ := c.cmd("MAIL FROM:<ro\x00ot@web1.example.net>"); code < 500 {
			t.Errorf("NUL in MAIL FROM: %d", code)
		}
		c.expect("RSET", 250)
		c.expect("MAIL FROM:<root@web1.example.net>", 250)
		c.expect("RCPT TO:<friend@example.org>", 250)
		if code, msg := c.message([]byte("Subject: nul\n\nA \x00 in the body.\n")); code != 250 && code != 554 {
			t.Errorf("NUL in the body: %d %s", code, msg)
		} else if code == 250 {
			accepted++
		}
		good(c, "NUL")
	})

	t.Run("10 MB line", func(t *testing.T) {
		c := dialRaw(t, "tcp", l.tcp)
		c.hello()
		// The listener answers and hangs up once the line passes its
		// limit, long before the client has written it all.
		go c.c.Write([]byte("NOOP " + strings.Repeat("x", 10<<20) + "\r\n"))
		if code, msg := c.reply(); code != 500 || !strings.Contains(msg, "line") {
			t.Errorf("a 10 MB command: %d %s", code, msg)
		}
		good(dialHello(t, l), "a 10 MB line")
	})

	t.Run("recipients past the limit", func(t *testing.T) {
		c := dialRaw(t, "tcp", l.tcp)
		c.hello()
		c.expect("MAIL FROM:<root@web1.example.net>", 250)
		var b strings.Builder
		for i := range 10000 {
			fmt.Fprintf(&b, "RCPT TO:<r%d@example.org>\r\n", i)
		}
		c.send(b.String())
		ok, limited := 0, 0
		for range 10000 {
			switch code, msg := c.reply(); code {
			case 250:
				ok++
			case 452:
				limited++
			default:
				t.Fatalf("RCPT: %d %s", code, msg)
			}
		}
		if ok != 50 || limited != 9950 {
			t.Errorf("%d recipients taken and %d refused with 452, want 50 and 9950", ok, limited)
		}
		if code, msg := c.message([]byte("Subject: many\n\nTo many.\n")); code != 250 {
			t.Fatalf("the message to the first 50: %d %s", code, msg)
		}
		accepted++
	})

	t.Run("pipelining", func(t *testing.T) {
		c := dialRaw(t, "tcp", l.tcp)
		c.hello()
		c.send("MAIL FROM:<root@web1.example.net>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")
		for _, want := range []int{250, 250, 250, 354} {
			if code, msg := c.reply(); code != want {
				t.Fatalf("pipelined: %d %s, want %d", code, msg, want)
			}
		}
		c.send("Subject: piped\r\n\r\nAll at once.\r\n.\r\nMAIL FROM:<root@web1.example.net>\r\nRCPT TO:<c@example.org>\r\nQUIT\r\n")
		for _, want := range []int{250, 250, 250, 221} {
			if code, msg := c.reply(); code != want {
				t.Fatalf("pipelined after DATA: %d %s, want %d", code, msg, want)
			}
		}
		accepted++
	})

	t.Run("CHUNKING", func(t *testing.T) {
		c := dialRaw(t, "tcp", l.tcp)
		c.hello()
		c.expect("MAIL FROM:<root@web1.example.net>", 250)
		c.expect("RCPT TO:<friend@example.org>", 250)
		first, last := "Subject: in chunks\r\n\r\n", "Sent with BDAT.\r\n"
		c.send(fmt.Sprintf("BDAT %d\r\n%s", len(first), first))
		if code, msg := c.reply(); code != 250 {
			t.Fatalf("BDAT: %d %s", code, msg)
		}
		c.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(last), last))
		if code, msg := c.reply(); code != 250 {
			t.Fatalf("BDAT LAST: %d %s", code, msg)
		}
		accepted++
	})

	t.Run("slowloris", func(t *testing.T) {
		c := dialRaw(t, "tcp", l.tcp)
		c.hello()
		c.send("MAIL FROM:<root@web1.exa")
		start := time.Now()
		// The listener ends the connection, whatever it answers first.
		rest, _ := io.ReadAll(c.c)
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("a stalled client held its connection %v", d)
		}
		if !strings.Contains(string(rest), "421 4.4.2") {
			t.Errorf("a client that stops mid-command got %q", rest)
		}
		good(dialHello(t, l), "a stalled client")
	})

	got := l.sink.WaitFor(t, accepted, 30*time.Second)
	if len(got) != accepted {
		t.Errorf("the relay got %d messages of %d accepted", len(got), accepted)
	}
}

// A site whose store is down: the message is accepted undecided, as from
// sendmail, and decided by the queue runner when the store is back.
func TestStoreDown(t *testing.T) {
	redis := spamruntest.StartRedis(t)
	l := startListener(t, fmt.Sprintf("[smtpd]\ntrusted_users = []\n[store]\nkind = \"redis\"\nurl = %q\n", redis.URL()))
	c := dialHello(t, l)
	redis.Kill()
	c.expect("MAIL FROM:<root@web1.example.net>", 250)
	c.expect("RCPT TO:<friend@example.org>", 250)
	code, msg := c.message([]byte("Subject: while the store is down\n\nHello.\n"))
	if code != 250 && !(code == 451 && strings.HasPrefix(msg, "4.3.0")) {
		t.Fatalf("with the store down: %d %s", code, msg)
	}
	if code == 250 {
		es := l.entries()
		if len(es) != 1 || es[0].State != "undecided" {
			t.Fatalf("accepted with the store down: %d entries, %+v", len(es), es)
		}
	}
}

func dialHello(t testing.TB, l *listener) *conn {
	t.Helper()
	c := dialRaw(t, "tcp", l.tcp)
	c.hello()
	return c
}
