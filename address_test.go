package spamrun_test

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spamrun/spamrun"
)

func TestParseAddress(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	for _, tc := range []struct {
		in, want string
		bad      string // a substring of the error
	}{
		// Dot-atoms, as almost every address is.
		{in: "shop@shop1.example", want: "shop@shop1.example"},
		{in: "<shop@shop1.example>", want: "shop@shop1.example"},
		{in: "first.last+tag@mail.example.org", want: "first.last+tag@mail.example.org"},
		{in: "!#$%&'*+-/=?^_`{|}~@example.org", want: "!#$%&'*+-/=?^_`{|}~@example.org"},
		{in: "Shop@Shop1.Example", want: "Shop@Shop1.Example"},
		{in: "a@localhost", want: "a@localhost"},
		{in: "a@1.example", want: "a@1.example"},
		// The null sender.
		{in: "", want: ""},
		{in: "<>", want: ""},
		// A local name alone, as cron and -f www-data give.
		{in: "root", want: "root"},
		{in: "www-data", want: "www-data"},
		{in: `"a b"`, want: `"a b"`},
		// Quoted local parts, quoted only as far as needed.
		{in: `"a b"@example.org`, want: `"a b"@example.org`},
		{in: `<"a b"@example.org>`, want: `"a b"@example.org`},
		{in: `"a\"b"@x`, want: `"a\"b"@x`},
		{in: `"a\\b"@x`, want: `"a\\b"@x`},
		{in: `"a\ b"@x`, want: `"a b"@x`},
		{in: `"a.b"@example.org`, want: "a.b@example.org"},
		{in: `"\a\b"@example.org`, want: "ab@example.org"},
		{in: `"a@b"@example.org`, want: `"a@b"@example.org`},
		{in: `"a..b"@example.org`, want: `"a..b"@example.org`},
		{in: `".a"@example.org`, want: `".a"@example.org`},
		{in: `"a,b"@example.org`, want: `"a,b"@example.org`},
		// UTF-8 (RFC 6531).
		{in: "用户@例子.广告", want: "用户@例子.广告"},
		{in: "josé@exämple.org", want: "josé@exämple.org"},
		{in: `"jo sé"@exämple.org`, want: `"jo sé"@exämple.org`},
		{in: "δοκιμή@παράδειγμα.δοκιμή", want: "δοκιμή@παράδειγμα.δοκιμή"},
		// Address literals.
		{in: "a@[192.0.2.1]", want: "a@[192.0.2.1]"},
		{in: "a@[IPv6:2001:db8::1]", want: "a@[IPv6:2001:db8::1]"},
		{in: "a@[ipv6:2001:db8::1]", want: "a@[ipv6:2001:db8::1]"},
		{in: "a@[IPv6:::ffff:192.0.2.1]", want: "a@[IPv6:::ffff:192.0.2.1]"},
		// Long: the local part may pass 64 octets; the whole may not pass 254.
		{in: long(100) + "@example.org", want: long(100) + "@example.org"},
		{in: long(242) + "@example.org", want: long(242) + "@example.org"},
		{in: long(243) + "@example.org", bad: "longer than 254 bytes"},
		{in: `"` + long(240) + ` "@example.org`, bad: "longer than 254 bytes"},
		{in: "a@" + long(64) + ".example", bad: "longer than 63 bytes"},

		// Control characters, in any form.
		{in: "a@b.example\r\nBcc: victim@example.org", bad: "control character"},
		{in: "a@b.example\r\nRCPT TO:<x@y>", bad: "control character"},
		{in: "a@b.example\nX: y", bad: "control character"},
		{in: "a\r@b.example", bad: "control character"},
		{in: "a@b.example\x00", bad: "control character"},
		{in: "\x00", bad: "control character"},
		{in: "a@b\x7f.example", bad: "control character"},
		{in: "a\u0085@b.example", bad: "control character"},
		{in: "a\u2028@b.example", bad: "control character"},
		{in: "\"a\r\nb\"@x", bad: "control character"},
		{in: "\"a\\\rb\"@x", bad: "control character"},
		{in: "\"a\\\x00b\"@x", bad: "control character"},
		{in: "\"a\tb\"@x", bad: "control character"},
		{in: "\xff@example.org", bad: "not valid UTF-8"},
		// Quotes.
		{in: `"a b@example.org`, bad: "no closing quote"},
		{in: `"a"b"@example.org`, bad: `not followed by "@"`},
		{in: `a"b@example.org`, bad: `'"' outside a quoted string`},
		{in: `"a\`, bad: "escapes nothing"},
		{in: `"a\é"@x`, bad: "escapes nothing"},
		{in: `""@example.org`, bad: "local part is empty"},
		{in: `"a<b"@example.org`, bad: "angle bracket"},
		{in: `"a>b"@example.org`, bad: "angle bracket"},
		// More than one address, or not one at all.
		{in: "a@b@c", bad: `holds '@'`},
		{in: "a@b.example other@example.org", bad: `holds ' '`},
		{in: "a@b.example,other@example.org", bad: `holds ','`},
		{in: "Ann <a@b.example>", bad: "white space"},
		{in: "<a@b.example", bad: `'<' outside`},
		{in: "a b@example.org", bad: "white space"},
		{in: "a\u00a0b@example.org", bad: "white space"},
		// Empty parts, misplaced dots.
		{in: "@example.org", bad: "local part is empty"},
		{in: "user@", bad: "domain is empty"},
		{in: "<@>", bad: "local part is empty"},
		{in: ".a@example.org", bad: "starts or ends with a dot"},
		{in: "a.@example.org", bad: "starts or ends with a dot"},
		{in: "a..b@example.org", bad: "two dots"},
		{in: "a@example..org", bad: "empty label"},
		{in: "a@.example.org", bad: "empty label"},
		{in: "a@example.org.", bad: "empty label"},
		{in: "a@-example.org", bad: "hyphen"},
		{in: "a@example-.org", bad: "hyphen"},
		{in: "a@exa_mple.org", bad: `holds '_'`},
		{in: "a@exa mple.org", bad: `holds ' '`},
		{in: "a@例子。广告", bad: `holds '。'`},
		// Address literals that are not.
		{in: "a@[192.0.2.256]", bad: "not an IPv4"},
		{in: "a@[192.0.2.1", bad: "no closing bracket"},
		{in: "a@[2001:db8::1]", bad: "not an IPv4"},
		{in: "a@[IPv6:192.0.2.1]", bad: "not an IPv6"},
		{in: "a@[IPv6:fe80::1%eth0]", bad: "not an IPv6"},
		{in: "a@[x400:c=de]", bad: "not an IPv4"},
	} {
		got, err := spamrun.ParseAddress(tc.in)
		if tc.bad != "" {
			if !errors.Is(err, spamrun.ErrBadAddress) || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("ParseAddress(%q) = %q, %v; want ErrBadAddress with %q", tc.in, got, err, tc.bad)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseAddress(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestParseAddressErrorNamesTheAddress: the caller's message must say
// which address was refused, quoted so that a line break shows as \r\n,
// and stay short however long the address.
func TestParseAddressErrorNamesTheAddress(t *testing.T) {
	_, err := spamrun.ParseAddress("a@b.example\r\nRCPT TO:<x@y>")
	if want := `spamrun: bad address "a@b.example\r\nRCPT TO:<x@y>": it holds a control character`; err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	_, err = spamrun.ParseAddress(strings.Repeat("x", 5000) + "@example.org")
	if err == nil || len(err.Error()) > 200 {
		t.Errorf("the error of a long address is %d bytes: %v", len(err.Error()), err)
	}
}

// TestJoinAddress: a local part whose quotes a server library removed gets
// them back, exactly as ParseAddress writes it.
func TestJoinAddress(t *testing.T) {
	for _, tc := range []struct{ local, domain, want, bad string }{
		{"a", "example.org", "a@example.org", ""},
		{"a b", "example.org", `"a b"@example.org`, ""},
		{`a"b`, "x", `"a\"b"@x`, ""},
		{`a\b`, "x", `"a\\b"@x`, ""},
		{"a@b", "example.org", `"a@b"@example.org`, ""},
		{"用户", "例子.广告", "用户@例子.广告", ""},
		{"a", "[IPv6:2001:db8::1]", "a@[IPv6:2001:db8::1]", ""},
		{"", "example.org", "", "local part is empty"},
		{"a", "", "", "domain is empty"},
		{"a\r\nRCPT TO:<x@y>", "example.org", "", "control character"},
		{"a>b", "example.org", "", "angle bracket"},
		{"a", "b@c", "", `holds '@'`},
	} {
		got, err := spamrun.JoinAddress(tc.local, tc.domain)
		if tc.bad != "" {
			if !errors.Is(err, spamrun.ErrBadAddress) || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("JoinAddress(%q, %q) = %q, %v; want ErrBadAddress with %q", tc.local, tc.domain, got, err, tc.bad)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("JoinAddress(%q, %q) = %q, %v; want %q", tc.local, tc.domain, got, err, tc.want)
		}
		if again, err := spamrun.ParseAddress(got); again != got || err != nil {
			t.Errorf("ParseAddress(%q) = %q, %v; JoinAddress's result must stand as it is", got, again, err)
		}
	}
}

func TestParseAddressList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		bad  string // a substring of the error
	}{
		{in: "a@example.org", want: []string{"a@example.org"}},
		{in: "Ann <a@example.org>, b@example.net", want: []string{"a@example.org", "b@example.net"}},
		{in: "J. Doe <j@example.org>", want: []string{"j@example.org"}},
		{in: `"Doe, J." <j@example.org>`, want: []string{"j@example.org"}},
		{in: "j@example.org <j@example.org>", want: []string{"j@example.org"}},
		{in: "=?UTF-8?Q?J=C3=B6rg?= <j@example.org>", want: []string{"j@example.org"}},
		{in: "Jörg Müller <jörg@exämple.org>", want: []string{"jörg@exämple.org"}},
		{in: "root", want: []string{"root"}},
		{in: "", want: nil},
		{in: " , ,a@example.org,, ", want: []string{"a@example.org"}},
		// Groups: the name goes, the members stay.
		{in: "undisclosed-recipients:;", want: nil},
		{in: "Friends: a@example.org, Bo <b@example.org>;, c@example.org", want: []string{"a@example.org", "b@example.org", "c@example.org"}},
		{in: "Friends: a@example.org", want: []string{"a@example.org"}},
		// Comments, as Postfix drops them.
		{in: "a@example.org (Ann)", want: []string{"a@example.org"}},
		{in: "Ann (the (boss)) <a@example.org> (office)", want: []string{"a@example.org"}},
		{in: "a(x)@(y)example.org", want: []string{"a@example.org"}},
		{in: `(a \) b) a@example.org`, want: []string{"a@example.org"}},
		// Obsolete forms.
		{in: "a . b @ example . org", want: []string{"a.b@example.org"}},
		{in: "<@relay.example,@other.example:a@example.org>", want: []string{"a@example.org"}},
		// Quoted local parts keep their quotes.
		{in: `"a b"@example.org, Ann <"a\"b"@x>`, want: []string{`"a b"@example.org`, `"a\"b"@x`}},
		{in: `"a.b"@example.org`, want: []string{"a.b@example.org"}},
		{in: "a@[192.0.2.1]", want: []string{"a@[192.0.2.1]"}},

		{in: "a@example.org, John Doe john@example.org", bad: `"John Doe john@example.org": a name needs its address in angle brackets`},
		{in: "a@b@c", bad: `"a@b@c"`},
		{in: "Ann <a@example.org", bad: "angle brackets"},
		{in: "Ann a@example.org>", bad: "angle brackets"},
		{in: "<a@example.org> Ann", bad: "angle brackets"},
		{in: "Ann <>", bad: "empty"},
		{in: "<<a@example.org>>", bad: "angle brackets"},
		{in: `"a b@example.org`, bad: "no closing quote"},
		{in: "(a@example.org", bad: "no closing parenthesis"},
		{in: "a@example.org)", bad: `")" without "("`},
		{in: "a@example.org;", bad: `";" outside a group`},
		{in: "G: H: a@example.org;", bad: `":"`},
		{in: `a\b@example.org`, bad: `"\"`},
		{in: "a@example.org, b@exa\x00mple.org", bad: "control character"},
		{in: "ann@example.org, @example.org", bad: "local part is empty"},
	} {
		got, err := spamrun.ParseAddressList(tc.in)
		if tc.bad != "" {
			if !errors.Is(err, spamrun.ErrBadAddress) || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("ParseAddressList(%q) = %q, %v; want ErrBadAddress with %q", tc.in, got, err, tc.bad)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseAddressList(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// BenchmarkParseAddressList reads a To field of 5,000 recipients, the most
// a newsletter script is expected to put in one message.
func BenchmarkParseAddressList(b *testing.B) {
	var list []string
	for i := range 5000 {
		list = append(list, "Member "+strconv.Itoa(i)+` <"member `+strconv.Itoa(i)+`"@example.org>`)
	}
	value := strings.Join(list, ", ")
	b.SetBytes(int64(len(value)))
	for b.Loop() {
		if addrs, err := spamrun.ParseAddressList(value); err != nil || len(addrs) != 5000 {
			b.Fatalf("%d addresses, %v", len(addrs), err)
		}
	}
}
