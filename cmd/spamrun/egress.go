package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spamrun/spamrun/config"
	"github.com/spamrun/spamrun/internal/egress"
	"github.com/spamrun/spamrun/internal/host"
)

// egressTimeout bounds an egress command: resolving the allow-lists' host
// names and running nft.
const egressTimeout = time.Minute

// egressCmd is spamrun egress apply|remove|show: the egress lock, the
// nftables table that sends the websites' own SMTP connections to the
// listener (see package egress).
func (e *env) egressCmd(args []string) error {
	f := newFlags("egress", "apply [--dry-run] | remove | show")
	dryRun := f.Bool("dry-run", false, "apply: print the nftables script instead of loading it")
	operands, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(operands) != 1 {
		return f.usageErrorf("egress takes one of apply, remove and show")
	}
	op := operands[0]
	switch {
	case op != "apply" && op != "remove" && op != "show":
		return f.usageErrorf("egress: unknown operation %q", op)
	case *dryRun && op != "apply":
		return f.usageErrorf("--dry-run goes with apply")
	}
	ctx, cancel := context.WithTimeout(context.Background(), egressTimeout)
	defer cancel()

	if !*dryRun {
		if err := needRoot(); err != nil {
			return err
		}
	}
	switch op {
	case "apply":
		cfg, err := e.loadConfig()
		if err != nil {
			return err
		}
		l := host.EgressLock(ctx, cfg, installUser(), nil)
		for _, n := range l.Notes {
			fmt.Fprintf(e.stderr, "spamrun: note: %s\n", n)
		}
		if *dryRun {
			script, err := l.Ruleset()
			if err != nil {
				return misconfigured(err)
			}
			fmt.Fprint(e.stdout, script)
			return nil
		}
		if err := egress.Apply(ctx, l); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, describeLock(l))
	case "remove":
		if err := egress.Remove(ctx); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "egress lock removed (table inet %s)\n", egress.Table)
	case "show":
		rules, err := egress.Show(ctx)
		if errors.Is(err, egress.ErrNotLoaded) {
			return fmt.Errorf("%w; spamrun egress apply loads it", err)
		}
		if err != nil {
			return err
		}
		fmt.Fprint(e.stdout, rules)
	}
	return nil
}

// needRoot refuses to touch the ruleset without root: nft would fail
// with "Operation not permitted" and no word about why.
func needRoot() error {
	if os.Geteuid() != 0 {
		return &statusError{exitNoPerm, errors.New("egress: run as root: it reads and loads nftables rules")}
	}
	return nil
}

// installUser is the installation's user: the group of the spamrun
// binary, which install.sh installs root:GROUP with a user of the same
// name (spamrun by default) that runs the daemon. "" when the binary is
// root's alone, as a development build is.
func installUser() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return ""
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Gid == 0 {
		return ""
	}
	g, err := user.LookupGroupId(strconv.FormatUint(uint64(st.Gid), 10))
	if err != nil {
		return ""
	}
	return g.Name
}

// describeLock says in one line what a lock that was just applied does.
func describeLock(l egress.Lock) string {
	var b strings.Builder
	switch l.Mode {
	case egress.Off:
		return fmt.Sprintf("egress = %s: no lock (table inet %s removed)", config.EgressOff, egress.Table)
	case egress.Redirect:
		var to []string
		if l.Port4 != 0 {
			to = append(to, "127.0.0.1:"+strconv.Itoa(int(l.Port4)))
		}
		if l.Port6 != 0 {
			to = append(to, "[::1]:"+strconv.Itoa(int(l.Port6)))
		}
		fmt.Fprintf(&b, "egress lock applied: site users' SMTP (ports 25, 587) redirected to %s, 465 reset", strings.Join(to, " and "))
		if l.Port4 == 0 || l.Port6 == 0 {
			b.WriteString(", and all three reset on the family without a listener")
		}
	default:
		b.WriteString("egress lock applied: site users' SMTP (ports 25, 465, 587) reset")
	}
	fmt.Fprintf(&b, "; %d exempt UIDs, %d allowed destinations", len(l.Exempt), len(l.Allow))
	return b.String()
}
