package main

import (
	"fmt"
	"testing"
)

// TestSendmailCommentNotice sends a WordPress moderation notice that
// quotes a spam comment through sendmail: with its admin links on the
// site's configured domain it is the site's own notice and is relayed;
// the same notice from and linking to a domain the sender chose is the
// spam it quotes, and is held.
func TestSendmailCommentNotice(t *testing.T) {
	const notice = "To: owner@shop1.example\n" +
		"Subject: [Shop One] Please moderate: \"Week one\"\n" +
		"From: WordPress <wordpress@%[1]s>\n" +
		"Content-Type: text/plain; charset=UTF-8\n\n" +
		"A new comment on the post \"Week one\" is waiting for your approval\n" +
		"https://%[1]s/2026/week-one/\n\n" +
		"Author: Best Casino (IP address: 192.0.2.1)\n" +
		"Email: promo@example.net\n" +
		"URL: https://casino-bonus.top\n" +
		"Comment: \n" +
		"200 free spins, online casino bonus, cheap viagra and cialis online, crypto trading profits https://casino-bonus.top/x https://bit.ly/abc\n\n" +
		"Approve it: https://%[1]s/wp-admin/comment.php?action=approve&c=4\n" +
		"Spam it: https://%[1]s/wp-admin/comment.php?action=spam&c=4\n"
	for _, tt := range []struct {
		name            string
		domain          string
		relayed, queued int
	}{
		{"admin links on the site's domain", "shop1.example", 1, 0},
		{"admin links on the sender's chosen domain", "casino-bonus.top", 0, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "")
			r := e.run(fmt.Sprintf(notice, tt.domain), "-t", "-i", "-fwordpress@"+tt.domain)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			if n := len(e.sink.Messages()); n != tt.relayed {
				t.Errorf("%d relayed, want %d", n, tt.relayed)
			}
			if n := len(e.queue()); n != tt.queued {
				t.Errorf("%d held in the queue, want %d", n, tt.queued)
			}
		})
	}
}
