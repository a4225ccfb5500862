package main

import (
	"testing"

	"github.com/spamrun/spamrun/internal/version"
)

// TestSyslogLineNamesVersion checks that each line sendmail logs names the
// release the linker was given.
func TestSyslogLineNamesVersion(t *testing.T) {
	old := version.Version
	t.Cleanup(func() { version.Version = old })
	version.Version = "0.1.0~git20261205.8bb0d6f"
	got := syslogLine("site=shop1 id=abc from=<a@shop1.example> nrcpt=1 size=300 score=0.0 action=queued")
	want := "site=shop1 id=abc from=<a@shop1.example> nrcpt=1 size=300 score=0.0 action=queued version=0.1.0~git20261205.8bb0d6f"
	if got != want {
		t.Errorf("syslogLine = %q, want %q", got, want)
	}
}
