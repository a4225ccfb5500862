package spamrun_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/spamrun/spamrun"
)

func ExampleBounce() {
	raw := "From: Shop One <info@shop1.example>\r\n" +
		"To: victim@example.org\r\n" +
		"Subject: Cheap pills\r\n" +
		"Message-ID: <1@shop1.example>\r\n" +
		"\r\n" +
		"Buy now!\r\n"
	msg, err := spamrun.ParseMessage([]byte(raw), "info@shop1.example", []string{"victim@example.org"})
	if err != nil {
		fmt.Println(err)
		return
	}
	b := &spamrun.Bounce{
		Original:     msg,
		ReportingMTA: "web1.example.net",
		ArticleURL:   "https://support.example.com/spam-run",
		Site:         "shop1",
		Arrival:      time.Date(2026, 11, 2, 8, 59, 30, 0, time.UTC),
		// Fixed only to make the output repeatable.
		Date:      time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC),
		MessageID: "dsn.1@web1.example.net",
		Boundary:  "=_boundary",
	}
	dsn, err := b.Build()
	if err != nil {
		fmt.Println(err)
		return
	}
	// Send dsn with MAIL FROM:<> and RCPT TO:<info@shop1.example>.
	for _, line := range strings.Split(string(dsn), "\r\n") {
		for _, field := range []string{"To:", "Subject:", "Auto-Submitted:", "Content-Type: message/", "Final-Recipient:", "Action:", "Status:"} {
			if strings.HasPrefix(line, field) {
				fmt.Println(line)
			}
		}
		if strings.HasPrefix(line, "Last-Attempt-Date:") {
			break // the quoted header follows
		}
	}

	// A bounce is never answered with another bounce.
	_, err = (&spamrun.Bounce{Original: parseReturnedDSN(dsn), ReportingMTA: "web1.example.net"}).Build()
	fmt.Println(spamrun.IsNoBounce(err), err)
	// Output:
	// To: <info@shop1.example>
	// Subject: Undelivered Mail Returned to Sender: Cheap pills
	// Auto-Submitted: auto-replied
	// Content-Type: message/delivery-status
	// Final-Recipient: rfc822; victim@example.org
	// Action: failed
	// Status: 5.7.1
	// true spamrun: no bounce: the original is a bounce or auto-submitted
}

func parseReturnedDSN(raw []byte) *spamrun.Message {
	m, err := spamrun.ParseMessage(raw, "postmaster@example.org", []string{"info@shop1.example"})
	if err != nil {
		panic(err)
	}
	return m
}
