package smtpd_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spamrun/spamrun/spamruntest"
)

// BenchmarkListener: messages accepted per second from 50 concurrent
// connections on loopback, each identified by the kernel, scored by the
// builtin scorer, counted in SQLite, spooled and relayed to an SMTP sink
// before its 250, as with a default install. Spam-marked messages are
// part of the mix, so the count is exercised too.
func BenchmarkListener(b *testing.B) {
	for _, store := range []string{"sqlite", "memory"} {
		b.Run(store, func(b *testing.B) { benchListener(b, store) })
	}
}

func benchListener(b *testing.B, store string) {
	l := startListener(b, "[smtpd]\ntrusted_users = []\nmax_connections = 64\n[policy]\nmax_spam = 99999\nhold_for = \"1h\"\n[store]\nkind = \""+store+"\"\n")
	const conns = 50
	ham := spamruntest.OrderConfirmation("shop.example", 1)
	spam := spamruntest.GuestbookSpam("shop.example", 1)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range conns {
		wg.Go(func() {
			c := dialRaw(b, "tcp", l.tcp)
			c.hello()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					c.expect("QUIT", 221)
					return
				}
				c.expect("MAIL FROM:<shop@web1.example.net>", 250)
				c.expect("RCPT TO:<customer@example.org>", 250)
				data := ham
				if i%10 == 0 {
					data = spam
				}
				if code, msg := c.message(data); code != 250 {
					b.Errorf("message %d: %d %s", i, code, msg)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
