package spamassassin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamruntest"
)

// One spamd serves the whole package: it takes a second or more to load
// its rules, and a second per test would make the suite slow enough that
// people skip it.
var daemon struct {
	once sync.Once
	addr string
	cmd  *exec.Cmd
	done chan error // cmd.Wait's result
	log  syncBuffer
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	stopSpamd()
	os.Exit(code)
}

// needSpamd returns the address of the package's spamd, starting it on
// first use.
func needSpamd(t *testing.T) string {
	t.Helper()
	path := spamruntest.NeedCommand(t, "spamd", "spamd")
	daemon.once.Do(func() { daemon.err = startSpamd(path) })
	if daemon.err != nil {
		t.Fatalf("starting spamd: %v\n%s", daemon.err, daemon.log.String())
	}
	return daemon.addr
}

func startSpamd(path string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "spamd-test-")
	if err != nil {
		return err
	}
	daemon.dir = dir
	// spamd may drop to nobody, which must be able to read its home.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	daemon.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{
		"--listen", daemon.addr,
		"--local",             // no DNS or network tests: results must not depend on the Internet
		"--max-children", "2", // enough for a test and a retry, little memory
		"--min-children", "1",
		"--nouser-config", // nothing read from or written to a home directory
		"--syslog", "stderr",
		"--pidfile", filepath.Join(dir, "spamd.pid"),
	}
	if os.Geteuid() == 0 {
		// spamd refuses to run its children as root.
		args = append(args, "--username", "nobody")
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), "HOME="+dir, "LANG=C", "LC_ALL=C")
	cmd.Dir = dir
	cmd.Stdout = &daemon.log
	cmd.Stderr = &daemon.log
	if err := cmd.Start(); err != nil {
		return err
	}
	daemon.cmd = cmd
	exited := make(chan error, 1)
	daemon.done = exited
	go func() { exited <- cmd.Wait() }()

	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("spamd exited: %v", err)
		default:
		}
		// Listening is not enough: the first answer shows that the rules
		// are loaded and a child is serving.
		s := &Scorer{Addr: daemon.addr, Timeout: 30 * time.Second}
		if _, err := s.Score(context.Background(), &spamrun.Message{Raw: []byte("Subject: ping\r\n\r\nping\r\n")}); err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.New("spamd did not answer within 60s")
}

func stopSpamd() {
	if daemon.cmd != nil {
		// SIGTERM: spamd then stops its children itself.
		daemon.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-daemon.done:
		case <-time.After(10 * time.Second):
			daemon.cmd.Process.Kill()
			<-daemon.done
		}
	}
	if daemon.dir != "" {
		os.RemoveAll(daemon.dir)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
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
