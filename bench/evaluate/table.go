package main

import (
	"fmt"
	"strings"
	"time"
)

// counts is what one scorer made of one group.
type counts struct {
	Messages int // in the group (or its sample)
	Marked   int // scored 5 or more
	Errors   int // not scored: the scorer failed
}

// scored is the number of messages the scorer gave a verdict on; the
// rates are shares of it, so that a daemon's timeouts are not counted as
// ham.
func (c counts) scored() int { return c.Messages - c.Errors }

// rate is the share of the scored messages that were marked: recall for a
// spam group, the false-positive rate for a ham group. ok is false when
// nothing was scored.
func (c counts) rate() (r float64, ok bool) {
	if c.scored() == 0 {
		return 0, false
	}
	return float64(c.Marked) / float64(c.scored()), true
}

// precision is the share of spam among the messages marked spam, when
// spam is mixed with all the held-out ham, as a filter sees it: the spam
// group's marked messages against those plus every ham group's false
// positives. ok is false when nothing was marked.
func precision(spam counts, ham []counts) (p float64, ok bool) {
	marked := spam.Marked
	for _, h := range ham {
		marked += h.Marked
	}
	if marked == 0 {
		return 0, false
	}
	return float64(spam.Marked) / float64(marked), true
}

// row is one scorer's result on one group.
type row struct {
	scorer, threshold, group string
	spam                     bool
	counts
	elapsed  time.Duration
	firstErr error
}

// perSecond is the row's throughput, on the wall clock.
func (r row) perSecond() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.Messages) / r.elapsed.Seconds()
}

// formatTable returns rows as a Markdown table, in their order. A spam
// group's precision counts the ham rows of the same scorer.
func formatTable(rows []row) string {
	var b strings.Builder
	b.WriteString("| scorer | threshold | group | messages | spam-marked | precision | recall | FP rate | errors | messages/s |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		prec, recall, fpRate := "", "", ""
		if r.spam {
			var ham []counts
			for _, h := range rows {
				if h.scorer == r.scorer && !h.spam {
					ham = append(ham, h.counts)
				}
			}
			if p, ok := precision(r.counts, ham); ok {
				prec = fmt.Sprintf("%.4f", p)
			}
			if v, ok := r.rate(); ok {
				recall = fmt.Sprintf("%.4f", v)
			}
		} else if v, ok := r.rate(); ok {
			fpRate = fmt.Sprintf("%.2f %%", 100*v)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | %s | %s | %s | %d | %s |\n",
			r.scorer, r.threshold, r.group, r.Messages, r.Marked, prec, recall, fpRate, r.Errors, formatRate(r.perSecond()))
	}
	return b.String()
}

// formatRate gives whole numbers from 100 up, where the builtin scorer
// is, and a decimal or two below, where the daemons may be.
func formatRate(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
