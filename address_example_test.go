package spamrun_test

import (
	"fmt"

	"github.com/spamrun/spamrun"
)

// ParseAddress returns what goes between the angle brackets of RCPT TO:
// quotes only where the local part needs them.
func ExampleParseAddress() {
	for _, in := range []string{`"a b"@example.org`, `"a.b"@example.org`, `<"a\ b"@example.org>`, "root", "a@b.example\r\nRCPT TO:<x@y.example>"} {
		addr, err := spamrun.ParseAddress(in)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(addr)
	}
	// Output:
	// "a b"@example.org
	// a.b@example.org
	// "a b"@example.org
	// root
	// spamrun: bad address "a@b.example\r\nRCPT TO:<x@y.example>": it holds a control character
}

// ParseAddressList reads a header field as -t does; a recipient it cannot
// read fails the field.
func ExampleParseAddressList() {
	fmt.Println(spamrun.ParseAddressList(`Ann <ann@example.org>, team: "bo b"@example.org (Bo);`))
	fmt.Println(spamrun.ParseAddressList("ann@example.org, Bo Berg bo@example.org"))
	// Output:
	// [ann@example.org "bo b"@example.org] <nil>
	// [] spamrun: bad address "Bo Berg bo@example.org": a name needs its address in angle brackets
}
