// Command dial is the client the peercred tests run as a website's user:
// a process of that user's own that opens sockets to the test's listener.
//
//	dial [-n N] [-close] [-reset] tcp|tcp6-mapped|unix ADDRESS
//	dial -listen ADDRESS
//
// It opens N connections and prints the local address of each on a line
// ("unix" for a Unix socket). With -close it then closes them and prints
// "closed"; -reset closes them with SO_LINGER 0, which sends RST and frees
// the 4-tuple at once. tcp6-mapped dials an IPv4 address from an IPv6
// socket, through the IPv4-mapped address, as Java and other dual-stack
// clients do; Go's own dialer would use an IPv4 socket. Otherwise it holds them until its standard input
// ends. With -listen it listens on a TCP address, prints "listening" and
// holds the socket until its standard input ends.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"syscall"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("dial: ")
	n := flag.Int("n", 1, "connections to open")
	closeThem := flag.Bool("close", false, "close the connections after opening them")
	reset := flag.Bool("reset", false, "close the connections with RST")
	listen := flag.String("listen", "", "listen on this TCP address instead")
	flag.Parse()

	if *listen != "" {
		l, err := net.Listen("tcp", *listen)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("listening")
		io.Copy(io.Discard, os.Stdin)
		l.Close()
		return
	}
	if flag.NArg() != 2 {
		log.Fatal("usage: dial [-n N] [-close] [-reset] tcp|tcp6-mapped|unix ADDRESS")
	}
	conns := make([]net.Conn, 0, *n)
	for range *n {
		c, err := dial(flag.Arg(0), flag.Arg(1))
		if err != nil {
			log.Fatal(err)
		}
		conns = append(conns, c)
		if flag.Arg(0) == "unix" {
			fmt.Println("unix")
		} else {
			fmt.Println(c.LocalAddr())
		}
	}
	if !*closeThem && !*reset {
		io.Copy(io.Discard, os.Stdin)
	}
	for _, c := range conns {
		if tc, ok := c.(*net.TCPConn); ok && *reset {
			if err := tc.SetLinger(0); err != nil {
				log.Fatal(err)
			}
		}
		if err := c.Close(); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("closed")
}

func dial(network, address string) (net.Conn, error) {
	if network != "tcp6-mapped" {
		return net.Dial(network, address)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, err
	}
	fd, err := syscall.Socket(syscall.AF_INET6, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "tcp6-mapped")
	defer f.Close()
	if err := syscall.Connect(fd, &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: netip.AddrFrom16(ap.Addr().As16()).As16()}); err != nil {
		return nil, err
	}
	return net.FileConn(f)
}
