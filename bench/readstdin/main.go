// Command readstdin reads its standard input to the end and exits 0. It is
// the floor of the sendmail round-trip benchmark: the cost of starting a Go
// program and handing it a message, with none of spamrun's work.
package main

import (
	"io"
	"os"
)

func main() {
	if _, err := io.Copy(io.Discard, os.Stdin); err != nil {
		os.Exit(74)
	}
}
