package main

import (
	"context"
	"fmt"
)

// migrator is a store whose keys an earlier release laid out otherwise.
type migrator interface {
	Migrate(ctx context.Context) (int, error)
}

// storeCmd is spamrun store migrate: the Redis store's keys of a release
// before hash tags moved to the layout of this one. It is run once, on
// the one Redis server the earlier release used, while no node runs.
func (e *env) storeCmd(args []string) error {
	f := newFlags("store", "migrate")
	operands, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(operands) != 1 || operands[0] != "migrate" {
		return f.usageErrorf("store takes one operation: migrate")
	}
	h, closeHost, err := e.openStoreHost()
	if err != nil {
		return err
	}
	defer closeHost()
	m, ok := h.Store.(migrator)
	if !ok {
		fmt.Fprintf(e.stdout, "store kind %q has nothing to migrate\n", h.Config.Store.Kind)
		return nil
	}
	n, err := m.Migrate(context.Background())
	if err != nil {
		return unavailable(err)
	}
	fmt.Fprintf(e.stdout, "%d keys and incidents moved to the current layout\n", n)
	return nil
}
