package spamruntest

import (
	"bytes"
	"testing"

	"github.com/jhillyerd/enmime/v2"
	"github.com/jhillyerd/enmime/v2/dsn"
)

// ParseDSN reads a DSN the way a receiving program would, with enmime, and
// fails the test unless it is a readable multipart/report.
func ParseDSN(t testing.TB, data []byte) (*enmime.Envelope, *dsn.Report) {
	t.Helper()
	env, err := enmime.ReadEnvelope(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("enmime cannot read the DSN: %v", err)
	}
	for _, e := range env.Errors {
		if e.Severe {
			t.Errorf("enmime: %v", e)
		}
	}
	rep, err := dsn.ParseReport(env.Root)
	if err != nil {
		t.Fatalf("dsn.ParseReport: %v", err)
	}
	if rep == nil {
		t.Fatalf("the DSN is not a multipart/report: %s", env.Root.ContentType)
	}
	return env, rep
}
