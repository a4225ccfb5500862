package spamruntest

import (
	"embed"
	"slices"
	"strings"
	"testing"

	"github.com/spamrun/spamrun"
)

// The samples are hosting mail as PHP sites send it: order confirmations,
// password resets, form notifications and cron output, and the spam that
// abused forms and uploaded mailer scripts send. They are written for this
// package; every domain is a reserved example domain.
//
//go:embed samples/*.eml
var sampleFS embed.FS

// Sample is one canned message.
type Sample struct {
	Name string // file name without .eml, e.g. "ham-order-woocommerce"
	Spam bool   // the name starts with "spam-"
	Raw  []byte
}

var samples = func() []Sample {
	entries, err := sampleFS.ReadDir("samples")
	if err != nil {
		panic("spamruntest: " + err.Error())
	}
	var list []Sample
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".eml")
		if !ok {
			continue
		}
		raw, err := sampleFS.ReadFile("samples/" + e.Name())
		if err != nil {
			panic("spamruntest: " + err.Error())
		}
		list = append(list, Sample{Name: name, Spam: strings.HasPrefix(name, "spam-"), Raw: raw})
	}
	slices.SortFunc(list, func(a, b Sample) int { return strings.Compare(a.Name, b.Name) })
	return list
}()

// Samples returns every sample, sorted by name. The Raw slices are shared;
// do not modify them.
func Samples() []Sample { return slices.Clone(samples) }

// HamSamples returns the legitimate samples, sorted by name.
func HamSamples() []Sample { return filterSamples(false) }

// SpamSamples returns the spam samples, sorted by name.
func SpamSamples() []Sample { return filterSamples(true) }

func filterSamples(spam bool) []Sample {
	var list []Sample
	for _, s := range samples {
		if s.Spam == spam {
			list = append(list, s)
		}
	}
	return list
}

// Message parses the sample with spamrun.ParseMessage, with the envelope a
// sendmail -t would use: the sender from Return-Path, else From; the
// recipients from To, Cc and Bcc; the site's domain, SiteDomains, is the
// sender's. It stops the test if the envelope is not valid.
func (s Sample) Message(tb testing.TB) *spamrun.Message {
	tb.Helper()
	m, err := ParseSample(s.Raw)
	if err != nil {
		tb.Fatalf("sample %s: %v", s.Name, err)
	}
	return m
}

// ParseSample parses raw as Sample.Message does, returning what is wrong
// instead of stopping the test. A generated message is parsed the same
// way: Sample{Raw: raw}.Message(tb).
func ParseSample(raw []byte) (*spamrun.Message, error) {
	// The header is parsed by ParseMessage itself; the envelope is read
	// from it afterwards, then checked as sendmail would check it.
	m, err := spamrun.ParseMessage(raw, "", nil)
	if err != nil {
		return nil, err
	}
	sender := strings.Trim(strings.TrimSpace(m.Header("Return-Path")), "<>")
	if sender == "" {
		if from := headerAddresses(m, "From"); len(from) > 0 {
			sender = from[0]
		}
	}
	if m.Sender, err = spamrun.ParseAddress(sender); err != nil {
		return nil, err
	}
	// A sample is the mail of the site that owns its sender's domain.
	if d := spamrun.Domain(m.Sender); d != "" {
		m.SiteDomains = []string{d}
	}
	m.Recipients = nil
	for _, field := range []string{"To", "Cc", "Bcc"} {
		for _, a := range headerAddresses(m, field) {
			r, err := spamrun.ParseAddress(a)
			if err != nil {
				return nil, err
			}
			if r != "" {
				m.Recipients = append(m.Recipients, r)
			}
		}
	}
	return m, nil
}

// headerAddresses returns the addresses of an address field. Cron and other
// local programs write unqualified ones ("root (Cron Daemon)", "site5")
// that net/mail refuses but sendmail accepts; those are read plainly: the
// part in angle brackets, or the field without its comments.
func headerAddresses(m *spamrun.Message, field string) []string {
	var list []string
	if parsed := m.Addresses(field); len(parsed) > 0 {
		for _, a := range parsed {
			list = append(list, a.Address)
		}
		return list
	}
	for part := range strings.SplitSeq(m.Header(field), ",") {
		if lt := strings.IndexByte(part, '<'); lt >= 0 {
			part = part[lt+1:]
			if gt := strings.IndexByte(part, '>'); gt >= 0 {
				part = part[:gt]
			}
		} else if open := strings.IndexByte(part, '('); open >= 0 {
			part = part[:open]
		}
		if part = strings.TrimSpace(part); part != "" {
			list = append(list, part)
		}
	}
	return list
}
