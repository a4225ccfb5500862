package enforce_test

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/enforce"
	"github.com/spamrun/spamrun/spamruntest"
)

func TestMulti(t *testing.T) {
	var order []string
	rec := func(name string, err error) spamrun.EnforcerFuncs {
		return spamrun.EnforcerFuncs{
			OnDisable: func(_ context.Context, site string, _ *spamrun.Incident) error {
				order = append(order, name+" disable "+site)
				return err
			},
			OnEnable: func(_ context.Context, site string) error {
				order = append(order, name+" enable "+site)
				return err
			},
		}
	}
	errPanel := errors.New("panel unreachable")
	errTicket := errors.New("ticket system down")
	last := &spamruntest.Enforcer{Err: errTicket}
	m := enforce.Multi(rec("panel", errPanel), nil, rec("mail", nil), last)

	inc := testIncident("shop1")
	err := m.Disable(context.Background(), "shop1", inc)
	if want := []string{"panel disable shop1", "mail disable shop1"}; !slices.Equal(order, want) {
		t.Errorf("order = %q, want %q", order, want)
	}
	if calls := last.Calls(); len(calls) != 1 || calls[0].Op != "disable" || calls[0].Incident != inc {
		t.Errorf("the enforcer after a failure got %+v", calls)
	}
	if !errors.Is(err, errPanel) || !errors.Is(err, errTicket) {
		t.Fatalf("Disable = %v, want both failures", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"enforce: enforcer 1 (spamrun.EnforcerFuncs): panel unreachable",
		"enforce: enforcer 4 (*spamruntest.Enforcer): ticket system down",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if strings.Contains(msg, "enforcer 3") {
		t.Errorf("error %q blames the enforcer that succeeded", msg)
	}

	order = nil
	err = m.Enable(context.Background(), "shop1")
	if want := []string{"panel enable shop1", "mail enable shop1"}; !slices.Equal(order, want) {
		t.Errorf("enable order = %q, want %q", order, want)
	}
	if !errors.Is(err, errPanel) || !errors.Is(err, errTicket) || len(last.Calls()) != 2 {
		t.Errorf("Enable = %v", err)
	}

	if err := enforce.Multi(rec("a", nil), rec("b", nil)).Disable(context.Background(), "shop1", inc); err != nil {
		t.Errorf("all succeeded but got %v", err)
	}
	if err := enforce.Multi().Enable(context.Background(), "shop1"); err != nil {
		t.Errorf("no enforcers: %v", err)
	}
}

func TestMultiWrapsOwnErrorsOnce(t *testing.T) {
	c, err := enforce.NewCommand("/bin/sh -c 'exit 2'", "")
	if err != nil {
		t.Fatal(err)
	}
	err = enforce.Multi(c).Disable(context.Background(), "shop1", testIncident("shop1"))
	if err == nil {
		t.Fatal("no error")
	}
	if msg := err.Error(); strings.Count(msg, "enforce:") != 1 || !strings.Contains(msg, "enforcer 1 (*enforce.Command): command /bin/sh") {
		t.Errorf("error = %q", msg)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Errorf("the joined error hides the exit status: %v", err)
	}
}
