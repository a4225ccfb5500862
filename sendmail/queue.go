package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spamrun/spamrun"
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

// flushQueue is sendmail -q: one pass that decides undecided messages and
// relays what is due. Nothing of a disabled site is relayed, and nothing
// at all while the state store cannot say which sites are disabled.
func (m *mailer) flushQueue(stderr io.Writer) int {
	if m.det == nil {
		fmt.Fprintln(stderr, "sendmail: the state store is unavailable; the queue stays as it is")
		return exTempFail
	}
	entries, err := m.spool.List()
	if err != nil {
		fmt.Fprintf(stderr, "sendmail: %v\n", err)
	}
	ctx := context.Background()
	failed := false
	for _, e := range entries {
		if !m.visible(e) {
			continue
		}
		if err := m.pass(ctx, e.ID); err != nil && !errors.Is(err, spool.ErrLocked) && !errors.Is(err, spool.ErrNotFound) {
			fmt.Fprintf(stderr, "sendmail: %s: %v\n", e.ID, err)
			failed = true
		}
	}
	if failed {
		return exTempFail
	}
	return exOK
}

// pass works on one message under its lock.
func (m *mailer) pass(ctx context.Context, id string) error {
	unlock, err := m.spool.Lock(id)
	if err != nil {
		return err
	}
	defer unlock()
	e, data, err := m.spool.Read(id)
	if err != nil {
		return err
	}
	now := m.sys.now()
	inc, err := m.det.Disabled(ctx, e.Site)
	if err != nil {
		return err
	}
	if inc != nil {
		return nil // disabled: its messages are the queue runner's to bounce
	}
	if e.State == spool.Undecided {
		action, err := m.decide(ctx, e, data)
		if err != nil || action == spamrun.Refuse {
			return err
		}
	}
	if !e.Due(now) {
		return nil
	}
	action, err := m.relayEntry(ctx, e, data)
	m.logf("site=%s id=%s action=%s", e.Site, e.ID, action)
	return err
}

// decide makes the decision a submission could not make because the store
// was down, at the time the message was received, and records it.
func (m *mailer) decide(ctx context.Context, e *spool.Entry, data []byte) (spamrun.Action, error) {
	msg, err := spamrun.ParseMessage(data, e.Sender, e.Recipients)
	if err != nil {
		return 0, err
	}
	msg.Evidence = e.Evidence
	v, err := m.det.CheckAt(ctx, e.Site, msg, e.Received)
	if err != nil {
		return 0, err
	}
	e.Score, e.Spam = v.Score, v.Spam
	m.recordScript(ctx, e)
	switch v.Action {
	case spamrun.Deliver:
		e.State = spool.Queued
	case spamrun.Hold:
		e.State, e.HoldUntil = spool.Held, v.HoldUntil
	case spamrun.Refuse:
		// The site tripped, perhaps on this very message: it is held for
		// the queue runner, which bounces a disabled site's queue, and
		// never relayed.
		e.State = spool.Held
	}
	m.logf("site=%s id=%s decided score=%.1f action=%s", e.Site, e.ID, v.Score.Value, v.Action)
	return v.Action, m.spool.Update(e)
}
