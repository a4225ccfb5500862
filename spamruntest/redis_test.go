package spamruntest

import (
	"net"
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
