package relay_test

import (
	"errors"
	"fmt"

	"github.com/spamrun/spamrun/relay"
)

// The [relay] command of the config file becomes a Command; each delivery
// appends the envelope after "--", so a recipient can never pass for an
// option.
func ExampleParseCommand() {
	cmd, err := relay.ParseCommand(`/usr/sbin/sendmail.postfix -o 'smtp_tls_security_level=may'`)
	if err != nil {
		panic(err)
	}
	env := relay.Envelope{From: "", To: []string{"shop@example.com", "-oQ/tmp"}}
	fmt.Printf("%q\n", cmd.CommandLine(env))

	_, err = relay.ParseCommand("/usr/sbin/sendmail -i | logger")
	fmt.Println(err)
	// Output:
	// ["/usr/sbin/sendmail.postfix" "-o" "smtp_tls_security_level=may" "-i" "-f<>" "--" "shop@example.com" "-oQ/tmp"]
	// relay: bad configuration: command: shell syntax '|' at byte 22 of "/usr/sbin/sendmail -i | logger": the command runs without a shell; quote the character or wrap the command in a script
}

// A queue runner decides between retrying and bouncing with IsPermanent,
// and for a partial delivery looks at each refused recipient.
func ExampleError() {
	errs := []error{
		&relay.Error{Code: 451, Enhanced: "4.3.0", Message: "Mail server temporarily rejected message"},
		&relay.Error{Code: 554, Enhanced: "5.7.1", Message: "Message rejected as spam"},
		&relay.Error{Rcpts: []relay.Refusal{
			{Rcpt: "gone@example.org", Code: 550, Enhanced: "5.1.1", Message: "No such user"},
			{Rcpt: "full@example.org", Code: 452, Enhanced: "4.2.2", Message: "Mailbox full"},
		}},
		fmt.Errorf("queue: message 17: %w", &relay.Error{Enhanced: "4.4.1", Err: errors.New("connection refused")}),
	}
	for _, err := range errs {
		fmt.Printf("permanent=%-5v %v\n", relay.IsPermanent(err), err)
		var e *relay.Error
		if errors.As(err, &e) {
			for _, r := range e.Rcpts {
				fmt.Printf("  %s: retry=%v status=%s\n", r.Rcpt, r.Temporary(), r.Enhanced)
			}
		}
	}
	// Output:
	// permanent=false relay: 451 4.3.0 Mail server temporarily rejected message
	// permanent=true  relay: 554 5.7.1 Message rejected as spam
	// permanent=false relay: 2 recipients not delivered: <gone@example.org>: 550 5.1.1 No such user; <full@example.org>: 452 4.2.2 Mailbox full
	//   gone@example.org: retry=false status=5.1.1
	//   full@example.org: retry=true status=4.2.2
	// permanent=false queue: message 17: relay: connection refused
}
