// Command roundtrip measures the wall time of one sendmail run, as PHP's
// mail() sees it: start the program, write a message to its standard
// input, wait for it to exit.
//
// It times, with the same message of about 3 KB, interleaved so that a
// noisy moment hits all of them alike:
//
//   - a Go program that only reads standard input (the floor: process
//     start and the pipe, none of spamrun's work);
//   - spamrun's sendmail -bi, which exits as soon as it has read its
//     command line: what starting spamrun's binary costs before any work;
//   - spamrun's sendmail -t -i relaying to an SMTP server in this process;
//   - spamrun's sendmail -t -i with the relay down, so the message is only
//     spooled;
//   - Postfix's sendmail -t -i, when its path is given.
//
// The specification's targets: spamrun's median at most half of
// Postfix's, and within 10 ms of the program that only reads stdin.
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
	"time"

	"github.com/spamrun/spamrun/spamruntest"
)

func main() {
	n := flag.Int("n", 200, "timed runs of each program")
	warmup := flag.Int("warmup", 5, "untimed runs of each program first")
	reader := flag.String("reader", "", "the Go program that only reads stdin (bench/readstdin)")
	spamrun := flag.String("spamrun", "", "spamrun's sendmail binary")
	postfix := flag.String("postfix", "", "Postfix's sendmail; empty to leave Postfix out")
	flag.Parse()
	if *reader == "" || *spamrun == "" {
		fmt.Fprintln(os.Stderr, "usage: roundtrip -reader BIN -spamrun BIN [-postfix BIN] [-n N]")
		os.Exit(2)
	}
	if err := run(*n, *warmup, *reader, *spamrun, *postfix); err != nil {
		fmt.Fprintln(os.Stderr, "roundtrip:", err)
		os.Exit(1)
	}
}

// subject is one program under measurement.
type subject struct {
	name    string
	cmd     func() *exec.Cmd
	times   []time.Duration
	targets bool // held to the specification's targets
	quiet   bool // says something on stderr every time, which is no news
}

func run(n, warmup int, reader, spamrun, postfix string) error {
	dir, err := os.MkdirTemp("", "spamrun-roundtrip")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	sink, err := spamruntest.StartSMTPSink()
	if err != nil {
		return fmt.Errorf("starting the relay: %w", err)
	}
	defer sink.Close()
	up, err := writeConfig(dir, "up", sink.Addr())
	if err != nil {
		return err
	}
	deadAddr, err := unusedAddr()
	if err != nil {
		return err
	}
	down, err := writeConfig(dir, "down", deadAddr)
	if err != nil {
		return err
	}

	msg := []byte(message)
	spamrunWith := func(config string) func() *exec.Cmd {
		return func() *exec.Cmd {
			cmd := exec.Command(spamrun, "-t", "-i")
			cmd.Env = append(os.Environ(), "SPAMRUN_CONFIG="+config)
			return cmd
		}
	}
	floor := &subject{name: "Go program that only reads stdin", cmd: func() *exec.Cmd { return exec.Command(reader) }}
	subjects := []*subject{
		floor,
		{name: "spamrun sendmail -bi (start, no work)", cmd: func() *exec.Cmd { return exec.Command(spamrun, "-bi") }, quiet: true},
		{name: "spamrun sendmail -t -i, relay reachable", cmd: spamrunWith(up), targets: true},
		{name: "spamrun sendmail -t -i, relay down (spooled)", cmd: spamrunWith(down), targets: true},
	}
	var pf *subject
	if postfix != "" {
		pf = &subject{name: "Postfix sendmail -t -i", cmd: func() *exec.Cmd { return exec.Command(postfix, "-t", "-i") }}
		subjects = append(subjects, pf)
	}

	warnings := map[string]string{}
	for i := range warmup + n {
		for _, s := range subjects {
			d, stderr, err := timeRun(s.cmd(), dir, msg)
			if err != nil {
				return fmt.Errorf("%s: %v: %s", s.name, err, stderr)
			}
			if stderr != "" && !s.quiet && warnings[s.name] == "" {
				warnings[s.name] = stderr
			}
			if i >= warmup {
				s.times = append(s.times, d)
			}
		}
	}

	// Every spamrun run must have done its work, or its time means nothing.
	runs := int64(warmup + n)
	if got := int64(len(sink.Messages())); got != runs {
		return fmt.Errorf("the relay got %d messages from %d runs: some were held or deferred", got, runs)
	}
	spooled, err := os.ReadDir(filepath.Join(dir, "down", "spool", "queue"))
	if err != nil {
		return err
	}
	if int64(len(spooled)) != runs {
		return fmt.Errorf("%d messages spooled from %d runs with the relay down", len(spooled), runs)
	}

	fmt.Printf("sendmail round trip: %d runs each after %d warm-up, a %d-byte message, %d CPUs, %s\n\n",
		n, warmup, len(msg), runtime.NumCPU(), runtime.Version())
	fmt.Printf("%-46s %9s %9s\n", "", "median", "p90")
	for _, s := range subjects {
		fmt.Printf("%-46s %9s %9s\n", s.name, ms(median(s.times)), ms(percentile(s.times, 90)))
	}
	fmt.Println()
	for _, s := range subjects {
		if !s.targets {
			continue
		}
		fmt.Printf("%s:\n", s.name)
		fmt.Printf("  minus the stdin reader: %s (target at most 10 ms)\n", ms(median(s.times)-median(floor.times)))
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

// writeConfig writes a configuration of its own state and spool under
// dir/name, relaying to addr. Syslog is off: this machine has no syslog
// daemon, and a missing /dev/log would only time a failed connect.
func writeConfig(dir, name, addr string) (string, error) {
	base := filepath.Join(dir, name)
	if err := os.MkdirAll(base, 0o750); err != nil {
		return "", err
	}
	cfg := fmt.Sprintf(`state_dir = %q
spool_dir = %q
hostname = "web1.example.net"
syslog = false

[relay]
smtp = %q
starttls = "off"
timeout = "5s"
`, filepath.Join(base, "state"), filepath.Join(base, "spool"), addr)
	path := filepath.Join(base, "spamrun.toml")
	return path, os.WriteFile(path, []byte(cfg), 0o640)
}

// unusedAddr returns a loopback address nothing listens on.
func unusedAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

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
