package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spamrun/spamrun/spool"
)

// visible reports whether the caller may see and work on e: root sees the
// whole queue, a site only its own messages.
func (m *mailer) visible(e *spool.Entry) bool {
	return m.sys.uid == 0 || e.UID == m.sys.uid
}

// listQueue is sendmail -bp and mailq, in Postfix's layout.
func (m *mailer) listQueue(stdout, stderr io.Writer) int {
	entries, err := m.spool.List()
	if _, rest := spool.Damaged(err); m.sys.uid != 0 {
		// A damaged file belongs to no known site: root is told of it.
		err = rest
	}
	if err != nil {
		fmt.Fprintf(stderr, "sendmail: %v\n", err)
	}
	var shown []*spool.Entry
	for _, e := range entries {
		if m.visible(e) {
			shown = append(shown, e)
		}
	}
	if len(shown) == 0 {
		fmt.Fprintln(stdout, "Mail queue is empty")
		return exOK
	}
	fmt.Fprintf(stdout, "%-32s %8s %-20s %s\n", "-Queue ID-", "--Size--", "----Arrival Time----", "-Sender/Recipient-------")
	var total int64
	for _, e := range shown {
		total += e.Size
		sender := e.Sender
		if sender == "" {
			sender = "MAILER-DAEMON"
		}
		fmt.Fprintf(stdout, "%-32s %8d %-20s %s\n", e.ID, e.Size, e.Received.Local().Format("Mon Jan _2 15:04:05"), sender)
		switch {
		case e.State == spool.Held:
			fmt.Fprintf(stdout, "%64s(held until %s: spam-marked, score %.1f)\n", "", e.HoldUntil.Local().Format("15:04:05"), e.Score.Value)
		case e.State == spool.Undecided:
			fmt.Fprintf(stdout, "%64s(waiting for a decision: the state store was unavailable)\n", "")
		case e.LastError != "":
			fmt.Fprintf(stdout, "%64s(%s)\n", "", e.LastError)
		}
		for _, r := range e.Recipients {
			fmt.Fprintf(stdout, "%64s%s\n", "", r)
		}
		fmt.Fprintln(stdout)
	}
	fmt.Fprintf(stdout, "-- %d Kbytes in %d Request%s.\n", (total+1023)/1024, len(shown), plural(len(shown)))
	return exOK
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// flushQueue is sendmail -q: one pass of the queue runner over the
// caller's messages (root: all of them). Nothing of a disabled site is
// relayed, and nothing but DSNs while the state store cannot say which
// sites are disabled.
func (m *mailer) flushQueue(stderr io.Writer) int {
	q := m.host.Queue
	q.Filter = m.visible
	_, err := q.Pass(context.Background())
	if err != nil {
		fmt.Fprintf(stderr, "sendmail: %v\n", err)
	}
	if m.host.Detector == nil {
		fmt.Fprintln(stderr, "sendmail: the state store is unavailable; the queue stays as it is")
		return exTempFail
	}
	if err != nil {
		return exTempFail
	}
	return exOK
}
