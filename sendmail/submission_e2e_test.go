package main

import (
	"bytes"
	"net"
	"os/exec"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

// TestSendmailLostReplyCountsOnce: Redis records a spam-marked message but
// its reply never reaches sendmail, which gives up after its read timeout
// and accepts the message undecided, exit 0. When sendmail -q decides the
// message, the store recognises it by its spool ID: its three recipients
// count once, and the site, at 1+3 of max_spam 5, does not trip on a
// count of 1+3+3.
func TestSendmailLostReplyCountsOnce(t *testing.T) {
	r := spamruntest.StartRedis(t)
	p := startReplyLoser(t, r.Addr())
	e := newEnv(t, redisURLConfig("redis://"+p.addr()+"/0", 5, "15m"))
	// status checks the site's line of spamrun status: enabled, with 4
	// of its 5 spam in the window.
	status := func(when string) {
		t.Helper()
		st := e.runCmd(exec.Command(spamrunBinary(t), "status", "shop1"), "")
		if st.code != 0 || !regexp.MustCompile(`(?m)^shop1\s+enabled\s+4/5\s`).MatchString(st.stdout) {
			t.Errorf("spamrun status shop1 %s: exit %d, want the site enabled at 4/5\n%s%s", when, st.code, st.stdout, st.stderr)
		}
	}
	send := func(i, rcpts int) {
		t.Helper()
		args := append([]string{"-i", "-fnoreply@shop1.example"}, spamruntest.Recipients(rcpts)...)
		if res := e.run(string(spamruntest.GuestbookSpam("shop1.example", i)), args...); res.code != 0 {
			t.Fatalf("spam %d: exit %d %q", i, res.code, res.stderr)
		}
	}
	// A first decision, which also loads the script that the lost one
	// will find.
	send(0, 1)
	p.lose.Store(true)
	send(1, 3)
	p.lose.Store(false)
	if p.lost.Load() == 0 {
		t.Fatal("no script reply was lost")
	}
	q := e.queue()
	if len(q) != 2 || q[0].State != spool.Held || q[1].State != spool.Undecided {
		t.Fatalf("queue: %+v; want the first message held and the second undecided", q)
	}
	// Redis did record it.
	status("after the lost reply")
	if res := e.run("", "-q"); res.code != 0 {
		t.Fatalf("-q: exit %d %q", res.code, res.stderr)
	}
	status("after -q")
	if q := e.queue(); len(q) != 2 || q[1].State != spool.Held {
		t.Errorf("queue after -q: %+v; want both held", q)
	}
	if n := len(e.sink.Messages()); n != 0 {
		t.Errorf("%d messages reached the relay, want none: both are held", n)
	}
}

// replyLoser is a TCP proxy to Redis that, while lose is set, passes
// scripts on to Redis and drops their replies, as a Redis that stalls
// past the client's timeout and then runs what it was sent does.
type replyLoser struct {
	ln   net.Listener
	to   string
	lose atomic.Bool
	lost atomic.Int64 // replies dropped
	wg   sync.WaitGroup
}

func startReplyLoser(t *testing.T, to string) *replyLoser {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &replyLoser{ln: ln, to: to}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.serve(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		p.wg.Wait()
	})
	return p
}

func (p *replyLoser) addr() string { return p.ln.Addr().String() }

// serve relays one connection. The client waits for each reply before it
// sends the next command, so a reply that comes after a script was sent
// with lose set is that script's, and every reply after it is dropped
// too: the client has given up on the connection.
func (p *replyLoser) serve(c net.Conn) {
	defer c.Close()
	s, err := net.Dial("tcp", p.to)
	if err != nil {
		return
	}
	defer s.Close()
	var dropping atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 32<<10)
		for {
			n, err := s.Read(buf)
			if n > 0 {
				if dropping.Load() {
					p.lost.Add(1)
				} else if _, werr := c.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if p.lose.Load() && bytes.Contains(bytes.ToUpper(buf[:n]), []byte("EVALSHA")) {
				dropping.Store(true)
			}
			if _, werr := s.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	// The client is gone; Redis has what it was sent, and its reply goes
	// nowhere.
	if tc, ok := s.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	<-done
}
