package spamruntest

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRedisPause: a paused server is stopped, not ended, and answers again
// once resumed.
func TestRedisPause(t *testing.T) {
	r := StartRedis(t)
	r.Pause()
	waitState(t, r, "T")
	r.Resume()
	if !r.ping() {
		t.Fatal("no PONG after Resume")
	}
}

// waitState waits up to five seconds for the server's process to be in
// the state given, as the kernel reports it in /proc (proc(5)).
func waitState(t *testing.T, r *RedisServer, want string) {
	t.Helper()
	path := fmt.Sprintf("/proc/%d/stat", r.cmd.Process.Pid)
	var state string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		stat, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// The state follows the command name, which is in parentheses.
		if i := strings.LastIndex(string(stat), ") "); i >= 0 {
			if state, _, _ = strings.Cut(string(stat[i+2:]), " "); state == want {
				return
			}
		}
	}
	t.Fatalf("redis-server in state %q, want %q", state, want)
}
