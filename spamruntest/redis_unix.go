//go:build unix

package spamruntest

import (
	"os"
	"syscall"
)

// Pause stops the server without ending it: it still accepts connections
// but answers nothing, as a hung or swapping Redis does. Resume undoes it.
func (r *RedisServer) Pause() { r.signal(syscall.SIGSTOP) }

// Resume lets a paused server go on.
func (r *RedisServer) Resume() { r.signal(syscall.SIGCONT) }

func (r *RedisServer) signal(sig os.Signal) {
	r.tb.Helper()
	if r.cmd == nil {
		r.tb.Fatalf("spamruntest: redis-server on port %d is not running", r.port)
	}
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.tb.Fatalf("spamruntest: redis-server: %v", err)
	}
}
