package doctor

import (
	"bufio"
	"errors"
	"strings"
	"testing"

	"github.com/spamrun/spamrun/config"
)

func TestVerdict(t *testing.T) {
	for _, c := range []struct {
		kind   Kind
		o      observation
		status Status // "" when the egress lock decides
		seen   string
	}{
		{Sendmail, observation{Outcome: greeted, Greeting: "220 h ESMTP spamrun"}, Through, "220 h ESMTP spamrun"},
		{SMTPLocal, observation{Outcome: greeted, Greeting: "220-h ESMTP\n220 SpamRun here"}, Through, "220-h ESMTP"},
		{SMTPLocal, observation{Outcome: greeted, Greeting: "220 h ESMTP Postfix"}, Open, "220 h ESMTP Postfix"},
		{SMTPLocal, observation{Outcome: greeted, Greeting: "421 h busy"}, Open, "421 h busy"},
		{SMTPOutside, observation{Outcome: greeted, Greeting: "554 5.7.1 no"}, Closed, "it refuses: 554 5.7.1 no"},
		{Sendmail, observation{Outcome: denied, Detail: "fork/exec: permission denied"}, Closed, "this user may not execute it"},
		{Dropper, observation{Outcome: allowed, Detail: "this user may execute it"}, Open, "this user may execute it"},
		{Sendmail, observation{Outcome: silent, Detail: "it runs"}, Open, "it runs"},
		{SMTPOutside, observation{Outcome: refused, Detail: "connect: connection refused"}, Closed, "connect: connection refused"},
		{SMTPLocal, observation{Outcome: unreachable, Detail: "connect: cannot assign requested address"}, Closed, "connect: cannot assign requested address"},
		{SMTPOutside, observation{Outcome: unreachable}, "", ""},
		{SMTPOutside, observation{Outcome: unanswered}, "", ""},
		{SMTPLocal, observation{Outcome: unanswered}, "", ""},
		{Sendmail, observation{Outcome: failed, Detail: "pipe: too many open files"}, Open, "not tried: pipe: too many open files"},
	} {
		status, seen := verdict(c.kind, c.o)
		if status != c.status || seen != c.seen {
			t.Errorf("%s %+v: %q, %q; want %q, %q", c.kind, c.o, status, seen, c.status, c.seen)
		}
	}
}

func TestReadGreeting(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"220 h ESMTP spamrun\r\n250 more\r\n", "220 h ESMTP spamrun"},
		{"220-h ESMTP\r\n220-second\r\n220 last\r\nnext\r\n", "220-h ESMTP\n220-second\n220 last"},
		{"220 no line end", "220 no line end"},
		{"220 h \x1b[31mred\x00\r\n", "220 h [31mred"},
		{strings.Repeat("220-x\r\n", 30), strings.TrimSuffix(strings.Repeat("220-x\n", 20), "\n")},
	} {
		got, _ := readGreeting(bufio.NewReader(strings.NewReader(c.in)))
		if got != c.want {
			t.Errorf("readGreeting(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	long, _ := readGreeting(bufio.NewReader(strings.NewReader("220 " + strings.Repeat("é", 1000) + "\r\n")))
	if len(long) > 210 || !strings.HasSuffix(long, "…") {
		t.Errorf("a long greeting comes back as %d bytes: %q", len(long), long)
	}
}

func TestPlan(t *testing.T) {
	p, err := newPlan(&Options{Binaries: []string{"/bin/sh", "/nonexistent/sendmail"}, Droppers: []string{}, Remote: "2001:db8::1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Binaries) != 1 || p.Binaries[0] != "/bin/sh" || len(p.Droppers) != 0 || p.Timeout != DefaultTimeout {
		t.Errorf("plan %+v", p)
	}
	var addrs []string
	for _, tg := range p.SMTP {
		addrs = append(addrs, tg.Addr)
		if tg.TLS != strings.HasSuffix(tg.Addr, ":465") {
			t.Errorf("%s: TLS %v", tg.Addr, tg.TLS)
		}
	}
	if got, want := strings.Join(addrs, " "), "127.0.0.1:25 [::1]:25 127.0.0.1:587 [2001:db8::1]:25 [2001:db8::1]:465 [2001:db8::1]:587"; got != want {
		t.Errorf("SMTP doors %s, want %s", got, want)
	}
	for _, bad := range []string{"[2001:db8::1]", "mx.example/25", "a b"} {
		if _, err := newPlan(&Options{Remote: bad}); err == nil {
			t.Errorf("remote %q accepted", bad)
		}
	}
}

func TestUsers(t *testing.T) {
	cfg, err := config.Parse("spamrun.toml", []byte("[sites.gone]\nuid = 4000123\n\n[sites.ghost]\nuser = \"no-such-login-x\"\n\n[sites.boss]\nuid = 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	users, err := Users(cfg, "")
	if len(users) != 1 || users[0] != (User{Site: "gone", UID: 4000123, GID: 4000123}) {
		t.Errorf("users %+v", users)
	}
	if err == nil || !strings.Contains(err.Error(), "site ghost") || !strings.Contains(err.Error(), "root") {
		t.Errorf("error %v, want one naming ghost's missing user and boss's root", err)
	}
	if _, err := Users(cfg, "boss"); err == nil {
		t.Errorf("the site of root is tried")
	}
	if u, err := LookupUser(cfg, "4000123"); err != nil || u.Site != "gone" {
		t.Errorf("UID 4000123: %+v, %v", u, err)
	}
	if u, err := LookupUser(cfg, "4000124"); err != nil || u.Site != "uid4000124" || u.Login != "" {
		t.Errorf("UID 4000124: %+v, %v", u, err)
	}

	empty, err := config.Parse("spamrun.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	users, err = Users(empty, "")
	if err != nil || len(users) != 1 || users[0].Login != Nobody || users[0].Site != Nobody || users[0].UID == 0 {
		t.Errorf("without sites: %+v, %v; want nobody", users, err)
	}
}

func TestReportErr(t *testing.T) {
	if err := (&Report{}).Err(); err != nil {
		t.Errorf("no open door: %v", err)
	}
	for n, want := range map[int]string{1: "doctor: 1 door is open", 3: "doctor: 3 doors are open"} {
		err := (&Report{Open: n}).Err()
		if !errors.Is(err, ErrOpen) || err.Error() != want {
			t.Errorf("%d open: %v, want %q matching ErrOpen", n, err, want)
		}
	}
}
