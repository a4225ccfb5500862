package host_test

import (
	"testing"

	"github.com/spamrun/spamrun/config"
	"github.com/spamrun/spamrun/internal/host"
	"github.com/spamrun/spamrun/relay"
)

func TestNewRelayTakesMaxRecipients(t *testing.T) {
	for _, tc := range []struct {
		file string
		want int
	}{
		{"[relay]\nsmtp = \"127.0.0.1:25\"\n", relay.DefaultMaxRecipients},
		{"[relay]\nsmtp = \"127.0.0.1:25\"\nmax_recipients = 7\n", 7},
		{"[relay]\ncommand = \"/usr/sbin/sendmail.postfix -i\"\nmax_recipients = 1000\n", 1000},
	} {
		cfg, err := config.Parse("spamrun.toml", []byte(tc.file))
		if err != nil {
			t.Fatal(err)
		}
		r, err := host.NewRelay(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var got int
		switch r := r.(type) {
		case *relay.SMTP:
			got = r.MaxRecipients
		case *relay.Command:
			got = r.MaxRecipients
		default:
			t.Fatalf("NewRelay gave a %T", r)
		}
		if got != tc.want {
			t.Errorf("%q: MaxRecipients %d, want %d", tc.file, got, tc.want)
		}
	}
}
