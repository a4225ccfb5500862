package enforce_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/enforce"
)

// The templates come from the [enforce] section of the config. Whatever a
// site is called, its name stays one argument, and no shell sees it.
func ExampleCommand_Argv() {
	c, err := enforce.NewCommand(
		`/usr/local/bin/panel site suspend --reason="spam run {incident}" -- {site}`,
		`/usr/local/bin/panel site resume -- {site}`,
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	argv, _ := c.Argv(enforce.EventDisable, "shop 1; $(reboot)", "inc-42")
	for _, arg := range argv {
		fmt.Printf("%q\n", arg)
	}
	argv, _ = c.Argv(enforce.EventEnable, "shop1", "")
	fmt.Printf("%q\n", argv)

	_, err = c.Argv(enforce.EventDisable, "--all", "inc-42")
	fmt.Println(err)
	// Output:
	// "/usr/local/bin/panel"
	// "site"
	// "suspend"
	// "--reason=spam run inc-42"
	// "--"
	// "shop 1; $(reboot)"
	// ["/usr/local/bin/panel" "site" "resume" "--" "shop1"]
	// enforce: unsafe name: site name "--all" starts with '-'
}

// Templates written for a shell are refused when the config is loaded, not
// at the first spam run.
func ExampleNewCommand() {
	_, err := enforce.NewCommand("panel-disable-site {site} && panel-reload", "")
	fmt.Println(errors.Is(err, enforce.ErrBadCommand))
	fmt.Println(err)
	// Output:
	// true
	// enforce: bad command: disable command: shell syntax '&' at byte 26 of "panel-disable-site {site} && panel-reload": the command runs without a shell; quote the character or wrap the command in a script
}

// The receiving end, as a Go control panel would write it: check the
// signature over the raw body, then decode the payload.
func ExampleNewWebhook() {
	secret := []byte("shared secret from spamrun.toml")
	panel := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !enforce.VerifyWebhookSignature(secret, body, r.Header.Get("X-Spamrun-Signature")) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var p enforce.WebhookPayload
		if err := json.Unmarshal(body, &p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Printf("%s %s at %s, key %s, incident %s\n",
			p.Event, p.Site, p.Time.Format(time.RFC3339), r.Header.Get("Idempotency-Key"), p.Incident.ID)
	}))
	defer panel.Close()

	hook, err := enforce.NewWebhook(panel.URL + "/hooks/spamrun")
	if err != nil {
		fmt.Println(err)
		return
	}
	hook.Secret = secret
	hook.Now = func() time.Time { return time.Date(2026, 11, 2, 9, 0, 5, 0, time.UTC) }

	inc := &spamrun.Incident{ID: "inc-42", Site: "shop1", Count: 11}
	if err := hook.Disable(context.Background(), "shop1", inc); err != nil {
		fmt.Println(err)
	}
	// Output:
	// disable shop1 at 2026-11-02T09:00:05Z, key inc-42, incident inc-42
}

// Suspend the vhost first, then tell the ticket system; a failure of one
// does not stop the other.
func ExampleMulti() {
	panel := spamrun.EnforcerFuncs{
		OnDisable: func(context.Context, string, *spamrun.Incident) error {
			return errors.New("panel API unreachable")
		},
	}
	tickets := spamrun.EnforcerFuncs{
		OnDisable: func(_ context.Context, site string, _ *spamrun.Incident) error {
			fmt.Println("ticket opened for", site)
			return nil
		},
	}
	err := enforce.Multi(panel, tickets).Disable(context.Background(), "shop1", &spamrun.Incident{ID: "inc-42"})
	fmt.Println(err)
	// Output:
	// ticket opened for shop1
	// enforce: enforcer 1 (spamrun.EnforcerFuncs): panel API unreachable
}
