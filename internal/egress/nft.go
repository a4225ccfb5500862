package egress

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spamrun/spamrun/internal/safeexec"
)

// ErrNotLoaded is Show's error when the table is not in the ruleset.
var ErrNotLoaded = errors.New("egress: the lock is not loaded (no table inet " + Table + ")")

// Apply loads the lock, replacing the table in one transaction; in Off
// mode it removes the table.
func Apply(ctx context.Context, l Lock) error {
	script, err := l.Ruleset()
	if err != nil {
		return err
	}
	_, err = nft(ctx, script, "-f", "-")
	return err
}

// Remove removes the table; there being none is not an error.
func Remove(ctx context.Context) error {
	return Apply(ctx, Lock{Mode: Off})
}

// Show returns the table as nft lists it, or ErrNotLoaded.
func Show(ctx context.Context) (string, error) {
	tables, err := nft(ctx, "", "list", "tables", "inet")
	if err != nil {
		return "", err
	}
	if !strings.Contains("\n"+tables, "\ntable inet "+Table+"\n") {
		return "", ErrNotLoaded
	}
	return nft(ctx, "", "list", "table", "inet", Table)
}

// nftProgram is the program that loads rules, looked up in safeexec.Path.
var nftProgram = "nft"

// nft runs nft with args and stdin, and returns its standard output. Its
// error carries what nft wrote on standard error, which names the line
// of the script at fault.
func nft(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd, err := safeexec.Command(ctx, append([]string{nftProgram}, args...))
	if err != nil {
		return "", fmt.Errorf("egress: %v (install nftables)", err)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = "no message"
		}
		return "", fmt.Errorf("egress: %s %s: %v:\n%s", nftProgram, strings.Join(args, " "), err, msg)
	}
	return stdout.String(), nil
}
