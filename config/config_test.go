package config

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spamrun/spamrun"
)

// fixedHostname makes the defaults independent of the machine.
func fixedHostname(t *testing.T, name string, err error) {
	t.Helper()
	old := hostname
	hostname = func() (string, error) { return name, err }
	t.Cleanup(func() { hostname = old })
}

func env(vars ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(vars); i += 2 {
		m[vars[i]] = vars[i+1]
	}
	return func(k string) string { return m[k] }
}

func ptr[T any](v T) *T { return &v }

// equal compares what a file says, not where it came from.
func equal(t *testing.T, got, want *Config) {
	t.Helper()
	g, w := *got, *want
	g.src, w.src = nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Errorf("config differs\n got: %+v\nwant: %+v", g, w)
		gv, wv := reflect.ValueOf(g), reflect.ValueOf(w)
		for i := range gv.NumField() {
			if f := gv.Type().Field(i); f.IsExported() && !reflect.DeepEqual(gv.Field(i).Interface(), wv.Field(i).Interface()) {
				t.Errorf("field %s: got %+v, want %+v", f.Name, gv.Field(i).Interface(), wv.Field(i).Interface())
			}
		}
	}
}

func TestStoreURLs(t *testing.T) {
	dir := t.TempDir()
	pem := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca, cert, key := pem("ca.pem"), pem("client.pem"), pem("client.key")
	for _, tc := range []struct {
		name, toml string
		want       Store
	}{
		{"sentinel", `url = "redis+sentinel://:pw@10.0.0.5:26379,10.0.0.6:26379,[::1]:26379/1?master_name=spamrun&password=secret"`,
			Store{Kind: StoreRedis, URL: "redis+sentinel://:pw@10.0.0.5:26379,10.0.0.6:26379,[::1]:26379/1?master_name=spamrun&password=secret"}},
		{"cluster", `url = "redis+cluster://10.0.0.5:6379,10.0.0.6:6379"`,
			Store{Kind: StoreRedis, URL: "redis+cluster://10.0.0.5:6379,10.0.0.6:6379"}},
		{"cluster tls", "url = \"rediss+cluster://10.0.0.5:6379\"\ntls_ca = \"" + ca + "\"\ntls_cert = \"" + cert + "\"\ntls_key = \"" + key + "\"",
			Store{Kind: StoreRedis, URL: "rediss+cluster://10.0.0.5:6379", TLSCA: ca, TLSCert: cert, TLSKey: key}},
		{"server tls", "url = \"rediss://10.0.0.5:6380/0\"\ntls_ca = \"" + ca + "\"",
			Store{Kind: StoreRedis, URL: "rediss://10.0.0.5:6380/0", TLSCA: ca}},
	} {
		c, err := Parse("t.toml", []byte("[store]\nkind = \"redis\"\n"+tc.toml+"\n"))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if c.Store != tc.want {
			t.Errorf("%s: store %+v, want %+v", tc.name, c.Store, tc.want)
		}
	}
}

func TestExampleFile(t *testing.T) {
	fixedHostname(t, "web1.example.net", nil)
	got, err := Load("spamrun.toml.example")
	if err != nil {
		t.Fatal(err)
	}
	// Built from the defaults, so that what the example calls a default
	// is one: only what it changes is set here.
	want := defaultFor(0, nil)
	want.ArticleURL = "https://support.example.com/spam-run"
	want.Relay.Username, want.Relay.Password = "web1", "change-me"
	want.Store.URL = "redis://127.0.0.1:6379/0"
	want.Metrics.Listen = "127.0.0.1:9467"
	want.SMTPD.SendmailSocket = "/run/spamrun/sendmail.sock"
	want.Enforce.Command = "/usr/local/bin/panel-disable-site {site}"
	want.Enforce.EnableCommand = "/usr/local/bin/panel-enable-site {site}"
	want.Enforce.Webhook = "https://panel.example.net/hooks/spamrun"
	want.Enforce.WebhookSecret = "a-long-random-string"
	want.Notify.Operator = []string{"ops@example.net"}
	want.SiteConfigs = map[string]SiteConfig{
		"shop1": {User: "shop1", Domains: []string{"shop1.example", "www.shop1.example"}, MaxSpam: ptr(25), SMTPAllow: []string{"smtp.sendgrid.net:587"},
			Contact: []string{"owner@shop1.example"}, Language: "nl"},
		"newsletter": {UID: ptr(1042), Domains: []string{"news.example.org"}, Exempt: true},
		"club":       {Domains: []string{"club.example.org"}, MaxSpam: ptr(3), Count: ptr(spamrun.CountMessages)},
		"blog.example.com": {
			User: "blog", Domains: []string{"blog.example.com"},
			MaxSpam: ptr(0), HoldFor: ptr(time.Hour),
		},
	}
	equal(t, got, want)
	if err := got.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	// And the defaults are what the documentation says.
	fixedHostname(t, "ignored.example", nil)
	got, err = Load("spamrun.toml.example")
	if err != nil {
		t.Fatal(err)
	}
	want = &Config{
		StateDir:       "/var/lib/spamrun",
		SpoolDir:       "/var/spool/spamrun",
		ArticleURL:     "https://support.example.com/spam-run",
		Hostname:       "web1.example.net",
		MaxMessageSize: 26214400,
		QueueLifetime:  120 * time.Hour,
		Syslog:         true,
		Egress:         EgressRedirect,
		Relay: Relay{
			SMTP:          "127.0.0.1:25",
			StartTLS:      StartTLSOpportunistic,
			Username:      "web1",
			Password:      "change-me",
			Timeout:       30 * time.Second,
			Helo:          "web1.example.net",
			MaxRecipients: 100,
		},
		Queue: Queue{Interval: 30 * time.Second, RateInterval: time.Minute, MaxBounces: 10, QuarantineFor: 720 * time.Hour},
		SMTPD: SMTPD{
			Listen: []string{"127.0.0.1:10025", "[::1]:10025"}, SendmailSocket: "/run/spamrun/sendmail.sock",
			TrustedUsers: []string{"root"}, Trusted: TrustedRelay, MaxConnections: 10, MaxRecipients: 1000, CommandTimeout: 5 * time.Minute,
		},
		Metrics:       Metrics{Listen: "127.0.0.1:9467", MaxSites: 50},
		DefaultPolicy: spamrun.Policy{SpamScore: 5, MaxSpam: 10, Window: time.Hour, HoldFor: 15 * time.Minute},
		Scorer:        Scorer{Kind: ScorerBuiltin, Timeout: 10 * time.Second},
		Store:         Store{Kind: StoreSQLite, URL: "redis://127.0.0.1:6379/0"},
		Enforce: Enforce{
			Command:        "/usr/local/bin/panel-disable-site {site}",
			EnableCommand:  "/usr/local/bin/panel-enable-site {site}",
			Webhook:        "https://panel.example.net/hooks/spamrun",
			WebhookSecret:  "a-long-random-string",
			CommandTimeout: 30 * time.Second,
			WebhookTimeout: 10 * time.Second,
			WebhookRetries: 3,
		},
		Notify: Notify{Operator: []string{"ops@example.net"}, Language: "en"},
		SiteConfigs: map[string]SiteConfig{
			"shop1": {User: "shop1", Domains: []string{"shop1.example", "www.shop1.example"}, MaxSpam: ptr(25), SMTPAllow: []string{"smtp.sendgrid.net:587"},
				Contact: []string{"owner@shop1.example"}, Language: "nl"},
			"newsletter": {UID: ptr(1042), Domains: []string{"news.example.org"}, Exempt: true},
			"club":       {Domains: []string{"club.example.org"}, MaxSpam: ptr(3), Count: ptr(spamrun.CountMessages)},
			"blog.example.com": {
				User: "blog", Domains: []string{"blog.example.com"},
				MaxSpam: ptr(0), HoldFor: ptr(time.Hour),
			},
		},
	}
	equal(t, got, want)
}

// TestExampleLines checks the line finder against every key of the
// example, where a naive search is right: one key per line, tables on
// their own lines.
func TestExampleLines(t *testing.T) {
	data, err := os.ReadFile("spamrun.toml.example")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("example", data)
	if err != nil {
		t.Fatal(err)
	}
	// naive finds "[table]" or "key =" under the last header.
	naive := func(key toml.Key) int {
		want, table := key.String(), ""
		for i, l := range strings.Split(string(data), "\n") {
			l = strings.TrimSpace(l)
			if h, ok := strings.CutPrefix(l, "["); ok {
				table, _, _ = strings.Cut(h, "]")
				if table == want {
					return i + 1
				}
				continue
			}
			if k, _, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
				if k = strings.TrimSpace(k); table != "" {
					k = table + "." + k
				}
				if k == want {
					return i + 1
				}
			}
		}
		return -1
	}
	if !c.src.positions() {
		t.Fatal("no positions")
	}
	n := 0
	for _, key := range c.src.md.Keys() {
		want := naive(key)
		if want < 0 {
			t.Errorf("no line for %s", key)
			continue
		}
		n++
		if got := c.src.line(key); got != want {
			t.Errorf("line of %s: got %d, want %d", key, got, want)
		}
	}
	if n < 40 {
		t.Errorf("only %d keys checked", n)
	}
}

func TestDefaults(t *testing.T) {
	fixedHostname(t, "web9.example.net", nil)
	for _, tc := range []struct {
		name         string
		uid          int
		getenv       func(string) string
		state, spool string
	}{
		{"root", 0, env("XDG_STATE_HOME", "/x", "HOME", "/home/u"), "/var/lib/spamrun", "/var/spool/spamrun"},
		{"untrusted environment", 1000, nil, "/var/lib/spamrun", "/var/spool/spamrun"},
		{"XDG", 1000, env("XDG_STATE_HOME", "/x/state", "HOME", "/home/u"), "/x/state/spamrun", "/x/state/spamrun/spool"},
		{"HOME", 1000, env("HOME", "/home/u"), "/home/u/.local/state/spamrun", "/home/u/.local/state/spamrun/spool"},
		{"relative XDG is ignored", 1000, env("XDG_STATE_HOME", "state", "HOME", "/home/u"), "/home/u/.local/state/spamrun", "/home/u/.local/state/spamrun/spool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := defaultFor(tc.uid, tc.getenv)
			if c.StateDir != tc.state || c.SpoolDir != tc.spool {
				t.Errorf("dirs: got %q, %q; want %q, %q", c.StateDir, c.SpoolDir, tc.state, tc.spool)
			}
			if c.Hostname != "web9.example.net" || c.Relay.Helo != "web9.example.net" {
				t.Errorf("hostname %q, helo %q", c.Hostname, c.Relay.Helo)
			}
			if c.DefaultPolicy != spamrun.DefaultPolicy() {
				t.Errorf("policy %+v", c.DefaultPolicy)
			}
			if c.MaxMessageSize != 25<<20 || c.QueueLifetime != 120*time.Hour || !c.Syslog || c.Egress != EgressRedirect ||
				c.Relay.SMTP != "127.0.0.1:25" || c.Relay.StartTLS != StartTLSOpportunistic || c.Relay.Timeout != 30*time.Second ||
				c.Scorer != (Scorer{Kind: ScorerBuiltin, Timeout: 10 * time.Second}) || c.Store != (Store{Kind: StoreSQLite}) ||
				c.Enforce != (Enforce{CommandTimeout: 30 * time.Second, WebhookTimeout: 10 * time.Second, WebhookRetries: 3}) {
				t.Errorf("defaults: %+v", c)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("defaults do not validate: %v", err)
			}
		})
	}

	for _, h := range []string{"", "web_1", "host.", "-x"} {
		fixedHostname(t, h, nil)
		if c := defaultFor(0, nil); c.Hostname != "localhost" || c.Validate() != nil {
			t.Errorf("system host name %q: got %q", h, c.Hostname)
		}
	}
	fixedHostname(t, "", errors.New("no name"))
	if c := defaultFor(0, nil); c.Hostname != "localhost" {
		t.Errorf("failing os.Hostname: got %q", c.Hostname)
	}
}

// TestParseFillsDefaults checks that an absent key keeps its default and
// a set one does not leak into others.
func TestParseFillsDefaults(t *testing.T) {
	fixedHostname(t, "web9.example.net", nil)
	c, err := parse("t.toml", []byte("hostname = \"mx.example.org\"\n[relay]\ncommand = \"/usr/sbin/sendmail.postfix -i\"\n"), defaultFor(0, nil))
	if err != nil {
		t.Fatal(err)
	}
	want := defaultFor(0, nil)
	want.Hostname, want.Relay.Helo = "mx.example.org", "mx.example.org"
	want.Relay.SMTP, want.Relay.Command = "", "/usr/sbin/sendmail.postfix -i"
	equal(t, c, want)

	// An empty command is no command.
	c, err = parse("t.toml", []byte("[relay]\ncommand = \"\"\n"), defaultFor(0, nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Relay.SMTP != "127.0.0.1:25" || c.Relay.Command != "" {
		t.Errorf("empty command: smtp %q, command %q", c.Relay.SMTP, c.Relay.Command)
	}
}

func TestBadFiles(t *testing.T) {
	fixedHostname(t, "web9.example.net", nil)
	for _, tc := range []struct {
		name, file, want string
	}{
		{"syntax", "a = 1\nb = \n", "bad.toml:2: "},
		{"duplicate key", "[policy]\nmax_spam = 1\nmax_spam = 2\n", "bad.toml:3: "},
		{"unknown top-level key", "hostname = \"a.example\"\nhost_name = \"x\"\n", "bad.toml:2: host_name: unknown key"},
		{"unknown table", "[relays]\nsmtp = \"x\"\n", "bad.toml:1: relays: unknown key"},
		{"unknown key in relay", "[relay]\nsmtp = \"127.0.0.1:25\"\nport = 25\n", "bad.toml:3: relay.port: unknown key"},
		{"unknown key in site", "[sites.x]\nuser = \"x\"\nmaxspam = 3\n", "bad.toml:3: sites.x.maxspam: unknown key"},
		{"key differing in case", "[policy]\nMAX_SPAM = 3\n", "bad.toml:2: policy.MAX_SPAM: unknown key"},
		{"not a table", "relay = \"127.0.0.1:25\"\n", "bad.toml:1: relay: must be a table, not a string"},
		{"site not a table", "[sites]\nx = 1\n", "bad.toml:2: sites.x: must be a table"},
		{"string for integer", "[policy]\nmax_spam = \"10\"\n", "bad.toml:2: policy.max_spam: must be an integer, not a string"},
		{"float for integer", "[policy]\nmax_spam = 10.5\n", "bad.toml:2: policy.max_spam: must be an integer, not a float"},
		{"string for float", "[policy]\nspam_score = \"5\"\n", "bad.toml:2: policy.spam_score: must be a number"},
		{"integer duration", "[policy]\nwindow = 3600\n", "bad.toml:2: policy.window: must be a duration"},
		{"days", "queue_lifetime = \"5d\"\n", "bad.toml:1: queue_lifetime: \"5d\" is not a duration"},
		{"string for boolean", "syslog = \"yes\"\n", "bad.toml:1: syslog: must be true or false"},
		{"domains not an array", "[sites.x]\ndomains = \"x.example\"\n", "bad.toml:2: sites.x.domains: must be an array"},
		{"domains of numbers", "[sites.x]\ndomains = [\"x.example\", 2]\n", "bad.toml:2: sites.x.domains: element 2 must be a string"},

		{"negative max_spam", "\n[policy]\nmax_spam = -1\n", "bad.toml:3: policy.max_spam: -1 is negative"},
		{"metrics without port", "[metrics]\nlisten = \"127.0.0.1\"\n", "bad.toml:2: metrics.listen: \"127.0.0.1\" is not host:port"},
		{"metrics port out of range", "[metrics]\nlisten = \":99999\"\n", "bad.toml:2: metrics.listen: \":99999\": port \"99999\" is not a number from 1 to 65535"},
		{"negative metrics sites", "[metrics]\nmax_sites = -1\n", "bad.toml:2: metrics.max_sites: -1 is negative"},
		{"max_spam above the log", "[policy]\nmax_spam = 100000\n", "bad.toml:2: policy.max_spam: 100000 is above the limit"},
		{"zero window", "[policy]\nwindow = \"0s\"\n", "bad.toml:2: policy.window: 0s must be positive"},
		{"negative hold", "[policy]\nhold_for = \"-1m\"\n", "bad.toml:2: policy.hold_for: -1m0s is negative"},
		{"NaN score", "[policy]\nspam_score = nan\n", "bad.toml:2: policy.spam_score: is not a number"},
		{"site override", "[sites.x]\nwindow = \"-1h\"\n", "bad.toml:2: sites.x.window: -1h0m0s must be positive"},
		{"unknown count", "[policy]\nmax_spam = 3\ncount = \"recipient\"\n", "bad.toml:3: policy.count: must be \"recipients\" or \"messages\", not \"recipient\""},
		{"count not a string", "[policy]\ncount = 1\n", "bad.toml:2: policy.count: must be a string, not an integer"},
		{"site count", "[sites.x]\n\ncount = \"Messages\"\n", "bad.toml:3: sites.x.count: must be \"recipients\" or \"messages\", not \"Messages\""},

		{"relay both", "[relay]\nsmtp = \"127.0.0.1:25\"\ncommand = \"/usr/sbin/sendmail.postfix -i\"\n", "bad.toml:3: relay.command: set relay.smtp or relay.command, not both"},
		{"relay neither", "[relay]\nsmtp = \"\"\n", "bad.toml:2: relay.smtp: set relay.smtp or relay.command"},
		{"smtp without port", "[relay]\nsmtp = \"127.0.0.1\"\n", "bad.toml:2: relay.smtp: \"127.0.0.1\" is not host:port"},
		{"smtp port 0", "[relay]\nsmtp = \"relay.example:0\"\n", "bad.toml:2: relay.smtp: \"relay.example:0\": port \"0\""},
		{"smtp bad host", "[relay]\nsmtp = \"re lay:25\"\n", "bad.toml:2: relay.smtp: \"re lay:25\": \"re lay\" is neither"},
		{"relative relay command", "[relay]\ncommand = \"sbin/sendmail -i\"\n", "bad.toml:2: relay.command: program \"sbin/sendmail\" is a relative path"},
		{"relay command for a shell", "[relay]\ncommand = \"/usr/sbin/sendmail -i >> /tmp/log\"\n", "bad.toml:2: relay.command: shell syntax '>'"},
		{"starttls", "[relay]\nstarttls = \"yes\"\n", "bad.toml:2: relay.starttls: \"yes\" is not"},
		{"username without password", "[relay]\nusername = \"u\"\n", "bad.toml: relay.password (default): relay.username needs a password"},
		{"zero timeout", "[relay]\ntimeout = \"0s\"\n", "bad.toml:2: relay.timeout: 0s must be more than 0s"},
		{"bad helo", "[relay]\nhelo = \"a..b\"\n", "bad.toml:2: relay.helo: \"a..b\" is not a host name"},
		{"no recipients per transaction", "[relay]\nsmtp = \"127.0.0.1:25\"\nmax_recipients = 0\n", "bad.toml:3: relay.max_recipients: 0 must be more than 0"},
		{"max_recipients a string", "[relay]\nmax_recipients = \"100\"\n", "bad.toml:2: relay.max_recipients: must be an integer"},

		{"scorer kind", "[scorer]\nkind = \"bayes\"\n", "bad.toml:2: scorer.kind: \"bayes\" is not"},
		{"spamassassin without address", "[scorer]\n\nkind = \"spamassassin\"\n", "bad.toml:3: scorer.kind: \"spamassassin\" needs scorer.address"},
		{"rspamd without address", "[scorer]\nkind = \"rspamd\"\n", "bad.toml:2: scorer.kind: \"rspamd\" needs scorer.address"},
		{"spamd address", "[scorer]\nkind = \"spamassassin\"\naddress = \"localhost\"\n", "bad.toml:3: scorer.address: \"localhost\" is not host:port"},
		{"spamd URL", "[scorer]\nkind = \"spamassassin\"\naddress = \"http://127.0.0.1:783\"\n", "bad.toml:3: scorer.address: "},
		{"rspamd URL", "[scorer]\nkind = \"rspamd\"\naddress = \"ftp://127.0.0.1:11333\"\n", "bad.toml:3: scorer.address: \"ftp://127.0.0.1:11333\" is not an absolute http"},

		{"store kind", "[store]\nkind = \"mysql\"\n", "bad.toml:2: store.kind: \"mysql\" is not"},
		{"redis without url", "[store]\nkind = \"redis\"\n", "bad.toml:2: store.kind: \"redis\" needs store.url"},
		{"redis url", "[store]\nkind = \"redis\"\nurl = \"redis://[::1\"\n", "bad.toml:3: store.url: not a URL"},
		{"redis scheme", "[store]\nkind = \"redis\"\nurl = \"http://127.0.0.1:6379\"\n", "bad.toml:3: store.url: the scheme must be"},
		{"redis db", "[store]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:6379/x\"\n", "bad.toml:3: store.url: the path of the URL must be a database number"},
		{"redis password not shown", "[store]\nkind = \"redis\"\nurl = \"redis://:s3cret@/0\"\n", "bad.toml:3: store.url: no host"},
		{"sentinel without master", "[store]\nkind = \"redis\"\nurl = \"redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/0\"\n", "bad.toml:3: store.url: a redis+sentinel:// URL needs the master's name"},
		{"sentinel seed", "[store]\nkind = \"redis\"\nurl = \"redis+sentinel://127.0.0.1:26379,10.0.0.1/0?master_name=m\"\n", "bad.toml:3: store.url: \"10.0.0.1\" is not a sentinel's host:port"},
		{"cluster seed", "[store]\nkind = \"redis\"\nurl = \"redis+cluster://127.0.0.1:6379,127.0.0.1:0\"\n", "bad.toml:3: store.url: \"127.0.0.1:0\" is not a cluster node's host:port"},
		{"cluster db", "[store]\nkind = \"redis\"\nurl = \"redis+cluster://127.0.0.1:6379/2\"\n", "bad.toml:3: store.url: a Redis Cluster has only database 0"},
		{"tls without rediss", "[store]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:6379/0\"\ntls_ca = \"/etc/passwd\"\n", "bad.toml:4: store.tls_ca: needs a TLS URL"},
		{"tls cert without key", "[store]\nkind = \"redis\"\nurl = \"rediss+cluster://127.0.0.1:6379\"\ntls_cert = \"/etc/passwd\"\n", "bad.toml:4: store.tls_cert: needs store.tls_key"},
		{"tls key without cert", "[store]\nkind = \"redis\"\nurl = \"rediss://127.0.0.1:6379/0\"\ntls_key = \"/etc/passwd\"\n", "bad.toml:4: store.tls_key: needs store.tls_cert"},
		{"tls relative", "[store]\nkind = \"redis\"\nurl = \"rediss://127.0.0.1:6379/0\"\ntls_ca = \"ca.pem\"\n", "bad.toml:4: store.tls_ca: \"ca.pem\" is not an absolute path"},
		{"tls missing", "[store]\nkind = \"redis\"\nurl = \"rediss://127.0.0.1:6379/0\"\ntls_ca = \"/nonexistent/ca.pem\"\n", "bad.toml:4: store.tls_ca: \"/nonexistent/ca.pem\": no such file or directory"},
		{"tls directory", "[store]\nkind = \"redis\"\nurl = \"rediss://127.0.0.1:6379/0\"\ntls_ca = \"/etc\"\n", "bad.toml:4: store.tls_ca: \"/etc\" is not a regular file"},

		{"relative article_url", "article_url = \"support.example.com/spam\"\n", "bad.toml:1: article_url: \"support.example.com/spam\" is not an absolute http"},
		{"ftp article_url", "article_url = \"ftp://support.example.com/spam\"\n", "bad.toml:1: article_url: "},
		{"hostname", "hostname = \"web_1\"\n", "bad.toml:1: hostname: \"web_1\" is not a host name"},
		{"max_message_size 0", "max_message_size = 0\n", "bad.toml:1: max_message_size: 0 must be more than 0"},
		{"max_message_size negative", "max_message_size = -5\n", "bad.toml:1: max_message_size: -5 must be more than 0"},
		{"relative state_dir", "state_dir = \"var/lib/spamrun\"\n", "bad.toml:1: state_dir: \"var/lib/spamrun\" is not an absolute path"},
		{"relative spool_dir", "spool_dir = \"\"\n", "bad.toml:1: spool_dir: \"\" is not an absolute path"},
		{"queue_lifetime", "queue_lifetime = \"-1h\"\n", "bad.toml:1: queue_lifetime: -1h0m0s must be more than 0s"},

		{"site name", "[sites.\"bad name\"]\nuser = \"x\"\n", "bad.toml:1: sites.\"bad name\": site name \"bad name\" contains ' '"},
		{"site name with dash", "[sites.-x]\n", "bad.toml:1: sites.-x: site name \"-x\" starts with '-'"},
		{"site name in a dotted key", "a = 1\nsites.\"a b\".user = \"x\"\n", "bad.toml:2: sites.\"a b\": site name"},
		{"empty user", "[sites.x]\nuser = \"\"\n", "bad.toml:2: sites.x.user: must not be empty"},
		{"user and uid", "[sites.x]\nuser = \"x\"\nuid = 1001\n", "bad.toml:3: sites.x.uid: set user or uid, not both"},
		{"negative uid", "[sites.x]\nuid = -1\n", "bad.toml:2: sites.x.uid: -1 is not a UID"},
		{"duplicate uid", "[sites.a]\nuid = 1001\n[sites.b]\nuid = 1001\n", "bad.toml:4: sites.b.uid: UID 1001 is site \"a\"'s too"},
		{"duplicate user", "[sites.a]\nuser = \"www\"\n[sites.b]\nuser = \"www\"\n", "bad.toml:4: sites.b.user: user \"www\" is site \"a\"'s too"},
		{"user named after another site", "[sites.a]\n[sites.b]\nuser = \"a\"\n", "bad.toml:3: sites.b.user: user \"a\" is site \"a\"'s too"},
		{"domain without dot", "[sites.x]\ndomains = [\"localhost\"]\n", "bad.toml:2: sites.x.domains: \"localhost\" is not a domain name: it has no dot"},
		{"domain with space", "[sites.x]\ndomains = [\n  \"shop.example\",\n  \"exa mple.com\",\n]\n", "bad.toml:2: sites.x.domains: \"exa mple.com\" is not a domain name"},
		{"IP address as domain", "[sites.x]\ndomains = [\"192.0.2.1\"]\n", "bad.toml:2: sites.x.domains: \"192.0.2.1\" is not a domain name: it ends in a number"},
		{"domain with final dot", "[sites.x]\ndomains = [\"x.example.\"]\n", "drop the final dot"},

		{"enforce pipe", "[enforce]\ncommand = \"/usr/bin/panel {site} | logger\"\n", "bad.toml:2: enforce.command: shell syntax '|'"},
		{"enforce relative program", "[enforce]\ncommand = \"bin/panel {site}\"\n", "bad.toml:2: enforce.command: program \"bin/panel\" is a relative path"},
		{"enforce site as program", "[enforce]\ncommand = \"{site}\"\n", "bad.toml:2: enforce.command: program \"{site}\" contains {site}"},
		{"enforce blank command", "[enforce]\ncommand = \"  \"\n", "bad.toml:2: enforce.command: empty command"},
		{"bad enable_command", "[enforce]\ncommand = \"/usr/bin/panel off {site}\"\nenable_command = \"/usr/bin/panel on '{site}\"\n", "bad.toml:3: enforce.enable_command: unterminated single quote"},
		{"enable_command alone", "[enforce]\nenable_command = \"/usr/bin/panel on {site}\"\n", "bad.toml:2: enforce.enable_command: needs enforce.command"},
		{"webhook scheme", "[enforce]\nwebhook = \"ftp://panel.example/hook\"\n", "bad.toml:2: enforce.webhook: bad webhook URL ftp://panel.example/hook: scheme must be http or https"},
		{"webhook token not shown", "[enforce]\nwebhook = \"ftp://panel.example/hook?token=s3cret\"\n", "bad.toml:2: enforce.webhook: bad webhook URL ftp://panel.example/hook:"},
		{"webhook_secret alone", "[enforce]\nwebhook_secret = \"x\"\n", "bad.toml:2: enforce.webhook_secret: needs enforce.webhook"},
		{"webhook_retries", "[enforce]\nwebhook_retries = 11\n", "bad.toml:2: enforce.webhook_retries: 11 is not from 0 to 10"},
		{"command_timeout", "[enforce]\ncommand_timeout = \"0s\"\n", "bad.toml:2: enforce.command_timeout: 0s must be more than 0s"},

		{"after a multi-line string", "article_url = \"\"\"\nhttps://a.example/\n\"\"\"\n[policy]\nmax_spam = -2\n", "bad.toml:5: policy.max_spam: -2 is negative"},
		{"multi-line string at fault", "[relay]\n\ncommand = '''\nsbin/sendmail\n'''\n", "bad.toml:3: relay.command:"},
		{"inline table", "relay = { smtp = \"127.0.0.1:25\",\n  typo = 1 }\n", "bad.toml:2: relay.typo: unknown key"},
		{"dotted keys", "policy.max_spam = 1\npolicy.windw = \"1h\"\n", "bad.toml:2: policy.windw: unknown key"},
		{"dotted keys in a site", "[sites]\nx.user = \"x\"\nx.uid = 3\n", "bad.toml:3: sites.x.uid: set user or uid, not both"},
		{"array of tables", "[[sites]]\nuser = \"x\"\n", "bad.toml:1: sites: must be a table, not an array of tables"},

		{"egress mode", "egress = \"drop\"\n", "bad.toml:1: egress: \"drop\" is not \"redirect\", \"reject\" or \"off\""},
		{"egress not a string", "egress = false\n", "bad.toml:1: egress: must be a string, not a boolean"},
		{"redirect without a listener", "[smtpd]\nlisten = []\n", "bad.toml: egress (default): \"redirect\" needs a smtpd.listen address on 127.0.0.1 or [::1]"},
		{"redirect to another loopback address", "egress = \"redirect\"\n[smtpd]\nlisten = [\"127.0.0.2:10025\"]\n", "bad.toml:1: egress: \"redirect\" needs"},
		{"smtp_allow without port", "[sites.x]\nsmtp_allow = [\"smtp.example.com\"]\n", "bad.toml:2: sites.x.smtp_allow: \"smtp.example.com\" is not host:port"},
		{"smtp_allow port 0", "[sites.x]\nsmtp_allow = [\"198.51.100.1:0\"]\n", "bad.toml:2: sites.x.smtp_allow: \"198.51.100.1:0\": port \"0\" is not a number from 1 to 65535"},
		{"smtp_allow port too big", "[sites.x]\nsmtp_allow = [\"[2001:db8::1]:65536\"]\n", "port \"65536\" is not a number from 1 to 65535"},
		{"smtp_allow empty host", "[sites.x]\nsmtp_allow = [\":587\"]\n", "bad.toml:2: sites.x.smtp_allow: \":587\": \"\" is neither an IP address nor a host name"},
		{"smtp_allow not an array", "[sites.x]\nsmtp_allow = \"smtp.example.com:587\"\n", "bad.toml:2: sites.x.smtp_allow: must be an array of strings"},

		{"operator not an address", "[notify]\noperator = [\"ops@example.net\", \"ops at example.net\"]\n", "bad.toml:2: notify.operator: \"ops at example.net\" is not a mail address"},
		{"operator without domain", "[notify]\noperator = [\"ops\"]\n", "bad.toml:2: notify.operator: \"ops\" is not a mail address"},
		{"bad from", "[notify]\nfrom = \"spamrun <postmaster@>\"\n", "bad.toml:2: notify.from: "},
		{"unknown language", "[notify]\nlanguage = \"de\"\n", "bad.toml:2: notify.language: \"de\" has no templates; the languages are en, nl"},
		{"relative templates", "[notify]\ntemplates = \"notify\"\n", "bad.toml:2: notify.templates: \"notify\" is not an absolute path"},
		{"missing templates", "[notify]\ntemplates = \"/nonexistent/spamrun/notify\"\n", "bad.toml:2: notify.templates: templates: stat /nonexistent/spamrun/notify: no such file or directory"},
		{"unknown key in notify", "[notify]\noperators = []\n", "bad.toml:2: notify.operators: unknown key"},
		{"site contact", "[sites.x]\ncontact = [\"owner@\"]\n", "bad.toml:2: sites.x.contact: \"owner@\" is not a mail address"},
		{"site language", "[sites.x]\nlanguage = \"fr\"\n", "bad.toml:2: sites.x.language: \"fr\" has no templates"},
		{"empty site language", "[sites.x]\nlanguage = \"\"\n", "bad.toml:2: sites.x.language: must not be empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse("bad.toml", []byte(tc.file), defaultFor(0, nil))
			if err == nil {
				t.Fatalf("no error; got %+v", c)
			}
			if c != nil {
				t.Errorf("a config with the error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows a secret", err)
			}
			var e *Error
			if !errors.As(err, &e) || e.File != "bad.toml" {
				t.Errorf("error %#v is not an *Error for bad.toml", err)
			}
		})
	}
}

func TestManyProblems(t *testing.T) {
	fixedHostname(t, "web9.example.net", nil)
	file := "zzz = 1\n[policy]\nmax_spam = -1\nwindow = \"0s\"\n[relay]\nstarttls = \"no\"\n"
	_, err := parse("m.toml", []byte(file), defaultFor(0, nil))
	want := "m.toml:1: zzz: unknown key\n" +
		"m.toml:3: policy.max_spam: -1 is negative\n" +
		"m.toml:4: policy.window: 0s must be positive\n" +
		"m.toml:6: relay.starttls: \"no\" is not \"opportunistic\", \"required\" or \"off\""
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}

	var b strings.Builder
	for i := range 30 {
		fmt.Fprintf(&b, "k%02d = 1\n", i)
	}
	_, err = parse("m.toml", []byte(b.String()), defaultFor(0, nil))
	lines := strings.Split(fmt.Sprint(err), "\n")
	if len(lines) != maxErrors+1 || lines[0] != "m.toml:1: k00: unknown key" || lines[maxErrors] != "m.toml: 10 more problems" {
		t.Errorf("got %d lines: %q ... %q", len(lines), lines[0], lines[len(lines)-1])
	}
}

func TestValidateBuiltInGo(t *testing.T) {
	c := defaultFor(0, nil)
	c.Relay.Timeout = 0
	c.SiteConfigs = map[string]SiteConfig{"a b": {MaxSpam: ptr(-1)}}
	err := c.Validate()
	want := "config: relay.timeout: 0s must be more than 0s\n" +
		"config: sites.\"a b\": site name \"a b\" contains ' '; use letters, digits, '-', '_' and '.'\n" +
		"config: sites.\"a b\".max_spam: -1 is negative"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}

	// A parsed config changed in Go: keys in the file keep their lines,
	// others are defaults.
	fixedHostname(t, "web9.example.net", nil)
	p, err := parse("p.toml", []byte("[relay]\nsmtp = \"127.0.0.1:25\"\n"), defaultFor(0, nil))
	if err != nil {
		t.Fatal(err)
	}
	p.Relay.SMTP = "nowhere"
	p.Relay.Timeout = -time.Second
	want = "p.toml:2: relay.smtp: \"nowhere\" is not host:port, such as \"127.0.0.1:25\"\n" +
		"p.toml: relay.timeout (default): -1s must be more than 0s"
	if err := p.Validate(); err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

func TestLocate(t *testing.T) {
	for _, tc := range []struct {
		name       string
		getenv     func(string) string
		privileged bool
		path       string
		mustExist  bool
	}{
		{"nothing set", env(), false, DefaultPath, false},
		{"SPAMRUN_CONFIG", env("SPAMRUN_CONFIG", "/home/dev/spamrun.toml"), false, "/home/dev/spamrun.toml", true},
		{"SPAMRUN_CONFIG when privileged", env("SPAMRUN_CONFIG", "/home/site/evil.toml"), true, DefaultPath, false},
		{"privileged", env(), true, DefaultPath, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, must := Locate(tc.getenv, tc.privileged)
			if path != tc.path || must != tc.mustExist {
				t.Errorf("got %q, %v; want %q, %v", path, must, tc.path, tc.mustExist)
			}
		})
	}
}

// TestDefaultPathSetAtLinkTime: packagers and test installations move the
// file with the linker's -X, which silently does nothing when its target is
// not a string variable initialised to a constant.
func TestDefaultPathSetAtLinkTime(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	const want = "/opt/spamrun-test/etc/spamrun.toml"
	cmd := exec.Command("go", "run", "-ldflags", "-X github.com/spamrun/spamrun/config.DefaultPath="+want, "./testdata/linkpath")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go run: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("a privileged process reads %q, want %q", got, want)
	}
}

func TestLoadDefault(t *testing.T) {
	fixedHostname(t, "web9.example.net", nil)
	dir := t.TempDir()
	old := DefaultPath
	DefaultPath = filepath.Join(dir, "etc", "spamrun.toml")
	t.Cleanup(func() { DefaultPath = old })

	own := filepath.Join(dir, "own.toml")
	if err := os.WriteFile(own, []byte("[policy]\nmax_spam = 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	userEnv := env("SPAMRUN_CONFIG", own, "XDG_STATE_HOME", "/x", "HOME", "/home/u")
	// A non-root user without a file gets the XDG directories; root and a
	// setgid sendmail, whatever their environment, the system ones.
	xdg := os.Getuid() != 0

	c, err := LoadDefault(userEnv, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.DefaultPolicy.MaxSpam != 3 {
		t.Errorf("SPAMRUN_CONFIG not read: max_spam %d", c.DefaultPolicy.MaxSpam)
	}
	if got := c.StateDir == "/x/spamrun"; got != xdg {
		t.Errorf("state_dir %q from SPAMRUN_CONFIG without state_dir (uid %d)", c.StateDir, os.Getuid())
	}

	// Privileged: SPAMRUN_CONFIG and XDG_STATE_HOME are the website's.
	c, err = LoadDefault(userEnv, true)
	if err != nil {
		t.Fatal(err)
	}
	if c.DefaultPolicy.MaxSpam != 10 || c.StateDir != "/var/lib/spamrun" || c.SpoolDir != "/var/spool/spamrun" {
		t.Errorf("privileged without a system file: max_spam %d, dirs %q %q", c.DefaultPolicy.MaxSpam, c.StateDir, c.SpoolDir)
	}

	// Unprivileged without a file.
	c, err = LoadDefault(env("XDG_STATE_HOME", "/x"), false)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.StateDir == "/x/spamrun"; got != xdg {
		t.Errorf("no file: state_dir %q (uid %d)", c.StateDir, os.Getuid())
	}

	// A SPAMRUN_CONFIG that is missing is an error, not the defaults.
	if _, err := LoadDefault(env("SPAMRUN_CONFIG", filepath.Join(dir, "missing.toml")), false); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing SPAMRUN_CONFIG: %v", err)
	}

	// The system file, read without privileges, keeps the system
	// directories; a bad one is an error naming it.
	if err := os.Mkdir(filepath.Dir(DefaultPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(DefaultPath, []byte("[policy]\nmax_spam = 4\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	for _, privileged := range []bool{false, true} {
		c, err = LoadDefault(env("XDG_STATE_HOME", "/x"), privileged)
		if err != nil {
			t.Fatal(err)
		}
		if c.DefaultPolicy.MaxSpam != 4 || c.StateDir != "/var/lib/spamrun" {
			t.Errorf("system file, privileged %v: max_spam %d, state_dir %q", privileged, c.DefaultPolicy.MaxSpam, c.StateDir)
		}
	}
	if err := os.WriteFile(DefaultPath, []byte("[policy]\nmax_spam = -4\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDefault(env(), true); err == nil || !strings.HasPrefix(err.Error(), DefaultPath+":2: policy.max_spam:") {
		t.Errorf("bad system file: %v", err)
	}

	// Everyone may write it: a privileged process refuses it.
	if err := os.WriteFile(DefaultPath, []byte(""), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(DefaultPath, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDefault(env(), true); err == nil || !strings.Contains(err.Error(), "lets everyone write it") {
		t.Errorf("world-writable system file: %v", err)
	}
	if _, err := LoadDefault(env(), false); err != nil {
		t.Errorf("world-writable system file, unprivileged: %v", err)
	}
}

func TestPolicy(t *testing.T) {
	fixedHostname(t, "web9.example.net", nil)
	c, err := parse("p.toml", []byte(`
[policy]
spam_score = 6
max_spam = 20
window = "2h"
hold_for = "0s"

[sites.strict]
max_spam = 0

[sites.lenient]
spam_score = 8.5
window = "30m"
hold_for = "5m"

[sites.exempt]
exempt = true

[sites.club]
count = "messages"

[sites.plain]
domains = ["plain.example"]
`), defaultFor(0, nil))
	if err != nil {
		t.Fatal(err)
	}
	def := spamrun.Policy{SpamScore: 6, MaxSpam: 20, Window: 2 * time.Hour, HoldFor: 0}
	want := map[string]spamrun.Policy{
		"strict":  {SpamScore: 6, MaxSpam: 0, Window: 2 * time.Hour},
		"lenient": {SpamScore: 8.5, MaxSpam: 20, Window: 30 * time.Minute, HoldFor: 5 * time.Minute},
		"exempt":  {SpamScore: 6, MaxSpam: 20, Window: 2 * time.Hour, Exempt: true},
		"club":    {SpamScore: 6, MaxSpam: 20, Window: 2 * time.Hour, Count: spamrun.CountMessages},
		"plain":   def,
	}
	for site, p := range want {
		if got := c.Policy(site); got != p {
			t.Errorf("Policy(%q) = %+v, want %+v", site, got, p)
		}
	}
	if got := c.Policy("unlisted"); got != def {
		t.Errorf("Policy(unlisted) = %+v, want %+v", got, def)
	}
	gotDef, sites := c.Policies()
	if gotDef != def || !reflect.DeepEqual(sites, want) {
		t.Errorf("Policies() = %+v, %+v", gotDef, sites)
	}
	if _, err := spamrun.NewDetector(&spamrun.DetectorOptions{Policy: gotDef, Sites: sites}); err != nil {
		t.Errorf("NewDetector: %v", err)
	}
}

func currentUser(t *testing.T) (*user.User, int) {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Skipf("no current user: %v", err)
	}
	if _, err := user.Lookup(u.Username); err != nil {
		t.Skipf("current user %q cannot be looked up: %v", u.Username, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		t.Skipf("UID %q", u.Uid)
	}
	return u, uid
}

func TestSites(t *testing.T) {
	fixedHostname(t, "web9.example.net", nil)
	me, uid := currentUser(t)
	file := fmt.Sprintf(`
[sites.mine]
user = %q
domains = ["mine.example"]

[sites.byuid]
uid = %d
`, me.Username, uid+54321)
	c, err := parse("s.toml", []byte(file), defaultFor(0, nil))
	if err != nil {
		t.Fatal(err)
	}
	sites, err := c.Sites()
	if err != nil {
		t.Fatal(err)
	}
	want := []spamrun.Site{
		{Name: "byuid", UID: uid + 54321},
		{Name: "mine", UID: uid, Domains: []string{"mine.example"}, DefaultSender: me.Username + "@web9.example.net"},
	}
	if !reflect.DeepEqual(sites, want) {
		t.Errorf("Sites() = %+v\nwant %+v", sites, want)
	}

	site, err := c.SiteForUID(uid)
	if err != nil || !reflect.DeepEqual(site, want[1]) {
		t.Errorf("SiteForUID(%d) = %+v, %v", uid, site, err)
	}
	if site, err := c.SiteForUID(uid + 54321); err != nil || site.Name != "byuid" {
		t.Errorf("SiteForUID(%d) = %+v, %v", uid+54321, site, err)
	}

	// A user that does not exist is an error naming the site, but only for
	// Sites: SiteForUID finds everyone else.
	c, err = parse("s.toml", []byte(file+"\n[sites.ghost]\nuser = \"no-such-user-spamrun\"\n\n[sites.no-such-site-spamrun]\n"), defaultFor(0, nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Sites()
	for _, want := range []string{
		"s.toml:10: sites.ghost.user: no user \"no-such-user-spamrun\"",
		"s.toml:12: sites.no-such-site-spamrun: no user \"no-such-site-spamrun\" (user defaults to the site's name)",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Sites() error %v\ndoes not contain %q", err, want)
		}
	}
	if site, err := c.SiteForUID(uid); err != nil || site.Name != "mine" {
		t.Errorf("SiteForUID(%d) with a ghost configured = %+v, %v", uid, site, err)
	}

	// One UID in two sites, which only the lookup can see.
	c, err = parse("s.toml", []byte(fmt.Sprintf("[sites.a]\nuser = %q\n[sites.b]\nuid = %d\n", me.Username, uid)), defaultFor(0, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sites(); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("s.toml:4: sites.b.uid: UID %d is site \"a\"'s too", uid)) {
		t.Errorf("Sites() with a UID twice: %v", err)
	}
	if _, err := c.SiteForUID(uid); err == nil || !strings.Contains(err.Error(), "s.toml:3: sites.b: UID") {
		t.Errorf("SiteForUID with a UID twice: %v", err)
	}

	// Not configured: the login name, as spamrun.SiteForUID has it.
	c, err = parse("s.toml", nil, defaultFor(0, nil))
	if err != nil {
		t.Fatal(err)
	}
	if site, err := c.SiteForUID(uid); err != nil || site.Name != me.Username || site.UID != uid {
		t.Errorf("SiteForUID(%d) unconfigured = %+v, %v", uid, site, err)
	}
	lookedUp, err := spamrun.SiteForUID(uid, nil, c.Hostname)
	if err != nil {
		t.Fatal(err)
	}
	if site, _ := c.SiteForUID(uid); !reflect.DeepEqual(site, lookedUp) || site.DefaultSender != me.Username+"@"+c.Hostname {
		t.Errorf("SiteForUID(%d) unconfigured = %+v, want %+v", uid, site, lookedUp)
	}
}

// TestRedirectPorts finds where the egress lock redirects to: the
// listener's port on 127.0.0.1 and on ::1, each family on its own.
func TestRedirectPorts(t *testing.T) {
	fixedHostname(t, "web9.example.net", nil)
	for _, tc := range []struct {
		file         string
		port4, port6 uint16
	}{
		{"", 10025, 10025},
		{"[smtpd]\nlisten = [\"[::1]:2525\", \"127.0.0.2:2526\", \"127.0.0.1:2527\", \"127.0.0.1:2528\"]\n", 2527, 2525},
		{"[smtpd]\nlisten = [\"127.0.0.1:587\"]\n", 587, 0},
		{"egress = \"reject\"\n[smtpd]\nlisten = []\n", 0, 0},
		{"egress = \"off\"\n[smtpd]\nlisten = [\"127.0.0.2:10025\"]\n", 0, 0},
	} {
		c, err := parse("t.toml", []byte(tc.file), defaultFor(0, nil))
		if err != nil {
			t.Errorf("%q: %v", tc.file, err)
			continue
		}
		if p4, p6 := c.RedirectPorts(); p4 != tc.port4 || p6 != tc.port6 {
			t.Errorf("%q: ports %d and %d, want %d and %d", tc.file, p4, p6, tc.port4, tc.port6)
		}
	}
}

// A templates directory is loaded when the file is: a bad template is an
// error of notify.templates, and a language it adds may be chosen.
func TestNotifyTemplates(t *testing.T) {
	fixedHostname(t, "web9.example.net", nil)
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("tripped-site.de.tmpl", "Subject: Website {{.Site}} gestoppt\n\nHallo.\n")
	file := fmt.Sprintf("[notify]\ntemplates = %q\n[sites.x]\nlanguage = \"de\"\n", dir)
	c, err := parse("ok.toml", []byte(file), defaultFor(0, nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.SiteConfigs["x"].Language != "de" || c.Notify.Templates != dir {
		t.Errorf("config %+v", c.Notify)
	}
	write("enabled.en.tmpl", "Subject: {{.Nope}}\n\nx\n")
	_, err = parse("bad.toml", []byte(file), defaultFor(0, nil))
	if err == nil || !strings.Contains(err.Error(), "bad.toml:2: notify.templates: ") || !strings.Contains(err.Error(), "enabled.en.tmpl") {
		t.Errorf("error %v, want one of notify.templates naming enabled.en.tmpl", err)
	}
}
