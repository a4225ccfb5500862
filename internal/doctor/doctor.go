// Package doctor tries, as a website's user, every door that user could
// send mail through, and says of each whether it leads through spamrun,
// is closed, or is open: spamrun doctor.
//
// The doors are the programs that speak SMTP on -bs as sendmail does
// (spamrun's sendmail and the MTA's own: the diverted sendmail,
// sendmail.postfix, Exim), Postfix's postdrop and postqueue, SMTP on
// loopback (127.0.0.1:25, [::1]:25, 127.0.0.1:587), and SMTP to an outside
// address on 25, 465 and 587.
//
// The doors are tried by a child process that runs as the user: its real
// and effective UID and GID the user's, no supplementary groups, so that
// the kernel's permission checks and nftables' "meta skuid" see what a
// website sees. That child is the running program again, copied into
// memory (the operator's binary is not the websites' to execute), called
// with [ProbeArg]; it must answer by calling [RunProbe].
//
// No mail is sent: at each door the probe reads the greeting and says
// QUIT. Postdrop and postqueue are not run at all, only checked with
// access(2), since postdrop queues what it reads.
//
// A door leads through spamrun when its greeting contains the word
// "spamrun", as the greetings of spamrun's listener and of sendmail -bs
// do. A program the user may not execute, a connection refused or reset,
// a greeting that refuses (5xx) are closed. Whatever else answers is open.
// An outside address that does not answer at all proves nothing; then the
// egress lock, nftables' table inet spamrun, decides: a rule there that
// redirects, rejects or drops the port for the user's UID makes the door
// "closed (egress lock)", and without one it is "OPEN?" and counts as open.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Status is the verdict on one door.
type Status string

const (
	// Through: the door leads to spamrun, which counts what passes.
	Through Status = "through spamrun"
	// Closed: the user cannot send mail through the door.
	Closed Status = "closed"
	// Open: mail goes past spamrun through the door.
	Open Status = "OPEN"
)

// Kind is what sort of door a door is.
type Kind string

const (
	// Sendmail is a program that takes mail as sendmail does, tried with
	// -bs.
	Sendmail Kind = "sendmail"
	// Dropper is a program that puts mail in the MTA's queue directly,
	// such as Postfix's postdrop.
	Dropper Kind = "dropper"
	// SMTPLocal is an SMTP server on loopback.
	SMTPLocal Kind = "smtp-local"
	// SMTPOutside is an SMTP port at an address outside the host.
	SMTPOutside Kind = "smtp-outside"
)

// Door is one way to send mail, and what the doctor found there.
type Door struct {
	// Name is the program's path, or the address host:port.
	Name   string `json:"door"`
	Kind   Kind   `json:"kind"`
	Status Status `json:"status"`
	// Unsure marks a status that was not seen but inferred: an outside
	// address that did not answer is closed when the egress lock covers
	// its port ("closed (egress lock)"), open when none does ("OPEN?").
	Unsure bool `json:"unsure,omitempty"`
	// Seen is what the door said: its greeting, the error, or why an
	// unsure status was inferred.
	Seen string `json:"seen"`
	// Fix is how to close an open door, "" for the others.
	Fix string `json:"fix,omitempty"`
}

// Label is the status as the table shows it.
func (d Door) Label() string {
	switch {
	case d.Unsure && d.Status == Closed:
		return "closed (egress lock)"
	case d.Unsure && d.Status == Open:
		return "OPEN?"
	}
	return string(d.Status)
}

// User is a website's user, whose doors the doctor tries.
type User struct {
	// Site is the name of the site whose mail the user sends.
	Site string `json:"site"`
	// Login is "" for a UID without a passwd entry.
	Login string `json:"user,omitempty"`
	UID   int    `json:"uid"`
	GID   int    `json:"gid"`
}

// SiteReport is the doors of one user.
type SiteReport struct {
	User
	Doors []Door `json:"doors"`
	// Error says why the doors could not be tried; Doors is then empty.
	Error string `json:"error,omitempty"`
}

// Report is what spamrun doctor prints.
type Report struct {
	// Open is the number of open doors, the unsure ones included, over
	// all sites.
	Open  int          `json:"open"`
	Sites []SiteReport `json:"sites"`
}

// ErrOpen is the error of a report with open doors: spamrun doctor exits
// 1 on it.
var ErrOpen = errors.New("doctor: a door is open")

// ErrNotRoot is the error of Run in a process that is not root: only root
// can try the doors as another user.
var ErrNotRoot = errors.New("doctor: must run as root, to try the doors as each website's user")

// NeedRoot returns ErrNotRoot unless the process is root.
func NeedRoot() error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	return nil
}

// Err returns nil when every door is closed or leads through spamrun, and
// an error that counts the open doors and matches ErrOpen otherwise.
func (r *Report) Err() error {
	if r.Open == 0 {
		return nil
	}
	return openError(r.Open)
}

// openError is the number of open doors.
type openError int

func (e openError) Error() string {
	if e == 1 {
		return "doctor: 1 door is open"
	}
	return fmt.Sprintf("doctor: %d doors are open", int(e))
}

func (e openError) Is(target error) bool { return target == ErrOpen }

// The doors tried when Options leave them out.
var (
	// DefaultBinaries are the programs tried with -bs: spamrun's sendmail
	// where PHP and cron find it, and the MTA's own programs.
	DefaultBinaries = []string{
		"/usr/sbin/sendmail",
		"/usr/sbin/sendmail.distrib", // the MTA's, diverted by install.sh
		"/usr/sbin/sendmail.postfix",
		"/usr/lib/sendmail",
		"/usr/sbin/exim4",
		"/usr/sbin/exim",
	}
	// DefaultDroppers are Postfix's programs that queue mail without
	// SMTP.
	DefaultDroppers = []string{"/usr/sbin/postdrop", "/usr/sbin/postqueue"}
	// DefaultLocal are the loopback SMTP doors.
	DefaultLocal = []string{"127.0.0.1:25", "[::1]:25", "127.0.0.1:587"}
	// OutsidePorts are the SMTP ports tried at the outside address: SMTP,
	// submissions (TLS from the first byte) and submission.
	OutsidePorts = []int{25, 465, 587}
)

// DefaultRemote is the outside address tried when Options.Remote is "":
// TEST-NET-3 (RFC 5737), which no one answers. Any address outside the
// host does, since the egress lock acts on the port, not the address.
const DefaultRemote = "203.0.113.1"

// DefaultTimeout bounds each door's connection and greeting.
const DefaultTimeout = 5 * time.Second

// Options say which doors to try; the zero value tries the defaults.
type Options struct {
	// Binaries are tried with -bs; nil means DefaultBinaries, an empty
	// slice none. Those that do not exist are left out.
	Binaries []string
	// Droppers are checked for execution; nil means DefaultDroppers.
	Droppers []string
	// Local are loopback SMTP addresses; nil means DefaultLocal.
	Local []string
	// Remote is the outside host tried on OutsidePorts; "" means
	// DefaultRemote.
	Remote string
	// Timeout bounds each door; 0 means DefaultTimeout.
	Timeout time.Duration
	// NFT is the nft program that reads the egress lock; "" means "nft"
	// from PATH.
	NFT string
}

// maxParallel is how many users' doors are tried at once.
const maxParallel = 4

// Run tries every door as each of users and returns the report, which
// holds every user that could be tried; the error joins the reasons of
// those that could not. It must run as root.
func Run(ctx context.Context, users []User, opts *Options) (*Report, error) {
	if err := NeedRoot(); err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &Options{}
	}
	p, err := newPlan(opts)
	if err != nil {
		return nil, err
	}
	prog, err := probeProgram()
	if err != nil {
		return nil, err
	}
	defer prog.Close()
	lk := &lockReader{nft: opts.NFT}

	rep := &Report{Sites: make([]SiteReport, len(users))}
	errs := make([]error, len(users))
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxParallel)
	for i, u := range users {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			sr := SiteReport{User: u, Doors: []Door{}}
			obs, err := probeAs(ctx, prog, u, p)
			if err != nil {
				sr.Error = err.Error()
				errs[i] = fmt.Errorf("site %s (UID %d): %w", u.Site, u.UID, err)
			} else {
				sr.Doors = judge(ctx, u, p, obs, lk)
			}
			rep.Sites[i] = sr
		})
	}
	wg.Wait()
	for _, s := range rep.Sites {
		for _, d := range s.Doors {
			if d.Status == Open {
				rep.Open++
			}
		}
	}
	return rep, errors.Join(errs...)
}

// newPlan turns the options into the probe's plan, leaving out the
// programs that do not exist.
func newPlan(opts *Options) (plan, error) {
	p := plan{Timeout: opts.Timeout}
	if p.Timeout <= 0 {
		p.Timeout = DefaultTimeout
	}
	var err error
	if p.Binaries, err = existing(opts.Binaries, DefaultBinaries); err != nil {
		return plan{}, err
	}
	if p.Droppers, err = existing(opts.Droppers, DefaultDroppers); err != nil {
		return plan{}, err
	}
	local := opts.Local
	if local == nil {
		local = DefaultLocal
	}
	for _, a := range local {
		p.SMTP = append(p.SMTP, target{Addr: a})
	}
	remote := opts.Remote
	if remote == "" {
		remote = DefaultRemote
	}
	if strings.ContainsAny(remote, "/ ") || remote != strings.Trim(remote, "[]") {
		return plan{}, fmt.Errorf("doctor: remote %q is not a host name or IP address", remote)
	}
	for _, port := range OutsidePorts {
		p.SMTP = append(p.SMTP, target{Addr: net.JoinHostPort(remote, strconv.Itoa(port)), TLS: port == 465})
	}
	return p, nil
}

// existing returns the paths, or the defaults when paths is nil, that
// exist.
func existing(paths, defaults []string) ([]string, error) {
	if paths == nil {
		paths = defaults
	}
	var out []string
	for _, path := range paths {
		_, err := os.Stat(path)
		switch {
		case err == nil:
			out = append(out, path)
		case errors.Is(err, fs.ErrNotExist):
		default:
			return nil, fmt.Errorf("doctor: %w", err)
		}
	}
	return out, nil
}

// judge turns the probe's observations into doors.
func judge(ctx context.Context, u User, p plan, obs []observation, lk *lockReader) []Door {
	// The probe answers in the order of the plan.
	var kinds []Kind
	for range p.Binaries {
		kinds = append(kinds, Sendmail)
	}
	for range p.Droppers {
		kinds = append(kinds, Dropper)
	}
	for i := range p.SMTP {
		if i < len(p.SMTP)-len(OutsidePorts) {
			kinds = append(kinds, SMTPLocal)
		} else {
			kinds = append(kinds, SMTPOutside)
		}
	}
	doors := make([]Door, 0, len(obs))
	for i, o := range obs {
		d := Door{Name: o.Door, Kind: kinds[i]}
		d.Status, d.Seen = verdict(d.Kind, o)
		if d.Status == "" {
			d.Status, d.Unsure, d.Seen = lk.judge(ctx, u, d.Name, o)
		}
		if d.Status == Open {
			d.Fix = fix(d)
		}
		doors = append(doors, d)
	}
	return doors
}

// verdict judges what the probe saw at a door; it returns no status when
// only the egress lock can tell.
func verdict(kind Kind, o observation) (Status, string) {
	switch o.Outcome {
	case greeted:
		first, _, _ := strings.Cut(o.Greeting, "\n")
		switch {
		case strings.Contains(strings.ToLower(o.Greeting), "spamrun"):
			return Through, first
		case strings.HasPrefix(o.Greeting, "5"):
			return Closed, "it refuses: " + first
		}
		return Open, first
	case denied:
		if kind == Sendmail || kind == Dropper {
			return Closed, "this user may not execute it"
		}
		return Closed, o.Detail
	case allowed, silent:
		return Open, o.Detail
	case refused:
		return Closed, o.Detail
	case unreachable:
		if kind == SMTPLocal {
			return Closed, o.Detail
		}
	case unanswered:
	default: // failed
		return Open, "not tried: " + o.Detail
	}
	return "", ""
}

// fix says how to close an open door.
func fix(d Door) string {
	switch d.Kind {
	case Sendmail:
		if d.Name == "/usr/sbin/sendmail" || d.Name == "/usr/lib/sendmail" {
			return "run scripts/install.sh: it diverts the MTA's sendmail and puts spamrun's in its place"
		}
		return "run scripts/install.sh, which restricts it to root, the MTA and spamrun (by hand: chmod o-x " + d.Name + ")"
	case Dropper:
		return "chmod o-x " + d.Name + " (scripts/install.sh does this)"
	}
	if strings.HasSuffix(d.Name, ":465") {
		return "egress = \"redirect\" in spamrun.toml and `spamrun egress apply`: the lock rejects port 465"
	}
	return "egress = \"redirect\" in spamrun.toml and `spamrun egress apply`"
}
