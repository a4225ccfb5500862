package main

import (
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// sink is the relay: an SMTP server that keeps what it is sent.
type sink struct {
	addr string
	srv  *smtp.Server

	mu   sync.Mutex
	msgs []sinkMessage
}

type sinkMessage struct {
	from string // "" for the null sender of a DSN
	to   []string
	data []byte
}

func startSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting the relay: %w", err)
	}
	s := &sink{addr: ln.Addr().String()}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: s}, nil }))
	s.srv.Domain = "relay.demo.test"
	s.srv.ReadTimeout, s.srv.WriteTimeout = time.Minute, time.Minute
	go s.srv.Serve(ln)
	return s, nil
}

func (s *sink) close() { s.srv.Close() }

func (s *sink) messages() []sinkMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

func (s *sink) dsns() []sinkMessage {
	var out []sinkMessage
	for _, m := range s.messages() {
		if m.from == "" {
			out = append(out, m)
		}
	}
	return out
}

type sinkSession struct {
	sink *sink
	from string
	to   []string
}

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.from, ss.to = from, nil
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.sink.mu.Lock()
	ss.sink.msgs = append(ss.sink.msgs, sinkMessage{from: ss.from, to: slices.Clone(ss.to), data: data})
	ss.sink.mu.Unlock()
	return nil
}

func (ss *sinkSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *sinkSession) Logout() error { return nil }
