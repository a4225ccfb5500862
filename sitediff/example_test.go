package sitediff_test

import (
	"fmt"

	"github.com/spamrun/spamrun/sitediff"
)

func ExampleScan() {
	src := []byte(`<?php
// Sends the newsletter. (mail() in a comment counts for nothing.)
$list = explode("\n", $_POST['emails']);
foreach ($list as $to) {
	mail($to, $_POST['subject'], $body);
}
eval(gzinflate(base64_decode($payload)));
`)
	for _, m := range sitediff.Scan(src) {
		fmt.Printf("%-28s %3.1f  line %d: %s\n", m.Name, m.Weight, m.Line, m.Excerpt)
	}
	// Output:
	// eval-decoded                 8.0  line 7: eval(gzinflate(base64_decode($payload)));
	// mail-recipient-from-request  5.0  line 5: mail($to, $_POST['subject'], $body);
	// header-injection             5.0  line 5: mail($to, $_POST['subject'], $body);
	// mail-loop                    4.0  line 5: mail($to, $_POST['subject'], $body);
	// obfuscation                  3.0  line 7: eval(gzinflate(base64_decode($payload)));
	// mail-call                    1.0  line 5: mail($to, $_POST['subject'], $body);
	// base64-decode                0.5  line 7: eval(gzinflate(base64_decode($payload)));
}
