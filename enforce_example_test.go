package spamrun_test

import (
	"context"
	"fmt"

	"github.com/spamrun/spamrun"
)

// A control panel written in Go suspends the vhost through its own API.
func ExampleEnforcerFuncs() {
	enforcer := spamrun.EnforcerFuncs{
		OnDisable: func(ctx context.Context, site string, inc *spamrun.Incident) error {
			fmt.Printf("suspend vhost %s (incident %s, %d spam messages)\n", site, inc.ID, inc.Count)
			return nil
		},
		// No OnEnable: staff resume sites by hand, so Enable does nothing.
	}

	ctx := context.Background()
	_ = enforcer.Disable(ctx, "shop1", &spamrun.Incident{ID: "inc-42", Site: "shop1", Count: 11})
	fmt.Println("enable:", enforcer.Enable(ctx, "shop1"))
	// Output:
	// suspend vhost shop1 (incident inc-42, 11 spam messages)
	// enable: <nil>
}
