package spamrun

import (
	"hash/fnv"
	"slices"
	"strings"
	"unicode"
)

// The fingerprint of a message is what an incident keeps of its content:
// enough to see that a run's messages share a form's fixed text, or that
// each one is different, without keeping the text itself.

// TextLines hashes each distinct line of text after normalising away what
// a form fills in per message: letters are lower-cased, links become
// "<url>", addresses "<email>", runs of digits "0", and white space is
// collapsed. Lines without a letter are skipped. It returns at most
// MaxEventLines hashes, in order of first appearance.
//
// Two messages of one form template share the hashes of the template's
// fixed lines, whatever names, links or text an abuser put into the
// fields.
func TextLines(text string) []uint32 {
	var out []uint32
	var b strings.Builder
	for line := range strings.Lines(text) {
		b.Reset()
		if !normaliseLine(&b, line) {
			continue
		}
		h := fnv.New32a()
		h.Write([]byte(b.String()))
		sum := h.Sum32()
		if !slices.Contains(out, sum) {
			out = append(out, sum)
			if len(out) == MaxEventLines {
				break
			}
		}
	}
	return out
}

// normaliseLine writes the normal form of line to b and reports whether
// the line has a letter.
func normaliseLine(b *strings.Builder, line string) bool {
	letter := false
	for _, word := range strings.Fields(line) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		lw := strings.ToLower(word)
		switch {
		case strings.Contains(lw, "://") || strings.HasPrefix(lw, "www."):
			b.WriteString("<url>")
			continue
		case strings.Contains(lw, "@") && strings.Contains(lw[strings.IndexByte(lw, '@'):], "."):
			b.WriteString("<email>")
			continue
		}
		digits := false
		for _, r := range lw {
			if unicode.IsDigit(r) {
				if !digits {
					b.WriteByte('0')
				}
				digits = true
				continue
			}
			digits = false
			if unicode.IsLetter(r) {
				letter = true
			}
			b.WriteRune(r)
		}
	}
	return letter
}

// LinkHosts returns the hosts of the links in a message's text and HTML,
// distinct, in order of appearance, at most MaxEventLinks.
func LinkHosts(msg *Message) []string {
	var hosts []string
	for _, s := range []string{msg.Text, msg.HTML} {
		for len(s) > 0 && len(hosts) < MaxEventLinks {
			i, skip := nextLink(s)
			if i < 0 {
				break
			}
			s = s[i+skip:]
			end := strings.IndexFunc(s, func(r rune) bool {
				return unicode.IsSpace(r) || strings.ContainsRune("\"'<>()[]{}", r)
			})
			if end < 0 {
				end = len(s)
			}
			host, _ := parseHost(strings.TrimRight(s[:end], ".,;:!?*"))
			host = strings.TrimRight(host, ".")
			if host != "" && strings.Contains(host, ".") && !slices.Contains(hosts, host) {
				hosts = append(hosts, host)
			}
			s = s[end:]
		}
	}
	return hosts
}

// nextLink finds the next "http://", "https://" or "www." in s, case
// insensitively, and returns its index and the length of the scheme to
// skip to reach the host.
func nextLink(s string) (int, int) {
	low := strings.ToLower(s)
	best, skip := -1, 0
	for _, p := range []struct {
		prefix string
		skip   int
	}{{"https://", 8}, {"http://", 7}, {"www.", 0}} {
		if i := strings.Index(low, p.prefix); i >= 0 && (best < 0 || i < best) {
			best, skip = i, p.skip
		}
	}
	return best, skip
}

// RecipientDomains returns the domains of recipients, lower-cased,
// distinct, in order, at most max.
func RecipientDomains(recipients []string, max int) []string {
	var out []string
	for _, r := range recipients {
		d := strings.ToLower(Domain(r))
		if d != "" && !slices.Contains(out, d) {
			if len(out) == max {
				break
			}
			out = append(out, d)
		}
	}
	return out
}
