package spamrun

import (
	"context"
	"errors"
)

// EnforcerFuncs makes an Enforcer of plain Go funcs, for a control panel
// that imports spamrun and can suspend a site through its own API. A nil
// func does nothing and succeeds, so a panel that only suspends, and lets
// its staff resume sites by hand, sets OnDisable alone.
type EnforcerFuncs struct {
	OnDisable func(ctx context.Context, site string, inc *Incident) error
	OnEnable  func(ctx context.Context, site string) error
}

var _ Enforcer = EnforcerFuncs{}

// Disable calls OnDisable, if set.
func (f EnforcerFuncs) Disable(ctx context.Context, site string, inc *Incident) error {
	if f.OnDisable == nil {
		return nil
	}
	return f.OnDisable(ctx, site, inc)
}

// Enable calls OnEnable, if set.
func (f EnforcerFuncs) Enable(ctx context.Context, site string) error {
	if f.OnEnable == nil {
		return nil
	}
	return f.OnEnable(ctx, site)
}

// ErrEnforcer is wrapped by the error of PolicyDetector.Enable when the
// store enabled the site and only the enforcer failed.
var ErrEnforcer = errors.New("enforcer failed")
