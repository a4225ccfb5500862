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

// TestMemoryStoreAcrossOpens: one MemoryStore serves every "open", as one
// long-running process keeps one.
func TestMemoryStoreAcrossOpens(t *testing.T) {
	shared := spamrun.NewMemoryStore()
	spamruntest.TestStoreAcrossOpens(t, func(*testing.T) spamrun.Store { return shared })
}
