package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestDemo runs the demo and checks the story it tells: the run trips the
// shop at the eleventh spam-marked message, nothing spam-marked reaches the
// relay, every message is accounted for, the forged sender gets no bounce,
// and the other site is untouched.
func TestDemo(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	text := out.String()
	for _, want := range []string{
		"shop1 TRIPS: 11 spam-marked messages within 1h0m0s (max 10)",
		"kept held: sender <victim@elsewhere.example> is not shop1's own",
		"spam-marked messages that reached the relay: 0",
		"11 of the spam came from 1008:guestbook.php",
		"blog2: enabled",
		"Content-Type: multipart/report; report-type=delivery-status",
		"Status: 5.7.1",
		"https://support.example.net/spam-run",
		"Content-Type: text/rfc822-headers",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(text, "guestbook entry               9.2  deliver") || strings.Contains(text, "released after hold") {
		t.Error("spam was relayed")
	}
	rows := map[string][6]int{}
	for _, line := range strings.Split(text, "\n") {
		var site string
		var n [6]int
		if c, _ := fmt.Sscanf(line, "%s %d %d %d %d %d %d", &site, &n[0], &n[1], &n[2], &n[3], &n[4], &n[5]); c == 7 {
			rows[site] = n
		}
	}
	// submitted, delivered, held, bounced, refused, kept held
	if got, want := rows["shop1"], [6]int{27, 5, 0, 9, 12, 1}; got != want {
		t.Errorf("shop1 accounting %v, want %v", got, want)
	}
	if got, want := rows["blog2"], [6]int{4, 4, 0, 0, 0, 0}; got != want {
		t.Errorf("blog2 accounting %v, want %v", got, want)
	}
	for site, n := range rows {
		if n[0] != n[1]+n[2]+n[3]+n[4]+n[5] {
			t.Errorf("%s: %d submitted, but %d accounted for", site, n[0], n[1]+n[2]+n[3]+n[4]+n[5])
		}
	}
}
