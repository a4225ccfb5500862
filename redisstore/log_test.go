package redisstore

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/spamrun/spamrun/internal/syncbuf"
	"github.com/spamrun/spamrun/spamruntest"
)

// TestMain keeps go-redis's complaints about the servers the tests kill
// out of the test output.
func TestMain(m *testing.M) {
	SetLogger(nil)
	os.Exit(m.Run())
}

func TestSetLogger(t *testing.T) {
	var buf syncbuf.Buffer
	SetLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { SetLogger(nil) })
	s, err := Open("redis://"+spamruntest.FreeAddr(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(context.Background()); err == nil {
		t.Fatal("Ping of a port nobody listens on succeeded")
	}
	if got := buf.String(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "failed to dial") {
		t.Errorf("go-redis logged %q, want its failed dial at level WARN", got)
	}
}
