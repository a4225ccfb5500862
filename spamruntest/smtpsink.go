package spamruntest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"weak"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTPSink is a real SMTP server (go-smtp) on a loopback port that keeps
// what it is sent, to stand in for the host's MTA. Options make it refuse
// senders, recipients or messages, limit the recipients of a transaction
// or the messages of a connection, hang up, offer STARTTLS, demand AUTH
// PLAIN, or answer slowly. For fault injection, Set changes the refusals
// while it runs, and Stop and Start take it down and bring it back on its
// address. It is safe for concurrent sessions.
type SMTPSink struct {
	addr string
	pool *x509.CertPool
	tls  *tls.Config   // nil without SinkStartTLS
	done chan struct{} // closed by Close; cuts delays short
	once sync.Once

	// life guards the server and its listener, which Stop and Start
	// replace.
	life sync.Mutex
	srv  *smtp.Server
	ln   net.Listener

	mu           sync.Mutex
	opts         sinkOptions // replaced whole by Set, never changed in place
	msgs         []SinkMessage
	rejected     []SinkRejection
	transactions int
	// conns knows a connection by a weak pointer: the sink must not keep
	// every connection of a long test alive.
	conns      map[weak.Pointer[smtp.Conn]]*sinkConn
	arrived    chan struct{} // closed and replaced when a message arrives
	transcript bytes.Buffer
}

// sinkConn is what the sink knows of one connection, which outlives the
// session that STARTTLS replaces.
type sinkConn struct {
	n    int // from 1, in the order connections began
	msgs int // messages accepted on it
}

// SinkMessage is one message the sink accepted.
type SinkMessage struct {
	// Helo is the name the client gave in its last EHLO or HELO.
	Helo string
	// From is the reverse-path, "" for the null sender.
	From string
	To   []string
	// Data is the message as received after dot-unstuffing, with the
	// CRLF line endings of the wire.
	Data []byte
	// SMTPUTF8 reports whether MAIL FROM carried the SMTPUTF8 parameter.
	SMTPUTF8 bool
	// TLS reports whether the session ran over STARTTLS.
	TLS bool
	// User is the name the client authenticated as, if it did.
	User string
	// Conn numbers the connection the message came on, from 1, in the
	// order the connections began: messages with the same Conn shared
	// one connection.
	Conn int
}

// SinkRejection is one command the sink refused.
type SinkRejection struct {
	// Stage is "AUTH", "MAIL", "RCPT" or "DATA".
	Stage string
	From  string
	// Rcpt is the refused recipient at RCPT; at DATA the accepted ones
	// are in To.
	Rcpt     string
	To       []string
	Code     int
	Enhanced string
}

// SinkOption changes how an SMTPSink behaves.
type SinkOption func(*sinkOptions)

type sinkReply struct {
	code     int
	enhanced smtp.EnhancedCode
	text     string
}

type sinkOptions struct {
	mail, data *sinkReply
	rcpt       map[string]*sinkReply
	dataFor    map[string]*sinkReply
	hangUpAt   map[string]bool
	past       *sinkPast
	perConn    int
	delay      time.Duration
	problems   []string

	// Fixed when the sink starts; Set refuses them.
	tls        bool
	user, pass string
	noSMTPUTF8 bool
	listen     string
}

// sinkPast refuses every RCPT past the n-th accepted in a transaction.
type sinkPast struct {
	n     int
	reply *sinkReply
}

// fixed reports whether o sets what only StartSMTPSink may.
func (o *sinkOptions) fixed() bool {
	return o.tls || o.user != "" || o.noSMTPUTF8 || o.listen != ""
}

// atLeast checks an option's count.
func (o *sinkOptions) atLeast(what string, n, least int) int {
	if n < least {
		o.problems = append(o.problems, fmt.Sprintf("%s: count %d is less than %d", what, n, least))
	}
	return n
}

// parseReply checks an option's reply; enhanced may be "" for a reply
// without an enhanced status code, as old MTAs send.
func (o *sinkOptions) parseReply(what string, code int, enhanced, text string) *sinkReply {
	r := &sinkReply{code: code, enhanced: smtp.NoEnhancedCode, text: text}
	if code < 400 || code > 599 {
		o.problems = append(o.problems, fmt.Sprintf("%s: reply code %d is not a 4xx or 5xx refusal", what, code))
	}
	if enhanced != "" {
		parts := strings.Split(enhanced, ".")
		ok := len(parts) == 3
		for i := 0; ok && i < 3; i++ {
			n, err := strconv.Atoi(parts[i])
			ok = err == nil && n >= 0
			r.enhanced[i] = n
		}
		if !ok {
			o.problems = append(o.problems, fmt.Sprintf("%s: enhanced code %q is not like 5.7.1", what, enhanced))
		}
	}
	if text == "" {
		r.text = "refused by the test sink"
	}
	return r
}

// SinkRejectMail makes the sink answer every MAIL FROM with the given
// reply, such as 451, "4.3.0", "try later". enhanced may be "".
func SinkRejectMail(code int, enhanced, text string) SinkOption {
	return func(o *sinkOptions) { o.mail = o.parseReply("SinkRejectMail", code, enhanced, text) }
}

// SinkRejectRcpt makes the sink refuse the recipient rcpt (compared
// exactly) with the given reply. It may be given for several recipients.
func SinkRejectRcpt(rcpt string, code int, enhanced, text string) SinkOption {
	return func(o *sinkOptions) {
		if o.rcpt == nil {
			o.rcpt = make(map[string]*sinkReply)
		}
		o.rcpt[rcpt] = o.parseReply("SinkRejectRcpt", code, enhanced, text)
	}
}

// SinkRejectData makes the sink refuse every message after receiving it,
// at the end of DATA, with the given reply.
func SinkRejectData(code int, enhanced, text string) SinkOption {
	return func(o *sinkOptions) { o.data = o.parseReply("SinkRejectData", code, enhanced, text) }
}

// SinkRejectDataFor makes the sink refuse, at the end of DATA, every
// message one of whose accepted recipients is rcpt, as a content filter
// with per-recipient settings does. Other transactions go through, so a
// client that splits recipients meets the refusal in one of them.
func SinkRejectDataFor(rcpt string, code int, enhanced, text string) SinkOption {
	return func(o *sinkOptions) {
		if o.dataFor == nil {
			o.dataFor = make(map[string]*sinkReply)
		}
		o.dataFor[rcpt] = o.parseReply("SinkRejectDataFor", code, enhanced, text)
	}
}

// SinkRecipientLimit makes the sink accept at most n recipients in one
// transaction and answer every RCPT past them with "452 4.5.3 Error: too
// many recipients", as Postfix does past its smtpd_recipient_limit (RFC
// 5321 section 4.5.3.1.10). Refused recipients do not count.
func SinkRecipientLimit(n int) SinkOption {
	return func(o *sinkOptions) {
		o.atLeast("SinkRecipientLimit", n, 1)
		o.past = &sinkPast{n: n, reply: &sinkReply{code: 452, enhanced: smtp.EnhancedCode{4, 5, 3}, text: "Error: too many recipients"}}
	}
}

// SinkRejectRcptsPast makes the sink accept at most n recipients in one
// transaction and refuse every RCPT past them with the given reply; with
// n 0 it refuses every recipient. Refused recipients do not count.
func SinkRejectRcptsPast(n, code int, enhanced, text string) SinkOption {
	return func(o *sinkOptions) {
		o.past = &sinkPast{n: o.atLeast("SinkRejectRcptsPast", n, 0), reply: o.parseReply("SinkRejectRcptsPast", code, enhanced, text)}
	}
}

// SinkMessagesPerConnection makes the sink accept at most n messages on
// one connection: it answers the next MAIL FROM with "421 4.7.0 too many
// messages on this connection" and closes the connection, as Exim does
// past its smtp_accept_max_per_connection. A client must connect again.
func SinkMessagesPerConnection(n int) SinkOption {
	return func(o *sinkOptions) { o.perConn = o.atLeast("SinkMessagesPerConnection", n, 1) }
}

// SinkHangUpAt makes the sink close the connection without a reply when
// RCPT TO names rcpt, as an MTA that crashes in mid-transaction does. It
// may be given for several recipients.
func SinkHangUpAt(rcpt string) SinkOption {
	return func(o *sinkOptions) {
		if o.hangUpAt == nil {
			o.hangUpAt = make(map[string]bool)
		}
		o.hangUpAt[rcpt] = true
	}
}

// SinkStartTLS makes the sink offer STARTTLS with a self-signed
// certificate for 127.0.0.1, ::1 and localhost, made for this sink; trust
// it through CertPool.
func SinkStartTLS() SinkOption {
	return func(o *sinkOptions) { o.tls = true }
}

// SinkAuth makes the sink offer AUTH PLAIN and refuse MAIL FROM (530
// 5.7.0) until the client has authenticated as user with password. With
// SinkStartTLS, AUTH is offered only after STARTTLS, as real MTAs do.
func SinkAuth(user, password string) SinkOption {
	return func(o *sinkOptions) { o.user, o.pass = user, password }
}

// SinkDelay makes the sink wait d before answering EHLO, MAIL, RCPT and
// the end of DATA, to test a client's timeouts. Close cuts the wait short.
func SinkDelay(d time.Duration) SinkOption {
	return func(o *sinkOptions) { o.delay = d }
}

// SinkNoSMTPUTF8 makes the sink leave SMTPUTF8 out of its EHLO reply.
func SinkNoSMTPUTF8() SinkOption {
	return func(o *sinkOptions) { o.noSMTPUTF8 = true }
}

// SinkListen makes the sink listen on addr, "host:port", instead of
// 127.0.0.1 and a free port: "198.51.100.25:25" for the remote MX in a
// network namespace of the test's own, which has that address on its
// loopback interface.
func SinkListen(addr string) SinkOption {
	return func(o *sinkOptions) { o.listen = addr }
}

// NewSMTPSink starts a sink as StartSMTPSink does, failing the test if it
// cannot; tb's cleanup closes it.
func NewSMTPSink(tb testing.TB, opts ...SinkOption) *SMTPSink {
	tb.Helper()
	s, err := StartSMTPSink(opts...)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// StartSMTPSink starts a sink on 127.0.0.1 and a free port, or where
// SinkListen says. It is for a
// program that needs the host's MTA outside a test, as the demo does; the
// caller closes it. Tests use NewSMTPSink.
func StartSMTPSink(opts ...SinkOption) (*SMTPSink, error) {
	o, err := buildOptions("StartSMTPSink", opts)
	if err != nil {
		return nil, err
	}
	s := &SMTPSink{opts: o, done: make(chan struct{}), arrived: make(chan struct{}), conns: make(map[weak.Pointer[smtp.Conn]]*sinkConn)}
	if o.tls {
		cert, pool, err := selfSignedCert()
		if err != nil {
			return nil, fmt.Errorf("spamruntest: StartSMTPSink: certificate: %w", err)
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.pool = pool
	}
	addr := "127.0.0.1:0"
	if o.listen != "" {
		addr = o.listen
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("spamruntest: StartSMTPSink: %w", err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	return s, nil
}

// serve starts a server on ln, the first time and after each Stop.
func (s *SMTPSink) serve(ln net.Listener) {
	o := s.options()
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = "sink.spamrun.test"
	srv.EnableSMTPUTF8 = !o.noSMTPUTF8
	// A test that forgets to hang up must not keep a goroutine forever.
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = discardLogger{}
	srv.Debug = lockedWriter{&s.mu, &s.transcript}
	srv.TLSConfig = s.tls
	// Without TLS the sink is reached over loopback only, where a
	// password in the clear is what a local MTA accepts too.
	srv.AllowInsecureAuth = !o.tls
	s.srv, s.ln = srv, ln
	go srv.Serve(ln) //nolint:errcheck // it returns when Stop or Close closes the listener
}

func buildOptions(caller string, opts []SinkOption) (sinkOptions, error) {
	var o sinkOptions
	for _, opt := range opts {
		opt(&o)
	}
	if len(o.problems) > 0 {
		return o, fmt.Errorf("spamruntest: %s: %s", caller, strings.Join(o.problems, "; "))
	}
	return o, nil
}

// Set replaces the sink's refusals, limits and delay with opts, as if it
// had been started with them; Set with no options makes it accept
// everything again. Sessions under way see the change at their next
// command. It is how a test injects faults into a running relay: a 4xx
// or 5xx to every message (SinkRejectMail, SinkRejectData), to every
// recipient (SinkRejectRcptsPast with 0), 452 past n recipients
// (SinkRecipientLimit), hang-ups, and back to normal. It returns an
// error, and changes nothing, for a bad option, and for SinkStartTLS,
// SinkAuth, SinkNoSMTPUTF8 and SinkListen, which are fixed when the sink starts.
func (s *SMTPSink) Set(opts ...SinkOption) error {
	o, err := buildOptions("SMTPSink.Set", opts)
	if err != nil {
		return err
	}
	if o.fixed() {
		return errors.New("spamruntest: SMTPSink.Set: STARTTLS, AUTH, SMTPUTF8 and the address are fixed when the sink starts")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o.tls, o.user, o.pass, o.noSMTPUTF8, o.listen = s.opts.tls, s.opts.user, s.opts.pass, s.opts.noSMTPUTF8, s.opts.listen
	s.opts = o
	return nil
}

// SinkFault is one refusal described as data, for a fault injector that
// draws its faults from a table; SetFault turns it into the option that
// gives it.
type SinkFault struct {
	// Stage is where the sink refuses: "MAIL", "RCPT" or "DATA"; ""
	// for no fault.
	Stage    string
	Code     int
	Enhanced string // "" for a reply without an enhanced status code
	Text     string
	// AfterRcpts, at RCPT, accepts the first AfterRcpts recipients of
	// each transaction and refuses the rest, as SinkRejectRcptsPast.
	AfterRcpts int
}

// SetFault is Set with the one refusal f describes, or with none for the
// zero SinkFault.
func (s *SMTPSink) SetFault(f SinkFault) error {
	switch f.Stage {
	case "":
		return s.Set()
	case "MAIL":
		return s.Set(SinkRejectMail(f.Code, f.Enhanced, f.Text))
	case "RCPT":
		return s.Set(SinkRejectRcptsPast(f.AfterRcpts, f.Code, f.Enhanced, f.Text))
	case "DATA":
		return s.Set(SinkRejectData(f.Code, f.Enhanced, f.Text))
	}
	return fmt.Errorf("spamruntest: SetFault: stage %q is not MAIL, RCPT or DATA", f.Stage)
}

// options returns the options in force; Set replaces them whole, so the
// maps in the copy are never written.
func (s *SMTPSink) options() sinkOptions {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts
}

// Addr returns the sink's host:port.
func (s *SMTPSink) Addr() string { return s.addr }

// CertPool returns a pool holding the sink's certificate, for a client's
// tls.Config.RootCAs; nil without SinkStartTLS.
func (s *SMTPSink) CertPool() *x509.CertPool { return s.pool }

// Close stops the sink: it accepts no more connections, so a client gets
// "connection refused", and drops those it has. It is how a test makes
// the relay go down.
func (s *SMTPSink) Close() {
	s.once.Do(func() {
		s.Stop()
		close(s.done)
	})
}

// Stop takes the sink down as Close does, but Start brings it back on the
// same address: a relay that restarts. What it received is kept.
func (s *SMTPSink) Stop() {
	s.life.Lock()
	defer s.life.Unlock()
	if s.srv == nil {
		return
	}
	// Connections first: a session cut out of its delay must find its
	// connection gone rather than answer. The listener is closed here too
	// because Serve, in its goroutine, may not have handed it to the
	// server yet.
	s.ln.Close()
	s.srv.Close()
	s.srv, s.ln = nil, nil
}

// Start serves again on the sink's address after Stop; it does nothing
// while the sink is up. The port stays free while the sink is down
// unless another socket takes it, which Start waits up to five seconds
// to pass.
func (s *SMTPSink) Start() error {
	s.life.Lock()
	defer s.life.Unlock()
	select {
	case <-s.done:
		return fmt.Errorf("spamruntest: SMTP sink %s is closed", s.addr)
	default:
	}
	if s.srv != nil {
		return nil
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", s.addr)
		if err == nil {
			s.serve(ln)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("spamruntest: SMTP sink back on %s: %w", s.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Messages returns a copy of the accepted messages, in arrival order.
func (s *SMTPSink) Messages() []SinkMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	msgs := slices.Clone(s.msgs)
	for i := range msgs {
		msgs[i].To = slices.Clone(msgs[i].To)
		msgs[i].Data = slices.Clone(msgs[i].Data)
	}
	return msgs
}

// Transactions returns how many MAIL FROM commands the sink has accepted:
// the transactions clients began, whether or not they ended in a message.
func (s *SMTPSink) Transactions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transactions
}

// Rejections returns a copy of the refused commands, in order.
func (s *SMTPSink) Rejections() []SinkRejection {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := slices.Clone(s.rejected)
	for i := range rs {
		rs[i].To = slices.Clone(rs[i].To)
	}
	return rs
}

// Transcript returns both sides of every session so far, as on the wire
// but after TLS decryption. Concurrent sessions interleave, and a reply
// is logged just after it is sent, so it may be missing for a moment
// after the client has read it; a client command is logged before it is
// answered.
func (s *SMTPSink) Transcript() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transcript.String()
}

// WaitFor waits until the sink has accepted at least n messages and
// returns them, or fails the test after timeout.
func (s *SMTPSink) WaitFor(tb testing.TB, n int, timeout time.Duration) []SinkMessage {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, arrived := len(s.msgs), s.arrived
		s.mu.Unlock()
		if got >= n {
			return s.Messages()
		}
		select {
		case <-arrived:
		case <-deadline.C:
			tb.Fatalf("SMTP sink: %d messages after %v, want %d", got, timeout, n)
			return nil
		}
	}
}

func (s *SMTPSink) newSession(c *smtp.Conn) (smtp.Session, error) {
	s.wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	key := weak.Make(c)
	sc := s.conns[key]
	if sc == nil {
		sc = &sinkConn{n: len(s.conns) + 1}
		s.conns[key] = sc
	}
	return &sinkSession{sink: s, conn: c, sc: sc}, nil
}

// wait sleeps for the SinkDelay, or until the sink closes.
func (s *SMTPSink) wait() {
	delay := s.options().delay
	if delay <= 0 {
		return
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.done:
	}
}

func (s *SMTPSink) refuse(r SinkRejection, reply *sinkReply) error {
	if reply != nil {
		r.Code = reply.code
		if reply.enhanced != smtp.NoEnhancedCode {
			r.Enhanced = fmt.Sprintf("%d.%d.%d", reply.enhanced[0], reply.enhanced[1], reply.enhanced[2])
		}
	}
	s.mu.Lock()
	s.rejected = append(s.rejected, r)
	s.mu.Unlock()
	if reply == nil {
		return nil
	}
	return &smtp.SMTPError{Code: reply.code, EnhancedCode: reply.enhanced, Message: reply.text}
}

// errHungUp is what a session returns to go-smtp after it closed the
// connection itself; go-smtp's attempt to answer with it fails.
var errHungUp = errors.New("spamruntest: the sink hung up")

// sinkSession is one session; go-smtp starts a new one after STARTTLS.
type sinkSession struct {
	sink *SMTPSink
	conn *smtp.Conn
	sc   *sinkConn

	user string
	from string
	utf8 bool
	to   []string
}

var _ smtp.AuthSession = (*sinkSession)(nil)

func (ss *sinkSession) AuthMechanisms() []string {
	if ss.sink.options().user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *sinkSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || ss.sink.options().user == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		want := ss.sink.options()
		if (identity != "" && identity != user) || user != want.user || pass != want.pass {
			ss.sink.refuse(SinkRejection{Stage: "AUTH", Code: 535, Enhanced: "5.7.8"}, nil)
			return smtp.ErrAuthFailed
		}
		ss.user = user
		return nil
	}), nil
}

func (ss *sinkSession) Mail(from string, opts *smtp.MailOptions) error {
	ss.sink.wait()
	o := ss.sink.options()
	if o.user != "" && ss.user == "" {
		return ss.sink.refuse(SinkRejection{Stage: "MAIL", From: from},
			&sinkReply{code: 530, enhanced: smtp.EnhancedCode{5, 7, 0}, text: "Authentication required"})
	}
	if r := o.mail; r != nil {
		return ss.sink.refuse(SinkRejection{Stage: "MAIL", From: from}, r)
	}
	s := ss.sink
	s.mu.Lock()
	full := o.perConn > 0 && ss.sc.msgs >= o.perConn
	if !full {
		s.transactions++
	}
	s.mu.Unlock()
	if full {
		// go-smtp cannot close a connection after its own reply, so the
		// 421 is written here, before the connection goes.
		const reply = "421 4.7.0 too many messages on this connection"
		s.refuse(SinkRejection{Stage: "MAIL", From: from, Code: 421, Enhanced: "4.7.0"}, nil)
		ss.conn.Conn().Write([]byte(reply + "\r\n"))
		lockedWriter{&s.mu, &s.transcript}.Write([]byte(reply + "\n"))
		return ss.hangUp()
	}
	ss.from, ss.to = from, nil
	ss.utf8 = opts != nil && opts.UTF8
	return nil
}

// hangUp closes the connection without a word.
func (ss *sinkSession) hangUp() error {
	ss.conn.Conn().Close()
	return errHungUp
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.sink.wait()
	o := ss.sink.options()
	rejection := SinkRejection{Stage: "RCPT", From: ss.from, Rcpt: to}
	switch {
	case o.hangUpAt[to]:
		return ss.hangUp()
	case o.past != nil && len(ss.to) >= o.past.n:
		// Postfix checks its limit before anything else about the
		// recipient.
		return ss.sink.refuse(rejection, o.past.reply)
	case o.rcpt[to] != nil:
		return ss.sink.refuse(rejection, o.rcpt[to])
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.sink.wait()
	o := ss.sink.options()
	reply := o.data
	for _, to := range ss.to {
		if reply == nil {
			reply = o.dataFor[to]
		}
	}
	if reply != nil {
		return ss.sink.refuse(SinkRejection{Stage: "DATA", From: ss.from, To: slices.Clone(ss.to)}, reply)
	}
	_, isTLS := ss.conn.TLSConnectionState()
	msg := SinkMessage{
		Helo:     ss.conn.Hostname(),
		From:     ss.from,
		To:       slices.Clone(ss.to),
		Data:     data,
		SMTPUTF8: ss.utf8,
		TLS:      isTLS,
		User:     ss.user,
	}
	s := ss.sink
	s.mu.Lock()
	ss.sc.msgs++
	msg.Conn = ss.sc.n
	s.msgs = append(s.msgs, msg)
	close(s.arrived)
	s.arrived = make(chan struct{})
	s.mu.Unlock()
	return nil
}

func (ss *sinkSession) Reset() { ss.from, ss.to, ss.utf8 = "", nil, false }

func (ss *sinkSession) Logout() error { return nil }

// selfSignedCert makes a certificate that is its own root, so a pool
// holding it is all a client needs to verify the sink.
func selfSignedCert() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "spamruntest SMTP sink"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// discardLogger silences go-smtp, whose complaints about connections a
// test dropped on purpose would only be noise.
type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}
