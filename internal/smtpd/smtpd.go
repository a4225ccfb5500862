// Package smtpd is spamrun's SMTP listener for the websites of a host: the
// door for scripts that send by SMTP, to localhost or, through the egress
// lock, to any mail server on port 25 or 587.
//
// The site is the UID that owns the client's socket, as the kernel reports
// it (package peercred): SO_PEERCRED on the Unix socket, NETLINK_SOCK_DIAG
// or /proc/net/tcp on TCP, matched on both endpoints. Nothing the client
// writes, neither HELO nor MAIL FROM nor a header, names the site. Each
// message then takes the path of a sendmail submission (package submit):
// parsed once, scored, counted, written to the spool before the 250 reply,
// relayed, held or refused. A disabled site hears 550 5.7.1 with the
// article at MAIL FROM.
package smtpd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/config"
	"github.com/spamrun/spamrun/internal/host"
	"github.com/spamrun/spamrun/internal/peercred"
	"github.com/spamrun/spamrun/internal/submit"
	"github.com/spamrun/spamrun/queue"
	"github.com/spamrun/spamrun/spool"
)

// maxLineLength bounds a line of a command or of DATA.
const maxLineLength = 1 << 20

// Server takes mail from the sites of one host. It is safe for concurrent
// use; each connection is served by a goroutine of its own.
type Server struct {
	host      *host.Host
	cfg       config.SMTPD
	smtp      *smtp.Server
	now       func() time.Time
	logf      func(format string, args ...any)
	trusted   map[int]string // UID → login
	closeOnce sync.Once

	mu       sync.Mutex
	conns    map[int]int // open connections per UID
	handoffs int         // messages taken from sendmail fronts, in progress
	closing  bool        // Close has begun: no front is served any more

	fronts sync.WaitGroup // the sendmail fronts being served

	configPath string   // the configuration file; "" when none is watched
	configStat fileStat // as it was when the server started

	relay   chan string // IDs of accepted messages for the relay workers
	stop    chan struct{}
	workers sync.WaitGroup
}

// relayWorkers relay accepted messages while their clients go on; a
// message they do not get to waits in the spool for the queue runner.
const (
	relayWorkers = 8
	relayBacklog = 1024
)

// Options are what differs between the programs that run a Server.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logf gets one line per message, refusal and failed identification;
	// nil discards them.
	Logf func(format string, args ...any)
	// ConfigPath is the configuration file the host was loaded from: while
	// it differs from what it was when New ran, sendmail fronts are sent
	// back to the full sendmail, which reads it afresh. "" watches none.
	ConfigPath string
}

// New returns a server for the host h, configured by its [smtpd] table.
// Trusted users without a passwd entry are ignored.
func New(h *host.Host, opts *Options) *Server {
	if opts == nil {
		opts = &Options{}
	}
	s := &Server{
		host: h, cfg: h.Config.SMTPD, now: opts.Now, logf: opts.Logf,
		trusted: map[int]string{}, conns: map[int]int{},
		relay: make(chan string, relayBacklog), stop: make(chan struct{}),
		configPath: opts.ConfigPath,
	}
	if s.configPath != "" {
		s.configStat = statFile(s.configPath)
	}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	for _, name := range s.cfg.TrustedUsers {
		if u, err := user.Lookup(name); err == nil {
			if uid, err := strconv.Atoi(u.Uid); err == nil {
				s.trusted[uid] = name
			}
		}
	}
	for range relayWorkers {
		s.workers.Go(s.relayLoop)
	}
	s.smtp = submit.NewServer(h.Config, smtp.BackendFunc(s.newSession))
	s.smtp.MaxRecipients = s.cfg.MaxRecipients
	// Unlike sendmail's input, SMTP has lines of at most 1000 octets (RFC
	// 5321, section 4.5.3.1.6); PHP's own SMTP clients keep to 998. A
	// megabyte is room for a careless script, and a bound on what one
	// command can make the listener hold.
	s.smtp.MaxLineLength = maxLineLength
	s.smtp.ReadTimeout = s.cfg.CommandTimeout
	s.smtp.EnableSMTPUTF8 = true
	return s
}

// Listen opens the listeners of the [smtpd] table: its loopback TCP
// addresses and its Unix socket. The socket is made writable by everyone:
// the kernel tells who connects, so any user may.
func (s *Server) Listen() ([]net.Listener, error) {
	var ls []net.Listener
	fail := func(err error) ([]net.Listener, error) {
		for _, l := range ls {
			l.Close()
		}
		return nil, err
	}
	for _, a := range s.cfg.Listen {
		l, err := net.Listen("tcp", a)
		if err != nil {
			return fail(fmt.Errorf("smtpd: %w", err))
		}
		ls = append(ls, l)
	}
	if p := s.cfg.Socket; p != "" {
		l, err := listenUnix(p)
		if err != nil {
			return fail(fmt.Errorf("smtpd: %w", err))
		}
		ls = append(ls, l)
	}
	if len(ls) == 0 {
		return nil, errors.New("smtpd: [smtpd] has neither listen addresses nor a socket")
	}
	return ls, nil
}

// Serve takes connections from l until Close. l is a loopback TCP or a
// Unix listener; a connection whose owner cannot be told is refused.
func (s *Server) Serve(l net.Listener) error {
	return s.smtp.Serve(&siteListener{Listener: l, s: s, greeting: "220 " + s.host.Config.Hostname + " ESMTP spamrun\r\n"})
}

// Close closes the listeners and every open connection, waits for the
// sendmail fronts being served to have their answers, and then for the
// relay workers to finish the message each is relaying. A message whose
// DATA has not been answered is not accepted; its client sends it again.
// An accepted one not yet relayed waits in the spool for the queue runner.
// The sendmail socket's listener is closed by its owner first.
func (s *Server) Close() error {
	err := s.smtp.Close()
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	// A front that handed its input over waits for its answer: the
	// message is the daemon's.
	s.fronts.Wait()
	s.closeOnce.Do(func() { close(s.stop) })
	s.workers.Wait()
	return err
}

// queueRelay hands an accepted message to the relay workers, or, when
// they are behind, to the queue runner.
func (s *Server) queueRelay(e *spool.Entry) string {
	select {
	case s.relay <- e.ID:
		return "queued for relay"
	default:
		queue.Wake(s.host.Spool.Dir())
		return "queued"
	}
}

func (s *Server) relayLoop() {
	for {
		select {
		case <-s.stop:
			return
		case id := <-s.relay:
			if _, err := s.host.Queue.Deliver(context.Background(), id); err != nil && !errors.Is(err, spool.ErrLocked) {
				s.logf("smtpd: error: id=%s relaying: %v", id, err)
			}
		}
	}
}

// client is what the kernel told about a connection's client.
type client struct {
	cred        peercred.Cred
	door        string
	destination string // a redirected connection's original destination
	site        spamrun.Site
	trusted     bool
}

// siteListener identifies the client of each connection before the
// greeting, and refuses one it cannot place.
type siteListener struct {
	net.Listener
	s        *Server
	greeting string
}

func (l *siteListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		cl, reply := l.s.identify(c)
		if reply != "" {
			l.s.refuse(c, reply)
			continue
		}
		if !l.s.admit(cl.cred.UID) {
			l.s.logf("smtpd: uid=%d site=%s refused: more than %d connections", cl.cred.UID, cl.site.Name, l.s.cfg.MaxConnections)
			l.s.refuse(c, fmt.Sprintf("421 4.7.0 too many connections from user %d; at most %d at a time", cl.cred.UID, l.s.cfg.MaxConnections))
			continue
		}
		return &siteConn{Conn: c, client: cl, s: l.s, greeting: l.greeting}, nil
	}
}

// refuse answers a connection with one reply and closes it, without
// waiting long for a client that does not read.
func (s *Server) refuse(c net.Conn, reply string) {
	c.SetWriteDeadline(time.Now().Add(time.Second))
	c.Write([]byte(reply + "\r\n"))
	c.Close()
}

// identify asks the kernel who the client is, and maps it to a site. A
// reply other than "" refuses the connection.
func (s *Server) identify(c net.Conn) (*client, string) {
	cl := &client{door: submit.DoorSMTPLocal}
	var err error
	switch c := c.(type) {
	case *net.TCPConn:
		cl.cred, cl.destination, err = tcpOwner(c)
		if cl.destination != "" {
			cl.door = submit.DoorSMTPRedirected
		}
	default:
		cl.cred, err = peercred.FromConn(c)
	}
	if err != nil {
		s.logf("smtpd: refused %v: the owner of the client's socket is unknown: %v", c.RemoteAddr(), err)
		return nil, "421 4.7.0 cannot tell which user connected; try again"
	}
	uid := cl.cred.UID
	if login, ok := s.trusted[uid]; ok {
		if s.cfg.Trusted == config.TrustedRefuse {
			s.logf("smtpd: uid=%d refused: trusted user %s", uid, login)
			return nil, fmt.Sprintf("554 5.7.1 user %s does not send through spamrun; use the MTA", login)
		}
		cl.trusted = true
		cl.site = spamrun.Site{Name: login, UID: uid}
		return cl, ""
	}
	if cl.site, err = s.host.SiteForUID(uid); err != nil {
		s.logf("smtpd: uid=%d refused: %v", uid, err)
		return nil, "421 4.3.0 local error, try again later: " + strings.Join(strings.Fields(err.Error()), " ")
	}
	return cl, ""
}

// tcpOwner returns the owner of a TCP connection's client socket and, for
// a connection the egress lock redirected, where it was going.
func tcpOwner(c *net.TCPConn) (peercred.Cred, string, error) {
	dst, redirected, err := peercred.OriginalDst(c)
	if err != nil {
		return peercred.Cred{}, "", err
	}
	cred, err := peercred.FromConn(c)
	if !redirected {
		return cred, "", err
	}
	return cred, dst.String(), err
}

// admit takes one of uid's connection slots, if one is free.
func (s *Server) admit(uid int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns[uid] >= s.cfg.MaxConnections {
		return false
	}
	s.conns[uid]++
	return true
}

func (s *Server) release(uid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns[uid]--; s.conns[uid] <= 0 {
		delete(s.conns, uid)
	}
}

// siteConn is an identified connection: it greets as spamrun and gives its
// UID's slot back when it closes.
type siteConn struct {
	net.Conn
	client   *client
	s        *Server
	greeting string
	greeted  bool
	once     sync.Once
}

// Write replaces the server's first reply, its 220 greeting, with one
// that names spamrun.
func (c *siteConn) Write(p []byte) (int, error) {
	if !c.greeted {
		c.greeted = true
		if strings.HasPrefix(string(p), "220 ") {
			if _, err := c.Conn.Write([]byte(c.greeting)); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	return c.Conn.Write(p)
}

func (c *siteConn) Close() error {
	c.once.Do(func() { c.s.release(c.client.cred.UID) })
	return c.Conn.Close()
}

// newSession starts the SMTP session of an identified connection.
func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	sc, ok := c.Conn().(*siteConn)
	if !ok {
		return nil, errors.New("smtpd: a connection that was not identified")
	}
	cl := sc.client
	sub := &submit.Submitter{
		Host: s.host, Site: cl.site, UID: cl.cred.UID, Now: s.now, Logf: s.logf,
		Trusted: cl.trusted, Relay: s.queueRelay,
		Evidence: spamrun.Evidence{
			UID: cl.cred.UID, Door: cl.door, Destination: cl.destination,
		},
	}
	return &session{Session: submit.NewSession(sub), sub: sub, cl: cl}, nil
}

// session is a submit.Session that learns the client process's evidence
// when the first message begins, not for connections that send none.
type session struct {
	*submit.Session
	sub       *submit.Submitter
	cl        *client
	evidenced bool
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if !s.evidenced {
		s.evidenced = true
		pid := s.cl.cred.PID
		if pid <= 0 && s.cl.cred.Inode != 0 {
			pid = processOf(s.cl.cred.Inode)
		}
		if pid > 0 {
			ev := submit.ProcessEvidence(pid, s.cl.cred.UID)
			s.sub.Evidence.Cwd, s.sub.Evidence.Command = ev.Cwd, ev.Command
		}
	}
	return s.Session.Mail(from, opts)
}
