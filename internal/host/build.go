package host

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/config"
	"github.com/spamrun/spamrun/enforce"
	"github.com/spamrun/spamrun/notify"
	"github.com/spamrun/spamrun/redisstore"
	"github.com/spamrun/spamrun/relay"
	"github.com/spamrun/spamrun/rspamd"
	"github.com/spamrun/spamrun/spamassassin"
	"github.com/spamrun/spamrun/sqlitestore"
)

// ExternalBand is how far on either side of the spam score a builtin score
// must fall for the external filter to be asked: closer than this, a second
// opinion can change the verdict; further, it cannot, and the filter's ten
// messages a second are better spent elsewhere.
const ExternalBand = 2.5

// NewScorer returns the scorer the detector decides with: the builtin
// scorer, and when [scorer] names an external filter, that filter asked
// only near the threshold (spamrun.CombinedScorer).
func NewScorer(cfg *config.Config) (spamrun.Scorer, error) {
	s, err := NewScorerAlone(cfg)
	if err != nil {
		return nil, err
	}
	if _, builtin := s.(*spamrun.BuiltinScorer); builtin {
		return s, nil
	}
	return &spamrun.CombinedScorer{
		First: spamrun.NewBuiltinScorer(), External: s,
		// The filter's rules under its kind in capitals, as SpamAssassin
		// and rspamd write their own rules.
		Name:      strings.ToUpper(cfg.Scorer.Kind),
		Threshold: cfg.DefaultPolicy.SpamScore, Band: ExternalBand, Timeout: cfg.Scorer.Timeout,
	}, nil
}

// NewScorerAlone returns the scorer [scorer] names by itself: an external
// filter then scores every message, so that the operator can compare
// filters side by side.
func NewScorerAlone(cfg *config.Config) (spamrun.Scorer, error) {
	switch c := cfg.Scorer; c.Kind {
	case config.ScorerBuiltin, "":
		return spamrun.NewBuiltinScorer(), nil
	case config.ScorerSpamAssassin:
		return &spamassassin.Scorer{Addr: c.Address, Timeout: c.Timeout}, nil
	case config.ScorerRspamd:
		url := c.Address
		if !strings.Contains(url, "://") {
			url = "http://" + url
		}
		return &rspamd.Scorer{URL: url, Timeout: c.Timeout}, nil
	default:
		return nil, fmt.Errorf("scorer kind %q: want %q, %q or %q", c.Kind, config.ScorerBuiltin, config.ScorerSpamAssassin, config.ScorerRspamd)
	}
}

// NewEnforcer returns what [enforce] asks for: an enforce.Command, an
// enforce.Webhook, both through enforce.Multi (the command first), or nil
// when neither is set.
func NewEnforcer(cfg *config.Config) (spamrun.Enforcer, error) {
	e := cfg.Enforce
	var enforcers []spamrun.Enforcer
	if e.Command != "" || e.EnableCommand != "" {
		ce, err := enforce.NewCommand(e.Command, e.EnableCommand)
		if err != nil {
			return nil, err
		}
		ce.Timeout = e.CommandTimeout
		enforcers = append(enforcers, ce)
	}
	if e.Webhook != "" {
		we, err := enforce.NewWebhook(e.Webhook)
		if err != nil {
			return nil, err
		}
		if e.WebhookSecret != "" {
			we.Secret = []byte(e.WebhookSecret)
		}
		we.Timeout = e.WebhookTimeout
		we.Retries = e.WebhookRetries
		if we.Retries == 0 {
			we.Retries = -1 // the enforcer's 0 is its default, ours is none
		}
		enforcers = append(enforcers, we)
	}
	switch len(enforcers) {
	case 0:
		return nil, nil
	case 1:
		return enforcers[0], nil
	}
	return enforce.Multi(enforcers...), nil
}

// NewNotifier returns the notifier [notify] and the sites' contact and
// language describe, with the templates of [notify] templates in place of
// the embedded ones.
func NewNotifier(cfg *config.Config) (*notify.Notifier, error) {
	n := &notify.Notifier{
		Operator:        cfg.Notify.Operator,
		From:            cfg.Notify.From,
		DefaultLanguage: cfg.Notify.Language,
		Hostname:        cfg.Hostname,
		ArticleURL:      cfg.ArticleURL,
		Language:        func(site string) string { return cfg.SiteConfigs[site].Language },
	}
	for _, sc := range cfg.SiteConfigs {
		if len(sc.Contact) > 0 {
			n.Contacts = func(_ context.Context, site string) ([]string, error) {
				return cfg.SiteConfigs[site].Contact, nil
			}
			break
		}
	}
	if dir := cfg.Notify.Templates; dir != "" {
		t, err := notify.LoadTemplates(dir)
		if err != nil {
			return nil, fmt.Errorf("notify.templates: %w", err)
		}
		n.Templates = t
	}
	return n, nil
}

// openStore opens the state store [store] names, and returns with it what
// closes it: nil for the memory store, which holds nothing open.
func openStore(cfg *config.Config) (spamrun.Store, io.Closer, error) {
	switch cfg.Store.Kind {
	case config.StoreMemory:
		return spamrun.NewMemoryStore(), nil, nil
	case config.StoreSQLite:
		if err := os.MkdirAll(cfg.StateDir, 0o770); err != nil {
			return nil, nil, err
		}
		s, err := sqlitestore.Open(filepath.Join(cfg.StateDir, "state.db"), nil)
		if err != nil {
			return nil, nil, err
		}
		return s, s, nil
	case config.StoreRedis:
		// go-redis would tell stderr about a Redis that is down, and
		// sendmail's stderr is the website's, or the -bs client's.
		redisstore.SetLogger(nil)
		opts, err := redisOptions(cfg.Store)
		if err != nil {
			return nil, nil, err
		}
		s, err := redisstore.Open(cfg.Store.URL, opts)
		if err != nil {
			return nil, nil, err
		}
		return s, s, nil
	}
	return nil, nil, fmt.Errorf("store kind %q is not supported", cfg.Store.Kind)
}

// redisOptions returns the Options of a redis store: its TLS files, when
// [store] names any, loaded.
func redisOptions(st config.Store) (*redisstore.Options, error) {
	if st.TLSCA == "" && st.TLSCert == "" && st.TLSKey == "" {
		return nil, nil
	}
	tc, err := redisstore.LoadTLS(st.TLSCA, st.TLSCert, st.TLSKey, "")
	if err != nil {
		return nil, err
	}
	return &redisstore.Options{TLS: tc}, nil
}

// NewRelay returns the relay cfg describes.
func NewRelay(cfg *config.Config) (relay.Relay, error) {
	if cfg.Relay.Command != "" {
		c, err := relay.ParseCommand(cfg.Relay.Command)
		if err != nil {
			return nil, err
		}
		c.MaxRecipients = cfg.Relay.MaxRecipients
		return c, nil
	}
	starttls, err := relay.ParseStartTLSMode(cfg.Relay.StartTLS)
	if err != nil {
		return nil, err
	}
	return &relay.SMTP{
		Addr:          cfg.Relay.SMTP,
		Helo:          cfg.Relay.Helo,
		StartTLS:      starttls,
		Username:      cfg.Relay.Username,
		Password:      cfg.Relay.Password,
		Timeout:       cfg.Relay.Timeout,
		MaxRecipients: cfg.Relay.MaxRecipients,
	}, nil
}
