package redisstore

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/spamrun/spamrun/internal/syncbuf"
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
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open("redis://127.0.0.1:"+strconv.Itoa(port), nil)
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
