package submit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jhillyerd/enmime/v2"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/config"
	"github.com/spamrun/spamrun/internal/host"
	"github.com/spamrun/spamrun/internal/submit"
	"github.com/spamrun/spamrun/notify"
	"github.com/spamrun/spamrun/report"
	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

const (
	article     = "https://help.example.net/spam-run"
	owner       = "owner@shop.example"
	operator    = "ops@example.net"
	spamSubject = "Zorblax pills 7731 at half price"
	gtube       = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
)

// node is one web node: its own spool and host, the shared Redis and the
// shared relay.
type node struct {
	name string
	h    *host.Host
	sub  *submit.Submitter
}

func newNode(t *testing.T, name, redisURL, relay string) *node {
	t.Helper()
	dir := t.TempDir()
	file := fmt.Sprintf(`state_dir = %q
spool_dir = %q
hostname = "web1.example.net"
article_url = %q
syslog = false

[relay]
smtp = %q
starttls = "off"
timeout = "10s"

[policy]
max_spam = 3
count = "messages"
window = "1h"
hold_for = "1h"

[store]
kind = "redis"
url = %q

[notify]
operator = [%q]

[sites.shop]
uid = %d
domains = ["shop.example"]
contact = [%q]
`, filepath.Join(dir, "state"), filepath.Join(dir, "spool"), article, relay, redisURL, operator, os.Getuid(), owner)
	cfg, err := config.Parse(name+".toml", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.Open(cfg, &host.Options{Logf: func(format string, args ...any) { t.Logf(name+": "+format, args...) }})
	if err != nil {
		t.Fatal(err)
	}
	if h.StoreErr != nil {
		t.Fatal(h.StoreErr)
	}
	t.Cleanup(func() { h.Close() })
	site := spamrun.Site{Name: "shop", UID: os.Getuid(), Domains: []string{"shop.example"}}
	return &node{name: name, h: h, sub: &submit.Submitter{Host: h, Site: site, UID: os.Getuid(),
		Evidence: spamrun.Evidence{Door: submit.DoorSendmail, Cwd: "/var/www/shop"},
		Logf:     func(format string, args ...any) { t.Logf(name+": "+format, args...) },
	}}
}

func spam(node string, i int) []byte {
	return []byte(fmt.Sprintf("From: www@shop.example\nTo: victim%d@victim.example\nSubject: %s\nX-PHP-Originating-Script: 1000:contact.php\n\nDear friend %s-%d,\n%s\n", i, spamSubject, node, i, gtube))
}

// notices returns what the sink got from the null sender for rcpt with
// the header of a notice.
func notices(t *testing.T, sink *spamruntest.SMTPSink, rcpt string) []spamruntest.SinkMessage {
	t.Helper()
	var out []spamruntest.SinkMessage
	for _, m := range sink.Messages() {
		if len(m.To) == 1 && m.To[0] == rcpt && bytes.Contains(m.Data, []byte("\r\nX-Spamrun-Incident: ")) {
			out = append(out, m)
		}
	}
	return out
}

func parse(t *testing.T, m spamruntest.SinkMessage) *enmime.Envelope {
	t.Helper()
	env, err := enmime.ReadEnvelope(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range env.Errors {
		t.Errorf("MIME problem: %v", e)
	}
	if m.From != "" {
		t.Errorf("notice to %v sent from <%s>, not the null sender", m.To, m.From)
	}
	if got := env.GetHeader("Auto-Submitted"); got != "auto-generated" {
		t.Errorf("Auto-Submitted: %q", got)
	}
	if from, err := env.AddressList("From"); err != nil || len(from) != 1 || from[0].Address != "postmaster@web1.example.net" {
		t.Errorf("From: %v %v", from, err)
	}
	if to, err := env.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != m.To[0] {
		t.Errorf("To: %v %v, envelope %v", to, err, m.To)
	}
	return env
}

// Two web nodes share one Redis, and a spam run goes through both at
// once: the one whose submission disabled the site writes the notices,
// so the site's owner and the operator each get one, with the fate of
// the winner's queue, and they hear again when the site is re-enabled.
func TestNoticesFromTwoNodes(t *testing.T) {
	redis := spamruntest.StartRedis(t)
	sink := spamruntest.NewSMTPSink(t)
	nodes := []*node{newNode(t, "web1", redis.URL(), sink.Addr()), newNode(t, "web2", redis.URL(), sink.Addr())}
	ctx := context.Background()

	var wg sync.WaitGroup
	refused := make([]int, len(nodes))
	for n, nd := range nodes {
		wg.Go(func() {
			for i := range 4 {
				_, err := nd.sub.Submit(ctx, submit.Envelope{Sender: "www@shop.example", Recipients: []string{fmt.Sprintf("victim%d@victim.example", i)}}, spam(nd.name, i))
				var re *submit.RefusedError
				switch {
				case errors.As(err, &re):
					refused[n]++
				case err != nil:
					t.Errorf("%s: submission %d: %v", nd.name, i, err)
				}
			}
		})
	}
	wg.Wait()
	if refused[0]+refused[1] != 5 {
		t.Fatalf("refused %v of 8 spam messages, want 5 (max_spam 3)", refused)
	}

	// The winner wrote both notices; the other node wrote none.
	var winner *node
	for _, nd := range nodes {
		entries, err := nd.h.Spool.List()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range entries {
			if e.Kind == spool.KindNotice {
				n++
			}
		}
		switch {
		case n == 2 && winner == nil:
			winner = nd
		case n != 0:
			t.Fatalf("%s wrote %d notices", nd.name, n)
		}
	}
	if winner == nil {
		t.Fatal("no node wrote the notices")
	}
	inc, err := winner.h.Detector.Disabled(ctx, "shop")
	if err != nil || inc == nil {
		t.Fatalf("site not disabled: %v", err)
	}
	// The winner's queue was returned when it tripped; what became of it
	// is what the notices say.
	var bounced, kept int
	q, err := winner.h.Spool.Quarantine()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range q {
		switch {
		case e.Incident != inc.ID:
		case e.State == spool.Bounced:
			bounced++
		case e.State == spool.Quarantined:
			kept++
		}
	}
	if bounced == 0 {
		t.Errorf("the winner bounced none of its held spam")
	}

	for _, nd := range nodes {
		if _, err := nd.h.Queue.Pass(ctx); err != nil {
			t.Errorf("%s: pass: %v", nd.name, err)
		}
	}
	top := report.Build(inc, &report.Options{ArticleURL: article}).Findings[0]

	ownerMsgs := notices(t, sink, owner)
	if len(ownerMsgs) != 1 {
		t.Fatalf("the site's owner got %d notices", len(ownerMsgs))
	}
	if bytes.Contains(ownerMsgs[0].Data, []byte("Zorblax")) {
		t.Errorf("the spam's subject is in the owner's notice:\n%s", ownerMsgs[0].Data)
	}
	env := parse(t, ownerMsgs[0])
	if !strings.Contains(env.GetHeader("Subject"), "shop") {
		t.Errorf("owner's subject: %q", env.GetHeader("Subject"))
	}
	for _, want := range []string{
		fmt.Sprintf("Your website shop sent %d spam-marked messages", inc.Count), "within 1h; the limit is 3", article, notify.OwnerAdvice(top)[0],
		fmt.Sprintf("%d message(s) were returned to the sender", bounced),
		fmt.Sprintf("%d message(s) are kept", kept), "Incident " + inc.ID,
	} {
		if !strings.Contains(env.Text, want) {
			t.Errorf("owner's notice lacks %q:\n%s", want, env.Text)
		}
	}
	if len(env.Attachments) != 0 {
		t.Errorf("owner's notice has attachments: %d", len(env.Attachments))
	}

	opMsgs := notices(t, sink, operator)
	if len(opMsgs) != 1 {
		t.Fatalf("the operator got %d notices", len(opMsgs))
	}
	op := parse(t, opMsgs[0])
	for _, want := range []string{
		"[spamrun] site shop disabled",
	} {
		if !strings.Contains(op.GetHeader("Subject"), want) {
			t.Errorf("operator's subject %q lacks %q", op.GetHeader("Subject"), want)
		}
	}
	for _, want := range []string{
		"spamrun incidents show " + inc.ID, "spamrun queue list --all shop", "spamrun enable shop",
		top.Advice[0], fmt.Sprintf("%d returned to the sender with a DSN, %d kept", bounced, kept),
		"Incident " + inc.ID, // the text report
	} {
		if !strings.Contains(op.Text, want) {
			t.Errorf("operator's notice lacks %q:\n%s", want, op.Text)
		}
	}
	if len(op.Attachments) != 1 || op.Attachments[0].FileName != "incident-"+inc.ID+".html" ||
		op.Attachments[0].ContentType != "text/html" || !bytes.Contains(op.Attachments[0].Content, []byte(inc.ID)) {
		t.Errorf("operator's attachment: %+v", op.Attachments)
	}

	// More passes write nothing more.
	for _, nd := range nodes {
		if _, err := nd.h.Queue.Pass(ctx); err != nil {
			t.Errorf("%s: pass: %v", nd.name, err)
		}
	}
	if n, m := len(notices(t, sink, owner)), len(notices(t, sink, operator)); n != 1 || m != 1 {
		t.Errorf("after more passes: %d and %d notices", n, m)
	}

	// Re-enabled (as spamrun enable does), both hear of it.
	other := nodes[0]
	if other == winner {
		other = nodes[1]
	}
	if err := other.h.Detector.Enable(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if err := other.h.Queue.Enabled(ctx, inc); err != nil {
		t.Fatal(err)
	}
	for _, rcpt := range []string{owner, operator} {
		ms := notices(t, sink, rcpt)
		if len(ms) != 2 {
			t.Fatalf("%s got %d notices after the re-enabling, want 2", rcpt, len(ms))
		}
		env := parse(t, ms[1])
		if !strings.Contains(env.GetHeader("Subject"), "shop") || !strings.Contains(env.Text, inc.ID) {
			t.Errorf("re-enabled notice to %s: %q\n%s", rcpt, env.GetHeader("Subject"), env.Text)
		}
	}
	if s := parse(t, notices(t, sink, owner)[1]).GetHeader("Subject"); s != "Mail from your website shop is back on" {
		t.Errorf("owner's re-enabled subject %q", s)
	}
}
