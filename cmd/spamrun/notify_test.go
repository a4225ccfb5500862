package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jhillyerd/enmime/v2"

	"github.com/spamrun/spamrun/spamruntest"
)

// The notices of a trip show in the queue and go at the next run, and
// spamrun enable tells the site's owner and the operator at once.
func TestNotices(t *testing.T) {
	t.Parallel()
	in := newInstall(t)
	cfg, err := os.ReadFile(in.config)
	if err != nil {
		t.Fatal(err)
	}
	file := strings.Replace(string(cfg), "domains = [\"shop1.example\"]\n", "domains = [\"shop1.example\"]\ncontact = [\"owner@shop1.example\"]\nlanguage = \"nl\"\n", 1)
	in.write(file + "\n[notify]\noperator = [\"ops@example.net\"]\n")
	h := in.open()
	base := in.now().Add(-10 * time.Minute)
	for i := range testMaxSpam + 1 {
		in.submit(h, "shop1", os.Getuid(), spamruntest.GuestbookSpam("shop1.example", i), "noreply@shop1.example",
			[]string{fmt.Sprintf("victim%d@example.com", i)}, base.Add(time.Duration(i)*time.Second))
	}
	ctx := context.Background()
	inc, err := h.Detector.Disabled(ctx, "shop1")
	if err != nil || inc == nil {
		t.Fatalf("shop1 not disabled: %v", err)
	}
	// What the process that tripped the site does.
	if _, err := h.Queue.Tripped(ctx, "shop1", inc); err != nil {
		t.Fatal(err)
	}

	list := in.mustRun("queue", "list")
	t.Logf("spamrun queue list:\n%s", list)
	for _, role := range []string{"site", "operator"} {
		l := lineOf(t, list, inc.ID+"-notice-"+role)
		if !strings.Contains(l, " notice ") || !strings.Contains(l, "notice of incident "+inc.ID) || !strings.Contains(l, "<>") {
			t.Errorf("notice row: %s", l)
		}
	}
	if l := lineOf(t, in.mustRun("status"), "shop1"); !strings.Contains(l, "disabled") {
		t.Errorf("status row: %s", l)
	}
	if out := in.mustRun("queue", "run", "--once"); !strings.Contains(out, "relayed") {
		t.Errorf("queue run --once: %s", out)
	}
	if out := in.mustRun("enable", "shop1"); !strings.Contains(out, "site shop1 enabled") {
		t.Errorf("enable: %s", out)
	}

	subjects := make(map[string][]string)
	for _, m := range in.sink.Messages() {
		if m.From != "" || !bytes.Contains(m.Data, []byte("X-Spamrun-Incident: "+inc.ID)) {
			continue
		}
		env, err := enmime.ReadEnvelope(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		subjects[m.To[0]] = append(subjects[m.To[0]], env.GetHeader("Subject"))
	}
	want := map[string][]string{
		"owner@shop1.example": {"De e-mail van uw website shop1 is stopgezet", "De e-mail van uw website shop1 staat weer aan"},
		"ops@example.net":     {"[spamrun] site shop1 disabled for a spam run (4 > 3 in 1h)", "[spamrun] site shop1 re-enabled"},
	}
	for rcpt, w := range want {
		if strings.Join(subjects[rcpt], "|") != strings.Join(w, "|") {
			t.Errorf("%s got %q, want %q", rcpt, subjects[rcpt], w)
		}
	}
}
