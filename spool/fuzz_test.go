package spool_test

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spool"
)

// FuzzHeader checks the spool's file format from both ends. An entry the
// fuzzer builds is written with Add and must read back the same, through
// Read and List, and again after Update; an Add that fails must leave no
// file. Arbitrary bytes found as a message file must read as an entry of
// that ID whose content is the file's tail, or fail as damaged, the error
// the queue runner moves to quarantine, after which KeepDamaged keeps
// every byte of the file.
func FuzzHeader(f *testing.F) {
	seed := func(raw []byte) {
		f.Add(raw, "20261102T090000.000000-0A1B2C3D4E", "shop1", "orders@shop1.example",
			"a@example.org\nb@example.net", "php-fpm: pool shop1", "relay: 451 4.3.0 try later",
			1001, 0, 1.5, int64(1793610000), uint8(0))
	}
	// A file as Add writes it, for the fuzzer to damage.
	dir := f.TempDir()
	s, err := spool.Open(dir)
	if err != nil {
		f.Fatal(err)
	}
	e := newEntry("shop1", t0)
	e.ID = rawID
	if err := s.Add(e, []byte("Subject: x\r\n\r\nbody\r\n")); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(dir, "queue", rawID))
	if err != nil {
		f.Fatal(err)
	}
	seed(good)
	seed(good[:len(good)-3])
	seed(bytes.Replace(good, []byte(`"size":20`), []byte(`"size":-20`), 1))
	seed(bytes.Replace(good, []byte(rawID), []byte("OTHER"), 1))
	seed([]byte(`{"id":"` + rawID + `","state":"held","size":0}` + "\n"))
	seed([]byte(`{"id":"` + rawID + `","size":0}` + "\n"))
	seed([]byte(`{"id":"` + rawID + `","state":"queued","kind":"other","size":0}` + "\n"))
	seed([]byte(`{"id":"` + rawID + `","received":"not a time","size":0}` + "\n"))
	seed([]byte("null\n"))
	seed([]byte(""))
	seed([]byte("\n"))
	seed([]byte("\x00\xff\xfe"))
	f.Add([]byte("x"), "id\u00e9", "s\xe9", "<a&b>@example.org", "\"quoted local\"@example.org\n\u00fc@example.de",
		"cmd\x01with\x7fcontrols", strings.Repeat("long ", 1000), -1, 7, math.Copysign(0, -1), int64(-62135596800), uint8(0xff))
	f.Add([]byte("x"), "..", "", "", "", "", "", 0, 0, math.Inf(1), int64(253402300799), uint8(1))
	f.Add([]byte("x"), "id\xffnot utf-8", "", "", "", "", "", 0, 0, 0.0, int64(0), uint8(2))

	// One spool for the fuzzing process, emptied after each input: a
	// spool's directories cost more than the checks.
	dir = f.TempDir()
	if s, err = spool.Open(dir); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte, id, site, sender, rcpts, cmd, note string, uid, attempts int, score float64, received int64, flags uint8) {
		roundTrip(t, s, dir, fuzzEntry(id, site, sender, rcpts, cmd, note, uid, attempts, score, received, flags), raw)
		damagedOrRead(t, s, dir, raw)
	})
}

// rawID names the file of arbitrary bytes.
const rawID = "20261102T090000.000000-FUZZFUZZ00"

// fuzzEntry builds an entry with every kind of field the header holds.
func fuzzEntry(id, site, sender, rcpts, cmd, note string, uid, attempts int, score float64, received int64, flags uint8) *spool.Entry {
	lines := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, "\n")
	}
	// Years 1 to 9999: RFC 3339, and so JSON, has no others.
	const first, last = -62135596800, 253402300799
	at := time.Unix(first+int64(uint64(received)%uint64(last-first)), int64(uint64(received)%1e9)).UTC()
	e := &spool.Entry{
		ID: id, Site: site, UID: uid, Sender: sender, Recipients: lines(rcpts),
		Received: at, State: []spool.State{spool.Queued, spool.Held, spool.Undecided, spool.Bounced, spool.Quarantined}[flags%5],
		SMTPUTF8: flags&8 != 0, Spam: flags&16 != 0, Released: flags&32 != 0,
		Score:    spamrun.Score{Value: score},
		Evidence: spamrun.Evidence{Script: note, Cwd: site, Command: lines(cmd), UID: uid},
		Attempts: attempts, LastError: note, Reason: note, Incident: site, DSN: sender, Original: id,
	}
	if flags&64 != 0 {
		e.Kind = spool.KindDSN
		e.Score.Rules = []spamrun.RuleHit{{Name: site, Points: score, Reason: note}}
		e.HoldUntil, e.NextAttempt, e.Until = at, at.Add(time.Minute), at.Add(-time.Hour)
	}
	if flags&128 != 0 {
		e.Evidence.File = &spamrun.ScriptFile{Path: cmd, Size: int64(attempts), ModTime: at, ChangeTime: at, UID: uid}
	}
	return e
}

// roundTrip adds e and reads it back: the same entry, its text as JSON
// keeps it (each byte that is not UTF-8 becomes U+FFFD).
func roundTrip(t *testing.T, s *spool.Spool, dir string, e *spool.Entry, data []byte) {
	err := s.Add(e, data)
	if err != nil {
		if names, _ := os.ReadDir(filepath.Join(dir, "queue")); len(names) > 0 {
			t.Fatalf("Add failed (%v) and left %d files", err, len(names))
		}
		if names, _ := os.ReadDir(filepath.Join(dir, "quarantine")); len(names) > 0 {
			t.Fatalf("Add failed (%v) and left %d files in quarantine", err, len(names))
		}
		return
	}
	want := asJSONKeepsIt(e)
	got, content, err := s.Read(e.ID)
	if err != nil {
		t.Fatalf("Read after Add: %v", err)
	}
	if !reflect.DeepEqual(got, want) || !bytes.Equal(content, data) {
		t.Fatalf("Read after Add:\n got %#v\nwant %#v", got, want)
	}
	list, err := s.List()
	if e.State.Final() {
		list, err = s.Quarantine()
	}
	if err != nil || len(list) != 1 || !reflect.DeepEqual(list[0], want) {
		t.Fatalf("List after Add: %d entries, %v", len(list), err)
	}
	got.Attempts++
	got.LastError += " again"
	got.Size = -1 // the spool's to set
	if err := s.Update(got); err != nil {
		t.Fatalf("Update: %v", err)
	}
	again, content, err := s.Read(e.ID)
	got.Size = want.Size
	if err != nil || !reflect.DeepEqual(again, got) || !bytes.Equal(content, data) {
		t.Fatalf("Read after Update: %v\n got %#v\nwant %#v", err, again, got)
	}
	if err := s.Remove(e.ID); err != nil {
		t.Fatal(err)
	}
}

// asJSONKeepsIt returns e with its text as its header keeps it.
func asJSONKeepsIt(e *spool.Entry) *spool.Entry {
	w := *e
	u := func(s *string) { *s = string([]rune(*s)) }
	for _, s := range []*string{&w.ID, &w.Site, &w.Sender, &w.LastError, &w.Kind, &w.Original, &w.Incident, &w.Reason, &w.DSN,
		&w.Evidence.Script, &w.Evidence.Cwd} {
		u(s)
	}
	w.Recipients = fixAll(e.Recipients)
	w.Evidence.Command = fixAll(e.Evidence.Command)
	if e.Score.Rules != nil {
		w.Score.Rules = []spamrun.RuleHit{e.Score.Rules[0]}
		u(&w.Score.Rules[0].Name)
		u(&w.Score.Rules[0].Reason)
	}
	if e.Evidence.File != nil {
		f := *e.Evidence.File
		u(&f.Path)
		w.Evidence.File = &f
	}
	return &w
}

func fixAll(l []string) []string {
	if l == nil {
		return nil
	}
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = string([]rune(s))
	}
	return out
}

// damagedOrRead finds raw as a message file.
func damagedOrRead(t *testing.T, s *spool.Spool, dir string, raw []byte) {
	if err := os.WriteFile(filepath.Join(dir, "queue", rawID), raw, 0o640); err != nil {
		t.Fatal(err)
	}
	e, content, err := s.Read(rawID)
	list, listErr := s.List()
	if err == nil {
		if e.ID != rawID || int64(len(content)) != e.Size || !bytes.HasSuffix(raw, content) {
			t.Fatalf("Read %s: entry %q with %d bytes of content, %d announced", rawID, e.ID, len(content), e.Size)
		}
		var found *spool.Entry
		for _, l := range list {
			if l.ID == rawID {
				found = l
			}
		}
		if listErr != nil || !reflect.DeepEqual(found, e) {
			t.Fatalf("List does not agree with Read: %v", listErr)
		}
		if err := s.Remove(rawID); err != nil {
			t.Fatal(err)
		}
		return
	}
	var d *spool.DamagedError
	if !errors.As(err, &d) || d.ID != rawID {
		t.Fatalf("Read: %v, not a DamagedError of %s", err, rawID)
	}
	bad, rest := spool.Damaged(listErr)
	if rest != nil || len(bad) != 1 || bad[0].ID != rawID {
		t.Fatalf("List: %v", listErr)
	}
	kept, err := s.KeepDamaged(rawID, t0)
	if err != nil || kept == nil {
		t.Fatalf("KeepDamaged: %v", err)
	}
	got, content, err := s.Read(rawID)
	if err != nil || got.Kind != spool.KindDamaged || !bytes.Equal(content, raw) {
		t.Fatalf("Read after KeepDamaged: %v, %d bytes of %d", err, len(content), len(raw))
	}
	if err := s.Remove(rawID); err != nil {
		t.Fatal(err)
	}
}
