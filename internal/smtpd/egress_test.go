package smtpd_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun/internal/egress"
	"github.com/spamrun/spamrun/internal/host"
	"github.com/spamrun/spamrun/internal/submit"
	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

// TestThroughTheLock loads the egress lock that the listener's
// configuration describes, in a network namespace of the test's own, and
// sends as a site user what mailer kits send besides mail(): PHPMailer's
// isSMTP() to 127.0.0.1:25, a hand-written fsockopen dialogue to an IPv6
// MX on 587, and swaks with spam to an IPv4 MX on 25. Each lands at the
// listener as the site's, the spam is held with the door and the original
// destination as evidence, and SMTPS to the MX is refused.
func TestThroughTheLock(t *testing.T) {
	if !spamruntest.InNetNS(t) {
		return
	}
	spamruntest.NeedCommand(t, "nft", "nftables")
	spamruntest.NeedSiteUsers(t)
	php := spamruntest.NeedCommand(t, "php", "php-cli")
	if _, err := os.Stat(phpMailerAutoload); err != nil {
		spamruntest.Missing(t, "PHPMailer (apt-get install libphp-phpmailer)")
	}
	const mx4, mx6 = "198.51.100.25", "2001:db8::25"
	for _, args := range [][]string{
		{"addr", "add", mx4 + "/32", "dev", "lo"},
		{"addr", "add", mx6 + "/128", "dev", "lo", "nodad"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	site := spamruntest.AddSiteUser(t, "sdl")
	l := startListener(t, "")
	ctx := context.Background()
	lock := host.EgressLock(ctx, l.h.Config, "", nil)
	if err := egress.Apply(ctx, lock); err != nil {
		t.Fatal(err)
	}

	dir := sharedDir(t)
	runPHP := func(name, script string, args ...string) string {
		t.Helper()
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := site.Command(ctx, nil, php, append([]string{file}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s as %s: %v\n%s", name, site.Login, err, out)
		}
		return string(out)
	}
	if out := runPHP("contact.php", phpMailerSMTP, "127.0.0.1", "25", "customer@example.org"); !strings.Contains(out, "sent") {
		t.Fatalf("PHPMailer to 127.0.0.1:25: %s", out)
	}
	if out := runPHP("mailer.php", fsockopenSMTP, "["+mx6+"]", "587", "customer@example.org"); !strings.Contains(out, "ESMTP spamrun") || strings.Count(out, "250 ") < 4 {
		t.Fatalf("fsockopen to [%s]:587:\n%s", mx6, out)
	}
	spam := filepath.Join(dir, "spam.eml")
	if err := os.WriteFile(spam, spamruntest.GuestbookSpam("shop.example", 1), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := swaks(t, site, "--server", mx4+":25", "--from", site.Login+"@web1.example.net", "--to", "victim@example.com", "--data", "@"+spam)
	if code != 0 || !strings.Contains(out, "ESMTP spamrun") {
		t.Fatalf("swaks to %s:25: exit %d\n%s", mx4, code, out)
	}
	if out, code := swaks(t, site, "--server", mx4+":465", "--to", "victim@example.com"); code == 0 || !strings.Contains(out, "refused") {
		t.Errorf("swaks to %s:465: exit %d\n%s", mx4, code, out)
	}

	for _, m := range l.sink.WaitFor(t, 2, 20*time.Second) {
		if !strings.Contains(string(m.Data), "(spamrun, from userid "+strconv.Itoa(site.UID)+")") {
			t.Errorf("a message relayed without the site's UID:\n%s", m.Data)
		}
	}
	var held []*spool.Entry
	for _, e := range l.entries() {
		if e.State == spool.Held {
			held = append(held, e)
		}
	}
	if len(held) != 1 || held[0].Evidence.Door != submit.DoorSMTPRedirected || held[0].Evidence.Destination != mx4+":25" {
		for _, e := range held {
			t.Logf("held: %+v", e.Evidence)
		}
		t.Fatalf("%d messages held, want the spam, from door %q to %s:25", len(held), submit.DoorSMTPRedirected, mx4)
	}
	if n := strings.Count(l.log.String(), "door="+submit.DoorSMTPRedirected); n != 3 {
		t.Errorf("%d messages logged as redirected, want 3:\n%s", n, l.log)
	}
}
