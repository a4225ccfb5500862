package spamrun

import (
	"strings"
)

// A blog that is flooded with comment spam mails its owner about every
// comment held for moderation, and WordPress quotes the comment, with its
// author's name, address and link, in the notice. Scored as it stands, the
// notice is casino and pharmacy spam, and a hundred spam comments in an
// hour would disable the very site that is fending them off.
//
// commentNotice recognises such a notice and returns its text without the
// visitor's part, so that the rules and the model score what the site
// wrote and not what it quotes. It recognises a notice only when all of
// these hold, which is how WordPress sends one and not how a spam run can
// use it:
//
//   - one envelope recipient: WordPress writes to the owner, not to a list;
//   - a text-only message, as wp_notify_moderator and wp_notify_postauthor
//     send it;
//   - after the quoted part, links into the site's own /wp-admin/ (approve,
//     trash, spam, the moderation panel) on one of the site's domains,
//     Message.SiteDomains: the From and sender domains are the sender's
//     choice, and a spam run can make up a notice with admin links on a
//     domain it chose. A message without SiteDomains is no notice;
//   - the quoted part starts at a line "Author:" (or its translation) and
//     is at most maxQuotedLines long.
//
// The links of the quoted part are not scored either; a notice that links
// anywhere else outside it is not recognised.
func commentNotice(m *Message) (string, bool) {
	// Most messages have one recipient and no HTML; only a notice links
	// into /wp-admin/, which is cheap to look for before splitting lines.
	if len(m.Recipients) != 1 || m.HTML != "" || len(m.Attachments) > 0 || len(m.SiteDomains) == 0 || !strings.Contains(m.Text, "/wp-admin/") {
		return "", false
	}
	own := siteDomains(m.SiteDomains)
	lines := strings.SplitAfter(m.Text, "\n")
	start, end := -1, -1
	for i, line := range lines {
		l := strings.TrimSpace(line)
		switch {
		case start < 0 && isAuthorLabel(l):
			start = i
		case start >= 0 && end < 0 && adminLink(l, own):
			end = i
		}
	}
	if start < 0 || end < 0 || end-start > maxQuotedLines {
		return "", false
	}
	// Before the quote: the notice's first lines and the post's link. After:
	// only lines with admin links or no link at all.
	for i, line := range lines {
		if i >= start && i < end {
			continue
		}
		if strings.Contains(line, "://") && !ownLinkLine(line, own) {
			return "", false
		}
	}
	return strings.Join(lines[:start], "") + strings.Join(lines[end:], ""), true
}

// maxQuotedLines bounds the quoted part: WordPress shows author, address,
// URL and the comment, which a visitor can make long, but not endless.
const maxQuotedLines = 200

// authorLabels are "Author:" in the languages WordPress's notices come in
// most often on the hosts this scorer knows.
var authorLabels = []string{"author:", "autor:", "auteur:", "autore:", "auteur :", "автор:"}

func isAuthorLabel(line string) bool {
	l := strings.ToLower(line)
	for _, a := range authorLabels {
		if strings.HasPrefix(l, a) {
			return true
		}
	}
	return false
}

// siteDomains are the domains a site owns.
type siteDomains []string

// has reports whether host is one of the domains or under one of them.
func (s siteDomains) has(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" {
		return false
	}
	for _, d := range s {
		d = strings.TrimSuffix(strings.ToLower(d), ".")
		if d != "" && (host == d || strings.HasSuffix(host, "."+d)) {
			return true
		}
	}
	return false
}

// adminLink reports whether line links into the own site's WordPress
// admin.
func adminLink(line string, own siteDomains) bool {
	i := strings.Index(line, "://")
	if i < 0 || !strings.Contains(line[i:], "/wp-admin/") {
		return false
	}
	return ownLinkLine(line, own)
}

// ownLinkLine reports whether every link in line goes to one of the
// site's domains.
func ownLinkLine(line string, own siteDomains) bool {
	for rest := line; ; {
		i := strings.Index(rest, "://")
		if i < 0 {
			return true
		}
		rest = rest[i+3:]
		if host, _ := parseHost(rest); !own.has(host) {
			return false
		}
	}
}
