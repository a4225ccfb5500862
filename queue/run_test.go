package queue_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/queue"
	"github.com/spamrun/spamrun/relay"
	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

// These tests run on the real clock. They wait for what they expect with
// generous deadlines and assert nothing about how long it took, so a
// loaded machine makes them slower, not flaky.
const patience = 20 * time.Second

func received(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatal("wake channel closed")
		}
	case <-time.After(patience):
		t.Fatal("no wake-up delivered")
	}
}

func TestWakeWithoutListener(t *testing.T) {
	dir := t.TempDir()
	if queue.Wake(dir) {
		t.Error("Wake reported a runner in an empty directory")
	}
	if queue.Wake(filepath.Join(dir, "missing")) {
		t.Error("Wake reported a runner in a missing directory")
	}
}

func TestListenWake(t *testing.T) {
	dir := t.TempDir()
	ch, closer, err := queue.Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !queue.Wake(dir) {
		t.Fatal("Wake = false with a runner listening")
	}
	received(t, ch)

	// Wake-ups while a pass is due already are merged, never block the
	// sender, and leave one pass due.
	for i := range 5 {
		if !queue.Wake(dir) {
			t.Fatalf("Wake %d = false", i)
		}
	}
	received(t, ch)

	if _, _, err := queue.Listen(dir); err == nil || !strings.Contains(err.Error(), "another runner") {
		t.Errorf("second Listen: %v, want another runner listening", err)
	}
	// The failed Listen left the first one working.
	if !queue.Wake(dir) {
		t.Fatal("Wake = false after a second Listen failed")
	}
	received(t, ch)

	if err := closer(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-ch:
		if ok {
			// A wake-up may have been left in the buffer; the close
			// follows it.
			if _, ok := <-ch; ok {
				t.Error("channel open after close")
			}
		}
	case <-time.After(patience):
		t.Fatal("channel not closed by the closer")
	}
	if _, err := os.Lstat(filepath.Join(dir, "wake")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after close: %v", err)
	}
	if queue.Wake(dir) {
		t.Error("Wake = true after the runner closed")
	}
}

// TestListenReplacesStaleSocket: a runner that died leaves its socket file;
// the next one takes the place instead of refusing to start.
func TestListenReplacesStaleSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "wake")
	dead, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	dead.Close() // a datagram socket's file outlives it, as after a crash
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("no stale socket to test with: %v", err)
	}
	if queue.Wake(dir) {
		t.Error("Wake = true with only a stale socket")
	}

	ch, closer, err := queue.Listen(dir)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	defer closer()
	if !queue.Wake(dir) {
		t.Fatal("Wake = false after Listen replaced the stale socket")
	}
	received(t, ch)
}

// runEnv is a runner on the real clock, with a detector of its own, and a
// channel that ticks after every pass.
type runEnv struct {
	spool  *spool.Spool
	sink   *spamruntest.SMTPSink
	runner *queue.Runner
	passes atomic.Int64
}

func newRunEnv(t *testing.T) *runEnv {
	t.Helper()
	sp, err := spool.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	det, err := spamrun.NewDetector(&spamrun.DetectorOptions{
		Scorer: spamrun.NewBuiltinScorer(), Store: spamrun.NewMemoryStore(), Policy: policy(),
	})
	if err != nil {
		t.Fatal(err)
	}
	sink := spamruntest.NewSMTPSink(t)
	re := &runEnv{spool: sp, sink: sink}
	re.runner = &queue.Runner{
		Spool: sp, Relay: smtpRelay(sink), Detector: det, Site: siteOf,
		Hostname: hostname, ArticleURL: articleURL, Logf: t.Logf,
	}
	re.runner.Progress = func(done, total int) {
		if done == total {
			re.passes.Add(1)
		}
	}
	return re
}

// start runs the runner until the test ends, and returns how to stop it
// and learn what Run returned.
func (re *runEnv) start(t *testing.T, interval time.Duration, wake <-chan struct{}) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- re.runner.Run(ctx, interval, wake) }()
	stopped := false
	var result error
	stop = func() error {
		if stopped {
			return result
		}
		stopped = true
		cancel()
		select {
		case result = <-done:
		case <-time.After(patience):
			t.Fatal("Run did not return after its context was cancelled")
		}
		return result
	}
	t.Cleanup(func() { stop() })
	return stop
}

func (re *runEnv) waitPasses(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for re.passes.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d passes after %v, want %d", re.passes.Load(), patience, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (re *runEnv) addQueued(t *testing.T, next time.Time) *spool.Entry {
	t.Helper()
	e := &spool.Entry{
		Site: "shop1", UID: 1001, Sender: "shop@shop1.example", Recipients: victim(1),
		Received: time.Now(), State: spool.Queued, NextAttempt: next,
	}
	if err := re.spool.Add(e, ham("shop1", 1)); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestRunWake: a runner waiting out a long interval starts a pass when
// sendmail wakes it, and stops when its context is cancelled.
func TestRunWake(t *testing.T) {
	re := newRunEnv(t)
	wake, closer, err := queue.Listen(re.spool.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	stop := re.start(t, time.Hour, wake)
	re.waitPasses(t, 1) // the first pass runs at once, on an empty queue

	e := re.addQueued(t, time.Time{})
	if !queue.Wake(re.spool.Dir()) {
		t.Fatal("Wake = false with Run listening")
	}
	msgs := re.sink.WaitFor(t, 1, patience)
	if msgs[0].From != e.Sender {
		t.Errorf("relayed from <%s>", msgs[0].From)
	}
	// The sink has the message before the runner has its reply: stopping
	// now would abort the delivery (see TestCancelDuringDelivery).
	re.waitGone(t, e.ID)
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v, want context.Canceled", err)
	}
	if n := len(re.sink.Messages()); n != 1 {
		t.Errorf("relayed %d messages, want 1", n)
	}
}

// waitGone waits until the runner has removed a relayed message.
func (re *runEnv) waitGone(t *testing.T, id string) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		_, _, err := re.spool.Read(id)
		if errors.Is(err, spool.ErrNotFound) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still in the spool after %v: %v", id, patience, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCancelDuringDelivery: the runner is told to stop (its context is
// cancelled, as on SIGTERM) while it hands a message to the relay. That
// delivery must be finished, not cut off: cut off after the MTA took the
// message and before its reply was read, the message counts as deferred
// and is relayed a second time by the next runner.
func TestCancelDuringDelivery(t *testing.T) {
	v := newEnv(t, policy())
	sink := spamruntest.NewSMTPSink(t)
	smtp := smtpRelay(sink)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	signalled := relay.DeliverFunc(func(dctx context.Context, env relay.Envelope, data io.Reader) error {
		cancel() // SIGTERM arrives while the message is on its way
		return smtp.Deliver(dctx, env, data)
	})
	e, _ := v.submit("shop1", "shop@shop1.example", victim(1), ham("shop1", 1))
	r := v.runner(signalled)
	r.Pass(ctx)
	if n := len(sink.Messages()); n != 1 {
		t.Errorf("sink got %d messages, want the one in flight", n)
	}
	if where := v.in(e.ID); where != "" {
		got := v.queued()[e.ID]
		t.Errorf("message in flight at the shutdown left in %q with error %q: the shutdown cut the delivery off", where, got.LastError)
	}
}

// TestRunWakesWhenDue: without a wake-up, the runner comes back when the
// earliest waiting message is due rather than after the whole interval.
func TestRunWakesWhenDue(t *testing.T) {
	re := newRunEnv(t)
	re.addQueued(t, time.Now().Add(300*time.Millisecond))
	stop := re.start(t, time.Hour, nil)
	re.sink.WaitFor(t, 1, patience)
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v, want context.Canceled", err)
	}
}

// TestRunClosedWakeDoesNotSpin: Listen's closer closes the wake channel. A
// runner still running must not take every receive from the closed
// channel for a wake-up, which would run pass after pass without pause.
func TestRunClosedWakeDoesNotSpin(t *testing.T) {
	re := newRunEnv(t)
	wake, closer, err := queue.Listen(re.spool.Dir())
	if err != nil {
		t.Fatal(err)
	}
	stop := re.start(t, time.Hour, wake)
	re.waitPasses(t, 1)
	if err := closer(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	stop()
	// One pass at start; a spinning runner does thousands in this time.
	if n := re.passes.Load(); n > 5 {
		t.Errorf("%d passes within 300ms of an hour's interval after the wake channel closed", n)
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	re := newRunEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := re.runner.Run(ctx, time.Hour, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
}
