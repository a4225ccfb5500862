package smtpd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/internal/handoff"
	"github.com/spamrun/spamrun/internal/peercred"
	"github.com/spamrun/spamrun/internal/sendmailargs"
	"github.com/spamrun/spamrun/internal/submit"
	"github.com/spamrun/spamrun/spool"
)

// handshakeTimeout bounds the front's request and its standard input's
// descriptor; a front waits far less for the daemon's first reply.
const handshakeTimeout = 5 * time.Second

// maxHandoffs bounds the messages taken from sendmail fronts at once, so
// that the daemon holds at most this many messages in memory; a front
// beyond it runs the full sendmail.
const maxHandoffs = 64

// ListenSendmail opens the socket of [smtpd] sendmail_socket, on which the
// sendmail front (package handoff) hands messages over; nil and nil when
// it is not set. Any local user may connect: the kernel tells who did.
func (s *Server) ListenSendmail() (net.Listener, error) {
	p := s.cfg.SendmailSocket
	if p == "" {
		return nil, nil
	}
	l, err := listenUnix(p)
	if err != nil {
		return nil, fmt.Errorf("smtpd: sendmail socket: %w", err)
	}
	return l, nil
}

// ServeSendmail takes messages from sendmail fronts on l until l is
// closed, and then returns net.ErrClosed. Each message takes the path of a
// sendmail run: the site is the UID the kernel reports for the front's
// socket, the message is read from the front's own standard input, decided
// and spooled before the front hears its exit status, and relayed after.
// Failing to accept, out of descriptors say, only delays the fronts, which
// meanwhile run the full sendmail.
func (s *Server) ServeSendmail(l net.Listener) error {
	var delay time.Duration
	for {
		c, err := l.Accept()
		if errors.Is(err, net.ErrClosed) {
			return err
		}
		if err != nil {
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.logf("sendmail socket: accepting: %v; again in %v", err, delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		uc, ok := c.(*net.UnixConn)
		s.mu.Lock()
		if !ok || s.closing {
			s.mu.Unlock()
			c.Close()
			continue
		}
		s.fronts.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.fronts.Done()
			s.takeSendmail(uc)
		}()
	}
}

// takeSendmail serves one front: it asks the front to fall back to the
// full sendmail for everything but a message to submit whose sender the
// kernel names, and otherwise answers as sendmail would have exited.
func (s *Server) takeSendmail(c *net.UnixConn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	cred, err := peercred.FromConn(c)
	if err != nil {
		s.logf("sendmail socket: the owner of the client's socket is unknown: %v", err)
		return
	}
	argv, err := handoff.ReadRequest(c)
	if err != nil {
		s.logf("sendmail socket: uid=%d: %v", cred.UID, err)
		return
	}
	fallBack := func(why string) {
		s.logf("sendmail socket: uid=%d handed back to sendmail: %s", cred.UID, why)
		c.Write([]byte{handoff.FallBack})
	}
	if len(argv) == 0 {
		fallBack("no command line")
		return
	}
	opts, err := submit.ParseCommandLine(argv[0], argv[1:])
	switch {
	case err != nil:
		// sendmail says what is wrong with it, as it always has.
		fallBack("its command line: " + err.Error())
		return
	case opts.Mode != sendmailargs.Deliver || opts.Verbose:
		fallBack("not a message to submit")
		return
	}
	if why := s.configChanged(); why != "" {
		fallBack(why)
		return
	}
	if !s.takeHandoff() {
		fallBack(fmt.Sprintf("more than %d messages at once", maxHandoffs))
		return
	}
	defer s.releaseHandoff()
	site, err := s.host.SiteForUID(cred.UID)
	if err != nil {
		fallBack(err.Error())
		return
	}
	if _, err := c.Write([]byte{handoff.Go}); err != nil {
		return
	}
	stdin, restore, err := receiveStdin(c)
	if err != nil {
		// The front may have given up waiting, and runs sendmail itself.
		s.logf("sendmail socket: uid=%d: %v", cred.UID, err)
		return
	}
	defer stdin.Close()
	var later []func()
	code, text := s.submitFrom(stdin, opts, site, cred, func(f func()) { later = append(later, f) })
	// The website's input is an open file it may share, with the shell of
	// a terminal for one: it blocks again, as it did, before the front
	// exits.
	restore()
	c.SetWriteDeadline(time.Now().Add(handshakeTimeout))
	if _, err := c.Write(handoff.EncodeAnswer(code, text)); err != nil {
		s.logf("sendmail socket: uid=%d: the front left before its answer (exit %d): %v", cred.UID, code, err)
	}
	c.Close()
	for _, f := range later {
		f()
	}
}

// submitFrom reads and submits one message from stdin, and returns the
// exit status and standard error text of the sendmail run it stands for.
// What need not delay the answer, the relay among it, is handed to later.
func (s *Server) submitFrom(stdin *os.File, opts *sendmailargs.Options, site spamrun.Site, cred peercred.Cred, later func(func())) (int, string) {
	fail := func(err error) (int, string) {
		return submit.ExitCode(err), fmt.Sprintf("sendmail: %v\n", err)
	}
	// The website may write slowly, but not for ever.
	stdin.SetReadDeadline(time.Now().Add(s.cfg.CommandTimeout))
	data, err := submit.ReadMessage(stdin, opts.DotEnds, s.host.Config.MaxMessageSize)
	if err != nil {
		return fail(err)
	}
	ev := submit.ParentEvidence(cred.PID, cred.UID)
	ev.Door = submit.DoorSendmail
	sub := &submit.Submitter{
		Host: s.host, Site: site, UID: cred.UID, Evidence: ev,
		Now: s.now, Logf: s.logf, Later: later,
		Relay: func(e *spool.Entry) string {
			later(func() { s.queueRelay(e) })
			return "queued for relay"
		},
	}
	sender := site.DefaultSender
	if opts.SenderSet {
		sender = opts.Sender
	}
	env := submit.Envelope{Sender: sender, Recipients: opts.Recipients, Extract: opts.Extract, FullName: opts.FullName}
	if _, err := sub.Submit(context.Background(), env, data); err != nil {
		return fail(err)
	}
	return submit.ExitOK, ""
}

// receiveStdin reads the front's message that carries its standard input,
// and returns it with the function that gives it back the blocking mode it
// came with.
func receiveStdin(c *net.UnixConn) (*os.File, func(), error) {
	buf := make([]byte, 1)
	oob := make([]byte, syscall.CmsgSpace(4*4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, nil, fmt.Errorf("waiting for standard input: %w", err)
	}
	var fds []int
	if msgs, err := syscall.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for i := range msgs {
			if rights, err := syscall.ParseUnixRights(&msgs[i]); err == nil {
				fds = append(fds, rights...)
			}
		}
	}
	if !handoff.IsStdinMessage(buf[:n]) || len(fds) != 1 {
		for _, fd := range fds {
			syscall.Close(fd)
		}
		return nil, nil, errors.New("the front sent no standard input")
	}
	// Non-blocking, the descriptor goes through the runtime's poller and
	// takes a read deadline: a pipe the website never closes must not
	// keep the message's goroutine for ever. The mode belongs to the open
	// file, which others may share: it is restored once the message is
	// read.
	flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fds[0]), syscall.F_GETFL, 0)
	blocking := errno == 0 && flags&syscall.O_NONBLOCK == 0
	syscall.SetNonblock(fds[0], true)
	f := os.NewFile(uintptr(fds[0]), "the website's standard input")
	restore := func() {
		if !blocking {
			return
		}
		if rc, err := f.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { syscall.SetNonblock(int(fd), false) })
		}
	}
	return f, restore, nil
}

func (s *Server) takeHandoff() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handoffs >= maxHandoffs {
		return false
	}
	s.handoffs++
	return true
}

func (s *Server) releaseHandoff() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handoffs--
}

// configChanged says why the configuration file the daemon started with
// no longer is the one sendmail would read, or "": sendmail reads it at
// every run, so a front is sent back to it until the daemon restarts.
func (s *Server) configChanged() string {
	if s.configPath == "" {
		return ""
	}
	if now := statFile(s.configPath); now != s.configStat {
		return s.configPath + " changed since spamrun serve started; restart it"
	}
	return ""
}

// fileStat is what tells a changed file; the zero value is a missing one,
// since a file that exists has an inode number.
type fileStat struct {
	dev, ino     uint64
	size         int64
	mtime, ctime syscall.Timespec
}

func statFile(path string) fileStat {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return fileStat{}
	}
	return fileStat{dev: uint64(st.Dev), ino: st.Ino, size: st.Size, mtime: st.Mtim, ctime: st.Ctim}
}
