package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/internal/enforceconf"
	"github.com/spamrun/spamrun/internal/safeexec"
	"github.com/spamrun/spamrun/notify"
)

// Validate reports every value that makes no sense, as Load does. Settings
// that the chosen kind of relay, scorer or store does not use are not
// checked.
func (c *Config) Validate() error {
	return c.errorOf(c.problems())
}

// maxWebhookRetries keeps a tripping sendmail, which waits for the
// webhook, from waiting for hours.
const maxWebhookRetries = 10

// maxUID is the largest UID; (uid_t)-1 means "no change" to the kernel.
const maxUID = 1<<32 - 2

type checker struct{ probs []problem }

func (ch *checker) fail(key []string, format string, args ...any) {
	ch.probs = append(ch.probs, problem{key, fmt.Sprintf(format, args...)})
}

func (ch *checker) positive(key []string, d time.Duration) {
	if d <= 0 {
		ch.fail(key, "%v must be more than 0s", d)
	}
}

func (c *Config) problems() []problem {
	var ch checker
	for _, dir := range []struct{ key, path string }{{"state_dir", c.StateDir}, {"spool_dir", c.SpoolDir}} {
		if !filepath.IsAbs(dir.path) {
			ch.fail([]string{dir.key}, "%q is not an absolute path", dir.path)
		}
	}
	if c.ArticleURL != "" {
		if err := checkHTTPURL(c.ArticleURL); err != nil {
			ch.fail([]string{"article_url"}, "%v", err)
		}
	}
	if err := checkHostname(c.Hostname); err != nil {
		ch.fail([]string{"hostname"}, "%v", err)
	}
	if c.MaxMessageSize <= 0 {
		ch.fail([]string{"max_message_size"}, "%d must be more than 0", c.MaxMessageSize)
	}
	ch.positive([]string{"queue_lifetime"}, c.QueueLifetime)
	c.relayProblems(&ch)
	c.queueProblems(&ch)
	c.smtpdProblems(&ch)
	c.metricsProblems(&ch)
	c.egressProblems(&ch)
	ch.policy([]string{"policy"}, c.DefaultPolicy, &c.DefaultPolicy.SpamScore, &c.DefaultPolicy.MaxSpam, &c.DefaultPolicy.Window, &c.DefaultPolicy.HoldFor)
	c.scorerProblems(&ch)
	c.storeProblems(&ch)
	c.enforceProblems(&ch)
	langs := c.notifyProblems(&ch)
	c.siteProblems(&ch, langs)
	return ch.probs
}

func (c *Config) relayProblems(ch *checker) {
	r := c.Relay
	key := func(k string) []string { return []string{"relay", k} }
	switch {
	case r.SMTP != "" && r.Command != "":
		ch.fail(key("command"), "set relay.smtp or relay.command, not both")
	case r.SMTP == "" && r.Command == "":
		ch.fail(key("smtp"), "set relay.smtp or relay.command")
	}
	if r.SMTP != "" {
		if err := checkHostPort(r.SMTP, "127.0.0.1:25"); err != nil {
			ch.fail(key("smtp"), "%v", err)
		}
	}
	if r.Command != "" {
		// Checked as the relay will parse it: split like a shell's words,
		// nothing expanded, the program a bare name looked up in a fixed
		// PATH or an absolute path, never one relative to the website's
		// working directory.
		if _, err := safeexec.Parse(r.Command); err != nil {
			ch.fail(key("command"), "%s", err)
		}
	}
	switch r.StartTLS {
	case StartTLSOpportunistic, StartTLSRequired, StartTLSOff:
	default:
		ch.fail(key("starttls"), "%q is not %q, %q or %q", r.StartTLS, StartTLSOpportunistic, StartTLSRequired, StartTLSOff)
	}
	switch {
	case r.Username != "" && r.Password == "":
		ch.fail(key("password"), "relay.username needs a password")
	case r.Username == "" && r.Password != "":
		ch.fail(key("username"), "relay.password needs a username")
	}
	ch.positive(key("timeout"), r.Timeout)
	if r.MaxRecipients <= 0 {
		ch.fail(key("max_recipients"), "%d must be more than 0", r.MaxRecipients)
	}
	// A default HELO is the hostname, which has its own check.
	if r.Helo != c.Hostname {
		if err := checkHostname(r.Helo); err != nil {
			ch.fail(key("helo"), "%v", err)
		}
	}
}

func (c *Config) queueProblems(ch *checker) {
	q := c.Queue
	key := func(k string) []string { return []string{"queue", k} }
	ch.positive(key("interval"), q.Interval)
	if q.MaxRate < 0 {
		ch.fail(key("max_rate"), "%d must be 0 (no limit) or more", q.MaxRate)
	}
	ch.positive(key("rate_interval"), q.RateInterval)
	if q.MaxBounces < 0 {
		ch.fail(key("max_bounces"), "%d must be 0 (no DSNs) or more", q.MaxBounces)
	}
	ch.positive(key("quarantine_for"), q.QuarantineFor)
}

func (c *Config) metricsProblems(ch *checker) {
	m := c.Metrics
	if m.Listen != "" {
		if _, port, err := net.SplitHostPort(m.Listen); err != nil {
			ch.fail([]string{"metrics", "listen"}, "%q is not host:port: %v", m.Listen, err)
		} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			ch.fail([]string{"metrics", "listen"}, "%q: port %q is not a number from 1 to 65535", m.Listen, port)
		}
	}
	if m.MaxSites < 0 {
		ch.fail([]string{"metrics", "max_sites"}, "%d is negative", m.MaxSites)
	}
}

func (c *Config) smtpdProblems(ch *checker) {
	sd := c.SMTPD
	key := func(k string) []string { return []string{"smtpd", k} }
	for _, a := range sd.Listen {
		if err := checkLoopback(a); err != nil {
			ch.fail(key("listen"), "%q: %v", a, err)
		}
	}
	if sd.Socket != "" && !filepath.IsAbs(sd.Socket) {
		ch.fail(key("socket"), "%q must be an absolute path", sd.Socket)
	}
	if sd.SendmailSocket != "" && !filepath.IsAbs(sd.SendmailSocket) {
		ch.fail(key("sendmail_socket"), "%q must be an absolute path", sd.SendmailSocket)
	}
	for _, u := range sd.TrustedUsers {
		if u == "" || strings.ContainsAny(u, " \t:/") {
			ch.fail(key("trusted_users"), "%q is not a login name", u)
		}
	}
	if sd.Trusted != TrustedRelay && sd.Trusted != TrustedRefuse {
		ch.fail(key("trusted"), "%q must be %q or %q", sd.Trusted, TrustedRelay, TrustedRefuse)
	}
	if sd.MaxConnections < 1 {
		ch.fail(key("max_connections"), "%d must be 1 or more", sd.MaxConnections)
	}
	if sd.MaxRecipients < 1 {
		ch.fail(key("max_recipients"), "%d must be 1 or more", sd.MaxRecipients)
	}
	ch.positive(key("command_timeout"), sd.CommandTimeout)
}

func (c *Config) egressProblems(ch *checker) {
	switch c.Egress {
	case EgressRedirect:
		if p4, p6 := c.RedirectPorts(); p4 == 0 && p6 == 0 {
			ch.fail([]string{"egress"}, "%q needs a smtpd.listen address on 127.0.0.1 or [::1], where the kernel redirects to; or egress = %q", c.Egress, EgressReject)
		}
	case EgressReject, EgressOff:
	default:
		ch.fail([]string{"egress"}, "%q is not %q, %q or %q", c.Egress, EgressRedirect, EgressReject, EgressOff)
	}
}

// checkLoopback checks a listener's host:port: the listener takes the site
// from the owner of the client's socket, which only a local client has.
func checkLoopback(hostport string) error {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return fmt.Errorf("not an IP address and port: %v", err)
	}
	if !ap.Addr().IsLoopback() {
		return errors.New("the address must be a loopback address")
	}
	if ap.Port() == 0 {
		return errors.New("the port must be set")
	}
	return nil
}

// policy checks the fields of a policy that are set (not nil), each on its
// own, so that the error names the key at fault; then the whole, in case
// spamrun.Policy.Validate ever relates one field to another.
func (ch *checker) policy(table []string, whole spamrun.Policy, spamScore *float64, maxSpam *int, window, holdFor *time.Duration) {
	before := len(ch.probs)
	field := func(key string, set func(*spamrun.Policy)) {
		p := spamrun.DefaultPolicy()
		set(&p)
		if err := p.Validate(); err != nil {
			msg := strings.TrimPrefix(err.Error(), spamrun.ErrBadPolicy.Error()+": ")
			ch.fail(append(slices.Clip(table), key), "%s", strings.TrimPrefix(msg, key+" "))
		}
	}
	if spamScore != nil {
		field("spam_score", func(p *spamrun.Policy) { p.SpamScore = *spamScore })
	}
	if maxSpam != nil {
		field("max_spam", func(p *spamrun.Policy) { p.MaxSpam = *maxSpam })
	}
	if window != nil {
		field("window", func(p *spamrun.Policy) { p.Window = *window })
	}
	if holdFor != nil {
		field("hold_for", func(p *spamrun.Policy) { p.HoldFor = *holdFor })
	}
	if len(ch.probs) == before {
		if err := whole.Validate(); err != nil {
			ch.fail(table, "%s", trimErr(err))
		}
	}
}

func (c *Config) scorerProblems(ch *checker) {
	s := c.Scorer
	key := func(k string) []string { return []string{"scorer", k} }
	switch s.Kind {
	case ScorerBuiltin:
	case ScorerSpamAssassin, ScorerRspamd:
		if s.Address == "" {
			ch.fail(key("kind"), "%q needs scorer.address", s.Kind)
		} else if err := checkScorerAddress(s.Kind, s.Address); err != nil {
			ch.fail(key("address"), "%v", err)
		}
	default:
		ch.fail(key("kind"), "%q is not %q, %q or %q", s.Kind, ScorerBuiltin, ScorerSpamAssassin, ScorerRspamd)
	}
	ch.positive(key("timeout"), s.Timeout)
}

func (c *Config) storeProblems(ch *checker) {
	s := c.Store
	switch s.Kind {
	case StoreSQLite, StoreMemory:
	case StoreRedis:
		if s.URL == "" {
			ch.fail([]string{"store", "kind"}, "%q needs store.url", s.Kind)
		} else if err := checkRedisURL(s.URL); err != nil {
			ch.fail([]string{"store", "url"}, "%v", err)
		} else {
			s.tlsProblems(ch)
		}
	default:
		ch.fail([]string{"store", "kind"}, "%q is not %q, %q or %q", s.Kind, StoreSQLite, StoreRedis, StoreMemory)
	}
}

func (c *Config) enforceProblems(ch *checker) {
	e := c.Enforce
	key := func(k string) []string { return []string{"enforce", k} }
	// Each template is checked on its own, so that the error names the key
	// at fault.
	command := func(k, tmpl string) {
		if _, err := enforceconf.ParseCommand(tmpl); err != nil {
			ch.fail(key(k), "%v", err)
		}
	}
	if e.Command != "" {
		command("command", e.Command)
	}
	if e.EnableCommand != "" {
		if e.Command == "" {
			ch.fail(key("enable_command"), "needs enforce.command")
		} else {
			command("enable_command", e.EnableCommand)
		}
	}
	if e.Webhook != "" {
		if _, _, err := enforceconf.ParseWebhookURL(e.Webhook); err != nil {
			ch.fail(key("webhook"), "%v", err)
		}
	} else if e.WebhookSecret != "" {
		ch.fail(key("webhook_secret"), "needs enforce.webhook")
	}
	ch.positive(key("command_timeout"), e.CommandTimeout)
	ch.positive(key("webhook_timeout"), e.WebhookTimeout)
	if e.WebhookRetries < 0 || e.WebhookRetries > maxWebhookRetries {
		ch.fail(key("webhook_retries"), "%d is not from 0 to %d", e.WebhookRetries, maxWebhookRetries)
	}
}

// notifyProblems checks [notify] and returns the languages notices can be
// written in: the embedded ones and those of the templates directory.
func (c *Config) notifyProblems(ch *checker) func(string) bool {
	n := c.Notify
	key := func(k string) []string { return []string{"notify", k} }
	for _, a := range n.Operator {
		if err := checkMailAddress(a); err != nil {
			ch.fail(key("operator"), "%v", err)
		}
	}
	if n.From != "" {
		if err := checkMailAddress(n.From); err != nil {
			ch.fail(key("from"), "%v", err)
		}
	}
	templates := notify.Embedded()
	if n.Templates != "" {
		if !filepath.IsAbs(n.Templates) {
			ch.fail(key("templates"), "%q is not an absolute path", n.Templates)
		} else if t, err := notify.LoadTemplates(n.Templates); err != nil {
			ch.fail(key("templates"), "%s", strings.TrimPrefix(err.Error(), "notify: "))
		} else {
			templates = t
		}
	}
	known := func(lang string) bool { return templates.Has(lang) }
	if !known(n.Language) {
		ch.fail(key("language"), "%q has no templates; the languages are %s, and those a notify.templates directory adds",
			n.Language, strings.Join(notify.Languages(), ", "))
	}
	return known
}

// checkMailAddress accepts an address for a header and an envelope:
// "ops@example.net" or "Ops <ops@example.net>", with a domain.
func checkMailAddress(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return fmt.Errorf("%q is not a mail address: %v", s, strings.TrimPrefix(err.Error(), "mail: "))
	}
	if _, domain, _ := strings.Cut(a.Address, "@"); domain == "" {
		return fmt.Errorf("%q is not a mail address: it has no domain", s)
	}
	if _, err := spamrun.ParseAddress(a.Address); err != nil {
		return fmt.Errorf("%q is not a mail address an MTA takes: %v", s, trimErr(err))
	}
	return nil
}

func (c *Config) siteProblems(ch *checker, knownLanguage func(string) bool) {
	uids := make(map[int]string)
	users := make(map[string]string)
	for _, name := range slices.Sorted(maps.Keys(c.SiteConfigs)) {
		s := c.SiteConfigs[name]
		key := func(k ...string) []string { return append([]string{"sites", name}, k...) }
		if err := spamrun.ValidSiteName(name); err != nil {
			ch.fail(key(), "%s", trimErr(err))
		}
		if s.UID != nil {
			uid := *s.UID
			switch other, dup := uids[uid]; {
			case s.User != "":
				ch.fail(key("uid"), "set user or uid, not both")
			case uid < 0 || uid > maxUID:
				ch.fail(key("uid"), "%d is not a UID", uid)
			case dup:
				ch.fail(key("uid"), "UID %d is site %q's too", uid, other)
			default:
				uids[uid] = name
			}
		} else {
			login := s.login(name)
			k := key("user")
			if s.User == "" {
				k = key()
			}
			if other, dup := users[login]; dup {
				ch.fail(k, "user %q is site %q's too", login, other)
			} else {
				users[login] = name
			}
		}
		for _, d := range s.Domains {
			if err := checkDomain(d); err != nil {
				ch.fail(key("domains"), "%v", err)
			}
		}
		for _, d := range s.SMTPAllow {
			if err := checkHostPort(d, "smtp.sendgrid.net:587"); err != nil {
				ch.fail(key("smtp_allow"), "%v", err)
			}
		}
		for _, a := range s.Contact {
			if err := checkMailAddress(a); err != nil {
				ch.fail(key("contact"), "%v", err)
			}
		}
		if s.Language != "" && !knownLanguage(s.Language) {
			ch.fail(key("language"), "%q has no templates; the languages are %s, and those a notify.templates directory adds",
				s.Language, strings.Join(notify.Languages(), ", "))
		}
		ch.policy(key(), c.Policy(name), s.SpamScore, s.MaxSpam, s.Window, s.HoldFor)
	}
}

// checkHostname accepts what may follow HELO and the @ of a Message-ID: a
// name of letters, digits and hyphens, without a trailing dot.
func checkHostname(h string) error {
	return checkLabels(h, "host name")
}

// checkDomain accepts a plausible mail domain: a host name of at least two
// labels whose last is not a number. Internationalized domains are written
// in their xn-- form, as DNS has them.
func checkDomain(d string) error {
	if err := checkLabels(d, "domain name"); err != nil {
		return err
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return fmt.Errorf("%q is not a domain name: it has no dot", d)
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return fmt.Errorf("%q is not a domain name: it ends in a number", d)
	}
	return nil
}

func checkLabels(s, what string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty %s", what)
	case len(s) > 253:
		return fmt.Errorf("%.20q... is not a %s: longer than 253 bytes", s, what)
	case strings.HasSuffix(s, "."):
		return fmt.Errorf("%q is not a %s: drop the final dot", s, what)
	}
	for _, l := range strings.Split(s, ".") {
		switch {
		case l == "":
			return fmt.Errorf("%q is not a %s: empty label", s, what)
		case len(l) > 63:
			return fmt.Errorf("%q is not a %s: label longer than 63 bytes", s, what)
		case l[0] == '-' || l[len(l)-1] == '-':
			return fmt.Errorf("%q is not a %s: label %q starts or ends with '-'", s, what, l)
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("%q is not a %s: it contains %q", s, what, r)
			}
		}
	}
	return nil
}

// checkHostPort accepts host:port with a numeric port; example is shown
// when it is not that at all.
func checkHostPort(s, example string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port, such as %q", s, example)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, port)
	}
	if net.ParseIP(host) == nil && checkHostname(host) != nil {
		return fmt.Errorf("%q: %q is neither an IP address nor a host name", s, host)
	}
	return nil
}

// checkScorerAddress accepts host:port or a Unix socket, which spamd and
// rspamd both listen on, and for rspamd, which speaks HTTP, a URL.
func checkScorerAddress(kind, addr string) error {
	if filepath.IsAbs(addr) {
		return nil
	}
	if kind == ScorerRspamd && strings.Contains(addr, "://") {
		return checkHTTPURL(addr)
	}
	example := "127.0.0.1:783"
	if kind == ScorerRspamd {
		example = "127.0.0.1:11333"
	}
	if err := checkHostPort(addr, example); err != nil {
		return fmt.Errorf("%w, or the absolute path of a Unix socket", err)
	}
	return nil
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil, u.Scheme != "http" && u.Scheme != "https", u.Host == "", strings.ContainsAny(s, " \t"):
		return fmt.Errorf("%q is not an absolute http or https URL", s)
	}
	return nil
}

// tlsProblems checks the TLS files of a valid redis URL: only a TLS
// scheme uses them, each must be an absolute path to a file, and a client
// certificate needs its key and the other way round.
func (s Store) tlsProblems(ch *checker) {
	tlsOn := strings.HasPrefix(s.URL, "rediss:") || strings.HasPrefix(s.URL, "rediss+")
	files := []struct{ key, path string }{{"tls_ca", s.TLSCA}, {"tls_cert", s.TLSCert}, {"tls_key", s.TLSKey}}
	for _, f := range files {
		if f.path == "" {
			continue
		}
		if !tlsOn {
			ch.fail([]string{"store", f.key}, "needs a TLS URL: rediss://, rediss+sentinel:// or rediss+cluster://")
			continue
		}
		if err := checkFile(f.path); err != nil {
			ch.fail([]string{"store", f.key}, "%v", err)
		}
	}
	switch {
	case s.TLSCert != "" && s.TLSKey == "":
		ch.fail([]string{"store", "tls_cert"}, "needs store.tls_key, the certificate's private key")
	case s.TLSKey != "" && s.TLSCert == "":
		ch.fail([]string{"store", "tls_key"}, "needs store.tls_cert, the certificate it is the key of")
	}
}

// checkFile reports a path that is not absolute or not a regular file.
// It does not read the file, which only the spamrun group may.
func checkFile(path string) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("%q is not an absolute path", path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%q: %v", path, errors.Unwrap(err))
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%q is not a regular file", path)
	}
	return nil
}

// checkRedisURL accepts what redisstore.Open does. Its errors do not
// repeat the URL, which may hold a password.
func checkRedisURL(s string) error {
	s, seeds := cutSeeds(s)
	u, err := url.Parse(s)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("not a URL: %v", err)
	}
	switch u.Scheme {
	case "redis", "rediss":
		if u.Host == "" {
			return errors.New("no host in the URL")
		}
		if db := strings.TrimPrefix(u.Path, "/"); db != "" {
			if n, err := strconv.Atoi(db); err != nil || n < 0 {
				return fmt.Errorf("the path of the URL must be a database number, such as /0")
			}
		}
	case "unix":
		if !filepath.IsAbs(u.Path) {
			return errors.New("a unix:// URL needs the absolute path of the socket")
		}
	case "redis+sentinel", "rediss+sentinel":
		if err := checkSeeds(seeds, "sentinel"); err != nil {
			return err
		}
		if db := strings.TrimPrefix(u.Path, "/"); db != "" {
			if n, err := strconv.Atoi(db); err != nil || n < 0 {
				return fmt.Errorf("the path of the URL must be a database number, such as /0")
			}
		}
		if u.Query().Get("master_name") == "" {
			return errors.New("a redis+sentinel:// URL needs the master's name: ?master_name=NAME")
		}
	case "redis+cluster", "rediss+cluster":
		if err := checkSeeds(seeds, "cluster node"); err != nil {
			return err
		}
		if db := strings.TrimPrefix(u.Path, "/"); db != "" && db != "0" {
			return errors.New("a Redis Cluster has only database 0")
		}
	default:
		return errors.New("the scheme must be redis://, rediss://, unix://, redis+sentinel://, rediss+sentinel://, redis+cluster:// or rediss+cluster://")
	}
	return nil
}

// cutSeeds takes the comma-separated hosts out of a URL of a scheme with
// a "+", which url.Parse cannot read, and returns the URL with the host
// "seeds" in their place, and the hosts.
func cutSeeds(s string) (string, string) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || !strings.Contains(scheme, "+") {
		return s, ""
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	user, hosts := "", rest[:end]
	if i := strings.LastIndex(hosts, "@"); i >= 0 {
		user, hosts = hosts[:i+1], hosts[i+1:]
	}
	return scheme + "://" + user + "seeds" + rest[end:], hosts
}

// checkSeeds checks the comma-separated host:port list of a Sentinel or
// Cluster URL.
func checkSeeds(hosts, what string) error {
	if hosts == "" {
		return fmt.Errorf("no %s in the URL", what)
	}
	for _, h := range strings.Split(hosts, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" {
			return fmt.Errorf("%q is not a %s's host:port", h, what)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q is not a %s's host:port", h, what)
		}
	}
	return nil
}
