// Package config loads spamrun.toml, the one configuration file of the
// sendmail binary and the operator command. It reads and checks the file
// and builds nothing from it: the program is assembled in internal/host.
//
// The file is /etc/spamrun/spamrun.toml ([DefaultPath]). An unprivileged
// process may name another one in SPAMRUN_CONFIG; sendmail installed setgid
// ignores it, because the variable belongs to the website that runs
// sendmail, and a site that could choose the configuration could exempt
// itself. When the file does not exist the embedded defaults apply, as if
// the file were empty. [LoadDefault] does all of this in one call.
//
// Unknown keys and bad values are errors that name the file, line and key,
// as a compiler would:
//
//	/etc/spamrun/spamrun.toml:12: policy.max_spam: -1 is negative
//
// A value that is wrong although the key is absent (a default that the rest
// of the file makes invalid) is reported as "key (default)".
//
// # Keys and defaults
//
// Durations are strings in the form of Go's time.ParseDuration: "90s",
// "15m", "1h30m". There is no unit for days: five days are "120h".
//
//	state_dir        /var/lib/spamrun; see below
//	spool_dir        /var/spool/spamrun; see below
//	article_url      "" (no link); an absolute http or https URL, linked from
//	                 every bounce and refusal
//	hostname         the system's host name; Reporting-MTA, Message-IDs
//	max_message_size 26214400 (25 MiB), in bytes
//	queue_lifetime   "120h"; after this a queued message is returned as failed
//	syslog           true; log to the mail facility
//	egress           "redirect" | "reject" | "off"; the egress lock that
//	                 spamrun egress apply loads: the SMTP connections of
//	                 site users (to ports 25 and 587 anywhere) are
//	                 redirected to the [smtpd] listener, or reset; 465 is
//	                 reset in both; "off" loads no lock
//
//	[relay]          where accepted mail goes: exactly one of smtp and command
//	smtp             "127.0.0.1:25" when command is not set; host:port
//	command          "" ; another MTA's sendmail, e.g. "/usr/sbin/sendmail.postfix -i",
//	                 quoted as for a shell but never run by one, as the
//	                 [enforce] commands are
//	starttls         "opportunistic" | "required" | "off"
//	username         "" ; AUTH, together with password
//	password         ""
//	timeout          "30s"
//	helo             the hostname
//	max_recipients   100; recipients in one SMTP transaction or one run of
//	                 command; more go in further ones (RFC 5321 has every
//	                 MTA take 100 in one transaction)
//
//	[queue]          the queue runner (spamrun queue run, sendmail -q)
//	interval         "30s"; how often the runner looks at the queue when
//	                 sendmail does not wake it sooner
//	max_rate         0 (no limit); at most this many messages of one site are
//	                 relayed per rate_interval by the runner, the rest wait;
//	                 sendmail then leaves all relaying to the runner
//	rate_interval    "1m"
//	max_bounces      10; DSNs one sender gets for one incident; the site's
//	                 other messages to it stay in quarantine
//	quarantine_for   "720h"; how long bounced and kept messages are kept
//
//	[smtpd]          the SMTP listener of spamrun serve, for sites that send
//	                 by SMTP; the site is the UID owning the client's socket
//	listen           ["127.0.0.1:10025", "[::1]:10025"]; loopback host:port
//	                 addresses, [] for none; the egress lock redirects to
//	                 their port
//	socket           "" (none); the absolute path of a Unix socket as well
//	sendmail_socket  "" (none); the absolute path of the Unix socket on which
//	                 spamrun serve takes messages from the sendmail front
//	                 program, which looks for it at /run/spamrun/sendmail.sock
//	trusted_users    ["root"]; users whose mail the listener relays
//	                 uncounted (the MTA's own users, say), or refuses
//	trusted          "relay" | "refuse"; what trusted users get
//	max_connections  10; open connections of one UID at a time
//	max_recipients   1000; RCPT commands in one message
//	command_timeout  "5m"; waiting for a command, or for a line of DATA
//
//	[metrics]        Prometheus metrics, served by spamrun serve
//	listen           "" (none); host:port of /metrics, e.g. "127.0.0.1:9467";
//	                 while set, every process appends what happens to mail
//	                 to the spool's event journal, which the daemon reads
//	max_sites        50; sites with a label of their own in
//	                 spamrun_spam_marked_total, the first to send spam
//
//	[policy]         what every site is held to, unless [sites.NAME] says otherwise
//	spam_score       5.0; score at or above which a message is spam-marked
//	max_spam         10; trip when more than this many spam-marked messages...
//	window           "1h"; ...were submitted within this window
//	hold_for         "15m"; spam-marked messages wait this long; "0s" = no hold
//	count            "recipients" | "messages"; a spam-marked message counts
//	                 once per envelope recipient (default), or once
//
//	[scorer]
//	kind             "builtin" | "spamassassin" | "rspamd"
//	address          "" ; required for spamassassin and rspamd: host:port or
//	                 the absolute path of a Unix socket; rspamd also takes an
//	                 http or https URL
//	timeout          "10s"
//
//	[store]
//	kind             "sqlite" | "redis" | "memory"
//	url              "" ; required for redis: one server (redis://, rediss://
//	                 or unix://), a master found by Redis Sentinel
//	                 ("redis+sentinel://host:26379,host:26379/0?master_name=NAME",
//	                 the master's password as password=), or a Redis Cluster
//	                 by some of its nodes ("redis+cluster://host:6379,host:6379");
//	                 rediss+sentinel:// and rediss+cluster:// use TLS
//	tls_ca           "" ; with TLS: the PEM file of the CA of the servers'
//	                 certificates, "" for the system's
//	tls_cert         "" ; with TLS: the PEM file of the client certificate;
//	                 needs tls_key
//	tls_key          "" ; with TLS: the PEM file of its private key, readable
//	                 by the spamrun group
//
//	[enforce]        optional, on top of sendmail refusing a disabled site
//	command          "" ; run when a site trips: "/usr/local/bin/panel-disable-site {site}"
//	enable_command   "" ; run when the operator re-enables it; needs command
//	webhook          "" ; an http or https URL that gets a JSON POST
//	webhook_secret   "" ; signs each POST (X-Spamrun-Signature); needs webhook
//	command_timeout  "30s"
//	webhook_timeout  "10s"; for each attempt
//	webhook_retries  3; further attempts after a failed one, 0 to 10
//
//	[notify]         who is told when a site trips and when it is re-enabled
//	operator         []; the operators' addresses, who get every incident's
//	                 notice with the report attached
//	from             "spamrun <postmaster@HOSTNAME>"; the From of notices,
//	                 which go from the null sender
//	language         "en"; "en" or "nl", or a language the templates
//	                 directory adds: the operators' notices and the sites'
//	                 without a language of their own
//	templates        "" (the embedded ones); an absolute directory of
//	                 templates named like the embedded ones
//	                 (tripped-site.en.tmpl, tripped-operator.nl.tmpl,
//	                 enabled.en.tmpl, ...), each replacing its namesake
//
//	[sites.NAME]     one table per site that needs more than its defaults
//	user             NAME; the login name whose real UID submits the site's mail
//	uid              instead of user: the numeric UID
//	domains          []; mail domains the site owns, so may be bounced to
//	smtp_allow       []; "host:port" destinations the site may reach by
//	                 SMTP past the egress lock: an outside provider it
//	                 uses with credentials of its own, such as
//	                 "smtp.sendgrid.net:587"; host names are resolved when
//	                 the lock is applied
//	spam_score, max_spam, window, hold_for, count
//	                 override [policy] for this site only
//	exempt           false; score and log, but never hold or disable
//	contact          []; the addresses of the site's owners, who get a
//	                 notice when it trips and when it is re-enabled
//	language         [notify] language; the language of the owners' notices
//
// The state and spool directories default to /var/lib/spamrun and
// /var/spool/spamrun for root, for a setuid or setgid process, and for
// whoever reads the system file. Anyone else, a developer or a test with
// its own SPAMRUN_CONFIG or no file at all, gets $XDG_STATE_HOME/spamrun
// (or ~/.local/state/spamrun) and its subdirectory spool.
//
// The file holds the relay password and the webhook secret, and setgid
// sendmail must read it: make it root:spamrun, mode 0640. A privileged
// process refuses a file that everyone may write.
//
// The store kind "memory" keeps the state inside one process. sendmail is a
// new process for every message, so with it a site never trips: it is for
// tests and demonstrations, never for a host.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spamrun/spamrun"
)

// DefaultPath is where the configuration lives, and the only file a
// setgid or setuid process reads. It is a variable so that a package, or a
// test installation into a prefix, can move it when linking, which is the
// one way to move it that a website cannot influence:
//
//	go build -ldflags "-X github.com/spamrun/spamrun/config.DefaultPath=/opt/spamrun/etc/spamrun.toml" ./sendmail
var DefaultPath = "/etc/spamrun/spamrun.toml"

// The values of Relay.StartTLS.
const (
	StartTLSOff           = "off"
	StartTLSOpportunistic = "opportunistic" // use it when the relay offers it
	StartTLSRequired      = "required"      // do not deliver without it
)

// The values of Config.Egress.
const (
	EgressRedirect = "redirect" // site users' SMTP goes to the [smtpd] listener
	EgressReject   = "reject"   // site users' SMTP is reset
	EgressOff      = "off"      // no lock
)

// The values of Scorer.Kind.
const (
	ScorerBuiltin      = "builtin"
	ScorerSpamAssassin = "spamassassin"
	ScorerRspamd       = "rspamd"
)

// The values of Store.Kind.
const (
	StoreSQLite = "sqlite"
	StoreRedis  = "redis"
	StoreMemory = "memory"
)

// Config is the whole configuration file with every default filled in.
//
// A Config may also be built in Go, by a control panel say; Validate then
// checks it as Load would.
type Config struct {
	StateDir   string
	SpoolDir   string
	ArticleURL string
	Hostname   string
	// MaxMessageSize is in bytes; a bigger message is refused as bad input.
	MaxMessageSize int64
	QueueLifetime  time.Duration
	Syslog         bool
	// Egress is the mode of the egress lock: EgressRedirect, EgressReject
	// or EgressOff.
	Egress string

	Relay   Relay
	Queue   Queue
	SMTPD   SMTPD
	Metrics Metrics
	// DefaultPolicy is the [policy] table. It cannot be exempt from the
	// file: exempting every site is not a policy but turning spamrun off.
	DefaultPolicy spamrun.Policy
	Scorer        Scorer
	Store         Store
	Enforce       Enforce
	Notify        Notify
	// SiteConfigs are the [sites.NAME] tables by NAME.
	SiteConfigs map[string]SiteConfig

	// src remembers the file, for the line numbers of later errors.
	src *source
}

// Relay is the [relay] table: where accepted mail is delivered.
type Relay struct {
	// SMTP is the host:port of a relay; Command is the command line of
	// another MTA's sendmail. Exactly one is set.
	SMTP     string
	Command  string
	StartTLS string // StartTLSOff, StartTLSOpportunistic or StartTLSRequired
	Username string
	Password string
	Timeout  time.Duration
	Helo     string
	// MaxRecipients is relay.SMTP's and relay.Command's MaxRecipients.
	MaxRecipients int
}

// Queue is the [queue] table: how the queue runner works.
type Queue struct {
	Interval time.Duration
	// MaxRate messages of a site per RateInterval are relayed by the
	// runner; 0 means no limit.
	MaxRate       int
	RateInterval  time.Duration
	MaxBounces    int
	QuarantineFor time.Duration
}

// SMTPD is the [smtpd] table: the SMTP listener of spamrun serve.
type SMTPD struct {
	// Listen are loopback TCP addresses, host:port.
	Listen []string
	// Socket is the absolute path of a Unix socket, or "".
	Socket string
	// SendmailSocket is the absolute path of the socket on which the
	// daemon takes messages from the sendmail front (package handoff), or
	// "".
	SendmailSocket string
	// TrustedUsers are login names whose mail is relayed uncounted or
	// refused, as Trusted says; a name with no passwd entry is ignored.
	TrustedUsers []string
	// Trusted is TrustedRelay or TrustedRefuse.
	Trusted        string
	MaxConnections int
	MaxRecipients  int
	CommandTimeout time.Duration
}

// Metrics is the [metrics] table: the Prometheus metrics of spamrun serve.
type Metrics struct {
	// Listen is the host:port /metrics is served on; "" serves none and
	// journals no events.
	Listen string
	// MaxSites bounds the site labels of the spam-marked counter.
	MaxSites int
}

// The values of SMTPD.Trusted.
const (
	TrustedRelay  = "relay"
	TrustedRefuse = "refuse"
)

// Scorer is the [scorer] table.
type Scorer struct {
	Kind    string // ScorerBuiltin, ScorerSpamAssassin or ScorerRspamd
	Address string
	Timeout time.Duration
}

// Store is the [store] table.
type Store struct {
	Kind string // StoreSQLite, StoreRedis or StoreMemory
	URL  string
	// The TLS files of a rediss URL: the servers' CA, the client
	// certificate and its key, absolute paths or "".
	TLSCA, TLSCert, TLSKey string
}

// Enforce is the [enforce] table: what acts on a site when it trips, on
// top of the store's disabled flag. See enforce.Command and enforce.Webhook
// for what the command and the webhook receive.
type Enforce struct {
	Command        string
	EnableCommand  string
	Webhook        string
	WebhookSecret  string
	CommandTimeout time.Duration
	WebhookTimeout time.Duration
	// WebhookRetries is the number of attempts after a failed one; 0
	// means none.
	WebhookRetries int
}

// Notify is the [notify] table: the notices of trips and re-enablings.
type Notify struct {
	// Operator are the operators' addresses.
	Operator []string
	// From is the From field of notices; "" means spamrun and the
	// postmaster at the host name.
	From string
	// Language is the operators' language and the sites' default.
	Language string
	// Templates is a directory of templates that replace the embedded
	// ones; "" for none.
	Templates string
}

// SiteConfig is one [sites.NAME] table. The policy fields are nil when the
// site keeps the default, so that a site can override with zero (max_spam
// = 0 trips on the first spam-marked message).
type SiteConfig struct {
	// User is the login name; "" means the site's name, unless UID is set.
	User string
	UID  *int
	// Domains are the mail domains the site owns.
	Domains []string
	// SMTPAllow are the "host:port" destinations the site may reach past
	// the egress lock.
	SMTPAllow []string
	SpamScore *float64
	MaxSpam   *int
	Window    *time.Duration
	HoldFor   *time.Duration
	Count     *spamrun.Count
	Exempt    bool
	// Contact are the addresses of the site's owners, who are notified
	// when it trips and when it is re-enabled.
	Contact []string
	// Language is the language of the owners' notices; "" means
	// Notify.Language.
	Language string
}

// login is the user name whose UID is the site's, when UID is not given.
func (s SiteConfig) login(name string) string {
	if s.User != "" {
		return s.User
	}
	return name
}

// Default returns the configuration of no file at all, for the current
// user and process (see the package documentation for the directories).
func Default() *Config {
	return defaultFor(os.Getuid(), trustedEnv(os.Getenv, Privileged()))
}

// trustedEnv returns getenv, or nil for a privileged process, whose
// environment is the website's.
func trustedEnv(getenv func(string) string, privileged bool) func(string) string {
	if privileged {
		return nil
	}
	return getenv
}

// hostname is a seam for tests.
var hostname = os.Hostname

// defaultFor is Default for a real UID and an environment; getenv nil means
// the environment is not to be trusted, which gives the system directories.
func defaultFor(uid int, getenv func(string) string) *Config {
	c := &Config{
		StateDir:       "/var/lib/spamrun",
		SpoolDir:       "/var/spool/spamrun",
		Hostname:       "localhost",
		MaxMessageSize: 25 << 20,
		QueueLifetime:  120 * time.Hour,
		Syslog:         true,
		Egress:         EgressRedirect,
		Relay: Relay{
			SMTP:     "127.0.0.1:25",
			StartTLS: StartTLSOpportunistic,
			Timeout:  30 * time.Second,
			// relay.DefaultMaxRecipients, which config does not import
			// to stay free of the SMTP client.
			MaxRecipients: 100,
		},
		Queue: Queue{
			Interval:      30 * time.Second,
			RateInterval:  time.Minute,
			MaxBounces:    10,
			QuarantineFor: 30 * 24 * time.Hour,
		},
		SMTPD: SMTPD{
			Listen:         []string{"127.0.0.1:10025", "[::1]:10025"},
			TrustedUsers:   []string{"root"},
			Trusted:        TrustedRelay,
			MaxConnections: 10,
			MaxRecipients:  1000,
			CommandTimeout: 5 * time.Minute,
		},
		Metrics:       Metrics{MaxSites: 50},
		DefaultPolicy: spamrun.DefaultPolicy(),
		Scorer:        Scorer{Kind: ScorerBuiltin, Timeout: 10 * time.Second},
		Store:         Store{Kind: StoreSQLite},
		Enforce: Enforce{
			CommandTimeout: 30 * time.Second,
			WebhookTimeout: 10 * time.Second,
			WebhookRetries: 3,
		},
		Notify: Notify{Language: "en"},
	}
	// A host name that would fail validation must not stop every message;
	// the operator can still set one.
	if h, err := hostname(); err == nil && checkHostname(h) == nil {
		c.Hostname = h
	}
	c.Relay.Helo = c.Hostname
	if uid != 0 && getenv != nil {
		if dir := userStateDir(uid, getenv); dir != "" {
			c.StateDir = dir
			c.SpoolDir = filepath.Join(dir, "spool")
		}
	}
	return c
}

// userStateDir follows the XDG base directory specification, which says
// to ignore a relative XDG_STATE_HOME; "" when there is no home either.
func userStateDir(uid int, getenv func(string) string) string {
	if x := getenv("XDG_STATE_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "spamrun")
	}
	home := getenv("HOME")
	if !filepath.IsAbs(home) {
		if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
			home = u.HomeDir
		}
	}
	if !filepath.IsAbs(home) {
		return ""
	}
	return filepath.Join(home, ".local", "state", "spamrun")
}

// Locate returns the configuration file to use and whether it must exist.
// SPAMRUN_CONFIG names it only when privileged is false; otherwise it is
// DefaultPath, which may be missing.
func Locate(getenv func(string) string, privileged bool) (path string, mustExist bool) {
	if !privileged {
		if p := getenv("SPAMRUN_CONFIG"); p != "" {
			return p, true
		}
	}
	return DefaultPath, false
}

// Privileged reports whether the process runs setuid or setgid: its
// effective user or group differs from the real one.
func Privileged() bool {
	return os.Geteuid() != os.Getuid() || os.Getegid() != os.Getgid()
}

// LoadDefault loads the configuration the way sendmail and the operator
// command do: Locate, then Load, or the defaults when the system file does
// not exist. getenv is os.Getenv outside tests; privileged is Privileged().
func LoadDefault(getenv func(string) string, privileged bool) (*Config, error) {
	path, mustExist := Locate(getenv, privileged)
	return load(path, mustExist, os.Getuid(), trustedEnv(getenv, privileged), privileged)
}

// Load reads the file at path. It must exist.
func Load(path string) (*Config, error) {
	privileged := Privileged()
	return load(path, true, os.Getuid(), trustedEnv(os.Getenv, privileged), privileged)
}

// maxFileSize bounds what is read: a configuration is a few kilobytes, a
// few hundred for a host with thousands of sites.
const maxFileSize = 8 << 20

func load(path string, mustExist bool, uid int, getenv func(string) string, privileged bool) (*Config, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && !mustExist {
		return defaultFor(uid, getenv), nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if privileged && fi.Mode().Perm()&0o002 != 0 {
		return nil, &Error{File: path, Msg: fmt.Sprintf("mode %v lets everyone write it, and so choose their own policy; chmod o-w", fi.Mode().Perm())}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, tooBig(path)
	}
	return parse(path, data, baseFor(path, uid, getenv))
}

func tooBig(name string) error {
	return &Error{File: name, Msg: fmt.Sprintf("larger than the limit of %d bytes", maxFileSize)}
}

// baseFor returns the defaults a file starts from. The system file means a
// system installation, whose sendmail keeps its state in the system
// directories, so an operator reading it without privileges must find the
// same ones.
func baseFor(path string, uid int, getenv func(string) string) *Config {
	if path == DefaultPath {
		getenv = nil
	}
	return defaultFor(uid, getenv)
}

// Parse is Load on data, with name used in error messages.
func Parse(name string, data []byte) (*Config, error) {
	if len(data) > maxFileSize {
		return nil, tooBig(name)
	}
	privileged := Privileged()
	// The Config keeps the file for the lines of later errors; the
	// caller's buffer may be reused.
	return parse(name, bytes.Clone(data), baseFor(name, os.Getuid(), trustedEnv(os.Getenv, privileged)))
}

// Policy returns the policy site is held to: the default policy with the
// site's overrides.
func (c *Config) Policy(site string) spamrun.Policy {
	p := c.DefaultPolicy
	s, ok := c.SiteConfigs[site]
	if !ok {
		return p
	}
	if s.SpamScore != nil {
		p.SpamScore = *s.SpamScore
	}
	if s.MaxSpam != nil {
		p.MaxSpam = *s.MaxSpam
	}
	if s.Window != nil {
		p.Window = *s.Window
	}
	if s.HoldFor != nil {
		p.HoldFor = *s.HoldFor
	}
	if s.Count != nil {
		p.Count = *s.Count
	}
	p.Exempt = p.Exempt || s.Exempt
	return p
}

// Policies returns what spamrun.DetectorOptions wants as Policy and Sites:
// the default policy, and the complete policy of every configured site.
func (c *Config) Policies() (def spamrun.Policy, sites map[string]spamrun.Policy) {
	sites = make(map[string]spamrun.Policy, len(c.SiteConfigs))
	for name := range c.SiteConfigs {
		sites[name] = c.Policy(name)
	}
	return c.DefaultPolicy, sites
}

// Sites returns every configured site, sorted by name, with its UID looked
// up from its user. A user that does not exist, or two sites with one UID,
// is an error naming the site.
//
// sendmail needs only its own site, and one stale [sites.NAME] must not
// stop the mail of every other site: it calls SiteForUID instead.
func (c *Config) Sites() ([]spamrun.Site, error) {
	var (
		sites []spamrun.Site
		probs []problem
		byUID = make(map[int]string)
	)
	for _, name := range slices.Sorted(maps.Keys(c.SiteConfigs)) {
		s := c.SiteConfigs[name]
		site := spamrun.Site{Name: name, Domains: slices.Clone(s.Domains)}
		key := []string{"sites", name, "uid"}
		if s.UID != nil {
			site.UID = *s.UID
			if u, err := user.LookupId(strconv.Itoa(site.UID)); err == nil {
				site.DefaultSender = u.Username + "@" + c.Hostname
			}
		} else {
			login := s.login(name)
			key = []string{"sites", name, "user"}
			why := ""
			if s.User == "" {
				key, why = key[:2], " (user defaults to the site's name)"
			}
			u, err := user.Lookup(login)
			if err != nil {
				probs = append(probs, problem{key, fmt.Sprintf("no user %q%s: %v", login, why, err)})
				continue
			}
			uid, err := strconv.Atoi(u.Uid)
			if err != nil {
				probs = append(probs, problem{key, fmt.Sprintf("user %q has the UID %q, which is not a number", login, u.Uid)})
				continue
			}
			site.UID = uid
			site.DefaultSender = login + "@" + c.Hostname
		}
		if other, dup := byUID[site.UID]; dup {
			probs = append(probs, problem{key, fmt.Sprintf("UID %d is site %q's too", site.UID, other)})
			continue
		}
		byUID[site.UID] = name
		sites = append(sites, site)
	}
	if err := c.errorOf(probs); err != nil {
		return nil, err
	}
	return sites, nil
}

// SiteForUID returns the site of a real UID as spamrun.SiteForUID does,
// but looks up only that UID, so a configured user that no longer exists
// troubles no one but its own site.
func (c *Config) SiteForUID(uid int) (spamrun.Site, error) {
	var login string
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		login = u.Username
	}
	var names []string
	for name, s := range c.SiteConfigs {
		if s.UID != nil && *s.UID == uid || s.UID == nil && login != "" && s.login(name) == login {
			names = append(names, name)
		}
	}
	// The login is known now: spamrun.SiteForUID need not look it up again
	// for the default sender, on every sendmail run.
	sender := ""
	if login != "" {
		sender = login + "@" + c.Hostname
	}
	switch len(names) {
	case 0:
		if login != "" {
			return spamrun.Site{Name: login, UID: uid, DefaultSender: sender}, nil
		}
		return spamrun.SiteForUID(uid, nil, c.Hostname)
	case 1:
		s := spamrun.Site{Name: names[0], UID: uid, Domains: slices.Clone(c.SiteConfigs[names[0]].Domains), DefaultSender: sender}
		return spamrun.SiteForUID(uid, []spamrun.Site{s}, c.Hostname)
	}
	slices.Sort(names)
	return spamrun.Site{}, c.errorOf([]problem{{
		[]string{"sites", names[1]},
		fmt.Sprintf("UID %d is the UID of sites %s", uid, strings.Join(names, ", ")),
	}})
}

// RedirectPorts returns the ports of the [smtpd] listen addresses
// 127.0.0.1 and [::1], 0 for one that is not listened on: where a
// redirect of the egress lock lands, since the kernel redirects a
// connection to the loopback address of its family.
func (c *Config) RedirectPorts() (port4, port6 uint16) {
	for _, a := range c.SMTPD.Listen {
		ap, err := netip.ParseAddrPort(a)
		if err != nil {
			continue
		}
		switch addr := ap.Addr().Unmap(); {
		case addr == netip.AddrFrom4([4]byte{127, 0, 0, 1}) && port4 == 0:
			port4 = ap.Port()
		case addr == netip.IPv6Loopback() && port6 == 0:
			port6 = ap.Port()
		}
	}
	return port4, port6
}
