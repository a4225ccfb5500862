package main

import (
	"context"
	"errors"
	"os/signal"
	"syscall"

	"github.com/spamrun/spamrun/internal/doctor"
)

// doctor is spamrun doctor: every door a website could send mail through,
// tried as the site's user, and whether it leads through spamrun. It
// fails with doctor.ErrOpen when a door is open.
func (e *env) doctor(args []string) error {
	f := newFlags("doctor", "[--site SITE | --user LOGIN|UID] [--json] [--remote HOST] [--timeout D]")
	site := f.String("site", "", "try the doors of this site only (default: every site in the configuration, or the user nobody when it has none)")
	login := f.String("user", "", "try the doors as this user, by login or UID")
	asJSON := f.Bool("json", false, "print the report as JSON")
	remote := f.String("remote", doctor.DefaultRemote, "the outside address tried on ports 25, 465 and 587; any address will do, since the egress lock acts on the port")
	timeout := f.Duration("timeout", doctor.DefaultTimeout, "how long each door may take to answer")
	operands, err := f.parse(args)
	switch {
	case err != nil:
		return err
	case len(operands) > 0:
		return f.usageErrorf("doctor takes no operands")
	case *site != "" && *login != "":
		return f.usageErrorf("--site and --user exclude each other")
	case *timeout <= 0:
		return f.usageErrorf("--timeout must be positive")
	}
	if *site != "" {
		if err := f.site(*site); err != nil {
			return err
		}
	}
	if err := doctor.NeedRoot(); err != nil {
		return err
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	// A site whose user is missing is reported, and the others tried.
	var users []doctor.User
	if *login != "" {
		u, err := doctor.LookupUser(cfg, *login)
		if err != nil {
			return err
		}
		users = []doctor.User{u}
	} else if users, err = doctor.Users(cfg, *site); len(users) == 0 {
		return err
	}
	usersErr := err

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var opts doctor.Options
	if e.doors != nil {
		opts = *e.doors
	}
	opts.Remote, opts.Timeout = *remote, *timeout
	rep, err := doctor.Run(ctx, users, &opts)
	if rep == nil {
		return err
	}
	if *asJSON {
		if werr := writeJSON(e.stdout, rep); werr != nil {
			return &statusError{exitIOErr, werr}
		}
	} else if werr := doctor.WriteTable(e.stdout, rep); werr != nil {
		return &statusError{exitIOErr, werr}
	}
	return errors.Join(usersErr, err, rep.Err())
}

// doctorProbe is the hidden spamrun doctor-probe: the doors tried as the
// user it runs as, for spamrun doctor, which starts it.
func (e *env) doctorProbe(args []string) error {
	if len(args) > 0 {
		return &usageError{err: errors.New("doctor-probe takes no arguments"), usage: "usage: spamrun doctor-probe < PLAN\n"}
	}
	return doctor.RunProbe(e.stdin, e.stdout)
}
