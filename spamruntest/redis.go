package spamruntest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RedisServer is a redis-server on a loopback port, started for one test
// and stopped when it ends. It keeps nothing on disk unless started with
// RedisDurable. Kill, Start, Pause and Resume make it fail as a host's
// Redis does.
type RedisServer struct {
	tb   testing.TB
	path string
	port int
	dir  string // of the append-only file; "" keeps nothing
	// scratch is the working directory of a server that keeps nothing.
	scratch string
	// conf is the configuration file of a sentinel, "" for a server;
	// args are further arguments of either.
	conf string
	args []string
	tls  *RedisTLSFiles // nil: plain TCP

	cmd  *exec.Cmd
	out  *bytes.Buffer // the server's log; read only once done is closed
	done chan struct{} // closed when cmd has exited
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
	r := &RedisServer{tb: tb, path: NeedCommand(tb, "redis-server", "redis-server"), scratch: tb.TempDir()}
	for _, opt := range opts {
		opt(r)
	}
	tb.Cleanup(r.Kill)
	// Another process may take the free port between our look and
	// redis-server's bind; a few tries make that harmless.
	var err error
	for range 5 {
		if r.port, err = freePort(); err != nil {
			continue
		}
		if err = r.launch(); err == nil {
			return r
		}
	}
	tb.Fatalf("spamruntest: starting redis-server: %v", err)
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Addr returns host:port.
func (r *RedisServer) Addr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

// URL returns the redis:// URL of database 0, rediss:// with RedisTLS.
func (r *RedisServer) URL() string {
	if r.tls != nil {
		return "rediss://" + r.Addr() + "/0"
	}
	return "redis://" + r.Addr() + "/0"
}

// Start starts the server again on its port after Kill: Redis coming back,
// empty unless it is durable. It does nothing while the server runs.
func (r *RedisServer) Start() {
	r.tb.Helper()
	if r.cmd != nil {
		return
	}
	if err := r.launch(); err != nil {
		r.tb.Fatalf("spamruntest: %v", err)
	}
}

// launch runs redis-server on r.port and waits until it answers PING.
func (r *RedisServer) launch() error {
	var args []string
	if r.conf != "" {
		args = []string{r.conf, "--sentinel"}
	}
	if r.tls != nil {
		args = append(args, "--port", "0", "--tls-port", strconv.Itoa(r.port))
	} else {
		args = append(args, "--port", strconv.Itoa(r.port))
	}
	args = append(args, "--bind", "127.0.0.1", "--daemonize", "no", "--protected-mode", "no")
	switch {
	case r.conf != "":
	case r.dir != "":
		args = append(args, "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", r.dir)
	default:
		// A master still writes a snapshot to sync a replica: into a
		// directory of the test, not the package's.
		args = append(args, "--save", "", "--appendonly", "no", "--dir", r.scratch)
	}
	cmd := exec.Command(r.path, append(args, r.args...)...)
	out := new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	r.cmd, r.out, r.done = cmd, out, done
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			r.cmd = nil
			return fmt.Errorf("redis-server on port %d exited: %s", r.port, out.Bytes())
		default:
		}
		if r.ping() {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Kill()
	return fmt.Errorf("redis-server on port %d did not answer PING", r.port)
}

// Port returns the server's port.
func (r *RedisServer) Port() int { return r.port }

// Kill stops the server at once, as a crash would.
func (r *RedisServer) Kill() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

func (r *RedisServer) ping() bool {
	c, err := net.DialTimeout("tcp", r.Addr(), 200*time.Millisecond)
	if err != nil {
		return false
	}
	if r.tls != nil {
		cfg, err := r.tls.tlsConfig()
		if err != nil {
			c.Close()
			return false
		}
		c = tls.Client(c, cfg)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}
