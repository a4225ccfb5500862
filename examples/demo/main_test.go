package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDemo runs the whole story with real processes and checks what it
// tells: the eleventh spam-marked message trips the shop, with exactly
// max_spam held at that moment; nothing spam-marked reaches the relay;
// every accepted message is relayed, bounced or kept; the DSNs go only to
// the shop's own address, one per bounced message; the forged senders get
// none.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	page := filepath.Join(t.TempDir(), "incident.html")
	err := run(&out, page)
	text := out.String()
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, text)
	}
	for _, want := range []string{
		"The queue holds 10 spam-marked messages for 15 minutes; none has reached the relay.",
		"guestbook entry 11  -f noreply@shop1.example  to sales111@office.example      exit 69  refused",
		`sendmail: mail from website "shop1" is disabled because it sent spam; see https://support.example.net/spam-run (incident `,
		"8 held messages from <noreply@shop1.example>: a DSN each, queued for the runner",
		"2 held messages from <victim@mail.example>: kept in quarantine, a DSN there would be backscatter",
		"To: <noreply@shop1.example>",
		"Auto-Submitted: auto-replied",
		"parts: text/plain, message/delivery-status (Status: 5.7.1), text/rfc822-headers",
		"The queue runner stopped on SIGTERM.",
		"OK: nothing of the spam run was relayed",
		"6. The shop's owner and the operator are told, each once",
		"To: <owner@shopkeeper.example>",
		"Subject: Mail from your website shop1 has been stopped",
		"Your website shop1 sent spam-marked mail to 11 recipients",
		"To: <ops@example.net>",
		"Subject: [spamrun] site shop1 disabled for a spam run (11 > 10 in 1h)",
		"attached: incident-",
		"7. The operator watches: spamrun top -n 1",
		"shop1  disabled",
		"spamrun_trips_total ",
		"spamrun_generated_messages_total{kind=\"notice\",action=\"relayed\"}",
		"8. Why? spamrun incidents show ",
		"Likely cause: abused form (high,",
		"guestbook.php has sent mail since",
		"is the name of a form or a CMS entry point",
		"fixed lines of text",
		"Protect ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Orders are relayed and spam held before the trip; everything is
	// refused after it.
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.Contains(line, "order #") && strings.Contains(line, "exit 0 ") && !strings.HasSuffix(line, "relayed"),
			strings.Contains(line, "guestbook entry") && strings.Contains(line, "exit 0 ") && !strings.Contains(line, "held, score"):
			t.Errorf("unexpected fate: %s", line)
		}
	}
	for _, c := range []struct{ re, want string }{
		{`sendmail runs +(\d+)`, "26"},
		{`accepted \(exit 0\) +(\d+ = \d+ relayed \+ \d+ bounced \+ \d+ kept \+ \d+ still queued)`, "21 = 11 relayed + 8 bounced + 2 kept + 0 still queued"},
		{`refused \(exit 69\) +(\d+)`, "5"},
		{`orders relayed +(\d+)`, "11"},
		{`spam relayed +(\d+)`, "0"},
		{`DSNs relayed +(\d+ +to .*)`, "8   to <noreply@shop1.example> (8)"},
	} {
		m := regexp.MustCompile(c.re).FindStringSubmatch(text)
		if m == nil {
			t.Errorf("no line matches %s", c.re)
			continue
		}
		if m[1] != c.want {
			t.Errorf("%s: got %q, want %q", c.re, m[1], c.want)
		}
	}
	checkDemoPage(t, page)
	if t.Failed() {
		t.Logf("the demo's output:\n%s", text)
	}
}

// checkDemoPage checks the page the demo wrote: self-contained, with the
// timeline and the finding.
func checkDemoPage(t *testing.T, page string) {
	t.Helper()
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatalf("the demo wrote no report: %v", err)
	}
	html := string(data)
	for _, want := range []string{`<svg id="timeline"`, "bar-spam", "guestbook.php", "Abused form"} {
		if !strings.Contains(html, want) {
			t.Errorf("the report page lacks %q", want)
		}
	}
	for _, external := range []string{`src="http`, `href="//`, "<script src", `<link rel="stylesheet"`} {
		if strings.Contains(html, external) {
			t.Errorf("the report page loads %q: not self-contained", external)
		}
	}
}
