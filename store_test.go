package spamrun_test

import (
	"testing"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamruntest"
)

// TestMemoryStore holds MemoryStore to the contract every Store meets; the
// SQLite and Redis stores run the same suite.
func TestMemoryStore(t *testing.T) {
	spamruntest.TestStore(t, func(*testing.T) spamrun.Store { return spamrun.NewMemoryStore() })
}
