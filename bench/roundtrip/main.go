// Command roundtrip measures the wall time of one sendmail run, as PHP's
// mail() sees it: start the program, write a message to its standard
// input, wait for it to exit.
//
// It times, with the same message of about 3 KB, interleaved so that a
// noisy moment hits all of them alike:
//
//   - a Go program that only reads standard input (the floor: process
//     start and the pipe, none of spamrun's work);
//   - spamrun's sendmail front -t -i, handing the message to a running
//     spamrun serve, with the relay reachable and with it down;
//   - the full spamrun-sendmail -t -i, as the front runs it when no
//     daemon answers, relay reachable and down, and its -bi, which exits
//     as soon as it has read its command line: what starting the full
//     binary costs before any work;
//   - Postfix's sendmail -t -i, when its path is given.
//
// Then it runs the front, the full sendmail and Postfix from 20 senders at
// once (-c), as a busy site does.
//
// The targets: the front's median at most half of Postfix's and within
// 3 ms of the program that only reads stdin, relay reachable or not; with
// 20 concurrent senders its p99 at most twice its median.
// bench/roundtrip.sh builds what this needs and runs it.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/spamrun/spamrun/spamruntest"
)

func main() {
	n := flag.Int("n", 200, "timed runs of each program")
	warmup := flag.Int("warmup", 5, "untimed runs of each program first")
	concurrent := flag.Int("c", 20, "senders at once in the concurrent runs; 0 for none")
	reader := flag.String("reader", "", "the Go program that only reads stdin (bench/readstdin)")
	front := flag.String("front", "", "spamrun's sendmail front (sendmail/front), with spamrun-sendmail beside it")
	daemon := flag.String("spamrun", "", "the spamrun program, whose serve takes the front's messages")
	postfix := flag.String("postfix", "", "Postfix's sendmail; empty to leave Postfix out")
	flag.Parse()
	if *reader == "" || *front == "" || *daemon == "" {
		fmt.Fprintln(os.Stderr, "usage: roundtrip -reader BIN -front BIN -spamrun BIN [-postfix BIN] [-n N] [-c N]")
		os.Exit(2)
	}
	b := &bench{n: *n, warmup: *warmup, concurrent: *concurrent, reader: *reader, front: *front,
		full: filepath.Join(filepath.Dir(*front), "spamrun-sendmail"), daemon: *daemon, postfix: *postfix}
	if err := b.run(); err != nil {
		fmt.Fprintln(os.Stderr, "roundtrip:", err)
		os.Exit(1)
	}
}

type bench struct {
	n, warmup, concurrent       int
	reader, front, full, daemon string
	postfix                     string
	dir                         string
	msg                         []byte
	relayed, spooled            int // runs whose message goes to the relay, or only to the spool
	fronts                      int // runs of the front
}

// subject is one program under measurement.
type subject struct {
	name    string
	cmd     func() *exec.Cmd
	times   []time.Duration
	targets bool // held to the targets
	quiet   bool // says something on stderr every time, which is no news
	outcome int  // 1 relayed, 2 spooled, 0 neither
	front   bool // the front, which should hand its message to the daemon
}

// A site that is up and one whose relay is down, each with its own state,
// spool and daemon.
type site struct {
	config, socket string
	serve          *exec.Cmd
}

func (b *bench) run() error {
	var err error
	if b.dir, err = os.MkdirTemp("", "spamrun-roundtrip"); err != nil {
		return err
	}
	defer os.RemoveAll(b.dir)
	b.msg = []byte(message)

	sink, err := spamruntest.StartSMTPSink()
	if err != nil {
		return fmt.Errorf("starting the relay: %w", err)
	}
	defer sink.Close()
	deadAddr, err := spamruntest.UnusedAddr()
	if err != nil {
		return err
	}
	up, err := b.startSite("up", sink.Addr())
	if err != nil {
		return err
	}
	defer up.stop()
	down, err := b.startSite("down", deadAddr)
	if err != nil {
		return err
	}
	defer down.stop()

	floor := &subject{name: "Go program that only reads stdin", cmd: func() *exec.Cmd { return exec.Command(b.reader) }}
	frontUp := &subject{name: "front -t -i to spamrun serve, relay reachable", cmd: b.with(b.front, up), targets: true, outcome: 1, front: true}
	frontDown := &subject{name: "front -t -i to spamrun serve, relay down", cmd: b.with(b.front, down), targets: true, outcome: 2, front: true}
	fullUp := &subject{name: "full sendmail -t -i, relay reachable", cmd: b.with(b.full, up), outcome: 1}
	subjects := []*subject{
		floor, frontUp, frontDown, fullUp,
		{name: "full sendmail -t -i, relay down (spooled)", cmd: b.with(b.full, down), outcome: 2},
		{name: "full sendmail -bi (start, no work)", cmd: func() *exec.Cmd { return exec.Command(b.full, "-bi") }, quiet: true},
	}
	var pf *subject
	if b.postfix != "" {
		pf = &subject{name: "Postfix sendmail -t -i", cmd: func() *exec.Cmd { return exec.Command(b.postfix, "-t", "-i") }}
		subjects = append(subjects, pf)
	}

	warnings := map[string]string{}
	for i := range b.warmup + b.n {
		for _, s := range subjects {
			d, stderr, err := timeRun(s.cmd(), b.dir, b.msg)
			if err != nil {
				return fmt.Errorf("%s: %v: %s", s.name, err, stderr)
			}
			if stderr != "" && !s.quiet && warnings[s.name] == "" {
				warnings[s.name] = stderr
			}
			if i >= b.warmup {
				s.times = append(s.times, d)
			}
			b.count(s)
		}
	}

	var busy []*subject
	if b.concurrent > 0 {
		busy = []*subject{
			{name: fmt.Sprintf("front to spamrun serve, %d senders", b.concurrent), cmd: b.with(b.front, up), targets: true, outcome: 1, front: true},
			{name: fmt.Sprintf("full sendmail, %d senders", b.concurrent), cmd: b.with(b.full, up), outcome: 1},
		}
		if pf != nil {
			busy = append(busy, &subject{name: fmt.Sprintf("Postfix sendmail, %d senders", b.concurrent), cmd: pf.cmd})
		}
		for _, s := range busy {
			if err := b.runConcurrent(s); err != nil {
				return err
			}
		}
	}

	// Every spamrun run must have done its work, or its time means nothing.
	if err := waitRelayed(sink, b.relayed, 30*time.Second); err != nil {
		return err
	}
	spooled, err := os.ReadDir(filepath.Join(b.dir, "down", "spool", "queue"))
	if err != nil {
		return err
	}
	if len(spooled) != b.spooled {
		return fmt.Errorf("%d messages spooled from %d runs with the relay down", len(spooled), b.spooled)
	}

	taken := taken(filepath.Join(b.dir, "up", "serve.log")) + taken(filepath.Join(b.dir, "down", "serve.log"))

	fmt.Printf("sendmail round trip: %d runs each after %d warm-up, a %d-byte message, %d CPUs, %s\n",
		b.n, b.warmup, len(b.msg), runtime.NumCPU(), runtime.Version())
	fmt.Printf("the daemon took the messages of %d of %d runs of the front; the others ran the full sendmail\n\n", taken, b.fronts)
	fmt.Printf("%-46s %9s %9s %9s\n", "", "median", "p90", "p99")
	for _, s := range append(slices.Clone(subjects), busy...) {
		fmt.Printf("%-46s %9s %9s %9s\n", s.name, ms(median(s.times)), ms(percentile(s.times, 90)), ms(percentile(s.times, 99)))
	}
	fmt.Println()
	for _, s := range append(slices.Clone(subjects), busy...) {
		if !s.targets {
			continue
		}
		fmt.Printf("%s:\n", s.name)
		if slices.Contains(busy, s) {
			fmt.Printf("  p99 over median:        %.2f (target at most 2.00)\n", float64(percentile(s.times, 99))/float64(median(s.times)))
			continue
		}
		fmt.Printf("  minus the stdin reader: %s (target at most 3 ms)\n", ms(median(s.times)-median(floor.times)))
		if pf != nil {
			fmt.Printf("  over Postfix:           %.2f (target at most 0.50)\n", float64(median(s.times))/float64(median(pf.times)))
		}
	}
	for _, s := range subjects {
		if w := warnings[s.name]; w != "" {
			fmt.Printf("\n%s wrote to stderr (first run shown): %s", s.name, w)
		}
	}
	return nil
}

// count notes where a run's message went.
func (b *bench) count(s *subject) {
	if s.front {
		b.fronts++
	}
	switch s.outcome {
	case 1:
		b.relayed++
	case 2:
		b.spooled++
	}
}

// runConcurrent runs s n times from b.concurrent senders at once.
func (b *bench) runConcurrent(s *subject) error {
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		next  = make(chan int)
	)
	for range b.concurrent {
		wg.Go(func() {
			for i := range next {
				d, stderr, err := timeRun(s.cmd(), b.dir, b.msg)
				mu.Lock()
				if err != nil && first == nil {
					first = fmt.Errorf("%s: %v: %s", s.name, err, stderr)
				}
				if i >= b.warmup {
					s.times = append(s.times, d)
				}
				b.count(s)
				mu.Unlock()
			}
		})
	}
	for i := range b.warmup + b.n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// with returns the command of a sendmail -t -i run of program for st.
func (b *bench) with(program string, st *site) func() *exec.Cmd {
	return func() *exec.Cmd {
		cmd := exec.Command(program, "-t", "-i")
		cmd.Env = append(os.Environ(), "SPAMRUN_CONFIG="+st.config, "SPAMRUN_SENDMAIL_SOCKET="+st.socket)
		return cmd
	}
}

// startSite writes the configuration of a site relaying to addr and
// starts its spamrun serve, waiting until its sendmail socket answers.
func (b *bench) startSite(name, addr string) (*site, error) {
	base := filepath.Join(b.dir, name)
	if err := os.MkdirAll(base, 0o750); err != nil {
		return nil, err
	}
	listen, err := spamruntest.UnusedAddr()
	if err != nil {
		return nil, err
	}
	st := &site{config: filepath.Join(base, "spamrun.toml"), socket: filepath.Join(base, "sendmail.sock")}
	// Syslog is off: this machine has no syslog daemon, and a missing
	// /dev/log would only time a failed connect.
	cfg := fmt.Sprintf(`state_dir = %q
spool_dir = %q
hostname = "web1.example.net"
syslog = false

[relay]
smtp = %q
starttls = "off"
timeout = "5s"

[queue]
interval = "1h"

[smtpd]
listen = [%q]
sendmail_socket = %q
`, filepath.Join(base, "state"), filepath.Join(base, "spool"), addr, listen, st.socket)
	if err := os.WriteFile(st.config, []byte(cfg), 0o640); err != nil {
		return nil, err
	}
	// -v logs a line for each message the daemon takes, which tells the
	// fronts it took from those that ran the full sendmail.
	st.serve = exec.Command(b.daemon, "serve", "-v")
	st.serve.Env = append(os.Environ(), "SPAMRUN_CONFIG="+st.config)
	st.serve.Stderr, _ = os.Create(filepath.Join(base, "serve.log"))
	if err := st.serve.Start(); err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if c, err := net.Dial("unix", st.socket); err == nil {
			c.Close()
			return st, nil
		}
		if time.Now().After(deadline) {
			st.stop()
			return nil, fmt.Errorf("spamrun serve for %s did not open %s; see %s", name, st.socket, filepath.Join(base, "serve.log"))
		}
	}
}

func (st *site) stop() {
	st.serve.Process.Signal(os.Interrupt)
	st.serve.Wait()
}

// taken counts the messages spamrun serve took from fronts, by the lines
// its -v log has for them: only the daemon's submissions are queued for
// its relay workers.
func taken(log string) int {
	data, _ := os.ReadFile(log)
	return bytes.Count(data, []byte("action=queued for relay"))
}

// waitRelayed waits until the relay has n messages: the daemon relays
// after the front has exited.
func waitRelayed(sink *spamruntest.SMTPSink, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got := len(sink.Messages())
		if got == n {
			return nil
		}
		if got > n || time.Now().After(deadline) {
			return fmt.Errorf("the relay got %d messages from %d runs that relay: some were held, deferred or sent twice", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// timeRun runs cmd with msg on its standard input and returns the wall
// time from start to exit.
func timeRun(cmd *exec.Cmd, dir string, msg []byte) (time.Duration, string, error) {
	var stderr bytes.Buffer
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(msg)
	cmd.Stdout = io.Discard
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	return time.Since(start), stderr.String(), err
}

func median(d []time.Duration) time.Duration { return percentile(d, 50) }

// percentile is the nearest-rank percentile.
func percentile(d []time.Duration, p int) time.Duration {
	s := slices.Sorted(slices.Values(d))
	rank := (p*len(s) + 99) / 100
	return s[max(rank-1, 0)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// message is an order confirmation as a shop's PHP sends it with mail():
// LF line endings, about 3 KB, ordinary mail that is relayed, not held.
var message = `To: Maria Jansen <maria.jansen@example.org>
Subject: Your order 100482 at Shop One
From: Shop One <orders@shop1.example>
Reply-To: Shop One customer service <service@shop1.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 8bit
X-Mailer: PHP/8.2

Dear Maria Jansen,

Thank you for your order at Shop One. We have received it and will ship
it as soon as possible. Below you find a summary of your order; please
check that everything is correct.

Order number:   100482
Order date:     2 November 2026, 09:14
Payment method: iDEAL (paid)
Shipping:       standard parcel, 1-2 working days

Qty  Article                                         Price
---  ----------------------------------------------  ---------
  2  Cotton tea towel, striped blue (50 x 70 cm)     EUR 13.90
  1  Enamel mug, white with black rim, 350 ml        EUR  8.95
  1  Stainless steel tea strainer with drip tray     EUR  6.50
  3  Beeswax food wrap, set of three sizes           EUR 41.85
  1  Bamboo cutting board, medium                    EUR 19.95
  1  Linen napkins, natural, set of four             EUR 24.00
---  ----------------------------------------------  ---------
     Subtotal                                        EUR 115.15
     Shipping                                        EUR   0.00
     Total (VAT included)                            EUR 115.15

Delivery address:
  Maria Jansen
  Kerkstraat 12
  1234 AB Amsterdam
  The Netherlands

Billing address:
  same as the delivery address

What happens next?
As soon as your parcel leaves our warehouse you will receive a second
e-mail with the track and trace code of the carrier. Most parcels are
delivered the next working day. If you are not at home, the carrier
will leave a card and try again the following day, or deliver the
parcel to a pick-up point near you.

Returns
You may return any article within 30 days of delivery, without giving a
reason. Please use the return form in your account on our website, pack
the articles in their original packaging, and attach the return label
that we send you by e-mail. We refund the amount within 14 days of
receiving the return, to the account you paid with.

Caring for your articles
Wash the tea towels and napkins at 40 degrees and dry them on a line;
they soften with every wash. Rinse the beeswax wraps in cold water with
a little mild soap and let them dry in the air; keep them away from heat.
Oil the bamboo board now and then with a food-safe oil, and never put it
in the dishwasher.

Questions?
Reply to this e-mail or call our customer service on working days
between 9:00 and 17:00 at +31 20 123 4567. Please mention your order
number, so we can help you quickly.

Kind regards,

The Shop One team
Shop One B.V., Dorpsstraat 1, 1234 AA Amsterdam
Chamber of Commerce 12345678, VAT NL123456789B01

You receive this e-mail because you placed an order at Shop One. This
is a service message about your order; we do not send newsletters
without your permission.
`
