package spamruntest_test

import (
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/spamrun/spamrun/spamruntest"
)

// TestInNetNS adds an address in the namespace and listens on it: the
// address exists inside and nowhere else.
func TestInNetNS(t *testing.T) {
	const addr = "198.51.100.25"
	if !spamruntest.InNetNS(t) {
		if out, _ := exec.Command("ip", "-o", "addr").Output(); strings.Contains(string(out), " "+addr+"/") {
			t.Errorf("the namespace's address is outside it:\n%s", out)
		}
		return
	}
	if out, err := exec.Command("ip", "-o", "addr").Output(); err != nil || strings.Contains(string(out), " "+addr+"/") {
		t.Fatalf("a new namespace holds %s (%v):\n%s", addr, err, out)
	}
	if out, err := exec.Command("ip", "addr", "add", addr+"/32", "dev", "lo").CombinedOutput(); err != nil {
		t.Fatalf("ip addr add: %v: %s", err, out)
	}
	ln, err := net.Listen("tcp", addr+":25")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Write([]byte("220 inside\r\n"))
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", addr+":25")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	if got := string(buf[:n]); got != "220 inside\r\n" {
		t.Errorf("read %q", got)
	}
}
