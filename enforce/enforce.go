// Package enforce acts on a site that trips, on top of the store's
// disabled flag that makes sendmail refuse it: [Command] runs a control
// panel's own command line tool, [Webhook] posts to the panel's API, and
// [Multi] calls several of them in turn. Each is a [spamrun.Enforcer], as
// the enforce table of spamrun.toml configures them.
//
// A program that suspends sites through its own Go API needs none of them:
// [spamrun.EnforcerFuncs] does that, and the root package it lives in links
// neither os/exec nor net/http.
package enforce

// The events an enforcer acts on, as a command ({event}, SPAMRUN_EVENT) and
// a webhook ("event") see them.
const (
	EventDisable = "disable"
	EventEnable  = "enable"
)
