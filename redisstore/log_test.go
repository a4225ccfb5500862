package redisstore

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestMain keeps go-redis's complaints about the servers the tests kill
// out of the test output.
func TestMain(m *testing.M) {
	SetLogger(nil)
	os.Exit(m.Run())
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestSetLogger(t *testing.T) {
	var buf syncBuffer
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
