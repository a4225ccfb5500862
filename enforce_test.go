package spamrun_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/spamrun/spamrun"
)

func TestEnforcerFuncs(t *testing.T) {
	ctx := context.Background()
	var zero spamrun.EnforcerFuncs
	if err := zero.Disable(ctx, "shop1", nil); err != nil {
		t.Errorf("nil OnDisable: %v", err)
	}
	if err := zero.Enable(ctx, "shop1"); err != nil {
		t.Errorf("nil OnEnable: %v", err)
	}

	var got []string
	errEnable := errors.New("panel says no")
	f := spamrun.EnforcerFuncs{
		OnDisable: func(_ context.Context, site string, inc *spamrun.Incident) error {
			got = append(got, "disable "+site+" "+inc.ID)
			return nil
		},
		OnEnable: func(_ context.Context, site string) error {
			got = append(got, "enable "+site)
			return errEnable
		},
	}
	if err := f.Disable(ctx, "shop1", &spamrun.Incident{ID: "inc-20261102-0001", Site: "shop1"}); err != nil {
		t.Errorf("Disable: %v", err)
	}
	if err := f.Enable(ctx, "shop1"); err != errEnable {
		t.Errorf("Enable = %v, want %v", err, errEnable)
	}
	want := []string{"disable shop1 inc-20261102-0001", "enable shop1"}
	if !slices.Equal(got, want) {
		t.Errorf("calls = %q, want %q", got, want)
	}
}
