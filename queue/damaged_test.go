package queue_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun/queue"
	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

// damage writes raw as the file of message id in the spool's directory
// box, as a disk error or a hand would leave it.
func (v *env) damage(box, id string, raw []byte) {
	v.t.Helper()
	if err := os.WriteFile(filepath.Join(v.spool.Dir(), box, id), raw, 0o640); err != nil {
		v.t.Fatal(err)
	}
}

// TestPassKeepsDamagedFiles: files in the queue and in quarantine that
// cannot be read are moved into quarantine whole, counted and logged, and
// the pass relays the rest and reports no error, even when it works on
// one site's mail only (sendmail -q run by a site's user). A damaged
// message is not released, is purged, and expires like other quarantine.
func TestPassKeepsDamagedFiles(t *testing.T) {
	v := newEnv(t, policy())
	good, _ := v.submit("shop1", "shop@shop1.example", victim(1), ham("shop1", 1))
	noNewline := []byte(`{"id":"` + v.nextID(v.clock.Now()) + `","site":"shop1","recipients":["a@example.org"`)
	badJSON := []byte("{\"id\":\n" + string(ham("shop1", 2)))
	cut := v.add(&spool.Entry{Site: "blog2", Sender: "blog@blog2.example", Recipients: victim(3), State: spool.Queued}, ham("blog2", 3))
	raw, err := os.ReadFile(filepath.Join(v.spool.Dir(), "queue", cut.ID))
	if err != nil {
		t.Fatal(err)
	}
	damaged := map[string][]byte{
		"NONEWLINE":                        noNewline,
		v.nextID(v.clock.Now()):            badJSON,
		cut.ID:                             raw[:len(raw)-100], // cut short by a full disk
		"20261101T000000.000000-INQUARANT": []byte("\x00\x01 not a spool file"),
	}
	for id, raw := range damaged {
		box := "queue"
		if strings.HasSuffix(id, "INQUARANT") {
			box = "quarantine"
		}
		v.damage(box, id, raw)
	}

	sink := spamruntest.NewSMTPSink(t)
	r := v.runner(smtpRelay(sink))
	var log bytes.Buffer
	r.Logf = func(format string, args ...any) { fmt.Fprintf(&log, format+"\n", args...) }
	r.Filter = func(e *spool.Entry) bool { return e.Site == "shop1" }
	s := v.pass(r)
	wantCounts(t, "pass", s, "relayed=1 deferred=0 decided=0 bounced=0 quarantined=0 expired=0 failed=0")
	if s.Damaged != len(damaged) {
		t.Errorf("Damaged = %d, want %d", s.Damaged, len(damaged))
	}
	if len(sink.Messages()) != 1 || v.in(good.ID) != "" {
		t.Errorf("the good message is not relayed: %d at the sink, in %q", len(sink.Messages()), v.in(good.ID))
	}
	q := v.quarantined()
	for id, raw := range damaged {
		e := q[id]
		if e == nil || v.in(id) != "quarantine" {
			t.Errorf("%s: not in quarantine (%q)", id, v.in(id))
			continue
		}
		_, content, err := v.spool.Read(id)
		if err != nil || !bytes.Equal(content, raw) {
			t.Errorf("%s: content is not the file as found: %v", id, err)
		}
		if e.Kind != spool.KindDamaged || e.State != spool.Quarantined || !strings.HasPrefix(e.Reason, "damaged spool file: ") ||
			!e.Until.Equal(v.clock.Now().Add(queue.DefaultQuarantineFor)) {
			t.Errorf("%s: entry %+v", id, e)
		}
		if !strings.Contains(log.String(), "id="+id+" ") {
			t.Errorf("%s: not logged", id)
		}
	}
	if !strings.Contains(q[cut.ID].Reason, "content") {
		t.Errorf("reason for the cut file: %q", q[cut.ID].Reason)
	}

	// Another pass finds nothing to do.
	if s := v.pass(r); s.Damaged != 0 || s.Relayed != 0 {
		t.Errorf("second pass: damaged %d, %s", s.Damaged, counts(s))
	}
	_, err = r.Release("NONEWLINE")
	if err == nil || !strings.Contains(err.Error(), "damaged") || !strings.Contains(err.Error(), "envelope is unknown") {
		t.Errorf("Release of a damaged message: %v", err)
	}
	if v.in("NONEWLINE") != "quarantine" {
		t.Errorf("refused release moved the message: %q", v.in("NONEWLINE"))
	}
	if e, err := r.Purge("NONEWLINE"); err != nil || e.Kind != spool.KindDamaged || v.in("NONEWLINE") != "" {
		t.Errorf("Purge: %v, in %q", err, v.in("NONEWLINE"))
	}

	// Expiry is the root runner's: a site's user does not delete what
	// belongs to no site.
	v.clock.Advance(queue.DefaultQuarantineFor + time.Minute)
	if s := v.pass(r); s.Expired != 0 {
		t.Errorf("a site's pass deleted %d damaged files", s.Expired)
	}
	r.Filter = nil
	if s := v.pass(r); s.Expired != len(damaged)-1 {
		t.Errorf("expired %d, want %d", s.Expired, len(damaged)-1)
	}
	if q := v.quarantined(); len(q) != 0 {
		t.Errorf("quarantine after expiry: %d messages", len(q))
	}
}

// TestBounceSiteIgnoresDamagedFiles: a site that trips while a damaged
// file is in the queue has its queue bounced without an error; the file
// is the pass's to move.
func TestBounceSiteIgnoresDamagedFiles(t *testing.T) {
	v := newEnv(t, policy())
	e, _ := v.submit("shop1", "shop@shop1.example", victim(1), spam("shop1", 1))
	v.damage("queue", "BROKEN", []byte("not a header\n"))
	v.damage("quarantine", "BROKEN2", []byte("not a header either\n"))
	inc := v.trip("shop1")
	r := v.runner(smtpRelay(spamruntest.NewSMTPSink(t)))
	s, err := r.BounceSite(v.ctx, "shop1", inc)
	if err != nil || s.Bounced != 1 || v.in(e.ID) != "quarantine" {
		t.Errorf("BounceSite: %s, %v; message in %q", counts(s), err, v.in(e.ID))
	}
	if v.in("BROKEN") != "queue" {
		t.Errorf("BounceSite moved the damaged file: %q", v.in("BROKEN"))
	}
	if _, err := r.Release("BROKEN"); !errors.Is(err, spool.ErrDamaged) {
		t.Errorf("Release of a damaged file still in the queue: %v", err)
	}
}
