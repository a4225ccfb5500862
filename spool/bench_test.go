package spool_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/spamrun/spamrun/spool"
)

// BenchmarkList is a queue pass's listing of 1,000 messages, with the
// evidence of a real submission in each header (about 3 KB) or with 200
// recipients besides (about 12 KB).
func BenchmarkList(b *testing.B) {
	for _, rcpts := range []int{1, 200} {
		b.Run(fmt.Sprintf("rcpts=%d", rcpts), func(b *testing.B) {
			s, err := spool.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			const n = 1000
			for i := range n {
				e := newEntry("shop1", t0)
				e.Recipients = e.Recipients[:0]
				for j := range rcpts {
					e.Recipients = append(e.Recipients, fmt.Sprintf("member%04d@club.example.org", j))
				}
				e.Evidence.Command = []string{"php-fpm: pool shop1", strings.Repeat("x", 2500)}
				if err := s.Add(e, []byte(fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i))); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for range b.N {
				if l, err := s.List(); err != nil || len(l) != n {
					b.Fatalf("List: %d, %v", len(l), err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/msg")
		})
	}
}

// BenchmarkAdd is what a submission pays to make its message durable: a
// 3 KB message with the evidence of a real submission, written, synced
// and renamed into the queue.
func BenchmarkAdd(b *testing.B) {
	s, err := spool.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	data := []byte("Subject: an order\r\n\r\n" + strings.Repeat("a line of the order confirmation\r\n", 90))
	b.ResetTimer()
	for range b.N {
		e := newEntry("shop1", t0)
		e.ID = ""
		if err := s.Add(e, data); err != nil {
			b.Fatal(err)
		}
	}
}
