package main

import (
	"slices"
	"strings"
	"testing"
)

// TestSendmailAddresses runs the binary with the addresses scripts really
// pass, and some they should not: what is refused exits 64 (command line)
// or 65 (header) naming the address, nothing of it is relayed or queued,
// and what is accepted reaches the relay as the RCPT an MTA reads back as
// the address meant. wire is what the sink must have read on the wire,
// to is what go-smtp made of it: the local part without its quotes.
func TestSendmailAddresses(t *testing.T) {
	const body = "Subject: addresses\n\nHello.\n"
	tests := []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stderr string   // a substring; "" means stderr must be empty
		wire   []string // RCPT TO commands the relay sent
		to     []string // the recipients the sink accepted
		utf8   bool     // MAIL FROM asked for SMTPUTF8
	}{
		{name: "CRLF in a recipient smuggles no RCPT", args: []string{"-i", "a@b.example\r\nRCPT TO:<x@y.example>"}, stdin: body,
			code: 64, stderr: `bad recipient argument "a@b.example\r\nRCPT TO:<x@y.example>": it holds a line break or NUL`},
		{name: "LF between two recipients of one word", args: []string{"-i", "--", "a@b.example,\nx@y.example"}, stdin: body,
			code: 64, stderr: `"a@b.example,\nx@y.example"`},
		{name: "CRLF in -f", args: []string{"-i", "-fa@shop1.example\r\nRCPT TO:<x@y.example>", "a@example.org"}, stdin: body,
			code: 64, stderr: `bad sender address in -f: spamrun: bad address "a@shop1.example\r\nRCPT TO:<x@y.example>"`},
		{name: "CRLF in -r", args: []string{"-i", "-r", "a@shop1.example\nBcc: x@y.example", "a@example.org"}, stdin: body,
			code: 64, stderr: "bad sender address in -r"},
		{name: "two at signs", args: []string{"-i", "a@b@example.org"}, stdin: body,
			code: 64, stderr: `bad address "a@b@example.org": the domain holds '@'`},
		{name: "unbalanced quote", args: []string{"-i", `"a b@example.org`}, stdin: body,
			code: 64, stderr: "no closing quote"},
		{name: "doubled dot", args: []string{"-i", "a..b@example.org"}, stdin: body,
			code: 64, stderr: `"a..b@example.org": the local part has two dots in a row`},
		{name: "name without angle brackets", args: []string{"-i", "--", "John Doe john@example.org"}, stdin: body,
			code: 64, stderr: `"John Doe john@example.org": a name needs its address in angle brackets`},
		{name: "over-long", args: []string{"-i", strings.Repeat("a", 250) + "@example.org"}, stdin: body,
			code: 64, stderr: "longer than 254 bytes"},

		{name: "quoted local parts", args: []string{"-i", "--", `"a b"@example.org`, `"a\"b"@example.org`, `"a.b"@example.org`}, stdin: body,
			wire: []string{`RCPT TO:<"a b"@example.org>`, `RCPT TO:<"a\"b"@example.org>`, `RCPT TO:<a.b@example.org>`},
			to:   []string{"a b@example.org", `a"b@example.org`, "a.b@example.org"}},
		{name: "a list in one word", args: []string{"-i", `Ann <ann@example.org>, "Bo B" <"bo b"@example.org>`}, stdin: body,
			wire: []string{"RCPT TO:<ann@example.org>", `RCPT TO:<"bo b"@example.org>`},
			to:   []string{"ann@example.org", "bo b@example.org"}},
		{name: "UTF-8", args: []string{"-i", "用户@例子.广告"}, stdin: body,
			wire: []string{"RCPT TO:<用户@例子.广告>"}, to: []string{"用户@例子.广告"}, utf8: true},
		{name: "address literals", args: []string{"-i", "a@[192.0.2.1]", "b@[IPv6:2001:db8::1]"}, stdin: body,
			wire: []string{"RCPT TO:<a@[192.0.2.1]>", "RCPT TO:<b@[IPv6:2001:db8::1]>"}, to: []string{"a@[192.0.2.1]", "b@[IPv6:2001:db8::1]"}},

		{name: "-t: quoted local parts, names, groups, comments", args: []string{"-t", "-i"},
			stdin: "To: \"a b\"@example.org, Ann Lee <\"a\\\"b\"@example.org>\nCc: friends: c@example.org (Carl);\n" + body,
			wire:  []string{`RCPT TO:<"a b"@example.org>`, `RCPT TO:<"a\"b"@example.org>`, "RCPT TO:<c@example.org>"},
			to:    []string{"a b@example.org", `a"b@example.org`, "c@example.org"}},
		{name: "-t: a bad address fails the message, naming it and its field", args: []string{"-t", "-i"},
			stdin: "To: a@example.org\nCc: b@example.org, John Doe john@example.org\n" + body,
			code:  65, stderr: `header field Cc: spamrun: bad address "John Doe john@example.org"`},
		{name: "-t: CR line endings", args: []string{"-t", "-i"},
			stdin: "To: a@example.org\rSubject: old Mac\r\rHello.\r",
			wire:  []string{"RCPT TO:<a@example.org>"}, to: []string{"a@example.org"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "")
			r := e.run(tt.stdin, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", r.code, tt.code, r.stderr)
			}
			if tt.stderr == "" && r.stderr != "" || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stderr %q, want %q", r.stderr, tt.stderr)
			}
			if tt.code != 0 {
				if n := len(e.sink.Messages()); n != 0 {
					t.Errorf("%d messages relayed, want none", n)
				}
				if q := e.queue(); len(q) != 0 {
					t.Errorf("%d messages queued, want none", len(q))
				}
				return
			}
			m := oneMessage(t, e)
			if got, want := slices.Sorted(slices.Values(m.To)), slices.Sorted(slices.Values(tt.to)); !slices.Equal(got, want) {
				t.Errorf("the sink accepted %q, want %q", got, want)
			}
			if m.SMTPUTF8 != tt.utf8 {
				t.Errorf("SMTPUTF8 %v, want %v", m.SMTPUTF8, tt.utf8)
			}
			for _, cmd := range tt.wire {
				wantSent(t, e, cmd)
			}
			wantCRLF(t, m.Data)
		})
	}
}

// TestSendmailQuotedSender: a quoted -f reaches the relay quoted, and the
// sink reads it back as the sender meant.
func TestSendmailQuotedSender(t *testing.T) {
	e := newEnv(t, "")
	if r := e.run("Subject: x\n\nHello.\n", "-i", "-f", `"shop desk"@shop1.example`, "a@example.org"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	m := oneMessage(t, e)
	wantEnvelope(t, m, "shop desk@shop1.example", "a@example.org")
	wantSent(t, e, `MAIL FROM:<"shop desk"@shop1.example>`)
}

// TestSMTPAddresses: in -bs mode a bad sender gets 501 5.1.7 and a bad
// recipient 501 5.1.3, each naming the address, and a quoted local part
// is relayed quoted as the client wrote it. go-smtp hands a session the
// local part without its quotes, so one valid only when quoted is relayed
// quoted, whether the client quoted it or not.
func TestSMTPAddresses(t *testing.T) {
	e := newEnv(t, "")
	dialogue := strings.Join([]string{
		"EHLO client.shop1.example",
		"MAIL FROM:<shop@exa_mple.org>",
		`MAIL FROM:<"shop desk"@shop1.example>`,
		`RCPT TO:<"a b"@example.org>`,
		`RCPT TO:<"a\"b"@example.org>`,
		"RCPT TO:<.a@example.org>",
		"RCPT TO:<a\x00b@example.org>",
		`RCPT TO:<"a>b"@example.org>`,
		"RCPT TO:<a@exa_mple.org>",
		"RCPT TO:<a@example.org.>",
		"DATA",
		"Subject: x\r\n\r\nHello.\r\n.",
		"QUIT",
	}, "\r\n") + "\r\n"
	r := e.run(dialogue, "-bs")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{
		`501 5.1.7 bad sender: spamrun: bad address "shop@exa_mple.org": the domain holds '_'`,
		`501 5.1.3 bad recipient: spamrun: bad address "a\x00b@example.org": it holds a control character`,
		`501 5.1.3 bad recipient: spamrun: bad address "a>b@example.org": the local part holds an angle bracket`,
		`501 5.1.3 bad recipient: spamrun: bad address "a@exa_mple.org": the domain holds '_'`,
		`501 5.1.3 bad recipient: spamrun: bad address "a@example.org.": the domain has an empty label`,
	} {
		if !strings.Contains(r.stdout, want+"\r\n") {
			t.Errorf("no %q in the replies:\n%s", want, r.stdout)
		}
	}
	m := oneMessage(t, e)
	wantEnvelope(t, m, "shop desk@shop1.example", "a b@example.org", `a"b@example.org`, ".a@example.org")
	for _, cmd := range []string{`MAIL FROM:<"shop desk"@shop1.example>`, `RCPT TO:<"a b"@example.org>`, `RCPT TO:<"a\"b"@example.org>`, `RCPT TO:<".a"@example.org>`} {
		wantSent(t, e, cmd)
	}
}

// wantSent checks that the relay sent the sink the command cmd, with or
// without parameters after it.
func wantSent(t *testing.T, e *testEnv, cmd string) {
	t.Helper()
	transcript := e.sink.Transcript()
	if !strings.Contains(transcript, cmd+"\r\n") && !strings.Contains(transcript, cmd+" ") {
		t.Errorf("the relay did not send %q:\n%s", cmd, transcript)
	}
}
