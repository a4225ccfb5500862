package spamrun_test

import (
	"context"
	"testing"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamruntest"
)

// benchCorpus is the mixed corpus of the benchmarks: every sample, and as
// many generated order confirmations and guestbook spams again, so that
// ordinary shop mail and form spam are about even.
func benchCorpus() [][]byte {
	var raws [][]byte
	for _, s := range spamruntest.Samples() {
		raws = append(raws, s.Raw)
	}
	n := len(raws)
	for i := 0; i < n/2; i++ {
		raws = append(raws, spamruntest.OrderConfirmation("shop1.example", i), spamruntest.GuestbookSpam("site7.example", i))
	}
	return raws
}

func parseAll(tb testing.TB, raws [][]byte) []*spamrun.Message {
	msgs := make([]*spamrun.Message, len(raws))
	for i, raw := range raws {
		msgs[i] = spamruntest.Sample{Name: "bench", Raw: raw}.Message(tb)
	}
	return msgs
}

// BenchmarkBuiltinScore scores already-parsed messages, as the detector
// does: the scorer's own cost.
func BenchmarkBuiltinScore(b *testing.B) {
	msgs := parseAll(b, benchCorpus())
	s := spamrun.NewBuiltinScorer()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Score(ctx, msgs[i%len(msgs)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkParseAndScore includes spamrun.ParseMessage: what a sendmail
// process spends on one message before it touches the state.
func BenchmarkParseAndScore(b *testing.B) {
	raws := benchCorpus()
	s := spamrun.NewBuiltinScorer()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m, err := spamrun.ParseMessage(raws[i%len(raws)], "site@example.com", []string{"rcpt@example.net"})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Score(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
