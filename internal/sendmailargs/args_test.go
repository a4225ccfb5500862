package sendmailargs

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// Without address checks the words are kept as they are, and the mode is
// what the full parse would find: the front decides on it alone. The
// checked parse is tested with sendmail's (sendmail/args_test.go).
func TestParseUnchecked(t *testing.T) {
	tests := []struct {
		argv0 string
		args  []string
		mode  Mode
		rcpts []string
	}{
		{"sendmail", []string{"-t", "-i"}, Deliver, nil},
		{"sendmail", []string{"-i", "-f", "not an address", "Bo <b@example.net>, c@x"}, Deliver, []string{"Bo <b@example.net>, c@x"}},
		{"/usr/sbin/sendmail", []string{"-bs"}, SMTP, nil},
		{"/usr/bin/mailq", nil, List, nil},
		{"sendmail", []string{"-q30m"}, Flush, nil},
		{"newaliases", nil, NoAlias, nil},
		{"sendmail", []string{"-oi", "--", "-t"}, Deliver, []string{"-t"}},
	}
	for _, tt := range tests {
		o, err := Parse(tt.argv0, tt.args, Addresses{})
		if err != nil {
			t.Errorf("%s %q: %v", tt.argv0, tt.args, err)
			continue
		}
		if o.Mode != tt.mode || !slices.Equal(o.Recipients, tt.rcpts) {
			t.Errorf("%s %q: mode %d, recipients %q; want %d, %q", tt.argv0, tt.args, o.Mode, o.Recipients, tt.mode, tt.rcpts)
		}
	}
}

func TestParseChecked(t *testing.T) {
	bad := errors.New("not an address")
	addrs := Addresses{
		Sender: func(s string) (string, error) {
			if !strings.Contains(s, "@") {
				return "", bad
			}
			return strings.ToLower(s), nil
		},
		Recipients: func(s string) ([]string, error) { return strings.Split(s, ","), nil },
	}
	o, err := Parse("sendmail", []string{"-f", "Shop@Shop1.example", "a@x,b@y"}, addrs)
	if err != nil {
		t.Fatal(err)
	}
	if o.Sender != "shop@shop1.example" || !o.SenderSet || !slices.Equal(o.Recipients, []string{"a@x", "b@y"}) {
		t.Errorf("got %+v", o)
	}
	_, err = Parse("sendmail", []string{"-f", "nobody", "a@x"}, addrs)
	var usage *UsageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), "bad sender address in -f") {
		t.Errorf("a bad sender: %v, want a usage error naming -f", err)
	}
}
