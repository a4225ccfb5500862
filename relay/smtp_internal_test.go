package relay

import (
	"net"
	"testing"
)

func TestPasswordSafe(t *testing.T) {
	for _, tc := range []struct {
		addr     net.Addr
		verified bool
		want     bool
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 25}, false, true},
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.2"), Port: 25}, false, true},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 25}, false, true},
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.25"), Port: 587}, false, false},
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.25"), Port: 587}, true, true},
		{&net.UnixAddr{Name: "/run/mta.sock", Net: "unix"}, false, false},
		{nil, false, false},
	} {
		if got := passwordSafe(tc.addr, tc.verified); got != tc.want {
			t.Errorf("passwordSafe(%v, verified %v) = %v, want %v", tc.addr, tc.verified, got, tc.want)
		}
	}
}
