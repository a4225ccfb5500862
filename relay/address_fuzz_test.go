package relay

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/spamrun/spamrun"
)

// FuzzParseAddress holds spamrun's address parser to what the relay needs
// of it: an address it accepts holds no control character or angle
// bracket, reads back as itself, passes the relay's envelope check, and is
// what JoinAddress makes of it once an SMTP server has removed its quotes.
// It lives here because checkAddress does.
func FuzzParseAddress(f *testing.F) {
	for _, seed := range []string{
		"shop@shop1.example", "<shop@shop1.example>", "", "<>", "root",
		`"a b"@example.org`, `"a\"b"@x`, `"a\\b"@x`, `"a.b"@example.org`, `"a@b"@example.org`,
		"用户@例子.广告", `"jo sé"@exämple.org`, "a@[192.0.2.1]", "a@[IPv6:2001:db8::1]",
		"a@b.example\r\nRCPT TO:<x@y>", "\"a\\\rb\"@x", `"a>b"@x`, "a@b@c", "a..b@x", "a@x.", `""@x`,
		strings.Repeat("a", 243) + "@example.org", "a\u2028@x", "\xff@x",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := spamrun.ParseAddress(in)
		if err != nil {
			if !errors.Is(err, spamrun.ErrBadAddress) {
				t.Fatalf("ParseAddress(%q): %v does not wrap ErrBadAddress", in, err)
			}
			return
		}
		if !utf8.ValidString(got) || len(got) > spamrun.MaxAddressLength {
			t.Fatalf("ParseAddress(%q) = %q: invalid UTF-8 or too long", in, got)
		}
		for _, r := range got {
			if unicode.IsControl(r) || r == '<' || r == '>' || r == '\u2028' || r == '\u2029' {
				t.Fatalf("ParseAddress(%q) = %q, which holds %q", in, got, r)
			}
		}
		if again, err := spamrun.ParseAddress(got); again != got || err != nil {
			t.Fatalf("ParseAddress(%q) = %q, but ParseAddress(%q) = %q, %v", in, got, got, again, err)
		}
		if got == "" {
			if err := (Envelope{From: got, To: []string{"a@example.org"}}).check(); err != nil {
				t.Fatalf("the relay refuses the null sender: %v", err)
			}
			return
		}
		if err := (Envelope{From: got, To: []string{got}}).check(); err != nil {
			t.Fatalf("ParseAddress(%q) = %q, which the relay refuses: %v", in, got, err)
		}
		local, domain, ok := unquote(got)
		if !ok {
			return // a local part alone: no SMTP path carries it
		}
		if joined, err := spamrun.JoinAddress(local, domain); joined != got || err != nil {
			t.Fatalf("ParseAddress(%q) = %q, but JoinAddress(%q, %q) = %q, %v", in, got, local, domain, joined, err)
		}
	})
}

// unquote splits a canonical address into its local part, without quotes
// and escapes, and its domain, as go-smtp's server hands them to a session.
func unquote(addr string) (local, domain string, ok bool) {
	if !strings.HasPrefix(addr, `"`) {
		at := strings.IndexByte(addr, '@')
		if at < 0 {
			return "", "", false
		}
		return addr[:at], addr[at+1:], true
	}
	var b strings.Builder
	for i := 1; i < len(addr); i++ {
		switch addr[i] {
		case '\\':
			i++
			b.WriteByte(addr[i])
		case '"':
			if !strings.HasPrefix(addr[i+1:], "@") {
				return "", "", false
			}
			return b.String(), addr[i+2:], true
		default:
			b.WriteByte(addr[i])
		}
	}
	return "", "", false
}
