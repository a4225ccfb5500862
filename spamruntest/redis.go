package spamruntest

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// RedisServer is a redis-server on a loopback port, started for one test
// and stopped when it ends. It keeps nothing on disk unless started with
// RedisDurable.
type RedisServer struct {
	tb   testing.TB
	path string
	port int
	cmd  *exec.Cmd
	dir  string // of the append-only file; "" keeps nothing
}

// RedisOption changes how StartRedis runs the server.
type RedisOption func(*RedisServer)

// RedisDurable makes the server write every change to an append-only file
// before it answers (appendfsync always), as a host's Redis for spamrun is
// set up, so that after Kill, Start brings the data back.
func RedisDurable() RedisOption {
	return func(r *RedisServer) { r.dir = r.tb.TempDir() }
}

// StartRedis starts a redis-server on a free loopback port and waits until
// it answers PING. A machine without redis-server fails the test in CI and
// skips it elsewhere.
func StartRedis(tb testing.TB, opts ...RedisOption) *RedisServer {
	tb.Helper()
	r := &RedisServer{tb: tb, path: NeedCommand(tb, "redis-server", "redis-server")}
	for _, opt := range opts {
		opt(r)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	r.Start()
	tb.Cleanup(r.Kill)
	return r
}

// Addr returns host:port.
func (r *RedisServer) Addr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

// URL returns the redis:// URL of database 0.
func (r *RedisServer) URL() string { return "redis://" + r.Addr() + "/0" }

// Start starts the server again on its port after Kill: Redis coming back,
// empty unless it is durable.
func (r *RedisServer) Start() {
	r.tb.Helper()
	if r.cmd != nil {
		return
	}
	persist := []string{"--appendonly", "no"}
	if r.dir != "" {
		persist = []string{"--appendonly", "yes", "--appendfsync", "always", "--dir", r.dir}
	}
	r.cmd = exec.Command(r.path, append([]string{"--port", fmt.Sprint(r.port), "--bind", "127.0.0.1",
		"--save", "", "--daemonize", "no", "--protected-mode", "no"}, persist...)...)
	if err := r.cmd.Start(); err != nil {
		r.tb.Fatalf("starting redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if r.ping() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Kill()
	r.tb.Fatalf("redis-server on port %d did not answer PING", r.port)
}

// Kill stops the server at once, as a crash would.
func (r *RedisServer) Kill() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Kill()
	r.cmd.Wait()
	r.cmd = nil
}

func (r *RedisServer) ping() bool {
	c, err := net.DialTimeout("tcp", r.Addr(), 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}
