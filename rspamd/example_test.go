package rspamd_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/rspamd"
)

func Example() {
	// A stand-in for rspamd, answering as rspamd 3.4 does for a message
	// that reaches its "add header" action.
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"score": 7.5, "required_score": 15, "action": "add header",
			"symbols": {
				"MISSING_MID": {"score": 2.5, "description": "Message id is missing"},
				"R_SUSPICIOUS_URL": {"score": 5.0, "description": "Obfuscated URL", "options": ["bit.ly"]},
				"MIME_GOOD": {"score": 0, "description": "Known content-type"}}}`)
	}))
	defer fake.Close()

	s := &rspamd.Scorer{
		URL:  fake.URL, // e.g. "http://127.0.0.1:11333"
		Site: func(*spamrun.Message) string { return "shop1" },
	}
	msg, _ := spamrun.ParseMessage([]byte("Subject: hi\n\nhello\n"), "www@shop1.example", []string{"a@example.org"})
	sc, err := s.Score(context.Background(), msg)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%.2f\n", sc.Value)
	for _, r := range sc.Top(5) {
		fmt.Printf("%-16s %.2f %s\n", r.Name, r.Points, r.Reason)
	}
	// Output:
	// 6.25
	// R_SUSPICIOUS_URL 4.17 Obfuscated URL (bit.ly)
	// MISSING_MID      2.08 Message id is missing
}
