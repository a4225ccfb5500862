package config

import (
	"fmt"
	"strings"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/rspamd"
	"github.com/spamrun/spamrun/spamassassin"
)

// ExternalBand is how far on either side of the spam score a builtin score
// must fall for the external filter to be asked: closer than this, a second
// opinion can change the verdict; further, it cannot, and the filter's ten
// messages a second are better spent elsewhere.
const ExternalBand = 2.5

// NewScorer returns the scorer [scorer] asks for. With alone, an external
// filter scores every message by itself, for comparing filters side by
// side; otherwise the builtin scorer goes first and the filter is asked
// only near the threshold (spamrun.CombinedScorer).
func (c *Config) NewScorer(alone bool) (spamrun.Scorer, error) {
	builtin := spamrun.NewBuiltinScorer()
	var (
		external spamrun.Scorer
		name     string
	)
	switch c.Scorer.Kind {
	case ScorerBuiltin, "":
		return builtin, nil
	case ScorerSpamAssassin:
		external, name = &spamassassin.Scorer{Addr: c.Scorer.Address, Timeout: c.Scorer.Timeout}, "SPAMASSASSIN"
	case ScorerRspamd:
		url := c.Scorer.Address
		if !strings.Contains(url, "://") {
			url = "http://" + url
		}
		external, name = &rspamd.Scorer{URL: url, Timeout: c.Scorer.Timeout}, "RSPAMD"
	default:
		return nil, fmt.Errorf("scorer kind %q: want %q, %q or %q", c.Scorer.Kind, ScorerBuiltin, ScorerSpamAssassin, ScorerRspamd)
	}
	if alone {
		return external, nil
	}
	return &spamrun.CombinedScorer{
		First: builtin, External: external, Name: name,
		Threshold: c.DefaultPolicy.SpamScore, Band: ExternalBand, Timeout: c.Scorer.Timeout,
	}, nil
}
