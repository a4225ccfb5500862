package smtpd_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

// The site is the UID that owns the client's socket, on IPv4, IPv6 and the
// Unix socket alike; HELO, MAIL FROM and the header say what they like.
func TestSiteIsTheSocketOwner(t *testing.T) {
	spamruntest.NeedSiteUsers(t)
	a, b := spamruntest.AddSiteUser(t, "sda"), spamruntest.AddSiteUser(t, "sdb")
	l := startListener(t, "[smtpd]\ntrusted_users = []\n")
	forged := []string{"--helo", "root.example", "--from", b.Login + "@web1.example.net",
		"--add-header", "X-PHP-Originating-Script: " + strconv.Itoa(b.UID) + ":forged.php",
		"--to", "friend@example.org", "--body", "See you at the market on Saturday."}
	for _, tc := range []struct {
		user   spamruntest.SiteUser
		server []string
	}{
		{a, []string{"--server", l.tcp}},
		{a, []string{"--socket", l.sock}},
		{b, []string{"--server", l.tcp}},
	} {
		out, code := swaks(t, tc.user, append(tc.server, forged...)...)
		if code != 0 || !strings.Contains(out, "ESMTP spamrun") {
			t.Fatalf("swaks as %s to %s: exit %d\n%s", tc.user.Login, tc.server[1], code, out)
		}
	}
	// swaks needs a Perl module for IPv6; root, counted as a site here,
	// takes that door.
	c := dialRaw(t, "tcp", l.tcp6)
	c.hello()
	c.expect("MAIL FROM:<"+a.Login+"@web1.example.net>", 250)
	c.expect("RCPT TO:<friend@example.org>", 250)
	if code, msg := c.message([]byte("Subject: hi\n\nSee you.\n")); code != 250 {
		t.Fatalf("over IPv6: %d %s", code, msg)
	}
	got := l.sink.WaitFor(t, 4, 20*time.Second)
	for i, want := range []spamruntest.SiteUser{a, a, b, {Login: "root"}} {
		received := fmt.Sprintf("(spamrun, from userid %d)", want.UID)
		if !strings.Contains(string(got[i].Data), received) {
			t.Errorf("message %d: want %q in\n%s", i, received, got[i].Data)
		}
	}
	for _, line := range []string{"site=" + a.Login + " ", "site=" + b.Login + " ", "door=smtp-local"} {
		if !strings.Contains(l.log.String(), line) {
			t.Errorf("the log has no %q", line)
		}
	}
}

// A spam run through SMTP trips the site at max_spam+1 spam-marked
// messages; held, none of it reaches the relay; afterwards MAIL FROM is
// refused with the article, and another site's mail still flows.
func TestSpamRunTripsTheSite(t *testing.T) {
	spamruntest.NeedSiteUsers(t)
	spammer, other := spamruntest.AddSiteUser(t, "sds"), spamruntest.AddSiteUser(t, "sdo")
	l := startListener(t, "[policy]\nmax_spam = 3\nhold_for = \"1h\"\n")
	dir := sharedDir(t)
	send := func(u spamruntest.SiteUser, i int, data []byte) (string, int) {
		t.Helper()
		file := filepath.Join(dir, fmt.Sprintf("%s-%d.eml", u.Login, i))
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return swaks(t, u, "--server", l.tcp, "--from", u.Login+"@web1.example.net", "--to", fmt.Sprintf("victim%d@example.com", i), "--data", "@"+file)
	}
	for i := range 3 {
		out, code := send(spammer, i, spamruntest.GuestbookSpam("shop.example", i))
		if code != 0 {
			t.Fatalf("spam %d: exit %d\n%s", i, code, out)
		}
	}
	// The fourth trips the site and is refused at its end of DATA.
	out, code := send(spammer, 3, spamruntest.GuestbookSpam("shop.example", 3))
	if code == 0 || !strings.Contains(out, "550 5.7.1") {
		t.Errorf("the tripping message: exit %d\n%s", code, out)
	}
	if refused := regexp.MustCompile(`site=` + spammer.Login + ` id=\S+ from=<\S+> nrcpt=1 size=([0-9]+) score=\S+ action=refused`).FindStringSubmatch(l.log.String()); refused == nil || refused[1] == "0" {
		t.Errorf("the tripping message is not logged as refused with its size:\n%s", l.log)
	}
	out, code = send(spammer, 4, spamruntest.GuestbookSpam("shop.example", 4))
	if code == 0 || !strings.Contains(out, "550 5.7.1") || !strings.Contains(out, "https://help.example.net/spam-run") {
		t.Errorf("a disabled site: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "<** 550 5.7.1") || strings.Contains(out, "RCPT TO") {
		t.Errorf("a disabled site is not refused at MAIL FROM:\n%s", out)
	}
	out, code = send(other, 0, spamruntest.OrderConfirmation("shop2.example", 1))
	if code != 0 {
		t.Fatalf("the other site: exit %d\n%s", code, out)
	}
	got := l.sink.WaitFor(t, 1, 20*time.Second)
	if len(got) != 1 || !strings.Contains(string(got[0].Data), "from userid "+strconv.Itoa(other.UID)) {
		t.Errorf("the relay got %d messages; want only the other site's", len(got))
	}
	for _, e := range l.entries() {
		if e.Site == spammer.Login && e.State != spool.Held && e.Kind == "" {
			t.Errorf("spam %s is %s", e.ID, e.State)
		}
	}
	inc, err := l.h.Detector.Disabled(t.Context(), spammer.Login)
	if err != nil || inc == nil {
		t.Fatalf("the spammer is not disabled: %v", err)
	}
	if n := len(inc.Messages); n != 4 {
		t.Errorf("the incident holds %d messages, want 4", n)
	}
	for _, m := range inc.Messages {
		if m.Evidence.Door != "smtp-local" || m.Evidence.UID != spammer.UID {
			t.Errorf("evidence %+v", m.Evidence)
		}
	}
}

// A trusted user's mail is relayed uncounted, or refused, as configured.
func TestTrustedUsers(t *testing.T) {
	l := startListener(t, "[policy]\nmax_spam = 1\nhold_for = \"1h\"\n")
	for i := range 3 {
		c := dialRaw(t, "tcp", l.tcp)
		c.hello()
		c.expect("MAIL FROM:<root@web1.example.net>", 250)
		c.expect("RCPT TO:<victim@example.com>", 250)
		if code, msg := c.message(spamruntest.GuestbookSpam("root.example", i)); code != 250 {
			t.Fatalf("trusted root, message %d: %d %s", i, code, msg)
		}
	}
	l.sink.WaitFor(t, 3, 20*time.Second)
	if inc, _ := l.h.Detector.Disabled(t.Context(), "root"); inc != nil {
		t.Errorf("trusted root was disabled")
	}

	refusing := startListener(t, "[smtpd]\ntrusted = \"refuse\"\n")
	c := dialRaw(t, "tcp", refusing.tcp)
	if code, msg := c.reply(); code != 554 || !strings.Contains(msg, "root") {
		t.Errorf("trusted root, refused: %d %s", code, msg)
	}
}

// One UID holds at most max_connections at a time; a closed one frees its
// slot.
func TestConnectionsPerUID(t *testing.T) {
	l := startListener(t, "[smtpd]\ntrusted_users = []\nmax_connections = 2\n")
	first, second := dialRaw(t, "tcp", l.tcp), dialRaw(t, "unix", l.sock)
	first.hello()
	second.hello()
	third := dialRaw(t, "tcp", l.tcp6)
	if code, msg := third.reply(); code != 421 || !strings.Contains(msg, "too many connections") {
		t.Errorf("a third connection: %d %s", code, msg)
	}
	first.expect("QUIT", 221)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dialRaw(t, "tcp", l.tcp)
		code, msg := c.reply()
		if code == 220 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot after a QUIT: %d %s", code, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
