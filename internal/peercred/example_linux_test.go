package peercred_test

import (
	"fmt"
	"log"
	"net"
	"os"

	"github.com/spamrun/spamrun/internal/peercred"
)

// A listener on loopback learns who connected before it reads a byte.
func ExampleFromConn() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	c, err := l.Accept()
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	cred, err := peercred.FromConn(c)
	if err != nil {
		log.Fatal(err) // refuse the connection
	}
	fmt.Println("the client runs as this process's user:", cred.UID == os.Getuid())
	// Output: the client runs as this process's user: true
}
