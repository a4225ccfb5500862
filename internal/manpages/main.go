// Command manpages writes the manual pages spamrun(8), spamrun-sendmail(8)
// and spamrun.toml(5), and spamrun's bash completion, from the one place
// each is documented already: the package comments of cmd/spamrun,
// sendmail and config, the usage text of cmd/spamrun, and the annotated
// example configuration.
//
//	go run ./internal/manpages            # from the top of the checkout
//
// It writes docs/man/*.[58] and scripts/spamrun.bash-completion. A test
// renders them again and fails when the committed files differ, so a
// change to a command's documentation that is not regenerated is caught.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	root := flag.String("root", ".", "the top of the spamrun checkout")
	flag.Parse()
	files, err := render(*root)
	if err != nil {
		fmt.Fprintf(os.Stderr, "manpages: %v\n", err)
		os.Exit(1)
	}
	for _, f := range files {
		path := filepath.Join(*root, f.path)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, f.data) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			fmt.Fprintf(os.Stderr, "manpages: %v\n", err)
			os.Exit(1)
		}
		if err := os.WriteFile(path, f.data, 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "manpages: %v\n", err)
			os.Exit(1)
		}
		fmt.Println("wrote", f.path)
	}
}

// file is one generated file, by its path from the top of the checkout.
type file struct {
	path string
	data []byte
}

// render reads the sources under root and returns every generated file.
func render(root string) ([]file, error) {
	src, err := readSources(root)
	if err != nil {
		return nil, err
	}
	return []file{
		{"docs/man/spamrun.8", operatorPage(src)},
		{"docs/man/spamrun-sendmail.8", sendmailPage(src)},
		{"docs/man/spamrun.toml.5", configPage(src)},
		{"scripts/spamrun.bash-completion", completion(src.commands)},
	}, nil
}
