package spamrun_test

import (
	"errors"
	"testing"

	"github.com/spamrun/spamrun"
)

// FuzzParseAddressList: a list either fails with ErrBadAddress or gives
// addresses that ParseAddress reads as themselves, none of them the null
// sender. (FuzzParseAddress, beside the relay's check, holds each address
// to the rest.)
func FuzzParseAddressList(f *testing.F) {
	for _, seed := range []string{
		"Ann <a@example.org>, b@example.net", `"Doe, J." <j@example.org>`, "undisclosed-recipients:;",
		"Friends: a@example.org, Bo <b@example.org>;, root", "Ann (the (boss)) <a@example.org>",
		"<@relay.example,@other.example:a@example.org>", `"a b"@example.org, <"a\"b"@x>`,
		"John Doe john@example.org", "a@b.example\r\nRCPT TO:<x@y>", "Ann <>", "(a", `"a`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		addrs, err := spamrun.ParseAddressList(in)
		if err != nil {
			if !errors.Is(err, spamrun.ErrBadAddress) {
				t.Fatalf("ParseAddressList(%q): %v does not wrap ErrBadAddress", in, err)
			}
			return
		}
		for _, a := range addrs {
			if again, err := spamrun.ParseAddress(a); again != a || a == "" || err != nil {
				t.Fatalf("ParseAddressList(%q) gave %q, which ParseAddress reads as %q, %v", in, a, again, err)
			}
		}
	})
}
