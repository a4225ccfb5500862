package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spamrun/spamrun/internal/host"
	"github.com/spamrun/spamrun/queue"
	"github.com/spamrun/spamrun/report"
	"github.com/spamrun/spamrun/spool"
)

const queueUsage = `usage: spamrun queue list [--json] [--all|--quarantine] [SITE]
       spamrun queue run [--once] [--interval D] [-v]
       spamrun queue release ID...
       spamrun queue purge ID...
`

func (e *env) queue(args []string) error {
	if len(args) == 0 {
		return &usageError{usage: queueUsage}
	}
	switch args[0] {
	case "list":
		return e.queueList(args[1:])
	case "run":
		return e.queueRun(args[1:])
	case "release":
		return e.queueRelease(args[1:])
	case "purge":
		return e.queuePurge(args[1:])
	}
	return &usageError{err: fmt.Errorf("unknown queue command %q", args[0]), usage: queueUsage}
}

// queueRun is spamrun queue run: the queue runner, until SIGTERM or
// SIGINT, or one pass with --once.
func (e *env) queueRun(args []string) error {
	f := newFlags("queue run", "[--once] [--interval D] [-v]")
	once := f.Bool("once", false, "one pass over the queue, then exit")
	interval := f.Duration("interval", 0, "time between passes (default: [queue] interval)")
	verbose := f.Bool("v", false, "log each message on standard error too")
	operands, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(operands) > 0 {
		return f.usageErrorf("queue run takes no operands")
	}
	var logw io.Writer
	if *verbose {
		logw = e.stderr
	}
	h, closeHost, err := e.openHost("spamrun/queue", logw)
	if err != nil {
		return err
	}
	defer closeHost()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *once {
		// With -v the log lines would be torn by the progress line.
		return e.queuePass(ctx, h, !*verbose && e.terminal(e.stderr))
	}
	// Without the state no site's mail can leave; systemd starts the
	// runner again until the store is back.
	if err := needStore(h); err != nil {
		return err
	}
	wake, closeWake, err := queue.Listen(h.Spool.Dir())
	if err != nil {
		return unavailable(err)
	}
	defer closeWake()
	if *interval <= 0 {
		*interval = h.Config.Queue.Interval
	}
	err = h.Queue.Run(ctx, *interval, wake)
	if err != nil && !errors.Is(err, context.Canceled) {
		return unavailable(err)
	}
	return nil
}

// queuePass is spamrun queue run --once: one pass, and what it did.
func (e *env) queuePass(ctx context.Context, h *host.Host, showProgress bool) error {
	if h.StoreErr != nil {
		fmt.Fprintf(e.stderr, "spamrun: warning: the state store is unavailable, only DSNs and released messages are relayed: %v\n", h.StoreErr)
	}
	var progress *progressLine
	if showProgress {
		progress = &progressLine{w: e.stderr, now: e.now}
		h.Queue.Progress = progress.update
	}
	stats, err := h.Queue.Pass(ctx)
	progress.finish()
	fmt.Fprintf(e.stdout, "relayed %d, deferred %d, decided %d, bounced %d, quarantined %d, deleted from quarantine %d",
		stats.Relayed, stats.Deferred, stats.Decided, stats.Bounced, stats.Quarantined, stats.Expired)
	if stats.Damaged > 0 {
		fmt.Fprintf(e.stdout, ", damaged files moved to quarantine %d", stats.Damaged)
	}
	if stats.Failed > 0 {
		fmt.Fprintf(e.stdout, ", failed %d", stats.Failed)
	}
	fmt.Fprintln(e.stdout)
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// progressLine shows how far a pass is, rewriting one line of a terminal.
type progressLine struct {
	w     io.Writer
	now   func() time.Time
	last  time.Time
	shown bool
}

// update is a queue.Runner's Progress. A redraw per message would cost a
// pass over a long queue more than its work, so it redraws ten times a
// second, and at the end.
func (p *progressLine) update(done, total int) {
	if t := p.now(); done == total || t.Sub(p.last) >= 100*time.Millisecond {
		p.last = t
		p.shown = true
		fmt.Fprintf(p.w, "\rpass: %d/%d", done, total)
	}
}

func (p *progressLine) finish() {
	if p != nil && p.shown {
		fmt.Fprintln(p.w)
	}
}

// queueList is spamrun queue list: mailq for the operator.
func (e *env) queueList(args []string) error {
	f := newFlags("queue list", "[--json] [--all|--quarantine] [SITE]")
	asJSON := f.Bool("json", false, "print the messages' spool entries as a JSON array")
	all := f.Bool("all", false, "the quarantine too: bounced and kept messages")
	quarantine := f.Bool("quarantine", false, "the quarantine only")
	site, err := f.parseSite(args)
	if err != nil {
		return err
	}
	h, closeHost, err := e.openHost("", nil)
	if err != nil {
		return err
	}
	defer closeHost()
	var entries []*spool.Entry
	var errs []error
	if !*quarantine {
		q, err := h.Spool.List()
		entries, errs = append(entries, q...), append(errs, err)
	}
	if *all || *quarantine {
		q, err := h.Spool.Quarantine()
		entries, errs = append(entries, q...), append(errs, err)
	}
	entries = slices.DeleteFunc(entries, func(e *spool.Entry) bool { return site != "" && e.Site != site })
	// IDs start with the arrival time, so this is oldest first across both.
	slices.SortFunc(entries, func(a, b *spool.Entry) int { return cmpString(a.ID, b.ID) })
	// An unreadable file is named; the rest is still listed. A damaged one
	// is no failure: the next pass of the runner moves it into quarantine.
	damaged, err := spool.Damaged(errors.Join(errs...))
	for _, d := range damaged {
		fmt.Fprintf(e.stderr, "spamrun: %v; the next queue pass moves it into quarantine\n", d)
	}
	if err != nil {
		err = unavailable(err)
	}
	if *asJSON {
		if entries == nil {
			entries = []*spool.Entry{}
		}
		if werr := writeJSON(e.stdout, entries); werr != nil {
			return werr
		}
	} else {
		printQueue(e.stdout, entries, e.now())
	}
	return err
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func printQueue(w io.Writer, entries []*spool.Entry, t time.Time) {
	if len(entries) == 0 {
		fmt.Fprintln(w, "no messages")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSITE\tSTATE\tSIZE\tARRIVAL\tSENDER\tRCPTS\tSCORE\tDOOR\tINFO")
	var size int64
	for _, e := range entries {
		size += e.Size
		from := sender(e.Sender)
		if e.Kind == spool.KindDamaged {
			from = "-" // unknown, not the null sender
		}
		door := "-" // a DSN, a notice or a damaged file came through no door
		if e.Kind == "" {
			door = cell(report.Door(e.Evidence))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\t%s\n",
			e.ID, cell(e.Site), entryState(e), e.Size, fmtTime(e.Received), from,
			len(e.Recipients), entryScore(e), door, entryInfo(e, t))
	}
	tw.Flush()
	fmt.Fprintf(w, "-- %d messages, %d bytes\n", len(entries), size)
}

func entryState(e *spool.Entry) string {
	switch {
	case e.Kind == spool.KindDamaged:
		return "damaged"
	case (e.Kind == spool.KindDSN || e.Kind == spool.KindNotice) && !e.State.Final():
		return e.Kind
	case e.Released && !e.State.Final():
		return "released"
	}
	return string(e.State)
}

func entryScore(e *spool.Entry) string {
	if e.Kind != "" || e.State == spool.Undecided && e.Score.Value == 0 {
		return "-"
	}
	s := strconv.FormatFloat(e.Score.Value, 'f', 1, 64)
	if e.Spam {
		s += " spam"
	}
	return s
}

// entryInfo is what the operator wants to know next about a message:
// why it waits, or why it is in quarantine.
func entryInfo(e *spool.Entry, t time.Time) string {
	switch {
	case e.State.Final():
		info := e.Reason
		if e.DSN != "" {
			info += "; DSN " + e.DSN
		}
		if !e.Until.IsZero() {
			info += "; deleted " + fmtTime(e.Until)
		}
		return cell(info)
	case e.Kind == spool.KindDSN && e.Attempts == 0:
		return "DSN for " + e.Original
	case e.Kind == spool.KindNotice && e.Attempts == 0:
		return "notice of incident " + e.Incident
	case e.Attempts > 0:
		return cell(fmt.Sprintf("%d attempts, next %s: %s", e.Attempts, fmtTime(e.NextAttempt), e.LastError))
	case e.State == spool.Held && t.Before(e.HoldUntil):
		return "held until " + fmtTime(e.HoldUntil)
	case e.State == spool.Held:
		return "hold over, relayed at the next pass"
	case e.State == spool.Undecided:
		return "accepted while the state store was down; decided at the next pass"
	}
	return "-"
}

// queueRelease is spamrun queue release: the operator decides a held or
// kept message is not spam after all.
func (e *env) queueRelease(args []string) error {
	return e.queueEach("release", args, func(h *host.Host, id string) (*spool.Entry, error) {
		return h.Queue.Release(id)
	})
}

// queuePurge is spamrun queue purge. It asks for no confirmation: it
// names what it deleted, and the audit log keeps it.
func (e *env) queuePurge(args []string) error {
	return e.queueEach("purge", args, func(h *host.Host, id string) (*spool.Entry, error) {
		return h.Queue.Purge(id)
	})
}

var pastTense = map[string]string{"release": "released", "purge": "purged"}

// queueEach does what to every message named, and goes on past an ID it
// cannot do it to.
func (e *env) queueEach(what string, args []string, do func(*host.Host, string) (*spool.Entry, error)) error {
	f := newFlags("queue "+what, "ID...")
	ids, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return f.usageErrorf("queue %s: no message IDs", what)
	}
	h, closeHost, err := e.openHost("", nil)
	if err != nil {
		return err
	}
	defer closeHost()
	aud := e.newAuditor(h.Config)
	defer aud.close()
	var errs []error
	done := 0
	for _, id := range ids {
		m, err := do(h, id)
		switch {
		case errors.Is(err, spool.ErrNotFound):
			errs = append(errs, fmt.Errorf("%s: no such message in the queue or in quarantine", id))
			continue
		case errors.Is(err, spool.ErrLocked):
			errs = append(errs, fmt.Errorf("%s: another process is working on it; try again", id))
			continue
		case err != nil:
			errs = append(errs, err)
			continue
		}
		done++
		fmt.Fprintf(e.stdout, "%s %s (site %s, from %s, %d recipients, %d bytes)\n",
			pastTense[what], m.ID, cell(m.Site), sender(m.Sender), len(m.Recipients), m.Size)
		rec := auditRecord{Event: what, Site: m.Site, ID: m.ID, Sender: &m.Sender, Incident: m.Incident}
		if err := aud.log(rec); err != nil {
			errs = append(errs, fmt.Errorf("warning: not in the audit log: %w", err))
		}
	}
	if what == "release" && done > 0 {
		// A runner that is listening relays them now, not at its next pass.
		queue.Wake(h.Spool.Dir())
	}
	return errors.Join(errs...)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && termios(f)
}
