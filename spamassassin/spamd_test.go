package spamassassin

import (
	"bytes"
	"context"
	"math"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/internal/filterd"
	"github.com/spamrun/spamrun/spamruntest"
)

// One spamd serves the whole package: it takes a second or more to load
// its rules, and a second per test would make the suite slow enough that
// people skip it.
var daemon struct {
	once  sync.Once
	spamd *filterd.Spamd
	err   error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if daemon.spamd != nil {
		daemon.spamd.Close()
	}
	os.Exit(code)
}

// needSpamd returns the address of the package's spamd, starting it on
// first use.
func needSpamd(t *testing.T) string {
	t.Helper()
	path := spamruntest.NeedCommand(t, "spamd", "spamd")
	daemon.once.Do(func() {
		daemon.spamd, daemon.err = filterd.StartSpamd(context.Background(), &filterd.SpamdOptions{Path: path})
	})
	if daemon.err != nil {
		t.Fatalf("starting spamd: %v", daemon.err)
	}
	return daemon.spamd.Addr
}

func sample(t *testing.T, name string) spamruntest.Sample {
	t.Helper()
	for _, s := range spamruntest.Samples() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no sample %q", name)
	return spamruntest.Sample{}
}

func checkSum(t *testing.T, sc spamrun.Score) {
	t.Helper()
	var sum float64
	for _, r := range sc.Rules {
		sum += r.Points
	}
	if math.Abs(sum-sc.Value) > 1e-9 {
		t.Errorf("rules add up to %v, Value is %v: %+v", sum, sc.Value, sc.Rules)
	}
}

func TestSpamdGTUBE(t *testing.T) {
	addr := needSpamd(t)
	s := &Scorer{Addr: addr}
	sc, err := s.Score(context.Background(), sample(t, "spam-gtube").Message(t))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Value < 1000 {
		t.Errorf("GTUBE scored %v, want >= 1000", sc.Value)
	}
	if !sc.Has("GTUBE") {
		t.Errorf("no GTUBE rule in %+v", sc.Rules)
	}
	for _, r := range sc.Rules {
		if r.Name == "GTUBE" && (r.Points < 1000 || r.Reason == "") {
			t.Errorf("GTUBE hit = %+v, want 1000 points and a reason", r)
		}
	}
	if sc.Has(RuleTruncated) {
		t.Errorf("small message marked truncated")
	}
	checkSum(t, sc)
}

func TestSpamdHam(t *testing.T) {
	addr := needSpamd(t)
	s := &Scorer{Addr: addr}
	for _, smp := range spamruntest.HamSamples() {
		sc, err := s.Score(context.Background(), smp.Message(t))
		if err != nil {
			t.Fatalf("%s: %v", smp.Name, err)
		}
		if sc.Value >= 5 {
			t.Errorf("%s: ham scored %v: %+v", smp.Name, sc.Value, sc.Rules)
		}
		checkSum(t, sc)
	}
}

func TestSpamdRulesHavePoints(t *testing.T) {
	addr := needSpamd(t)
	s := &Scorer{Addr: addr, User: "nobody"}
	sc, err := s.Score(context.Background(), sample(t, "spam-tell-a-friend-pharma").Message(t))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Value < 5 {
		t.Errorf("pharma spam scored %v: %+v", sc.Value, sc.Rules)
	}
	withPoints := 0
	for _, r := range sc.Rules {
		if r.Name == "" || r.Reason == "" {
			t.Errorf("rule without name or reason: %+v", r)
		}
		if r.Points != 0 {
			withPoints++
		}
	}
	if withPoints < 2 {
		t.Errorf("want several rules with points, got %+v", sc.Rules)
	}
	checkSum(t, sc)
}

// Truncation must keep the header and still find what is at the top.
func TestSpamdTruncated(t *testing.T) {
	addr := needSpamd(t)
	raw := append([]byte(nil), sample(t, "spam-gtube").Raw...)
	raw = append(raw, bytes.Repeat([]byte("padding padding padding\r\n"), 4000)...)
	msg := &spamrun.Message{Raw: raw}
	s := &Scorer{Addr: addr, MaxSize: 8 << 10}
	sc, err := s.Score(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	if !sc.Has("GTUBE") || !sc.Has(RuleTruncated) {
		t.Errorf("rules = %+v, want GTUBE and %s", sc.Rules, RuleTruncated)
	}
	checkSum(t, sc)
}

func TestFakeUnixSocket(t *testing.T) {
	// spamd on a Unix socket would need a second daemon; a fake one is
	// enough to show that a path is dialled as a socket.
	dir := t.TempDir()
	path := filepath.Join(dir, "spamd.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go serveOnce(l, "SPAMD/1.1 0 EX_OK\r\nSpam: False ; 0.5 / 5.0\r\n\r\n")
	sc, err := (&Scorer{Addr: path, Timeout: 2 * time.Second}).Score(context.Background(), &spamrun.Message{Raw: []byte("Subject: x\r\n\r\nx\r\n")})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Value != 0.5 || !sc.Has(RuleOther) {
		t.Errorf("score = %+v", sc)
	}
}
