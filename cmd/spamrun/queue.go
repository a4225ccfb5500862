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
	"github.com/spamrun/spamrun/spool"
)

const queueUsage = `usage: spamrun queue list [--json] [--all|--quarantine] [SITE]
       spamrun queue run [--once] [--interval D] [-v]
       spamrun queue release ID...
       spamrun queue purge ID...
`

func queueCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, queueUsage)
		return exitUsage
	}
	switch args[0] {
	case "list":
		return queueList(args[1:], stdout, stderr)
	case "run":
		return queueRun(args[1:], stdout, stderr)
	case "release":
		return queueRelease(args[1:], stdout, stderr)
	case "purge":
		return queuePurge(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "spamrun: unknown queue command %q\n%s", args[0], queueUsage)
	return exitUsage
}

// queueRun is spamrun queue run: the queue runner, until SIGTERM or
// SIGINT, or one pass with --once.
func queueRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("queue run [--once] [--interval D] [-v]", stderr)
	once := fs.Bool("once", false, "one pass over the queue, then exit")
	interval := fs.Duration("interval", 0, "time between passes (default: [queue] interval)")
	verbose := fs.Bool("v", false, "log each message on standard error too")
	operands, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(operands) > 0 {
		return usagef(stderr, "queue run takes no operands")
	}
	var logw io.Writer
	if *verbose {
		logw = stderr
	}
	h, closeHost, code := openHost("spamrun/queue", logw, stderr)
	if h == nil {
		return code
	}
	defer closeHost()
	if h.StoreErr != nil {
		fmt.Fprintf(stderr, "spamrun: warning: the state store is unavailable, only DSNs and released messages are relayed: %v\n", h.StoreErr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *once {
		// With -v the log lines would be torn by the progress line.
		var progress *progressLine
		if !*verbose && isTerminal(stderr) {
			progress = &progressLine{w: stderr}
			h.Queue.Progress = progress.update
		}
		stats, err := h.Queue.Pass(ctx)
		progress.finish()
		fmt.Fprintf(stdout, "relayed %d, deferred %d, decided %d, bounced %d, quarantined %d, deleted from quarantine %d",
			stats.Relayed, stats.Deferred, stats.Decided, stats.Bounced, stats.Quarantined, stats.Expired)
		if stats.Damaged > 0 {
			fmt.Fprintf(stdout, ", damaged files moved to quarantine %d", stats.Damaged)
		}
		if stats.Failed > 0 {
			fmt.Fprintf(stdout, ", failed %d", stats.Failed)
		}
		fmt.Fprintln(stdout)
		if err != nil {
			fmt.Fprintln(stderr, "spamrun:", err)
			return exitTempErr
		}
		return exitOK
	}
	if h.StoreErr != nil {
		// Without the state no site's mail can leave; systemd starts the
		// runner again until the store is back.
		return exitTempErr
	}
	wake, closeWake, err := queue.Listen(h.Spool.Dir())
	if err != nil {
		fmt.Fprintln(stderr, "spamrun:", err)
		return exitTempErr
	}
	defer closeWake()
	if *interval <= 0 {
		*interval = h.Config.Queue.Interval
	}
	err = h.Queue.Run(ctx, *interval, wake)
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "spamrun:", err)
		return exitTempErr
	}
	return exitOK
}

// progressLine shows how far a pass is, rewriting one line of a terminal.
type progressLine struct {
	w     io.Writer
	last  time.Time
	shown bool
}

// update is a queue.Runner's Progress. A redraw per message would cost a
// pass over a long queue more than its work, so it redraws ten times a
// second, and at the end.
func (p *progressLine) update(done, total int) {
	if t := time.Now(); done == total || t.Sub(p.last) >= 100*time.Millisecond {
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
func queueList(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("queue list [--json] [--all|--quarantine] [SITE]", stderr)
	asJSON := fs.Bool("json", false, "print the messages' spool entries as a JSON array")
	all := fs.Bool("all", false, "the quarantine too: bounced and kept messages")
	quarantine := fs.Bool("quarantine", false, "the quarantine only")
	operands, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	site, code, ok := optionalSite("queue list", operands, stderr)
	if !ok {
		return code
	}
	h, closeHost, code := openHost("", nil, stderr)
	if h == nil {
		return code
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
		fmt.Fprintf(stderr, "spamrun: %v; the next queue pass moves it into quarantine\n", d)
	}
	if err != nil {
		fmt.Fprintln(stderr, "spamrun:", err)
	}
	if *asJSON {
		if entries == nil {
			entries = []*spool.Entry{}
		}
		if err := writeJSON(stdout, entries); err != nil {
			fmt.Fprintln(stderr, "spamrun:", err)
			return exitFailed
		}
	} else {
		printQueue(stdout, entries, time.Now())
	}
	if err != nil {
		return exitTempErr
	}
	return exitOK
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
	fmt.Fprintln(tw, "ID\tSITE\tSTATE\tSIZE\tARRIVAL\tSENDER\tRCPTS\tSCORE\tINFO")
	var size int64
	for _, e := range entries {
		size += e.Size
		from := sender(e.Sender)
		if e.Kind == spool.KindDamaged {
			from = "-" // unknown, not the null sender
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\n",
			e.ID, cell(e.Site), entryState(e), e.Size, fmtTime(e.Received), from,
			len(e.Recipients), entryScore(e), entryInfo(e, t))
	}
	tw.Flush()
	fmt.Fprintf(w, "-- %d messages, %d bytes\n", len(entries), size)
}

func entryState(e *spool.Entry) string {
	switch {
	case e.Kind == spool.KindDamaged:
		return "damaged"
	case e.Kind == spool.KindDSN && !e.State.Final():
		return "dsn"
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
func queueRelease(args []string, stdout, stderr io.Writer) int {
	return queueEach("release", args, stdout, stderr, func(h *host.Host, id string) (*spool.Entry, error) {
		return h.Queue.Release(id)
	})
}

// queuePurge is spamrun queue purge. It asks for no confirmation: it
// names what it deleted, and the audit log keeps it.
func queuePurge(args []string, stdout, stderr io.Writer) int {
	return queueEach("purge", args, stdout, stderr, func(h *host.Host, id string) (*spool.Entry, error) {
		return h.Queue.Purge(id)
	})
}

var pastTense = map[string]string{"release": "released", "purge": "purged"}

// queueEach does what to every message named, and goes on past an ID it
// cannot do it to.
func queueEach(what string, args []string, stdout, stderr io.Writer, do func(*host.Host, string) (*spool.Entry, error)) int {
	fs := newFlags("queue "+what+" ID...", stderr)
	ids, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(ids) == 0 {
		return usagef(stderr, "queue %s: no message IDs", what)
	}
	h, closeHost, code := openHost("", nil, stderr)
	if h == nil {
		return code
	}
	defer closeHost()
	aud := newAuditor(h.Config)
	defer aud.close()
	code = exitOK
	done := 0
	for _, id := range ids {
		e, err := do(h, id)
		switch {
		case errors.Is(err, spool.ErrNotFound):
			fmt.Fprintf(stderr, "spamrun: %s: no such message in the queue or in quarantine\n", id)
			code = exitFailed
			continue
		case errors.Is(err, spool.ErrLocked):
			fmt.Fprintf(stderr, "spamrun: %s: another process is working on it; try again\n", id)
			code = exitFailed
			continue
		case err != nil:
			fmt.Fprintln(stderr, "spamrun:", err)
			code = exitFailed
			continue
		}
		done++
		fmt.Fprintf(stdout, "%s %s (site %s, from %s, %d recipients, %d bytes)\n",
			pastTense[what], e.ID, cell(e.Site), sender(e.Sender), len(e.Recipients), e.Size)
		rec := auditRecord{Event: what, Site: e.Site, ID: e.ID, Sender: &e.Sender, Incident: e.Incident}
		if err := aud.log(rec); err != nil {
			fmt.Fprintln(stderr, "spamrun: warning: not in the audit log:", err)
			code = exitFailed
		}
	}
	if what == "release" && done > 0 {
		// A runner that is listening relays them now, not at its next pass.
		queue.Wake(h.Spool.Dir())
	}
	return code
}

// isTerminal reports whether w is a terminal; a variable so tests can see
// the progress line.
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	return termios(f)
}
