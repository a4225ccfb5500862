package spamruntest

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

func TestStartRedis(t *testing.T) {
	r := StartRedis(t)
	if !r.ping() {
		t.Fatal("no PONG after StartRedis")
	}
	r.Kill()
	if c, err := net.DialTimeout("tcp", r.Addr(), 200*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("still listening after Kill")
	}
	r.Start()
	if !r.ping() {
		t.Fatal("no PONG after Start")
	}
}

// command sends one inline command to r and returns the first line of
// the reply.
func command(t *testing.T, r *RedisServer, cmd string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", r.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return strings.TrimSpace(line)
}

func TestRedisDurable(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []RedisOption
		want string // the reply to GET after a restart
	}{
		{"durable", []RedisOption{RedisDurable()}, "$4"},
		{"in memory", nil, "$-1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := StartRedis(t, tt.opts...)
			if got := command(t, r, "SET spamrun kept"); got != "+OK" {
				t.Fatalf("SET: %q", got)
			}
			r.Kill()
			r.Start()
			if got := command(t, r, "GET spamrun"); got != tt.want {
				t.Errorf("GET after Kill and Start: %q, want %q", got, tt.want)
			}
		})
	}
}
